"""Celery tasks: thin wrappers around services (ids in, idempotent)."""

import datetime as dt

from celery import shared_task


@shared_task(name="riskrules.simulation_run", acks_late=True)
def simulation_run(simulation_id: int) -> int:
    from riskrules.services.simulations import simulation_run as run

    run(simulation_id=simulation_id)
    return simulation_id


@shared_task(name="riskrules.hits_aggregate_daily")
def hits_aggregate_daily(day: str | None = None) -> int:
    """Aggregate yesterday's rule-row hits (the business date's previous day) unless ``day`` is given."""
    from jikuai.core.workdays import get_business_date
    from riskrules.services.monitoring import hits_aggregate_day

    target = dt.date.fromisoformat(day) if day else get_business_date() - dt.timedelta(days=1)
    return hits_aggregate_day(day=target)
