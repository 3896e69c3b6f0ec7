"""Back office: pages render for the right roles, table rows edited as forms under guard-rails, Excel
round trip, workflow through confirm pages, list import preview, simulation report, query counts."""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from jikuai.org import roles
from riskrules import facade
from riskrules.facade import Subject
from riskrules.models import DecisionRecord, Deployment, ListEntry, ListImport, RuleVersion, Simulation
from riskrules.services import versions as svc
from tests.factories import InstitutionFactory, make_staff
from tests.riskrules.factories import AGE_TESTS, age_graph, make_ruleset, officers

pytestmark = pytest.mark.django_db


@pytest.fixture
def province(client):
    staff = make_staff(role=roles.PROVINCE_ADMIN, name="省联社")
    client.force_login(staff.user)
    return staff


@pytest.fixture
def draft():
    maker, checker = officers()
    version = svc.version_create(rule_set=make_ruleset("t_admin"), content=age_graph(), author=maker, test_cases=AGE_TESTS)
    return version, maker, checker


def _champion(code):
    return Deployment.objects.get(rule_set__code=code, rule_set__institution__isnull=True, channel="default").champion


@pytest.mark.parametrize(
    "model",
    [
        "variable",
        "reasoncode",
        "ruleset",
        "ruleversion",
        "deployment",
        "decisionrecord",
        "listentry",
        "listimport",
        "simulation",
        "rulehitdaily",
        "lprrate",
    ],
)
def test_changelists_render(client, province, model):
    assert client.get(reverse(f"admin:riskrules_{model}_changelist")).status_code == 200


def test_version_pages_render(client, province):
    version = _champion("jnkd_credit")
    rating = _champion("jnkd_rating")
    for url in [
        reverse("admin:riskrules_ruleversion_change", args=[version.pk]),
        reverse("admin:riskrules_ruleversion_edit_tables", args=[rating.pk]),
        reverse("admin:riskrules_ruleversion_table", args=[rating.pk, "sc_age"]),
        reverse("admin:riskrules_ruleversion_run_tests", args=[rating.pk]),
        reverse("admin:riskrules_ruleversion_diff_version", args=[rating.pk]),
        reverse("admin:riskrules_ruleversion_submit_version", args=[rating.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
    report = client.get(reverse("admin:riskrules_ruleversion_run_tests", args=[rating.pk]))
    assert "通过 5 / 5" in report.content.decode()


def _formset_post(version, node_id, rows):
    data = {
        "rows-TOTAL_FORMS": str(len(rows)),
        "rows-INITIAL_FORMS": str(len(rows)),
        "rows-MIN_NUM_FORMS": "0",
        "rows-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data[f"rows-{index}-_id"] = row["_id"]
        data[f"rows-{index}-_description"] = row.get("_description", "")
        data[f"rows-{index}-c_in_age"] = row["in_age"]
        data[f"rows-{index}-c_out_outcome"] = row["out_outcome"]
        data[f"rows-{index}-c_out_reason"] = row["out_reason"]
        data[f"rows-{index}-ORDER"] = str(index + 1)
    return data


def test_table_rows_are_edited_as_forms_under_guard_rails(client, province, draft):
    version = draft[0]
    url = reverse("admin:riskrules_ruleversion_table", args=[version.pk, "age_table"])
    rows = version.content["nodes"][1]["content"]["rules"]
    bad = [dict(r) for r in rows[:-1]]  # the catch-all row removed
    response = client.post(url, _formset_post(version, "age_table", bad))
    assert response.status_code == 200 and "兜底" in response.content.decode()
    version.refresh_from_db()
    assert len(version.content["nodes"][1]["content"]["rules"]) == 3
    good = [dict(r) for r in rows]
    good[0]["in_age"] = "< 20"
    response = client.post(url, _formset_post(version, "age_table", good))
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.content["nodes"][1]["content"]["rules"][0]["in_age"] == "< 20"


def test_excel_export_and_import_round_trip(client, province, draft):
    version = draft[0]
    export = client.get(reverse("admin:riskrules_ruleversion_table_export", args=[version.pk, "age_table"]))
    assert export.status_code == 200
    workbook = load_workbook(io.BytesIO(export.content))
    sheet = workbook.active
    assert [c.value for c in sheet[1]] == ["_id", "_description", "in_age", "out_outcome", "out_reason"]
    sheet.cell(row=3, column=3, value="< 21")
    out = io.BytesIO()
    workbook.save(out)
    out.seek(0)
    out.name = "t.xlsx"
    response = client.post(reverse("admin:riskrules_ruleversion_table", args=[version.pk, "age_table"]), {"xlsx": out})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.content["nodes"][1]["content"]["rules"][0]["in_age"] == "< 21"
    # a sheet with a broken cell is refused and nothing changes
    sheet.cell(row=3, column=3, value="< < 21")
    broken = io.BytesIO()
    workbook.save(broken)
    broken.seek(0)
    broken.name = "t.xlsx"
    response = client.post(reverse("admin:riskrules_ruleversion_table", args=[version.pk, "age_table"]), {"xlsx": broken})
    assert response.status_code == 200 and "未保存" in response.content.decode()
    version.refresh_from_db()
    assert version.content["nodes"][1]["content"]["rules"][0]["in_age"] == "< 21"


def test_workflow_through_confirm_pages_with_two_officers(client, draft):
    version, maker, checker = draft
    from django.contrib.auth.models import Group

    for staff in (maker, checker):
        staff.user.groups.add(Group.objects.get(name=roles.PROVINCE_ADMIN))
    client.force_login(maker.user)
    client.post(reverse("admin:riskrules_ruleversion_submit_version", args=[version.pk]), {"comment": "请复核"})
    client.post(reverse("admin:riskrules_ruleversion_approve_version", args=[version.pk]), {"comment": "自己批"})
    version.refresh_from_db()
    assert version.status == RuleVersion.Status.IN_REVIEW
    client.force_login(checker.user)
    client.post(reverse("admin:riskrules_ruleversion_approve_version", args=[version.pk]), {"comment": "同意"})
    client.post(reverse("admin:riskrules_ruleversion_publish_version", args=[version.pk]), {})
    version.refresh_from_db()
    assert version.status == RuleVersion.Status.PUBLISHED and version.approver == checker


def test_institution_officer_reads_province_rules_but_cannot_change_them(client):
    institution = InstitutionFactory()
    officer = make_staff(role=roles.RISK_OFFICER, institution=institution)
    client.force_login(officer.user)
    version = _champion("gxd_limit")
    page = client.get(reverse("admin:riskrules_ruleversion_change", args=[version.pk]))
    assert page.status_code == 200
    response = client.post(reverse("admin:riskrules_ruleversion_copy_version", args=[version.pk]), {})
    assert response.status_code == 403
    assert client.get(reverse("admin:riskrules_ruleset_changelist")).status_code == 200


def test_credit_reviewer_sees_only_own_institution_decisions(client):
    institution = InstitutionFactory()
    reviewer = make_staff(role=roles.CREDIT_REVIEWER, institution=institution)
    own = facade.decide(
        "gxd_limit", Subject("application", "MINE", institution_id=institution.pk), {"grade": "A", "monthly_income_fen": 1}
    )
    other = facade.decide("gxd_limit", Subject("application", "THEIRS", institution_id=InstitutionFactory().pk), {"grade": "A"})
    client.force_login(reviewer.user)
    page = client.get(reverse("admin:riskrules_decisionrecord_change", args=[own.decision_id]))
    assert page.status_code == 200 and "命中行" in page.content.decode()
    assert client.get(reverse("admin:riskrules_decisionrecord_change", args=[other.decision_id])).status_code in (302, 404)
    assert client.get(reverse("admin:riskrules_ruleversion_changelist")).status_code == 403


def test_decision_changelist_query_count_is_flat(client, province):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("admin:riskrules_decisionrecord_changelist")).status_code == 200
        return len(queries)

    facade.decide("gxd_limit", Subject("application", "QC-0"), {"grade": "A", "monthly_income_fen": 1})
    one = count()
    for n in range(1, 15):
        facade.decide("gxd_limit", Subject("application", f"QC-{n}"), {"grade": "B", "monthly_income_fen": 1})
    assert count() == one


def test_list_import_through_the_admin(client):
    maker, _checker = officers()
    from django.contrib.auth.models import Group

    maker.user.groups.add(Group.objects.get(name=roles.PROVINCE_ADMIN))
    client.force_login(maker.user)
    data = b"list_kind,key_type,key_value,reason_code,source,valid_from\nblack,mobile,13700137000,LIST_MANUAL,manual,2025-01-01\nblack,mobile,123,LIST_MANUAL,manual,2025-01-01\n"
    upload = io.BytesIO(data)
    upload.name = "list.csv"
    response = client.post(reverse("admin:riskrules_listentry_import_entries"), {"file": upload})
    batch = ListImport.objects.latest("id")
    assert response.status_code == 302 and len(batch.accepted) == 1 and len(batch.rejected) == 1
    page = client.get(reverse("admin:riskrules_listimport_change", args=[batch.pk])).content.decode()
    assert "13700137000" not in page and "137****7000" in page
    assert client.get(reverse("admin:riskrules_listimport_change", args=[batch.pk]) + "?report=csv").status_code == 200
    client.post(reverse("admin:riskrules_listimport_change", args=[batch.pk]), {"commit": "1"})
    assert ListEntry.objects.filter(import_batch=batch, status="pending").count() == 1


def test_simulation_from_the_admin(client, province, django_capture_on_commit_callbacks):
    facade.decide(
        "ydd_limit", Subject("application", "AS-1"), {"grade": "A", "monthly_income_fen": 500_000, "decision_date": "2025-06-30"}
    )
    candidate = _champion("ydd_limit")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:riskrules_simulation_add"),
            {"name": "同版本", "candidate": candidate.pk, "date_from": "2025-06-30", "date_to": "2025-06-30"},
        )
    assert response.status_code == 302
    simulation = Simulation.objects.latest("id")
    assert simulation.status == Simulation.Status.SUCCEEDED and simulation.report["population"] >= 1
    page = client.get(reverse("admin:riskrules_simulation_change", args=[simulation.pk]))
    assert page.status_code == 200 and "换入换出" in page.content.decode()
    assert client.get(reverse("admin:riskrules_simulation_change", args=[simulation.pk]) + "?download=csv").status_code == 200


def test_replay_action(client, province):
    decision = facade.decide("gxd_limit", Subject("application", "RP"), {"grade": "C", "monthly_income_fen": 400_000})
    response = client.get(reverse("admin:riskrules_decisionrecord_replay", args=[decision.decision_id]), follow=True)
    assert "一致" in response.content.decode()
    assert DecisionRecord.objects.filter(subject_id="RP").count() == 1


def test_field_page_shows_a_decision_to_staff_of_the_institution(client):
    institution = InstitutionFactory()
    reviewer = make_staff(role=roles.CREDIT_REVIEWER, institution=institution)
    own = facade.decide(
        "gxd_limit", Subject("application", "FIELD", institution_id=institution.pk), {"grade": "E", "monthly_income_fen": 1}
    )
    other = facade.decide("gxd_limit", Subject("application", "FIELD2", institution_id=InstitutionFactory().pk), {"grade": "E"})
    assert client.get(reverse("riskrules:decision", args=[own.decision_id])).status_code == 302  # login first
    client.force_login(reviewer.user)
    page = client.get(reverse("riskrules:decision", args=[own.decision_id]))
    assert page.status_code == 200 and "评级为E级，不予授信" in page.content.decode()
    assert client.get(reverse("riskrules:decision", args=[other.decision_id])).status_code == 404
    manager = make_staff(role=roles.ACCOUNT_MANAGER, institution=institution)
    client.force_login(manager.user)
    assert client.get(reverse("riskrules:decision", args=[own.decision_id])).status_code == 403


def test_draft_json_is_edited_under_guard_rails(client, province, draft):
    import json

    version = draft[0]
    url = reverse("admin:riskrules_ruleversion_change", args=[version.pk])
    assert client.get(url).status_code == 200
    content = age_graph()
    content["nodes"][1]["content"]["rules"].pop()  # no catch-all
    response = client.post(url, {"change_note": "x", "content": json.dumps(content), "test_cases_json": json.dumps(AGE_TESTS)})
    assert response.status_code == 200 and "兜底" in response.content.decode()
    version.refresh_from_db()
    assert len(version.content["nodes"][1]["content"]["rules"]) == 3
    content = age_graph()
    content["nodes"][1]["content"]["rules"][0]["in_age"] = "< 19"
    response = client.post(url, {"change_note": "19岁", "content": json.dumps(content), "test_cases_json": json.dumps(AGE_TESTS)})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.content["nodes"][1]["content"]["rules"][0]["in_age"] == "< 19" and version.change_note == "19岁"


def test_new_version_through_the_admin(client, province):
    import json

    rule_set = make_ruleset("t_admin_add")
    response = client.post(
        reverse("admin:riskrules_ruleversion_add"),
        {
            "rule_set": rule_set.pk,
            "change_note": "新建",
            "content": json.dumps(age_graph()),
            "test_cases_json": json.dumps(AGE_TESTS),
        },
    )
    assert response.status_code == 302
    version = RuleVersion.objects.get(rule_set=rule_set)
    assert version.author == province and version.test_cases.count() == 2
    bad = age_graph()
    bad["nodes"].append({"id": "js", "type": "functionNode", "name": "js", "content": {"source": "x"}})
    response = client.post(
        reverse("admin:riskrules_ruleversion_add"),
        {"rule_set": rule_set.pk, "change_note": "坏", "content": json.dumps(bad), "test_cases_json": "[]"},
    )
    assert response.status_code == 200 and "JavaScript" in response.content.decode()
    assert RuleVersion.objects.filter(rule_set=rule_set).count() == 1
