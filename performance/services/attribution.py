"""Attribution (营销归属) and facts: claims with split shares, automatic attribution of bus events, manual
entries and Excel imports with maker-checker approval.

Who is credited for a customer-related fact, in order (F18):
1. an approved claim on the customer effective on the fact date → its shares (Σ = 100 %);
2. the ``account_manager_id`` carried by the event;
3. the customer's account manager on record;
4. nobody (an unattributed fact, visible to managers, which a later claim re-attributes).
Referral events credit ``referrer_staff_id`` (the staff referral code) and merchant signing credits the
signer (``staff_id``); both fall back to the rules above.
"""

import calendar
import datetime as dt
import hashlib
import io
import logging
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jikuai.core.bus import BusEvent
from jikuai.core.exceptions import ApplicationError, Conflict, PermissionDeniedError
from jikuai.core.money import round_to, to_decimal
from jikuai.customers.models import Customer
from jikuai.org.models import Branch, Institution, Staff
from performance import formulas
from performance.models import AttributionClaim, ClaimShare, Fact, ImportBatch, Indicator, ManualEntry
from performance.services.common import (
    ensure_not_locked,
    policy_for,
    require_institution,
    require_perm,
    user_of,
    visible_or_404,
)
from performance.services.targets import cell_decimal, read_sheet
from performance.sources import EXTRACTORS, Extracted

logger = logging.getLogger(__name__)

HUNDRED = Decimal(100)
CUSTOMER_MODES = ("claim", "account_manager", "customer_manager", "unattributed")


class ClaimError(ApplicationError):
    code = "invalid_claim"


class ManualEntryError(ApplicationError):
    code = "invalid_manual_entry"


# --------------------------------------------------------------------------------------------------
# claims
# --------------------------------------------------------------------------------------------------


def claim_effective_from(institution_id: int, requested_on: dt.date) -> dt.date:
    """Cut-off day: a claim submitted up to the cut-off day counts from the first day of that month; later
    claims count from the first day of the next month."""
    cutoff = policy_for(institution_id).claim_cutoff_day
    first = requested_on.replace(day=1)
    if requested_on.day <= cutoff:
        return first
    return (first + dt.timedelta(days=32)).replace(day=1)


def _overlapping_approved(customer_id: int, day: dt.date):
    return AttributionClaim.objects.filter(customer_id=customer_id, state=AttributionClaim.State.APPROVED).filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=day)
    )


@transaction.atomic
def claim_submit(
    *, customer: Customer, shares: list[tuple[Staff, object]], actor: Staff, reason: str = "", requested_on: dt.date | None = None
) -> AttributionClaim:
    """A staff member claims a customer, alone or split with colleagues (shares in %, Σ = 100). A claim that
    overlaps an approved one (or another open one) waits as a conflict for the branch manager."""
    if actor is None or not actor.is_active:
        raise PermissionDeniedError("仅在岗员工可以认领客户 / only active staff can claim customers")
    if actor.institution_id != customer.institution_id:
        raise PermissionDeniedError("不能认领其他法人行社的客户 / customer belongs to another institution")
    parsed = formulas.validate_shares([(s.pk if s else None, p) for s, p in shares])
    staff_map = {s.pk: s for s, _ in shares if s is not None}
    problems = []
    for staff_id, _ in parsed:
        member = staff_map.get(staff_id)
        if member is None or member.institution_id != customer.institution_id or not member.is_active:
            problems.append("归属员工必须是本行社在岗员工 / claimants must be active staff of the institution")
            break
    if actor.pk not in staff_map and not actor.user.has_perm("performance.change_attributionclaim"):
        problems.append("只能为自己（或作为行长为团队）认领 / you can only claim for yourself unless you are a manager")
    if problems:
        raise ClaimError("；".join(problems), "invalid claimants")
    requested_on = requested_on or timezone.localdate()
    effective_from = claim_effective_from(customer.institution_id, requested_on)
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    conflict = (
        _overlapping_approved(customer.pk, effective_from).exists()
        or AttributionClaim.objects.filter(
            customer=customer, state__in=[AttributionClaim.State.PENDING, AttributionClaim.State.CONFLICT]
        ).exists()
    )
    claim = AttributionClaim.objects.create(
        institution_id=customer.institution_id,
        branch_id=customer.branch_id or actor.branch_id,
        customer=customer,
        effective_from=effective_from,
        reason=reason[:200],
        requested_by=actor,
    )
    ClaimShare.objects.bulk_create([ClaimShare(claim=claim, staff_id=staff_id, percent=percent) for staff_id, percent in parsed])
    if conflict:
        claim.flag_conflict(by=actor.user, description="与已有认领冲突，待行长裁决")
        claim.save()
    return claim


def _ensure_decider(claim: AttributionClaim, actor: Staff) -> None:
    require_perm(actor, "performance.change_attributionclaim", "审批认领", "decide claims")
    visible_or_404(AttributionClaim.objects.all(), actor, claim.pk, what_zh="认领", what_en="claim")
    claimant_ids = set(claim.shares.values_list("staff_id", flat=True))
    if actor.pk in claimant_ids or actor.pk == claim.requested_by_id:
        raise PermissionDeniedError("不能审批自己参与的认领 / you cannot decide a claim you are part of")


@transaction.atomic
def claim_approve(*, claim_id: int, actor: Staff, note: str = "") -> AttributionClaim:
    """The branch manager approves (also resolving a conflict in favour of this claim): overlapping approved
    claims end the day before, and the customer's facts from the effective date are re-attributed."""
    claim = AttributionClaim.objects.select_for_update().get(pk=claim_id)
    if claim.state == AttributionClaim.State.APPROVED:
        return claim
    _ensure_decider(claim, actor)
    if claim.state not in (AttributionClaim.State.PENDING, AttributionClaim.State.CONFLICT):
        raise Conflict("该认领已处理 / claim already decided", code="claim_decided")
    ensure_not_locked(claim.institution_id, claim.effective_from, what_zh="归属", what_en="attribution")
    for old in _overlapping_approved(claim.customer_id, claim.effective_from).select_for_update().order_by("id"):
        old.effective_to = max(old.effective_from, claim.effective_from - dt.timedelta(days=1))
        old.end(by=actor.user, description=f"被认领 #{claim.pk} 替代")
        old.save()
    claim.decided_by, claim.decided_at, claim.decision_note = actor, timezone.now(), note[:200]
    claim.approve(by=actor.user, description=note or "批准认领")
    claim.save()
    reattribute_customer_facts(claim)
    return claim


@transaction.atomic
def claim_reject(*, claim_id: int, actor: Staff, note: str) -> AttributionClaim:
    claim = AttributionClaim.objects.select_for_update().get(pk=claim_id)
    if claim.state == AttributionClaim.State.REJECTED:
        return claim
    _ensure_decider(claim, actor)
    if not note.strip():
        raise ClaimError("驳回需要填写理由 / a rejection needs a reason")
    claim.decided_by, claim.decided_at, claim.decision_note = actor, timezone.now(), note[:200]
    claim.reject(by=actor.user, description=note)
    claim.save()
    return claim


# --------------------------------------------------------------------------------------------------
# automatic attribution of events
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credit:
    staff_id: int | None
    share: Decimal
    how: str
    claim_id: int | None = None


def claim_on(customer_id: int, day: dt.date) -> AttributionClaim | None:
    return (
        AttributionClaim.objects.filter(
            customer_id=customer_id,
            state__in=[AttributionClaim.State.APPROVED, AttributionClaim.State.ENDED],
            effective_from__lte=day,
        )
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=day))
        .order_by("-effective_from", "-id")
        .first()
    )


class _StaffCache:
    def __init__(self, institution_id: int):
        self.institution_id = institution_id
        self.cache: dict[int, dict | None] = {}

    def get(self, staff_id) -> dict | None:
        try:
            staff_id = int(staff_id)
        except (TypeError, ValueError):
            return None
        if staff_id not in self.cache:
            self.cache[staff_id] = (
                Staff.objects.filter(pk=staff_id, institution_id=self.institution_id).values("id", "branch_id").first()
            )
        return self.cache[staff_id]


def resolve_attribution(
    *, institution_id: int, customer: dict | None, day: dt.date, payload: dict, mode: str, staff: _StaffCache
) -> list[Credit]:
    if mode == "signer":
        signer = staff.get(payload.get("staff_id"))
        if signer:
            return [Credit(signer["id"], HUNDRED, "signer")]
    if mode == "referrer":
        referrer = staff.get(payload.get("referrer_staff_id"))
        if referrer:
            return [Credit(referrer["id"], HUNDRED, "referrer")]
    if customer is not None:
        claim = claim_on(customer["id"], day)
        if claim is not None:
            return [Credit(s.staff_id, s.percent, "claim", claim.pk) for s in claim.shares.order_by("id")]
    manager = staff.get(payload.get("account_manager_id"))
    if manager:
        return [Credit(manager["id"], HUNDRED, "account_manager")]
    if customer is not None and customer.get("account_manager_id"):
        manager = staff.get(customer["account_manager_id"])
        if manager:
            return [Credit(manager["id"], HUNDRED, "customer_manager")]
    return [Credit(None, HUNDRED, "unattributed")]


def _indicators_by_topic() -> dict[str, list[tuple[Indicator, str]]]:
    mapping: dict[str, list[tuple[Indicator, str]]] = defaultdict(list)
    for indicator in Indicator.objects.filter(is_active=True).exclude(measure=Indicator.Measure.RATIO):
        for code in indicator.sources or []:
            extractor = EXTRACTORS.get(code)
            if extractor is not None:
                mapping[extractor.topic].append((indicator, code))
    return mapping


def facts_from_event(event: BusEvent) -> int:
    """Turn one bus event into attributed facts (one row per indicator and credited staff member).
    Unique per (event, indicator, staff): a redelivered event inserts nothing."""
    payload = dict(event.payload)
    payload["_event_date"] = timezone.localdate(event.created_at).isoformat()
    institution_id = payload.get("institution_id")
    if not institution_id:
        logger.warning("performance: event %s (%s) has no institution_id; ignored", event.id, event.topic)
        return 0
    pairs = _indicators_by_topic().get(event.topic, [])
    if not pairs:
        return 0
    customer = None
    if payload.get("customer_id"):
        customer = (
            Customer.objects.filter(pk=payload["customer_id"], institution_id=institution_id)
            .values("id", "branch_id", "account_manager_id")
            .first()
        )
    staff = _StaffCache(int(institution_id))
    payload_branch = payload.get("branch_id")
    if payload_branch and not Branch.objects.filter(pk=payload_branch, institution_id=institution_id).exists():
        payload_branch = None
    rows = []
    for indicator, code in pairs:
        extractor = EXTRACTORS[code]
        data: Extracted | None = extractor.func(payload)
        if data is None or data.fact_date is None:
            continue
        mode = (
            extractor.attribution
            if indicator.attribution_mode in (Indicator.Attribution.AUTO, Indicator.Attribution.DIRECT)
            else indicator.attribution_mode
        )
        credits = resolve_attribution(
            institution_id=int(institution_id), customer=customer, day=data.fact_date, payload=payload, mode=mode, staff=staff
        )
        rows += _fact_rows(
            institution_id=int(institution_id),
            indicator=indicator,
            data=data,
            credits=credits,
            customer=customer,
            branch_id=payload_branch,
            staff=staff,
            source=Fact.Source.EVENT,
            source_key=data.source_key or f"ev:{event.id}",
        )
    Fact.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _fact_rows(
    *, institution_id, indicator, data: Extracted, credits, customer, branch_id, staff, source, source_key, fact_date=None
):
    parts = formulas.attribution_credit(data.metric, [(c, c.share) for c in credits])
    bases = (
        formulas.attribution_credit(data.base, [(c, c.share) for c in credits])
        if data.base
        else [(c, Decimal(0)) for c in credits]
    )
    rows = []
    for (credit, value), (_, base) in zip(parts, bases, strict=True):
        member = staff.get(credit.staff_id) if credit.staff_id else None
        rows.append(
            Fact(
                institution_id=institution_id,
                indicator=indicator,
                staff_id=credit.staff_id,
                branch_id=branch_id or (member or {}).get("branch_id") or (customer or {}).get("branch_id"),
                fact_date=fact_date or data.fact_date,
                value=value,
                base_value=base,
                metric=round_to(data.metric, 4),
                share=credit.share,
                customer_id=(customer or {}).get("id"),
                subject_kind=data.subject_kind,
                subject_id=data.subject_id,
                attribution=credit.how,
                claim_id=credit.claim_id,
                source=source,
                source_key=source_key,
            )
        )
    return rows


def origin_of(source_key: str) -> str:
    return source_key.split(":", 2)[2] if source_key.startswith("ra:") else source_key


def reattribute_customer_facts(claim: AttributionClaim) -> int:
    """After a claim is approved, the customer's customer-attributed facts from its effective date move to the
    claimants: flows get delta rows (old holders reversed, claimants credited, Σ unchanged); period-end
    snapshots get a new snapshot in the claimants' names dated no earlier than the effective date."""
    shares = list(claim.shares.order_by("id").values_list("staff_id", "percent"))
    credits = [Credit(staff_id, percent, "claim", claim.pk) for staff_id, percent in shares]
    staff = _StaffCache(claim.institution_id)
    customer = Customer.objects.filter(pk=claim.customer_id).values("id", "branch_id", "account_manager_id").first()
    facts = list(
        Fact.objects.filter(customer_id=claim.customer_id, attribution__in=CUSTOMER_MODES)
        .select_related("indicator")
        .order_by("fact_date", "id")
    )
    rows = []
    flow_groups: dict[tuple[int, str], list[Fact]] = defaultdict(list)
    latest_snapshot: dict[tuple[int, str, int | None], Fact] = {}
    for fact in facts:
        if fact.indicator.measure == Indicator.Measure.PERIOD_END:
            latest_snapshot[(fact.indicator_id, fact.subject_kind, fact.subject_id)] = fact
        elif fact.fact_date >= claim.effective_from:
            flow_groups[(fact.indicator_id, origin_of(fact.source_key))].append(fact)
    for (_, origin), group in flow_groups.items():
        net: dict[int | None, Decimal] = defaultdict(Decimal)
        net_base: dict[int | None, Decimal] = defaultdict(Decimal)
        for fact in group:
            net[fact.staff_id] += fact.value
            net_base[fact.staff_id] += fact.base_value
        first = group[0]
        original_base = sum(net_base.values(), Decimal(0))
        desired = dict(formulas.attribution_credit(first.metric, [(c.staff_id, c.share) for c in credits]))
        desired_base = dict(formulas.attribution_credit(original_base, [(c.staff_id, c.share) for c in credits]))
        share_of = dict(shares)
        for staff_id in set(net) | set(desired):
            delta = desired.get(staff_id, Decimal(0)) - net.get(staff_id, Decimal(0))
            delta_base = desired_base.get(staff_id, Decimal(0)) - net_base.get(staff_id, Decimal(0))
            if not delta and not delta_base:
                continue
            member = staff.get(staff_id) if staff_id else None
            rows.append(
                Fact(
                    institution_id=first.institution_id,
                    indicator_id=first.indicator_id,
                    staff_id=staff_id,
                    branch_id=(member or {}).get("branch_id") or first.branch_id,
                    fact_date=first.fact_date,
                    value=delta,
                    base_value=delta_base,
                    metric=first.metric,
                    share=share_of.get(staff_id, HUNDRED),
                    customer_id=first.customer_id,
                    subject_kind=first.subject_kind,
                    subject_id=first.subject_id,
                    attribution="claim" if staff_id in share_of else "reversal",
                    claim_id=claim.pk,
                    source=Fact.Source.REATTRIBUTION,
                    source_key=f"ra:{claim.pk}:{origin}"[:64],
                )
            )
    for (indicator_id, _, _), fact in latest_snapshot.items():
        origin = origin_of(fact.source_key)
        holders = set(Fact.objects.filter(indicator_id=indicator_id, source_key=fact.source_key).values_list("staff_id", "share"))
        if holders == {(staff_id, percent) for staff_id, percent in shares}:
            continue
        data = Extracted(
            metric=fact.metric,
            fact_date=max(fact.fact_date, claim.effective_from),
            subject_kind=fact.subject_kind,
            subject_id=fact.subject_id,
        )
        rows += _fact_rows(
            institution_id=fact.institution_id,
            indicator=fact.indicator,
            data=data,
            credits=credits,
            customer=customer,
            branch_id=None,
            staff=staff,
            source=Fact.Source.REATTRIBUTION,
            source_key=f"ra:{claim.pk}:{origin}"[:64],
        )
    Fact.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --------------------------------------------------------------------------------------------------
# manual entries and Excel imports (maker-checker)
# --------------------------------------------------------------------------------------------------


def _normalise_entry(indicator: Indicator, fact_date: dt.date, value: Decimal, base: Decimal) -> tuple[dt.date, Decimal, Decimal]:
    """Daily-average indicators take the month's daily average; it is stored as balance-days (积数) at month end."""
    if indicator.measure == Indicator.Measure.DAILY_AVERAGE:
        days = calendar.monthrange(fact_date.year, fact_date.month)[1]
        return fact_date.replace(day=days), value * days, base * days
    return fact_date, value, base


def _entry_problems(
    institution: Institution, indicator: Indicator | None, staff: Staff | None, branch: Branch | None, customer: Customer | None
) -> list[str]:
    problems = []
    if indicator is None:
        problems.append("未知指标")
    elif indicator.measure == Indicator.Measure.RATIO:
        problems.append(f"比率指标 {indicator.code} 由分子分母计算，不能直接录入")
    if staff is None and branch is None:
        problems.append("需要员工或网点")
    if staff is not None and staff.institution_id != institution.pk:
        problems.append("员工不属于本行社")
    if branch is not None and branch.institution_id != institution.pk:
        problems.append("网点不属于本行社")
    if customer is not None and customer.institution_id != institution.pk:
        problems.append("客户不属于本行社")
    return problems


@transaction.atomic
def manual_entry_create(
    *,
    institution: Institution,
    indicator: Indicator,
    fact_date: dt.date,
    value,
    actor,
    staff: Staff | None = None,
    branch: Branch | None = None,
    customer: Customer | None = None,
    base_value="0",
    note: str = "",
) -> ManualEntry:
    """手工录入 (e.g. complaints, deposit daily averages): pending until another person approves it. Dates
    inside a published period are refused (corrections go into a later period)."""
    require_perm(actor, "performance.add_manualentry", "录入业绩数据", "enter performance data")
    require_institution(actor, institution.pk)
    problems = _entry_problems(institution, indicator, staff, branch, customer)
    try:
        value, base_value = to_decimal(value), to_decimal(base_value or "0")
    except (ValueError, TypeError, InvalidOperation):
        problems.append("数值无效")
    if problems:
        raise ManualEntryError("录入有误：" + "；".join(problems), "invalid manual entry")
    ensure_not_locked(institution.pk, fact_date, what_zh="该日期的业绩数据", what_en="data of that date")
    return ManualEntry.objects.create(
        institution=institution,
        indicator=indicator,
        staff=staff,
        branch=branch or (staff.branch if staff else None),
        customer=customer,
        fact_date=fact_date,
        value=value,
        base_value=base_value,
        note=note[:200],
        entered_by=user_of(actor),
    )


def _entry_fact(entry: ManualEntry, source: str) -> Fact:
    fact_date, value, base = _normalise_entry(entry.indicator, entry.fact_date, entry.value, entry.base_value)
    if entry.customer_id:
        subject = ("customer", entry.customer_id)
    elif entry.staff_id:
        subject = ("staff", entry.staff_id)
    else:
        subject = ("branch", entry.branch_id)
    return Fact(
        institution_id=entry.institution_id,
        indicator_id=entry.indicator_id,
        staff_id=entry.staff_id,
        branch_id=entry.branch_id or (entry.staff.branch_id if entry.staff_id else None),
        fact_date=fact_date,
        value=round_to(value, 4),
        base_value=round_to(base, 4),
        metric=round_to(value, 4),
        share=HUNDRED,
        customer_id=entry.customer_id,
        subject_kind=subject[0],
        subject_id=subject[1],
        attribution="direct",
        source=source,
        source_key=f"man:{entry.pk}",
    )


def _ensure_checker(entry_user_id: int, actor) -> None:
    if user_of(actor).pk == entry_user_id:
        raise PermissionDeniedError("录入人不能审批自己录入的数据（双人复核）/ the maker cannot approve their own entry")


@transaction.atomic
def manual_entry_approve(*, entry_id: int, actor) -> Fact:
    require_perm(actor, "performance.change_manualentry", "审批业绩数据", "approve performance data")
    entry = ManualEntry.objects.select_for_update(of=("self",)).select_related("indicator", "staff").get(pk=entry_id)
    visible_or_404(ManualEntry.objects.all(), actor, entry.pk, what_zh="录入记录", what_en="entry")
    if entry.state != ManualEntry.State.PENDING:
        raise Conflict("该记录已处理 / entry already decided", code="entry_decided")
    _ensure_checker(entry.entered_by_id, actor)
    ensure_not_locked(entry.institution_id, entry.fact_date, what_zh="该日期的业绩数据", what_en="data of that date")
    entry.decided_by, entry.decided_at = user_of(actor), timezone.now()
    entry.approve(by=user_of(actor), description="审批入库")
    entry.save()
    fact = _entry_fact(entry, Fact.Source.IMPORT if entry.batch_id else Fact.Source.MANUAL)
    fact.save()
    return fact


@transaction.atomic
def manual_entry_reject(*, entry_id: int, actor, note: str = "") -> ManualEntry:
    require_perm(actor, "performance.change_manualentry", "审批业绩数据", "approve performance data")
    entry = ManualEntry.objects.select_for_update().get(pk=entry_id)
    visible_or_404(ManualEntry.objects.all(), actor, entry.pk, what_zh="录入记录", what_en="entry")
    if entry.state != ManualEntry.State.PENDING:
        raise Conflict("该记录已处理 / entry already decided", code="entry_decided")
    entry.decided_by, entry.decided_at = user_of(actor), timezone.now()
    entry.reject(by=user_of(actor), description=note or "驳回")
    entry.save()
    return entry


FACT_HEADERS = {
    "指标代码": "indicator",
    "工号": "employee_no",
    "网点代码": "branch_code",
    "客户ID": "customer_id",
    "日期": "date",
    "数值": "value",
    "基期值": "base",
    "说明": "note",
}


def _cell_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value or "").strip()
    if len(text) == 7:  # YYYY-MM → month end
        year, month = int(text[:4]), int(text[5:7])
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    return dt.date.fromisoformat(text)


def facts_import_excel(*, institution: Institution, file, file_name: str, actor) -> ImportBatch:
    """Import facts from Excel (e.g. deposit daily averages by customer, complaints by staff). Every row is
    validated; any error refuses the whole file with a row report and writes nothing. Valid files become a
    pending batch that another person approves."""
    require_perm(actor, "performance.add_manualentry", "导入业绩数据", "import performance data")
    require_institution(actor, institution.pk)
    content = file.read()
    rows, present = read_sheet(io.BytesIO(content), FACT_HEADERS)
    missing = {"indicator", "date", "value"} - present
    if missing:
        raise ManualEntryError("缺少列：" + "、".join(k for k, v in FACT_HEADERS.items() if v in missing), "missing columns")
    indicators = {i.code: i for i in Indicator.objects.filter(is_active=True)}
    staff_by_no = {s.employee_no: s for s in Staff.objects.filter(institution=institution).select_related("branch")}
    branches = {b.code: b for b in Branch.objects.filter(institution=institution)}
    entries, errors = [], []
    for number, row in rows:
        problems = []
        indicator = indicators.get(str(row.get("indicator") or "").strip())
        employee_no = str(row.get("employee_no") or "").strip()
        staff = staff_by_no.get(employee_no) if employee_no else None
        if employee_no and staff is None:
            problems.append(f"未知员工工号 {employee_no}（不在本行社）")
        branch_code = str(row.get("branch_code") or "").strip()
        branch = branches.get(branch_code) if branch_code else None
        if branch_code and branch is None:
            problems.append(f"未知网点代码 {branch_code}")
        customer = None
        if row.get("customer_id") not in (None, ""):
            try:
                customer = Customer.objects.filter(pk=int(cell_decimal(row["customer_id"])), institution=institution).first()
            except (ValueError, TypeError, InvalidOperation):
                customer = None
            if customer is None:
                problems.append(f"未知客户ID {row.get('customer_id')}")
            elif staff is None and branch is None:
                branch = customer.branch
        if not (employee_no and staff is None) and not (branch_code and branch is None):
            problems += _entry_problems(institution, indicator, staff, branch, customer)
        try:
            fact_date = _cell_date(row.get("date"))
        except (ValueError, TypeError):
            problems.append(f"日期无效：{row.get('date')!r}（YYYY-MM-DD 或 YYYY-MM）")
            fact_date = None
        try:
            value = cell_decimal(row.get("value"))
            base = cell_decimal(row.get("base")) if row.get("base") not in (None, "") else Decimal(0)
        except (ValueError, TypeError, InvalidOperation):
            problems.append(f"数值无效：{row.get('value')!r}")
            value = base = Decimal(0)
        if fact_date is not None and not problems:
            try:
                ensure_not_locked(institution.pk, fact_date, what_zh="该日期的业绩数据", what_en="data of that date")
            except ApplicationError as exc:
                problems.append(exc.message_zh)
        if problems:
            errors += [(number, p) for p in problems]
        else:
            entries.append(
                ManualEntry(
                    institution=institution,
                    indicator=indicator,
                    staff=staff,
                    branch=branch or (staff.branch if staff else None),
                    customer=customer,
                    fact_date=fact_date,
                    value=value,
                    base_value=base,
                    note=str(row.get("note") or "")[:200],
                    entered_by=user_of(actor),
                )
            )
    if not rows:
        errors.append((0, "没有数据行 / no data rows"))
    if errors:
        raise ManualEntryError(
            f"导入失败：{len(errors)} 处错误，未写入任何数据 / import failed with {len(errors)} errors, nothing written",
            extra={"errors": errors},
        )
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            institution=institution,
            kind=ImportBatch.Kind.FACTS,
            file_name=file_name[:200],
            sha256=hashlib.sha256(content).hexdigest(),
            row_count=len(entries),
            uploaded_by=user_of(actor),
        )
        for entry in entries:
            entry.batch = batch
        ManualEntry.objects.bulk_create(entries)
    return batch


@transaction.atomic
def facts_import_approve(*, batch_id: int, actor) -> int:
    """The checker approves a whole facts batch: every entry becomes a fact (maker ≠ checker)."""
    require_perm(actor, "performance.change_manualentry", "审批导入数据", "approve imports")
    batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
    visible_or_404(ImportBatch.objects.all(), actor, batch.pk, what_zh="导入批次", what_en="batch")
    if batch.kind != ImportBatch.Kind.FACTS or batch.state != ImportBatch.State.PENDING:
        raise Conflict("该批次不是待审批的业绩数据 / batch is not a pending facts import", code="batch_decided")
    _ensure_checker(batch.uploaded_by_id, actor)
    entries = list(batch.entries.select_related("indicator", "staff").filter(state=ManualEntry.State.PENDING))
    for entry in entries:
        ensure_not_locked(entry.institution_id, entry.fact_date, what_zh="该日期的业绩数据", what_en="data of that date")
    now = timezone.now()
    facts = []
    for entry in entries:
        entry.decided_by, entry.decided_at = user_of(actor), now
        entry.approve(by=user_of(actor), description=f"批次 #{batch.pk} 审批入库")
        facts.append(_entry_fact(entry, Fact.Source.IMPORT))
    ManualEntry.objects.bulk_update(entries, ["state", "decided_by", "decided_at"])
    Fact.objects.bulk_create(facts)
    batch.decided_by, batch.decided_at = user_of(actor), now
    batch.apply(by=user_of(actor), description="审批入库")
    batch.save()
    return len(facts)
