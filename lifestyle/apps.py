from django.apps import AppConfig


class LifestyleConfig(AppConfig):
    name = "lifestyle"
    verbose_name = "吉快·漫生活 Lifestyle"
