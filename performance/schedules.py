from jikuai.core.scheduling import periodic

periodic(
    "绩效延期支付发放 performance deferral release",
    "performance.tasks.release_deferrals",
    description="发放到期的绩效延期支付（扣除追索后）/ release deferred incentive installments that are due",
    crontab="30 6 1 * *",
)

periodic(
    "绩效账务余额快照 performance book balances",
    "performance.tasks.portfolio_snapshot",
    description="从 lending.facade 读取客户经理/网点的贷款余额、逾期、不良（无该接口时跳过）/ book balances through the lending facade",
    crontab="30 5 * * *",
)
