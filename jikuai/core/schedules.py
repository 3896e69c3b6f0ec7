from jikuai.core.scheduling import periodic

periodic(
    "总线重投 bus redelivery",
    "jikuai.core.tasks.redeliver_events",
    description="投递到期的待重试总线事件 / deliver pending bus events whose retry time has come",
    every_seconds=60,
)
