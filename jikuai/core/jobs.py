"""Job runs for the scheduling centre (调度中心): restartable, idempotent per (job, business date, key)."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from jikuai.core.models import JobRun


def job_run_start(*, job: str, business_date: dt.date, run_key: str = "", total: int = 0) -> tuple[JobRun, bool]:
    """Return (run, should_work). A finished run of the same key is not repeated; a failed or
    interrupted run resumes from its cursor."""
    with transaction.atomic():
        run, created = JobRun.objects.get_or_create(
            job=job, business_date=business_date, run_key=run_key, defaults={"total": total}
        )
        if created:
            return run, True
        run = JobRun.objects.select_for_update().get(pk=run.pk)
        if run.status == JobRun.Status.SUCCEEDED:
            return run, False
        run.status = JobRun.Status.RUNNING
        run.error = ""
        run.finished_at = None
        run.heartbeat_at = timezone.now()
        if total:
            run.total = total
        run.save(update_fields=["status", "error", "finished_at", "heartbeat_at", "total"])
        return run, True


def job_run_progress(
    run: JobRun,
    *,
    processed: int | None = None,
    add: int = 0,
    cursor: dict | None = None,
    failed_add: int = 0,
    counts: dict | None = None,
) -> None:
    if processed is not None:
        run.processed = processed
    run.processed += add
    run.failed += failed_add
    if cursor is not None:
        run.cursor = cursor
    if counts:
        merged = dict(run.counts)
        for key, value in counts.items():
            merged[key] = merged.get(key, 0) + value
        run.counts = merged
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["processed", "failed", "cursor", "counts", "heartbeat_at"])


def job_run_finish(run: JobRun, *, error: str = "") -> JobRun:
    if error:
        run.status = JobRun.Status.FAILED
    elif run.failed:
        run.status = JobRun.Status.PARTIAL
    else:
        run.status = JobRun.Status.SUCCEEDED
    run.error = error[:8000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    return run
