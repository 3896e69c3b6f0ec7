"""Thin Celery tasks: ids in, one service call (eager mode runs them inline after commit)."""

from celery import shared_task


@shared_task(name="performance.tasks.period_compute", acks_late=True)
def period_compute_task(period_id: int) -> None:
    from performance.services.close import period_compute_run

    period_compute_run(period_id=period_id)


@shared_task(name="performance.tasks.period_reports", acks_late=True)
def period_reports_task(period_id: int) -> int:
    from performance.services.reports import reports_generate

    return reports_generate(period_id=period_id)


@shared_task(name="performance.tasks.release_deferrals")
def release_deferrals_task() -> int:
    from performance.services.pay import deferral_release_due

    return deferral_release_due()


@shared_task(name="performance.tasks.portfolio_snapshot")
def portfolio_snapshot_task() -> int:
    import datetime as dt

    from django.utils import timezone

    from performance.services.facade_feed import portfolio_snapshot_all

    return portfolio_snapshot_all(day=timezone.localdate() - dt.timedelta(days=1))
