"""Targets: annual → months with exact sums, rank defaults with personal overrides, resolution over a period,
Excel import validated as a whole (unknown staff → row report, nothing written)."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook

from jikuai.core.exceptions import ApplicationError, PermissionDeniedError
from performance.models import ImportBatch, Indicator, Target
from performance.services import targets
from performance.services.targets import TargetBook, TargetSpec
from tests.performance.factories import make_bank

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank():
    return make_bank()


@pytest.fixture
def ind():
    return {i.code: i for i in Indicator.objects.all()}


def test_annual_flow_target_is_split_into_months_exactly(bank, ind):
    """100 loans a year: 12 parts by cumulative rounding 8.33, 8.34, 8.33, … summing to exactly 100."""
    targets.target_set(
        institution=bank.institution,
        actor=bank.admin,
        indicator=ind["loan_disbursed_count"],
        year=2026,
        month=0,
        value=Decimal(100),
        level=Target.Level.RANK,
        rank="junior",
    )
    months = list(Target.objects.filter(month__gte=1).order_by("month").values_list("value", flat=True))
    assert len(months) == 12 and sum(months) == Decimal(100)
    assert months[:3] == [Decimal("8.33"), Decimal("8.34"), Decimal("8.33")]
    assert Target.objects.get(month=0).value == Decimal(100)


def test_annual_level_target_applies_to_every_month(bank, ind):
    targets.target_set(
        institution=bank.institution,
        actor=bank.admin,
        indicator=ind["npl_ratio"],
        year=2026,
        month=0,
        value=Decimal("1.5"),
        level=Target.Level.BRANCH,
        branch=bank.branch_a,
    )
    assert set(Target.objects.filter(month__gte=1).values_list("value", flat=True)) == {Decimal("1.5")}


def test_seasonal_weights(bank, ind):
    weights = (2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0)
    targets.target_set(
        institution=bank.institution,
        actor=bank.admin,
        indicator=ind["loan_disbursed_amount"],
        year=2026,
        month=0,
        value=Decimal("1200000"),
        level=Target.Level.INSTITUTION,
        month_weights=weights,
    )
    values = dict(Target.objects.filter(month__gte=1).values_list("month", "value"))
    assert (
        values[1] == Decimal(200000)
        and values[3] == Decimal(100000)
        and values[12] == 0
        and sum(values.values()) == Decimal(1200000)
    )


def test_resolution_person_override_then_branch_rank_then_institution_rank(bank, ind):
    """am1 (junior, branch A) has a personal September target; am2 falls back to the branch A junior default;
    am3 (branch B) to the institution junior default. A quarter adds up three months of flows."""
    code = ind["loan_disbursed_amount"]
    specs = [
        TargetSpec(indicator=code, year=2026, month=m, value=Decimal(100), level=Target.Level.RANK, rank="junior")
        for m in (7, 8, 9)
    ] + [
        TargetSpec(
            indicator=code, year=2026, month=9, value=Decimal(150), level=Target.Level.RANK, rank="junior", branch=bank.branch_a
        ),
        TargetSpec(indicator=code, year=2026, month=9, value=Decimal(500), level=Target.Level.STAFF, staff=bank.am1),
    ]
    targets.targets_set(institution=bank.institution, specs=specs, actor=bank.admin)
    september = TargetBook(bank.institution.pk, {code.pk: code}, dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    assert september.resolve(code.pk, TargetBook.staff_keys(bank.am1.pk, "junior", bank.branch_a.pk)) == Decimal(500)
    assert september.resolve(code.pk, TargetBook.staff_keys(bank.am2.pk, "junior", bank.branch_a.pk)) == Decimal(150)
    assert september.resolve(code.pk, TargetBook.staff_keys(bank.am3.pk, "junior", bank.branch_b.pk)) == Decimal(100)
    assert september.resolve(code.pk, TargetBook.staff_keys(bank.am3.pk, "senior", bank.branch_b.pk)) is None
    quarter = TargetBook(bank.institution.pk, {code.pk: code}, dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert quarter.resolve(code.pk, TargetBook.staff_keys(bank.am3.pk, "junior", bank.branch_b.pk)) == Decimal(300)


def test_targets_for_staff_of_another_institution_are_refused(bank, ind):
    other = make_bank("OTHR")
    with pytest.raises(ApplicationError, match="不属于本行社"):
        targets.target_set(
            institution=bank.institution,
            actor=bank.admin,
            indicator=ind["loan_disbursed_amount"],
            year=2026,
            month=9,
            value=Decimal(1),
            level=Target.Level.STAFF,
            staff=other.am1,
        )
    assert not Target.objects.exists()


def test_only_admins_set_targets(bank, ind):
    with pytest.raises(PermissionDeniedError):
        targets.target_set(
            institution=bank.institution,
            actor=bank.am1,
            indicator=ind["loan_disbursed_amount"],
            year=2026,
            month=9,
            value=Decimal(1),
            level=Target.Level.STAFF,
            staff=bank.am1,
        )


def workbook(rows) -> io.BytesIO:
    book = Workbook()
    sheet = book.active
    sheet.append(["工号", "网点代码", "职级", "指标代码", "年", "月", "目标值"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return buffer


def test_excel_import_with_unknown_staff_writes_nothing_and_reports_rows(bank):
    file = workbook(
        [
            [bank.am1.employee_no, "", "", "loan_disbursed_amount", 2026, 9, 300000],
            ["E-UNKNOWN", "", "", "loan_disbursed_amount", 2026, 9, 300000],
            ["", "NOPE", "", "loan_disbursed_amount", 2026, 9, 1],
            ["", "", "", "no_such_indicator", 2026, 13, "abc"],
        ]
    )
    with pytest.raises(ApplicationError, match="未写入任何数据") as info:
        targets.targets_import_excel(institution=bank.institution, file=file, file_name="t.xlsx", actor=bank.admin)
    report = info.value.extra["errors"]
    assert {row for row, _ in report} == {3, 4, 5}
    assert any("E-UNKNOWN" in message for _, message in report)
    assert not Target.objects.exists() and not ImportBatch.objects.exists()


def test_excel_import_success(bank):
    file = workbook(
        [
            [bank.am1.employee_no, "", "", "loan_disbursed_amount", 2026, 9, 300000.5],
            ["", bank.branch_a.code, "", "loan_disbursed_amount", 2026, "", 12000000],
            ["", "", "senior", "new_credit_customers", 2026, 9, 12],
        ]
    )
    report = targets.targets_import_excel(institution=bank.institution, file=file, file_name="t.xlsx", actor=bank.admin)
    assert report.rows == 3 and report.batch.state == ImportBatch.State.APPLIED and len(report.batch.sha256) == 64
    assert Target.objects.get(level="staff").value == Decimal("300000.5")
    assert Target.objects.filter(level="branch").count() == 13
    assert Target.objects.get(level="rank").scope_key == "R:senior"
