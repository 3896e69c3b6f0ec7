# ruff: noqa: F811 - pytest fixtures imported from tests.lending.origination_helpers
"""The origination workflow end to end through the services and the bus: an automatic approval prepares
the contract, the customer's signature disburses the loan (one-off product); a refusal prepares nothing;
a core-banking failure leaves the application signed and the bus event failed for a retry."""

from decimal import Decimal

import pytest

from jikuai.core.models import OutboxEvent
from lending import corebanking
from lending.contracts.services import contract_send_code, contract_sign
from lending.models import ApplicationState, Contract, ContractKind, ContractState, Loan, LoanState
from lending.services.origination import application_create, application_submit
from tests.lending.origination_helpers import (  # noqa: F401
    applicant,
    branch,
    policy,
    products,
    seeded_policy,
    whitelisted_farmer,
)
from tests.web.factories import last_code

pytestmark = pytest.mark.django_db


def _apply(customer, product, **overrides):
    kwargs = {"amount": "50000", "term_months": 12, "repayment_method": "equal_installment", "channel": "web"}
    kwargs.update(overrides)
    return application_create(customer=customer, product=product, **kwargs)


def test_approval_prepares_the_contract_and_the_signature_disburses_the_loan(
    products, branch, django_capture_on_commit_callbacks
):
    customer = applicant(branch=branch, occupation="teacher", income="12000")
    app = _apply(customer, products["ydd"])
    with django_capture_on_commit_callbacks(execute=True):
        application_submit(application_id=app.pk, customer=customer)
    app.refresh_from_db()
    assert app.state == ApplicationState.CONTRACT_PENDING, app.reasons
    contract = Contract.objects.get(application=app)
    assert contract.kind == ContractKind.LOAN and contract.state == ContractState.AWAITING_SIGNATURE
    assert Decimal(contract.terms["amount"]) == app.approved_amount

    contract_send_code(contract_id=contract.pk, customer=customer, ip_address="10.0.0.8")
    with django_capture_on_commit_callbacks(execute=True):
        contract_sign(contract_id=contract.pk, customer=customer, code=last_code(customer.mobile), ip_address="10.0.0.8")
    app.refresh_from_db()
    assert app.state == ApplicationState.DISBURSED
    loan = Loan.objects.get(contract_no=contract.contract_no)
    assert loan.customer_id == customer.pk and loan.state == LoanState.ACTIVE
    assert loan.principal == app.approved_amount and loan.annual_rate == app.annual_rate
    assert loan.term_months == app.term_months and loan.method == app.repayment_method
    events = OutboxEvent.objects.filter(topic__in=["lending.application_decided", "lending.contract_signed"])
    assert sorted(events.values_list("topic", flat=True)) == ["lending.application_decided", "lending.contract_signed"]


def test_a_refusal_prepares_no_contract(products, branch, django_capture_on_commit_callbacks):
    farmer = applicant(branch=branch, occupation="farmer")
    with django_capture_on_commit_callbacks(execute=True):
        app = application_submit(application_id=_apply(farmer, products["ydd"]).pk)
    assert app.state == ApplicationState.REJECTED
    assert not Contract.objects.filter(application=app).exists()


def test_core_banking_failure_leaves_the_application_signed_for_a_retry(
    products, branch, django_capture_on_commit_callbacks, monkeypatch
):
    customer = applicant(branch=branch, occupation="teacher", income="12000")
    app = _apply(customer, products["ydd"])
    with django_capture_on_commit_callbacks(execute=True):
        application_submit(application_id=app.pk, customer=customer)
    contract = Contract.objects.get(application=app)
    contract_send_code(contract_id=contract.pk, customer=customer)

    def refuse(self, transfer):
        raise corebanking.CoreBankingError("核心系统维护中")

    monkeypatch.setattr(corebanking.LocalAdapter, "disburse", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        contract_sign(contract_id=contract.pk, customer=customer, code=last_code(customer.mobile))
    app.refresh_from_db()
    assert app.state == ApplicationState.SIGNED  # signed, not lost: the bus retries the disbursement
    assert not Loan.objects.filter(contract_no=contract.contract_no, state=LoanState.ACTIVE).exists()
    event = OutboxEvent.objects.get(topic="lending.contract_signed")
    assert event.status != OutboxEvent.Status.DELIVERED and event.last_error


def test_a_line_application_opens_the_credit_line_once_signed(products, branch, django_capture_on_commit_callbacks):
    from lending.models import CreditLine

    farmer = whitelisted_farmer(branch=branch, limit="150000.00")
    app = _apply(farmer, products["jnkd"], amount="100000", repayment_method="interest_only")
    with django_capture_on_commit_callbacks(execute=True):
        application_submit(application_id=app.pk, customer=farmer)
    app.refresh_from_db()
    assert app.state == ApplicationState.CONTRACT_PENDING, app.reasons
    contract = Contract.objects.get(application=app)
    assert contract.kind == ContractKind.LINE
    contract_send_code(contract_id=contract.pk, customer=farmer)
    with django_capture_on_commit_callbacks(execute=True):
        contract_sign(contract_id=contract.pk, customer=farmer, code=last_code(farmer.mobile))
    app.refresh_from_db()
    assert app.state == ApplicationState.ACTIVE
    line = CreditLine.objects.get(application=app)
    assert line.limit == app.approved_amount == line.available and line.used == 0
    assert line.revolving and line.annual_rate == app.annual_rate
