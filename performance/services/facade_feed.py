"""Facade reads as a data source (模块接口取数): book balances from ``lending.facade`` when that facade exists.

Events carry balances only when something happens to a loan; the lending book knows the balance of every open
loan. A nightly (or month-end) job records, for each account manager and branch, period-end snapshot facts
of the indicators whose sources name a facade figure (``facade:balance``, ``facade:overdue_balance``,
``facade:npl_balance``). Without the lending app the job does nothing. Snapshots are keyed by (day, subject),
so a rerun of the same day writes nothing new.
"""

import datetime as dt
import importlib
import logging
from decimal import Decimal

from django.db import transaction

from jikuai.org.models import Branch, Staff
from performance.models import Fact, Indicator

logger = logging.getLogger(__name__)

FACADE_FIGURES = {
    "facade:balance": "balance",
    "facade:overdue_balance": "overdue_balance",
    "facade:npl_balance": "npl_balance",
}


def lending_facade():
    """The lending facade module, or None when the lending app does not provide one (yet)."""
    try:
        module = importlib.import_module("lending.facade")
    except ImportError:
        return None
    return module if hasattr(module, "portfolio_figures") else None


def portfolio_snapshot_all(*, day: dt.date) -> int:
    from jikuai.org.models import Institution

    return sum(
        portfolio_snapshot(institution_id=pk, day=day)
        for pk in Institution.objects.filter(is_active=True).values_list("id", flat=True)
    )


def portfolio_snapshot(*, institution_id: int, day: dt.date) -> int:
    """Record the book balances of every active staff member and branch of an institution as of ``day``."""
    facade = lending_facade()
    if facade is None:
        logger.info("performance: lending.facade.portfolio_figures not available; facade snapshot skipped")
        return 0
    indicators = [
        (indicator, code)
        for indicator in Indicator.objects.filter(is_active=True, measure=Indicator.Measure.PERIOD_END)
        for code in (indicator.sources or [])
        if code in FACADE_FIGURES
    ]
    if not indicators:
        return 0
    rows = []
    for staff_id in Staff.objects.filter(institution_id=institution_id, is_active=True).values_list("id", flat=True):
        figures = facade.portfolio_figures(staff_id=staff_id, institution_id=institution_id)
        if not figures.loans:
            continue
        # staff rows carry no branch, so a branch total (branch rows) never counts the same balance twice
        rows += _rows(institution_id, indicators, figures, day, staff_id=staff_id, branch_id=None, subject=("staff", staff_id))
    for branch_id in Branch.objects.filter(institution_id=institution_id, is_active=True).values_list("id", flat=True):
        figures = facade.portfolio_figures(branch_id=branch_id, institution_id=institution_id)
        if figures.loans:
            rows += _rows(
                institution_id, indicators, figures, day, staff_id=None, branch_id=branch_id, subject=("branch", branch_id)
            )
    existing = Fact.objects.filter(institution_id=institution_id, source=Fact.Source.FACADE, fact_date=day)
    with transaction.atomic():
        before = existing.count()
        Fact.objects.bulk_create(rows, ignore_conflicts=True)
        return existing.count() - before


def _rows(institution_id, indicators, figures, day, *, staff_id, branch_id, subject) -> list[Fact]:
    rows = []
    for indicator, code in indicators:
        value = Decimal(getattr(figures, FACADE_FIGURES[code]))
        rows.append(
            Fact(
                institution_id=institution_id,
                indicator=indicator,
                staff_id=staff_id,
                branch_id=branch_id,
                fact_date=day,
                value=value,
                metric=value,
                share=Decimal(100),
                subject_kind=subject[0],
                subject_id=subject[1],
                attribution="book",
                source=Fact.Source.FACADE,
                source_key=f"fc:{day:%Y%m%d}:{subject[0]}:{subject[1]}",
            )
        )
    return rows
