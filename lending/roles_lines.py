"""Role grants of credit lines, registered from ``LendingConfig.ready``."""


def register_grants() -> None:
    """Role grants for credit lines (called from LendingConfig.ready): 运营 and 风险管理员 make and approve
    requests; 支行行长 too; 客户经理 may make requests (not approve); everyone in lending sees lines.
    风险管理员 works the queue of line change review tasks (额度变更复核,
    ``lending.services.review.LINE_CHANGE_QUEUE_ROLE``), so they see review tasks too."""
    from jikuai.org import roles

    view = {"lending.creditline": "v", "lending.creditlinechange": "v", "lending.drawdown": "v"}
    roles.register_grants(roles.OPERATIONS, {**view, "lending.creditlinerequest": "vac"})
    roles.register_grants(roles.RISK_OFFICER, {**view, "lending.creditlinerequest": "vac", "lending.reviewtask": "v"})
    roles.register_grants(roles.BRANCH_MANAGER, {**view, "lending.creditlinerequest": "vac"})
    roles.register_grants(roles.ACCOUNT_MANAGER, {**view, "lending.creditlinerequest": "va"})
    roles.register_grants(roles.CREDIT_REVIEWER, dict(view))
    roles.register_grants(roles.INSTITUTION_ADMIN, {**view, "lending.creditlinerequest": "v"})
