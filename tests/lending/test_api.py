"""Integrator API of the loan engine: signed, scoped to the caller's institution, idempotent by
external id, agreeing to the fen with the calculator command and DOMAIN.md; query counts."""

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jikuai.core.workdays import business_date_set
from lending.models import Repayment
from lending.services import prepayment_quote
from tests.factories import BranchFactory, SignedApi, make_client, make_customer
from tests.lending.factories import ProductFactory, make_loan
from tests.lending.helpers import assert_reconciled, counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def loan():
    return make_loan(value_date=dt.date(2026, 1, 31), method="equal_installment")


@pytest.fixture
def api(client, loan):
    return SignedApi(client, make_client(institution=loan.institution, scopes=["lending:read", "lending:write"]))


def test_calculator_endpoint_matches_the_command_to_the_fen(client):
    api = SignedApi(client, make_client(scopes=["lending:read"]))
    body = {"method": "equal_installment", "principal": "100000", "annual_rate": "6", "months": 12, "start": "2026-01-31"}
    response = api.post("/api/v1/calculator/schedule", body, key="calc-1")
    assert response.status_code == 200
    out = StringIO()
    call_command(
        "loan_calculator",
        "--method",
        "equal_installment",
        "--principal",
        "100000",
        "--annual-rate",
        "6",
        "--months",
        "12",
        "--start",
        "2026-01-31",
        "--json",
        stdout=out,
    )
    assert response.json() == json.loads(out.getvalue())
    bad = api.post("/api/v1/calculator/schedule", {**body, "method": "balloon"}, key="calc-2")
    assert bad.status_code == 400 and bad.json()["code"] == "unknown_method"
    bad = api.post("/api/v1/calculator/schedule", {**body, "principal": "-1"}, key="calc-3")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_amount"
    assert api.get("/api/v1/loans/1").status_code in (403, 404)


def test_calculator_requires_the_lending_read_scope(client):
    api = SignedApi(client, make_client(scopes=["ping"]))
    response = api.post("/api/v1/calculator/schedule", {"method": "bullet"}, key="c")
    assert response.status_code == 403


def test_loan_detail_and_schedule_agree_with_the_calculator(api, loan):
    detail = api.get(f"/api/v1/loans/{loan.pk}").json()
    assert detail["contract_no"] == loan.contract_no and detail["principal"] == "100000.00" and detail["annual_rate"] == "6.00"
    assert detail["apr"] == "6.00" and detail["state"] == "active" and detail["loan_class"] == "normal"
    schedule = api.get(f"/api/v1/loans/{loan.pk}/schedule").json()
    calc = api.post(
        "/api/v1/calculator/schedule",
        {"method": "equal_installment", "principal": "100000", "annual_rate": "6", "months": 12, "start": "2026-01-31"},
        key="k-c",
    ).json()
    assert [(i["due_date"], i["principal"], i["interest"], i["payment"]) for i in schedule["installments"]] == [
        (i["due_date"], i["principal"], i["interest"], i["payment"]) for i in calc["installments"]
    ]


def test_loans_are_scoped_to_the_callers_institution(client, loan):
    other = SignedApi(client, make_client(scopes=["lending:read", "lending:write"]))
    assert other.get(f"/api/v1/loans/{loan.pk}").status_code == 404
    assert other.get(f"/api/v1/loans/{loan.pk}/schedule").status_code == 404
    assert other.get(f"/api/v1/customers/{loan.customer_id}/loans").json()["results"] == []
    before = counts()
    response = other.post(f"/api/v1/loans/{loan.pk}/repayments", {"external_id": "X", "amount": "10.00"}, key="x")
    assert response.status_code == 404
    assert counts() == before


def test_repayment_is_idempotent_by_external_id(api, loan):
    business_date_set(day=dt.date(2026, 2, 28))
    due = prepayment_quote(loan_id=loan.pk).amount_due
    body = {"external_id": "CORE-20260228-0001", "amount": f"{due:.2f}"}
    first = api.post(f"/api/v1/loans/{loan.pk}/repayments", body, key="r-1")
    assert first.status_code == 201, first.json()
    data = first.json()
    assert (
        data["allocation"] == {"current_interest": "500.00", "current_principal": "8106.64"}
        and data["value_date"] == "2026-02-28"
    )
    # the same transaction again (even with a new Idempotency-Key): same result, nothing new
    before = counts()
    again = api.post(f"/api/v1/loans/{loan.pk}/repayments", body, key="r-2")
    assert again.status_code == 200 and again.json() == data
    assert counts() == before
    # the same external id with another amount: a clear 409, nothing posted
    conflict = api.post(f"/api/v1/loans/{loan.pk}/repayments", {**body, "amount": "1.00"}, key="r-3")
    assert conflict.status_code == 409 and conflict.json()["code"] == "duplicate_external_id"
    assert "外部流水号" in conflict.json()["detail"] and "external_id" in conflict.json()["detail"]
    assert counts() == before
    assert_reconciled()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"external_id": "A", "amount": "0"}, 422, "invalid_amount"),
        ({"external_id": "A", "amount": "-3"}, 422, "invalid_amount"),
        ({"external_id": "A", "amount": "1.234"}, 422, "invalid_amount"),
        ({"external_id": "A", "amount": "99999999999"}, 422, "invalid_amount"),
        ({"external_id": "A", "amount": "1000000"}, 422, "overpayment"),
        ({"amount": "10"}, 400, "invalid"),
        ({"external_id": "A", "amount": "10", "value_date": "2030-01-01"}, 422, "future_value_date"),
        ({"external_id": "A", "amount": "10", "kind": "prepayment"}, 422, "invalid_option"),
    ],
)
def test_bad_repayments_are_refused_with_nothing_posted(api, loan, body, status, code):
    business_date_set(day=dt.date(2026, 2, 28))
    before = counts()
    response = api.post(f"/api/v1/loans/{loan.pk}/repayments", body, key=f"bad-{code}")
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert counts() == before


def test_repayment_on_a_settled_loan_and_reversal_callback(api, loan):
    business_date_set(day=dt.date(2026, 2, 10))
    payoff = prepayment_quote(loan_id=loan.pk).payoff
    paid = api.post(
        f"/api/v1/loans/{loan.pk}/repayments",
        {"external_id": "P-1", "amount": f"{payoff:.2f}", "kind": "prepayment", "prepayment_option": "reduce_payment"},
        key="p1",
    )
    assert paid.status_code == 201
    refused = api.post(f"/api/v1/loans/{loan.pk}/repayments", {"external_id": "P-2", "amount": "5.00"}, key="p2")
    assert refused.status_code == 409 and refused.json()["code"] == "loan_not_open"
    unknown = api.post("/api/v1/repayments/reversals", {"external_id": "NOPE", "reason": "退票"}, key="v0")
    assert unknown.status_code == 404
    reversed_ = api.post("/api/v1/repayments/reversals", {"external_id": "P-1", "reason": "核心退票"}, key="v1")
    assert reversed_.status_code == 200 and reversed_.json()["status"] == "reversed"
    assert api.get(f"/api/v1/loans/{loan.pk}").json()["state"] == "active"
    assert Repayment.objects.get(external_id="P-1").status == "reversed"
    assert_reconciled()


def test_customer_loan_list_has_a_constant_number_of_queries(client):
    branch = BranchFactory()
    customer = make_customer(branch=branch)
    product = ProductFactory()
    make_loan(customer=customer, product=product)
    api = SignedApi(client, make_client(institution=branch.institution, scopes=["lending:read"]))
    url = f"/api/v1/customers/{customer.pk}/loans"
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(url).json()["results"]) == 1
    for _ in range(9):
        make_loan(customer=customer, product=product, principal="5000", months=6)
    with CaptureQueriesContext(connection) as ten:
        assert len(api.get(url).json()["results"]) == 10
    assert len(ten) == len(one)


def test_disbursement_callback_for_an_async_core(api, loan, settings):
    from lending.services import loan_create

    settings.JIKUAI_CORE_BANKING_ADAPTER = "tests.lending.test_corebanking.PendingAdapter"
    business_date_set(day=dt.date(2026, 3, 2))
    pending = loan_create(
        customer=loan.customer,
        product=loan.product,
        principal="20000",
        annual_rate=Decimal("0.06"),
        term_months=12,
        method="equal_principal",
    )
    from lending.services import loan_disburse

    pending = loan_disburse(loan_id=pending.pk)
    assert pending.state == "pending" and pending.disbursement_reference
    unknown = api.post("/api/v1/corebanking/disbursements/callback", {"reference": "DSB-NOPE", "status": "settled"}, key="d0")
    assert unknown.status_code == 404
    response = api.post(
        "/api/v1/corebanking/disbursements/callback",
        {"reference": pending.disbursement_reference, "status": "settled", "core_reference": "C123"},
        key="d1",
    )
    assert response.status_code == 200 and response.json()["state"] == "active"
    assert_reconciled()
