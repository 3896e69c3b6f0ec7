from django.apps import AppConfig


class LifestyleConfig(AppConfig):
    name = "lifestyle"
    verbose_name = "吉快·漫生活 Lifestyle"

    def ready(self):
        from jikuai.org import roles

        roles.register_grants(
            roles.MERCHANT_OPS,
            {
                "lifestyle.merchant": "vac",
                "lifestyle.reviewtask": "vc",
                "lifestyle.benefit": "vac",
                "lifestyle.voucher": "v",
                "lifestyle.pointvaluerate": "va",
                "lifestyle.settlementbatch": "vc",
                "lifestyle.payableline": "v",
                "lifestyle.activity": "v",
                "lifestyle.campaign": "v",
                "lifestyle.earningrule": "v",
            },
            extra=("lifestyle.review_merchant",),
        )
        roles.register_grants(
            roles.OPERATIONS,
            {
                "lifestyle.settlementbatch": "v",
                "lifestyle.payableline": "v",
                "lifestyle.reconciliationreport": "v",
                "lifestyle.depositmonthclose": "v",
            },
        )
        roles.register_grants(
            roles.INSTITUTION_ADMIN,
            {
                "lifestyle.earningrule": "vac",
                "lifestyle.campaign": "vac",
                "lifestyle.merchant": "v",
                "lifestyle.benefit": "v",
                "lifestyle.settlementbatch": "v",
                "lifestyle.pointsaccount": "v",
                "lifestyle.pointslot": "v",
                "lifestyle.activity": "vac",
                "lifestyle.referralbinding": "v",
            },
        )
        # compliance sign-off of deposit-linked rules sits with risk & compliance
        roles.register_grants(roles.RISK_OFFICER, {"lifestyle.earningrule": "v"}, extra=("lifestyle.sign_off_rule",))
        for role in (roles.BRANCH_MANAGER, roles.ACCOUNT_MANAGER):
            roles.register_grants(
                role,
                {
                    "lifestyle.activity": "vac",
                    "lifestyle.pointsaccount": "v",
                    "lifestyle.pointslot": "v",
                    "lifestyle.referralbinding": "v",
                    "lifestyle.merchant": "va",
                },
            )
