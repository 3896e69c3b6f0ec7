"""The period close end to end: confirm → compute (job) → publish → appeal → accept (recompute only what it
touches) → calibration → finalise with pool incentive, deferral and clawback → PDF reports; and every refusal
(appeal after the window, a manager deciding their own appeal, editing a published period) changes nothing.

Worked example (September 2026, every account manager is junior: targets loans 100,000, new credit customers 2;
scheme loans 60 % F1 cap 1.2, new credit customers 40 % F1 cap 1.2):
  am1 (branch A, large): loans 120,000 → r 1.2 → 72; new 2 → 40 → total 112.00
  am2 (branch A, large): loans  50,000 → r 0.5 → 30; new 1 → 20 → total  50.00
  am3 (branch B, small): loans 100,000 → r 1.0 → 60; new 0 →  0 → total  60.00
Peer ranks: large am1 1, am2 2; small am3 1. Overall: am1 1, am3 2, am2 3.
am2 appeals the loans line (a 30,000 loan was theirs); accepted with actual 80,000 → r 0.8 → 48 + 20 = 68.00;
overall ranks become am1 1, am2 2, am3 3; am1 and am3 are not recomputed.
Grades A ≥ 90, B ≥ 75, C ≥ 60: am1 A, am2 C, am3 C. Pool 10,000.00 per peer group, points = total × (A 1.2, C 0.8):
  large: am1 134.4, am2 54.4 (Σ 188.8) → am1 round(10,000 × 134.4/188.8) = 7,118.64, am2 2,881.36; small: am3 10,000.00.
Deferral 40 % over 3 years: am1 deferred round(2,847.456) = 2,847.46 in 949.15 / 949.16 / 949.15, immediate 4,271.18;
am3 4,000.00 in 1,333.33 / 1,333.34 / 1,333.33, immediate 6,000.00.
Loan 1 (80,000, am1) turns substandard: clawback 1 % × 80,000 = 800.00, taken from am1's last installment (949.15 → 149.15 payable).
"""

import datetime as dt
import shutil
import subprocess
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jikuai.core.exceptions import ApplicationError, PermissionDeniedError
from jikuai.core.models import JobRun, OutboxEvent
from jikuai.core.workdays import business_date_set
from performance.catalogue import GRADES
from performance.models import (
    Appeal,
    AttributionClaim,
    ClawbackEntry,
    DeferralInstallment,
    IncentiveAward,
    Indicator,
    ManualEntry,
    PerformanceReport,
    Period,
    Position,
    ScoreLine,
    SubjectResult,
    Target,
)
from performance.services import appeals, attribution, close, pay, reports, targets
from tests.performance.factories import (
    W,
    assign,
    close_appeal_window,
    disbursed,
    make_bank,
    make_customer,
    publish_event,
    simple_scheme,
)

pytestmark = pytest.mark.django_db

SEPT = dt.date(2026, 9, 1)
POOL = {
    "method": "pool",
    "pool_amount": "10000.00",
    "pool_scope": "peer_group",
    "grade_coefficients": {"A": "1.2", "B": "1.0", "C": "0.8", "D": "0"},
    "risk_relevant": True,
    "deferral_ratio": "0.40",
    "deferral_years": 3,
    "clawback_rate": "0.01",
}


def setup_targets(bank, *, month=9):
    ind = {i.code: i for i in Indicator.objects.all()}
    targets.targets_set(
        institution=bank.institution,
        actor=bank.admin,
        specs=[
            targets.TargetSpec(
                indicator=ind["loan_disbursed_amount"],
                year=2026,
                month=month,
                value=Decimal(100000),
                level=Target.Level.RANK,
                rank="junior",
            ),
            targets.TargetSpec(
                indicator=ind["new_credit_customers"],
                year=2026,
                month=month,
                value=Decimal(2),
                level=Target.Level.RANK,
                rank="junior",
            ),
        ],
    )


def loan(bank, staff, loan_id, amount, *, first=True, day=dt.date(2026, 9, 12)):
    customer = make_customer(institution=bank.institution, branch=staff.branch, account_manager=staff)
    publish_event(
        "lending.loan_disbursed",
        disbursed(bank, loan_id=loan_id, customer=customer, amount=amount, day=day, manager=staff, first=first),
    )
    return customer


def computed_period(bank, capture, *, scheme_version=None, start=SEPT):
    version = scheme_version or simple_scheme(bank, incentive=POOL)
    period = close.period_create(scheme=version.scheme, start=start, actor=bank.admin)
    close.period_confirm_data(period_id=period.pk, actor=bank.admin, comment="测试提前确认")
    with capture(execute=True):
        close.period_compute_start(period_id=period.pk, actor=bank.admin)
    period.refresh_from_db()
    return period


@pytest.fixture
def bank():
    return make_bank()


@pytest.fixture
def september(bank):
    setup_targets(bank)
    loan(bank, bank.am1, 1, "80000.00")
    loan(bank, bank.am1, 2, "40000.00")
    loan(bank, bank.am2, 3, "50000.00")
    loan(bank, bank.am3, 4, "100000.00", first=False)
    return bank


def result_of(period, staff) -> SubjectResult:
    return SubjectResult.objects.get(period=period, staff=staff)


def test_full_close_publish_appeal_finalise(september, django_capture_on_commit_callbacks, tmp_path, settings):
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    bank = september
    period = computed_period(bank, django_capture_on_commit_callbacks)
    assert period.state == Period.State.COMPUTED and len(period.snapshot_hash) == 64
    run = JobRun.objects.get(pk=period.job_run_id)
    assert (run.status, run.processed, run.total) == (JobRun.Status.SUCCEEDED, 3, 3)

    r1, r2, r3 = (result_of(period, s) for s in (bank.am1, bank.am2, bank.am3))
    assert (r1.total, r2.total, r3.total) == (Decimal("112.00"), Decimal("50.00"), Decimal("60.00"))
    assert [(r.peer_group, r.peer_rank, r.peer_size, r.overall_rank) for r in (r1, r2, r3)] == [
        ("large", 1, 2, 1),
        ("large", 2, 2, 3),
        ("small", 1, 1, 2),
    ]
    line = ScoreLine.objects.get(result=r2, indicator__code="loan_disbursed_amount")
    assert (line.actual, line.target, line.ratio, line.score, line.fact_count) == (
        Decimal(50000),
        Decimal(100000),
        Decimal("0.5"),
        Decimal(30),
        1,
    )

    # publish: staff see it, the bus carries performance.period_published, the appeal window opens
    with django_capture_on_commit_callbacks(execute=True):
        close.period_publish(period_id=period.pk, actor=bank.admin)
    period.refresh_from_db()
    assert period.state == Period.State.PUBLISHED and period.appeal_window_open
    event = OutboxEvent.objects.filter(topic="performance.period_published").get()
    assert event.payload["period_id"] == period.pk and event.payload["scheme_code"] == "AM"

    # am2 appeals with evidence; am1's and am3's results must not be recomputed
    evidence = SimpleUploadedFile("loan.pdf", b"%PDF-1.4 evidence", content_type="application/pdf")
    appeal = appeals.appeal_submit(
        result_id=r2.pk,
        actor=bank.am2,
        line_id=line.pk,
        reason="贷款#5 由本人营销",
        evidence_file=evidence,
        requested_actual="80000",
    )
    assert len(appeal.evidence_sha256) == 64 and (tmp_path / appeal.evidence_file).exists()
    untouched = {r.pk: (r.revision, list(r.lines.values_list("revision", "score"))) for r in (r1, r3)}
    appeals.appeal_decide(appeal_id=appeal.pk, actor=bank.manager_a, accept=True, note="核实属实", corrected_actual="80000")
    appeal.refresh_from_db()
    r1, r2, r3 = (result_of(period, s) for s in (bank.am1, bank.am2, bank.am3))
    assert appeal.state == Appeal.State.ACCEPTED and appeal.applied_change["recomputed_results"] == [r2.pk]
    assert (r2.total, r2.revision, r2.overall_rank) == (Decimal("68.00"), 1, 2)
    assert (r1.overall_rank, r3.overall_rank) == (1, 3)
    assert {r.pk: (r.revision, list(r.lines.values_list("revision", "score"))) for r in (r1, r3)} == untouched
    line.refresh_from_db()
    assert (line.actual, line.adjustment, line.score, line.revision) == (Decimal(50000), Decimal(30000), Decimal(48), 1)

    # after the window: calibration (grades), then finalise with incentives, deferral and reports
    close_appeal_window(period)
    close.period_close_appeals(period_id=period.pk, actor=bank.admin)
    assert [result_of(period, s).final_grade for s in (bank.am1, bank.am2, bank.am3)] == ["A", "C", "C"]
    with django_capture_on_commit_callbacks(execute=True):
        pay.period_finalise(period_id=period.pk, actor=bank.admin)
    period.refresh_from_db()
    assert period.state == Period.State.FINALISED
    awards = {a.staff_id: a for a in IncentiveAward.objects.filter(period=period)}
    assert (awards[bank.am1.pk].gross, awards[bank.am2.pk].gross, awards[bank.am3.pk].gross) == (
        Decimal("7118.64"),
        Decimal("2881.36"),
        Decimal("10000.00"),
    )
    am1 = awards[bank.am1.pk]
    assert (am1.immediate, am1.deferred) == (Decimal("4271.18"), Decimal("2847.46"))
    assert list(am1.installments.order_by("number").values_list("due_date", "amount")) == [
        (dt.date(2027, 9, 30), Decimal("949.15")),
        (dt.date(2028, 9, 30), Decimal("949.16")),
        (dt.date(2029, 9, 30), Decimal("949.15")),
    ]
    assert list(awards[bank.am3.pk].installments.values_list("amount", flat=True)) == [
        Decimal("1333.33"),
        Decimal("1333.34"),
        Decimal("1333.33"),
    ]

    # PDF reports: one per staff member, one per branch, one for the period; Chinese text extractable
    assert PerformanceReport.objects.filter(period=period).count() == 3 + 2 + 1
    report = PerformanceReport.objects.get(period=period, staff=bank.am2)
    content = reports.report_read(report)
    assert content.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        pdf = tmp_path / "am2.pdf"
        pdf.write_bytes(content)
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
        assert "个人绩效报告" in text and bank.am2.name in text and "68.00" in text and "延期支付" in text and "2,881.36" in text
    (tmp_path / report.path).write_bytes(content + b"tampered")
    with pytest.raises(ApplicationError, match="摘要"):
        reports.report_read(report)

    # a credited loan turns non-performing: clawback proposed, approved, taken from the last installment
    publish_event(
        "lending.loan_classified",
        {
            "institution_id": bank.institution.pk,
            "loan_id": 1,
            "customer_id": None,
            "old_class": "special_mention",
            "new_class": "substandard",
            "dpd": 95,
            "business_date": "2026-10-20",
            "principal_outstanding": "80000.00",
            "principal_outstanding_fen": 8000000,
        },
    )
    entry = ClawbackEntry.objects.get(staff=bank.am1)
    assert (entry.amount, entry.state, entry.loan_id) == (Decimal("800.00"), ClawbackEntry.State.PROPOSED, 1)
    with pytest.raises(PermissionDeniedError):
        pay.clawback_approve(entry_id=entry.pk, actor=bank.am1)
    pay.clawback_approve(entry_id=entry.pk, actor=bank.admin)
    last = am1.installments.get(number=3)
    assert (last.clawed_back, last.payable) == (Decimal("800.00"), Decimal("149.15"))
    assert ClawbackEntry.objects.get(pk=entry.pk).recovered == Decimal("800.00")
    # release on the first due date pays what is left
    assert pay.deferral_release_due(day=dt.date(2027, 9, 30)) == 3
    assert DeferralInstallment.objects.get(award=am1, number=1).released_amount == Decimal("949.15")


def test_appeal_after_the_window_is_refused_and_nothing_is_created(september, django_capture_on_commit_callbacks):
    bank = september
    period = computed_period(bank, django_capture_on_commit_callbacks)
    close.period_publish(period_id=period.pk, actor=bank.admin)
    close_appeal_window(period)
    with pytest.raises(ApplicationError, match="申诉期已于"):
        appeals.appeal_submit(result_id=result_of(period, bank.am2).pk, actor=bank.am2, reason="太晚了")
    assert not Appeal.objects.exists()


def test_the_appeal_window_is_counted_in_business_dates_not_the_wall_clock(september, django_capture_on_commit_callbacks):
    """Published on business date 2026-10-08 with the default window of 5 days: appeals are accepted through
    business date 2026-10-13 and refused from 2026-10-14 (nothing created), whatever the wall clock says (with the
    wall clock the window would run five days from now); the window cannot be closed for calibration before 2026-10-14."""
    bank = september
    period = computed_period(bank, django_capture_on_commit_callbacks)
    business_date_set(day=dt.date(2026, 10, 8))
    close.period_publish(period_id=period.pk, actor=bank.admin)
    period.refresh_from_db()
    assert period.appeal_last_day == dt.date(2026, 10, 13) and period.appeal_window_open
    with pytest.raises(ApplicationError, match="2026-10-13"):
        close.period_close_appeals(period_id=period.pk, actor=bank.admin)

    business_date_set(day=dt.date(2026, 10, 13))  # the last day: still accepted
    appeal = appeals.appeal_submit(result_id=result_of(period, bank.am2).pk, actor=bank.am2, reason="最后一天申诉")
    appeals.appeal_decide(appeal_id=appeal.pk, actor=bank.manager_a, accept=False, note="不予采纳")
    with pytest.raises(ApplicationError, match="申诉期至"):
        close.period_close_appeals(period_id=period.pk, actor=bank.admin)

    business_date_set(day=dt.date(2026, 10, 14))  # the day after: refused, nothing created
    period.refresh_from_db()
    assert not period.appeal_window_open
    with pytest.raises(ApplicationError, match="申诉期已于 2026-10-13 结束"):
        appeals.appeal_submit(result_id=result_of(period, bank.am1).pk, actor=bank.am1, reason="过期申诉")
    assert Appeal.objects.filter(period=period).count() == 1
    close.period_close_appeals(period_id=period.pk, actor=bank.admin)
    period.refresh_from_db()
    assert period.state == Period.State.CALIBRATING


def test_appeals_only_on_ones_own_result_and_need_a_reason(september, django_capture_on_commit_callbacks):
    bank = september
    period = computed_period(bank, django_capture_on_commit_callbacks)
    with pytest.raises(ApplicationError):  # not yet published
        appeals.appeal_submit(result_id=result_of(period, bank.am2).pk, actor=bank.am2, reason="x")
    close.period_publish(period_id=period.pk, actor=bank.admin)
    with pytest.raises(ApplicationError):
        appeals.appeal_submit(result_id=result_of(period, bank.am1).pk, actor=bank.am2, reason="替同事申诉")
    with pytest.raises(ApplicationError, match="理由"):
        appeals.appeal_submit(result_id=result_of(period, bank.am2).pk, actor=bank.am2, reason="  ")
    bad = SimpleUploadedFile("x.pdf", b"MZ not a pdf")
    with pytest.raises(ApplicationError, match="不符"):
        appeals.appeal_submit(result_id=result_of(period, bank.am2).pk, actor=bank.am2, reason="证据", evidence_file=bad)
    assert not Appeal.objects.exists()


def test_a_manager_cannot_decide_their_own_appeal(september, django_capture_on_commit_callbacks):
    bank = september
    assign(bank.manager_a, Position.ACCOUNT_MANAGER)  # the branch manager is also assessed as an account manager
    period = computed_period(bank, django_capture_on_commit_callbacks)
    close.period_publish(period_id=period.pk, actor=bank.admin)
    own = result_of(period, bank.manager_a)
    line = own.lines.get(indicator__code="loan_disbursed_amount")
    appeal = appeals.appeal_submit(result_id=own.pk, actor=bank.manager_a, line_id=line.pk, reason="我的放款漏计")
    before = (own.total, list(own.lines.values_list("score", "adjustment", "revision")))
    with pytest.raises(PermissionDeniedError, match="本人"):
        appeals.appeal_decide(appeal_id=appeal.pk, actor=bank.manager_a, accept=True, note="自己批", corrected_actual="999999")
    appeal.refresh_from_db()
    own.refresh_from_db()
    assert (
        appeal.state == Appeal.State.SUBMITTED
        and (own.total, list(own.lines.values_list("score", "adjustment", "revision"))) == before
    )
    # an account manager has no right to decide, another branch's manager cannot see it
    with pytest.raises(PermissionDeniedError):
        appeals.appeal_decide(appeal_id=appeal.pk, actor=bank.am1, accept=False, note="x")
    with pytest.raises(ApplicationError):
        appeals.appeal_decide(appeal_id=appeal.pk, actor=bank.manager_b, accept=False, note="x")
    appeals.appeal_decide(appeal_id=appeal.pk, actor=bank.admin, accept=False, note="证据不足")
    assert Appeal.objects.get(pk=appeal.pk).state == Appeal.State.REJECTED


def test_published_period_is_immutable(september, django_capture_on_commit_callbacks):
    bank = september
    period = computed_period(bank, django_capture_on_commit_callbacks)
    close.period_publish(period_id=period.pk, actor=bank.admin)
    before = (
        Period.objects.filter(pk=period.pk).values("label", "scheme_version_id", "state").get(),
        Target.objects.count(),
        list(Target.objects.values_list("value", flat=True)),
    )
    with pytest.raises(ApplicationError, match="已公示"):
        close.period_update(period_id=period.pk, actor=bank.admin, label="改名")
    with pytest.raises(ApplicationError, match="已公示"):
        setup_targets(bank)
    with pytest.raises(ApplicationError, match="已公示"):
        attribution.manual_entry_create(
            institution=bank.institution,
            indicator=Indicator.objects.get(code="customer_complaints"),
            staff=bank.am1,
            fact_date=dt.date(2026, 9, 5),
            value="1",
            actor=bank.admin.user,
        )
    with pytest.raises(ApplicationError, match="已公示"):
        close.period_compute_start(period_id=period.pk, actor=bank.admin)
    with pytest.raises(ApplicationError):
        close.period_reopen(period_id=period.pk, actor=bank.admin, comment="x")
    customer = make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)
    claim = attribution.claim_submit(
        customer=customer, shares=[(bank.am2, "100")], actor=bank.am2, requested_on=dt.date(2026, 9, 3)
    )
    with pytest.raises(ApplicationError, match="已公示"):
        attribution.claim_approve(claim_id=claim.pk, actor=bank.manager_a)
    assert AttributionClaim.objects.get(pk=claim.pk).state == AttributionClaim.State.PENDING
    after = (
        Period.objects.filter(pk=period.pk).values("label", "scheme_version_id", "state").get(),
        Target.objects.count(),
        list(Target.objects.values_list("value", flat=True)),
    )
    assert after == before and not ManualEntry.objects.exists()


def test_late_facts_count_in_the_next_period_as_adjustments(september, django_capture_on_commit_callbacks):
    """After September's data is confirmed, a September loan of 30,000 for am2 arrives: September keeps 50,000;
    October counts it (30,000) with October's own 20,000 → 50,000."""
    bank = september
    version = simple_scheme(bank, incentive=POOL)
    period = computed_period(bank, django_capture_on_commit_callbacks, scheme_version=version)
    loan(bank, bank.am2, 5, "30000.00", day=dt.date(2026, 9, 28))
    loan(bank, bank.am2, 6, "20000.00", day=dt.date(2026, 10, 3))
    setup_targets(bank, month=10)
    october = computed_period(bank, django_capture_on_commit_callbacks, scheme_version=version, start=dt.date(2026, 10, 1))
    assert october.previous_watermark == period.facts_watermark
    assert ScoreLine.objects.get(
        result__period=period, result__staff=bank.am2, indicator__code="loan_disbursed_amount"
    ).actual == Decimal(50000)
    assert ScoreLine.objects.get(
        result__period=october, result__staff=bank.am2, indicator__code="loan_disbursed_amount"
    ).actual == Decimal(50000)


def test_recompute_replaces_results_and_rank_items_touch_the_peer_group(september, django_capture_on_commit_callbacks):
    """Scheme: loans 50 % F1, new credit customers 50 % F12 (rank in the peer group).
    Large group new customers: am1 2, am2 1 → ranks 1, 2 → F12 scores 50, 0. am2's appeal raises new customers to 3:
    ranks swap (am2 1, am1 2), so am1's line is rewritten too; am3 (other group) is untouched."""
    bank = september
    version = simple_scheme(
        bank, code="AMR", items=[("loan_disbursed_amount", W, 50, "F1-120", {}), ("new_credit_customers", W, 50, "F12-rank", {})]
    )
    period = computed_period(bank, django_capture_on_commit_callbacks, scheme_version=version)
    close.period_reopen(period_id=period.pk, actor=bank.admin, comment="补录后重算")
    close.period_confirm_data(period_id=period.pk, actor=bank.admin, comment="重新确认")
    with django_capture_on_commit_callbacks(execute=True):
        close.period_compute_start(period_id=period.pk, actor=bank.admin)
    assert SubjectResult.objects.filter(period=period).count() == 3

    def rank_line(staff):
        return ScoreLine.objects.get(result__period=period, result__staff=staff, indicator__code="new_credit_customers")

    assert (rank_line(bank.am1).score, rank_line(bank.am2).score, rank_line(bank.am3).score) == (
        Decimal(50),
        Decimal(0),
        Decimal(50),
    )
    close.period_publish(period_id=period.pk, actor=bank.admin)
    appeal = appeals.appeal_submit(
        result_id=result_of(period, bank.am2).pk, actor=bank.am2, line_id=rank_line(bank.am2).pk, reason="漏计两户"
    )
    am3_before = (result_of(period, bank.am3).revision, rank_line(bank.am3).revision)
    appeals.appeal_decide(appeal_id=appeal.pk, actor=bank.manager_a, accept=True, note="属实", corrected_actual="3")
    assert (rank_line(bank.am1).score, rank_line(bank.am2).score) == (Decimal(0), Decimal(50))
    assert rank_line(bank.am1).revision == 1 and result_of(period, bank.am1).revision == 1
    assert (result_of(period, bank.am3).revision, rank_line(bank.am3).revision) == am3_before


def test_no_target_renormalises_and_computation_is_scoped_to_the_institution(bank, django_capture_on_commit_callbacks):
    """Only the loan target exists: the new-customer line is not scored and the loan score 60 × 0.8 = 48 is
    renormalised to 48 × 100/60 = 80.00. Another bank's staff and facts are not part of the period."""
    ind = Indicator.objects.get(code="loan_disbursed_amount")
    targets.target_set(
        institution=bank.institution,
        actor=bank.admin,
        indicator=ind,
        year=2026,
        month=9,
        value=Decimal(100000),
        level=Target.Level.RANK,
        rank="junior",
    )
    loan(bank, bank.am1, 1, "80000.00")
    other = make_bank("OTHR")
    loan(other, other.am1, 2, "99999.00")
    period = computed_period(bank, django_capture_on_commit_callbacks)
    assert set(SubjectResult.objects.filter(period=period).values_list("staff_id", flat=True)) == {
        bank.am1.pk,
        bank.am2.pk,
        bank.am3.pk,
    }
    result = result_of(period, bank.am1)
    assert result.total == Decimal("80.00")
    assert result.lines.get(indicator__code="new_credit_customers").score is None


def test_calibration_adjusts_grades_with_reason_never_ones_own(september, django_capture_on_commit_callbacks):
    bank = september
    period = computed_period(bank, django_capture_on_commit_callbacks)
    close.period_publish(period_id=period.pk, actor=bank.admin)
    with pytest.raises(ApplicationError, match="申诉期"):
        close.period_close_appeals(period_id=period.pk, actor=bank.admin)
    close_appeal_window(period)
    close.period_close_appeals(period_id=period.pk, actor=bank.admin)
    r2 = result_of(period, bank.am2)
    assert r2.final_grade == "D"
    with pytest.raises(ApplicationError, match="不在方案等级"):
        pay.calibration_adjust(result_id=r2.pk, to_grade="S", reason="x", actor=bank.admin)
    pay.calibration_adjust(result_id=r2.pk, to_grade="C", reason="新入职首月", actor=bank.admin)
    assert result_of(period, bank.am2).final_grade == "C"
    with pytest.raises(PermissionDeniedError):
        pay.calibration_adjust(result_id=r2.pk, to_grade="B", reason="x", actor=bank.am1)


def test_forced_distribution_per_peer_group(bank, django_capture_on_commit_callbacks):
    """Forced A 50 % / B 50 % per peer group: large (am1 112, am2 50) → A, B; small (am3 alone): quota A = round(0.5) = 1 → A."""
    setup_targets(bank)
    loan(bank, bank.am1, 1, "80000.00")
    loan(bank, bank.am1, 2, "40000.00")
    loan(bank, bank.am2, 3, "50000.00")
    grading = {
        "method": "forced",
        "thresholds": [{"grade": "A", "min": "80"}, {"grade": "B", "min": "0"}],
        "distribution": [{"grade": "A", "percent": "50"}, {"grade": "B", "percent": "50"}],
    }
    version = simple_scheme(bank, code="AMF", grading=grading)
    period = computed_period(bank, django_capture_on_commit_callbacks, scheme_version=version)
    close.period_publish(period_id=period.pk, actor=bank.admin)
    close_appeal_window(period)
    close.period_close_appeals(period_id=period.pk, actor=bank.admin)
    assert [result_of(period, s).grade for s in (bank.am1, bank.am2, bank.am3)] == ["A", "B", "A"]


def test_pending_appeals_block_calibration(september, django_capture_on_commit_callbacks):
    bank = september
    period = computed_period(bank, django_capture_on_commit_callbacks)
    close.period_publish(period_id=period.pk, actor=bank.admin)
    appeals.appeal_submit(result_id=result_of(period, bank.am2).pk, actor=bank.am2, reason="请复核")
    close_appeal_window(period)
    with pytest.raises(ApplicationError, match="未处理"):
        close.period_close_appeals(period_id=period.pk, actor=bank.admin)
    assert Period.objects.get(pk=period.pk).state == Period.State.PUBLISHED


def test_branch_schemes_score_branches_and_branch_managers_take_branch_totals(september, django_capture_on_commit_callbacks):
    """网点: branch A loans 170,000, branch B 100,000. Targets 100,000 per branch; F1 cap 1.2 at weight 100:
    A → 120.00, B → 100.00. 支行行长 (aggregation = branch) gets the same totals for their branch."""
    bank = september
    from performance.catalogue import build_scheme

    ind = Indicator.objects.get(code="loan_disbursed_amount")
    for branch in (bank.branch_a, bank.branch_b):
        targets.target_set(
            institution=bank.institution,
            actor=bank.admin,
            indicator=ind,
            year=2026,
            month=9,
            value=Decimal(100000),
            level=Target.Level.BRANCH,
            branch=branch,
        )
    branch_version = build_scheme(
        institution=bank.institution,
        code="BR",
        name="网点",
        position=Position.BRANCH,
        items=[("loan_disbursed_amount", W, 100, "F1-120", {})],
        grading=GRADES,
    )
    period = computed_period(bank, django_capture_on_commit_callbacks, scheme_version=branch_version)
    totals = dict(SubjectResult.objects.filter(period=period).values_list("branch_id", "total"))
    assert totals == {bank.branch_a.pk: Decimal("120.00"), bank.branch_b.pk: Decimal("100.00")}
    assert not SubjectResult.objects.filter(period=period, staff__isnull=False).exists()
    bm_version = build_scheme(
        institution=bank.institution,
        code="BMX",
        name="行长",
        position=Position.BRANCH_MANAGER,
        aggregation="branch",
        items=[("loan_disbursed_amount", W, 100, "F1-120", {})],
        grading=GRADES,
    )
    bm_period = computed_period(bank, django_capture_on_commit_callbacks, scheme_version=bm_version)
    assert dict(SubjectResult.objects.filter(period=bm_period).values_list("staff_id", "total")) == {
        bank.manager_a.pk: Decimal("120.00"),
        bank.manager_b.pk: Decimal("100.00"),
    }


@pytest.mark.django_db(transaction=True)
def test_parallel_snapshot_scan_gives_the_same_aggregates(django_capture_on_commit_callbacks, monkeypatch):
    """Outside a transaction on PostgreSQL the snapshot scan runs on a second connection in parallel with the flow
    scan; the figures must equal the single-connection computation (loans 120,000 flow; balance snapshots: loan 1's
    classification of 70,000 replaces its disbursement balance of 80,000 → 110,000)."""
    from django.db import connection, transaction

    from performance import engine

    bank = make_bank("PAR")
    loan(bank, bank.am1, 1, "80000.00")
    loan(bank, bank.am1, 2, "40000.00")
    publish_event(
        "lending.loan_classified",
        {
            "institution_id": bank.institution.pk,
            "loan_id": 1,
            "customer_id": None,
            "account_manager_id": bank.am1.pk,
            "old_class": "normal",
            "new_class": "special_mention",
            "dpd": 5,
            "business_date": "2026-09-20",
            "principal_outstanding": "70000.00",
            "principal_outstanding_fen": 7000000,
        },
    )
    codes = ("loan_disbursed_amount", "loan_balance")
    indicators = {i.pk: i for i in Indicator.objects.filter(code__in=codes)}
    kwargs = dict(
        institution_id=bank.institution.pk,
        indicators=indicators,
        start=SEPT,
        end=dt.date(2026, 9, 30),
        group="staff_id",
        watermark=None,
        previous_watermark=None,
    )
    threads = []
    own_connection = engine._snapshot_rows_own_connection
    monkeypatch.setattr(engine, "_snapshot_rows_own_connection", lambda *args: threads.append(args) or own_connection(*args))
    parallel = engine.aggregate_facts(**kwargs)
    assert len(threads) == (1 if connection.vendor == "postgresql" else 0)
    with transaction.atomic():
        sequential = engine.aggregate_facts(**kwargs)
    by_code = {i.code: i.pk for i in indicators.values()}
    assert parallel[(bank.am1.pk, by_code["loan_disbursed_amount"])].value == Decimal(120000)
    assert parallel[(bank.am1.pk, by_code["loan_balance"])].value == Decimal(110000)
    assert {k: (v.value, v.count) for k, v in parallel.items()} == {k: (v.value, v.count) for k, v in sequential.items()}
