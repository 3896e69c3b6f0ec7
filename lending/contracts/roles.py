"""Role grants for contracts: staff who handle applications and loans may view contracts in their scope
(and download / verify them in the admin). Called from ``LendingConfig.ready``."""


def register_contract_grants() -> None:
    from jikuai.org import roles

    for role in (
        roles.INSTITUTION_ADMIN,
        roles.BRANCH_MANAGER,
        roles.ACCOUNT_MANAGER,
        roles.CREDIT_REVIEWER,
        roles.OPERATIONS,
        roles.RISK_OFFICER,
    ):
        roles.register_grants(role, {"lending.contract": "v"})
