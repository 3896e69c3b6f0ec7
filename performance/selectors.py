"""Reads for pages, admin and API; everything a staff member can reach is scoped to what they may see."""

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from jikuai.core.masking import mask_name
from jikuai.customers.models import Customer
from jikuai.org.models import Staff
from jikuai.org.scoping import scope_queryset
from performance import engine, formulas
from performance.models import (
    Appeal,
    AttributionClaim,
    Fact,
    Indicator,
    Period,
    Scheme,
    SubjectResult,
)
from performance.services.library import published_version_for, spec_of

VISIBLE_STATES = (Period.State.PUBLISHED, Period.State.CALIBRATING, Period.State.FINALISED)


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def scheme_for_staff(staff: Staff) -> Scheme | None:
    position = engine.position_of(staff)
    if position is None or staff.institution_id is None:
        return None
    return (
        Scheme.objects.filter(institution_id=staff.institution_id, position=position, is_active=True)
        .order_by("period_type", "code")
        .first()
    )


@dataclass
class ProgressLine:
    indicator: Indicator
    kind: str
    weight: Decimal
    actual: Decimal
    target: Decimal | None
    ratio: Decimal | None
    score: Decimal | None
    note: str

    @property
    def bar_percent(self) -> int:
        """Bar length for the SVG chart: completion capped at 150 % of the target, as 0–100 of the width."""
        if self.ratio is None:
            return 0
        return int(max(Decimal(0), min(self.ratio, Decimal("1.5"))) / Decimal("1.5") * 100)

    @property
    def target_mark(self) -> int:
        return 66  # 100 % of the target on the 0–150 % axis

    @property
    def ratio_percent(self) -> str:
        return "—" if self.ratio is None else f"{formulas.fmt(self.ratio * 100)}%"


@dataclass
class Progress:
    scheme: Scheme | None
    start: dt.date | None = None
    end: dt.date | None = None
    lines: list[ProgressLine] = field(default_factory=list)
    total: Decimal | None = None
    peer_rank: int | None = None
    peer_size: int = 0
    peer_group: str = ""


def progress_for_staff(staff: Staff, *, day: dt.date | None = None) -> Progress:
    """ "My performance": the current month so far, scored live with the scheme version in force, ranked
    (competition ranking) among the peer group. Nothing is stored."""
    day = day or timezone.localdate()
    scheme = scheme_for_staff(staff)
    if scheme is None:
        return Progress(scheme=None)
    start, end = month_bounds(day)
    version = published_version_for(scheme, start)
    if version is None:
        return Progress(scheme=scheme, start=start, end=end)
    items = list(version.items.order_by("order", "id"))
    snapshot = spec_of(version, [dict(i.resolved, item_id=i.pk) for i in items], version.grading, version.incentive)
    everyone = engine.subjects_for(institution_id=staff.institution_id, position=scheme.position)
    me = next((s for s in everyone if s.staff_id == staff.pk), None)
    if me is None:
        return Progress(scheme=scheme, start=start, end=end)
    peers = [s for s in everyone if s.peer_group == me.peer_group]
    computation = engine.compute(
        institution_id=staff.institution_id,
        snapshot=snapshot,
        start=start,
        end=end,
        watermark=None,
        previous_watermark=None,
        subjects=peers,
    )
    indicators = computation.indicators
    mine = computation.outputs[me.key]
    lines = []
    for item in computation.items:
        line_in, line_out = computation.inputs[me.key][item.item_id], mine.lines[item.item_id]
        lines.append(
            ProgressLine(
                indicator=indicators[item.indicator_id],
                kind=item.kind,
                weight=item.weight,
                actual=line_in.actual,
                target=line_in.target,
                ratio=line_out.ratio,
                score=line_out.score,
                note=line_out.note,
            )
        )
    ranks = formulas.competition_ranks([(s.key, computation.outputs[s.key].composite.total) for s in peers])
    return Progress(
        scheme=scheme,
        start=start,
        end=end,
        lines=lines,
        total=mine.composite.total,
        peer_rank=ranks[me.key],
        peer_size=len(peers),
        peer_group=me.peer_group,
    )


def credited_customers(staff: Staff, *, start: dt.date, end: dt.date, limit: int = 50) -> list[dict]:
    """The customers credited to a staff member in a date range (masked names) with Σ credited per indicator."""
    rows = (
        Fact.objects.filter(staff=staff, fact_date__gte=start, fact_date__lte=end, customer__isnull=False)
        .values("customer_id", "indicator__name", "indicator__unit")
        .annotate(total=Sum("value"), n=Count("id"))
        .order_by("customer_id", "indicator__name")
    )
    by_customer: dict[int, dict] = {}
    for row in rows:
        entry = by_customer.setdefault(row["customer_id"], {"customer_id": row["customer_id"], "items": []})
        entry["items"].append({"indicator": row["indicator__name"], "unit": row["indicator__unit"], "total": row["total"]})
    names = dict(Customer.objects.filter(pk__in=list(by_customer)[:limit]).values_list("id", "name"))
    result = []
    for customer_id in list(by_customer)[:limit]:
        entry = by_customer[customer_id]
        entry["name"] = mask_name(names.get(customer_id, ""))
        result.append(entry)
    return result


def credited_loans(staff: Staff, *, start: dt.date, end: dt.date, limit: int = 50) -> list[dict]:
    rows = (
        Fact.objects.filter(staff=staff, fact_date__gte=start, fact_date__lte=end, subject_kind="loan")
        .values("subject_id", "customer_id", "indicator__name")
        .annotate(total=Sum("value"), share=Sum("share"))
        .order_by("-subject_id")[: limit * 4]
    )
    loans: dict[int, dict] = defaultdict(lambda: {"items": []})
    for row in rows:
        entry = loans[row["subject_id"]]
        entry["loan_id"] = row["subject_id"]
        entry["customer_id"] = row["customer_id"]
        entry["items"].append({"indicator": row["indicator__name"], "total": row["total"]})
    names = dict(
        Customer.objects.filter(pk__in=[v["customer_id"] for v in loans.values() if v.get("customer_id")]).values_list(
            "id", "name"
        )
    )
    for entry in loans.values():
        entry["customer"] = mask_name(names.get(entry.get("customer_id"), ""))
    return list(loans.values())[:limit]


def results_for_staff(staff: Staff):
    return (
        SubjectResult.objects.filter(staff=staff, period__state__in=VISIBLE_STATES)
        .select_related("period", "period__scheme", "branch")
        .order_by("-period__start")
    )


def result_lines(result: SubjectResult, *, explain: bool = False) -> list[dict]:
    """The lines of a result with, on request, the formula steps re-derived from the stored inputs."""
    period = result.period
    items = {row["item_id"]: row for row in period.snapshot.get("items", [])}
    lines = []
    for line in result.lines.select_related("indicator", "item").order_by("item__order", "item_id"):
        row = {"line": line, "effective_actual": (line.actual or Decimal(0)) + line.adjustment, "steps": ()}
        spec = items.get(line.item_id)
        if explain and spec and line.score is not None:
            try:
                out = formulas.evaluate(
                    spec["formula_kind"],
                    formulas.FormulaInput(
                        actual=row["effective_actual"],
                        target=line.target,
                        weight=Decimal(spec["weight"]),
                        base=line.base,
                        rank=line.peer_rank,
                        peer_count=result.peer_size,
                    ),
                    spec["params"],
                )
                row["steps"] = out.steps
            except formulas.FormulaEvaluationError:
                pass
        lines.append(row)
    return lines


def line_facts(result: SubjectResult, indicator: Indicator, *, limit: int = 200):
    """Drill-down: the facts behind one line (for ratio indicators, those of its numerator and denominator)."""
    period = result.period
    indicator_ids = [indicator.pk]
    if indicator.measure == Indicator.Measure.RATIO:
        indicator_ids = [indicator.numerator_id, indicator.denominator_id]
    qs = Fact.objects.filter(institution_id=period.institution_id, indicator_id__in=indicator_ids)
    if period.facts_watermark is not None:
        qs = qs.filter(id__lte=period.facts_watermark)
    scheme = period.scheme
    if scheme.subject_is_branch or scheme.aggregation == Scheme.Aggregation.BRANCH:
        qs = qs.filter(branch_id=result.branch_id)
    else:
        qs = qs.filter(staff_id=result.staff_id)
    dates = Q(fact_date__gte=period.start, fact_date__lte=period.end)
    if period.previous_watermark is not None:
        dates |= Q(fact_date__lt=period.start, id__gt=period.previous_watermark)
    if indicator.measure in (Indicator.Measure.PERIOD_END,) or indicator.measure == Indicator.Measure.RATIO:
        dates = Q(fact_date__lte=period.end)
    return qs.filter(dates).select_related("indicator", "customer", "staff").order_by("-fact_date", "-id")[:limit]


def leaderboard(user, period: Period, *, peer_group: str | None = None):
    qs = scope_queryset(SubjectResult.objects.filter(period=period), user).select_related("staff", "branch")
    if peer_group:
        qs = qs.filter(peer_group=peer_group)
    return qs.order_by("peer_group", "peer_rank", "id")


def periods_visible(user, *, states=VISIBLE_STATES):
    return (
        scope_queryset(Period.objects.filter(state__in=states), user).select_related("scheme").order_by("-start", "scheme__code")
    )


def claims_pending_for(user):
    return (
        scope_queryset(
            AttributionClaim.objects.filter(state__in=[AttributionClaim.State.PENDING, AttributionClaim.State.CONFLICT]), user
        )
        .select_related("customer", "requested_by")
        .prefetch_related("shares__staff")
        .order_by("requested_at")
    )


def appeals_pending_for(user):
    return (
        scope_queryset(Appeal.objects.filter(state=Appeal.State.SUBMITTED), user)
        .select_related("staff", "period", "period__scheme", "line__indicator", "result")
        .order_by("submitted_at")
    )


def customers_claimable_by(staff: Staff):
    """Customers a staff member can claim: their institution's customers in their branch, or assigned to them."""
    return (
        Customer.objects.filter(institution_id=staff.institution_id)
        .filter(Q(branch_id=staff.branch_id) | Q(account_manager=staff))
        .order_by("-id")
    )
