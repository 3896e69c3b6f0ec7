# ruff: noqa: F811 - pytest fixtures imported from tests.lending.origination_helpers
"""Integrator API of origination: signed, idempotent, scoped to the caller's institution; create and
submit in one call returns the decision; bad input is refused with nothing written."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.models import LoanApplication, ReviewTask
from lending.services.products import product_save
from tests.factories import BranchFactory, InstitutionFactory, SignedApi, make_client
from tests.lending.origination_helpers import applicant, branch, policy, products, seeded_policy  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, branch):
    return SignedApi(client, make_client(institution=branch.institution, scopes=["lending:read", "lending:write"]))


def body(customer, **overrides):
    data = {
        "customer_id": customer.pk,
        "product_code": "ydd",
        "amount": "50000",
        "term_months": 36,
        "repayment_method": "equal_installment",
        "purpose": "装修",
    }
    data.update(overrides)
    return data


def test_apply_returns_the_decision_and_replays_idempotently(api, products, branch):
    customer = applicant(branch=branch)
    response = api.post("/api/v1/applications", body(customer), key="app-1")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["state"] == "approved" and data["outcome"] == "approve" and data["channel"] == "api"
    assert data["approved_amount"] == "50000.00" and data["annual_rate"] and data["apr"]
    assert data["product_code"] == "ydd" and data["decision_ms"] > 0
    replay = api.post("/api/v1/applications", body(customer), key="app-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true" and replay.json() == data
    assert LoanApplication.objects.filter(customer=customer).count() == 1
    detail = api.get(f"/api/v1/applications/{data['id']}")
    assert detail.status_code == 200 and detail.json() == data


def test_refusal_and_referral_carry_reasons(api, products, branch):
    farmer = applicant(branch=branch, occupation="farmer")
    rejected = api.post("/api/v1/applications", body(farmer, product_code="gxd"), key="r-1").json()
    assert rejected["state"] == "rejected" and rejected["approved_amount"] is None
    assert {"code": "OCCUPATION_MISMATCH", "text": "职业不符合产品准入要求"} in rejected["reasons"]
    unverified = applicant(branch=branch, verified=False)
    referred = api.post("/api/v1/applications", body(unverified), key="r-2").json()
    assert referred["state"] == "referred" and ReviewTask.objects.filter(application_id=referred["id"]).exists()


def test_other_institutions_customer_is_not_found_and_nothing_is_written(api, products):
    stranger = applicant(branch=BranchFactory())
    response = api.post("/api/v1/applications", body(stranger), key="x-1")
    assert response.status_code == 404 and response.json()["code"] == "customer_not_found"
    assert "customer not found" in response.json()["detail"]
    assert LoanApplication.objects.count() == 0


@pytest.mark.parametrize(
    "overrides, status, code",
    [
        ({"amount": "100"}, 422, "amount_out_of_range"),
        ({"term_months": 7}, 422, "term_not_allowed"),
        ({"repayment_method": "bullet"}, 422, "method_not_allowed"),
        ({"repayment_method": "balloon"}, 400, "invalid"),
        ({"product_code": "nope"}, 404, "product_not_found"),
        ({"amount": "1e9"}, 422, "invalid_amount"),
    ],
)
def test_bad_input_is_refused_in_english_too(api, products, branch, overrides, status, code):
    customer = applicant(branch=branch)
    response = api.post("/api/v1/applications", body(customer, **overrides), key=f"bad-{code}")
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert LoanApplication.objects.count() == 0


def test_refused_english_message(api, products, branch):
    customer = applicant(branch=branch)
    detail = api.post("/api/v1/applications", body(customer, amount="100"), key="e").json()["detail"]
    assert "申请金额须在" in detail and "amount must be between" in detail


def test_second_open_application_is_a_conflict(api, products, branch):
    customer = applicant(branch=branch)
    assert api.post("/api/v1/applications", body(customer), key="a").status_code == 201
    second = api.post("/api/v1/applications", body(customer, amount="20000"), key="b")
    assert second.status_code == 409 and second.json()["code"] == "application_open"
    assert LoanApplication.objects.filter(customer=customer).count() == 1


def test_suspended_product_is_not_offered(api, products, branch):
    customer = applicant(branch=branch)
    product = products["ydd"]
    product.status = "suspended"
    product_save(product=product)
    response = api.post("/api/v1/applications", body(customer), key="s")
    assert response.status_code == 404 and response.json()["code"] == "product_not_found"
    listed = [p["code"] for p in api.get("/api/v1/products").json()["results"]]
    assert "ydd" not in listed and "gxd" in listed


def test_products_are_scoped_to_the_institution(api, products, branch):
    own = products["tsd"]
    own.institution = branch.institution
    product_save(product=own)
    other = products["jld"]
    other.institution = InstitutionFactory()
    product_save(product=other)
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/products")
    assert response.status_code == 200
    codes = [p["code"] for p in response.json()["results"]]
    assert "tsd" in codes and "jld" not in codes and len(codes) == 6
    jnkd = next(p for p in response.json()["results"] if p["code"] == "jnkd")
    assert jnkd["kind"] == "line" and jnkd["revolving"] is True and jnkd["max_amount"] == "300000.00"
    assert jnkd["name"] == "吉农快贷" and jnkd["name_en"] == "Jinong Quick Loan" and jnkd["description_en"]
    assert len(queries) < 12


def test_other_institutions_application_is_not_visible(api, products, branch, client):
    customer = applicant(branch=branch)
    app_id = api.post("/api/v1/applications", body(customer), key="v").json()["id"]
    outsider = SignedApi(client, make_client(institution=InstitutionFactory(), scopes=["lending:read"]))
    assert outsider.get(f"/api/v1/applications/{app_id}").status_code == 404


def test_scopes_are_required(client, branch, products):
    reader = SignedApi(client, make_client(institution=branch.institution, scopes=["lending:read"]))
    customer = applicant(branch=branch)
    assert reader.post("/api/v1/applications", body(customer), key="z").status_code == 403
    nobody = SignedApi(client, make_client(institution=branch.institution, scopes=["ping"]))
    assert nobody.get("/api/v1/products").status_code == 403


def _history(app):
    from django_fsm_log.models import StateLog

    return [
        (log.source_state, log.state, log.transition, log.description)
        for log in StateLog.objects.for_(app).order_by("timestamp", "id")
    ]


def test_one_call_writes_what_create_then_submit_writes(api, products, branch):
    """The API's single write path (decided before its row exists, inserted once) leaves the same
    application, history, decision record and event as a draft created and then submitted."""
    from jikuai.core.models import OutboxEvent
    from lending.services.origination import application_create, application_submit
    from riskrules.models import DecisionRecord

    one_call = applicant(branch=branch, income="12000")
    two_steps = applicant(branch=branch, income="12000")
    data = api.post("/api/v1/applications", body(one_call), key="same-1").json()
    fast = LoanApplication.objects.get(pk=data["id"])
    slow = application_submit(
        application_id=application_create(
            customer=two_steps,
            product=fast.product,
            amount="50000",
            term_months=36,
            repayment_method="equal_installment",
            channel="api",
            purpose="装修",
        ).pk
    )
    fields = ["state", "decision_outcome", "grade", "approved_amount", "annual_rate", "apr", "reasons", "expires_on"]
    assert [getattr(fast, f) for f in fields] == [getattr(slow, f) for f in fields]
    assert fast.state == "approved" and fast.submitted_at and fast.decided_at and fast.product_version == slow.product_version
    assert fast.product_snapshot == slow.product_snapshot
    expected = [
        ("draft", "submitted", "submit", "客户提交"),
        ("submitted", "deciding", "start_deciding", "自动审批"),
        ("deciding", "approved", "approve", "自动审批通过"),
    ]
    assert _history(fast) == _history(slow) == expected
    assert fast.history.count() == 1  # inserted once, in its final state (the two-step path writes two)
    record = DecisionRecord.objects.get(pk=fast.decision_ids["flow"])
    assert record.subject_id == fast.application_no and record.customer_id == one_call.pk and record.outcome == "approve"
    topics = OutboxEvent.objects.filter(topic="lending.application_decided", payload__application_id=fast.pk)
    assert topics.count() == 1 and topics.get().payload["outcome"] == "approved"


def test_referred_in_one_call_opens_its_review_task_with_full_history(api, products, branch):
    unverified = applicant(branch=branch, verified=False)
    data = api.post("/api/v1/applications", body(unverified), key="ref-1").json()
    app = LoanApplication.objects.get(pk=data["id"])
    assert app.state == "referred" and ReviewTask.objects.filter(application=app, status="open").count() == 1
    assert [row[1] for row in _history(app)] == ["submitted", "deciding", "referred"]


def test_a_second_open_application_is_refused_by_the_index_and_its_decision_rolled_back(api, products, branch):
    """The one-call path does not look for an open application first: the database's one-open-application
    index refuses the insert, the decision made meanwhile rolls back with it, and the caller gets the
    same clear Conflict (naming the open application) as from the two-step path — also under a race."""
    from riskrules.models import DecisionRecord

    customer = applicant(branch=branch)
    first = api.post("/api/v1/applications", body(customer), key="win-1").json()
    assert first["state"] == "approved"
    decisions_before = DecisionRecord.objects.count()
    response = api.post("/api/v1/applications", body(customer, amount="60000"), key="win-2")
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "application_open" and first["application_no"] in response.json()["detail"]
    assert "already exists" in response.json()["detail"]
    assert LoanApplication.objects.filter(customer=customer).count() == 1
    assert DecisionRecord.objects.count() == decisions_before


def test_an_application_number_taken_meanwhile_is_retried_under_a_new_one(api, products, branch, monkeypatch):
    from django_fsm_log.models import StateLog

    from lending.services import origination
    from riskrules.models import DecisionRecord

    taken = api.post("/api/v1/applications", body(applicant(branch=branch)), key="num-1").json()["application_no"]
    numbers = iter([taken, "AP20990101FRESH2"])
    monkeypatch.setattr(origination, "new_application_no", lambda day: next(numbers))
    customer = applicant(branch=branch)
    decisions_before, logs_before = DecisionRecord.objects.count(), StateLog.objects.count()
    response = api.post("/api/v1/applications", body(customer), key="num-2")
    assert response.status_code == 201, response.json()
    app = LoanApplication.objects.get(customer=customer)
    assert response.json()["application_no"] == app.application_no == "AP20990101FRESH2"
    assert DecisionRecord.objects.count() == decisions_before + 1  # the first attempt's decision rolled back
    assert StateLog.objects.count() == logs_before + 3 and app.history.count() == 1
    assert DecisionRecord.objects.get(pk=app.decision_ids["flow"]).subject_id == app.application_no


def test_a_product_suspended_after_it_was_remembered_is_refused_on_the_next_call(api, products, branch):
    first = applicant(branch=branch)
    assert api.post("/api/v1/applications", body(first), key="m-1").status_code == 201
    with CaptureQueriesContext(connection) as queries:
        assert api.post("/api/v1/applications", body(applicant(branch=branch)), key="m-2").status_code == 201
    assert not any('FROM "lending_product"' in q["sql"] for q in queries.captured_queries)  # remembered
    product = products["ydd"]
    product.status = "suspended"
    product_save(product=product)
    response = api.post("/api/v1/applications", body(applicant(branch=branch)), key="m-3")
    assert response.status_code == 404 and response.json()["code"] == "product_not_found"


def test_application_representation_is_what_the_declared_fields_give(api, products, branch):
    """ApplicationSerializer writes its representation out by hand (speed); the declared fields remain the
    schema and must give the very same JSON for every kind of application."""
    from rest_framework import serializers

    from lending.api.origination import ApplicationSerializer

    approved = api.post("/api/v1/applications", body(applicant(branch=branch)), key="p-1").json()
    rejected = api.post(
        "/api/v1/applications", body(applicant(branch=branch, occupation="farmer"), product_code="gxd"), key="p-2"
    )
    referred = api.post("/api/v1/applications", body(applicant(branch=branch, verified=False)), key="p-3")
    assert {approved["state"], rejected.json()["state"], referred.json()["state"]} == {"approved", "rejected", "referred"}
    apps = list(LoanApplication.objects.select_related("product").order_by("id"))
    LoanApplication.objects.filter(pk=apps[0].pk).update(state="active")  # the credit line lookup
    apps.append(LoanApplication.objects.select_related("product").get(pk=apps[0].pk))
    for app in apps:
        for context in ({}, {"just_decided": True}):
            serializer = ApplicationSerializer(app, context=context)
            assert serializer.to_representation(app) == serializers.Serializer.to_representation(serializer, app)
    assert ApplicationSerializer(apps[-1]).data["state"] == "active"


_texts = st.one_of(
    st.sampled_from(["ydd", "50000", "50000.00", "装修", " ydd", "ydd ", "", "a\x00b", "\ud800", "x" * 31, "9" * 21, "家" * 200]),
    st.text(max_size=40),
)
_values = st.one_of(_texts, st.integers(-5, 10**6), st.booleans(), st.none(), st.floats(allow_nan=False, width=32))


_well_formed = st.fixed_dictionaries(
    {
        "customer_id": st.integers(1, 10**9),
        "product_code": st.sampled_from(["ydd", "gxd", "jnkd"]),
        "amount": st.sampled_from(["50000", "50000.00", "1", "abc", "9" * 20]),
        "term_months": st.integers(1, 60),
        "repayment_method": st.sampled_from(["equal_installment", "equal_principal", "interest_only", "bullet"]),
    },
    optional={"purpose": _texts, "declared_monthly_income": st.sampled_from(["", "8000", " 8000", "x" * 21])},
)


@settings(max_examples=400, deadline=None)
@given(
    _well_formed
    | st.fixed_dictionaries(
        {},
        optional={
            "customer_id": st.one_of(st.integers(-(2**60), 2**60), _values),
            "product_code": _values,
            "amount": _values,
            "term_months": st.one_of(st.sampled_from([3, 12, 36]), _values),
            "repayment_method": st.one_of(st.sampled_from(["equal_installment", "interest_only", "bullet", "other"]), _values),
            "purpose": _values,
            "declared_monthly_income": _values,
            "employer_category": st.sampled_from(["government", "x"]),
        },
    )
)
def test_well_formed_fast_path_gives_what_the_fields_give(data):
    from rest_framework import serializers as drf
    from rest_framework.exceptions import ValidationError

    from lending.api.origination import ApplicationCreateSerializer, _well_formed_application

    fast = _well_formed_application(data)
    serializer = ApplicationCreateSerializer(data=data)
    try:
        full = dict(drf.Serializer.to_internal_value(serializer, data))
    except ValidationError:
        full = None
    if fast is not None:
        assert fast == full  # taken only where the fields accept the request, with the same values
    assert serializer.is_valid() == (full is not None)
    if full is not None:
        assert dict(serializer.validated_data) == full


def test_well_formed_fast_path_is_taken_for_a_plain_request():
    from lending.api.origination import _well_formed_application

    plain = {
        "customer_id": 7,
        "product_code": "ydd",
        "amount": "50000.00",
        "term_months": 12,
        "repayment_method": "equal_installment",
    }
    assert _well_formed_application(plain) == {**plain, "purpose": "", "declared_monthly_income": ""}
    assert _well_formed_application({**plain, "amount": 50000}) is None  # a number: the field converts it


def test_with_the_relay_the_decided_event_is_written_with_the_application(api, products, branch, settings):
    """Where the relay hands events on, the decided event goes into the application's own statement, with
    the application's id put into its payload by the database; it is the row publish() would write."""
    from jikuai.core.models import OutboxEvent

    settings.CELERY_TASK_ALWAYS_EAGER, settings.BUS_RELAY = False, True
    customer = applicant(branch=branch)
    with CaptureQueriesContext(connection) as queries:
        data = api.post("/api/v1/applications", body(customer), key="relay-1").json()
    assert data["state"] == "approved"
    assert not any("core_outboxevent" in q["sql"] and q["sql"].startswith("INSERT") for q in queries.captured_queries)
    event = OutboxEvent.objects.get(topic="lending.application_decided", payload__application_id=data["id"])
    assert event.status == "pending" and event.attempts == 0
    assert event.payload["application_no"] == data["application_no"] and event.payload["outcome"] == "approved"
    assert event.payload["approved_amount"] == data["approved_amount"] and event.payload["source"] == "automatic"
    referred = api.post("/api/v1/applications", body(applicant(branch=branch, verified=False)), key="relay-2").json()
    assert referred["state"] == "referred" and ReviewTask.objects.filter(application_id=referred["id"]).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_answer_to_replay_commits_with_the_application(api, products, branch, monkeypatch):
    """The apply stores its idempotent answer inside its own transaction: had the process died right after
    the commit (nothing stored after the view), the key still replays the answer — never "in progress"
    on an application that exists."""
    from rest_framework.views import APIView

    from jikuai.api.idempotency import IdempotentPostMixin
    from jikuai.api.models import IdempotencyRecord

    customer = applicant(branch=branch)
    monkeypatch.setattr(IdempotentPostMixin, "finalize_response", APIView.finalize_response)  # nothing after
    response = api.post("/api/v1/applications", body(customer), key="atomic-1")
    assert response.status_code == 201
    record = IdempotencyRecord.objects.get(key="atomic-1")
    assert record.status == IdempotencyRecord.Status.DONE and record.response_status == 201
    assert record.response_body == response.json()
    monkeypatch.undo()
    replay = api.post("/api/v1/applications", body(customer), key="atomic-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true" and replay.json() == response.json()
    assert LoanApplication.objects.filter(customer=customer).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failure_after_the_answer_is_stored_rolls_both_back_and_frees_the_key(api, products, branch, monkeypatch):
    from jikuai.api.models import IdempotencyRecord
    from lending.api.origination import ApplicationCreateView

    customer = applicant(branch=branch)
    store = ApplicationCreateView.store_response_in_transaction

    def store_then_fail(self, status_code, data):
        store(self, status_code, data)
        raise RuntimeError("the database went away after the answer was written")

    monkeypatch.setattr(ApplicationCreateView, "store_response_in_transaction", store_then_fail)
    api.client.raise_request_exception = False
    failed = api.post("/api/v1/applications", body(customer), key="atomic-2")
    assert failed.status_code == 500
    assert not LoanApplication.objects.filter(customer=customer).exists()  # the application rolled back
    assert not IdempotencyRecord.objects.filter(key="atomic-2").exists()  # and the key was released
    monkeypatch.undo()
    retried = api.post("/api/v1/applications", body(customer), key="atomic-2")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert LoanApplication.objects.filter(customer=customer).count() == 1
    assert IdempotencyRecord.objects.get(key="atomic-2").response_body == retried.json()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_claim_commits_without_a_disk_flush_and_leaves_the_session_durable(api, products, branch):
    """The in-flight claim is committed with synchronous_commit off for its own transaction only."""
    from jikuai.api.idempotency import _claim
    from jikuai.api.models import IdempotencyRecord

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's commit setting")
    record_id = _claim(api.integrator.pk, "claim-1", "POST", "/api/v1/applications", "0" * 64)
    assert IdempotencyRecord.objects.get(pk=record_id).status == IdempotencyRecord.Status.IN_FLIGHT
    assert _claim(api.integrator.pk, "claim-1", "POST", "/api/v1/applications", "0" * 64) is None  # taken
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # only the claim's own transaction ran without the flush
