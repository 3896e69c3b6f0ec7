"""Community activities (党建 / 生产 / 生活), attendance by rotating QR, leaderboards, and daily check-in."""

import datetime as dt
import hmac
import logging
import secrets
from hashlib import sha256

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, Conflict, NotFound
from jikuai.customers.models import Customer
from lifestyle import reasons
from lifestyle.models import Activity, ActivitySignup, DailyCheckin, PointsLot, Topic
from lifestyle.services import earning

logger = logging.getLogger(__name__)

QR_WINDOW_SECONDS = 30
CHECKIN_MARGIN = dt.timedelta(minutes=30)


# --- activities ------------------------------------------------------------------------------------


def activity_create(
    *,
    organiser,
    village,
    kind: str,
    title: str,
    venue: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    capacity: int = 100,
    description: str = "",
) -> Activity:
    if kind not in Activity.Kind.values:
        raise ApplicationError("活动类型无效。", "unknown activity kind", code="invalid_activity")
    if not (title or "").strip() or not (venue or "").strip():
        raise ApplicationError("请填写活动主题和地点。", "title and venue are required", code="invalid_activity")
    if ends_at <= starts_at:
        raise ApplicationError("结束时间应晚于开始时间。", "end must be after start", code="invalid_activity")
    if organiser.institution_id is None:
        raise ApplicationError("组织人需属于法人行社。", "organiser must belong to an institution", code="invalid_activity")
    if not 1 <= capacity <= 10000:
        raise ApplicationError("名额应在1到10000之间。", "capacity must be 1-10000", code="invalid_activity")
    return Activity.objects.create(
        institution_id=organiser.institution_id,
        branch_id=organiser.branch_id,
        village=village,
        organiser=organiser,
        kind=kind,
        title=title.strip()[:100],
        venue=venue.strip()[:200],
        description=description,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        token_secret=secrets.token_hex(32),
    )


def activities_for_customer(customer: Customer, *, now: dt.datetime | None = None):
    now = now or timezone.now()
    return (
        Activity.objects.filter(institution_id=customer.institution_id, ends_at__gte=now - dt.timedelta(days=1))
        .exclude(status=Activity.Status.CANCELLED)
        .select_related("village")
        .order_by("starts_at")
    )


def activity_signup(*, customer: Customer, activity_id: int, now: dt.datetime | None = None) -> ActivitySignup:
    now = now or timezone.now()
    activity = Activity.objects.filter(pk=activity_id, institution_id=customer.institution_id).first()
    if activity is None:
        raise NotFound("活动不存在。", "activity not found")
    existing = ActivitySignup.objects.filter(activity=activity, customer=customer).first()
    if existing is not None:
        return existing
    if activity.status != Activity.Status.OPEN or activity.ends_at <= now:
        raise Conflict("活动已结束或不再接受报名。", "activity no longer open", code="activity_closed")
    try:
        with transaction.atomic():
            taken = Activity.objects.filter(pk=activity.pk, signup_count__lt=F("capacity")).update(
                signup_count=F("signup_count") + 1
            )
            if not taken:
                raise Conflict("名额已满。", "activity is full", code="activity_full")
            return ActivitySignup.objects.create(activity=activity, customer=customer, signed_up_at=now)
    except IntegrityError:
        return ActivitySignup.objects.get(activity=activity, customer=customer)


def _window(now: dt.datetime) -> int:
    return int(now.timestamp()) // QR_WINDOW_SECONDS


def _sign(activity: Activity, window: int) -> str:
    return hmac.new(bytes.fromhex(activity.token_secret), f"{activity.pk}:{window}".encode(), sha256).hexdigest()[:20]


def activity_qr_token(*, activity: Activity, now: dt.datetime | None = None) -> str:
    """The token shown at the venue; it rotates every 30 seconds, so a photo sent home expires within a minute."""
    window = _window(now or timezone.now())
    return f"{activity.pk}.{window}.{_sign(activity, window)}"


def activity_checkin(*, customer: Customer, activity_id: int, token: str, now: dt.datetime | None = None) -> ActivitySignup:
    now = now or timezone.now()
    activity = Activity.objects.filter(pk=activity_id, institution_id=customer.institution_id).first()
    if activity is None:
        raise NotFound("活动不存在。", "activity not found")
    parts = (token or "").split(".")
    valid = False
    if len(parts) == 3 and parts[0] == str(activity.pk) and parts[1].isdigit():
        window = int(parts[1])
        current = _window(now)
        valid = window in (current, current - 1) and hmac.compare_digest(_sign(activity, window), parts[2])
    if not valid:
        raise ApplicationError(
            "签到码已失效，请扫描现场最新二维码。", "check-in code expired or invalid", code="checkin_token_invalid"
        )
    if activity.status != Activity.Status.OPEN or not (
        activity.starts_at - CHECKIN_MARGIN <= now <= activity.ends_at + CHECKIN_MARGIN
    ):
        raise Conflict("不在活动签到时间内。", "outside the check-in time", code="checkin_closed")
    signup = ActivitySignup.objects.filter(activity=activity, customer=customer).first()
    if signup is None:
        raise Conflict("请先报名该活动。", "sign up first", code="not_signed_up")
    ActivitySignup.objects.filter(pk=signup.pk, checked_in_at__isnull=True).update(checked_in_at=now)
    signup.refresh_from_db()
    return signup


def activity_confirm(*, activity_id: int, organiser, signup_ids: list[int] | None = None) -> int:
    """The organiser confirms who attended (default: everyone who checked in); each confirmed attendee produces
    ``lifestyle.activity_attended``, which earns points under the activity rules (capped per month)."""
    with transaction.atomic():
        activity = Activity.objects.select_for_update().filter(pk=activity_id).first()
        if activity is None:
            raise NotFound("活动不存在。", "activity not found")
        if activity.organiser_id != organiser.pk:
            raise ApplicationError("只有组织人可以确认签到名单。", "only the organiser confirms attendance", code="not_organiser")
        if activity.status == Activity.Status.CONFIRMED:
            return 0
        signups = ActivitySignup.objects.filter(activity=activity, checked_in_at__isnull=False)
        if signup_ids is not None:
            signups = signups.filter(pk__in=signup_ids)
        confirmed = list(signups.select_related("customer"))
        ActivitySignup.objects.filter(pk__in=[s.pk for s in confirmed]).update(confirmed=True)
        activity.status = Activity.Status.CONFIRMED
        activity.confirmed_at = timezone.now()
        activity.save(update_fields=["status", "confirmed_at"])
        for signup in confirmed:
            customer = signup.customer
            bus.publish(
                "lifestyle.activity_attended",
                {
                    "activity_id": activity.pk,
                    "customer_id": customer.pk,
                    "kind": activity.kind,
                    "institution_id": activity.institution_id,
                    "branch_id": customer.branch_id,
                    "account_manager_id": activity.organiser_id,
                },
            )
    return len(confirmed)


def leaderboards(*, institution_id: int, month_start: dt.date | None = None, limit: int = 10) -> dict:
    """Village and branch leaderboards (村/网点排行榜) of points earned this month and activity attendance."""
    today = timezone.localdate()
    month_start = month_start or today.replace(day=1)
    start = timezone.make_aware(dt.datetime.combine(month_start, dt.time.min))
    lots = PointsLot.objects.filter(account__institution_id=institution_id, earned_at__gte=start).exclude(
        status=PointsLot.Status.CANCELLED
    )
    villages = list(
        lots.filter(account__customer__region__isnull=False)
        .values("account__customer__region__name")
        .annotate(points=Sum("amount"), customers=Count("account", distinct=True))
        .order_by("-points")[:limit]
    )
    branches = list(
        lots.filter(account__branch__isnull=False)
        .values("account__branch__name")
        .annotate(points=Sum("amount"), customers=Count("account", distinct=True))
        .order_by("-points")[:limit]
    )
    attendance = list(
        ActivitySignup.objects.filter(activity__institution_id=institution_id, confirmed=True, activity__starts_at__gte=start)
        .values("activity__village__name")
        .annotate(attended=Count("id"))
        .order_by("-attended")[:limit]
    )
    return {
        "villages": [
            {"name": r["account__customer__region__name"], "points": r["points"], "customers": r["customers"]} for r in villages
        ],
        "branches": [{"name": r["account__branch__name"], "points": r["points"], "customers": r["customers"]} for r in branches],
        "attendance": [{"name": r["activity__village__name"], "attended": r["attended"]} for r in attendance],
    }


# --- daily check-in --------------------------------------------------------------------------------


def checkin(*, customer: Customer, now: dt.datetime | None = None) -> tuple[DailyCheckin, list]:
    """每日签到: one per day; the streak continues when yesterday was checked in. Points come from the rules of
    topic lifestyle.checkin (the formula sees ``streak``, e.g. a bonus every 7th day)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    yesterday = DailyCheckin.objects.filter(customer=customer, day=today - dt.timedelta(days=1)).first()
    streak = yesterday.streak + 1 if yesterday else 1
    try:
        with transaction.atomic():
            record = DailyCheckin.objects.create(customer=customer, day=today, streak=streak, created_at=now)
    except IntegrityError:
        raise Conflict("今天已经签到过了。", "already checked in today", code="already_checked_in")
    reason, why = reasons.record("checkin", streak=streak)
    source = earning.EarningSource(
        customer_id=customer.pk,
        source_ref="checkin",
        period=today.isoformat(),
        context={"streak": streak},
        reason=reason,
        reference=why,
    )
    results = earning.points_award_source(topic=Topic.CHECKIN, source=source, now=now)
    return record, results


def checkin_status(customer: Customer, *, today: dt.date | None = None) -> dict:
    today = today or timezone.localdate()
    last = DailyCheckin.objects.filter(customer=customer).order_by("-day").first()
    checked_today = bool(last and last.day == today)
    streak = last.streak if last and last.day >= today - dt.timedelta(days=1) else 0
    return {"checked_today": checked_today, "streak": streak}
