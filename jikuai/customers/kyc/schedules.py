"""KYC beat job (registered when the KYC models load; the kernel discovers only jikuai/customers/schedules.py)."""

from jikuai.core.scheduling import periodic

periodic(
    "实名认证补偿 KYC requeue",
    "jikuai.customers.kyc.tasks.kyc_requeue_stale",
    description="重新排队长时间未识别的实名认证（消息队列中断、进程崩溃）/ requeue KYC records stuck in upload or processing",
    every_seconds=300,
)
