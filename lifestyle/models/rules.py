"""Earning rules (积分规则) and campaigns (营销活动)."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from jikuai.org.scoping import ScopedManager, ScopeSpec
from lifestyle.models.common import FundingSource, SegmentFields, Topic


class EarningRule(SegmentFields):
    """How many points an event earns, for whom, with caps, validity and hold period.

    Deposit-linked rules (存款类) award nothing until compliance has signed them off (the reward must not act
    as hidden deposit interest); any change to what a signed rule awards clears the sign-off.
    """

    institution = models.ForeignKey(
        "org.Institution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="法人行社",
        help_text="留空 = 全省通用 / empty = every institution",
    )
    code = models.SlugField("规则代码 code", max_length=40, unique=True)
    name = models.CharField("规则名称 name", max_length=100)
    topic = models.CharField("事件 event topic", max_length=60, choices=Topic.choices)
    condition_expression = models.CharField(
        "条件 (ZEN 表达式) condition",
        max_length=500,
        blank=True,
        default="",
        help_text="例 on_time == true and amount_fen >= 100000；留空 = 总是满足",
    )
    min_amount_fen = models.BigIntegerField("最低金额(分) minimum amount, fen", null=True, blank=True)
    points_fixed = models.BigIntegerField("固定积分 fixed points", default=0)
    points_expression = models.CharField(
        "积分公式 (ZEN) points formula",
        max_length=500,
        blank=True,
        default="",
        help_text="例 floor(amount_fen / 10000) * 2；填写后替代固定积分，结果向下取整",
    )
    # deposit growth (set-based month-end job): points = floor(growth_fen / unit_fen) * points_per_unit
    deposit_unit_fen = models.BigIntegerField("存款增长计分单位(分) deposit unit", null=True, blank=True)
    deposit_points_per_unit = models.BigIntegerField("每单位积分 points per unit", null=True, blank=True)
    deposit_min_growth_fen = models.BigIntegerField("最低日均增长(分) minimum growth", default=0)
    cap_per_day = models.BigIntegerField("每日上限 cap per day", null=True, blank=True)
    cap_per_month = models.BigIntegerField("每月上限 cap per month", null=True, blank=True)
    cap_per_customer = models.BigIntegerField("每客户累计上限 cap per customer", null=True, blank=True)
    validity_days = models.PositiveIntegerField("有效期(天) validity days", default=365)
    hold_days = models.PositiveIntegerField("冻结期(天) hold days", default=0, help_text="待生效 → 生效")
    funding_source = models.CharField(
        "出资方 funding", max_length=20, choices=FundingSource.choices, default=FundingSource.BANK_MARKETING
    )
    deposit_linked = models.BooleanField("存款挂钩 deposit-linked", default=False)
    compliance_signed_by = models.ForeignKey(
        "org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="合规签批人"
    )
    compliance_signed_at = models.DateTimeField("合规签批时间", null=True, blank=True)
    created_by = models.ForeignKey(
        "org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="创建人"
    )
    valid_from = models.DateField("开始日期 valid from", null=True, blank=True)
    valid_to = models.DateField("结束日期 valid to", null=True, blank=True)
    is_active = models.BooleanField("启用 active", default=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "积分规则 earning rule"
        verbose_name_plural = "积分规则 earning rules"
        ordering = ["code"]
        permissions = [("sign_off_rule", "合规签批存款类规则 / compliance sign-off of deposit-linked rules")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(topic="lifestyle.deposit_growth") | Q(deposit_linked=True),
                name="earning_rule_deposit_topic_is_deposit_linked",
            ),
            models.CheckConstraint(
                condition=~Q(topic="lifestyle.deposit_growth") | Q(hold_days__gte=1), name="earning_rule_deposit_holds"
            ),
            models.CheckConstraint(condition=Q(points_fixed__gte=0), name="earning_rule_points_non_negative"),
            models.CheckConstraint(
                condition=Q(cap_per_day__isnull=True) | Q(cap_per_day__gt=0), name="earning_rule_cap_day_positive"
            ),
            models.CheckConstraint(
                condition=Q(cap_per_month__isnull=True) | Q(cap_per_month__gt=0), name="earning_rule_cap_month_positive"
            ),
            models.CheckConstraint(
                condition=Q(cap_per_customer__isnull=True) | Q(cap_per_customer__gt=0),
                name="earning_rule_cap_customer_positive",
            ),
            models.CheckConstraint(condition=Q(validity_days__gt=0), name="earning_rule_validity_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def is_signed_off(self) -> bool:
        return self.compliance_signed_at is not None

    @property
    def may_award(self) -> bool:
        return self.is_active and (not self.deposit_linked or self.is_signed_off)

    # fields whose change invalidates a compliance sign-off
    AWARD_FIELDS = (
        "topic",
        "condition_expression",
        "min_amount_fen",
        "points_fixed",
        "points_expression",
        "deposit_unit_fen",
        "deposit_points_per_unit",
        "deposit_min_growth_fen",
        "cap_per_day",
        "cap_per_month",
        "cap_per_customer",
        "hold_days",
        "validity_days",
        "funding_source",
    )


class Campaign(SegmentFields):
    """营销活动: a time window in which matching earnings get a multiplier or bonus, within a total budget."""

    institution = models.ForeignKey(
        "org.Institution", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="法人行社"
    )
    code = models.SlugField("活动代码 code", max_length=40, unique=True)
    name = models.CharField("活动名称 name", max_length=100)
    rules = models.ManyToManyField(EarningRule, related_name="campaigns", verbose_name="适用规则 rules")
    starts_at = models.DateTimeField("开始 starts")
    ends_at = models.DateTimeField("结束 ends")
    multiplier = models.DecimalField("倍数 multiplier", max_digits=6, decimal_places=2, default=1)
    bonus_points = models.BigIntegerField("加赠积分 bonus", default=0)
    budget_total = models.BigIntegerField("总预算(积分) budget")
    budget_used = models.BigIntegerField("已用预算 used", default=0)
    per_customer_limit = models.PositiveIntegerField("每客户次数上限 per-customer limit", null=True, blank=True)
    funding_source = models.CharField(
        "出资方 funding", max_length=20, choices=FundingSource.choices, default=FundingSource.BANK_MARKETING
    )
    is_active = models.BooleanField("启用 active", default=True)
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "营销活动 campaign"
        verbose_name_plural = "营销活动 campaigns"
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_used__gte=0) & Q(budget_used__lte=F("budget_total")), name="campaign_budget_in_range"
            ),
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="campaign_multiplier_at_least_one"),
            models.CheckConstraint(condition=Q(bonus_points__gte=0), name="campaign_bonus_non_negative"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="campaign_window_ordered"),
        ]

    def __str__(self):
        return self.name

    @property
    def budget_left(self) -> int:
        return self.budget_total - self.budget_used
