"""Referrals (客户裂变), community activities (党建/生产/生活), daily check-in, card activations."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jikuai.org.scoping import ScopedManager, ScopeSpec


class ReferralBinding(models.Model):
    """The first referrer a customer was bound to (first binding wins; one level only)."""

    class Status(models.TextChoices):
        BOUND = "bound", "已绑定 bound"
        QUALIFIED = "qualified", "已达标 qualified"

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.PROTECT, related_name="referral_binding", verbose_name="被推荐客户"
    )
    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+")
    referrer_customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="invitees", verbose_name="推荐客户"
    )
    referrer_staff = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="推荐员工"
    )
    code = models.CharField("推荐码 code", max_length=12)
    channel = models.CharField("渠道", max_length=20, blank=True, default="")
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.BOUND)
    kyc_verified_at = models.DateTimeField("实名时间", null=True, blank=True)
    first_drawdown_at = models.DateTimeField("首次用信时间", null=True, blank=True)
    card_activated_at = models.DateTimeField("社保卡激活时间", null=True, blank=True)
    qualified_at = models.DateTimeField("达标时间", null=True, blank=True)
    bound_at = models.DateTimeField("绑定时间", default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="customer__branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "推荐关系 referral"
        verbose_name_plural = "推荐关系 referrals"
        constraints = [
            models.CheckConstraint(
                condition=Q(referrer_customer__isnull=False, referrer_staff__isnull=True)
                | Q(referrer_customer__isnull=True, referrer_staff__isnull=False),
                name="referral_exactly_one_referrer",
            ),
            models.CheckConstraint(condition=~Q(referrer_customer=models.F("customer")), name="referral_not_self"),
        ]

    def __str__(self):
        return f"{self.customer_id} ← {self.code}"


class DeviceSighting(models.Model):
    """A (customer, device cookie hash) pair seen on customer pages; used to refuse same-device referrals."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    device_hash = models.CharField(max_length=64, db_index=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "设备记录 device sighting"
        verbose_name_plural = "设备记录 device sightings"
        constraints = [models.UniqueConstraint(fields=["customer", "device_hash"], name="device_sighting_once")]

    def __str__(self):
        return f"{self.customer_id}:{self.device_hash[:8]}"


class Activity(models.Model):
    """社区活动: organised by staff; customers sign up, check in with a rotating QR, the organiser confirms."""

    class Kind(models.TextChoices):
        PARTY = "party", "党建 party building"
        PRODUCTION = "production", "生产 agricultural training"
        LIFE = "life", "生活 financial literacy"
        OTHER = "other", "其他 other"

    class Status(models.TextChoices):
        OPEN = "open", "报名中 open"
        CONFIRMED = "confirmed", "已确认签到 attendance confirmed"
        CANCELLED = "cancelled", "已取消 cancelled"

    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey("org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    village = models.ForeignKey("customers.Region", on_delete=models.PROTECT, related_name="+", verbose_name="村/社区")
    organiser = models.ForeignKey("org.Staff", on_delete=models.PROTECT, related_name="+", verbose_name="组织人")
    kind = models.CharField("类型 kind", max_length=12, choices=Kind.choices)
    title = models.CharField("主题 title", max_length=100)
    description = models.TextField("内容", blank=True, default="")
    venue = models.CharField("地点 venue", max_length=200)
    starts_at = models.DateTimeField("开始 starts")
    ends_at = models.DateTimeField("结束 ends")
    capacity = models.PositiveIntegerField("名额 capacity", default=100)
    signup_count = models.PositiveIntegerField("已报名", default=0)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.OPEN)
    token_secret = models.CharField(max_length=64, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="organiser")

    class Meta:
        verbose_name = "社区活动 activity"
        verbose_name_plural = "社区活动 activities"
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="activity_window_ordered"),
            models.CheckConstraint(condition=Q(signup_count__lte=models.F("capacity")), name="activity_within_capacity"),
        ]

    def __str__(self):
        return self.title


class ActivitySignup(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.PROTECT, related_name="signups")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    signed_up_at = models.DateTimeField(default=timezone.now)
    checked_in_at = models.DateTimeField("签到时间", null=True, blank=True)
    confirmed = models.BooleanField("组织人确认", default=False)

    class Meta:
        verbose_name = "活动报名 signup"
        verbose_name_plural = "活动报名 signups"
        constraints = [models.UniqueConstraint(fields=["activity", "customer"], name="activity_signup_once")]

    def __str__(self):
        return f"{self.activity_id}:{self.customer_id}"


class DailyCheckin(models.Model):
    """每日签到 with the running streak length."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    day = models.DateField("日期")
    streak = models.PositiveIntegerField("连续天数 streak")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "签到 check-in"
        verbose_name_plural = "签到 check-ins"
        constraints = [models.UniqueConstraint(fields=["customer", "day"], name="checkin_once_per_day")]

    def __str__(self):
        return f"{self.customer_id} {self.day} ×{self.streak}"


class CardActivation(models.Model):
    """社保卡激活 reported by the integrator; idempotent by (institution, card reference)."""

    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    card_ref = models.CharField("卡片标识 card reference", max_length=40)
    activated_on = models.DateField("激活日期")
    received_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="customer__branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "社保卡激活 card activation"
        verbose_name_plural = "社保卡激活 card activations"
        constraints = [models.UniqueConstraint(fields=["institution", "card_ref"], name="card_activation_once")]

    def __str__(self):
        return self.card_ref
