"""Integrator API: signed calls, scopes, institution scoping, idempotency, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from riskrules.models import DecisionRecord
from tests.factories import InstitutionFactory, SignedApi, make_client
from tests.riskrules.factories import DAY, farmer_customer, jnkd_inputs

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    institution = InstitutionFactory()
    integrator = make_client(institution=institution, scopes=("decisions:write", "decisions:read"))
    return SignedApi(client, integrator)


def _body(customer=None, **inputs):
    subject = {"kind": "application", "id": "API-1"}
    if customer is not None:
        subject["customer_id"] = customer.pk
    return {"subject": subject, "inputs": {**jnkd_inputs(), **inputs}}


def test_post_decides_and_get_returns_the_explanation(api):
    customer = farmer_customer(institution=api.integrator.institution)
    response = api.post("/api/v1/decisions/jnkd_rating", _body(customer), key="rate-1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["outcome"] == "A" and body["grade"] == "A"
    assert body["reasons"][0]["code"].startswith("RS_") and body["reasons"][0]["text"]
    assert body["version_hash"] and body["subject"] == {"kind": "application", "id": "API-1", "customer_id": customer.pk}
    record = DecisionRecord.objects.get(pk=body["decision_id"])
    assert record.institution_id == api.integrator.institution_id and record.source == f"api:{api.integrator.app_id}"

    detail = api.get(f"/api/v1/decisions/{body['decision_id']}")
    assert detail.status_code == 200
    data = detail.json()
    assert data["inputs"]["age"] == record.input_snapshot["age"]
    assert [node["node"] for node in data["explanation"]][:2] == ["sc_age", "sc_income"]
    assert data["explanation"][0]["rows"][0]["description"]


def test_money_in_the_api_is_a_string(api):
    response = api.post(
        "/api/v1/decisions/gxd_limit",
        {"subject": {"kind": "application", "id": "M-1"}, "inputs": {"grade": "A", "monthly_income_fen": 1_000_000}},
    )
    assert response.status_code == 201
    assert response.json()["amount"] == "240000.00"


def test_idempotency_key_replays_the_same_decision(api):
    body = {"subject": {"kind": "application", "id": "IDEM"}, "inputs": {"grade": "A", "monthly_income_fen": 1_000_000}}
    first = api.post("/api/v1/decisions/gxd_limit", body, key="same-key")
    second = api.post("/api/v1/decisions/gxd_limit", body, key="same-key")
    assert first.status_code == second.status_code == 201
    assert first.json()["decision_id"] == second.json()["decision_id"]
    assert second["Idempotent-Replayed"] == "true"
    assert DecisionRecord.objects.filter(subject_id="IDEM").count() == 1


def test_bad_inputs_give_a_bilingual_error_and_write_nothing(api):
    before = DecisionRecord.objects.count()
    response = api.post(
        "/api/v1/decisions/gxd_limit",
        {"subject": {"kind": "application", "id": "B-1"}, "inputs": {"grade": "A", "monthly_income_fen": 1234.5}},
        key="b1",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_input" and body["field"] == "monthly_income_fen" and " / " in body["detail"]
    response = api.post("/api/v1/decisions/gxd_limit", {"subject": {"kind": "rocket", "id": "B-2"}}, key="b2")
    assert response.status_code == 400
    response = api.post("/api/v1/decisions/no_such_rules", {"subject": {"kind": "application", "id": "B-3"}}, key="b3")
    assert response.status_code == 404
    assert DecisionRecord.objects.count() == before


def test_customer_of_another_institution_is_not_found(api):
    stranger = farmer_customer()
    response = api.post("/api/v1/decisions/jnkd_rating", _body(stranger), key="s1")
    assert response.status_code == 404


def test_decisions_of_another_institution_are_not_visible(api, client):
    other = SignedApi(client, make_client(institution=InstitutionFactory(), scopes=("decisions:write", "decisions:read")))
    response = other.post(
        "/api/v1/decisions/gxd_limit", {"subject": {"kind": "application", "id": "X"}, "inputs": {"grade": "A"}}, key="x"
    )
    assert response.status_code == 201
    assert api.get(f"/api/v1/decisions/{response.json()['decision_id']}").status_code == 404
    assert api.get("/api/v1/decisions").json()["count"] == 0


def test_scopes_are_required(client):
    reader = SignedApi(client, make_client(scopes=("decisions:read",)))
    response = reader.post("/api/v1/decisions/gxd_limit", {"subject": {"kind": "application", "id": "S"}}, key="s")
    assert response.status_code == 403
    writer = SignedApi(client, make_client(scopes=("decisions:write",)))
    assert writer.get("/api/v1/decisions").status_code == 403


def test_unsigned_requests_are_refused(client):
    response = client.post(
        "/api/v1/decisions/gxd_limit", {"subject": {"kind": "application", "id": "U"}}, content_type="application/json"
    )
    assert response.status_code == 401


def test_list_endpoint_query_count_does_not_grow_with_rows(api):
    def create(n):
        for i in range(n):
            api.post(
                "/api/v1/decisions/gxd_limit",
                {
                    "subject": {"kind": "application", "id": f"Q-{i}-{n}"},
                    "inputs": {"grade": "B", "monthly_income_fen": 700_000, "decision_date": DAY.isoformat()},
                },
                key=f"q-{i}-{n}",
            )

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/v1/decisions", "ruleset=gxd_limit")
        assert response.status_code == 200
        return len(queries), response.json()["count"]

    create(1)
    one, total_one = count_queries()
    create(12)
    many, total_many = count_queries()
    assert (total_one, total_many) == (1, 13)
    assert one == many
