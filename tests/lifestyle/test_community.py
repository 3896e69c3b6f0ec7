"""Referrals (first binding wins, refusals, qualification from bus events, one level), activities with rotating QR
attendance and monthly caps, leaderboards, daily check-in with streak bonus, card activations."""

import datetime as dt

import pytest
from django.utils import timezone

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound
from jikuai.core.models import OutboxEvent
from jikuai.customers.models import Household, HouseholdMember
from lifestyle.models import ActivitySignup, CardActivation, DailyCheckin, PointsAccount, PointsLot, ReferralBinding
from lifestyle.services import community, referrals
from tests.factories import SignedApi, make_client, make_customer, make_staff
from tests.lifestyle.factories import assert_ledger_ok, make_region, make_rule

pytestmark = pytest.mark.django_db


def _balance(customer):
    account = PointsAccount.objects.filter(customer=customer).first()
    return account.balance if account else 0


def _dispatch_all():
    for event_id in OutboxEvent.objects.filter(status="pending").order_by("id").values_list("id", flat=True):
        bus.dispatch(event_id)


# --- referrals ----------------------------------------------------------------------------------


def test_first_binding_wins_and_one_level_reward_after_kyc_and_first_drawdown(customer, other_customer, institution):
    make_rule(topic="lifestyle.referral_qualified", code="referral", points_fixed=200)
    newcomer = make_customer(institution=institution, name="新人")
    binding = referrals.referral_bind(customer=newcomer, code=customer.referral_code)
    assert binding.referrer_customer_id == customer.pk
    assert referrals.referral_bind(customer=newcomer, code=customer.referral_code.lower()).pk == binding.pk
    with pytest.raises(Conflict) as info:
        referrals.referral_bind(customer=newcomer, code=other_customer.referral_code)
    assert info.value.code == "already_bound"
    # the newcomer refers someone else: only one level is ever rewarded
    third = make_customer(institution=institution, name="第三人")
    referrals.referral_bind(customer=third, code=newcomer.referral_code)
    bus.dispatch(bus.publish("customers.kyc_verified", {"customer_id": newcomer.pk}).pk)
    assert _balance(customer) == 0  # KYC alone does not qualify
    bus.dispatch(bus.publish("lending.loan_disbursed", {"customer_id": newcomer.pk, "loan_id": 9, "first_drawdown": True}).pk)
    _dispatch_all()
    binding.refresh_from_db()
    assert binding.status == "qualified"
    assert _balance(customer) == 200
    for who in (third, newcomer):
        bus.dispatch(bus.publish("customers.kyc_verified", {"customer_id": who.pk}).pk)
    bus.dispatch(bus.publish("lending.loan_disbursed", {"customer_id": third.pk, "loan_id": 10, "first_drawdown": True}).pk)
    _dispatch_all()
    assert _balance(newcomer) == 200 and _balance(customer) == 200  # no reward for the grand-referrer
    assert OutboxEvent.objects.filter(topic="lifestyle.referral_qualified").count() == 2
    assert_ledger_ok()


def test_card_activation_qualifies_via_the_api(client, institution, customer):
    make_rule(topic="lifestyle.referral_qualified", code="referral", points_fixed=150)
    make_rule(topic="lifestyle.card_activated", code="card", points_fixed=50)
    newcomer = make_customer(institution=institution, name="持卡人")
    referrals.referral_bind(customer=newcomer, code=customer.referral_code)
    api = SignedApi(client, make_client(institution=institution, scopes=["points:write"]))
    body = {"customer_id": newcomer.pk, "card_ref": "SSC-22018200001", "activated_on": timezone.localdate().isoformat()}
    first = api.post("/api/v1/events/card-activations", body, key="card-1")
    assert first.status_code == 201 and first.json()["created"] is True
    again = api.post("/api/v1/events/card-activations", body, key="card-2")
    assert again.status_code == 200 and again.json()["created"] is False
    future = api.post("/api/v1/events/card-activations", {**body, "card_ref": "X1234", "activated_on": "2999-01-01"}, key="c3")
    assert future.status_code == 400
    _dispatch_all()
    _dispatch_all()
    assert CardActivation.objects.count() == 1
    assert _balance(newcomer) == 50 and _balance(customer) == 150


def test_refused_referrals_create_nothing(institution, customer):
    with pytest.raises(ApplicationError) as info:
        referrals.referral_bind(customer=customer, code=customer.referral_code)
    assert info.value.code == "self_referral" and info.value.message_zh == "不能推荐自己。"
    spouse = make_customer(institution=institution, name="配偶")
    household = Household.objects.create(institution=institution, village=make_region(), head=customer, household_no="H1")
    HouseholdMember.objects.create(household=household, customer=spouse, name="配偶", relation="spouse")
    with pytest.raises(ApplicationError) as info:
        referrals.referral_bind(customer=spouse, code=customer.referral_code)
    assert info.value.code == "same_household"
    phone_friend = make_customer(institution=institution, name="同机")
    referrals.device_seen(customer_id=customer.pk, raw_device_id="device-abc")
    with pytest.raises(ApplicationError) as info:
        referrals.referral_bind(customer=phone_friend, code=customer.referral_code, raw_device_id="device-abc")
    assert info.value.code == "same_device"
    with pytest.raises(NotFound):
        referrals.referral_bind(customer=phone_friend, code="NOSUCH")
    old = make_customer(institution=institution, name="老客户")
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=90))
    old.refresh_from_db()
    with pytest.raises(ApplicationError) as info:
        referrals.referral_bind(customer=old, code=customer.referral_code)
    assert info.value.code == "not_new_customer"
    assert not ReferralBinding.objects.exists()
    assert not OutboxEvent.objects.filter(topic="lifestyle.referral_bound").exists()


def test_staff_code_attributes_the_customer_and_earns_no_points(institution, branch):
    staff = make_staff(role=None, institution=institution, branch=branch)
    code = referrals.staff_referral_code(staff)
    assert code.startswith("ST") and len(code) == 10 and referrals.staff_referral_code(staff) == code
    newcomer = make_customer(institution=institution, name="员工推荐")
    make_rule(topic="lifestyle.referral_qualified", points_fixed=100)
    referrals.referral_bind(customer=newcomer, code=code)
    bound = OutboxEvent.objects.get(topic="lifestyle.referral_bound")
    assert bound.payload["referrer_staff_id"] == staff.pk and "referrer_customer_id" not in bound.payload
    bus.dispatch(bus.publish("lifestyle.card_activated", {"customer_id": newcomer.pk, "card_ref": "A1234"}).pk)
    _dispatch_all()
    qualified = OutboxEvent.objects.get(topic="lifestyle.referral_qualified")
    assert qualified.payload["referrer_staff_id"] == staff.pk
    assert not PointsLot.objects.filter(rule_key__startswith="rule-").exists()


def test_registration_with_referrer_binds_through_the_bus(institution, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        newcomer = make_customer(institution=institution, name="扫码注册", referred_by=customer)
    assert ReferralBinding.objects.get(customer=newcomer).referrer_customer_id == customer.pk


# --- activities ---------------------------------------------------------------------------------


@pytest.fixture
def organiser(institution, branch):
    return make_staff(role=None, institution=institution, branch=branch)


def _activity(organiser, **fields):
    now = timezone.now()
    return community.activity_create(
        organiser=organiser,
        village=make_region(),
        kind=fields.pop("kind", "party"),
        title=fields.pop("title", "党建知识讲座"),
        venue="村委会",
        starts_at=now - dt.timedelta(minutes=10),
        ends_at=now + dt.timedelta(hours=2),
        capacity=fields.pop("capacity", 2),
    )


def test_activity_signup_rotating_qr_checkin_confirm_and_monthly_cap(organiser, customer, other_customer, institution):
    make_rule(topic="lifestyle.activity_attended", code="attend", points_fixed=30, cap_per_month=50)
    late = make_customer(institution=institution, name="迟到")
    activity = _activity(organiser)
    community.activity_signup(customer=customer, activity_id=activity.pk)
    community.activity_signup(customer=other_customer, activity_id=activity.pk)
    with pytest.raises(Conflict) as info:
        community.activity_signup(customer=late, activity_id=activity.pk)
    assert info.value.code == "activity_full"
    token = community.activity_qr_token(activity=activity)
    community.activity_checkin(customer=customer, activity_id=activity.pk, token=token)
    stale = community.activity_qr_token(activity=activity, now=timezone.now() - dt.timedelta(seconds=95))
    with pytest.raises(ApplicationError) as info:
        community.activity_checkin(customer=other_customer, activity_id=activity.pk, token=stale)
    assert info.value.code == "checkin_token_invalid"
    with pytest.raises(Conflict):
        community.activity_checkin(customer=late, activity_id=activity.pk, token=token)
    with pytest.raises(ApplicationError):
        community.activity_confirm(activity_id=activity.pk, organiser=make_staff(role=None, institution=institution))
    assert community.activity_confirm(activity_id=activity.pk, organiser=organiser) == 1
    second = _activity(organiser, title="农技培训", kind="production")
    community.activity_signup(customer=customer, activity_id=second.pk)
    community.activity_checkin(customer=customer, activity_id=second.pk, token=community.activity_qr_token(activity=second))
    community.activity_confirm(activity_id=second.pk, organiser=organiser)
    _dispatch_all()
    assert _balance(customer) == 50  # 30 + 20, capped at 50 per month
    assert _balance(other_customer) == 0  # signed up but never checked in
    assert ActivitySignup.objects.filter(confirmed=True).count() == 2
    boards = community.leaderboards(institution_id=institution.pk)
    assert boards["villages"][0]["points"] == 50 and boards["attendance"][0]["attended"] == 2
    assert boards["branches"][0]["points"] == 50


# --- check-in -----------------------------------------------------------------------------------


def test_daily_checkin_streak_bonus_and_once_per_day(customer):
    make_rule(topic="lifestyle.checkin", code="checkin", points_expression="streak % 7 == 0 ? 15 : 5")
    start = timezone.now() - dt.timedelta(days=10)
    for day in range(7):
        community.checkin(customer=customer, now=start + dt.timedelta(days=day))
    assert DailyCheckin.objects.get(customer=customer, day=timezone.localdate(start + dt.timedelta(days=6))).streak == 7
    assert _balance(customer) == 6 * 5 + 15
    with pytest.raises(Conflict):
        community.checkin(customer=customer, now=start + dt.timedelta(days=6, hours=1))
    community.checkin(customer=customer, now=start + dt.timedelta(days=8))  # a gap resets the streak
    assert DailyCheckin.objects.filter(customer=customer).order_by("-day").first().streak == 1
    assert _balance(customer) == 50
    assert_ledger_ok()
