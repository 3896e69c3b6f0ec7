from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "jikuai.web"
    label = "web"
    verbose_name = "站点 Site shell"
