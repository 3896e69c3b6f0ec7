from django.apps import AppConfig


class RiskrulesConfig(AppConfig):
    name = "riskrules"
    verbose_name = "规则流 Rule flow"
