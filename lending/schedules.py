from jikuai.core.scheduling import periodic

periodic(
    "贷款日终 lending COB",
    "lending.tasks.run_cob",
    description="关闭当前营业日期：代扣、逾期、罚息复利、计提、五级分类、事件、对账、月末快照、日期切换 / nightly close of the business date",
    crontab="30 22 * * *",
    queue="batch",
)
periodic(
    "贷款分户账全量对账 ledger reconciliation",
    "lending.tasks.reconcile_ledger",
    description="全量核对分户账：每笔凭证借贷平衡、科目余额、贷款余额与分录一致 / full ledger reconciliation",
    crontab="0 5 * * 0",
    queue="batch",
)

periodic(
    "贷款申请到期 application expiry",
    "lending.tasks.application_expire_due",
    description="审批通过后超过有效期未签约的申请置为已过期 / approved applications not signed in time expire",
    crontab="30 0 * * *",
    queue="batch",
)

periodic(
    "审核任务超时升级 review task escalation",
    "lending.tasks.review_escalate_overdue",
    description="人工审核任务超过截止时间未处理的，升级到上一级审批队列并重新计算截止时间 / escalate overdue review tasks",
    crontab="*/10 * * * *",
)

periodic(
    "授信额度到期 credit line expiry",
    "lending.tasks.credit_lines_expire",
    description="有效期已过的授信额度（有效、冻结）置为到期 / lines past valid_until become expired",
    crontab="10 0 * * *",
    queue="batch",
)
periodic(
    "用信续办 drawdown resume",
    "lending.tasks.drawdowns_resume",
    description="续办中断的用信：重试放款或释放占用额度 / retry or release interrupted drawdowns",
    crontab="*/10 * * * *",
)
