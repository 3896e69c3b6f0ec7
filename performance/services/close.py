"""Period close (考核期结算): create → confirm data → compute (background job, immutable snapshot) → publish →
appeal window → calibration → finalise. Published periods are immutable.
"""

import calendar
import datetime as dt
import gc
import hashlib
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, Conflict
from jikuai.core.jobs import job_run_finish, job_run_progress, job_run_start
from jikuai.core.models import JobRun
from jikuai.core.workdays import get_business_date
from performance import engine
from performance.models import Appeal, Fact, Period, PeriodType, Scheme, ScoreLine, SubjectResult
from performance.services.common import (
    PeriodLockedError,
    end_of_business_day,
    policy_for,
    require_institution,
    require_perm,
    user_of,
    visible_or_404,
)
from performance.services.library import published_version_for, spec_hash, spec_of

logger = logging.getLogger(__name__)

JOB_NAME = "performance.period_close"
CHUNK = 1000  # subjects per write transaction (the writer loads one chunk while the next is evaluated)


class PeriodError(ApplicationError):
    code = "invalid_period"


def period_bounds(period_type: str, start: dt.date) -> tuple[dt.date, dt.date, str]:
    """Periods start on the first day of a month / quarter / year."""
    if start.day != 1:
        raise PeriodError("考核期须从月初开始 / periods start on the first day of a month")
    if period_type == PeriodType.MONTH:
        end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
        return start, end, f"{start:%Y-%m}"
    if period_type == PeriodType.QUARTER:
        if start.month not in (1, 4, 7, 10):
            raise PeriodError("季度考核期须从 1/4/7/10 月开始 / quarters start in January, April, July or October")
        last_month = start.month + 2
        end = dt.date(start.year, last_month, calendar.monthrange(start.year, last_month)[1])
        return start, end, f"{start.year}Q{(start.month - 1) // 3 + 1}"
    if start.month != 1:
        raise PeriodError("年度考核期须从 1 月开始 / years start in January")
    return start, dt.date(start.year, 12, 31), f"{start.year}"


def _lock(period_id: int) -> Period:
    return Period.objects.select_for_update().select_related("scheme", "scheme_version").get(pk=period_id)


def _ensure_manager(actor, period: Period) -> None:
    require_perm(actor, "performance.change_period", "操作考核期", "run periods")
    require_institution(actor, period.institution_id)


@transaction.atomic
def period_create(*, scheme: Scheme, start: dt.date, actor) -> Period:
    """A new period of a scheme, bound to the scheme version published and effective at its start."""
    require_perm(actor, "performance.add_period", "新建考核期", "create periods")
    require_institution(actor, scheme.institution_id)
    start, end, label = period_bounds(scheme.period_type, start)
    version = published_version_for(scheme, start)
    if version is None:
        raise PeriodError(
            f"方案 {scheme.code} 在 {start} 没有已发布的生效版本 / no published version of {scheme.code} effective on {start}",
            code="no_published_version",
        )
    existing = Period.objects.filter(scheme=scheme, start=start).first()
    if existing:
        return existing
    return Period.objects.create(
        institution_id=scheme.institution_id,
        scheme=scheme,
        scheme_version=version,
        period_type=scheme.period_type,
        start=start,
        end=end,
        label=label,
    )


@transaction.atomic
def period_update(*, period_id: int, actor, label: str | None = None, scheme_version=None) -> Period:
    """Edits are allowed only before publication; a published period is immutable (corrections are
    adjustments in a later period)."""
    period = _lock(period_id)
    _ensure_manager(actor, period)
    if period.is_locked:
        raise PeriodLockedError(
            f"考核期 {period.label} 已公示，不能修改；更正请在后续考核期录入调整。",
            "the period is published and immutable; enter corrections as adjustments in a later period",
        )
    if scheme_version is not None:
        if period.state != Period.State.OPEN:
            raise Conflict(
                "数据确认后不能更换方案版本 / the version cannot change after data confirmation", code="period_not_open"
            )
        if scheme_version.scheme_id != period.scheme_id or scheme_version.state != scheme_version.State.PUBLISHED:
            raise PeriodError("只能选择本方案已发布的版本 / choose a published version of this scheme")
        period.scheme_version = scheme_version
    if label is not None:
        period.label = label[:40]
    period.save()
    return period


def _previous_period(period: Period) -> Period | None:
    return (
        Period.objects.filter(scheme_id=period.scheme_id, end__lt=period.start, facts_watermark__isnull=False)
        .order_by("-end")
        .first()
    )


@transaction.atomic
def period_confirm_data(*, period_id: int, actor, comment: str = "") -> Period:
    """确认数据: the facts up to now (by id) are the period's input; later facts of these dates count in the next
    period as adjustments."""
    period = _lock(period_id)
    _ensure_manager(actor, period)
    if period.state == Period.State.CONFIRMED:
        return period
    if period.end >= timezone.localdate() and not comment:
        raise PeriodError("考核期尚未结束，提前确认需要填写说明 / the period has not ended; confirming early needs a comment")
    previous = _previous_period(period)
    period.previous_watermark = previous.facts_watermark if previous else None
    period.facts_watermark = Fact.objects.aggregate(m=Max("id"))["m"] or 0
    period.confirmed_at = timezone.now()
    period.confirm_data(by=user_of(actor), description=comment or "确认数据")
    period.save()
    return period


@transaction.atomic
def period_reopen(*, period_id: int, actor, comment: str) -> Period:
    period = _lock(period_id)
    _ensure_manager(actor, period)
    if period.is_locked:
        raise PeriodLockedError("已公示的考核期不能退回 / a published period cannot be reopened")
    period.reopen(by=user_of(actor), description=comment or "退回采集")
    period.save()
    return period


@transaction.atomic
def period_compute_start(*, period_id: int, actor) -> Period:
    """Queue the computation as a background job (Celery; inline in eager mode after commit)."""
    from performance.tasks import period_compute_task

    period = _lock(period_id)
    _ensure_manager(actor, period)
    if period.state == Period.State.COMPUTING:
        return period
    if period.is_locked:
        raise PeriodLockedError("已公示的考核期不能重新计算 / a published period cannot be recomputed")
    version = period.scheme_version
    items = list(version.items.order_by("order", "id"))
    # the frozen content of the published version (formula presets edited later do not leak in)
    spec = spec_of(version, [dict(i.resolved, item_id=i.pk) for i in items], version.grading, version.incentive)
    if version.state == version.State.DRAFT or spec_hash(spec) != version.spec_hash:
        raise PeriodError("方案版本内容与发布时不一致 / the scheme version changed after publication", code="scheme_tampered")
    period.snapshot = {
        **spec,
        "spec_hash": spec_hash(spec),
        "watermark": period.facts_watermark,
        "previous_watermark": period.previous_watermark,
    }
    period.compute_count += 1
    period.compute_error = ""
    period.start_compute(by=user_of(actor), description=f"第 {period.compute_count} 次计算")
    period.save()
    period_id = period.pk
    transaction.on_commit(lambda: period_compute_task.delay(period_id))
    return period


LINE_COLUMNS = [
    "result_id",
    "item_id",
    "indicator_id",
    "actual",
    "base",
    "target",
    "fact_count",
    "adjustment",
    "ratio",
    "peer_rank",
    "score",
    "gate_cap",
    "note",
    "revision",
]
RESULT_COLUMNS = [
    "id",
    "period_id",
    "staff_id",
    "branch_id",
    "peer_group",
    "staff_rank",
    "weighted_score",
    "bonus",
    "deduction",
    "gate_cap",
    "total",
    "grade",
    "final_grade",
    "revision",
    "updated_at",
]


def _tsv(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return str(value)


def _result_ids(count: int) -> list[int]:
    """Ids for the results from the table's sequence, in one round trip (sequences are not transactional)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [SubjectResult._meta.db_table, count],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _digest_line(subject_key, item_id: int, line) -> bytes:
    """One line of the snapshot's input digest (subjects in order, items in order)."""
    return f"{subject_key}|{item_id}|{line.actual}|{line.base}|{line.target}\n".encode()


def _chunk_text(period: Period, chunk: list, ids, computation, outputs: dict, digest, now) -> tuple[str, str, int]:
    """One chunk in COPY text format (results, score lines), adding its inputs to the snapshot digest on the way
    (the digest covers the same lines in the same order as a separate pass would)."""
    result_rows = []
    line_rows = []
    items = [(item.item_id, item.indicator_id) for item in computation.items]
    null = "\\N"
    period_id = period.pk
    update = digest.update
    for subject in chunk:
        key = subject.key
        inputs, output = computation.inputs[key], outputs[key]
        composite = output.composite
        result_id = next(ids)
        result_rows.append(
            "\t".join(
                map(
                    _tsv,
                    (
                        result_id,
                        period_id,
                        subject.staff_id,
                        subject.branch_id,
                        subject.peer_group,
                        subject.staff_rank,
                        composite.weighted,
                        composite.bonus,
                        composite.deduction,
                        composite.gate_cap,
                        composite.total,
                        "",
                        "",
                        0,
                        now,
                    ),
                )
            )
        )
        lines_out = output.lines
        for item_id, indicator_id in items:
            line, out = inputs[item_id], lines_out[item_id]
            actual, base, target = line.actual, line.base, line.target
            actual_text = str(actual)
            base_text = str(base)
            target_text = str(target)
            update(f"{key}|{item_id}|{actual_text}|{base_text}|{target_text}\n".encode())
            ratio, rank, score, cap = out.ratio, out.peer_rank, out.score, out.gate_cap
            line_rows.append(
                f"{result_id}\t{item_id}\t{indicator_id}\t{null if actual is None else actual_text}\t"
                f"{null if base is None else base_text}\t{null if target is None else target_text}\t{line.fact_count}\t"
                f"{line.adjustment}\t{null if ratio is None else ratio}\t{null if rank is None else rank}\t"
                f"{null if score is None else score}\t{null if cap is None else cap}\t{_tsv(out.note)}\t0"
            )
    return "\n".join(result_rows) + "\n", "\n".join(line_rows) + "\n", len(line_rows)


def _load_chunk(result_text: str, line_text: str) -> None:
    """COPY one chunk's results and lines in one transaction (derived rows of a recomputable job: the commit need
    not wait for the WAL flush)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        for model, columns, text in ((SubjectResult, RESULT_COLUMNS, result_text), (ScoreLine, LINE_COLUMNS, line_text)):
            with cursor.cursor.copy(f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(text)


def _close_own_connection() -> None:
    connection.close()  # the writer thread's connection


def _write_chunk_orm(period: Period, chunk: list, computation, outputs: dict, digest) -> int:
    """Elsewhere than PostgreSQL: bulk inserts."""
    results = SubjectResult.objects.bulk_create([_result_row(period, s, outputs[s.key].composite) for s in chunk])
    lines = []
    for subject, result in zip(chunk, results, strict=True):
        inputs, output = computation.inputs[subject.key], outputs[subject.key]
        for item in computation.items:
            line, out = inputs[item.item_id], output.lines[item.item_id]
            digest.update(_digest_line(subject.key, item.item_id, line))
            lines.append(
                ScoreLine(
                    result_id=result.pk,
                    item_id=item.item_id,
                    indicator_id=item.indicator_id,
                    actual=line.actual,
                    base=line.base,
                    target=line.target,
                    fact_count=line.fact_count,
                    adjustment=line.adjustment,
                    ratio=out.ratio,
                    peer_rank=out.peer_rank,
                    score=out.score,
                    gate_cap=out.gate_cap,
                    note=out.note,
                    revision=0,
                )
            )
    ScoreLine.objects.bulk_create(lines, batch_size=2000)
    return len(lines)


def _evaluate_and_write(period: Period, subjects: list, computation, run) -> tuple[str, dict[str, int]]:
    """Evaluate chunk by chunk and write each chunk in its own transaction. On PostgreSQL outside a transaction
    the COPY of chunk n runs on a second connection (a writer thread) while this thread evaluates chunk n + 1, so
    the database's load work overlaps the formula evaluation; progress is reported as chunks commit. Returns the
    digest of the snapshot's inputs and the phase timings."""
    digest = hashlib.sha256(period.snapshot.get("spec_hash", "").encode())
    timings = {"evaluate_ms": 0.0, "format_ms": 0.0, "write_wait_ms": 0.0}
    postgres = connection.vendor == "postgresql"
    ids = iter(_result_ids(len(subjects))) if postgres and subjects else None
    writer = ThreadPoolExecutor(max_workers=1) if postgres and not connection.in_atomic_block else None
    pending: deque = deque()
    now = timezone.now()

    def settle(*, wait: bool) -> None:
        while pending and (wait or pending[0][0].done()):
            future, count, offset, lines = pending.popleft()
            began = time.perf_counter()
            future.result()  # a failed load fails the job
            timings["write_wait_ms"] += time.perf_counter() - began
            job_run_progress(run, add=count, cursor={"offset": offset}, counts={"lines": lines})

    try:
        for offset in range(0, len(subjects), CHUNK):
            chunk = subjects[offset : offset + CHUNK]
            began = time.perf_counter()
            outputs = computation.evaluate(chunk)
            evaluated = time.perf_counter()
            timings["evaluate_ms"] += evaluated - began
            if not postgres:
                with transaction.atomic():
                    lines = _write_chunk_orm(period, chunk, computation, outputs, digest)
                job_run_progress(run, add=len(chunk), cursor={"offset": offset + len(chunk)}, counts={"lines": lines})
                continue
            result_text, line_text, lines = _chunk_text(period, chunk, ids, computation, outputs, digest, now)
            timings["format_ms"] += time.perf_counter() - evaluated
            if writer is None:
                _load_chunk(result_text, line_text)
                job_run_progress(run, add=len(chunk), cursor={"offset": offset + len(chunk)}, counts={"lines": lines})
                continue
            pending.append((writer.submit(_load_chunk, result_text, line_text), len(chunk), offset + len(chunk), lines))
            settle(wait=False)
        settle(wait=True)
    finally:
        if writer is not None:
            for future, *_ in pending:
                future.cancel()
            writer.submit(_close_own_connection)
            writer.shutdown(wait=True)
    return digest.hexdigest(), {key: round(value * 1000) for key, value in timings.items()}


RANK_SQL = """
UPDATE {table} SET peer_rank = r.pr, overall_rank = r.orank, peer_size = r.ps
FROM (
    SELECT id,
           RANK() OVER (PARTITION BY peer_group ORDER BY total DESC) AS pr,
           RANK() OVER (ORDER BY total DESC) AS orank,
           COUNT(*) OVER (PARTITION BY peer_group) AS ps
    FROM {table} WHERE period_id = %s
) r
WHERE {table}.id = r.id
  AND ({table}.peer_rank IS NULL OR {table}.peer_rank <> r.pr OR {table}.overall_rank IS NULL
       OR {table}.overall_rank <> r.orank OR {table}.peer_size IS NULL OR {table}.peer_size <> r.ps)
"""


def rank_results(period_id: int) -> int:
    """Competition ranking (1, 2, 2, 4) of totals within peer groups and overall, set-based; only rows whose
    rank changes are written."""
    table = SubjectResult._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(RANK_SQL.format(table=table), [period_id])
        return cursor.rowcount


def period_compute_run(*, period_id: int) -> Period:
    """The job: read the snapshot, aggregate facts in SQL, evaluate, write results in chunks with progress."""
    period = Period.objects.select_related("scheme").get(pk=period_id)
    if period.state != Period.State.COMPUTING:
        return period
    run, should_work = job_run_start(job=JOB_NAME, business_date=period.end, run_key=f"period-{period.pk}-{period.compute_count}")
    Period.objects.filter(pk=period.pk).update(job_run=run)
    if not should_work:
        return period
    # The close holds ~10 small objects per score line (Decimals, line inputs and outputs, dicts) until it ends;
    # the cyclic collector would re-scan that growing heap over and over (a quarter of the Python time
    # measured at 2,000 staff) while none of it forms cycles. Paused for the job, restored after it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        snapshot = period.snapshot
        subjects = engine.subjects_for(institution_id=period.institution_id, position=snapshot["position"])
        JobRun.objects.filter(pk=run.pk).update(total=len(subjects))
        run.total = len(subjects)
        computation = engine.compute(
            institution_id=period.institution_id,
            snapshot=snapshot,
            start=period.start,
            end=period.end,
            watermark=period.facts_watermark,
            previous_watermark=period.previous_watermark,
            subjects=subjects,
            evaluate=False,
        )
        with transaction.atomic():
            # a rerun (after reopen or a crash) recomputes from the same snapshot: derived rows are replaced
            ScoreLine.objects.filter(result__period=period).delete()
            SubjectResult.objects.filter(period=period).delete()
        write_started = time.perf_counter()
        snapshot_hash, write_timings = _evaluate_and_write(period, subjects, computation, run)
        written_at = time.perf_counter()
        with transaction.atomic():
            rank_results(period.pk)
            period = Period.objects.select_for_update().get(pk=period.pk)
            period.snapshot_hash = snapshot_hash
            period.computed_at = timezone.now()
            period.finish_compute(description=f"计算完成：{len(subjects)} 个考核对象")
            period.save()
        timings = {
            **computation.timings,
            **write_timings,  # evaluation, formatting (with the digest) and waiting for the writer, inside write_ms
            "write_ms": round((written_at - write_started) * 1000),
            "rank_ms": round((time.perf_counter() - written_at) * 1000),
        }
        job_run_progress(run, counts=timings)
        job_run_finish(run)
    except Exception as exc:
        logger.exception("performance: period %s computation failed", period_id)
        job_run_finish(run, error=repr(exc))
        with transaction.atomic():
            period = Period.objects.select_for_update().get(pk=period_id)
            if period.state == Period.State.COMPUTING:
                period.compute_error = repr(exc)[:4000]
                period.fail_compute(description="计算失败")
                period.save()
        raise
    finally:
        if collecting:
            gc.enable()
    return period


def _result_row(period: Period, subject: engine.Subject, composite) -> SubjectResult:
    return SubjectResult(
        period=period,
        staff_id=subject.staff_id,
        branch_id=subject.branch_id,
        peer_group=subject.peer_group,
        staff_rank=subject.staff_rank,
        weighted_score=composite.weighted,
        bonus=composite.bonus,
        deduction=composite.deduction,
        gate_cap=composite.gate_cap,
        total=composite.total,
    )


@transaction.atomic
def period_publish(*, period_id: int, actor, comment: str = "") -> Period:
    """公示: staff see their results; the appeal window opens for the institution's configured days."""
    period = _lock(period_id)
    _ensure_manager(actor, period)
    if period.state == Period.State.PUBLISHED:
        return period
    if period.state != Period.State.COMPUTED:
        raise Conflict("只有计算完成的考核期可以公示 / only a computed period can be published", code="period_not_computed")
    # the window runs from the business date of publication through the configured number of business dates after it
    period.published_at = timezone.now()
    last_day = get_business_date() + dt.timedelta(days=policy_for(period.institution_id).appeal_window_days)
    period.appeal_closes_at = end_of_business_day(last_day)
    period.publish(by=user_of(actor), description=comment or "公示")
    period.save()
    bus.publish(
        "performance.period_published",
        {
            "period_id": period.pk,
            "scheme_code": period.scheme.code,
            "institution_id": period.institution_id,
            "label": period.label,
            "appeal_closes_at": period.appeal_closes_at.isoformat(),
        },
    )
    return period


@transaction.atomic
def period_close_appeals(*, period_id: int, actor, comment: str = "") -> Period:
    """申诉期结束 → 校准: the window must have passed and every appeal must be decided; initial grades (F16)."""
    from performance.services.pay import grades_apply

    period = _lock(period_id)
    _ensure_manager(actor, period)
    if period.state == Period.State.CALIBRATING:
        return period
    if period.state != Period.State.PUBLISHED:
        raise Conflict("只有公示中的考核期可以结束申诉期 / only a published period", code="period_not_published")
    if period.appeal_closes_at and get_business_date() <= period.appeal_last_day:
        raise Conflict(
            f"申诉期至 {period.appeal_last_day:%Y-%m-%d} 才结束 / the appeal window is still open",
            code="appeal_window_open",
        )
    pending = Appeal.objects.filter(period=period, state=Appeal.State.SUBMITTED).count()
    if pending:
        raise Conflict(f"还有 {pending} 件申诉未处理 / {pending} appeals are undecided", code="appeals_pending")
    period.close_appeals(by=user_of(actor), description=comment or "申诉期结束，进入校准")
    period.save()
    grades_apply(period)
    return period


def period_for_actor(actor, period_id: int) -> Period:
    return visible_or_404(
        Period.objects.select_related("scheme", "scheme_version"), actor, period_id, what_zh="考核期", what_en="period"
    )
