"""Earning from real bus events: rules, conditions, caps, campaigns with budgets, replays, compliance sign-off."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, PermissionDeniedError
from jikuai.core.models import EventDelivery
from lifestyle.models import Campaign, LedgerEntry, PointsAccount, PointsLot
from lifestyle.services import earning, ledger
from tests.factories import make_staff
from tests.lifestyle.factories import assert_ledger_ok, make_rule

pytestmark = pytest.mark.django_db


def _installment_paid(customer, *, loan_id=7, number=1, on_time=True, amount_fen=123_400):
    return bus.publish(
        "lending.installment_paid",
        {
            "loan_id": loan_id,
            "customer_id": customer.pk,
            "installment_number": number,
            "due_date": "2026-05-20",
            "paid_date": "2026-05-19",
            "on_time": on_time,
            "amount": f"{amount_fen / 100:.2f}",
            "amount_fen": amount_fen,
            "institution_id": customer.institution_id,
            "branch_id": customer.branch_id,
            "account_manager_id": None,
        },
    )


def _balance(customer):
    account = PointsAccount.objects.filter(customer=customer).first()
    return account.balance if account else 0


def test_on_time_repayment_event_earns_points_through_the_bus(customer, django_capture_on_commit_callbacks):
    make_rule(
        topic="lending.installment_paid",
        code="ontime",
        condition_expression="on_time == true",
        points_expression="floor(amount_fen / 10000)",
    )
    with django_capture_on_commit_callbacks(execute=True):
        _installment_paid(customer, amount_fen=123_400)
    assert _balance(customer) == 12
    lot = PointsLot.objects.get()
    assert (lot.rule_key, lot.source_ref, lot.reason) == ("ontime", "loan:7:installment:1", "按时还款（贷款 7 第 1 期）")
    assert lot.reference["topic"] == "lending.installment_paid"
    assert_ledger_ok()


def test_late_repayment_earns_nothing(customer):
    make_rule(topic="lending.installment_paid", condition_expression="on_time == true", points_fixed=5)
    event = _installment_paid(customer, on_time=False)
    bus.dispatch(event.pk)
    assert not PointsLot.objects.exists()
    assert _balance(customer) == 0


def test_replayed_event_and_duplicate_business_key_create_nothing(customer):
    make_rule(topic="lending.installment_paid", points_fixed=5)
    first = _installment_paid(customer)
    bus.dispatch(first.pk)
    bus.dispatch(first.pk)  # delivery repeated: the handler runs once
    # the same installment published again as a new event (lending retried): business key refuses it
    second = _installment_paid(customer)
    bus.dispatch(second.pk)
    assert PointsLot.objects.count() == 1
    assert _balance(customer) == 5
    assert EventDelivery.objects.filter(event_id=second.pk, handler="lifestyle.points:lending.installment_paid").exists()
    assert_ledger_ok()


def test_first_drawdown_and_kyc_events(customer):
    make_rule(topic="lending.loan_disbursed", code="first-dd", condition_expression="first_drawdown == true", points_fixed=100)
    make_rule(topic="customers.kyc_verified", code="kyc", points_fixed=30)
    later = bus.publish(
        "lending.loan_disbursed", {"loan_id": 2, "customer_id": customer.pk, "first_drawdown": False, "amount_fen": 100}
    )
    first = bus.publish(
        "lending.loan_disbursed", {"loan_id": 1, "customer_id": customer.pk, "first_drawdown": True, "amount_fen": 100}
    )
    kyc = bus.publish("customers.kyc_verified", {"customer_id": customer.pk, "institution_id": customer.institution_id})
    for event in (later, first, kyc, kyc):
        bus.dispatch(event.pk)
    assert _balance(customer) == 130
    assert set(PointsLot.objects.values_list("rule_key", flat=True)) == {"first-dd", "kyc"}


def test_caps_per_day_and_customer(customer):
    make_rule(topic="lending.installment_paid", points_fixed=40, cap_per_day=100, cap_per_customer=150)
    now = timezone.now()
    awarded = []
    for number in range(1, 5):
        source = earning.source_from_event(
            "lending.installment_paid", {"loan_id": 1, "customer_id": customer.pk, "installment_number": number, "on_time": True}
        )
        [result] = earning.points_award_source(topic="lending.installment_paid", source=source, now=now)
        awarded.append((result.status, result.points))
    assert awarded == [("awarded", 40), ("awarded", 40), ("awarded", 20), ("skipped", 0)]
    tomorrow = now + dt.timedelta(days=1)
    source = earning.source_from_event(
        "lending.installment_paid", {"loan_id": 1, "customer_id": customer.pk, "installment_number": 9, "on_time": True}
    )
    [result] = earning.points_award_source(topic="lending.installment_paid", source=source, now=tomorrow)
    assert (result.status, result.points) == ("awarded", 40)
    source = earning.source_from_event(
        "lending.installment_paid", {"loan_id": 1, "customer_id": customer.pk, "installment_number": 10, "on_time": True}
    )
    [result] = earning.points_award_source(topic="lending.installment_paid", source=source, now=tomorrow)
    assert (result.status, result.points) == ("awarded", 10)  # lifetime cap 150 reached
    assert _balance(customer) == 150


def test_segment_limits_who_earns(customer, other_customer):
    customer.occupation = "teacher"
    customer.save()
    make_rule(topic="customers.kyc_verified", points_fixed=10, segment_occupations=["farmer"])
    for who in (customer, other_customer):
        bus.dispatch(bus.publish("customers.kyc_verified", {"customer_id": who.pk}).pk)
    assert _balance(customer) == 0
    assert _balance(other_customer) == 10


def _campaign(rule, **fields):
    now = timezone.now()
    campaign = Campaign.objects.create(
        code=fields.pop("code", "double"),
        name=fields.pop("name", "双倍积分月"),
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=30),
        multiplier=fields.pop("multiplier", Decimal("2")),
        budget_total=fields.pop("budget_total", 100),
        **fields,
    )
    campaign.rules.add(rule)
    return campaign


def test_campaign_multiplier_within_budget_then_exhausted(customer, other_customer):
    rule = make_rule(topic="customers.kyc_verified", points_fixed=60)
    campaign = _campaign(rule, budget_total=100)
    r1 = earning.points_award_for_event(topic="customers.kyc_verified", payload={"customer_id": customer.pk})[0]
    r2 = earning.points_award_for_event(topic="customers.kyc_verified", payload={"customer_id": other_customer.pk})[0]
    assert (r1.lot.base_points, r1.lot.campaign_points) == (60, 60)
    # the second bonus (60) would exceed the budget left (40): no bonus, clear note, budget unchanged
    assert (r2.lot.base_points, r2.lot.campaign_points) == (60, 0)
    assert "预算已用完" in r2.campaign_note
    campaign.refresh_from_db()
    assert campaign.budget_used == 60
    assert_ledger_ok()
    # reversal returns the budget
    ledger.lot_reverse(lot_id=r1.lot.pk, reason="测试")
    campaign.refresh_from_db()
    assert campaign.budget_used == 0
    assert_ledger_ok()


def test_campaign_per_customer_limit(customer):
    rule = make_rule(topic="lending.installment_paid", points_fixed=10)
    _campaign(rule, multiplier=Decimal("1"), bonus_points=5, per_customer_limit=1, budget_total=1000)
    bonuses = []
    for number in (1, 2):
        source = earning.source_from_event(
            "lending.installment_paid", {"loan_id": 3, "customer_id": customer.pk, "installment_number": number}
        )
        [result] = earning.points_award_source(topic="lending.installment_paid", source=source)
        bonuses.append(result.lot.campaign_points)
    assert bonuses == [5, 0]


def test_campaign_budget_cannot_be_overdrawn_by_the_database():
    from django.db import IntegrityError, transaction

    now = timezone.now()
    campaign = Campaign.objects.create(code="c", name="c", starts_at=now, ends_at=now + dt.timedelta(days=1), budget_total=10)
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(budget_used=11)


def test_deposit_rule_without_sign_off_does_not_award(customer, institution):
    rule = make_rule(
        topic="lending.installment_paid", points_fixed=50, deposit_linked=True, institution=institution, code="deposit-linked"
    )
    bus.dispatch(_installment_paid(customer).pk)
    assert not PointsLot.objects.exists()
    maker = rule.created_by
    checker = make_staff(role=None, institution=institution).user
    from django.contrib.auth.models import Permission

    checker.user_permissions.add(Permission.objects.get(codename="sign_off_rule"))
    checker = type(checker).objects.get(pk=checker.pk)
    earning.rule_sign_off(rule_id=rule.pk, user=checker)
    bus.dispatch(_installment_paid(customer, number=2).pk)
    assert _balance(customer) == 50
    assert maker is None


def test_sign_off_needs_permission_and_a_different_person(institution):
    from django.contrib.auth.models import Permission

    maker = make_staff(role=None, institution=institution).user
    perm = Permission.objects.get(codename="sign_off_rule")
    maker.user_permissions.add(perm)
    rule = earning.rule_save(
        rule=earning.EarningRule(
            code="dep",
            name="存款增长",
            topic="lifestyle.deposit_growth",
            deposit_unit_fen=100_000,
            deposit_points_per_unit=1,
            hold_days=30,
        ),
        user=maker,
    )
    assert rule.deposit_linked is True
    maker = type(maker).objects.get(pk=maker.pk)
    with pytest.raises(PermissionDeniedError):
        earning.rule_sign_off(rule_id=rule.pk, user=maker)
    stranger = make_staff(role=None, institution=institution).user
    with pytest.raises(PermissionDeniedError):
        earning.rule_sign_off(rule_id=rule.pk, user=stranger)
    rule.refresh_from_db()
    assert not rule.is_signed_off
    checker = make_staff(role=None, institution=institution).user
    checker.user_permissions.add(perm)
    checker = type(checker).objects.get(pk=checker.pk)
    earning.rule_sign_off(rule_id=rule.pk, user=checker)
    rule.refresh_from_db()
    assert rule.is_signed_off
    # changing what it awards clears the sign-off
    rule.deposit_points_per_unit = 5
    earning.rule_save(rule=rule, user=maker, changed_fields=["deposit_points_per_unit"])
    rule.refresh_from_db()
    assert not rule.is_signed_off


def test_invalid_rule_definitions_are_refused():
    with pytest.raises(ApplicationError):
        make_rule(topic="customers.kyc_verified", condition_expression="on_time ==")
    with pytest.raises(ApplicationError):
        make_rule(topic="customers.kyc_verified", points_fixed=0)
    with pytest.raises(ApplicationError):
        make_rule(topic="lifestyle.deposit_growth", deposit_unit_fen=100, deposit_points_per_unit=1, hold_days=0)
    assert not earning.EarningRule.objects.exists()


def test_expression_error_at_runtime_skips_without_writing(customer):
    make_rule(topic="lending.installment_paid", points_expression="amount_fen / 100")
    bus.dispatch(bus.publish("lending.installment_paid", {"customer_id": customer.pk, "loan_id": 1, "installment_number": 1}).pk)
    # amount_fen missing from payload → 0 → zero points: nothing written, no ledger entry
    assert not PointsLot.objects.exists()
    assert not LedgerEntry.objects.exists()
