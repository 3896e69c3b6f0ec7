"""Points ledger: earning, spending by earliest expiry, expiry, activation, reversal into debt, postings."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from lifestyle.models import LedgerEntry, LedgerLeg, PointsAccount, PointsAllocation, PointsDebit, PointsLot
from lifestyle.services import earning, ledger
from tests.lifestyle.factories import assert_ledger_ok, give_points, make_rule

pytestmark = pytest.mark.django_db


def _accounts_ok():
    # raw spends move points to the vouchers book without a voucher, so only per-account checks apply here
    assert_ledger_ok(list(PointsAccount.objects.values_list("pk", flat=True)))


def _spend(account_id, points, reason="兑换"):
    with transaction.atomic():
        return ledger.points_spend(account_id=account_id, points=points, reason=reason)


def test_spend_allocates_earliest_expiry_first_then_id(customer):
    now = timezone.now()
    late = give_points(customer, 50, validity_days=300, now=now)
    early = give_points(customer, 30, validity_days=10, now=now)
    early_twin = give_points(customer, 20, validity_days=10, now=now)
    account = PointsAccount.objects.get(customer=customer)
    assert account.balance == 100
    debit = _spend(account.pk, 60)
    allocations = {a.lot_id: a.points for a in PointsAllocation.objects.filter(debit=debit)}
    assert allocations == {early.pk: 30, early_twin.pk: 20, late.pk: 10}
    account.refresh_from_db()
    assert account.balance == 40
    assert PointsLot.objects.get(pk=late.pk).remaining == 40
    _accounts_ok()


def test_overspend_refused_and_nothing_written(customer):
    give_points(customer, 40)
    account = PointsAccount.objects.get(customer=customer)
    debits, allocations, entries = PointsDebit.objects.count(), PointsAllocation.objects.count(), LedgerEntry.objects.count()
    with pytest.raises(ledger.InsufficientPoints) as info:
        _spend(account.pk, 41)
    assert "积分不足" in info.value.message_zh
    account.refresh_from_db()
    assert account.balance == 40
    assert (PointsDebit.objects.count(), PointsAllocation.objects.count(), LedgerEntry.objects.count()) == (
        debits,
        allocations,
        entries,
    )
    _accounts_ok()


def test_check_constraint_is_the_backstop(customer):
    give_points(customer, 5)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsAccount.objects.filter(customer=customer).update(balance=-1)


def test_expiry_is_an_explicit_debit_to_breakage(customer):
    now = timezone.now()
    old = give_points(customer, 70, validity_days=5, now=now)
    give_points(customer, 30, validity_days=100, now=now)
    account = PointsAccount.objects.get(customer=customer)
    _spend(account.pk, 20)  # comes out of the lot expiring first
    totals = ledger.lots_expire_due(today=timezone.localdate(now) + dt.timedelta(days=6))
    assert totals["points"] == 50
    old.refresh_from_db()
    assert (old.status, old.remaining) == (PointsLot.Status.EXPIRED, 0)
    expiry = PointsDebit.objects.get(kind=PointsDebit.Kind.EXPIRE)
    assert expiry.points == 50
    assert list(expiry.allocations.values_list("lot_id", "points")) == [(old.pk, 50)]
    account.refresh_from_db()
    assert account.balance == 30
    breakage = LedgerLeg.objects.filter(book=LedgerLeg.Book.BREAKAGE).values_list("points", flat=True)
    assert sum(breakage) == -50
    # a second run finds nothing
    assert ledger.lots_expire_due(today=timezone.localdate(now) + dt.timedelta(days=6))["points"] == 0
    _accounts_ok()


def test_hold_period_pending_then_active(customer):
    rule = make_rule(topic="customers.kyc_verified", points_fixed=200, hold_days=7)
    now = timezone.now()
    [result] = earning.points_award_source(
        topic="customers.kyc_verified", source=earning.EarningSource(customer_id=customer.pk, source_ref="kyc"), now=now
    )
    assert result.status == "awarded" and result.lot.status == PointsLot.Status.PENDING
    account = PointsAccount.objects.get(customer=customer)
    assert account.balance == 0
    assert_ledger_ok()
    assert ledger.lots_activate_due(now=now + dt.timedelta(days=6)) == 0
    assert ledger.lots_activate_due(now=now + dt.timedelta(days=7, seconds=1)) == 1
    account.refresh_from_db()
    assert account.balance == 200
    assert rule.code == result.rule_code
    assert_ledger_ok()


def test_reversal_claws_back_and_spent_part_becomes_debt_settled_by_next_earning(customer):
    lot = give_points(customer, 100)
    account = PointsAccount.objects.get(customer=customer)
    _spend(account.pk, 60)
    ledger.lot_reverse(lot_id=lot.pk, reason="还款被冲正")
    lot.refresh_from_db()
    account.refresh_from_db()
    assert lot.status == PointsLot.Status.CANCELLED and lot.remaining == 0
    assert (account.balance, account.debt) == (0, 60)
    _accounts_ok()
    # reversing twice changes nothing
    ledger.lot_reverse(lot_id=lot.pk, reason="again")
    account.refresh_from_db()
    assert (account.balance, account.debt) == (0, 60)
    # later earnings repay the debt first
    give_points(customer, 50)
    account.refresh_from_db()
    assert (account.balance, account.debt) == (0, 10)
    give_points(customer, 25)
    account.refresh_from_db()
    assert (account.balance, account.debt) == (15, 0)
    settlements = PointsDebit.objects.filter(kind=PointsDebit.Kind.DEBT_SETTLEMENT).values_list("points", flat=True)
    assert sorted(settlements) == [10, 50]
    _accounts_ok()


def test_reversal_of_pending_lot_cancels_it(customer):
    make_rule(topic="customers.kyc_verified", points_fixed=80, hold_days=3)
    [result] = earning.points_award_source(
        topic="customers.kyc_verified", source=earning.EarningSource(customer_id=customer.pk, source_ref="kyc")
    )
    ledger.lot_reverse(lot_id=result.lot.pk, reason="KYC 撤销")
    account = PointsAccount.objects.get(customer=customer)
    assert (account.balance, account.debt) == (0, 0)
    assert ledger.lots_activate_due(now=timezone.now() + dt.timedelta(days=10)) == 0
    assert_ledger_ok()


def test_unbalanced_posting_refused_by_service():
    with pytest.raises(ledger.LedgerUnbalanced):
        ledger.post_entry(kind="earn", legs=[ledger.Leg("expense", 10), ledger.Leg("pending", -9)])
    assert not LedgerEntry.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="deferred constraint trigger exists on PostgreSQL only")
def test_unbalanced_legs_refused_by_database_trigger(customer):
    from django.db import DatabaseError

    entry = LedgerEntry.objects.create(kind="earn")
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerLeg.objects.create(entry=entry, book="expense", points=10)
        LedgerLeg.objects.create(entry=entry, book="pending", points=-9)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not LedgerLeg.objects.filter(entry=entry).exists()
