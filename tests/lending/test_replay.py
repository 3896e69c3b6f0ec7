"""Replay after reversal and back-dated transactions through the services and the nightly close
(hypothesis): reverse(repay) ≡ never repaid, and back-dated payments ≡ on-time ones — state, penalties,
DPD, class, installments and the loan's whole ledger footprint."""

import datetime as dt
from decimal import ROUND_DOWN, Decimal

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jikuai.core.workdays import business_date_set
from lending import engine
from lending.models import Installment, Loan, Repayment
from lending.services import prepayment_quote, repayment_record, repayment_reverse, run_cob
from tests.factories import BranchFactory, make_customer
from tests.lending.factories import ProductFactory, make_loan
from tests.lending.helpers import assert_reconciled

pytestmark = pytest.mark.django_db

START = dt.date(2026, 1, 15)
HORIZON = 150  # days: long enough for a 2-month loan to become 次级 (> 90 DPD)
STATE_FIELDS = [
    "state",
    "dpd",
    "overdue_since",
    "loan_class",
    "floor_class",
    "off_balance_accrual",
    "last_closed_business_date",
    "settled_on",
    "schedule_version",
    "penalty_accrued_e10",
    "penalty_posted",
    "penalty_paid",
    "compound_accrued_e10",
    "compound_posted",
    "compound_paid",
    "paid_to_date",
    *engine.ACCOUNT_FIELDS.values(),
]


def loan_state(loan: Loan) -> dict:
    loan.refresh_from_db()
    state = {name: getattr(loan, name) for name in STATE_FIELDS}
    state["installments"] = list(
        Installment.objects.filter(loan=loan, is_current=True)
        .order_by("number")
        .values_list(
            "number", "start_date", "due_date", "principal", "interest", "paid_principal", "paid_interest", "status", "paid_on"
        )
    )
    return state


plans = st.lists(
    st.tuples(st.integers(min_value=1, max_value=HORIZON - 1), st.integers(min_value=1, max_value=100)),
    min_size=1,
    max_size=4,
    unique_by=lambda item: item[0],
)


@override_settings(JIKUAI_LENDING_COB_PIPELINE=("close", "advance"))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    plan=plans,
    method=st.sampled_from(["equal_installment", "equal_principal", "bullet"]),
    reverse_index=st.integers(min_value=0, max_value=3),
)
def test_reversal_equals_never_repaid_and_back_dated_equals_on_time(plan, method, reverse_index):
    with transaction.atomic():
        _scenario(sorted(plan), method, reverse_index % len(plan))
        transaction.set_rollback(True)


def _scenario(plan, method, reverse_index):
    branch = BranchFactory()
    product = ProductFactory(code=f"R{method[:6]}", term_options=[2], grace_days=0)
    loans = {}
    for name in ("live", "never", "reversed", "back_dated"):
        customer = make_customer(branch=branch)
        loans[name] = make_loan(customer=customer, product=product, principal="6000", months=2, method=method, value_date=START)
    payments = []  # (day, amount) as paid on time by the "live" loan
    day = START
    for offset, percent in plan:
        target = START + dt.timedelta(days=offset)
        if target > day:
            run_cob(date=day, until=target - dt.timedelta(days=1))
            day = target
        loans["live"].refresh_from_db()
        if not loans["live"].is_open:  # settled by the earlier payments: nothing more to pay
            continue
        due = prepayment_quote(loan_id=loans["live"].pk).amount_due
        amount = (due * percent / 100).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        if amount <= 0:
            continue
        index = len(payments)
        payments.append((target, amount))
        for name in ("live", "reversed") + (("never",) if index != reverse_index else ()):
            repayment_record(
                loan_id=loans[name].pk, amount=amount, channel=Repayment.Channel.CORE_BANKING, external_id=f"{name}-{index}"
            )
    end = START + dt.timedelta(days=HORIZON)
    if end > day:
        run_cob(date=day, until=end - dt.timedelta(days=1))
    # back-dated: every payment arrives late, with its original value date
    for index, (value_date, amount) in enumerate(payments):
        repayment_record(
            loan_id=loans["back_dated"].pk,
            amount=amount,
            channel=Repayment.Channel.CORE_BANKING,
            external_id=f"late-{index}",
            value_date=value_date,
        )
    assert loan_state(loans["back_dated"]) == loan_state(loans["live"])
    # reversal of one payment ≡ it never happened
    if payments and reverse_index < len(payments):
        repayment_reverse(external_id=f"reversed-{reverse_index}", reason="核心退票 bounced")
        assert loan_state(loans["reversed"]) == loan_state(loans["never"])
    assert_reconciled()


def test_reversal_of_the_settling_repayment_reopens_the_loan_and_penalties_resume():
    loan = make_loan(value_date=dt.date(2026, 1, 15), method="bullet", months=1)
    run_cob(until=dt.date(2026, 2, 14))
    business_date_set(day=dt.date(2026, 2, 15))
    payoff = prepayment_quote(loan_id=loan.pk).payoff
    repayment_record(loan_id=loan.pk, amount=payoff, channel="core_banking", external_id="S-1")
    loan.refresh_from_db()
    assert loan.state == "settled"
    run_cob(until=dt.date(2026, 3, 16))  # settled loans are not closed
    repayment_reverse(external_id="S-1", reason="退票")
    loan.refresh_from_db()
    assert loan.state == "overdue" and loan.dpd == 30  # as if never paid: 15 Feb … 16 Mar
    assert loan.last_closed_business_date == dt.date(2026, 3, 16)
    assert loan.penalty_posted == (Decimal("100000") * Decimal("0.09") * 30 / 360).quantize(Decimal("0.01"))
    assert_reconciled()
