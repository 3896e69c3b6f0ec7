"""PostgreSQL thread tests: concurrent drawdowns on one line never overdraw it. Two drawdowns whose
sum exceeds the available amount → exactly one succeeds and the other gets amount_exceeds_available;
limit = used + available and the journal replays the balances. A deliberately naive variant (read,
check, then write without the row lock) oversubscribes the line or loses an update."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction

from jikuai.core.exceptions import ApplicationError
from lending.models import CreditLine, CreditLineChange, Drawdown, Loan
from lending.services.lines import credit_line_request_approve, credit_line_request_submit, drawdown_request
from tests.factories import make_staff
from tests.lending.lines_factories import assert_balanced, open_line
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


@pytest.fixture(autouse=True)
def _floor_tables():
    import importlib

    from django.apps import apps as django_apps

    seeding = importlib.import_module("lending.migrations.0002_ledger_triggers_and_floor_tables")
    seeding.seed_tables(django_apps, None)


def journal_replays(line):
    """Σ of the journal equals the balances: open + drawdowns − releases − restores = used side."""
    line = assert_balanced(line)
    used = Decimal("0.00")
    for kind, amount in CreditLineChange.objects.filter(line=line).values_list("kind", "amount"):
        if kind == "drawdown":
            used += amount
        elif kind in ("release", "restore"):
            used -= amount
    assert used == line.used
    return line


def test_two_drawdowns_exceeding_available_exactly_one_succeeds():
    line = open_line(amount="30000", day=dt.date(2026, 3, 16))

    def draw(index, barrier):
        barrier.wait()
        drawdown = drawdown_request(
            line_id=line.pk, amount="20000", term_months=6, repayment_method="equal_principal", channel="api"
        )
        return ("ok", drawdown.state)

    results = run_threads(draw)
    assert sorted(results) == [("ok", "disbursed"), ("refused", "amount_exceeds_available")], results
    line = journal_replays(line)
    assert line.used == Decimal("20000.00") and line.available == Decimal("10000.00")
    assert Drawdown.objects.count() == 1 and Loan.objects.filter(state="active").count() == 1


def test_many_drawdowns_never_overdraw():
    line = open_line(amount="50000", day=dt.date(2026, 3, 16))

    def draw(index, barrier):
        barrier.wait()
        drawdown_request(line_id=line.pk, amount="12000", term_months=6, repayment_method="equal_principal", channel="api")
        return ("ok", index)

    results = run_threads(draw, count=6)
    assert sum(1 for r in results if r[0] == "ok") == 4, results
    assert sum(1 for r in results if r == ("refused", "amount_exceeds_available")) == 2, results
    line = journal_replays(line)
    assert line.used == Decimal("48000.00") and line.available == Decimal("2000.00")


def test_adjust_racing_a_drawdown_keeps_the_line_balanced():
    line = open_line(amount="50000", day=dt.date(2026, 3, 16))
    maker = make_staff(role="运营", institution=line.institution)
    checker = make_staff(role="运营", institution=line.institution)
    request = credit_line_request_submit(line_id=line.pk, action="adjust", maker=maker, reason="降额", new_limit="20000")

    def act(index, barrier):
        barrier.wait()
        if index == 0:
            credit_line_request_approve(request_id=request.pk, checker=checker)
            return ("ok", "adjust")
        drawdown_request(line_id=line.pk, amount="30000", term_months=6, repayment_method="equal_principal", channel="api")
        return ("ok", "drawdown")

    results = run_threads(act)
    # whichever came first wins; the other is refused (limit below used / above available)
    assert sorted(r[0] for r in results) == ["ok", "refused"], results
    assert {r[1] for r in results if r[0] == "refused"} <= {"limit_below_used", "amount_exceeds_available"}
    journal_replays(line)


def naive_hold(line_id: int, amount: Decimal, after_read=None) -> None:
    """What the service would be without the row lock: read, check, write the values read."""
    line = CreditLine.objects.get(pk=line_id)
    if after_read is not None:
        after_read()  # both threads have read before either writes: the interleaving the lock prevents
    if amount > line.available:
        raise ApplicationError("超过可用额度", "exceeds available", code="amount_exceeds_available")
    with transaction.atomic():
        CreditLine.objects.filter(pk=line_id).update(used=line.used + amount, available=line.available - amount)
        CreditLineChange.objects.create(
            line_id=line_id, kind="drawdown", amount=amount, limit_after=line.limit, used_after=0, available_after=0
        )


def test_naive_variant_without_the_lock_oversubscribes():
    line = open_line(amount="30000", day=dt.date(2026, 3, 16))

    def draw(index, barrier):
        barrier.wait()
        naive_hold(line.pk, Decimal("20000"), after_read=barrier.wait)
        return ("ok", index)

    results = run_threads(draw)
    line.refresh_from_db()
    held = CreditLineChange.objects.filter(line=line, kind="drawdown").count()
    # both passed the check: 40,000 held on a 30,000 line, but the balances show one (lost update)
    assert held == 2 and [r[0] for r in results] == ["ok", "ok"], results
    assert line.used == Decimal("20000.00")
