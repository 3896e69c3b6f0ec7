import json
import threading
import time
import uuid

import pytest
from django.db import connection

from jikuai.api.models import IdempotencyRecord
from jikuai.customers.models import Customer
from tests.factories import InstitutionFactory, SignedApi, make_client, make_customer, new_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def integrator():
    return make_client(scopes=["ping", "customers:read", "customers:write"])


@pytest.fixture
def api(client, integrator):
    return SignedApi(client, integrator)


def _customer_body(**overrides):
    body = {
        "name": "赵六",
        "id_number": new_id_number(age=30),
        "mobile": "13600001111",
        "occupation": "teacher",
        "monthly_income": "6800.00",
    }
    body.update(overrides)
    return body


def test_signed_ping(api, integrator):
    response = api.get("/api/v1/ping")
    assert response.status_code == 200
    assert response.json()["app_id"] == integrator.app_id


def test_unsigned_request_is_401(client):
    response = client.get("/api/v1/ping")
    assert response.status_code == 401
    assert response.json()["code"] == "signature_missing"


def test_wrong_signature_is_401(api):
    response = api.client.get(
        "/api/v1/ping",
        HTTP_X_APP_ID=api.integrator.app_id,
        HTTP_X_TIMESTAMP=str(int(time.time())),
        HTTP_X_NONCE="abcdefgh12",
        HTTP_X_SIGNATURE="00" * 32,
    )
    assert response.status_code == 401 and response.json()["code"] == "signature_invalid"


def test_replayed_nonce_is_401(api):
    nonce = f"nonce-{uuid.uuid4().hex[:16]}"
    first = api.get("/api/v1/ping", nonce=nonce)
    second = api.get("/api/v1/ping", nonce=nonce)
    assert first.status_code == 200
    assert second.status_code == 401 and second.json()["code"] == "nonce_replayed"


def test_old_timestamp_is_401(api):
    response = api.get("/api/v1/ping", timestamp=int(time.time()) - 600)
    assert response.status_code == 401 and response.json()["code"] == "timestamp_expired"


def test_tampered_body_is_401(api, integrator):
    from jikuai.api.signing import signed_headers

    body = json.dumps(_customer_body()).encode()
    headers = signed_headers(integrator.app_id, integrator.secret, "POST", "/api/v1/customers", "", body)
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    tampered = body.replace(b"6800.00", b"9800.00")
    response = api.client.generic(
        "POST", "/api/v1/customers", tampered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="t-1", **meta
    )
    assert response.status_code == 401 and response.json()["code"] == "signature_invalid"
    assert Customer.objects.count() == 0


def test_unknown_and_inactive_clients(client):
    inactive = make_client(is_active=False)
    response = SignedApi(client, inactive).get("/api/v1/ping")
    assert response.status_code == 401 and response.json()["code"] == "client_inactive"
    ghost = make_client()
    ghost.app_id = "jk-not-registered"
    response = SignedApi(client, ghost).get("/api/v1/ping")
    assert response.status_code == 401 and response.json()["code"] == "unknown_client"


def test_missing_scope_is_403(client):
    reader = make_client(scopes=["ping"])
    response = SignedApi(client, reader).get("/api/v1/customers", "id_number=" + new_id_number())
    assert response.status_code == 403 and response.json()["code"] == "scope_missing"


def test_ip_allow_list(client):
    restricted = make_client(allowed_ips=["10.9.9.9"])
    response = SignedApi(client, restricted).get("/api/v1/ping")
    assert response.status_code == 403 and response.json()["code"] == "ip_not_allowed"


def test_create_customer_then_read_masked_and_look_up(api, integrator):
    body = _customer_body()
    created = api.post("/api/v1/customers", body, key="crm-1")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["id_number"] == body["id_number"][:4] + "*" * 10 + body["id_number"][-4:]
    assert data["mobile"] == "136****1111"
    assert data["monthly_income"] == "6800.00"
    customer = Customer.objects.get(pk=data["id"])
    assert customer.institution_id == integrator.institution_id and customer.channel == "api"
    detail = api.get(f"/api/v1/customers/{customer.pk}")
    assert detail.status_code == 200 and body["id_number"] not in detail.content.decode()
    found = api.get("/api/v1/customers", f"id_number={body['id_number']}")
    assert found.status_code == 200
    assert [row["id"] for row in found.json()["results"]] == [customer.pk]


def test_other_institutions_customer_is_404(api):
    foreign = make_customer(institution=InstitutionFactory())
    assert api.get(f"/api/v1/customers/{foreign.pk}").status_code == 404
    found = api.get("/api/v1/customers", f"id_number={foreign.id_number}")
    assert found.json()["results"] == []


def test_bad_customer_input_changes_nothing(api):
    response = api.post("/api/v1/customers", _customer_body(id_number="220182198603140011"), key="bad-1")
    assert response.status_code == 400
    assert response.json()["field"] == "id_number" and "身份证" in response.json()["detail"]
    response = api.post("/api/v1/customers", _customer_body(mobile="123"), key="bad-2")
    assert response.status_code == 400 and response.json()["field"] == "mobile"
    assert Customer.objects.count() == 0


def test_duplicate_customer_is_409(api):
    body = _customer_body()
    assert api.post("/api/v1/customers", body, key="d-1").status_code == 201
    response = api.post("/api/v1/customers", {**body, "mobile": "13600002222"}, key="d-2")
    assert response.status_code == 409 and response.json()["code"] == "duplicate_id_number"


def test_idempotency_replay_conflict_and_missing_key(api):
    body = _customer_body()
    first = api.post("/api/v1/customers", body, key="idem-1")
    replay = api.post("/api/v1/customers", body, key="idem-1")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1
    other_body = api.post("/api/v1/customers", _customer_body(), key="idem-1")
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency_key_reused"
    missing = api.post("/api/v1/customers", _customer_body(), key=None)
    assert missing.status_code == 400 and missing.json()["code"] == "idempotency_key_missing"
    assert Customer.objects.count() == 1


def test_in_flight_key_is_409(api, integrator):
    body = _customer_body()
    raw = json.dumps(body, ensure_ascii=False).encode()
    import hashlib

    IdempotencyRecord.objects.create(
        client=integrator, key="busy-1", method="POST", path="/api/v1/customers", body_hash=hashlib.sha256(raw).hexdigest()
    )
    response = api.post("/api/v1/customers", raw=raw, key="busy-1")
    assert response.status_code == 409 and response.json()["code"] == "idempotency_in_flight"
    assert Customer.objects.count() == 0


def test_expired_key_is_free_again_and_the_new_request_is_processed(api, integrator, settings):
    """A key older than API_IDEMPOTENCY_TTL_HOURS is not replayed: the old record gives way to the new one."""
    import datetime as dt

    from django.utils import timezone

    IdempotencyRecord.objects.create(
        client=integrator,
        key="old-1",
        method="POST",
        path="/api/v1/customers",
        body_hash="0" * 64,
        status=IdempotencyRecord.Status.DONE,
        response_status=201,
        response_body={"stale": True},
        created_at=timezone.now() - dt.timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS + 1),
    )
    response = api.post("/api/v1/customers", _customer_body(), key="old-1")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response and "stale" not in response.json()
    record = IdempotencyRecord.objects.get(client=integrator, key="old-1")
    assert record.status == IdempotencyRecord.Status.DONE and record.response_body == response.json()
    assert Customer.objects.count() == 1


def test_malformed_and_oversized_json(api, settings):
    response = api.post("/api/v1/customers", raw=b'{"name": ', key="m-1")
    assert response.status_code == 400 and response.json()["code"] == "malformed_json"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    big = json.dumps({**_customer_body(), "address": "村" * 2000}).encode()
    response = api.post("/api/v1/customers", raw=big, key="m-2")
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert Customer.objects.count() == 0


def test_schema_and_docs_are_served_offline(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/customers" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower() and b"swagger-ui" in docs.content


@pytest.mark.django_db(transaction=True)
def test_python_client_against_a_live_server(live_server, integrator):
    from jikuai.api.client import JikuaiClient

    api = JikuaiClient(live_server.url, app_id=integrator.app_id, secret="test-secret-0123456789abcdef")
    assert api.get("/api/v1/ping").status_code == 200
    body = _customer_body()
    first = api.post("/api/v1/customers", body, idempotency_key="live-1")
    assert first.status_code == 201
    assert api.get(f"/api/v1/customers?id_number={body['id_number']}").json()["count"] == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_same_key_creates_one_customer(live_server, integrator):
    if connection.vendor != "postgresql":
        pytest.fail("concurrency tests need PostgreSQL (DATABASE_URL)")
    from jikuai.api.client import JikuaiClient

    api = JikuaiClient(live_server.url, app_id=integrator.app_id, secret="test-secret-0123456789abcdef")
    body = _customer_body()
    results = []

    def call():
        results.append(api.post("/api/v1/customers", body, idempotency_key="race-1").status_code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Customer.objects.count() == 1
    assert set(results) <= {201, 409} and 201 in results
