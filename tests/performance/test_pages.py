"""Staff pages, the signed HR API and scoping: a branch manager sees only their branch; staff see their own."""

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from jikuai.core.masking import mask_name
from performance.models import Appeal, AttributionClaim, Indicator, PerformanceReport, Period, SubjectResult, Target
from performance.services import close, pay, targets
from tests.factories import SignedApi, make_client
from tests.performance.factories import close_appeal_window, disbursed, make_bank, make_customer, publish_event, simple_scheme

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank():
    bank = make_bank()
    ind = Indicator.objects.get(code="loan_disbursed_amount")
    today = timezone.localdate()
    for month in sorted({today.month, 9}):
        targets.target_set(
            institution=bank.institution,
            actor=bank.admin,
            indicator=ind,
            year=today.year if month == today.month else 2026,
            month=month,
            value=Decimal(100000),
            level=Target.Level.RANK,
            rank="junior",
        )
    return bank


@pytest.fixture
def published(bank, django_capture_on_commit_callbacks):
    for staff, loan_id, amount in ((bank.am1, 1, "90000.00"), (bank.am2, 2, "40000.00"), (bank.am3, 3, "70000.00")):
        customer = make_customer(institution=bank.institution, branch=staff.branch, account_manager=staff, name="欧阳小明")
        publish_event(
            "lending.loan_disbursed",
            disbursed(bank, loan_id=loan_id, customer=customer, amount=amount, day=dt.date(2026, 9, 5), manager=staff),
        )
    version = simple_scheme(bank, incentive={"method": "pool", "pool_amount": "1000.00", "risk_relevant": True})
    period = close.period_create(scheme=version.scheme, start=dt.date(2026, 9, 1), actor=bank.admin)
    close.period_confirm_data(period_id=period.pk, actor=bank.admin, comment="测试")
    with django_capture_on_commit_callbacks(execute=True):
        close.period_compute_start(period_id=period.pk, actor=bank.admin)
    close.period_publish(period_id=period.pk, actor=bank.admin)
    return Period.objects.get(pk=period.pk)


def login(client, staff):
    client.force_login(staff.user)
    return client


def test_pages_need_a_staff_login(client):
    response = client.get(reverse("performance:mine"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_my_performance_shows_progress_rank_chart_and_masked_customers(bank, client):
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1, name="欧阳小明")
    today = timezone.localdate()
    publish_event(
        "lending.loan_disbursed", disbursed(bank, loan_id=99, customer=customer, amount="60000.00", day=today, manager=bank.am1)
    )
    simple_scheme(bank)
    response = login(client, bank.am1).get(reverse("performance:mine"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "本月进度" in html and "<svg" in html
    progress = response.context["progress"]
    line = next(line for line in progress.lines if line.indicator.code == "loan_disbursed_amount")
    assert (line.actual, line.target, line.ratio, line.bar_percent) == (Decimal(60000), Decimal(100000), Decimal("0.6"), 40)
    # 60 × 0.6 = 36 renormalised over the 60 % that has a target: 60.00; am2 has 0 → am1 ranks 1 of 2 in "large"
    assert (progress.total, progress.peer_rank, progress.peer_size, progress.peer_group) == (Decimal("60.00"), 1, 2, "large")
    assert mask_name("欧阳小明") in html and "欧阳小明" not in html
    assert "#99" in html


def test_staff_result_appeal_via_page(bank, published, client, tmp_path, settings):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    result = SubjectResult.objects.get(period=published, staff=bank.am2)
    login(client, bank.am2)
    page = client.get(reverse("performance:result", args=[result.pk]))
    assert page.status_code == 200 and "提交申诉" in page.content.decode()
    line = result.lines.get(indicator__code="loan_disbursed_amount")
    response = client.post(
        reverse("performance:appeal-create", args=[result.pk]),
        {"line": line.pk, "reason": "漏计一笔", "evidence_text": "合同号 X1", "requested_actual": "60000"},
    )
    assert response.status_code == 302
    appeal = Appeal.objects.get()
    assert (appeal.staff_id, appeal.line_id, appeal.requested_actual) == (bank.am2.pk, line.pk, Decimal(60000))
    # someone else's result is not reachable for an account manager
    other = SubjectResult.objects.get(period=published, staff=bank.am1)
    assert client.get(reverse("performance:result", args=[other.pk])).status_code == 404
    assert client.post(reverse("performance:appeal-create", args=[other.pk]), {"reason": "x"}).status_code == 404
    # the manager decides on the appeals page
    client.logout()
    login(client, bank.manager_a)
    assert "漏计一笔" in client.get(reverse("performance:appeals")).content.decode()
    client.post(
        reverse("performance:appeal-decide", args=[appeal.pk]),
        {"decision": "accept", "note": "属实", "corrected_actual": "60000"},
    )
    assert Appeal.objects.get().state == Appeal.State.ACCEPTED
    assert SubjectResult.objects.get(pk=result.pk).total == Decimal("60.00")


def test_branch_manager_sees_only_their_branch(bank, published, client):
    login(client, bank.manager_a)
    response = client.get(reverse("performance:team"), {"period": published.pk})
    assert response.status_code == 200
    names = {row.staff_id for row in response.context["rows"]}
    assert names == {bank.am1.pk, bank.am2.pk}
    outside = SubjectResult.objects.get(period=published, staff=bank.am3)
    assert client.get(reverse("performance:result", args=[outside.pk])).status_code == 404
    inside = SubjectResult.objects.get(period=published, staff=bank.am1)
    page = client.get(reverse("performance:result", args=[inside.pk]))
    assert page.status_code == 200
    drill = client.get(reverse("performance:drilldown", args=[inside.pk, Indicator.objects.get(code="loan_disbursed_amount").pk]))
    assert drill.status_code == 200 and "贷款 #1" in drill.content.decode() and "欧阳小明" not in drill.content.decode()


def test_account_managers_have_no_team_page(bank, published, client):
    login(client, bank.am1)
    assert client.get(reverse("performance:team")).status_code == 403
    assert client.get(reverse("performance:appeals")).status_code == 403


def test_claim_via_pages(bank, client):
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)
    login(client, bank.am2)
    response = client.post(
        reverse("performance:claim-create"),
        {"customer": customer.pk, "my_share": "70", "partner": bank.am1.employee_no, "partner_share": "20", "reason": "共同营销"},
    )
    assert response.status_code == 302 and not AttributionClaim.objects.exists()  # 90 %: refused, nothing written
    client.post(
        reverse("performance:claim-create"),
        {"customer": customer.pk, "my_share": "70", "partner": bank.am1.employee_no, "partner_share": "30", "reason": "共同营销"},
    )
    claim = AttributionClaim.objects.get()
    client.logout()
    login(client, bank.manager_b)
    assert client.get(reverse("performance:claims")).context["pending"] == []
    client.post(reverse("performance:claim-decide", args=[claim.pk]), {"decision": "approve"})
    assert AttributionClaim.objects.get().state == AttributionClaim.State.PENDING
    client.logout()
    login(client, bank.manager_a)
    assert [c.pk for c in client.get(reverse("performance:claims")).context["pending"]] == [claim.pk]
    client.post(reverse("performance:claim-decide", args=[claim.pk]), {"decision": "approve", "note": "同意"})
    assert AttributionClaim.objects.get().state == AttributionClaim.State.APPROVED


def _finalise(period, bank, capture):
    close_appeal_window(period)
    close.period_close_appeals(period_id=period.pk, actor=bank.admin)
    with capture(execute=True):
        pay.period_finalise(period_id=period.pk, actor=bank.admin)


def test_report_download_own_and_scoped(bank, published, client, tmp_path, settings, django_capture_on_commit_callbacks):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    _finalise(published, bank, django_capture_on_commit_callbacks)
    mine = PerformanceReport.objects.get(period=published, staff=bank.am3)
    login(client, bank.am3)
    response = client.get(reverse("performance:report-download", args=[mine.pk]))
    assert (
        response.status_code == 200
        and response["Content-Type"] == "application/pdf"
        and response["X-Content-SHA256"] == mine.sha256
    )
    theirs = PerformanceReport.objects.get(period=published, staff=bank.am1)
    assert client.get(reverse("performance:report-download", args=[theirs.pk])).status_code == 404
    client.logout()
    login(client, bank.manager_a)
    assert client.get(reverse("performance:report-download", args=[theirs.pk])).status_code == 200
    assert client.get(reverse("performance:report-download", args=[mine.pk])).status_code == 404


def test_api_scores_and_ranks_for_payroll(bank, published, client, django_capture_on_commit_callbacks, tmp_path, settings):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    _finalise(published, bank, django_capture_on_commit_callbacks)
    api = SignedApi(client, make_client(institution=bank.institution, scopes=["performance:read"]))
    periods = api.get("/api/v1/performance/periods")
    assert periods.status_code == 200
    assert [p["id"] for p in periods.json()["results"]] == [published.pk]
    response = api.get(f"/api/v1/performance/periods/{published.pk}/results")
    assert response.status_code == 200
    body = response.json()
    rows = {row["employee_no"]: row for row in body["results"]}
    am1 = rows[bank.am1.employee_no]
    assert am1["total"] == "90.00" and am1["peer_rank"] == 1 and am1["final_grade"] == "A"
    assert am1["incentive"]["gross"] and Decimal(am1["incentive"]["deferred"]) > 0 and len(am1["incentive"]["installments"]) == 3
    assert {line["indicator"] for line in am1["lines"]} == {"loan_disbursed_amount", "new_credit_customers"}
    assert body["period"]["scheme_code"] == "AM"


def test_api_needs_scope_and_hides_other_institutions(bank, published, client):
    no_scope = SignedApi(client, make_client(institution=bank.institution, scopes=["customers:read"]))
    assert no_scope.get("/api/v1/performance/periods").status_code == 403
    other = SignedApi(client, make_client(institution=make_bank("OTHR").institution, scopes=["performance:read"]))
    response = other.get(f"/api/v1/performance/periods/{published.pk}/results")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert other.get("/api/v1/performance/periods").json()["results"] == []


def test_api_query_count_does_not_grow_with_rows(bank, published, client):
    api = SignedApi(client, make_client(institution=bank.institution, scopes=["performance:read"]))
    path = f"/api/v1/performance/periods/{published.pk}/results"
    api.get(path, "page_size=1")  # the client and the business date are read once, then remembered
    with CaptureQueriesContext(connection) as few:
        api.get(path, "page_size=1")
    with CaptureQueriesContext(connection) as many:
        api.get(path, "page_size=50")
    assert len(few) == len(many)


def test_admin_pages_load_and_scope(bank, published, client):
    login(client, bank.admin)
    for name in (
        "performance_indicator",
        "performance_formula",
        "performance_scheme",
        "performance_schemeversion",
        "performance_target",
        "performance_period",
        "performance_subjectresult",
        "performance_fact",
        "performance_appeal",
        "performance_attributionclaim",
        "performance_incentiveaward",
    ):
        response = client.get(reverse(f"admin:{name}_changelist"))
        assert response.status_code == 200, name
    dashboard = client.get(reverse("admin:performance_dashboard"))
    assert dashboard.status_code == 200 and "<svg" in dashboard.content.decode()
    whatif = client.post(
        reverse("admin:performance_formula_whatif"),
        {"kind": "F9", "parameters": '{"variant": "ratio", "cap": "1.2"}', "actual": "2.5", "target": "2", "weight": "20"},
    )
    assert whatif.status_code == 200 and whatif.context["result"].score == Decimal(16)
    missing = client.post(
        reverse("admin:performance_formula_whatif"),
        {"kind": "F1", "parameters": "{}", "actual": "1", "target": "1", "weight": "1"},
    )
    assert "缺少必填参数 cap" in missing.content.decode()
    client.logout()
    login(client, bank.manager_b)
    response = client.get(reverse("admin:performance_subjectresult_changelist"))
    assert response.status_code == 200
    shown = set(re.findall(r"performance/subjectresult/(\d+)/change", response.content.decode()))
    assert shown == {str(SubjectResult.objects.get(period=published, staff=bank.am3).pk)}


def test_admin_refuses_weights_not_summing_to_100(bank, client):
    version = simple_scheme(bank)
    from performance.services import library

    draft = library.scheme_version_clone(version_id=version.pk, actor=bank.admin)
    items = list(draft.items.order_by("order"))
    login(client, bank.admin)
    url = reverse("admin:performance_schemeversion_change", args=[draft.pk])
    data = {
        "scheme": draft.scheme_id,
        "number": draft.number,
        "effective_from": "2026-01-01",
        "renormalise_missing_targets": "on",
        "grading": '{"thresholds": [{"grade": "A", "min": "90"}, {"grade": "D", "min": "0"}]}',
        "incentive": '{"method": "none"}',
        "notes": "",
        "items-TOTAL_FORMS": "2",
        "items-INITIAL_FORMS": "2",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
    }
    for n, item in enumerate(items):
        data.update(
            {
                f"items-{n}-id": item.pk,
                f"items-{n}-version": draft.pk,
                f"items-{n}-order": n,
                f"items-{n}-indicator": item.indicator_id,
                f"items-{n}-kind": "weighted",
                f"items-{n}-weight": "50" if n == 0 else "40",
                f"items-{n}-formula": item.formula_id,
                f"items-{n}-parameters": "{}",
            }
        )
    response = client.post(url, data)
    assert response.status_code == 200 and "权重合计必须为 100" in response.content.decode()
    assert sorted(draft.items.values_list("weight", flat=True)) == sorted(i.weight for i in items)
    data["items-1-weight"] = "50"
    response = client.post(url, data)
    assert response.status_code == 302
    assert sorted(draft.items.values_list("weight", flat=True)) == [Decimal(50), Decimal(50)]


def test_admin_target_import_reports_rows(bank, client):
    book = Workbook()
    sheet = book.active
    sheet.append(["工号", "指标代码", "年", "月", "目标值"])
    sheet.append(["NOBODY", "loan_disbursed_amount", 2026, 9, 1])
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    buffer.name = "t.xlsx"
    login(client, bank.admin)
    before = Target.objects.count()
    response = client.post(reverse("admin:performance_target_import"), {"institution": bank.institution.pk, "file": buffer})
    assert response.status_code == 200 and "NOBODY" in response.content.decode() and "第 2 行" in response.content.decode()
    assert Target.objects.count() == before
