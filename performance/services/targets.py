"""Targets: institution → branch → person, rank defaults with per-person overrides, annual targets decomposed
into months, bulk Excel import (all rows valid or nothing written), and resolution for a period."""

import calendar
import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction

from jikuai.core.exceptions import ApplicationError
from jikuai.core.money import round_to, split_amount, to_decimal
from jikuai.org.models import Branch, Institution, Staff
from performance.models import ImportBatch, Indicator, Target
from performance.services.common import ensure_not_locked, month_range, require_institution, require_perm, user_of

FLOW_MEASURES = (Indicator.Measure.SUM, Indicator.Measure.COUNT)


class TargetError(ApplicationError):
    code = "invalid_target"


class TargetImportError(ApplicationError):
    code = "target_import_failed"


def scope_key(level: str, *, branch_id=None, rank: str = "", staff_id=None) -> str:
    return {
        Target.Level.INSTITUTION: "I",
        Target.Level.BRANCH: f"B:{branch_id}",
        Target.Level.RANK: f"R:{rank}" + (f":{branch_id}" if branch_id else ""),
        Target.Level.STAFF: f"S:{staff_id}",
    }[level]


@dataclass(frozen=True)
class TargetSpec:
    """One target as given by a form, a service call or an import row (validated before anything is written)."""

    indicator: Indicator
    year: int
    month: int  # 0 = annual (decomposed into months)
    value: Decimal
    level: str
    branch: Branch | None = None
    rank: str = ""
    staff: Staff | None = None
    month_weights: tuple = field(default_factory=tuple)


def _check_spec(institution: Institution, spec: TargetSpec) -> list[str]:
    errors = []
    if not (2000 <= spec.year <= 2100):
        errors.append(f"年份无效：{spec.year} / invalid year")
    if not (0 <= spec.month <= 12):
        errors.append(f"月份须为 1–12（0 或空表示年度目标）：{spec.month} / month must be 1–12 (0 = annual)")
    if spec.level == Target.Level.STAFF:
        if spec.staff is None:
            errors.append("个人目标需要员工 / a person target needs a staff member")
        elif spec.staff.institution_id != institution.pk:
            errors.append(f"员工 {spec.staff.employee_no} 不属于本行社 / staff member not in this institution")
    if spec.level == Target.Level.BRANCH and (spec.branch is None or spec.branch.institution_id != institution.pk):
        errors.append("网点目标需要本行社的网点 / a branch target needs a branch of this institution")
    if spec.level == Target.Level.RANK and spec.rank not in Staff.Rank.values:
        errors.append(f"未知职级：{spec.rank} / unknown rank")
    if spec.month_weights and (len(spec.month_weights) != 12 or any(to_decimal(w) < 0 for w in spec.month_weights)):
        errors.append("分解权重须为 12 个非负数 / month weights must be 12 non-negative numbers")
    return errors


def _month_values(spec: TargetSpec) -> list[tuple[int, Decimal]]:
    """Annual → months: flows (sum, count) are split by the month weights (even by default, exact sum);
    levels (balances, averages, ratios) apply the annual value to every month."""
    if spec.month != 0:
        return [(spec.month, spec.value)]
    if spec.indicator.measure in FLOW_MEASURES:
        weights = [to_decimal(w) for w in spec.month_weights] if spec.month_weights else [Decimal(1)] * 12
        parts = split_amount(spec.value, weights)
        return [(0, spec.value), *list(enumerate(parts, start=1))]
    return [(0, spec.value)] + [(m, spec.value) for m in range(1, 13)]


def _write(institution: Institution, spec: TargetSpec, *, user, source: str) -> list[Target]:
    key = scope_key(
        spec.level,
        branch_id=spec.branch.pk if spec.branch else None,
        rank=spec.rank,
        staff_id=spec.staff.pk if spec.staff else None,
    )
    written = []
    for month, value in _month_values(spec):
        target, _ = Target.objects.update_or_create(
            institution=institution,
            scope_key=key,
            indicator=spec.indicator,
            year=spec.year,
            month=month,
            defaults={
                "level": spec.level,
                "branch": spec.branch if spec.level in (Target.Level.BRANCH, Target.Level.RANK) else None,
                "rank": spec.rank if spec.level == Target.Level.RANK else "",
                "staff": spec.staff if spec.level == Target.Level.STAFF else None,
                "value": round_to(value, 4),
                "source": source if month == spec.month else "decomposed",
                "updated_by": user,
            },
        )
        written.append(target)
    return written


def _locked_months(institution: Institution, spec: TargetSpec) -> None:
    if spec.month == 0:
        first, last = dt.date(spec.year, 1, 1), dt.date(spec.year, 12, 31)
    else:
        first = dt.date(spec.year, spec.month, 1)
        last = dt.date(spec.year, spec.month, calendar.monthrange(spec.year, spec.month)[1])
    ensure_not_locked(institution.pk, first, last, what_zh="该月目标", what_en="targets of that month")


def targets_validate(institution: Institution, specs: list[TargetSpec]) -> None:
    """Raise TargetError / PeriodLockedError for the first problem of any spec (nothing is written)."""
    errors = []
    for n, spec in enumerate(specs, start=1):
        errors += [f"第{n}条：{e}" for e in _check_spec(institution, spec)]
    if errors:
        raise TargetError("目标有误：" + "；".join(errors), "invalid targets: " + "; ".join(errors), extra={"errors": errors})
    for spec in specs:
        _locked_months(institution, spec)


@transaction.atomic
def targets_set(*, institution: Institution, specs: list[TargetSpec], actor, source: str = "manual") -> list[Target]:
    """Write targets (annual ones decomposed into months). Every spec is validated first; one bad spec or a
    month inside a published period refuses the whole call and writes nothing."""
    require_perm(actor, "performance.change_target", "维护目标", "maintain targets")
    require_institution(actor, institution.pk)
    targets_validate(institution, specs)
    written = []
    for spec in specs:
        written += _write(institution, spec, user=user_of(actor), source=source)
    return written


def target_set(*, institution: Institution, actor, **fields) -> list[Target]:
    return targets_set(institution=institution, specs=[TargetSpec(**fields)], actor=actor)


# --------------------------------------------------------------------------------------------------
# Excel import
# --------------------------------------------------------------------------------------------------

TARGET_HEADERS = {
    "指标代码": "indicator",
    "年": "year",
    "月": "month",
    "目标值": "value",
    "工号": "employee_no",
    "网点代码": "branch_code",
    "职级": "rank",
}


def cell_decimal(value) -> Decimal:
    """Excel stores numbers as binary doubles; they are read once through their shortest repr (the value
    the user typed) and are Decimal from then on."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("empty")
    if isinstance(value, float):
        return Decimal(repr(value))
    return to_decimal(value)


def read_sheet(file, headers: dict[str, str]) -> tuple[list[tuple[int, dict]], set[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # not an xlsx file at all
        raise TargetImportError("无法读取 Excel 文件（需要 .xlsx）/ not a readable .xlsx file") from exc
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    try:
        header = [str(c).strip() if c is not None else "" for c in next(rows)]
    except StopIteration:
        raise TargetImportError("Excel 文件为空 / the workbook is empty")
    mapping = {index: headers[name] for index, name in enumerate(header) if name in headers}
    result = []
    for number, row in enumerate(rows, start=2):
        if row is None or all(c in (None, "") for c in row):
            continue
        result.append((number, {field_name: row[index] if index < len(row) else None for index, field_name in mapping.items()}))
    workbook.close()
    return result, set(mapping.values())


@dataclass
class ImportReport:
    batch: ImportBatch | None
    rows: int
    errors: list[tuple[int, str]]


def targets_import_excel(*, institution: Institution, file, file_name: str, actor) -> ImportReport:
    """Bulk import (目标导入): each row is a person (工号), branch (网点代码), rank default (职级) or institution
    target (none of them). Month empty or 0 = annual target, decomposed into months. Unknown staff, branches,
    indicators, bad numbers → a row report, and nothing is written."""
    require_perm(actor, "performance.change_target", "导入目标", "import targets")
    require_institution(actor, institution.pk)
    content = file.read()
    import io

    rows, present = read_sheet(io.BytesIO(content), TARGET_HEADERS)
    missing = {"indicator", "year", "value"} - present
    if missing:
        raise TargetImportError(
            "缺少列：" + "、".join(k for k, v in TARGET_HEADERS.items() if v in missing),
            "missing columns: " + ", ".join(sorted(missing)),
        )
    indicators = {i.code: i for i in Indicator.objects.filter(is_active=True)}
    staff_by_no = {s.employee_no: s for s in Staff.objects.filter(institution=institution)}
    branches = {b.code: b for b in Branch.objects.filter(institution=institution)}
    specs, errors = [], []
    for number, row in rows:
        row_errors = []
        indicator = indicators.get(str(row.get("indicator") or "").strip())
        if indicator is None:
            row_errors.append(f"未知指标代码 {row.get('indicator')!r}")
        try:
            year = int(cell_decimal(row.get("year")))
            month_raw = row.get("month")
            month = 0 if month_raw in (None, "") else int(cell_decimal(month_raw))
        except (ValueError, TypeError, InvalidOperation):
            row_errors.append("年/月不是数字")
            year, month = 0, 0
        try:
            value = cell_decimal(row.get("value"))
        except (ValueError, TypeError, InvalidOperation):
            row_errors.append(f"目标值不是数字：{row.get('value')!r}")
            value = Decimal(0)
        employee_no = str(row.get("employee_no") or "").strip()
        branch_code = str(row.get("branch_code") or "").strip()
        rank = str(row.get("rank") or "").strip()
        staff = branch = None
        level = Target.Level.INSTITUTION
        if employee_no:
            level = Target.Level.STAFF
            staff = staff_by_no.get(employee_no)
            if staff is None:
                row_errors.append(f"未知员工工号 {employee_no}（不在本行社）")
        elif rank:
            level = Target.Level.RANK
            if branch_code:
                branch = branches.get(branch_code)
                if branch is None:
                    row_errors.append(f"未知网点代码 {branch_code}")
        elif branch_code:
            level = Target.Level.BRANCH
            branch = branches.get(branch_code)
            if branch is None:
                row_errors.append(f"未知网点代码 {branch_code}")
        if not row_errors:
            spec = TargetSpec(
                indicator=indicator, year=year, month=month, value=value, level=level, branch=branch, rank=rank, staff=staff
            )
            row_errors += _check_spec(institution, spec)
            if not row_errors:
                try:
                    _locked_months(institution, spec)
                except ApplicationError as exc:
                    row_errors.append(exc.message_zh)
            specs.append(spec)
        errors += [(number, e) for e in row_errors]
    if not rows:
        errors.append((0, "没有数据行 / no data rows"))
    if errors:
        raise TargetImportError(
            f"导入失败：{len(errors)} 处错误，未写入任何数据 / import failed with {len(errors)} errors, nothing written",
            extra={"errors": errors},
        )
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            institution=institution,
            kind=ImportBatch.Kind.TARGETS,
            file_name=file_name[:200],
            sha256=hashlib.sha256(content).hexdigest(),
            row_count=len(specs),
            uploaded_by=user_of(actor),
        )
        for spec in specs:
            _write(institution, spec, user=user_of(actor), source="import")
        batch.apply(by=user_of(actor), description="目标导入成功")
        batch.decided_by = user_of(actor)
        batch.save()
    return ImportReport(batch=batch, rows=len(specs), errors=[])


# --------------------------------------------------------------------------------------------------
# resolution for a period
# --------------------------------------------------------------------------------------------------


class TargetBook:
    """All targets of an institution for the months of a period, resolved per subject and indicator.

    Person: the person's own target, else the rank default of their branch, else the rank default of the
    institution. Branch subjects (and branch-aggregated schemes): the branch target. Over several months,
    flows (sum, count) add up, daily averages average, period-end and ratio targets take the last month's.
    """

    def __init__(self, institution_id: int, indicators: dict[int, Indicator], first: dt.date, last: dt.date):
        self.months = month_range(first, last)
        self.indicators = indicators
        self.values: dict[tuple[str, int, int, int], Decimal] = {}
        years = sorted({y for y, _ in self.months})
        rows = Target.objects.filter(
            institution_id=institution_id, indicator_id__in=list(indicators), year__in=years, month__gte=1
        )
        wanted = set(self.months)
        for key, indicator_id, year, month, value in rows.values_list(
            "scope_key", "indicator_id", "year", "month", "value"
        ).iterator(chunk_size=20000):
            if (year, month) in wanted:
                self.values[(key, indicator_id, year, month)] = value

    def _month_value(self, keys: list[str], indicator_id: int, year: int, month: int) -> Decimal | None:
        for key in keys:
            value = self.values.get((key, indicator_id, year, month))
            if value is not None:
                return value
        return None

    def single_month(self, indicator_id: int) -> dict[str, Decimal] | None:
        """For a one-month period: {scope key: value} of one indicator (None for longer periods)."""
        if len(self.months) != 1:
            return None
        if not hasattr(self, "_by_indicator"):
            self._by_indicator: dict[int, dict[str, Decimal]] = defaultdict(dict)
            for (key, ind, _, _), value in self.values.items():
                self._by_indicator[ind][key] = value
        return self._by_indicator.get(indicator_id, {})

    def resolve(self, indicator_id: int, keys: list[str]) -> Decimal | None:
        if len(self.months) == 1:  # the common monthly period: the first key that has a target wins
            year, month = self.months[0]
            for key in keys:
                value = self.values.get((key, indicator_id, year, month))
                if value is not None:
                    return value
            return None
        found = [v for (y, m) in self.months if (v := self._month_value(keys, indicator_id, y, m)) is not None]
        if not found:
            return None
        measure = self.indicators[indicator_id].measure
        if measure in FLOW_MEASURES:
            return sum(found, Decimal(0))
        if measure == Indicator.Measure.DAILY_AVERAGE:
            return sum(found, Decimal(0)) / len(found)
        return found[-1]

    @staticmethod
    def staff_keys(staff_id: int, rank: str, branch_id: int | None) -> list[str]:
        keys = [f"S:{staff_id}"]
        if rank:
            if branch_id:
                keys.append(f"R:{rank}:{branch_id}")
            keys.append(f"R:{rank}")
        return keys

    @staticmethod
    def branch_keys(branch_id: int | None) -> list[str]:
        return [f"B:{branch_id}"] if branch_id else []


def target_totals_by_level(institution_id: int, indicator_id: int, year: int, month: int) -> dict[str, Decimal]:
    """Institution / Σ branches / Σ persons for one indicator and month (a consistency view for admins)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for level, value in Target.objects.filter(
        institution_id=institution_id, indicator_id=indicator_id, year=year, month=month
    ).values_list("level", "value"):
        totals[level] += value
    return dict(totals)
