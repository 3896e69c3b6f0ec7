"""Calibration, final grades (F16), incentive pay (F17) with deferral schedules, clawback entries, and the
finalisation of a period."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from jikuai.core.bus import BusEvent
from jikuai.core.exceptions import ApplicationError, Conflict, PermissionDeniedError
from jikuai.core.money import round_fen, to_decimal
from jikuai.org.models import Staff
from performance import formulas
from performance.models import (
    CalibrationAdjustment,
    ClawbackEntry,
    ClawbackLeg,
    DeferralInstallment,
    Fact,
    IncentiveAward,
    Indicator,
    Period,
    ScoreLine,
    SubjectResult,
)
from performance.services.common import require_institution, require_perm, user_of, visible_or_404
from performance.sources import NON_PERFORMING

ZERO = Decimal("0.00")


class CalibrationError(ApplicationError):
    code = "invalid_calibration"


def grades_apply(period: Period) -> int:
    """F16 grades: by thresholds, or by forced distribution within each peer group (Branch.size_group)."""
    grading = period.snapshot.get("grading") or {}
    results = list(SubjectResult.objects.filter(period=period).order_by("id"))
    if not results or not grading:
        return 0
    if grading.get("method") == "forced":
        by_group = defaultdict(list)
        for result in results:
            by_group[result.peer_group].append(result)
        for members in by_group.values():
            grades = formulas.forced_distribution([(r.pk, r.total) for r in members], grading["distribution"])
            for result in members:
                result.grade = grades[result.pk]
    else:
        for result in results:
            result.grade = formulas.grade_by_thresholds(result.total, grading["thresholds"])
    for result in results:
        result.final_grade = result.grade
    SubjectResult.objects.bulk_update(results, ["grade", "final_grade"], batch_size=2000)
    return len(results)


@transaction.atomic
def calibration_adjust(*, result_id: int, to_grade: str, reason: str, actor: Staff) -> CalibrationAdjustment:
    """校准: change one final grade during calibration, with a reason; never one's own result."""
    require_perm(actor, "performance.add_calibrationadjustment", "校准等级", "calibrate grades")
    result = visible_or_404(SubjectResult.objects.all(), actor, result_id, what_zh="考核结果", what_en="result")
    result = SubjectResult.objects.select_for_update().select_related("period").get(pk=result.pk)
    if result.staff_id == actor.pk:
        raise PermissionDeniedError("不能校准本人的等级 / you cannot calibrate your own grade")
    if result.period.state != Period.State.CALIBRATING:
        raise Conflict("只有校准中的考核期可以调整等级 / only a period in calibration", code="period_not_calibrating")
    grades = [row["grade"] for row in result.period.snapshot.get("grading", {}).get("thresholds", [])]
    if to_grade not in grades:
        raise CalibrationError(f"等级 {to_grade} 不在方案等级 {'/'.join(grades)} 中 / unknown grade")
    if not (reason or "").strip():
        raise CalibrationError("校准需要填写理由 / a reason is required")
    adjustment = CalibrationAdjustment.objects.create(
        period=result.period,
        result=result,
        from_grade=result.final_grade,
        to_grade=to_grade,
        reason=reason.strip()[:200],
        by=actor,
    )
    result.final_grade = to_grade
    result.revision += 1
    result.save(update_fields=["final_grade", "revision", "updated_at"])
    return adjustment


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _coefficient(config: dict, grade: str) -> Decimal:
    coefficients = config.get("grade_coefficients") or {}
    if not coefficients:
        return Decimal(1)
    return to_decimal(coefficients.get(grade, "0"))


def incentives_compute(period: Period) -> list[IncentiveAward]:
    """F17: pool split (by total × grade coefficient, per peer group or institution) or piece rate (F7 tiers on
    actuals × coefficient); the deferred part (risk-relevant roles ≥ 40 % over ≥ 3 years) becomes yearly
    installments. Outstanding approved clawbacks are then taken from the new installments."""
    config = period.snapshot.get("incentive") or {}
    method = config.get("method", "none")
    if method == "none":
        return []
    results = list(SubjectResult.objects.filter(period=period, staff__isnull=False).order_by("id"))
    coefficient = {r.pk: _coefficient(config, r.final_grade) for r in results}
    gross: dict[int, Decimal] = {}
    if method == "pool":
        pool = to_decimal(config["pool_amount"])
        groups = defaultdict(list)
        for result in results:
            groups[result.peer_group if config.get("pool_scope", "peer_group") == "peer_group" else ""].append(result)
        for members in groups.values():
            gross.update(formulas.pool_split(pool, [(r.pk, r.total * coefficient[r.pk]) for r in members]))
    else:
        codes = {i.pk: i.code for i in Indicator.objects.filter(pk__in=[row["indicator_id"] for row in period.snapshot["items"]])}
        actuals: dict[int, dict[str, Decimal]] = defaultdict(dict)
        for result_id, indicator_id, actual, adjustment in ScoreLine.objects.filter(result__in=results).values_list(
            "result_id", "indicator_id", "actual", "adjustment"
        ):
            actuals[result_id][codes[indicator_id]] = (actual or Decimal(0)) + adjustment
        for result in results:
            amount, _ = formulas.piece_rate(actuals[result.pk], config["rates"])
            gross[result.pk] = round_fen(amount * coefficient[result.pk])
    ratio, years = to_decimal(config.get("deferral_ratio", "0")), int(config.get("deferral_years", 0))
    awards, installments = [], []
    for result in results:
        plan = formulas.deferral_plan(gross.get(result.pk, ZERO), ratio=ratio, years=years)
        award = IncentiveAward(
            period=period,
            result=result,
            staff_id=result.staff_id,
            branch_id=result.branch_id,
            method=method,
            coefficient=coefficient[result.pk],
            gross=plan.gross,
            immediate=plan.immediate,
            deferred=plan.deferred,
        )
        awards.append((award, plan))
    IncentiveAward.objects.bulk_create([a for a, _ in awards])
    for award, plan in awards:
        for number, amount in enumerate(plan.installments, start=1):
            installments.append(
                DeferralInstallment(
                    award=award, staff_id=award.staff_id, number=number, due_date=_add_years(period.end, number), amount=amount
                )
            )
    DeferralInstallment.objects.bulk_create(installments)
    staff_ids = {a.staff_id for a, _ in awards}
    for entry in ClawbackEntry.objects.filter(staff_id__in=staff_ids, state=ClawbackEntry.State.APPLIED).order_by("id"):
        if entry.outstanding > 0:
            _recover(entry)
    return [a for a, _ in awards]


@transaction.atomic
def period_finalise(*, period_id: int, actor, comment: str = "") -> Period:
    """定稿: final grades stand, incentives and deferral schedules are written, reports are generated after commit."""
    from performance.tasks import period_reports_task

    require_perm(actor, "performance.change_period", "定稿考核期", "finalise periods")
    period = Period.objects.select_for_update().select_related("scheme").get(pk=period_id)
    require_institution(actor, period.institution_id)
    if period.state == Period.State.FINALISED:
        return period
    if period.state != Period.State.CALIBRATING:
        raise Conflict(
            "只有校准中的考核期可以定稿 / only a period in calibration can be finalised", code="period_not_calibrating"
        )
    incentives_compute(period)
    period.finalised_at = timezone.now()
    period.finalise(by=user_of(actor), description=comment or "定稿")
    period.save()
    period_id = period.pk
    transaction.on_commit(lambda: period_reports_task.delay(period_id))
    return period


# --------------------------------------------------------------------------------------------------
# clawback
# --------------------------------------------------------------------------------------------------


def _recover(entry: ClawbackEntry) -> Decimal:
    """Take the outstanding amount from the staff member's scheduled installments, latest due first."""
    remaining = entry.outstanding
    taken = ZERO
    legs = []
    for installment in (
        DeferralInstallment.objects.select_for_update()
        .filter(staff_id=entry.staff_id, state=DeferralInstallment.State.SCHEDULED)
        .order_by("-due_date", "-id")
    ):
        if remaining <= 0:
            break
        available = installment.amount - installment.clawed_back
        if available <= 0:
            continue
        amount = min(available, remaining)
        installment.clawed_back += amount
        installment.save(update_fields=["clawed_back"])
        legs.append(ClawbackLeg(entry=entry, installment=installment, amount=amount))
        remaining -= amount
        taken += amount
    ClawbackLeg.objects.bulk_create(legs)
    if taken:
        entry.recovered += taken
        entry.save(update_fields=["recovered"])
    return taken


def clawback_propose_for_loan(event: BusEvent) -> list[ClawbackEntry]:
    """A credited loan turned non-performing: propose clawbacks for the staff credited with its disbursement,
    amount = clawback_rate × principal outstanding × their share (rate from their latest finalised award)."""
    payload = event.payload
    if payload.get("new_class") not in NON_PERFORMING or payload.get("old_class") in NON_PERFORMING:
        return []
    loan_id, institution_id = payload.get("loan_id"), payload.get("institution_id")
    if not loan_id or not institution_id:
        return []
    outstanding = (
        Decimal(int(payload["principal_outstanding_fen"])) / 100
        if payload.get("principal_outstanding_fen") is not None
        else to_decimal(payload.get("principal_outstanding") or "0")
    )
    disbursed_ids = [i.pk for i in Indicator.objects.all() if "disbursed_amount" in (i.sources or [])]
    credited = (
        Fact.objects.filter(
            institution_id=institution_id,
            subject_kind="loan",
            subject_id=loan_id,
            indicator_id__in=disbursed_ids,
            staff__isnull=False,
        )
        .values("staff_id", "branch_id", "metric")
        .annotate(total=Sum("value"))
    )
    entries = []
    for row in credited:
        if row["total"] <= 0 or not row["metric"]:
            continue
        award = (
            IncentiveAward.objects.filter(staff_id=row["staff_id"], period__state=Period.State.FINALISED)
            .select_related("period")
            .order_by("-period__end")
            .first()
        )
        if award is None:
            continue
        rate = to_decimal((award.period.snapshot.get("incentive") or {}).get("clawback_rate", "0"))
        amount = round_fen(rate * outstanding * row["total"] / row["metric"])
        if amount <= 0:
            continue
        entry, _ = ClawbackEntry.objects.get_or_create(
            source_key=f"npl:{event.id}:{row['staff_id']}",
            defaults={
                "institution_id": institution_id,
                "staff_id": row["staff_id"],
                "branch_id": row["branch_id"],
                "amount": amount,
                "reason": f"贷款 #{loan_id} 转为{payload.get('new_class')}（不良），按 {rate} 追索",
                "loan_id": loan_id,
            },
        )
        entries.append(entry)
    return entries


@transaction.atomic
def clawback_create(*, staff: Staff, amount, reason: str, actor, loan_id: int | None = None) -> ClawbackEntry:
    """A manual clawback proposal (e.g. misconduct found in an audit)."""
    require_perm(actor, "performance.add_clawbackentry", "发起追索", "propose clawbacks")
    require_institution(actor, staff.institution_id)
    amount = round_fen(amount)
    if amount <= 0 or not (reason or "").strip():
        raise ApplicationError(
            "追索金额须大于 0 且需填写原因 / a positive amount and a reason are required", code="invalid_clawback"
        )
    return ClawbackEntry.objects.create(
        institution_id=staff.institution_id,
        staff=staff,
        branch_id=staff.branch_id,
        amount=amount,
        reason=reason.strip()[:200],
        loan_id=loan_id,
        source_key=f"manual:{timezone.now():%Y%m%d%H%M%S%f}:{staff.pk}",
    )


@transaction.atomic
def clawback_approve(*, entry_id: int, actor: Staff) -> ClawbackEntry:
    require_perm(actor, "performance.change_clawbackentry", "审批追索", "approve clawbacks")
    entry = visible_or_404(ClawbackEntry.objects.all(), actor, entry_id, what_zh="追索", what_en="clawback")
    entry = ClawbackEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.staff_id == actor.pk:
        raise PermissionDeniedError("不能审批针对本人的追索 / you cannot decide a clawback against yourself")
    if entry.state != ClawbackEntry.State.PROPOSED:
        raise Conflict("该追索已处理 / already decided", code="clawback_decided")
    entry.decided_by, entry.decided_at = actor, timezone.now()
    entry.apply(by=actor.user, description="审批扣回")
    entry.save()
    _recover(entry)
    return entry


@transaction.atomic
def clawback_cancel(*, entry_id: int, actor: Staff, note: str) -> ClawbackEntry:
    require_perm(actor, "performance.change_clawbackentry", "审批追索", "decide clawbacks")
    entry = visible_or_404(ClawbackEntry.objects.all(), actor, entry_id, what_zh="追索", what_en="clawback")
    entry = ClawbackEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.state != ClawbackEntry.State.PROPOSED:
        raise Conflict("该追索已处理 / already decided", code="clawback_decided")
    entry.decided_by, entry.decided_at = actor, timezone.now()
    entry.cancel(by=actor.user, description=note or "撤销")
    entry.save()
    return entry


def deferral_release_due(*, day: dt.date | None = None) -> int:
    """Release the installments due on or before ``day`` (what is left after clawbacks is paid)."""
    day = day or timezone.localdate()
    released = 0
    ids = list(
        DeferralInstallment.objects.filter(state=DeferralInstallment.State.SCHEDULED, due_date__lte=day)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for offset in range(0, len(ids), 500):
        with transaction.atomic():
            for installment in DeferralInstallment.objects.select_for_update().filter(
                pk__in=ids[offset : offset + 500], state=DeferralInstallment.State.SCHEDULED
            ):
                installment.state = DeferralInstallment.State.RELEASED
                installment.released_at = timezone.now()
                installment.released_amount = installment.amount - installment.clawed_back
                installment.save(update_fields=["state", "released_at", "released_amount"])
                released += 1
    return released
