"""Points ledger (积分账本): accounts, lots, debits with per-lot allocations, and double-entry postings.

Invariants (checked by ``reconcile_points``):
- account.balance = Σ remaining of the account's active lots = −Σ liability legs of the account;
- account.debt = Σ receivable legs of the account (spent points of reversed earnings not yet repaid);
- every ledger entry's legs sum to zero (a deferred constraint trigger on PostgreSQL, a service check everywhere).
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from jikuai.org.scoping import ScopedManager, ScopeSpec
from lifestyle.models.common import FundingSource


class PointsAccount(models.Model):
    """积分账户: one per customer. ``balance`` is spendable (active) points, never negative."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.PROTECT, related_name="points_account", verbose_name="客户"
    )
    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey(
        "org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点"
    )
    balance = models.BigIntegerField("可用积分 balance", default=0)
    debt = models.BigIntegerField("欠分 debt", default=0, help_text="撤销奖励时已花掉的积分，由之后的积分优先抵扣")
    created_at = models.DateTimeField("开户时间", default=timezone.now)
    updated_at = models.DateTimeField("更新时间", default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "积分账户 points account"
        verbose_name_plural = "积分账户 points accounts"
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="points_balance_non_negative"),
            models.CheckConstraint(condition=Q(debt__gte=0), name="points_debt_non_negative"),
        ]

    def __str__(self):
        return f"积分账户 #{self.pk} ({self.balance})"


class PointsLot(models.Model):
    """积分批次: one earning. Spending, expiry and reversal reduce ``remaining`` through allocations."""

    class Status(models.TextChoices):
        PENDING = "pending", "待生效 pending"
        ACTIVE = "active", "有效 active"
        EXPIRED = "expired", "已过期 expired"
        CANCELLED = "cancelled", "已撤销 cancelled"

    # no separate index: the business-key unique constraint and the spendable index both lead with account
    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="lots", verbose_name="积分账户", db_index=False
    )
    rule = models.ForeignKey(
        "lifestyle.EarningRule", on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+"
    )
    rule_key = models.CharField("规则/来源键 rule key", max_length=40)
    source = models.CharField("来源 source", max_length=40)
    source_ref = models.CharField("业务来源 source reference", max_length=80)
    period = models.CharField("期间 period", max_length=10, blank=True, default="")
    amount = models.BigIntegerField("积分 points")
    remaining = models.BigIntegerField("剩余 remaining")
    base_points = models.BigIntegerField("基础积分 base", default=0)
    campaign = models.ForeignKey(
        "lifestyle.Campaign", on_delete=models.PROTECT, null=True, blank=True, db_index=False, related_name="+"
    )
    campaign_points = models.BigIntegerField("活动加赠 campaign bonus", default=0)
    funding_source = models.CharField("出资方 funding", max_length=20, choices=FundingSource.choices)
    campaign_funding_source = models.CharField(
        "活动出资方 campaign funding", max_length=20, choices=FundingSource.choices, blank=True, default=""
    )
    status = models.CharField("状态 status", max_length=10, choices=Status.choices)
    earned_at = models.DateTimeField("获得时间 earned at")
    activates_at = models.DateTimeField("生效时间 activates at", null=True, blank=True)
    expires_on = models.DateField("到期日 expires on")
    reason = models.CharField("原因 reason", max_length=200, blank=True, default="")
    reference = models.JSONField("关联 reference", default=dict, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="account__institution", branch="account__branch", assigned="account__customer__account_manager")

    class Meta:
        verbose_name = "积分批次 points lot"
        verbose_name_plural = "积分批次 points lots"
        constraints = [
            models.UniqueConstraint(fields=["account", "rule_key", "source_ref", "period"], name="points_lot_business_key"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="points_lot_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")), name="points_lot_remaining_in_range"
            ),
            models.CheckConstraint(
                condition=Q(amount=F("base_points") + F("campaign_points")), name="points_lot_amount_is_base_plus_bonus"
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_on", "id"],
                name="points_lot_spendable",
                condition=Q(status="active", remaining__gt=0),
            ),
            models.Index(fields=["activates_at"], name="points_lot_pending_due", condition=Q(status="pending")),
            models.Index(fields=["expires_on"], name="points_lot_expiry_due", condition=Q(status="active", remaining__gt=0)),
        ]

    def __str__(self):
        return f"{self.reason or self.source} +{self.amount}"


class PointsDebit(models.Model):
    """积分支出: a spend, expiry, reversal claw-back or debt settlement; allocated to lots one row per lot."""

    class Kind(models.TextChoices):
        SPEND = "spend", "兑换 spend"
        EXPIRE = "expire", "过期 expire"
        REVERSAL = "reversal", "撤销奖励 reversal"
        DEBT_SETTLEMENT = "debt_settlement", "抵扣欠分 debt settlement"

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="debits", verbose_name="积分账户")
    kind = models.CharField("类型 kind", max_length=20, choices=Kind.choices)
    points = models.BigIntegerField("积分 points")
    reason = models.CharField("原因 reason", max_length=200, blank=True, default="")
    voucher = models.ForeignKey(
        "lifestyle.Voucher", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    lot = models.ForeignKey(
        PointsLot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="撤销/抵扣所针对的批次 the lot a reversal or debt settlement belongs to",
    )
    reference = models.JSONField("关联 reference", default=dict, blank=True)
    created_at = models.DateTimeField("时间 at", default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="account__institution", branch="account__branch", assigned="account__customer__account_manager")

    class Meta:
        verbose_name = "积分支出 points debit"
        verbose_name_plural = "积分支出 points debits"
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="points_debit_positive")]
        indexes = [models.Index(fields=["account", "created_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} -{self.points}"


class PointsAllocation(models.Model):
    """How much of one debit came out of one lot."""

    debit = models.ForeignKey(PointsDebit, on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="allocations")
    points = models.BigIntegerField("积分 points")

    class Meta:
        verbose_name = "积分分摊 allocation"
        verbose_name_plural = "积分分摊 allocations"
        constraints = [
            models.UniqueConstraint(fields=["debit", "lot"], name="points_allocation_once_per_lot"),
            models.CheckConstraint(condition=Q(points__gt=0), name="points_allocation_positive"),
        ]

    def __str__(self):
        return f"{self.debit_id}←{self.lot_id}: {self.points}"


class LedgerEntry(models.Model):
    """A balanced posting (记账凭证) in points. Debits positive, credits negative; legs sum to zero."""

    class Kind(models.TextChoices):
        EARN = "earn", "发放 earn"
        ACTIVATE = "activate", "生效 activate"
        VOUCHER_ISSUE = "voucher_issue", "兑换权益 voucher issued"
        REDEEM = "redeem", "商户核销 redeemed at merchant"
        REDEEM_REVERSAL = "redeem_reversal", "核销撤销 redemption reversed"
        VOUCHER_EXPIRE = "voucher_expire", "券过期 voucher expired"
        EXPIRE = "expire", "积分过期 expire"
        REVERSE = "reverse", "撤销奖励 reverse earning"
        DEBT_SETTLE = "debt_settle", "抵扣欠分 settle debt"
        SETTLE = "settle", "商户结算 merchant settlement"

    kind = models.CharField("类型 kind", max_length=20, choices=Kind.choices)
    memo = models.CharField("摘要 memo", max_length=200, blank=True, default="")
    business_key = models.CharField("业务键 business key", max_length=120, null=True, blank=True, unique=True)
    created_at = models.DateTimeField("时间", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "记账凭证 ledger entry"
        verbose_name_plural = "记账凭证 ledger entries"

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()}"


class LedgerLeg(models.Model):
    """One leg of an entry in a book (科目), optionally per customer account or merchant."""

    class Book(models.TextChoices):
        EXPENSE = "expense", "积分费用 points expense"
        PENDING = "pending", "待生效积分 pending points"
        LIABILITY = "liability", "积分负债 points liability"
        RECEIVABLE = "receivable", "客户欠分 customer points receivable"
        VOUCHERS = "vouchers", "未核销权益 vouchers outstanding"
        PAYABLE = "payable", "应付商户 merchant payable"
        BREAKAGE = "breakage", "积分沉淀 breakage"
        SETTLED = "settled", "已结算 settled to merchant"

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="legs")
    book = models.CharField("科目 book", max_length=12, choices=Book.choices)
    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    merchant = models.ForeignKey("lifestyle.Merchant", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    funding_source = models.CharField("出资方", max_length=20, blank=True, default="")
    points = models.BigIntegerField("积分 (借+/贷-) points, debit positive")

    class Meta:
        verbose_name = "记账分录 ledger leg"
        verbose_name_plural = "记账分录 ledger legs"
        indexes = [
            models.Index(fields=["account", "book"], name="ledger_leg_account_book", condition=Q(account__isnull=False)),
            models.Index(fields=["merchant", "book"], name="ledger_leg_merchant_book", condition=Q(merchant__isnull=False)),
        ]

    def __str__(self):
        return f"{self.book} {self.points:+d}"


class PointValueRate(models.Model):
    """积分价值: yuan per point used to value redemptions; the rate in force at verification is frozen on the
    payable line."""

    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    effective_from = models.DateTimeField("生效时间 effective from", default=timezone.now)
    yuan_per_point = models.DecimalField("每积分价值(元) yuan per point", max_digits=12, decimal_places=6)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "积分价值 point value"
        verbose_name_plural = "积分价值 point values"
        ordering = ["-effective_from"]
        constraints = [
            models.CheckConstraint(condition=Q(yuan_per_point__gt=0), name="point_value_positive"),
            models.UniqueConstraint(fields=["institution", "effective_from"], name="point_value_once_per_time"),
        ]

    def __str__(self):
        return f"{self.yuan_per_point} 元/分 @ {self.effective_from:%Y-%m-%d}"
