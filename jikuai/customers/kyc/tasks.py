"""KYC background work: OCR and face comparison run here, never in the request that uploaded the images."""

from celery import shared_task
from django.db import OperationalError


@shared_task(
    name="jikuai.customers.kyc.tasks.kyc_process",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def kyc_process(record_id: int) -> str:
    """Process one KYC record (idempotent: a record already decided is left alone)."""
    from jikuai.customers.kyc.services import kyc_process as process

    return process(record_id=record_id).state


@shared_task(name="jikuai.customers.kyc.tasks.kyc_requeue_stale")
def kyc_requeue_stale() -> int:
    """Re-queue records left uploaded or processing (broker down at upload time, worker crash)."""
    from jikuai.customers.kyc.services import kyc_requeue_stale as requeue

    return requeue()
