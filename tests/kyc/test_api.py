"""Integrator API: signed KYC upload (base64 JSON) and outcome, scoped to the caller's institution."""

import base64

import pytest

from jikuai.customers.kyc.models import KycRecord, KycState
from tests.factories import SignedApi, make_client, make_customer
from tests.kyc import factories as images
from tests.kyc.conftest import (
    assert_nothing_stored,
    astronaut_selfie_bytes,
    card_back_bytes,
    card_front_bytes,
    needs_review_record,
    stored_files,
)

pytestmark = pytest.mark.django_db


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _body(**overrides) -> dict:
    body = {"id_front": _b64(card_front_bytes()), "id_back": _b64(card_back_bytes()), "selfie": _b64(astronaut_selfie_bytes())}
    return {**body, **overrides}


@pytest.fixture
def api(client, institution):
    return SignedApi(client, make_client(institution=institution, scopes=["kyc:read", "kyc:write"]))


def test_upload_is_accepted_and_queued(api, holder, private_media, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api.post(f"/api/v1/customers/{holder.pk}/kyc", _body(), key="kyc-1")
    assert response.status_code == 202, response.json()
    assert len(queued) == 1
    data = response.json()
    assert data["state"] == KycState.DOCUMENTS_UPLOADED and data["channel"] == "api"
    assert len(stored_files(private_media)) == 3
    # the same key and body replay the stored answer instead of uploading twice
    again = api.post(f"/api/v1/customers/{holder.pk}/kyc", _body(), key="kyc-1")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert KycRecord.objects.count() == 1


def test_outcome_is_masked(api, holder):
    record = needs_review_record(holder)
    response = api.get(f"/api/v1/customers/{holder.pk}/kyc")
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == record.pk and data["state"] == "needs_review"
    assert data["review_reasons"][0]["code"] == "processing_error"
    assert set(data["face"]) == {"distance", "threshold", "match"} and data["face"]["threshold"] == 0.6


def test_bad_images_are_refused_with_nothing_stored(api, holder, private_media):
    bomb = api.post(f"/api/v1/customers/{holder.pk}/kyc", _body(selfie=_b64(images.png_header_only(30000, 30000))), key="k-2")
    assert bomb.status_code == 400
    assert bomb.json()["code"] == "kyc_upload_rejected" and "百万像素" in bomb.json()["detail"]
    garbage = api.post(f"/api/v1/customers/{holder.pk}/kyc", _body(id_back="not base64!!"), key="k-3")
    assert garbage.status_code == 400 and garbage.json()["code"] == "invalid_base64"
    assert_nothing_stored(private_media)


def test_other_institutions_customers_do_not_exist(api, other_institution, private_media):
    stranger = make_customer(institution=other_institution, name="周九")
    assert api.get(f"/api/v1/customers/{stranger.pk}/kyc").status_code == 404
    assert api.post(f"/api/v1/customers/{stranger.pk}/kyc", _body(), key="k-4").status_code == 404
    assert_nothing_stored(private_media)


def test_scopes_are_required(client, institution, holder):
    reader = SignedApi(client, make_client(institution=institution, scopes=["kyc:read"]))
    assert reader.post(f"/api/v1/customers/{holder.pk}/kyc", _body(), key="k-5").status_code == 403
    assert reader.get(f"/api/v1/customers/{holder.pk}/kyc").status_code == 404  # allowed, but nothing yet
