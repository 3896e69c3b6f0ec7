"""The scoring engine: set-based aggregation of facts in SQL (GROUP BY subject, indicator), targets resolved
from an in-memory book, and Python only for the formula evaluation per (subject, item).

Used by the period close (persisted, from the period's immutable snapshot) and by the staff pages (a live
preview of the current month for one peer group, never persisted).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from jikuai.core.money import round_to
from jikuai.org import roles
from jikuai.org.models import Branch, Staff
from performance import formulas
from performance.formulas import FormulaEvaluationError, FormulaInput, ItemScore
from performance.models import Fact, Indicator, Position, Scheme, StaffPosition
from performance.services.targets import TargetBook

ZERO = Decimal(0)
DEFAULT_PEER_GROUP = "默认"
ROLE_OF_POSITION = {Position.ACCOUNT_MANAGER: roles.ACCOUNT_MANAGER, Position.BRANCH_MANAGER: roles.BRANCH_MANAGER}


# --------------------------------------------------------------------------------------------------
# subjects (who is assessed)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    staff_id: int | None
    branch_id: int | None
    peer_group: str
    staff_rank: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return ("staff", self.staff_id) if self.staff_id else ("branch", self.branch_id)


def subjects_for(*, institution_id: int, position: str, staff_ids: list[int] | None = None) -> list[Subject]:
    """Participants: branches for 网点 schemes; otherwise active staff whose assigned position matches, or
    (without an assignment) whose role group matches the position. Peer group: the assignment's override,
    else the branch's size group."""
    if position == Position.BRANCH:
        rows = Branch.objects.filter(institution_id=institution_id, is_active=True).order_by("id").values_list("id", "size_group")
        return [Subject(None, branch_id, size or DEFAULT_PEER_GROUP) for branch_id, size in rows]
    condition = Q(performance_position__position=position)
    role = ROLE_OF_POSITION.get(position)
    if role:
        condition |= Q(performance_position__isnull=True, user__groups__name=role)
    qs = Staff.objects.filter(condition, institution_id=institution_id, is_active=True)
    if staff_ids is not None:
        qs = qs.filter(pk__in=staff_ids)
    rows = (
        qs.order_by("id")
        .values_list("id", "branch_id", "rank", "branch__size_group", "performance_position__peer_group")
        .distinct()
    )
    seen = set()
    subjects = []
    for staff_id, branch_id, rank, size_group, override in rows:
        if staff_id in seen:
            continue
        seen.add(staff_id)
        subjects.append(Subject(staff_id, branch_id, override or size_group or DEFAULT_PEER_GROUP, rank))
    return subjects


def position_of(staff: Staff) -> str | None:
    assigned = StaffPosition.objects.filter(staff=staff).values_list("position", flat=True).first()
    if assigned:
        return assigned
    groups = set(staff.user.groups.values_list("name", flat=True))
    for position, role in ROLE_OF_POSITION.items():
        if role in groups:
            return position
    return None


# --------------------------------------------------------------------------------------------------
# aggregation
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Aggregate:
    value: Decimal = ZERO
    base: Decimal = ZERO
    count: int = 0


def base_indicators(indicators: dict[int, Indicator]) -> dict[int, Indicator]:
    """The scheme's indicators plus the numerators and denominators of its ratios."""
    wanted = dict(indicators)
    missing = {i.numerator_id for i in indicators.values() if i.numerator_id} | {
        i.denominator_id for i in indicators.values() if i.denominator_id
    }
    missing -= set(wanted)
    if missing:
        wanted.update(Indicator.objects.in_bulk(list(missing)))
    return wanted


PG_WORK_MEM = "256MB"  # the close's GROUP BY and window sort stay in memory (set per transaction of the job)
PG_SESSION = (f"SET LOCAL work_mem = '{PG_WORK_MEM}'", "SET LOCAL jit = off")  # JIT compiles cost more than they save here


def aggregate_facts(
    *,
    institution_id: int,
    indicators: dict[int, Indicator],
    start: dt.date,
    end: dt.date,
    group: str,
    watermark: int | None,
    previous_watermark: int | None,
    group_ids: list[int] | None = None,
    timings: dict | None = None,
) -> dict[tuple[int, int], Aggregate]:
    """Σ per (subject, indicator) in SQL. Flows (sum, count) take the facts dated in the period plus late facts
    of earlier dates that arrived after the previous period's watermark (corrections carried forward);
    daily averages take Σ balance-days of the period ÷ days; period-end measures take, per business object,
    the latest snapshot (all its credited rows) dated on or before the end."""
    assert group in ("staff_id", "branch_id")
    snapshots = [i.pk for i in indicators.values() if i.measure == Indicator.Measure.PERIOD_END]
    others = [
        i
        for i in indicators.values()
        if i.measure in (Indicator.Measure.SUM, Indicator.Measure.COUNT, Indicator.Measure.DAILY_AVERAGE)
    ]
    snapshot_job = None
    began = time.perf_counter()
    if snapshots and others and group_ids is None and connection.vendor == "postgresql" and not connection.in_atomic_block:
        # the full close on PostgreSQL: the snapshot scan runs on a second connection while this one aggregates flows
        # (both read committed facts up to the watermark, so they see the same input)
        pool = ThreadPoolExecutor(max_workers=1)
        snapshot_job = pool.submit(_snapshot_rows_own_connection, institution_id, snapshots, end, group, watermark)
        pool.shutdown(wait=False)
    with transaction.atomic():
        _session()
        result = _aggregate(
            institution_id,
            indicators,
            start,
            end,
            group,
            watermark,
            previous_watermark,
            group_ids,
            with_snapshots=snapshot_job is None,
        )
    flows_done = time.perf_counter()
    if snapshot_job is not None:
        _add_snapshots(result, snapshot_job.result())
    if timings is not None:  # the flow scan (with the snapshot scan when sequential), then the wait for the parallel scan
        timings["aggregate_flows_ms"] = round((flows_done - began) * 1000)
        timings["aggregate_snapshot_wait_ms"] = round((time.perf_counter() - flows_done) * 1000)
    return result


def _session() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement in PG_SESSION:
                cursor.execute(statement)


def _snapshot_rows_own_connection(institution_id, snapshots, end, group, watermark):
    try:
        with transaction.atomic():
            _session()
            return _snapshot_rows(institution_id, snapshots, end, group, watermark, None)
    finally:
        connection.close()  # this thread's connection


def _add_snapshots(result, rows) -> None:
    for grp, indicator_id, value, count in rows:
        agg = result[(grp, indicator_id)]
        agg.value += value or ZERO
        agg.count += count


def _aggregate(institution_id, indicators, start, end, group, watermark, previous_watermark, group_ids, *, with_snapshots=True):
    result: dict[tuple[int, int], Aggregate] = defaultdict(Aggregate)
    flow = [i.pk for i in indicators.values() if i.measure in (Indicator.Measure.SUM, Indicator.Measure.COUNT)]
    averages = [i.pk for i in indicators.values() if i.measure == Indicator.Measure.DAILY_AVERAGE]
    snapshots = [i.pk for i in indicators.values() if i.measure == Indicator.Measure.PERIOD_END] if with_snapshots else []
    base = Fact.objects.filter(institution_id=institution_id, **{f"{group}__isnull": False})
    if watermark is not None:
        base = base.filter(id__lte=watermark)
    if group_ids is not None:
        base = base.filter(**{f"{group}__in": group_ids})
    in_period = Q(fact_date__gte=start, fact_date__lte=end)
    if flow or averages:
        # one scan for flows and daily averages; late facts (earlier dates, after the previous watermark) count for flows
        condition = in_period & Q(indicator_id__in=flow + averages)
        if previous_watermark is not None and flow:
            condition |= Q(fact_date__lt=start, id__gt=previous_watermark, indicator_id__in=flow)
        rows = (
            base.filter(condition)
            .values_list(group, "indicator_id")
            .annotate(v=Sum("value"), b=Sum("base_value"), n=Count("id"))
            .order_by()
        )
        for grp, indicator_id, value, base_value, count in rows:
            result[(grp, indicator_id)] = Aggregate(value or ZERO, base_value or ZERO, count)
    if averages:
        days = Decimal((end - start).days + 1)
        average_ids = set(averages)
        for (_, indicator_id), agg in result.items():
            if indicator_id in average_ids:
                agg.value = round_to(agg.value / days, 4)
                agg.base = round_to(agg.base / days, 4)
    if snapshots:
        _add_snapshots(result, _snapshot_rows(institution_id, snapshots, end, group, watermark, group_ids))
    return result


def _snapshot_rows(institution_id, indicator_ids, end, group, watermark, group_ids):
    """Period-end measures: per business object (indicator, subject) the latest snapshot on or before the end —
    identified by the source key of its newest row — and all of that snapshot's credited rows summed per
    subject. One scan with a window function (PostgreSQL and SQLite)."""
    table = Fact._meta.db_table
    params: list = [institution_id, end, *indicator_ids]
    marks = ",".join(["%s"] * len(indicator_ids))
    watermark_sql = ""
    if watermark is not None:
        watermark_sql = "AND id <= %s"
        params.append(watermark)
    group_sql = ""
    if group_ids is not None:
        if not group_ids:
            return []
        group_sql = f"AND grp IN ({','.join(['%s'] * len(group_ids))})"
        params += list(group_ids)
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""  # byte order: the cheapest text comparison
    sql = f"""
        SELECT grp, indicator_id, SUM(value), COUNT(*) FROM (
            SELECT {group} AS grp, indicator_id, value, source_key,
                   FIRST_VALUE(source_key) OVER (
                       PARTITION BY indicator_id, subject_id, subject_kind{collate} ORDER BY fact_date DESC, id DESC
                   ) AS latest_key
            FROM {table}
            WHERE institution_id = %s AND fact_date <= %s AND indicator_id IN ({marks}) {watermark_sql}
        ) snapshots
        WHERE source_key = latest_key AND grp IS NOT NULL {group_sql}
        GROUP BY grp, indicator_id
    """  # noqa: S608 (identifiers are fixed names; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(g, i, v if isinstance(v, Decimal) or v is None else Decimal(str(v)), n) for g, i, v, n in cursor.fetchall()]


def actual_of(indicator: Indicator, grp: int, aggregates: dict[tuple[int, int], Aggregate]) -> Aggregate:
    if indicator.measure == Indicator.Measure.RATIO:
        numerator = aggregates.get((grp, indicator.numerator_id)) or Aggregate()
        denominator = aggregates.get((grp, indicator.denominator_id)) or Aggregate()
        value = numerator.value * indicator.ratio_scale / denominator.value if denominator.value else ZERO
        return Aggregate(value=round_to(value, 6), count=numerator.count + denominator.count)
    return aggregates.get((grp, indicator.pk)) or Aggregate()  # sums of 4-place values are exact; averages rounded


# --------------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemSpec:
    item_id: int
    indicator_id: int
    kind: str
    weight: Decimal
    formula_kind: str
    params: dict
    needs_target: bool
    higher_is_better: bool

    @classmethod
    def from_snapshot(cls, row: dict, indicators: dict[int, Indicator]) -> ItemSpec:
        return cls(
            item_id=row["item_id"],
            indicator_id=row["indicator_id"],
            kind=row["kind"],
            weight=Decimal(row["weight"]),
            formula_kind=row["formula_kind"],
            params=formulas.prepare(row["params"]),
            needs_target=row["needs_target"],
            higher_is_better=indicators[row["indicator_id"]].direction == Indicator.Direction.HIGHER,
        )


@dataclass(slots=True)
class LineInput:
    actual: Decimal
    base: Decimal | None
    target: Decimal | None
    fact_count: int = 0
    adjustment: Decimal = ZERO

    @property
    def effective_actual(self) -> Decimal:
        return self.actual + self.adjustment


@dataclass(slots=True)
class LineOutput:
    score: Decimal | None
    ratio: Decimal | None = None
    peer_rank: int | None = None
    gate_cap: Decimal | None = None
    note: str = ""
    steps: tuple[str, ...] = ()


@dataclass
class SubjectOutput:
    lines: dict[int, LineOutput] = field(default_factory=dict)
    composite: formulas.Composite | None = None


def peer_item_ranks(
    items: list[ItemSpec], subjects: list[Subject], inputs: dict[tuple, dict[int, LineInput]]
) -> dict[tuple[int, tuple], tuple[int, int]]:
    """F12: competition rank of each subject's actual within its peer group, per rank-scored item."""
    ranks: dict[tuple[int, tuple], tuple[int, int]] = {}
    by_group: dict[str, list[Subject]] = defaultdict(list)
    for subject in subjects:
        by_group[subject.peer_group].append(subject)
    for item in items:
        if item.formula_kind != "F12":
            continue
        for members in by_group.values():
            values = [(s.key, inputs[s.key][item.item_id].effective_actual) for s in members]
            ranked = formulas.competition_ranks(values, higher_is_better=item.higher_is_better)
            for key, rank in ranked.items():
                ranks[(item.item_id, key)] = (rank, len(members))
    return ranks


def evaluate_subject(
    items: list[ItemSpec],
    inputs: dict[int, LineInput],
    ranks: dict[int, tuple[int, int]],
    *,
    renormalise: bool,
    explain: bool = False,
    memo: dict | None = None,
) -> SubjectOutput:
    """Score one subject's items and combine them (F13/F14). ``memo`` (quiet evaluation only) shares the result of
    an item between subjects whose inputs are equal — formulas are pure functions of (actual, target, base, rank,
    peer group size) and the item's frozen parameters, and every score and ratio is rounded to a fixed number of
    places, so equal inputs give identical outputs; counts, zeros and rank-default targets repeat a lot."""
    out = SubjectOutput()
    scores = []
    for item in items:
        line = inputs[item.item_id]
        rank, peer_count = ranks.get(item.item_id, (None, None))
        if memo is not None:
            key = (item.item_id, line.actual + line.adjustment, line.target, line.base, rank, peer_count)
            cached = memo.get(key)
            if cached is None:
                cached = memo[key] = _evaluate_line(item, line, rank, peer_count, renormalise=renormalise, explain=False)
            out.lines[item.item_id], score = cached
            scores.append(score)
            continue
        output, score = _evaluate_line(item, line, rank, peer_count, renormalise=renormalise, explain=explain)
        out.lines[item.item_id] = output
        scores.append(score)
    out.composite = formulas.composite(scores, renormalise=renormalise)
    return out


def _evaluate_line(item: ItemSpec, line: LineInput, rank, peer_count, *, renormalise: bool, explain: bool):
    if item.needs_target and line.target is None:
        output = LineOutput(score=None if renormalise else ZERO, note="无目标，不计分（权重归一 F13）/ no target")
    else:
        try:
            result = formulas.evaluate(
                item.formula_kind,
                FormulaInput(
                    actual=line.effective_actual,
                    target=line.target,
                    weight=item.weight,
                    base=line.base,
                    rank=rank,
                    peer_count=peer_count,
                ),
                item.params,
            )
            output = LineOutput(
                score=result.score,
                ratio=result.ratio,
                peer_rank=rank,
                gate_cap=result.gate_cap,
                steps=result.steps if explain else (),
            )
        except FormulaEvaluationError as exc:
            output = LineOutput(score=None if renormalise else ZERO, note=exc.message_zh[:120])
    return output, ItemScore(kind=item.kind, weight=item.weight, score=output.score, gate_cap=output.gate_cap)


@dataclass
class Computation:
    subjects: list[Subject]
    items: list[ItemSpec]
    inputs: dict[tuple, dict[int, LineInput]]
    outputs: dict[tuple, SubjectOutput]
    indicators: dict[int, Indicator]
    timings: dict[str, int] = field(default_factory=dict)  # milliseconds per phase
    renormalise: bool = True
    ranks: dict[tuple[int, tuple], tuple[int, int]] | None = None  # F12 peer ranks (set when evaluation is deferred)
    memo: dict = field(default_factory=dict)  # item results by equal inputs, shared by the chunks
    fill: Callable[[list[Subject]], None] | None = None  # builds the inputs of a chunk (deferred evaluation)

    def evaluate(self, subjects: list[Subject]) -> dict[tuple, SubjectOutput]:
        """Evaluate some subjects (quietly) after ``compute(..., evaluate=False)``: the period close evaluates chunk
        by chunk while the previous chunk is being written."""
        if self.fill is not None:
            self.fill(subjects)
        if self.ranks is None:
            self.ranks = peer_item_ranks(self.items, self.subjects, self.inputs)
        with formulas.quiet():
            return evaluate_subjects(self.items, subjects, self.inputs, self.ranks, renormalise=self.renormalise, memo=self.memo)


def compute(
    *,
    institution_id: int,
    snapshot: dict,
    start: dt.date,
    end: dt.date,
    watermark: int | None,
    previous_watermark: int | None,
    subjects: list[Subject],
    explain: bool = False,
    evaluate: bool = True,
) -> Computation:
    """Aggregate, resolve targets and evaluate every subject. ``snapshot`` is the frozen scheme spec. With
    ``evaluate=False`` only the inputs and the F12 peer ranks are prepared (``Computation.evaluate`` per chunk)."""
    item_rows = snapshot["items"]
    scheme_indicators = Indicator.objects.in_bulk([row["indicator_id"] for row in item_rows])
    indicators = base_indicators(scheme_indicators)
    items = [ItemSpec.from_snapshot(row, indicators) for row in item_rows]
    by_branch = snapshot["position"] == Position.BRANCH or snapshot["aggregation"] == Scheme.Aggregation.BRANCH
    group = "branch_id" if by_branch else "staff_id"
    group_ids = None
    if len(subjects) < 500:  # small previews read only their own rows
        group_ids = sorted(
            {(s.branch_id if by_branch else s.staff_id) for s in subjects if (s.branch_id if by_branch else s.staff_id)}
        )
    started = time.perf_counter()
    scan_timings: dict[str, int] = {}
    aggregates = aggregate_facts(
        institution_id=institution_id,
        indicators=indicators,
        start=start,
        end=end,
        group=group,
        watermark=watermark,
        previous_watermark=previous_watermark,
        group_ids=group_ids,
        timings=scan_timings,
    )
    aggregated = time.perf_counter()
    book = TargetBook(institution_id, scheme_indicators, start, end)
    inputs: dict[tuple, dict[int, LineInput]] = {}
    branch_targets = snapshot["position"] == Position.BRANCH or snapshot["aggregation"] == Scheme.Aggregation.BRANCH
    # per item, once: what to read (the loop below runs staff × items times)
    plans = []
    for item in items:
        indicator = scheme_indicators[item.indicator_id]
        plans.append(
            (
                item.item_id,
                indicator,
                indicator.measure == Indicator.Measure.RATIO,
                indicator.measure == Indicator.Measure.DAILY_AVERAGE,
                book.single_month(item.indicator_id),
            )
        )
    empty = Aggregate()

    def fill(chunk: list[Subject], chunk_plans=plans, into=inputs) -> None:
        """The line inputs (actual, base, target, fact count) of some subjects."""
        for subject in chunk:
            grp = subject.branch_id if by_branch else subject.staff_id
            if branch_targets:
                keys = TargetBook.branch_keys(subject.branch_id)
            else:
                keys = TargetBook.staff_keys(subject.staff_id, subject.staff_rank, subject.branch_id)
            lines = {}
            for item_id, indicator, is_ratio, is_average, month_targets in chunk_plans:
                if not grp:
                    agg = empty
                elif is_ratio:
                    agg = actual_of(indicator, grp, aggregates)
                else:
                    agg = aggregates.get((grp, indicator.pk), empty)
                if month_targets is None:
                    target = book.resolve(indicator.pk, keys)
                else:
                    target = None
                    for key in keys:
                        target = month_targets.get(key)
                        if target is not None:
                            break
                lines[item_id] = LineInput(agg.value, agg.base if is_average else None, target, agg.count)
            into[subject.key] = lines

    renormalise = snapshot["renormalise"]
    ranks = None
    if evaluate:
        fill(subjects)
    else:
        # deferred: inputs are built per chunk by Computation.evaluate; the F12 peer ranks need every subject's
        # actual of the ranked items now
        ranked = [item.item_id for item in items if item.formula_kind == "F12"]
        rank_inputs: dict[tuple, dict[int, LineInput]] = {}
        if ranked:
            fill(subjects, [plan for plan in plans if plan[0] in ranked], rank_inputs)
        ranks = peer_item_ranks(items, subjects, rank_inputs)
    resolved = time.perf_counter()
    if not evaluate:
        outputs = {}
    elif explain:
        outputs = evaluate_all(items, subjects, inputs, renormalise=renormalise, explain=True)
    else:
        with formulas.quiet():
            outputs = evaluate_all(items, subjects, inputs, renormalise=renormalise)
    evaluated = time.perf_counter()
    timings = {
        "aggregate_ms": round((aggregated - started) * 1000),
        **scan_timings,
        "targets_inputs_ms": round((resolved - aggregated) * 1000),
    }
    if evaluate:
        timings["evaluate_ms"] = round((evaluated - resolved) * 1000)
    return Computation(
        subjects=subjects,
        items=items,
        inputs=inputs,
        outputs=outputs,
        indicators=scheme_indicators,
        timings=timings,
        renormalise=renormalise,
        ranks=ranks,
        fill=None if evaluate else fill,
    )


def evaluate_all(items, subjects, inputs, *, renormalise: bool, explain: bool = False) -> dict[tuple, SubjectOutput]:
    ranks = peer_item_ranks(items, subjects, inputs)
    return evaluate_subjects(items, subjects, inputs, ranks, renormalise=renormalise, explain=explain)


def evaluate_subjects(
    items, subjects, inputs, ranks, *, renormalise: bool, explain: bool = False, memo: dict | None = None
) -> dict[tuple, SubjectOutput]:
    ranked_items = [item.item_id for item in items if item.formula_kind == "F12"]  # the only items with peer ranks
    memo = None if explain else ({} if memo is None else memo)
    outputs = {}
    for subject in subjects:
        key = subject.key
        subject_ranks = {item_id: ranks[(item_id, key)] for item_id in ranked_items if (item_id, key) in ranks}
        outputs[key] = evaluate_subject(items, inputs[key], subject_ranks, renormalise=renormalise, explain=explain, memo=memo)
    return outputs
