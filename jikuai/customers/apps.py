from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "jikuai.customers"
    label = "customers"
    verbose_name = "客户与个人信息 Customers"
