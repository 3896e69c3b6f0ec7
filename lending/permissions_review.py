"""Role grants for manual review (人工审核): who sees review tasks and the applications behind them.

Deciding needs more than the grant: the task's queue role, the approval tier and maker ≠ checker are
checked by ``lending.services.review``.
"""

from jikuai.org import roles

REVIEW_GRANTS = {"lending.reviewtask": "v", "lending.loanapplication": "v"}


def register() -> None:
    for role in (roles.CREDIT_REVIEWER, roles.BRANCH_MANAGER, roles.INSTITUTION_ADMIN):
        roles.register_grants(role, REVIEW_GRANTS)
    roles.register_grants(roles.BRANCH_MANAGER, {"riskrules.decisionrecord": "v"})
