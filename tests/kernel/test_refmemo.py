"""The per-process memo of reference data (jikuai.core.refmemo): integrator clients are read from the
database once per generation; a change saved here is seen by the very next request, a change committed by
another process once the shared generation moves; the generation is read once per request; unknown app
ids are never remembered."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jikuai.api.models import IntegratorClient
from jikuai.core import refmemo
from jikuai.org.models import Institution
from tests.factories import SignedApi, make_client

pytestmark = pytest.mark.django_db


def _client_reads(queries) -> int:
    return sum('FROM "api_integratorclient"' in q["sql"] for q in queries)


@pytest.fixture
def api(client):
    return SignedApi(client, make_client(scopes=["ping"]))


def test_a_known_client_is_read_once_and_the_generation_once_per_request(api, monkeypatch):
    assert api.get("/api/v1/ping").status_code == 200
    reads = []
    original = refmemo._read_generation
    monkeypatch.setattr(refmemo, "_read_generation", lambda: reads.append(1) or original())
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert api.get("/api/v1/ping").status_code == 200
    assert _client_reads(queries.captured_queries) == 0
    assert len(reads) == 3  # one per request


def test_deactivating_a_client_or_its_institution_takes_effect_on_the_next_request(api):
    assert api.get("/api/v1/ping").status_code == 200
    integrator = api.integrator
    integrator.is_active = False
    integrator.save()
    assert api.get("/api/v1/ping").json()["code"] == "client_inactive"
    integrator.is_active = True
    integrator.save()
    assert api.get("/api/v1/ping").status_code == 200
    institution = integrator.institution
    institution.is_active = False
    institution.save()
    assert api.get("/api/v1/ping").json()["code"] == "client_inactive"


def test_a_new_secret_is_required_at_once(api):
    assert api.get("/api/v1/ping").status_code == 200
    integrator = IntegratorClient.objects.get(pk=api.integrator.pk)
    integrator.secret = "rotated-secret-0123456789abcdef"
    integrator.save()
    assert api.get("/api/v1/ping").json()["code"] == "signature_invalid"  # the old secret no longer signs
    api.integrator = integrator
    assert api.get("/api/v1/ping").status_code == 200


def test_a_change_committed_by_another_process_is_seen_when_the_generation_moves(api):
    assert api.get("/api/v1/ping").status_code == 200
    # another process deactivates the institution (no signal reaches this one) …
    Institution.objects.filter(pk=api.integrator.institution_id).update(is_active=False)
    assert api.get("/api/v1/ping").status_code == 200  # … this process still serves its memo …
    cache.set(refmemo.GENERATION_KEY, "generation-written-by-another-process", None)  # … until it commits
    assert api.get("/api/v1/ping").json()["code"] == "client_inactive"


def test_unknown_app_ids_are_not_remembered(client):
    ghost = make_client()
    ghost.app_id = "jk-not-registered"
    for _ in range(2):
        assert SignedApi(client, ghost).get("/api/v1/ping").json()["code"] == "unknown_client"
    assert not any(key[1] == "jk-not-registered" for key in refmemo._memo if isinstance(key, tuple))
    # registered afterwards: accepted at once
    real = make_client()
    IntegratorClient.objects.filter(pk=real.pk).update(app_id="jk-not-registered")
    ghost.secret = real.secret
    assert SignedApi(client, ghost).get("/api/v1/ping").status_code == 200


def test_outside_a_request_every_use_reads_the_generation(monkeypatch):
    reads = []
    original = refmemo._read_generation
    monkeypatch.setattr(refmemo, "_read_generation", lambda: reads.append(1) or original())
    assert refmemo.memoized("test", 1, lambda: "value") == "value"
    assert refmemo.memoized("test", 1, lambda: "other") == "value"
    assert len(reads) == 2
