from django.apps import AppConfig


class RiskrulesConfig(AppConfig):
    name = "riskrules"
    verbose_name = "规则流 Rule flow"

    def ready(self):
        from jikuai.org import roles
        from riskrules.config_cache import connect_signals
        from riskrules.features import register_builtin_providers

        config = {
            "riskrules.variable": "vac",
            "riskrules.reasoncode": "vac",
            "riskrules.ruleset": "vac",
            "riskrules.ruleversion": "vac",
            "riskrules.ruletestcase": "vac",
            "riskrules.deployment": "vac",
            "riskrules.listentry": "vac",
            "riskrules.listimport": "vac",
            "riskrules.simulation": "vac",
            "riskrules.lprrate": "vac",
            "riskrules.decisionrecord": "v",
            "riskrules.rulehitdaily": "v",
            "riskrules.simulationcase": "v",
        }
        roles.register_grants(roles.RISK_OFFICER, config)
        roles.register_grants(roles.CREDIT_REVIEWER, {"riskrules.decisionrecord": "v", "riskrules.listentry": "v"})
        register_builtin_providers()
        connect_signals()
