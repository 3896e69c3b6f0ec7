"""Nightly close: idempotency, resume after a crash, quarantine, catch-up, events, auto-collection,
month-end snapshots, reconciliation halt, command."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from jikuai.core.models import JobRun, OutboxEvent
from jikuai.core.workdays import business_date_set, get_business_date
from lending.corebanking import LocalAdapter
from lending.models import ClassificationSnapshot, CobQuarantine, CollectionAttempt, Loan, Posting, PostingLeg, Repayment
from lending.services import cob, repayment_record, run_cob
from tests.lending.factories import make_loan
from tests.lending.helpers import assert_reconciled, counts, events

pytestmark = pytest.mark.django_db
D = Decimal


def loan_rows():
    return list(Loan.objects.order_by("id").values())


def test_close_then_second_run_of_the_same_date_writes_nothing():
    loans = [
        make_loan(value_date=dt.date(2026, 1, 15), method=m)
        for m in ("equal_installment", "equal_principal", "interest_only", "bullet")
    ]
    [result] = run_cob()
    assert result.ok and get_business_date() == dt.date(2026, 1, 16)
    for loan in loans:
        loan.refresh_from_db()
        assert loan.last_closed_business_date == dt.date(2026, 1, 15)
        assert loan.interest_receivable > 0  # day 15 Jan accrued
    before, rows, runs = counts(), loan_rows(), JobRun.objects.count()
    [again] = run_cob(date=dt.date(2026, 1, 15))
    assert [step.ran for step in again.steps] == [False] * len(again.steps)
    assert counts() == before and loan_rows() == rows and JobRun.objects.count() == runs
    assert get_business_date() == dt.date(2026, 1, 16)
    assert_reconciled()


def test_missed_days_are_caught_up_one_by_one():
    loan = make_loan(value_date=dt.date(2026, 1, 15), method="equal_installment")
    results = run_cob(until=dt.date(2026, 1, 20))
    assert [r.business_date for r in results] == [dt.date(2026, 1, d) for d in range(15, 21)]
    assert get_business_date() == dt.date(2026, 1, 21)
    assert JobRun.objects.filter(job="lending.cob.close").count() == 6
    loan.refresh_from_db()
    first_interest = loan.installments.get(number=1, is_current=True).interest
    assert loan.interest_receivable == (first_interest * 6 / 31).quantize(D("0.01"))  # 6 of the 31 days accrued
    with pytest.raises(cob.CobError):
        run_cob(date=dt.date(2026, 1, 25))  # the future cannot be closed


def test_crash_resumes_from_the_cursor_and_ends_like_an_uninterrupted_close():
    loans = [make_loan(value_date=dt.date(2026, 1, 15)) for _ in range(5)]
    day = dt.date(2026, 1, 15)
    failed = cob._step_close(day, size=2, _crash_after_chunks=1)
    assert failed.error and failed.processed == 2
    run = JobRun.objects.get(job="lending.cob.close", business_date=day)
    assert run.status == JobRun.Status.FAILED and run.cursor == {"last_id": loans[1].pk}
    [result] = run_cob(date=day)
    assert result.ok
    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED and run.processed == 5
    for loan in loans:  # every loan accrued exactly once for the day
        assert PostingLeg.objects.filter(loan=loan, posting__kind="accrual").count() == 1
    assert_reconciled()


def test_a_failing_loan_is_quarantined_the_others_close_and_it_catches_up_later():
    good = make_loan(value_date=dt.date(2026, 1, 15))
    bad = make_loan(value_date=dt.date(2026, 1, 15))
    Loan.objects.filter(pk=bad.pk).update(allocation_order=5)  # corrupt data: the engine cannot build its terms
    [result] = run_cob()
    close = next(step for step in result.steps if step.step == "close")
    assert close.failed == 1 and result.ok  # reported, the close goes on
    assert JobRun.objects.get(job="lending.cob.close", business_date=dt.date(2026, 1, 15)).status == JobRun.Status.PARTIAL
    quarantine = CobQuarantine.objects.get(loan=bad)
    assert "invalid allocation_order" in quarantine.error
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.last_closed_business_date == dt.date(2026, 1, 15)
    assert bad.last_closed_business_date == dt.date(2026, 1, 14)
    Loan.objects.filter(pk=bad.pk).update(allocation_order=good.allocation_order)
    run_cob()  # 16 Jan: the bad loan closes 15 and 16 Jan
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.last_closed_business_date == dt.date(2026, 1, 16)
    assert bad.interest_receivable == good.interest_receivable
    quarantine.refresh_from_db()
    assert quarantine.resolved_at is not None
    assert_reconciled()


def test_a_loan_whose_write_fails_is_quarantined_alone(monkeypatch):
    loans = [make_loan(value_date=dt.date(2026, 1, 15)) for _ in range(3)]
    original = cob._bulk_update

    def failing_update(table, columns, rows, **kwargs):  # the database refuses one loan's row
        if table == "lending_loan" and any(row_id == loans[1].pk for row_id, _values in rows):
            raise RuntimeError("simulated write failure")
        return original(table, columns, rows, **kwargs)

    monkeypatch.setattr(cob, "_bulk_update", failing_update)
    [result] = run_cob()
    close = next(step for step in result.steps if step.step == "close")
    assert close.failed == 1 and close.processed == 3
    closed = {loan.pk: Loan.objects.get(pk=loan.pk).last_closed_business_date for loan in loans}
    assert closed == {loans[0].pk: dt.date(2026, 1, 15), loans[1].pk: dt.date(2026, 1, 14), loans[2].pk: dt.date(2026, 1, 15)}
    assert CobQuarantine.objects.get().loan_id == loans[1].pk
    assert_reconciled()


def test_events_due_reminder_overdue_and_classified():
    loan = make_loan(value_date=dt.date(2026, 1, 15), method="equal_principal")
    run_cob(until=dt.date(2026, 2, 12))
    [due] = events("lending.installment_due")
    assert (
        due["installment_number"] == 1
        and due["due_date"] == "2026-02-15"
        and due["amount_due"] == "8833.33"
        and due["amount_due_fen"] == 883333
    )
    run_cob(until=dt.date(2026, 2, 15))
    [overdue] = events("lending.loan_overdue")
    assert overdue["dpd"] == 1 and overdue["overdue_principal"] == "8333.33" and overdue["overdue_principal_fen"] == 833333
    assert overdue["business_date"] == "2026-02-15" and overdue["loan_id"] == loan.pk
    [classified] = events("lending.loan_classified")
    assert (classified["old_class"], classified["new_class"], classified["dpd"]) == ("normal", "special_mention", 1)
    assert classified["principal_outstanding"] == "100000.00" and classified["principal_outstanding_fen"] == 10000000
    run_cob(until=dt.date(2026, 5, 16))  # DPD 91 → 次级
    assert events("lending.loan_classified")[-1]["new_class"] == "substandard"
    loan.refresh_from_db()
    assert loan.loan_class == "substandard" and loan.off_balance_accrual and loan.interest_receivable == 0
    cob_topics = ["lending.installment_due", "lending.loan_overdue", "lending.loan_classified"]
    assert (
        OutboxEvent.objects.filter(topic__in=cob_topics, status=OutboxEvent.Status.DELIVERED).count()
        == OutboxEvent.objects.filter(topic__in=cob_topics).count()
    )
    assert_reconciled()


def test_auto_collection_full_partial_and_failed():
    full = make_loan(value_date=dt.date(2026, 1, 15), auto_debit=True)
    partial = make_loan(value_date=dt.date(2026, 1, 15), auto_debit=True)
    empty = make_loan(value_date=dt.date(2026, 1, 15), auto_debit=True)
    LocalAdapter.set_available(partial.core_account_ref, D("1000.00"))
    LocalAdapter.set_available(empty.core_account_ref, D("0"))
    run_cob(until=dt.date(2026, 2, 15))
    full.refresh_from_db()
    partial.refresh_from_db()
    empty.refresh_from_db()
    assert full.state == "active" and full.installments.get(number=1, is_current=True).status == "paid"
    collected = Repayment.objects.get(loan=full)
    assert collected.channel == "auto_collection" and collected.value_date == dt.date(2026, 2, 15)
    assert CollectionAttempt.objects.get(loan=partial).collected == D("1000.00")
    assert partial.state == "overdue" and partial.paid_to_date == D("1000.00")
    assert CollectionAttempt.objects.get(loan=empty).status == "failed" and empty.state == "overdue"
    assert events("lending.installment_paid")[0]["on_time"] is True
    assert_reconciled()


def test_month_end_snapshot_once():
    make_loan(value_date=dt.date(2026, 1, 29))
    make_loan(value_date=dt.date(2026, 1, 29))
    run_cob(until=dt.date(2026, 1, 31))
    assert ClassificationSnapshot.objects.filter(month_end=dt.date(2026, 1, 31)).count() == 2
    cob._step_snapshot(dt.date(2026, 1, 31))
    assert ClassificationSnapshot.objects.count() == 2


def test_a_ledger_mismatch_halts_the_close_before_the_date_moves():
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    Loan.objects.filter(pk=loan.pk).update(principal_outstanding=D("99999.00"))
    [result] = run_cob()
    assert not result.ok and result.steps[-1].step == "reconcile"
    assert get_business_date() == dt.date(2026, 1, 15)
    assert JobRun.objects.get(job="lending.cob.reconcile").status == JobRun.Status.FAILED


def test_a_repayment_after_the_loan_closed_today_takes_the_next_business_date():
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    cob.close_business_day(dt.date(2026, 1, 15), steps=("close",))  # the close is running: the date has not moved yet
    loan.refresh_from_db()
    assert loan.last_closed_business_date == dt.date(2026, 1, 15) and get_business_date() == dt.date(2026, 1, 15)
    business_date_set(day=dt.date(2026, 2, 15))
    cob.close_business_day(dt.date(2026, 2, 15), steps=("close",))
    repayment = repayment_record(loan_id=loan.pk, amount="100", channel="customer")
    assert repayment.value_date == dt.date(2026, 2, 16)


@override_settings(JIKUAI_LENDING_COB_CHUNK=2)
def test_run_cob_command_shows_progress():
    for _ in range(3):
        make_loan(value_date=dt.date(2026, 1, 15))
    out = StringIO()
    call_command("run_cob", "--until", "2026-01-16", stdout=out)
    text = out.getvalue()
    assert "2026-01-15" in text and "2026-01-16" in text and "close" in text and "3/3" in text
    assert get_business_date() == dt.date(2026, 1, 17)
    assert Posting.objects.filter(kind="accrual").exists()
