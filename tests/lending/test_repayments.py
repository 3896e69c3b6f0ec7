"""Repayments through the services: allocation, partial, prepayment both ways, idempotency by external
id, bad input (nothing posted), maker-checker, reversal, back-dated and inline close."""

import datetime as dt
from decimal import Decimal

import pytest

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.workdays import business_date_set
from jikuai.org import roles
from lending.models import Installment, Loan, Repayment, RepaymentRequest, ScheduleVersion
from lending.services import (
    prepayment_quote,
    repayment_record,
    repayment_reverse,
    run_cob,
    staff_repayment_approve,
    staff_repayment_reject,
    staff_repayment_submit,
)
from tests.factories import make_staff
from tests.lending.factories import make_loan
from tests.lending.helpers import assert_reconciled, counts, events

pytestmark = pytest.mark.django_db
D = Decimal


def pay_due(loan, **kwargs):
    quote = prepayment_quote(loan_id=loan.pk)
    return repayment_record(loan_id=loan.pk, amount=quote.amount_due, channel=Repayment.Channel.CUSTOMER, **kwargs)


def test_repayment_on_the_due_date_is_on_time_and_publishes_events():
    loan = make_loan(value_date=dt.date(2026, 1, 31), method="equal_installment")
    run_cob(until=dt.date(2026, 2, 27))
    business_date_set(day=dt.date(2026, 2, 28))
    repayment = pay_due(loan)
    assert repayment.value_date == dt.date(2026, 2, 28)
    assert repayment.allocation == {"current_interest": "500.00", "current_principal": "8106.64"}
    loan.refresh_from_db()
    assert loan.principal_outstanding == D("91893.36") and loan.interest_receivable == 0 and loan.state == "active"
    first = Installment.objects.get(loan=loan, is_current=True, number=1)
    assert first.status == "paid" and first.paid_on == dt.date(2026, 2, 28)
    [paid] = events("lending.installment_paid")
    assert paid["on_time"] is True and paid["amount"] == "8606.64" and paid["amount_fen"] == 860664
    assert paid["installment_number"] == 1 and paid["due_date"] == "2026-02-28" and paid["paid_date"] == "2026-02-28"
    [received] = events("lending.repayment_received")
    assert (
        received["repayment_id"] == repayment.pk and received["amount"] == "8606.64" and received["business_date"] == "2026-02-28"
    )
    assert {"institution_id", "branch_id", "account_manager_id", "customer_id", "loan_id"} <= set(received)
    assert_reconciled()


def test_partial_payment_then_the_rest():
    loan = make_loan(value_date=dt.date(2026, 1, 15), method="equal_principal")
    run_cob(until=dt.date(2026, 2, 15))
    business_date_set(day=dt.date(2026, 2, 16))
    first = repayment_record(loan_id=loan.pk, amount="300.00", channel="customer")
    loan.refresh_from_db()
    # one penalty day (15 Feb): 8,333.33 × 0.09 / 360 = 2.08; compound on the 500.00 interest = 0.13
    assert first.allocation == {"compound": "0.13", "penalty": "2.08", "overdue_interest": "297.79"}
    assert loan.state == "overdue" and loan.dpd == 1
    pay_due(loan)
    loan.refresh_from_db()
    assert loan.state == "active" and loan.dpd == 0 and loan.penalty_posted == loan.penalty_paid
    assert_reconciled()


@pytest.mark.parametrize("amount", ["0", "-5", "0.001", "100000000.01", "abc", "NaN", "Infinity"])
def test_bad_amounts_are_refused_and_nothing_is_posted(amount):
    loan = make_loan()
    before = counts()
    with pytest.raises(ApplicationError) as info:
        repayment_record(loan_id=loan.pk, amount=amount, channel="customer")
    assert info.value.code == "invalid_amount"
    assert counts() == before


def test_overpayment_refused_prepayment_too_small_and_above_payoff():
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2026, 2, 15))
    before = counts()
    due = prepayment_quote(loan_id=loan.pk).amount_due
    with pytest.raises(ApplicationError) as info:
        repayment_record(loan_id=loan.pk, amount=due + 1, channel="customer")
    assert info.value.code == "overpayment"
    with pytest.raises(ApplicationError) as info:
        repayment_record(loan_id=loan.pk, amount=due, channel="customer", kind="prepayment", prepayment_option="reduce_payment")
    assert info.value.code == "prepayment_too_small"
    payoff = prepayment_quote(loan_id=loan.pk).payoff
    with pytest.raises(ApplicationError) as info:
        repayment_record(
            loan_id=loan.pk, amount=payoff + D("0.01"), channel="customer", kind="prepayment", prepayment_option="reduce_payment"
        )
    assert info.value.code == "above_payoff"
    with pytest.raises(ApplicationError) as info:
        repayment_record(loan_id=loan.pk, amount="5000", channel="customer", kind="prepayment", prepayment_option="sideways")
    assert info.value.code == "invalid_option"
    with pytest.raises(NotFound):
        repayment_record(loan_id=999999, amount="5", channel="customer")
    assert counts() == before  # the inline close of the missed days rolled back with the refusal


def test_repayment_on_a_settled_loan_is_refused():
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2026, 1, 20))
    payoff = prepayment_quote(loan_id=loan.pk).payoff
    repayment_record(loan_id=loan.pk, amount=payoff, channel="customer", kind="prepayment", prepayment_option="reduce_payment")
    loan.refresh_from_db()
    assert loan.state == Loan.State.SETTLED and loan.settled_on == dt.date(2026, 1, 20)
    assert events("lending.loan_settled")[-1]["business_date"] == "2026-01-20"
    before = counts()
    with pytest.raises(Conflict) as info:
        repayment_record(loan_id=loan.pk, amount="100", channel="customer")
    assert info.value.code == "loan_not_open"
    assert counts() == before
    assert_reconciled()


def test_external_id_makes_repayments_idempotent():
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2026, 2, 15))
    due = prepayment_quote(loan_id=loan.pk).amount_due
    first = repayment_record(loan_id=loan.pk, amount=due, channel="core_banking", external_id="CB-0001")
    again = repayment_record(loan_id=loan.pk, amount=due, channel="core_banking", external_id="CB-0001")
    assert again.pk == first.pk
    before = counts()
    with pytest.raises(Conflict) as info:
        repayment_record(loan_id=loan.pk, amount=due - 1, channel="core_banking", external_id="CB-0001")
    assert info.value.code == "duplicate_external_id" and info.value.status == 409
    assert counts() == before


def test_prepayment_reduce_payment_and_shorten_term_keep_old_schedule_versions():
    reduce = make_loan(value_date=dt.date(2026, 1, 15))
    shorten = make_loan(value_date=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2026, 1, 25))
    for loan, option in ((reduce, "reduce_payment"), (shorten, "shorten_term")):
        quote = prepayment_quote(loan_id=loan.pk, amount="30000", option=option)
        repayment = repayment_record(
            loan_id=loan.pk, amount="30000", channel="customer", kind="prepayment", prepayment_option=option
        )
        assert repayment.allocation["interest_to_date"] == "166.67"  # 100,000 × 6 % × 10 / 360
        assert repayment.allocation["prepaid_principal"] == "29833.33"
        loan.refresh_from_db()
        assert loan.schedule_version == 2 and loan.principal_outstanding == D("70166.67")
        assert ScheduleVersion.objects.filter(loan=loan).count() == 2
        assert Installment.objects.filter(loan=loan, version=1, is_current=False).count() == 12  # old version kept
        current = list(Installment.objects.filter(loan=loan, is_current=True).order_by("number"))
        assert [(i.due_date, i.principal, i.interest) for i in current] == [
            (i.due_date, i.principal, i.interest) for i in quote.new_installments
        ]
        assert current[0].start_date == dt.date(2026, 1, 25)  # broken first period after the prepayment
    reduce_rows = Installment.objects.filter(loan=reduce, is_current=True)
    shorten_rows = Installment.objects.filter(loan=shorten, is_current=True)
    assert reduce_rows.count() == 12 and shorten_rows.count() < 12
    assert reduce_rows.order_by("-number").first().due_date == reduce.maturity_date
    assert_reconciled()


def test_back_dated_repayment_replays_like_an_on_time_one():
    on_time = make_loan(value_date=dt.date(2026, 1, 15), method="equal_principal")
    late = make_loan(value_date=dt.date(2026, 1, 15), method="equal_principal")
    run_cob(until=dt.date(2026, 2, 14))
    business_date_set(day=dt.date(2026, 2, 15))
    due = prepayment_quote(loan_id=on_time.pk).amount_due
    repayment_record(loan_id=on_time.pk, amount=due, channel="core_banking", external_id="A1")
    run_cob(until=dt.date(2026, 3, 20))
    back = repayment_record(
        loan_id=late.pk, amount=due, channel="core_banking", external_id="B1", value_date=dt.date(2026, 2, 15)
    )
    assert back.value_date == dt.date(2026, 2, 15) and back.entry_date == dt.date(2026, 3, 21)
    on_time.refresh_from_db()
    late.refresh_from_db()
    fields = [
        "state",
        "dpd",
        "loan_class",
        "principal_outstanding",
        "interest_receivable",
        "penalty_posted",
        "penalty_accrued_e10",
        "compound_accrued_e10",
        "interest_income",
        "penalty_income",
        "paid_to_date",
        "last_closed_business_date",
    ]
    assert {f: getattr(late, f) for f in fields} == {f: getattr(on_time, f) for f in fields}
    assert late.dpd == 6 and late.state == "overdue"  # installment 2 (due 15 Mar) is overdue either way
    assert_reconciled()


def test_reversal_of_an_unknown_repayment_is_refused_and_reversal_is_idempotent():
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    with pytest.raises(NotFound):
        repayment_reverse(external_id="nope", reason="退票")
    with pytest.raises(ApplicationError):
        repayment_reverse(repayment_id=1, reason="")
    business_date_set(day=dt.date(2026, 2, 15))
    repayment = pay_due(loan, external_id="R-1")
    reversed_ = repayment_reverse(external_id="R-1", reason="核心退票")
    assert reversed_.status == "reversed"
    postings = counts()["postings"]
    assert repayment_reverse(repayment_id=repayment.pk, reason="again").status == "reversed"
    assert counts()["postings"] == postings
    loan.refresh_from_db()
    assert loan.paid_to_date == 0 and loan.principal_outstanding == D("100000.00")
    assert_reconciled()


def test_a_loan_behind_the_business_date_is_closed_inline_before_the_repayment():
    loan = make_loan(value_date=dt.date(2026, 1, 15), method="equal_principal")
    business_date_set(day=dt.date(2026, 3, 1))  # no close ran: the loan is 46 days behind
    repayment_record(loan_id=loan.pk, amount="100", channel="customer")
    loan.refresh_from_db()
    assert loan.last_closed_business_date == dt.date(2026, 2, 28)
    assert loan.dpd == 14 and loan.state == "overdue"
    assert loan.penalty_posted == D("29.17")  # 14 days × 2.0833325
    assert_reconciled()


def test_staff_repayment_maker_checker_above_the_threshold():
    loan = make_loan(value_date=dt.date(2026, 1, 15), repayment_approval_threshold=D("5000"))
    business_date_set(day=dt.date(2026, 2, 15))
    maker = make_staff(role=roles.OPERATIONS, institution=loan.institution)
    checker = make_staff(role=roles.OPERATIONS, institution=loan.institution)
    small = staff_repayment_submit(loan_id=loan.pk, amount="100", maker=maker.user)
    assert isinstance(small, Repayment) and small.channel == "staff"
    due = prepayment_quote(loan_id=loan.pk).amount_due
    request = staff_repayment_submit(loan_id=loan.pk, amount=due, maker=maker.user)
    assert isinstance(request, RepaymentRequest) and request.state == "pending"
    before = counts()
    with pytest.raises(PermissionDeniedError) as info:
        staff_repayment_approve(request_id=request.pk, checker=maker.user)
    assert info.value.code == "maker_is_checker"
    assert counts() == before
    request = staff_repayment_approve(request_id=request.pk, checker=checker.user, comment="核对无误")
    assert request.state == "approved" and request.repayment.approved_by == checker.user
    rejected = staff_repayment_submit(loan_id=loan.pk, amount="6000", maker=maker.user)
    with pytest.raises(PermissionDeniedError):
        staff_repayment_reject(request_id=rejected.pk, checker=maker.user)
    assert staff_repayment_reject(request_id=rejected.pk, checker=checker.user).state == "rejected"
    assert_reconciled()
