"""Daily rule-row hit aggregation and the doubled-hit-rate flag."""

import datetime as dt
from decimal import Decimal

import pytest

from jikuai.core.models import JobRun
from riskrules import facade
from riskrules.facade import Subject
from riskrules.models import RuleHitDaily
from riskrules.services.monitoring import hits_aggregate_day
from riskrules.tasks import hits_aggregate_daily

pytestmark = pytest.mark.django_db

DAY = dt.date(2025, 6, 30)


def _decisions(day, grades):
    for n, grade in enumerate(grades):
        facade.decide(
            "ydd_limit",
            Subject("application", f"H-{day}-{n}"),
            {"grade": grade, "monthly_income_fen": 600_000, "decision_date": day.isoformat()},
        )


def test_hits_are_counted_per_row_and_a_doubled_rate_is_flagged():
    for back in (3, 2, 1):
        _decisions(DAY - dt.timedelta(days=back), ["A"] * 8 + ["E"] * 2)
        hits_aggregate_day(day=DAY - dt.timedelta(days=back))
    _decisions(DAY, ["A"] * 5 + ["E"] * 5)
    assert hits_aggregate_day(day=DAY) == 2
    rows = {r.row_id: r for r in RuleHitDaily.objects.filter(day=DAY)}
    e_row, a_row = rows["factor_E"], rows["factor_A"]
    assert (e_row.hits, e_row.decisions, e_row.rate, e_row.baseline_rate) == (5, 10, Decimal("0.500000"), Decimal("0.200000"))
    assert e_row.flagged is True and e_row.node_id == "grade_factor" and "E级" in e_row.description
    assert (a_row.rate, a_row.baseline_rate, a_row.flagged) == (Decimal("0.500000"), Decimal("0.800000"), False)
    # a rerun of the same day does nothing; forcing it rewrites the same rows
    assert hits_aggregate_day(day=DAY) == 2
    assert hits_aggregate_day(day=DAY, force=True) == 2
    assert RuleHitDaily.objects.filter(day=DAY).count() == 2
    assert JobRun.objects.get(job="riskrules.hits_daily", business_date=DAY).status == JobRun.Status.SUCCEEDED


def test_too_few_hits_are_not_flagged():
    _decisions(DAY - dt.timedelta(days=1), ["A"] * 19 + ["E"])
    hits_aggregate_day(day=DAY - dt.timedelta(days=1))
    _decisions(DAY, ["A"] * 8 + ["E"] * 2)
    hits_aggregate_day(day=DAY)
    row = RuleHitDaily.objects.get(day=DAY, row_id="factor_E")
    assert row.rate == Decimal("0.200000") and row.baseline_rate == Decimal("0.050000") and not row.flagged


def test_beat_task_aggregates_the_previous_business_day():
    from jikuai.core.workdays import business_date_set

    business_date_set(day=DAY + dt.timedelta(days=1))
    _decisions(DAY, ["B"] * 3)
    assert hits_aggregate_daily.apply().get() == 1
    assert RuleHitDaily.objects.get(day=DAY).hits == 3
