from django.apps import AppConfig


class PerformanceConfig(AppConfig):
    name = "performance"
    verbose_name = "吉快·智能绩效 Performance"

    def ready(self):
        from jikuai.org import roles

        everything = {
            f"performance.{model}": "vacd"
            for model in (
                "indicator",
                "formula",
                "scheme",
                "schemeversion",
                "schemeitem",
                "target",
                "period",
                "performancepolicy",
                "staffposition",
                "importbatch",
                "manualentry",
                "calibrationadjustment",
                "clawbackentry",
            )
        }
        read_results = {
            f"performance.{model}": "v"
            for model in (
                "subjectresult",
                "scoreline",
                "fact",
                "incentiveaward",
                "deferralinstallment",
                "performancereport",
                "appeal",
                "attributionclaim",
                "claimshare",
            )
        }
        roles.register_grants(
            roles.INSTITUTION_ADMIN,
            {
                **everything,
                **read_results,
                "performance.appeal": "vc",
                "performance.attributionclaim": "vac",
                "performance.clawbackentry": "vac",
            },
        )
        roles.register_grants(
            roles.BRANCH_MANAGER,
            {
                **read_results,
                "performance.indicator": "v",
                "performance.formula": "v",
                "performance.scheme": "v",
                "performance.schemeversion": "v",
                "performance.target": "v",
                "performance.period": "v",
                "performance.appeal": "vc",
                "performance.attributionclaim": "vac",
                "performance.manualentry": "vac",
            },
        )
        roles.register_grants(
            roles.ACCOUNT_MANAGER,
            {
                "performance.attributionclaim": "va",
                "performance.appeal": "va",
                "performance.subjectresult": "v",
                "performance.fact": "v",
            },
        )
        roles.register_grants(
            roles.OPERATIONS, {"performance.manualentry": "vac", "performance.importbatch": "vac", "performance.fact": "v"}
        )
