"""Claims (营销归属认领): shares summing to 100 %, cut-off day, conflicts resolved by the branch manager,
maker ≠ checker, re-attribution of facts keeping sums, manual entries with approval and Excel fact imports."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from openpyxl import Workbook

from jikuai.core.exceptions import ApplicationError, PermissionDeniedError
from performance.models import AttributionClaim, ClaimShare, Fact, ImportBatch, Indicator, ManualEntry, PerformancePolicy
from performance.services import attribution
from tests.performance.factories import disbursed, make_bank, make_customer, publish_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank():
    return make_bank()


@pytest.fixture
def customer(bank):
    return make_customer(institution=bank.institution, branch=bank.branch_a, account_manager=bank.am1)


def test_shares_not_summing_to_100_are_refused_and_nothing_is_written(bank, customer):
    with pytest.raises(ApplicationError, match="100%"):
        attribution.claim_submit(customer=customer, shares=[(bank.am1, "60"), (bank.am2, "30")], actor=bank.am1)
    with pytest.raises(ApplicationError):
        attribution.claim_submit(customer=customer, shares=[(bank.am1, "100.005")], actor=bank.am1)
    assert not AttributionClaim.objects.exists() and not ClaimShare.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="deferred constraint trigger exists on PostgreSQL only")
def test_database_refuses_shares_not_summing_to_100_at_commit(bank, customer):
    claim = attribution.claim_submit(customer=customer, shares=[(bank.am1, "100")], actor=bank.am1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ClaimShare.objects.filter(claim=claim).update(percent=Decimal("90"))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert ClaimShare.objects.get(claim=claim).percent == Decimal("100")


def test_cut_off_day(bank, customer):
    """Cut-off 25: a claim on 25 Sep counts from 1 Sep; on 26 Sep from 1 Oct; a policy of 10 moves the line."""
    assert attribution.claim_effective_from(bank.institution.pk, dt.date(2026, 9, 25)) == dt.date(2026, 9, 1)
    assert attribution.claim_effective_from(bank.institution.pk, dt.date(2026, 9, 26)) == dt.date(2026, 10, 1)
    assert attribution.claim_effective_from(bank.institution.pk, dt.date(2026, 12, 31)) == dt.date(2027, 1, 1)
    PerformancePolicy.objects.create(institution=bank.institution, claim_cutoff_day=10)
    assert attribution.claim_effective_from(bank.institution.pk, dt.date(2026, 9, 11)) == dt.date(2026, 10, 1)


def test_claimants_cannot_approve_and_other_branches_cannot_see(bank, customer):
    claim = attribution.claim_submit(
        customer=customer, shares=[(bank.am2, "100")], actor=bank.am2, requested_on=dt.date(2026, 9, 3)
    )
    with pytest.raises(PermissionDeniedError):
        attribution.claim_approve(claim_id=claim.pk, actor=bank.am2)  # no permission, and a claimant
    with pytest.raises(ApplicationError):
        attribution.claim_approve(claim_id=claim.pk, actor=bank.manager_b)  # another branch: not visible
    claim.refresh_from_db()
    assert claim.state == AttributionClaim.State.PENDING


def test_manager_who_is_a_claimant_cannot_approve(bank, customer):
    claim = attribution.claim_submit(customer=customer, shares=[(bank.manager_a, "50"), (bank.am1, "50")], actor=bank.manager_a)
    with pytest.raises(PermissionDeniedError, match="自己"):
        attribution.claim_approve(claim_id=claim.pk, actor=bank.manager_a)
    assert AttributionClaim.objects.get(pk=claim.pk).state == AttributionClaim.State.PENDING


def test_conflict_resolved_by_manager_ends_the_old_claim(bank, customer):
    first = attribution.claim_submit(
        customer=customer, shares=[(bank.am1, "100")], actor=bank.am1, requested_on=dt.date(2026, 8, 5)
    )
    attribution.claim_approve(claim_id=first.pk, actor=bank.manager_a)
    second = attribution.claim_submit(
        customer=customer, shares=[(bank.am2, "100")], actor=bank.am2, requested_on=dt.date(2026, 9, 20)
    )
    assert second.state == AttributionClaim.State.CONFLICT
    attribution.claim_approve(claim_id=second.pk, actor=bank.manager_a, note="经核实由客户经理二维护")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.effective_to) == (AttributionClaim.State.ENDED, dt.date(2026, 8, 31))
    assert second.state == AttributionClaim.State.APPROVED
    assert attribution.claim_on(customer.pk, dt.date(2026, 8, 20)).pk == first.pk
    assert attribution.claim_on(customer.pk, dt.date(2026, 9, 2)).pk == second.pk


def test_rejection_needs_a_reason(bank, customer):
    claim = attribution.claim_submit(customer=customer, shares=[(bank.am2, "100")], actor=bank.am2)
    with pytest.raises(ApplicationError, match="理由"):
        attribution.claim_reject(claim_id=claim.pk, actor=bank.manager_a, note=" ")
    attribution.claim_reject(claim_id=claim.pk, actor=bank.manager_a, note="客户不认可")
    assert AttributionClaim.objects.get(pk=claim.pk).state == AttributionClaim.State.REJECTED


def test_approval_reattributes_facts_from_the_effective_date_keeping_sums(bank, customer):
    """Before the claim am1 holds 1,000.00 (10 Sep) and 500.00 (2 Aug). A claim 50/50 with am2 effective 1 Sep moves
    half of the September loan: am1 500.00 + am2 500.00 in September; August untouched; the total stays 1,500.00.
    The balance snapshots of both loans are re-issued in both names from 1 Sep (the latest snapshot wins), so the
    August loan's balance is shared from September on."""
    publish_event(
        "lending.loan_disbursed",
        disbursed(bank, loan_id=1, customer=customer, amount="500.00", day=dt.date(2026, 8, 2), manager=bank.am1),
    )
    publish_event(
        "lending.loan_disbursed",
        disbursed(bank, loan_id=2, customer=customer, amount="1000.00", day=dt.date(2026, 9, 10), manager=bank.am1),
    )
    claim = attribution.claim_submit(
        customer=customer, shares=[(bank.am2, "50"), (bank.am1, "50")], actor=bank.am2, requested_on=dt.date(2026, 9, 15)
    )
    attribution.claim_approve(claim_id=claim.pk, actor=bank.manager_a)
    amounts = Fact.objects.filter(indicator__code="loan_disbursed_amount")
    september = amounts.filter(fact_date__month=9)
    by_staff = {}
    for staff_id, value in september.values_list("staff_id", "value"):
        by_staff[staff_id] = by_staff.get(staff_id, 0) + value
    assert by_staff == {bank.am1.pk: Decimal(500), bank.am2.pk: Decimal(500)}
    assert sum(amounts.values_list("value", flat=True)) == Decimal(1500)
    assert list(amounts.filter(fact_date__month=8).values_list("staff_id", "value")) == [(bank.am1.pk, Decimal(500))]
    snapshots = Fact.objects.filter(indicator__code="loan_balance", subject_id=2, source="reattribution")
    assert sorted(snapshots.values_list("staff_id", "value")) == sorted(
        [(bank.am1.pk, Decimal(500)), (bank.am2.pk, Decimal(500))]
    )
    august_loan = Fact.objects.filter(indicator__code="loan_balance", subject_id=1, source="reattribution")
    assert set(august_loan.values_list("fact_date", "value")) == {(dt.date(2026, 9, 1), Decimal(250))}
    # approving again is a no-op
    written = Fact.objects.filter(source="reattribution").count()
    attribution.claim_approve(claim_id=claim.pk, actor=bank.manager_a)
    assert Fact.objects.filter(source="reattribution").count() == written == 3 * 2 + 2 * 2


def test_manual_entry_needs_another_person_to_approve(bank):
    complaints = Indicator.objects.get(code="customer_complaints")
    entry = attribution.manual_entry_create(
        institution=bank.institution,
        indicator=complaints,
        staff=bank.am1,
        fact_date=dt.date(2026, 9, 3),
        value="1",
        actor=bank.admin.user,
    )
    with pytest.raises(PermissionDeniedError, match="双人复核"):
        attribution.manual_entry_approve(entry_id=entry.pk, actor=bank.admin.user)
    assert not Fact.objects.exists()
    fact = attribution.manual_entry_approve(entry_id=entry.pk, actor=bank.manager_a.user)
    assert (fact.staff_id, fact.value, fact.source, fact.attribution) == (bank.am1.pk, Decimal(1), "manual", "direct")
    assert ManualEntry.objects.get(pk=entry.pk).state == ManualEntry.State.APPROVED


def test_ratio_indicators_cannot_be_entered(bank):
    with pytest.raises(ApplicationError, match="比率"):
        attribution.manual_entry_create(
            institution=bank.institution,
            indicator=Indicator.objects.get(code="npl_ratio"),
            staff=bank.am1,
            fact_date=dt.date(2026, 9, 3),
            value="1",
            actor=bank.admin.user,
        )
    assert not ManualEntry.objects.exists()


def _workbook(rows) -> io.BytesIO:
    book = Workbook()
    sheet = book.active
    sheet.append(["指标代码", "工号", "网点代码", "客户ID", "日期", "数值", "基期值", "说明"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return buffer


def test_facts_import_all_or_nothing_then_approved_by_another_person(bank, customer):
    bad = _workbook(
        [
            ["deposit_daily_avg", bank.am1.employee_no, "", customer.pk, "2026-09", 12000.5, 10000, "日均"],
            ["customer_complaints", "NOBODY", "", "", "2026-09-03", 1, "", ""],
            ["no_such_indicator", bank.am1.employee_no, "", "", "2026-09-03", "x", "", ""],
        ]
    )
    with pytest.raises(ApplicationError) as info:
        attribution.facts_import_excel(institution=bank.institution, file=bad, file_name="bad.xlsx", actor=bank.admin.user)
    rows = {row for row, _ in info.value.extra["errors"]}
    assert rows == {3, 4}
    assert not ImportBatch.objects.exists() and not ManualEntry.objects.exists()
    good = _workbook([["deposit_daily_avg", bank.am1.employee_no, "", customer.pk, "2026-09", 12000.5, 10000, "日均"]])
    batch = attribution.facts_import_excel(institution=bank.institution, file=good, file_name="good.xlsx", actor=bank.admin.user)
    assert batch.state == ImportBatch.State.PENDING and not Fact.objects.exists()
    with pytest.raises(PermissionDeniedError):
        attribution.facts_import_approve(batch_id=batch.pk, actor=bank.admin.user)
    assert attribution.facts_import_approve(batch_id=batch.pk, actor=bank.manager_a.user) == 1
    fact = Fact.objects.get()
    # a daily average of 12,000.50 in September (30 days) is stored as 积数 360,015.00; the base 10,000 as 300,000
    assert (fact.value, fact.base_value, fact.fact_date, fact.source) == (
        Decimal("360015"),
        Decimal(300000),
        dt.date(2026, 9, 30),
        "import",
    )
