"""Integrator API of credit lines: signed, scoped to the caller's institution, idempotent POSTs;
refusals are {"code", "detail"} with English text and change nothing; constant query count."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lending.models import CreditLine, CreditLineChange, Drawdown, Loan
from tests.factories import SignedApi, make_client
from tests.lending.lines_factories import assert_balanced, open_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    return open_line(amount="50000", day=dt.date(2026, 3, 16))


@pytest.fixture
def api(client, line):
    return SignedApi(client, make_client(institution=line.institution, scopes=["lending:read", "lending:write"]))


def body(**overrides):
    values = {"amount": "12000.00", "term_months": 6, "repayment_method": "equal_principal"}
    values.update(overrides)
    return values


def test_credit_line_detail(api, line):
    data = api.get(f"/api/v1/credit-lines/{line.pk}").json()
    assert data["limit"] == "50000.00" and data["used"] == "0.00" and data["available"] == "50000.00"
    assert data["annual_rate"] == "6.00" and data["valid_until"] == "2027-03-15" and data["state"] == "active"
    assert data["term_options"] == [3, 6, 12] and "equal_principal" in data["repayment_methods"]


def test_drawdown_is_created_idempotent_and_readable(api, line):
    response = api.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", body(), key="dd-1")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["state"] == "disbursed" and data["amount"] == "12000.00" and data["loan_id"]
    replay = api.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", body(), key="dd-1")
    assert replay.status_code == 201 and replay.json()["id"] == data["id"]
    assert Drawdown.objects.count() == 1 and Loan.objects.count() == 1
    reused = api.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", body(amount="13000.00"), key="dd-1")
    assert reused.status_code == 422 and Drawdown.objects.count() == 1
    detail = api.get(f"/api/v1/drawdowns/{data['id']}").json()
    assert detail["state"] == "disbursed" and detail["loan_id"] == data["loan_id"]
    loan = api.get(f"/api/v1/loans/{data['loan_id']}").json()
    assert loan["principal"] == "12000.00"
    assert api.get(f"/api/v1/credit-lines/{line.pk}").json()["available"] == "38000.00"


def test_failed_disbursement_is_a_failed_drawdown_with_the_hold_released(api, line, settings):
    settings.JIKUAI_CORE_BANKING_ADAPTER = "tests.lending.lines_factories.FailingAdapter"
    response = api.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", body(), key="dd-f")
    assert response.status_code == 201 and response.json()["state"] == "failed"
    assert "账户状态异常" in response.json()["failure_reason"]
    assert assert_balanced(line).available == Decimal("50000.00")


def test_refusals_change_nothing(api, line):
    def snapshot():
        return (
            list(CreditLine.objects.values_list("used", "available", "state")),
            CreditLineChange.objects.count(),
            Drawdown.objects.count(),
        )

    before = snapshot()
    cases = [
        (body(amount="50000.01"), 422, "amount_exceeds_available"),
        (body(term_months=24), 422, "term_not_allowed"),
        (body(repayment_method="bullet"), 422, "method_not_allowed"),
        (body(repayment_method="balloon"), 400, "invalid"),
        (body(amount="abc"), 422, "invalid_amount"),
    ]
    for index, (payload, status, code) in enumerate(cases):
        response = api.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", payload, key=f"bad-{index}")
        assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    CreditLine.objects.filter(pk=line.pk).update(state="frozen")
    response = api.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", body(), key="frozen")
    assert response.status_code == 409 and response.json()["code"] == "line_frozen"
    assert "frozen" in response.json()["detail"]
    CreditLine.objects.filter(pk=line.pk).update(state="active")
    assert snapshot() == before


def test_scoped_to_the_callers_institution(client, line):
    other = SignedApi(client, make_client(scopes=["lending:read", "lending:write"]))
    assert other.get(f"/api/v1/credit-lines/{line.pk}").json()["code"] == "credit_line_not_found"
    response = other.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", body(), key="x-1")
    assert response.status_code == 404 and not Drawdown.objects.exists()
    reader = SignedApi(client, make_client(institution=line.institution, scopes=["lending:read"]))
    assert reader.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", body(), key="r-1").status_code == 403
    assert not Drawdown.objects.exists()


def test_unsigned_requests_are_refused(client, line):
    assert client.get(f"/api/v1/credit-lines/{line.pk}").status_code in (401, 403)


def test_detail_query_count_is_constant(api, line):
    with CaptureQueriesContext(connection) as first:
        api.get(f"/api/v1/credit-lines/{line.pk}")
    api.post(f"/api/v1/credit-lines/{line.pk}/drawdowns", body(), key="q-1")
    with CaptureQueriesContext(connection) as second:
        api.get(f"/api/v1/credit-lines/{line.pk}")
    assert len(first) == len(second)
