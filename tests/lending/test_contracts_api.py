"""Contract API: signed, scoped to the integrator's institution, idempotent verification (JSON base64 or
multipart), PDF download."""

import base64
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from jikuai.api.signing import signed_headers
from lending.contracts.services import contract_pdf_bytes, contract_prepare_for_application, contract_send_code, contract_sign
from tests.factories import SignedApi, make_client
from tests.lending.contracts_factories import make_approved_application, private_media  # noqa: F401
from tests.web.factories import last_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


@pytest.fixture
def contract():
    application = make_approved_application()
    return contract_prepare_for_application(application_id=application.pk)


@pytest.fixture
def api(client, contract):
    return SignedApi(client, make_client(institution=contract.institution, scopes=["lending:read"]))


def _get_pdf(api, path):
    """A signed GET asking for a PDF (Accept: application/pdf)."""
    headers = signed_headers(api.integrator.app_id, api.integrator.secret, "GET", path, "", b"")
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return api.client.get(path, HTTP_ACCEPT="application/pdf", **meta)


def _sign(contract):
    contract_send_code(contract_id=contract.pk, customer=contract.customer)
    return contract_sign(
        contract_id=contract.pk, customer=contract.customer, code=last_code(contract.customer.mobile), ip_address="10.0.0.9"
    )


def test_metadata_and_pdf_follow_the_contract_state(api, contract):
    meta = api.get(f"/api/v1/contracts/{contract.pk}")
    assert meta.status_code == 200
    body = meta.json()
    assert body["contract_no"] == contract.contract_no and body["state"] == "awaiting_signature" and body["kind"] == "loan"
    assert body["terms"]["amount_in_words"] == "壹拾万元整" and body["signed_sha256"] == ""
    assert contract.customer.id_number not in meta.content.decode()
    unsigned = api.get(f"/api/v1/contracts/{contract.pk}/pdf")
    assert unsigned.status_code == 200 and unsigned["Content-Type"] == "application/pdf"
    assert hashlib.sha256(unsigned.content).hexdigest() == contract.unsigned_sha256 == unsigned["X-Content-SHA256"]

    signed = _sign(contract)
    body = api.get(f"/api/v1/contracts/{contract.pk}").json()
    assert body["state"] == "signed" and body["signed_sha256"] == signed.signed_sha256 and body["signed_at"]
    assert body["evidence"]["mobile_masked"] == contract.customer.masked_mobile and "code_id" not in body["evidence"]
    pdf = _get_pdf(api, f"/api/v1/contracts/{contract.pk}/pdf")
    assert hashlib.sha256(pdf.content).hexdigest() == signed.signed_sha256


def test_contracts_of_another_institution_are_not_found(client, contract):
    other = SignedApi(client, make_client(scopes=["lending:read"]))
    assert other.get(f"/api/v1/contracts/{contract.pk}").status_code == 404
    missing = _get_pdf(other, f"/api/v1/contracts/{contract.pk}/pdf")
    assert missing.status_code == 404 and missing.json()["code"] == "contract_not_found"
    no_scope = SignedApi(client, make_client(institution=contract.institution, scopes=["customers:read"]))
    assert no_scope.get(f"/api/v1/contracts/{contract.pk}").status_code == 403
    assert client.get(f"/api/v1/contracts/{contract.pk}").status_code == 401  # unsigned request


def test_verify_base64_is_idempotent_and_detects_tampering(api, contract):
    data, _ = contract_pdf_bytes(_sign(contract))
    body = {"pdf_base64": base64.b64encode(data).decode()}
    first = api.post("/api/v1/contracts/verify", body, key="verify-1")
    assert first.status_code == 200
    result = first.json()
    assert result["valid"] and result["intact"] and result["trusted"] and result["level"] == "PAdES-B-LT"
    assert contract.institution.name in result["signer_subject"] and result["signing_time"]
    assert result["evidence"]["platform_contract_no"] == contract.contract_no
    replay = api.post("/api/v1/contracts/verify", body, key="verify-1")
    assert replay.json() == result and replay["Idempotent-Replayed"] == "true"
    assert api.post("/api/v1/contracts/verify", body, key=None).status_code == 400  # Idempotency-Key required

    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0x01
    bad = api.post("/api/v1/contracts/verify", {"pdf_base64": base64.b64encode(bytes(tampered)).decode()}, key="verify-2")
    assert bad.status_code == 200 and bad.json()["valid"] is False and bad.json()["intact"] is False

    garbage = api.post("/api/v1/contracts/verify", {"pdf_base64": "***"}, key="verify-3")
    assert garbage.status_code == 400 and garbage.json()["code"] == "invalid_base64"
    empty = api.post("/api/v1/contracts/verify", {}, key="verify-4")
    assert empty.status_code == 400 and empty.json()["code"] == "file_required"


def test_verify_multipart_and_size_limit(client, api, contract, settings):
    data, _ = contract_pdf_bytes(_sign(contract))
    body = encode_multipart(BOUNDARY, {"pdf": SimpleUploadedFile("contract.pdf", data, "application/pdf")})
    path = "/api/v1/contracts/verify"
    headers = signed_headers(api.integrator.app_id, api.integrator.secret, "POST", path, "", body)
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = client.generic("POST", path, body, content_type=MULTIPART_CONTENT, HTTP_IDEMPOTENCY_KEY="mp-1", **meta)
    assert response.status_code == 200 and response.json()["valid"] is True

    settings.JIKUAI_CONTRACT_VERIFY_MAX_BYTES = 1000
    too_big = api.post(path, {"pdf_base64": base64.b64encode(data).decode()}, key="verify-big")
    assert too_big.status_code == 413 and too_big.json()["code"] == "file_too_large"
