"""Four-eyes review, immutability of submitted/published versions, publishing switches the champion."""

import pytest
from django.db import IntegrityError, connection, transaction
from django_fsm_log.models import StateLog

from jikuai.core.exceptions import ApplicationError, Conflict
from riskrules.models import Deployment, ImmutableRecordError, RuleTestCase, RuleVersion
from riskrules.services import versions as svc
from tests.riskrules.factories import AGE_TESTS, age_graph, make_ruleset, officers

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft():
    maker, checker = officers()
    rule_set = make_ruleset()
    version = svc.version_create(rule_set=rule_set, content=age_graph(), author=maker, test_cases=AGE_TESTS)
    return version, maker, checker


def _published(draft):
    version, maker, checker = draft
    svc.version_submit(version_id=version.pk, actor=maker)
    svc.version_approve(version_id=version.pk, actor=checker)
    return svc.version_publish(version_id=version.pk, actor=checker)


def test_full_workflow_with_a_second_officer(draft):
    version, maker, checker = draft
    svc.version_submit(version_id=version.pk, actor=maker, comment="请复核")
    approved = svc.version_approve(version_id=version.pk, actor=checker, comment="同意")
    assert approved.status == RuleVersion.Status.APPROVED and approved.approver == checker
    published = svc.version_publish(version_id=version.pk, actor=checker)
    assert published.status == RuleVersion.Status.PUBLISHED
    deployment = Deployment.objects.get(rule_set=version.rule_set, channel="default")
    assert deployment.champion_id == version.pk
    logs = list(StateLog.objects.for_(published).order_by("id").values_list("transition", "by_id"))
    assert logs == [("submit", maker.user_id), ("approve", checker.user_id), ("publish", checker.user_id)]


def test_self_approval_is_refused_and_nothing_changes(draft):
    version, maker, _checker = draft
    svc.version_submit(version_id=version.pk, actor=maker)
    with pytest.raises(svc.FourEyesError) as info:
        svc.version_approve(version_id=version.pk, actor=maker)
    assert "起草人" in info.value.message_zh
    version.refresh_from_db()
    assert version.status == RuleVersion.Status.IN_REVIEW and version.approver_id is None


def test_database_refuses_approver_equal_to_author(draft):
    version, maker, _checker = draft
    with pytest.raises(IntegrityError), transaction.atomic():
        RuleVersion.objects.filter(pk=version.pk).update(approver=maker)


def test_failing_test_case_blocks_submission(draft):
    version, maker, _checker = draft
    cases = [*AGE_TESTS, {"name": "错误期望", "inputs": {"age": 30}, "expected": {"outcome": "reject"}}]
    svc.version_update(version_id=version.pk, actor=maker, test_cases=cases)
    with pytest.raises(ApplicationError) as info:
        svc.version_submit(version_id=version.pk, actor=maker)
    assert info.value.code == "test_cases_failed" and "错误期望" in info.value.message_zh
    version.refresh_from_db()
    assert version.status == RuleVersion.Status.DRAFT


def test_version_without_test_cases_cannot_be_submitted():
    maker, _ = officers()
    version = svc.version_create(rule_set=make_ruleset(), content=age_graph(), author=maker, test_cases=[])
    with pytest.raises(ApplicationError) as info:
        svc.version_submit(version_id=version.pk, actor=maker)
    assert info.value.code == "no_test_cases"


def test_published_version_cannot_be_edited_by_the_service(draft):
    version = _published(draft)
    maker = draft[1]
    content = age_graph()
    content["nodes"][1]["content"]["rules"][0]["in_age"] = "< 20"
    with pytest.raises(svc.ImmutableVersionError):
        svc.version_update(version_id=version.pk, actor=maker, content=content)
    with pytest.raises(svc.ImmutableVersionError):
        svc.version_update_table(version_id=version.pk, node_id="age_table", rows=[], actor=maker)
    version.refresh_from_db()
    assert version.content["nodes"][1]["content"]["rules"][0]["in_age"] == "< 18"


def test_published_version_cannot_be_changed_through_the_model(draft):
    version = _published(draft)
    version = RuleVersion.objects.get(pk=version.pk)
    version.content["nodes"][1]["content"]["rules"][0]["in_age"] = "< 21"
    with pytest.raises(ImmutableRecordError):
        version.save()
    with pytest.raises(ImmutableRecordError):
        version.delete()
    case = RuleTestCase.objects.filter(version=version).first()
    case.name = "changed"
    with pytest.raises(ImmutableRecordError):
        case.save()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database trigger exists on PostgreSQL only")
def test_database_trigger_refuses_raw_updates_of_published_content(draft):
    version = _published(draft)
    with pytest.raises(Exception) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE riskrules_ruleversion SET content = '{}'::jsonb WHERE id = %s", [version.pk])
    assert "immutable" in str(info.value)
    with pytest.raises(Exception), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM riskrules_ruletestcase WHERE version_id = %s", [version.pk])
    assert RuleTestCase.objects.filter(version=version).count() == 2


def test_changes_go_into_a_new_version_and_publishing_retires_the_old_champion(draft):
    first = _published(draft)
    _version, maker, checker = draft
    second = svc.version_copy(version_id=first.pk, author=maker, change_note="提高年龄下限")
    assert second.parent_id == first.pk and second.status == RuleVersion.Status.DRAFT and second.number == first.number + 1
    svc.version_update_table(
        version_id=second.pk,
        node_id="age_table",
        rows=[
            {
                "_id": "r1",
                "_description": "未满20岁",
                "in_age": "< 20",
                "out_outcome": "'reject'",
                "out_reason": "'AGE_BELOW_MIN'",
            },
            {"_id": "r2", "in_age": ">= 20", "out_outcome": "'approve'", "out_reason": ""},
            {"_id": "r3", "in_age": "", "out_outcome": "'refer'", "out_reason": "'SC_UNBANDED'"},
        ],
        actor=maker,
    )
    second.refresh_from_db()
    assert second.content_hash != first.content_hash
    svc.version_submit(version_id=second.pk, actor=maker)
    svc.version_approve(version_id=second.pk, actor=checker)
    svc.version_publish(version_id=second.pk, actor=checker)
    first.refresh_from_db()
    assert first.status == RuleVersion.Status.RETIRED
    assert Deployment.objects.get(rule_set=first.rule_set).champion_id == second.pk


def test_champion_cannot_be_retired_directly(draft):
    version = _published(draft)
    with pytest.raises(Conflict):
        svc.version_retire(version_id=version.pk, actor=draft[2])


def test_approve_requires_review_state(draft):
    version, _maker, checker = draft
    with pytest.raises(Conflict):
        svc.version_approve(version_id=version.pk, actor=checker)
    version.refresh_from_db()
    assert version.status == RuleVersion.Status.DRAFT


def test_diff_shows_changed_rows():
    from riskrules.diff import diff_versions

    old = age_graph()
    new = age_graph()
    new["nodes"][1]["content"]["rules"][0]["in_age"] = "< 20"
    new["nodes"][1]["content"]["rules"].insert(
        2, {"_id": "r9", "in_age": "> 90", "out_outcome": "'refer'", "out_reason": "'SC_UNBANDED'"}
    )
    result = diff_versions(old, new)
    table = result["tables"][0]
    assert table["rows_changed"][0]["row"] == "r1"
    assert table["rows_changed"][0]["changes"][0]["old"] == "< 18" and table["rows_changed"][0]["changes"][0]["new"] == "< 20"
    assert [r["row"] for r in table["rows_added"]] == ["r9"]
    assert diff_versions(old, age_graph())["identical"]


def test_institution_staff_cannot_change_province_rules_but_can_change_their_own():
    from jikuai.core.exceptions import PermissionDeniedError
    from tests.factories import InstitutionFactory

    institution = InstitutionFactory()
    maker, checker = officers(institution)
    province_set = make_ruleset("t_province")
    with pytest.raises(PermissionDeniedError):
        svc.version_create(rule_set=province_set, content=age_graph(), author=maker, test_cases=AGE_TESTS)
    assert not RuleVersion.objects.filter(rule_set=province_set).exists()
    own = make_ruleset("t_province", institution=institution)
    version = svc.version_create(rule_set=own, content=age_graph(), author=maker, test_cases=AGE_TESTS)
    svc.version_submit(version_id=version.pk, actor=maker)
    outsider, _ = officers(InstitutionFactory())
    with pytest.raises(PermissionDeniedError):
        svc.version_approve(version_id=version.pk, actor=outsider)
    assert svc.version_approve(version_id=version.pk, actor=checker).status == RuleVersion.Status.APPROVED
