from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "jikuai.customers"
    label = "customers"
    verbose_name = "客户与个人信息 Customers"

    def ready(self):
        # KYC lives in its own package: register its Celery tasks, beat job and role grants.
        from jikuai.customers.kyc import permissions, schedules, tasks  # noqa: F401

        permissions.register()
