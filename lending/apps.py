from django.apps import AppConfig


class LendingConfig(AppConfig):
    name = "lending"
    verbose_name = "吉快·普惠金融 Lending"

    def ready(self):
        from jikuai.org import roles
        from lending.providers import register_providers

        register_providers()  # internal data for the rule flow (overdue, debt, DPD, white-list limit)

        from jikuai.core import refmemo
        from lending.models import Product

        refmemo.watch(Product)  # products on sale are memoised (selectors_origination.product_on_sale)

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
                "lending.repaymentreversalrequest": "vac",
                "lending.cobrun": "v",
                "lending.cobquarantine": "v",
                "lending.collectionattempt": "v",
                "lending.posting": "v",
                "lending.ledgeraccount": "v",
                "lending.portfolioloan": "v",
            },
            extra=(
                "lending.record_repayment",
                "lending.approve_repayment",
                "lending.request_reversal",
                "lending.approve_reversal",
                "lending.run_cob",
                "lending.view_portfolio",
            ),
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
        roles.register_grants(roles.ACCOUNT_MANAGER, {**loans_view, "lending.loanapplication": "v"})
        roles.register_grants(roles.CREDIT_REVIEWER, {**loans_view, "lending.loanapplication": "v"})
        roles.register_grants(roles.BRANCH_MANAGER, {"lending.loanapplication": "v"})
        roles.register_grants(roles.RISK_OFFICER, {"lending.loanapplication": "v"})
        roles.register_grants(roles.INSTITUTION_ADMIN, {"lending.loanapplication": "v"})
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
        from lending.contracts.roles import register_contract_grants
        from lending.permissions_review import register as register_review_grants
        from lending.roles_lines import register_grants as register_line_grants

        register_contract_grants()
        register_review_grants()
        register_line_grants()
