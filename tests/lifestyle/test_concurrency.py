"""Concurrency on PostgreSQL with real threads: a naive read-then-write spend overspends, the guarded UPDATE does
not; concurrent redemptions never oversell stock, never exceed a campaign budget, never double-verify."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from lifestyle.models import Campaign, PayableLine, PointsAccount, PointsDebit, Voucher
from lifestyle.services import earning, ledger, vouchers
from tests.factories import BranchFactory, InstitutionFactory, make_customer
from tests.lifestyle.factories import (
    assert_ledger_ok,
    give_points,
    make_benefit,
    make_merchant,
    make_rule,
    set_point_value,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="real-thread concurrency needs PostgreSQL"),
]


def _run_threads(count: int, target) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def worker(index):
        try:
            barrier.wait(timeout=10)
            results[index] = target(index)
        except Exception as exc:  # collected and asserted by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def naive_spend(account_id: int, points: int) -> bool:
    """Deliberately wrong: read the balance, decide in Python, write the computed value back."""
    with transaction.atomic():
        balance = PointsAccount.objects.get(pk=account_id).balance
        time.sleep(0.05)  # the window every real system has between read and write
        if balance < points:
            return False
        PointsAccount.objects.filter(pk=account_id).update(balance=balance - points)
        PointsDebit.objects.create(account_id=account_id, kind="spend", points=points, reason="naive")
        return True


def _customer():
    institution = InstitutionFactory()
    return make_customer(institution=institution, branch=BranchFactory(institution=institution))


def test_naive_read_then_write_overspends():
    customer = _customer()
    give_points(customer, 100)
    account = PointsAccount.objects.get(customer=customer)
    results = _run_threads(4, lambda _i: naive_spend(account.pk, 100))
    spent = sum(PointsDebit.objects.filter(account=account, reason="naive").values_list("points", flat=True))
    assert results.count(True) > 1  # more than one device got the goods …
    assert spent > 100  # … so more points were spent than ever existed


def test_guarded_update_never_overspends():
    customer = _customer()
    give_points(customer, 100)
    account = PointsAccount.objects.get(customer=customer)

    def spend(_i):
        with transaction.atomic():
            ledger.points_spend(account_id=account.pk, points=100, reason="two devices")
        return True

    results = _run_threads(4, spend)
    assert results.count(True) == 1
    assert all(isinstance(r, ledger.InsufficientPoints) for r in results if r is not True)
    account.refresh_from_db()
    assert account.balance == 0
    assert sum(PointsDebit.objects.filter(account=account, kind="spend").values_list("points", flat=True)) == 100
    assert_ledger_ok([account.pk])


def test_concurrent_redemptions_from_two_devices_and_stock_never_oversold():
    customer = _customer()
    others = [make_customer(institution=customer.institution) for _ in range(5)]
    shop = make_merchant(institution=customer.institution)
    set_point_value(customer.institution)
    benefit = make_benefit(institution=customer.institution, merchants=[shop], points_price=300, stock=3)
    give_points(customer, 500)  # enough for one only
    for other in others:
        give_points(other, 300)
    people = [customer, customer, *others]

    def redeem(i):
        return vouchers.voucher_issue(customer=people[i], benefit_id=benefit.pk, request_token=vouchers.new_request_token())

    results = _run_threads(len(people), redeem)
    issued = [r for r in results if isinstance(r, Voucher)]
    benefit.refresh_from_db()
    assert len(issued) == 3 and benefit.stock_remaining == 0
    assert Voucher.objects.count() == 3
    assert Voucher.objects.filter(customer=customer).count() <= 1
    assert PointsAccount.objects.get(customer=customer).balance in (200, 500)
    assert_ledger_ok()


def test_campaign_budget_is_never_exceeded_concurrently():
    institution = InstitutionFactory()
    customers = [make_customer(institution=institution) for _ in range(6)]
    rule = make_rule(topic="customers.kyc_verified", points_fixed=10)
    now = timezone.now()
    campaign = Campaign.objects.create(
        code="race", name="race", starts_at=now, ends_at=now + timezone.timedelta(days=1), bonus_points=10, budget_total=30
    )
    campaign.rules.add(rule)

    def award(i):
        return earning.points_award_for_event(topic="customers.kyc_verified", payload={"customer_id": customers[i].pk})[0]

    results = _run_threads(len(customers), award)
    assert all(r.status == "awarded" for r in results)
    campaign.refresh_from_db()
    assert campaign.budget_used == 30
    assert sum(r.lot.campaign_points for r in results) == 30
    assert_ledger_ok()


def test_double_scan_at_two_tills_redeems_once():
    customer = _customer()
    shop = make_merchant(institution=customer.institution)
    set_point_value(customer.institution)
    benefit = make_benefit(institution=customer.institution, merchants=[shop], points_price=100)
    give_points(customer, 100)
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    tokens = [vouchers.voucher_qr_token(voucher=voucher).value for _ in range(4)]

    def verify(i):
        return vouchers.voucher_verify(merchant=shop, user=None, token=tokens[i])

    results = _run_threads(4, verify)
    assert sum(isinstance(r, Voucher) for r in results) == 1
    assert all(isinstance(r, (Voucher, vouchers.VoucherRefused)) for r in results)
    assert PayableLine.objects.filter(voucher=voucher).count() == 1
    assert_ledger_ok()
