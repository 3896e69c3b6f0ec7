from django.apps import AppConfig


class LendingConfig(AppConfig):
    name = "lending"
    verbose_name = "吉快·普惠金融 Lending"

    def ready(self):
        from jikuai.org import roles

        loans_view = {
            "lending.loan": "v",
            "lending.installment": "v",
            "lending.scheduleversion": "v",
            "lending.repayment": "v",
            "lending.product": "v",
        }
        roles.register_grants(
            roles.OPERATIONS,
            {
                **loans_view,
                "lending.repaymentrequest": "vac",
                "lending.cobrun": "v",
                "lending.cobquarantine": "v",
                "lending.collectionattempt": "v",
                "lending.posting": "v",
                "lending.ledgeraccount": "v",
                "lending.portfolioloan": "v",
            },
            extra=("lending.record_repayment", "lending.approve_repayment", "lending.run_cob", "lending.view_portfolio"),
        )
        roles.register_grants(
            roles.RISK_OFFICER,
            {
                **loans_view,
                "lending.classificationrequest": "vac",
                "lending.classificationtable": "v",
                "lending.classificationband": "v",
                "lending.classificationsnapshot": "v",
                "lending.cobquarantine": "v",
                "lending.portfolioloan": "v",
            },
            extra=("lending.request_classification", "lending.approve_classification", "lending.view_portfolio"),
        )
        roles.register_grants(
            roles.BRANCH_MANAGER, {**loans_view, "lending.portfolioloan": "v", "lending.classificationsnapshot": "v"}
        )
        roles.register_grants(roles.ACCOUNT_MANAGER, dict(loans_view))
        roles.register_grants(roles.CREDIT_REVIEWER, dict(loans_view))
        roles.register_grants(
            roles.INSTITUTION_ADMIN,
            {
                **loans_view,
                "lending.portfolioloan": "v",
                "lending.classificationsnapshot": "v",
                "lending.posting": "v",
                "lending.ledgeraccount": "v",
                "lending.cobrun": "v",
            },
            extra=("lending.view_portfolio",),
        )

        from lending.roles_lines import register_grants as register_line_grants

        register_line_grants()
