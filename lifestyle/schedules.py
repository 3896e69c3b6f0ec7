from jikuai.core.scheduling import periodic

periodic(
    "漫生活 积分对账 points reconciliation",
    "lifestyle.tasks.reconcile_points",
    description="每晚核对：批次剩余 = 账户余额 = 分录合计，分录借贷平衡 / nightly ledger reconciliation",
    crontab="30 2 * * *",
    queue="batch",
)
periodic(
    "漫生活 待生效积分生效 activate pending points",
    "lifestyle.tasks.activate_pending_points",
    description="冻结期结束的积分转为可用 / pending lots whose hold ended become active",
    crontab="5 * * * *",
    queue="batch",
)
periodic(
    "漫生活 积分过期 expire points",
    "lifestyle.tasks.expire_points",
    description="到期积分转入沉淀（显式扣减） / expire lots past validity (explicit debits to breakage)",
    crontab="10 1 * * *",
    queue="batch",
)
periodic(
    "漫生活 权益券过期 expire vouchers",
    "lifestyle.tasks.expire_vouchers",
    description="过期未使用的权益券 / unused vouchers past validity",
    crontab="20 1 * * *",
    queue="batch",
)
periodic(
    "漫生活 商户结算 merchant settlement",
    "lifestyle.tasks.settlement_daily",
    description="生成到期结算单、逾期自动确认、付款、核销与应付核对 / batches, auto-confirm, payouts, daily check",
    crontab="0 6 * * *",
    queue="batch",
)
periodic(
    "漫生活 存款月结奖励 deposit month close",
    "lifestyle.tasks.deposit_month_close",
    description="每月3日按上月日均存款增长发放（待生效、封顶、合规签批） / month-end deposit growth earning",
    crontab="0 3 3 * *",
    queue="batch",
)
