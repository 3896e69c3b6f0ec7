"""Loan products (贷款产品): the loan-engine parameters every loan copies at creation.

Issue 5 (origination) extends this model with pricing, rule sets, channels and versioning; the engine
only reads the fields below and the copies kept on each loan.
"""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from jikuai.core.labels import is_english
from jikuai.org import roles
from jikuai.org.models import Institution
from lending.models.common import MONEY, RATE, default_allocation_order, principal_first_order


class OverpaymentPolicy(models.TextChoices):
    REFUSE = "refuse", "拒绝多付 refuse overpayment"
    PREPAY = "prepay", "多付部分提前还本 prepay principal"


def default_terms():
    return [6, 12, 24, 36]


def default_methods():
    return ["equal_installment", "equal_principal", "interest_only", "bullet"]


def default_channels():
    return ["web", "field", "api"]


def default_documents():
    return ["id_card_front", "id_card_back", "selfie"]


def default_spreads():
    return {"A": 20, "B": 45, "C": 75, "D": 110}


def default_tiers():
    """分级审批: who may approve a manual review, by approved amount (yuan, inclusive), lowest tier first.

    Role names are the role groups of ``jikuai.org.roles``: up to 100,000 yuan the credit reviewer
    (审批员), above it the branch manager (支行行长). The last tier has ``up_to`` null (no upper bound).
    A holder of a higher tier may approve every lower amount; see lending/services/review.py.
    """
    return [{"up_to": "100000.00", "role": roles.CREDIT_REVIEWER}, {"up_to": None, "role": roles.BRANCH_MANAGER}]


class ProductStatus(models.TextChoices):
    DRAFT = "draft", "草稿 draft"
    ACTIVE = "active", "在售 active"
    SUSPENDED = "suspended", "暂停 suspended"


class ProductKind(models.TextChoices):
    LINE = "line", "授信额度 credit line"
    LOAN = "loan", "单笔贷款 one-off loan"


class Segment(models.TextChoices):
    FARMER = "farmer", "农户 farmers"
    ENTREPRENEUR = "entrepreneur", "创业青年/返乡人员 entrepreneurs"
    CIVIL_SERVANT = "civil_servant", "公职人员 public servants"
    EMPLOYEE = "employee", "优质企业员工 employees"
    BUSINESS = "business", "个体工商户 individual businesses"
    TEACHER = "teacher", "教师 teachers"
    MICRO_BUSINESS = "micro_business", "小微企业 micro businesses"


class Product(models.Model):
    """贷款产品. ``institution`` empty = offered by every institution of the provincial union."""

    code = models.CharField("产品代码 code", max_length=30, unique=True)
    name = models.CharField("产品名称 name", max_length=100)
    name_en = models.CharField(
        "英文名称 English name", max_length=100, blank=True, default="", help_text="英文页面显示；留空则显示中文名称"
    )
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, null=True, blank=True, related_name="loan_products", verbose_name="法人行社"
    )
    is_active = models.BooleanField("启用 active", default=True)
    min_amount = models.DecimalField("最低金额 min amount", default=Decimal("1000.00"), **MONEY)
    max_amount = models.DecimalField("最高金额 max amount", default=Decimal("300000.00"), **MONEY)
    term_options = models.JSONField("可选期限(月) term options", default=default_terms)
    allowed_methods = models.JSONField("可选还款方式 methods", default=default_methods)
    default_method = models.CharField("默认还款方式", max_length=20, default="equal_installment")
    day_basis = models.PositiveSmallIntegerField("计息基准 day basis", choices=[(360, "360"), (365, "365")], default=360)
    min_rate = models.DecimalField("最低年利率 min rate", default=Decimal("0.03"), help_text="小数，0.06 = 6%", **RATE)
    max_rate = models.DecimalField("最高年利率 max rate", default=Decimal("0.18"), **RATE)
    apr_ceiling = models.DecimalField(
        "年化利率上限 APR ceiling", default=Decimal("0.24"), help_text="超过上限的报价被拒绝 / offers above are refused", **RATE
    )
    upfront_fee_rate = models.DecimalField("一次性手续费率 upfront fee rate", default=Decimal("0"), **RATE)
    penalty_markup = models.DecimalField(
        "罚息上浮 penalty markup", max_digits=6, decimal_places=4, default=Decimal("0.5"), help_text="0.5 = 合同利率上浮50%"
    )
    grace_days = models.PositiveSmallIntegerField("宽限期(天) grace days", default=0)
    allocation_order = models.JSONField("还款冲销顺序 allocation order", default=default_allocation_order)
    npl_allocation_order = models.JSONField(
        "不良贷款冲销顺序 NPL allocation order", default=principal_first_order, help_text="次级及以下 / substandard and worse"
    )
    npl_principal_first = models.BooleanField("不良贷款先还本 principal first for NPL", default=False)
    overpayment_policy = models.CharField(
        "多付处理 overpayment", max_length=10, choices=OverpaymentPolicy.choices, default=OverpaymentPolicy.REFUSE
    )
    default_prepayment_option = models.CharField(
        "默认提前还款方式",
        max_length=20,
        choices=[("shorten_term", "缩期"), ("reduce_payment", "减额")],
        default="reduce_payment",
    )
    quarterly_interest = models.BooleanField("按季结息 quarterly interest", default=False, help_text="仅适用于按期付息到期还本")
    repayment_approval_threshold = models.DecimalField(
        "柜面还款复核金额 maker-checker above", default=Decimal("50000.00"), **MONEY
    )
    # 产品工厂 (origination): configuration read when an application is made; the application keeps a
    # snapshot of it (``product_snapshot``) so that a change applies to new applications only.
    status = models.CharField("状态 status", max_length=10, choices=ProductStatus.choices, default=ProductStatus.ACTIVE)
    version = models.PositiveIntegerField("版本 version", default=1)
    segment = models.CharField("客群 segment", max_length=20, choices=Segment.choices, blank=True, default="")
    description = models.TextField("产品说明 description", blank=True, default="")
    description_en = models.TextField(
        "英文说明 English description", blank=True, default="", help_text="英文页面显示；留空则显示中文说明"
    )
    kind = models.CharField("授信方式 kind", max_length=10, choices=ProductKind.choices, default=ProductKind.LOAN)
    revolving = models.BooleanField("循环额度 revolving", default=False)
    line_validity_months = models.PositiveSmallIntegerField("额度有效期(月) line validity", default=12)
    lpr_spreads_bp = models.JSONField(
        "LPR加点(基点) spreads by grade", default=default_spreads, help_text='{"A": 20, "B": 45, …} 在一年期LPR上加点'
    )
    admission_ruleset = models.CharField("准入规则集 admission rule set", max_length=60, blank=True, default="")
    rating_ruleset = models.CharField("评级规则集 rating rule set", max_length=60, blank=True, default="")
    limit_ruleset = models.CharField("额度规则集 limit rule set", max_length=60, blank=True, default="")
    pricing_ruleset = models.CharField("定价规则集 pricing rule set", max_length=60, blank=True, default="")
    required_documents = models.JSONField("所需材料 required documents", default=default_documents)
    channels = models.JSONField("销售渠道 channels", default=default_channels)
    approval_tiers = models.JSONField("分级审批 approval tiers", default=default_tiers)
    application_validity_days = models.PositiveSmallIntegerField(
        "申请有效期(天) application validity", default=30, help_text="审批通过后未签约的申请到期失效"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    @property
    def display_name(self) -> str:
        """The name in the page's language: the English name on English pages when one is set (presentation
        only: it is not one of the product's terms and a change does not make a new version)."""
        return self.name_en if self.name_en and is_english() else self.name

    @property
    def display_description(self) -> str:
        return self.description_en if self.description_en and is_english() else self.description

    class Meta:
        verbose_name = "贷款产品 loan product"
        verbose_name_plural = "贷款产品 loan products"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_amount__gt=0) & Q(max_amount__gte=models.F("min_amount")), name="product_amount_range"
            ),
            models.CheckConstraint(
                condition=Q(min_rate__gte=0) & Q(max_rate__gte=models.F("min_rate")), name="product_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(penalty_markup__gte=Decimal("0.3")) & Q(penalty_markup__lte=1), name="product_penalty_markup_range"
            ),
            models.CheckConstraint(condition=Q(day_basis__in=[360, 365]), name="product_day_basis"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"
