from jikuai.core.scheduling import periodic

periodic(
    "绩效延期支付发放 performance deferral release",
    "performance.tasks.release_deferrals",
    description="发放到期的绩效延期支付（扣除追索后）/ release deferred incentive installments that are due",
    crontab="30 6 1 * *",
)
