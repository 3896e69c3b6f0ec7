from django.apps import AppConfig


class LendingConfig(AppConfig):
    name = "lending"
    verbose_name = "吉快·普惠金融 Lending"
