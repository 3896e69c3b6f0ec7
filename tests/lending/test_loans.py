"""Loan creation and disbursement: product checks, bad input (nothing posted), ledger, events."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from jikuai.core.exceptions import ApplicationError
from jikuai.core.workdays import business_date_set
from lending.models import AccountCode, Installment, LedgerAccount, Loan, Posting, PostingLeg, ScheduleVersion
from lending.services import loan_create, loan_create_and_disburse, loan_write_off
from tests.factories import BranchFactory, make_customer
from tests.lending.factories import ProductFactory, make_loan
from tests.lending.helpers import assert_reconciled, counts, events

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    business_date_set(day=dt.date(2026, 3, 10))
    return make_customer(branch=BranchFactory())


def test_disbursement_posts_activates_and_publishes(customer):
    product = ProductFactory(code="JNKD")
    loan = loan_create_and_disburse(
        customer=customer,
        product=product,
        principal="50000",
        annual_rate=Decimal("0.0435"),
        term_months=12,
        method="equal_principal",
    )
    assert loan.state == Loan.State.ACTIVE and loan.disbursed_on == dt.date(2026, 3, 10)
    assert loan.principal_outstanding == Decimal("50000.00") and loan.clearing == Decimal("-50000.00")
    assert loan.last_closed_business_date == dt.date(2026, 3, 9)
    assert loan.maturity_date == dt.date(2027, 3, 10) and loan.apr == Decimal("4.35")
    assert (loan.branch_id, loan.account_manager_id, loan.institution_id) == (
        customer.branch_id,
        customer.account_manager_id,
        customer.institution_id,
    )
    posting = Posting.objects.get(loan=loan, kind=Posting.Kind.DISBURSEMENT)
    assert sorted(posting.legs.values_list("account__code", "amount")) == [
        (AccountCode.CLEARING, Decimal("-50000.00")),
        (AccountCode.PRINCIPAL_RECEIVABLE, Decimal("50000.00")),
    ]
    assert ScheduleVersion.objects.get(loan=loan).reason == "original"
    assert Installment.objects.filter(loan=loan, version=1).count() == 12
    [payload] = events("lending.loan_disbursed")
    assert payload == {
        "loan_id": loan.pk,
        "customer_id": customer.pk,
        "institution_id": customer.institution_id,
        "branch_id": customer.branch_id,
        "account_manager_id": None,
        "product_code": "JNKD",
        "amount": "50000.00",
        "amount_fen": 5000000,
        "business_date": "2026-03-10",
        "first_drawdown": True,
    }
    assert_reconciled()
    second = loan_create_and_disburse(
        customer=customer, product=product, principal="1000", annual_rate=Decimal("0.06"), term_months=6, method="bullet"
    )
    assert events("lending.loan_disbursed")[-1]["first_drawdown"] is False and second.state == "active"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"principal": "0"}, "invalid_amount"),
        ({"principal": "-100"}, "invalid_amount"),
        ({"principal": "100.001"}, "invalid_amount"),
        ({"principal": "999999999"}, "invalid_amount"),
        ({"principal": "abc"}, "invalid_amount"),
        ({"principal": "999.99"}, "amount_out_of_range"),
        ({"principal": "500000.01"}, "amount_out_of_range"),
        ({"annual_rate": Decimal("0.02")}, "rate_out_of_range"),
        ({"annual_rate": Decimal("0.19")}, "rate_out_of_range"),
        ({"annual_rate": Decimal("0.25")}, "rate_above_cap"),
        ({"annual_rate": "NaN"}, "invalid_rate"),
        ({"term_months": 7}, "term_not_allowed"),
        ({"term_months": 0}, "term_not_allowed"),
        ({"method": "balloon"}, "unknown_method"),
        ({"method": "bullet", "product_methods": ["equal_installment"]}, "method_not_allowed"),
    ],
)
def test_bad_offers_are_refused_and_nothing_is_written(customer, changes, code):
    product = ProductFactory(
        allowed_methods=changes.pop("product_methods", ["equal_installment", "equal_principal", "interest_only", "bullet"])
    )
    args = {
        "customer": customer,
        "product": product,
        "principal": "10000",
        "annual_rate": Decimal("0.06"),
        "term_months": 12,
        "method": "equal_installment",
    }
    args.update(changes)
    before = counts()
    with pytest.raises(ApplicationError) as info:
        loan_create_and_disburse(**args)
    assert info.value.code == code
    assert info.value.message_zh and info.value.message_en
    assert counts() == before


def test_apr_above_the_ceiling_is_refused_even_within_the_rate_range(customer):
    # 18 % nominal with a 10 % upfront fee on 6 months → APR far above a 20 % ceiling
    product = ProductFactory(apr_ceiling=Decimal("0.20"), upfront_fee_rate=Decimal("0.10"))
    before = counts()
    with pytest.raises(ApplicationError) as info:
        loan_create(
            customer=customer,
            product=product,
            principal="10000",
            annual_rate=Decimal("0.18"),
            term_months=6,
            method="equal_installment",
        )
    assert info.value.code == "apr_above_ceiling"
    assert counts() == before


def test_product_of_another_institution_or_inactive_is_refused(customer):
    other = ProductFactory(institution=BranchFactory().institution)
    with pytest.raises(ApplicationError) as info:
        loan_create(
            customer=customer,
            product=other,
            principal="10000",
            annual_rate=Decimal("0.06"),
            term_months=12,
            method="equal_installment",
        )
    assert info.value.code == "product_not_available"
    inactive = ProductFactory(is_active=False)
    with pytest.raises(ApplicationError):
        loan_create(
            customer=customer,
            product=inactive,
            principal="10000",
            annual_rate=Decimal("0.06"),
            term_months=12,
            method="equal_installment",
        )


def test_pending_loan_disbursed_later_starts_its_schedule_on_the_real_value_date(customer):
    from lending.services import loan_disburse

    loan = loan_create(
        customer=customer,
        product=ProductFactory(),
        principal="12000",
        annual_rate=Decimal("0.06"),
        term_months=12,
        method="equal_installment",
    )
    assert loan.state == "pending" and not Posting.objects.filter(loan=loan).exists()
    business_date_set(day=dt.date(2026, 3, 31))
    loan = loan_disburse(loan_id=loan.pk)
    assert loan.value_date == dt.date(2026, 3, 31)
    assert list(Installment.objects.filter(loan=loan).order_by("number").values_list("due_date", flat=True)[:2]) == [
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
    ]
    assert loan_disburse(loan_id=loan.pk).pk == loan.pk  # a repeated click is a no-op
    assert Posting.objects.filter(loan=loan, kind="disbursement").count() == 1


def test_ledger_rows_are_immutable_and_unbalanced_legs_are_refused_by_the_database(customer):
    if connection.vendor != "postgresql":
        pytest.skip("database triggers exist on PostgreSQL only; SQLite relies on the service check")
    loan = loan_create_and_disburse(
        customer=customer,
        product=ProductFactory(),
        principal="10000",
        annual_rate=Decimal("0.06"),
        term_months=12,
        method="bullet",
    )
    leg = PostingLeg.objects.filter(loan=loan).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        PostingLeg.objects.filter(pk=leg.pk).update(amount=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        PostingLeg.objects.filter(pk=leg.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        Posting.objects.filter(loan=loan).delete()
    account = LedgerAccount.objects.get(institution=loan.institution, code=AccountCode.SUSPENSE)
    with pytest.raises(IntegrityError), transaction.atomic():  # one-legged posting in one statement
        posting = Posting.objects.create(institution=loan.institution, kind="adjustment", business_date=dt.date(2026, 3, 10))
        PostingLeg.objects.create(posting=posting, account=account, amount=Decimal("5.00"))
    with pytest.raises(IntegrityError), transaction.atomic():  # a posting without legs cannot commit (deferred trigger)
        Posting.objects.create(institution=loan.institution, kind="adjustment", business_date=dt.date(2026, 3, 10))
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert_reconciled()


def test_service_check_refuses_unbalanced_postings_before_writing(customer):
    from lending import ledger

    loan = make_loan(customer=customer, value_date=dt.date(2026, 3, 10))
    before = counts()
    with pytest.raises(ledger.UnbalancedPosting), transaction.atomic():
        ledger.post(
            institution_id=loan.institution_id,
            kind="adjustment",
            business_date=dt.date(2026, 3, 10),
            legs=[("clearing", loan.pk, Decimal("1.00")), ("suspense", loan.pk, Decimal("-0.99"))],
        )
    assert counts() == before


def test_write_off_moves_principal_to_loss_and_closes_the_loan(customer):
    loan = make_loan(customer=customer, value_date=dt.date(2026, 3, 10), method="equal_principal")
    with pytest.raises(ApplicationError):
        loan_write_off(loan_id=loan.pk, reason="")
    loan = loan_write_off(loan_id=loan.pk, reason="诉讼终结，无可执行财产")
    assert loan.state == Loan.State.WRITTEN_OFF and loan.principal_outstanding == 0
    assert loan.writeoff_loss == Decimal("100000.00")
    assert_reconciled()
