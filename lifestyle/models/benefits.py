"""Benefits catalogue (权益), vouchers, payable lines and merchant settlement batches."""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from jikuai.org.scoping import ScopedManager, ScopeSpec

# CSPRNG alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B): 25 symbols, 25^10 ≈ 9.5e13 codes.
VOUCHER_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
VOUCHER_CODE_LENGTH = 10


class Benefit(models.Model):
    """A catalogue item bought with points; honoured at the listed merchants."""

    class Kind(models.TextChoices):
        AMOUNT_OFF = "amount_off", "满减券 amount-off coupon"
        DISCOUNT = "discount", "折扣券 discount"
        GOODS = "goods", "实物 goods"
        SERVICE = "service", "服务 service"
        TICKET = "ticket", "活动门票 activity ticket"

    class Funding(models.TextChoices):
        BANK = "bank", "银行出资 bank"
        MERCHANT = "merchant", "商户出资 merchant"
        CO_FUNDED = "co_funded", "共同出资 co-funded"

    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    name = models.CharField("权益名称 name", max_length=100)
    kind = models.CharField("类型 kind", max_length=20, choices=Kind.choices)
    description = models.TextField("说明 description", blank=True, default="")
    face_value = models.DecimalField("面值(元) face value", max_digits=18, decimal_places=2, default=0)
    points_price = models.BigIntegerField("所需积分 points price")
    stock_total = models.BigIntegerField("总库存 stock", null=True, blank=True, help_text="留空 = 不限量")
    stock_remaining = models.BigIntegerField("剩余库存 stock left", null=True, blank=True)
    per_customer_limit = models.PositiveIntegerField("每人限兑 per-customer limit", null=True, blank=True)
    available_from = models.DateTimeField("上架时间 available from", default=timezone.now)
    available_to = models.DateTimeField("下架时间 available to", null=True, blank=True)
    voucher_validity_days = models.PositiveIntegerField("券有效期(天) voucher validity", default=30)
    merchants = models.ManyToManyField("lifestyle.Merchant", related_name="benefits", verbose_name="适用商户 merchants")
    funding = models.CharField("出资方式 funding", max_length=12, choices=Funding.choices, default=Funding.BANK)
    bank_share = models.DecimalField(
        "银行承担比例 bank share", max_digits=5, decimal_places=4, default=1, help_text="银行出资=1，商户出资=0，共同出资 0~1"
    )
    is_active = models.BooleanField("上架 active", default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution")

    class Meta:
        verbose_name = "权益 benefit"
        verbose_name_plural = "权益目录 benefits catalogue"
        ordering = ["points_price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(points_price__gt=0), name="benefit_price_positive"),
            models.CheckConstraint(
                condition=Q(stock_remaining__isnull=True) | Q(stock_remaining__gte=0), name="benefit_stock_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(stock_total__isnull=True, stock_remaining__isnull=True)
                | Q(stock_total__isnull=False, stock_remaining__isnull=False, stock_remaining__lte=F("stock_total")),
                name="benefit_stock_consistent",
            ),
            models.CheckConstraint(condition=Q(bank_share__gte=0) & Q(bank_share__lte=1), name="benefit_bank_share_range"),
            models.CheckConstraint(
                condition=(Q(funding="bank") & Q(bank_share=Decimal(1)))
                | (Q(funding="merchant") & Q(bank_share=Decimal(0)))
                | (Q(funding="co_funded") & Q(bank_share__gt=0) & Q(bank_share__lt=1)),
                name="benefit_bank_share_matches_funding",
            ),
            models.CheckConstraint(condition=Q(face_value__gte=0), name="benefit_face_value_non_negative"),
        ]

    def __str__(self):
        return f"{self.name}（{self.points_price}分）"


class Voucher(models.Model):
    """权益券: issued when points are redeemed; verified once at an honouring merchant."""

    class Status(models.TextChoices):
        ISSUED = "issued", "待使用 issued"
        REDEEMED = "redeemed", "已核销 redeemed"
        EXPIRED = "expired", "已过期 expired"
        REVERSED = "reversed", "核销已撤销 redemption reversed"

    code = models.CharField("券码 code", max_length=16, unique=True)
    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="vouchers")
    account = models.ForeignKey("lifestyle.PointsAccount", on_delete=models.PROTECT, related_name="vouchers")
    benefit = models.ForeignKey(Benefit, on_delete=models.PROTECT, related_name="vouchers")
    points = models.BigIntegerField("积分 points")
    status = models.CharField("状态 status", max_length=10, choices=Status.choices, default=Status.ISSUED)
    request_token = models.CharField("兑换请求令牌", max_length=64, unique=True)
    issued_at = models.DateTimeField("兑换时间 issued", default=timezone.now)
    expires_at = models.DateTimeField("有效期至 expires")
    redeemed_at = models.DateTimeField("核销时间 redeemed", null=True, blank=True)
    redeemed_merchant = models.ForeignKey(
        "lifestyle.Merchant", on_delete=models.PROTECT, null=True, blank=True, related_name="redeemed_vouchers"
    )
    redeemed_by = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    redeemed_channel = models.CharField("核销方式", max_length=20, blank=True, default="")
    otp_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    otp_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    otp_attempts = models.PositiveSmallIntegerField(default=0, editable=False)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="customer__branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "权益券 voucher"
        verbose_name_plural = "权益券 vouchers"
        ordering = ["-issued_at"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="voucher_points_positive"),
            models.CheckConstraint(
                condition=~Q(status="redeemed") | Q(redeemed_merchant__isnull=False, redeemed_at__isnull=False),
                name="voucher_redeemed_has_merchant",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "benefit"]),
            models.Index(fields=["expires_at"], name="voucher_issued_expiry", condition=Q(status="issued")),
            models.Index(fields=["redeemed_merchant", "redeemed_at"]),
        ]

    def __str__(self):
        return f"{self.code} {self.get_status_display()}"

    @property
    def display_code(self) -> str:
        return f"{self.code[:5]} {self.code[5:]}"


class VoucherTokenUse(models.Model):
    """A QR token presented once: a second presentation of the same token is a replay."""

    nonce = models.CharField(max_length=32, unique=True)
    voucher = models.ForeignKey(Voucher, on_delete=models.CASCADE, related_name="+")
    used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "二维码令牌使用 token use"
        verbose_name_plural = "二维码令牌使用 token uses"

    def __str__(self):
        return self.nonce


class PayableLine(models.Model):
    """应付商户明细: one per redemption (positive) or redemption reversal (negative), frozen at that moment's
    point value and the benefit's bank share."""

    class Kind(models.TextChoices):
        REDEMPTION = "redemption", "核销 redemption"
        REVERSAL = "reversal", "撤销 reversal"

    merchant = models.ForeignKey("lifestyle.Merchant", on_delete=models.PROTECT, related_name="payable_lines")
    voucher = models.ForeignKey(Voucher, on_delete=models.PROTECT, related_name="payable_lines")
    kind = models.CharField("类型 kind", max_length=12, choices=Kind.choices)
    points = models.BigIntegerField("积分 points")
    yuan_per_point = models.DecimalField("冻结积分价值 frozen rate", max_digits=12, decimal_places=6)
    bank_share = models.DecimalField("银行承担比例", max_digits=5, decimal_places=4)
    amount = models.DecimalField("应付金额(元) amount", max_digits=18, decimal_places=2)
    business_date = models.DateField("营业日期 business date")
    batch = models.ForeignKey("lifestyle.SettlementBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="lines")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="merchant__institution", branch="merchant__branch", assigned="merchant__signed_by")

    class Meta:
        verbose_name = "应付商户明细 payable line"
        verbose_name_plural = "应付商户明细 payable lines"
        constraints = [
            models.UniqueConstraint(fields=["voucher", "kind"], name="payable_line_once_per_voucher_kind"),
            models.CheckConstraint(
                condition=(Q(kind="redemption") & Q(points__gt=0) & Q(amount__gte=0))
                | (Q(kind="reversal") & Q(points__lt=0) & Q(amount__lte=0)),
                name="payable_line_sign_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "business_date"], name="payable_unbatched", condition=Q(batch__isnull=True))]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount}"


class SettlementBatch(FSMModelMixin, models.Model):
    """商户结算批次: lines of one merchant and period → statement → confirm / dispute → payout."""

    class State(models.TextChoices):
        ISSUED = "issued", "待商户确认 statement issued"
        CONFIRMED = "confirmed", "已确认 confirmed"
        DISPUTED = "disputed", "有争议 disputed"
        PAYING = "paying", "付款中 paying"
        PAID = "paid", "已付款 paid"
        VOIDED = "voided", "已作废 voided"

    merchant = models.ForeignKey("lifestyle.Merchant", on_delete=models.PROTECT, related_name="settlements")
    cycle = models.CharField("结算周期", max_length=10)
    period_start = models.DateField("期间开始 period start")
    period_end = models.DateField("期间结束 period end")
    line_count = models.PositiveIntegerField("笔数", default=0)
    points = models.BigIntegerField("积分", default=0)
    gross_amount = models.DecimalField("应付总额(元) gross", max_digits=18, decimal_places=2, default=0)
    fee_amount = models.DecimalField("服务费(元) fee", max_digits=18, decimal_places=2, default=0)
    net_amount = models.DecimalField("实付(元) net", max_digits=18, decimal_places=2, default=0)
    statement_file = models.CharField("对账单(私有存储)", max_length=200, blank=True, default="")
    statement_sha256 = models.CharField("对账单摘要", max_length=64, blank=True, default="")
    payout_reference = models.CharField("付款流水号 payout reference", max_length=60, unique=True)
    payout_bank_reference = models.CharField("核心流水号 bank reference", max_length=80, blank=True, default="")
    payout_error = models.CharField("付款错误", max_length=300, blank=True, default="")
    dispute_reason = models.CharField("争议原因", max_length=500, blank=True, default="")
    state = FSMField("状态 state", default=State.ISSUED, choices=State.choices, protected=True)
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="merchant__institution", branch="merchant__branch", assigned="merchant__signed_by")

    class Meta:
        verbose_name = "结算批次 settlement batch"
        verbose_name_plural = "结算批次 settlement batches"
        ordering = ["-period_end", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "period_start", "period_end"], name="settlement_once_per_period"),
            models.CheckConstraint(condition=Q(net_amount__gte=0), name="settlement_net_non_negative"),
            models.CheckConstraint(
                condition=Q(net_amount=F("gross_amount") - F("fee_amount")), name="settlement_net_is_gross_minus_fee"
            ),
        ]

    def __str__(self):
        return f"{self.merchant} {self.period_start}~{self.period_end}"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.ISSUED, target=State.CONFIRMED)
    def confirm(self, by=None, description=None):
        self.confirmed_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.ISSUED, target=State.DISPUTED)
    def dispute(self, by=None, description=None):
        self.dispute_reason = (description or "")[:500]

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.DISPUTED, target=State.CONFIRMED)
    def uphold(self, by=None, description=None):
        self.confirmed_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.DISPUTED, target=State.VOIDED)
    def void(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.CONFIRMED, target=State.PAYING)
    def start_payout(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PAYING, target=State.PAID)
    def mark_paid(self, by=None, description=None):
        self.paid_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.PAYING, target=State.CONFIRMED)
    def payout_failed(self, by=None, description=None):
        self.payout_error = (description or "")[:300]
