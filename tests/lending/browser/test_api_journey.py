"""Issue 5's API journey with the real signed client (``jikuai.api.client.JikuaiClient``, HTTP over
loopback to the live server): products → application with its instant decision → the contract to sign
(downloaded) → the customer signs on their phone → the credit line → a drawdown → the signed contract
verified."""

import base64

import pytest

from jikuai.api.client import JikuaiClient
from jikuai.core import bus
from jikuai.core.models import OutboxEvent
from lending.contracts.services import contract_send_code, contract_sign
from lending.demo_origination import seed_products
from riskrules.policy.seed import seed_policy
from tests.factories import BranchFactory, make_client
from tests.lending.origination_helpers import whitelisted_farmer
from tests.web.factories import last_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SECRET = "api-journey-secret-0123456789"


def test_an_integrator_takes_a_farmer_from_application_to_drawdown(live_server, sms_outbox):
    seed_policy(product_codes=["jnkd"])
    seed_products()
    branch = BranchFactory()
    farmer = whitelisted_farmer(branch=branch, limit="150000.00")
    integrator = make_client(institution=branch.institution, secret=SECRET)
    api = JikuaiClient(live_server.url, app_id=integrator.app_id, secret=SECRET)

    products = api.get("/api/v1/products")
    assert products.status_code == 200
    assert "jnkd" in [p["code"] for p in products.json()["results"]]

    body = {
        "customer_id": farmer.pk,
        "product_code": "jnkd",
        "amount": "100000.00",
        "term_months": 12,
        "repayment_method": "interest_only",
        "purpose": "购买化肥种子",
    }
    created = api.post("/api/v1/applications", body, idempotency_key="journey-app-1")
    assert created.status_code == 201, created.content
    decision = created.json()
    assert decision["state"] == "approved" and decision["approved_amount"] == "100000.00" and decision["apr"]
    again = api.post("/api/v1/applications", body, idempotency_key="journey-app-1")  # a retry: same answer
    assert again.status_code == 201 and again.json()["id"] == decision["id"]

    status = api.get(f"/api/v1/applications/{decision['id']}").json()
    assert status["state"] == "contract_pending" and status["contract_id"]  # the bus prepared the contract
    unsigned = api.get(f"/api/v1/contracts/{status['contract_id']}/pdf")
    assert unsigned.status_code == 200 and unsigned.content.startswith(b"%PDF")

    # the customer reads the contract on their phone and confirms it with an SMS code
    contract_send_code(contract_id=status["contract_id"], customer=farmer)
    contract_sign(contract_id=status["contract_id"], customer=farmer, code=last_code(farmer.mobile))
    bus.redeliver_due(min_age_seconds=0)  # what the worker does with lending.contract_signed (no-op if done)
    signed_event = OutboxEvent.objects.get(topic="lending.contract_signed")
    assert signed_event.status == OutboxEvent.Status.DELIVERED, signed_event.last_error

    status = api.get(f"/api/v1/applications/{decision['id']}").json()
    assert status["state"] == "active" and status["credit_line_id"]
    line = api.get(f"/api/v1/credit-lines/{status['credit_line_id']}").json()
    assert line["limit"] == line["available"] == "100000.00" and line["used"] == "0.00"

    drawn = api.post(
        f"/api/v1/credit-lines/{line['id']}/drawdowns",
        {"amount": "30000.00", "term_months": 12, "repayment_method": "interest_only"},
        idempotency_key="journey-draw-1",
    )
    assert drawn.status_code == 201, drawn.content
    assert drawn.json()["state"] == "disbursed" and drawn.json()["loan_id"]
    line = api.get(f"/api/v1/credit-lines/{line['id']}").json()
    assert (line["used"], line["available"]) == ("30000.00", "70000.00")
    assert api.get(f"/api/v1/drawdowns/{drawn.json()['id']}").json()["state"] == "disbursed"

    signed = api.get(f"/api/v1/contracts/{status['contract_id']}/pdf").content
    verified = api.post(
        "/api/v1/contracts/verify", {"pdf_base64": base64.b64encode(signed).decode()}, idempotency_key="journey-verify-1"
    ).json()
    assert verified["valid"] and verified["intact"] and verified["trusted"]
