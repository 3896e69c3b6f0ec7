"""PostgreSQL thread tests: concurrent repayments on one loan never double-allocate (a deliberately
naive variant without the row lock does), and a repayment during the close waits for the loan's lock."""

import datetime as dt
import importlib
import threading
import time

import pytest
from django.db import connection, transaction

from jikuai.core.workdays import business_date_set, get_business_date
from lending import state as loan_state
from lending.models import Installment, Loan, Repayment
from lending.services import cob, prepayment_quote, repayment_record
from lending.services.common import post_effects, save_book
from lending.services.reconcile import reconcile_ledger
from tests.lending.factories import make_loan
from tests.threads import run_threads

# Real threads need committed rows, so these tests run outside a test transaction. Tables are flushed
# after each transactional test, which removes the data migrations seeded; the fixture below puts the
# classification floor tables back (serialized_rollback would clash with the role groups that the
# kernel re-creates after every flush).
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _floor_tables():
    from django.apps import apps as django_apps

    seeding = importlib.import_module("lending.migrations.0002_ledger_triggers_and_floor_tables")
    seeding.seed_tables(django_apps, None)


def _loan_due_today():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2026, 2, 15))
    return loan, prepayment_quote(loan_id=loan.pk).amount_due


def test_concurrent_repayments_on_one_loan_never_double_allocate():
    loan, due = _loan_due_today()

    def pay(index, barrier):
        barrier.wait()
        repayment = repayment_record(loan_id=loan.pk, amount=due, channel="core_banking", external_id=f"T-{index}")
        return ("ok", repayment.pk)

    results = run_threads(pay)
    assert sorted(r[0] for r in results) == ["ok", "refused"], results
    assert [r[1] for r in results if r[0] == "refused"] == ["overpayment"]  # the second sees nothing due
    loan.refresh_from_db()
    assert loan.paid_to_date == due and Repayment.objects.filter(loan=loan).count() == 1
    first = Installment.objects.get(loan=loan, is_current=True, number=1)
    assert first.paid_principal + first.paid_interest == due
    assert reconcile_ledger().ok


def test_naive_repayment_without_the_row_lock_double_allocates():
    """The same steps without SELECT … FOR UPDATE: both threads read the same state and both allocate
    the installment — the ledger and the loan disagree. This is what the lock prevents."""
    loan, due = _loan_due_today()

    def naive_pay(index, barrier):
        with transaction.atomic():
            row = Loan.objects.select_related("product").get(pk=loan.pk)  # no lock
            book = loan_state.book_for(row)
            barrier.wait()
            allocation = book.apply_repayment(dt.date(2026, 2, 15), due)
            repayment = Repayment.objects.create(
                loan=row,
                institution_id=row.institution_id,
                channel="core_banking",
                amount=due,
                value_date=dt.date(2026, 2, 15),
                entry_date=dt.date(2026, 2, 15),
                external_id=f"N-{index}",
                allocation=allocation.as_json(),
            )
            post_effects(row, book.effects, business_date=dt.date(2026, 2, 15), repayment_id=repayment.pk)
            save_book(row, book)
        return ("ok", repayment.pk)

    results = run_threads(naive_pay)
    assert [r[0] for r in results] == ["ok", "ok"], results  # both "succeeded": the money was taken twice
    loan.refresh_from_db()
    assert loan.paid_to_date == due  # … but the loan counts it once
    report = reconcile_ledger()
    assert not report.ok and any(m["loan"] == loan.pk for m in report.loan_mismatches)


def test_a_repayment_during_the_close_waits_for_the_lock_and_takes_the_next_date(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2026, 2, 15))
    computed = threading.Event()
    release = threading.Event()
    original_write = cob.write_chunk
    order = []

    def slow_write(out, context):
        computed.set()
        release.wait(10)
        original_write(out, context)
        order.append("close")

    monkeypatch.setattr(cob, "write_chunk", slow_write)

    def close():
        try:
            cob.close_business_day(dt.date(2026, 2, 15), steps=("close",))
        finally:
            connection.close()

    def pay():
        try:
            computed.wait(10)
            repayment = repayment_record(loan_id=loan.pk, amount="100.00", channel="customer")
            order.append(("repay", repayment.value_date))
        finally:
            connection.close()

    closer, payer = threading.Thread(target=close), threading.Thread(target=pay)
    closer.start()
    payer.start()
    computed.wait(10)
    time.sleep(0.5)  # the repayment is now blocked on the loan's row lock
    assert order == []
    release.set()
    closer.join(30)
    payer.join(30)
    assert order == ["close", ("repay", dt.date(2026, 2, 16))]
    assert get_business_date() == dt.date(2026, 2, 15)
    assert reconcile_ledger().ok
