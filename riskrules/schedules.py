from jikuai.core.scheduling import periodic

periodic(
    "riskrules.hits_aggregate_daily",
    "riskrules.hits_aggregate_daily",
    description="规则命中日统计：汇总前一营业日各规则行命中数并标记命中率翻倍的规则 / daily rule-row hit counts",
    crontab="30 1 * * *",
    queue="batch",
)
