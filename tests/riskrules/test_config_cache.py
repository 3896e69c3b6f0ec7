"""The per-process memo of the rule configuration (catalogue, reason texts, deployments): repeat
decisions read none of it from the database; a committed change anywhere (a new generation in the
shared cache) is seen by the next decision; an uncommitted or rolled-back change is never remembered."""

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from riskrules import config_cache, facade
from riskrules.facade import Subject
from riskrules.models import Deployment
from riskrules.services import decisions
from tests.riskrules.factories import farmer_customer, jnkd_inputs

pytestmark = pytest.mark.django_db

CONFIG_TABLES = ("riskrules_variable", "riskrules_deployment", "riskrules_reasoncode", "riskrules_ruleset")


def _config_reads(queries) -> list[str]:
    return [q["sql"] for q in queries if any(f'FROM "{table}"' in q["sql"] for table in CONFIG_TABLES)]


def _percent() -> int:
    return decisions._deployments("jnkd_credit", "default", {None})[None].challenger_percent


def test_repeat_decisions_read_no_configuration():
    customer = farmer_customer()
    decisions.clear_caches()  # creating the customer's institution (a watched model) bypasses the memo until it commits
    subject = Subject("application", "MEMO-1", customer_id=customer.pk)
    with CaptureQueriesContext(connection) as first:
        facade.decide("jnkd_credit", subject, jnkd_inputs())
    assert _config_reads(first.captured_queries)  # a cold process reads the configuration once
    with CaptureQueriesContext(connection) as second:
        again = facade.decide("jnkd_credit", Subject("application", "MEMO-2", customer_id=customer.pk), jnkd_inputs())
    assert _config_reads(second.captured_queries) == []
    assert again.outcome in ("approve", "reject", "refer") and again.decision_id


def test_a_change_committed_by_another_process_is_seen_through_the_generation():
    assert _percent() == 0
    # another worker changes the deployment (no signal reaches this process) …
    Deployment.objects.filter(rule_set__code="jnkd_credit", channel="default").update(challenger_percent=37)
    assert _percent() == 0  # … this process still serves its memo …
    cache.set(config_cache.GENERATION_KEY, "generation-written-by-another-worker", None)  # … until it commits
    assert _percent() == 37


def test_an_uncommitted_change_bypasses_the_memo_and_a_rollback_is_not_remembered():
    assert _percent() == 0
    deployment = Deployment.objects.get(rule_set__code="jnkd_credit", channel="default")
    with pytest.raises(RuntimeError), transaction.atomic():
        deployment.challenger_percent = 25
        deployment.save()
        assert _percent() == 25  # this transaction sees its own change, read from the database
        raise RuntimeError("roll back")
    assert _percent() == 0  # the rolled-back value was never remembered


def test_a_committed_change_renews_the_generation_and_is_then_remembered(django_capture_on_commit_callbacks):
    assert _percent() == 0
    before = cache.get(config_cache.GENERATION_KEY)
    deployment = Deployment.objects.get(rule_set__code="jnkd_credit", channel="default")
    with django_capture_on_commit_callbacks(execute=True):
        deployment.challenger_percent = 10
        deployment.save()
    assert cache.get(config_cache.GENERATION_KEY) != before
    assert _percent() == 10
    with CaptureQueriesContext(connection) as queries:
        assert _percent() == 10
    assert _config_reads(queries.captured_queries) == []


def test_reason_texts_follow_the_generation():
    from riskrules.models import ReasonCode

    code = ReasonCode.objects.order_by("code").first()
    assert decisions.reason_texts()[code.code] == code.text_zh
    ReasonCode.objects.filter(pk=code.pk).update(text_zh="新的说明")  # no signal: another process
    assert decisions.reason_texts()[code.code] == code.text_zh
    cache.set(config_cache.GENERATION_KEY, "another", None)
    assert decisions.reason_texts()[code.code] == "新的说明"
