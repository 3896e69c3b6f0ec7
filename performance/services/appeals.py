"""Appeals (申诉): staff contest a published result with evidence inside the window; a manager other than the
appellant decides; an accepted appeal corrects one line and recomputes only what that touches."""

import hashlib
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.money import round_to, to_decimal
from jikuai.org.models import Staff
from performance import engine
from performance.models import Appeal, Indicator, Period, ScoreLine, SubjectResult
from performance.services.close import rank_results
from performance.services.common import require_perm, visible_or_404

EVIDENCE_MAX_BYTES = 5 * 1024 * 1024
EVIDENCE_TYPES = {".pdf": b"%PDF", ".png": b"\x89PNG", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".xlsx": b"PK\x03\x04"}


class AppealError(ApplicationError):
    code = "invalid_appeal"


class AppealWindowClosed(Conflict):
    code = "appeal_window_closed"


def _store_evidence(period_id: int, upload) -> tuple[str, str]:
    name = getattr(upload, "name", "evidence")
    suffix = Path(name).suffix.lower()
    if suffix not in EVIDENCE_TYPES:
        raise AppealError("证据文件只接受 PDF、PNG、JPG、XLSX / evidence must be PDF, PNG, JPG or XLSX")
    content = upload.read(EVIDENCE_MAX_BYTES + 1)
    if len(content) > EVIDENCE_MAX_BYTES:
        raise AppealError("证据文件不能超过 5MB / evidence must be at most 5 MB")
    if not content.startswith(EVIDENCE_TYPES[suffix]):
        raise AppealError("证据文件内容与类型不符 / evidence content does not match its type")
    relative = Path("performance") / "appeals" / str(period_id) / f"{uuid.uuid4().hex}{suffix}"
    target = Path(settings.PRIVATE_MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return str(relative), hashlib.sha256(content).hexdigest()


def _decimal_or_none(value, label: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return round_to(to_decimal(value), 4)
    except (ValueError, TypeError, InvalidOperation):
        raise AppealError(f"{label}不是有效数字 / {label} is not a number")


def appeal_submit(
    *,
    result_id: int,
    actor: Staff,
    reason: str,
    line_id: int | None = None,
    evidence_text: str = "",
    evidence_file=None,
    requested_actual=None,
    requested_target=None,
) -> Appeal:
    """Submit within the window (after it: refused, nothing created). Only one's own result can be appealed."""
    with transaction.atomic():
        result = SubjectResult.objects.select_related("period").filter(pk=result_id).first()
        if result is None or result.staff_id != actor.pk:
            raise NotFound("只能对本人的考核结果申诉 / you can appeal only your own result")
        period = Period.objects.select_for_update().get(pk=result.period_id)
        if period.state != Period.State.PUBLISHED:
            raise AppealWindowClosed("该考核期不在申诉期内 / the period is not open for appeals")
        if not period.appeal_window_open:  # counted in business dates
            last_day = f" {period.appeal_last_day:%Y-%m-%d} " if period.appeal_last_day else ""
            raise AppealWindowClosed(f"申诉期已于{last_day}结束，申诉不予受理 / the appeal window has closed")
        if not (reason or "").strip():
            raise AppealError("请填写申诉理由 / a reason is required")
        line = None
        if line_id:
            line = ScoreLine.objects.filter(pk=line_id, result=result).first()
            if line is None:
                raise AppealError("申诉指标不属于该结果 / the line does not belong to the result")
        actual = _decimal_or_none(requested_actual, "申请实际值")
        target = _decimal_or_none(requested_target, "申请目标值")
        if Appeal.objects.filter(result=result, line=line, state=Appeal.State.SUBMITTED).exists():
            raise Conflict("已有待处理的相同申诉 / an identical appeal is already pending", code="appeal_pending")
        evidence_path, evidence_hash = ("", "")
        if evidence_file is not None:
            evidence_path, evidence_hash = _store_evidence(period.pk, evidence_file)
        return Appeal.objects.create(
            period=period,
            result=result,
            line=line,
            staff=actor,
            branch_id=result.branch_id,
            reason=reason.strip(),
            evidence_text=evidence_text.strip(),
            evidence_file=evidence_path,
            evidence_sha256=evidence_hash,
            requested_actual=actual,
            requested_target=target,
        )


@transaction.atomic
def appeal_decide(
    *, appeal_id: int, actor: Staff, accept: bool, note: str, corrected_actual=None, corrected_target=None
) -> Appeal:
    """A manager (not the appellant) accepts with a correction of the appealed line, or rejects with a note."""
    require_perm(actor, "performance.change_appeal", "处理申诉", "decide appeals")
    appeal = visible_or_404(Appeal.objects.all(), actor, appeal_id, what_zh="申诉", what_en="appeal")
    appeal = Appeal.objects.select_for_update().get(pk=appeal.pk)
    if appeal.staff_id == actor.pk:
        raise PermissionDeniedError("不能处理本人的申诉 / you cannot decide your own appeal")
    if appeal.state != Appeal.State.SUBMITTED:
        raise Conflict("该申诉已处理 / the appeal was already decided", code="appeal_decided")
    period = Period.objects.select_for_update().get(pk=appeal.period_id)
    if period.state != Period.State.PUBLISHED:
        raise Conflict(
            "考核期已进入校准或定稿，不能再处理申诉 / the period is past its appeal stage", code="period_not_published"
        )
    if not (note or "").strip():
        raise AppealError("请填写处理意见 / a decision note is required")
    appeal.decided_by, appeal.decided_at, appeal.decision_note = actor, timezone.now(), note.strip()
    if not accept:
        appeal.reject(by=actor.user, description=note)
        appeal.save()
        return appeal
    actual = _decimal_or_none(corrected_actual, "更正实际值")
    target = _decimal_or_none(corrected_target, "更正目标值")
    if appeal.line_id is None or (actual is None and target is None):
        raise AppealError("采纳申诉需指定更正的指标实际值或目标值 / accepting needs a corrected actual or target for the line")
    line = ScoreLine.objects.select_for_update().get(pk=appeal.line_id)
    change = {
        "line_id": line.pk,
        "indicator_id": line.indicator_id,
        "before": {"actual": str(line.actual + line.adjustment), "target": str(line.target)},
    }
    if actual is not None:
        line.adjustment = actual - line.actual
    if target is not None:
        line.target = target
    line.save(update_fields=["adjustment", "target"])
    touched = recompute_touched(period=period, result_id=appeal.result_id, item_id=line.item_id)
    change["after"] = {"actual": str(line.actual + line.adjustment), "target": str(line.target)}
    change["recomputed_results"] = touched
    appeal.applied_change = change
    appeal.accept(by=actor.user, description=note)
    appeal.save()
    return appeal


def _inputs_from_lines(lines) -> dict[int, engine.LineInput]:
    return {
        line.item_id: engine.LineInput(
            actual=line.actual, base=line.base, target=line.target, fact_count=line.fact_count, adjustment=line.adjustment
        )
        for line in lines
    }


def recompute_touched(*, period: Period, result_id: int, item_id: int) -> list[int]:
    """Re-evaluate only what a corrected line touches: the appellant's result, and when the scheme ranks
    indicators within peer groups (F12), that peer group. Rows whose scores do not change are not written;
    totals are re-ranked set-based (only changed ranks are written). Returns the ids of results rewritten."""
    snapshot = period.snapshot
    result = SubjectResult.objects.get(pk=result_id)
    indicators = Indicator.objects.in_bulk([row["indicator_id"] for row in snapshot["items"]])
    items = [engine.ItemSpec.from_snapshot(row, indicators) for row in snapshot["items"]]
    uses_peers = any(i.formula_kind == "F12" for i in items)
    results = (
        list(SubjectResult.objects.filter(period=period, peer_group=result.peer_group).order_by("id")) if uses_peers else [result]
    )
    lines_by_result: dict[int, list[ScoreLine]] = {r.pk: [] for r in results}
    for line in ScoreLine.objects.filter(result_id__in=list(lines_by_result)).select_for_update():
        lines_by_result[line.result_id].append(line)
    subjects = [engine.Subject(r.staff_id, r.branch_id, r.peer_group, r.staff_rank) for r in results]
    inputs = {s.key: _inputs_from_lines(lines_by_result[r.pk]) for s, r in zip(subjects, results, strict=True)}
    outputs = engine.evaluate_all(items, subjects, inputs, renormalise=snapshot["renormalise"])
    touched = []
    changed_lines = []
    for subject, res in zip(subjects, results, strict=True):
        output = outputs[subject.key]
        result_changed = res.pk == result_id
        for line in lines_by_result[res.pk]:
            new = output.lines[line.item_id]
            if (line.score, line.ratio, line.peer_rank, line.gate_cap, line.note) != (
                new.score,
                new.ratio,
                new.peer_rank,
                new.gate_cap,
                new.note,
            ) or (res.pk == result_id and line.item_id == item_id):
                line.score, line.ratio, line.peer_rank, line.gate_cap, line.note = (
                    new.score,
                    new.ratio,
                    new.peer_rank,
                    new.gate_cap,
                    new.note,
                )
                line.revision += 1
                changed_lines.append(line)
                result_changed = True
        if result_changed:
            composite = output.composite
            res.weighted_score, res.bonus, res.deduction, res.gate_cap, res.total = (
                composite.weighted,
                composite.bonus,
                composite.deduction,
                composite.gate_cap,
                composite.total,
            )
            res.revision += 1
            res.save(update_fields=["weighted_score", "bonus", "deduction", "gate_cap", "total", "revision", "updated_at"])
            touched.append(res.pk)
    ScoreLine.objects.bulk_update(changed_lines, ["score", "ratio", "peer_rank", "gate_cap", "note", "revision"])
    rank_results(period.pk)
    return touched
