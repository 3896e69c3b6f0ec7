"""Loans (贷款), their schedule versions and installments, and the transactions that move them."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from jikuai.customers.models import Customer
from jikuai.org.models import Branch, Institution, Staff
from jikuai.org.scoping import ScopedManager, ScopeSpec
from lending.models.common import (
    MONEY,
    RATE,
    LoanClass,
    MethodChoices,
    PrepaymentOptionChoices,
    default_allocation_order,
    principal_first_order,
)
from lending.models.products import OverpaymentPolicy, Product

ZERO = Decimal("0.00")


class LoanState(models.TextChoices):
    PENDING = "pending", "待放款 pending"
    ACTIVE = "active", "正常还款中 active"
    OVERDUE = "overdue", "逾期 overdue"
    SETTLED = "settled", "已结清 settled"
    WRITTEN_OFF = "written_off", "已核销 written off"


class Loan(FSMModelMixin, models.Model):
    """一笔贷款. Running balances mirror the loan's ledger footprint (every account it touches) and are
    updated in the same transaction as the postings; the reconciliation command checks them.

    The whole state is a function of (schedule version 1, transactions ordered by value date,
    approved manual classes, business date): ``lending.replay`` recomputes it from there.
    """

    State = LoanState

    # (institution, branch, state) and (customer, state) indexes below cover these foreign keys
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="loans", verbose_name="法人行社", db_index=False
    )
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="loans", verbose_name="网点")
    account_manager = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="managed_loans", verbose_name="客户经理"
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="loans", verbose_name="借款人", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="loans", verbose_name="产品")
    contract_no = models.CharField("合同编号 contract number", max_length=40, unique=True)
    # terms (copied from the product and the offer at creation)
    principal = models.DecimalField("贷款金额 principal", **MONEY)
    annual_rate = models.DecimalField("年利率 annual rate", **RATE)
    day_basis = models.PositiveSmallIntegerField("计息基准 day basis", default=360)
    method = models.CharField("还款方式 method", max_length=20, choices=MethodChoices.choices)
    term_months = models.PositiveSmallIntegerField("期限(月) term")
    value_date = models.DateField("起息日 value date")
    maturity_date = models.DateField("到期日 maturity")
    penalty_markup = models.DecimalField("罚息上浮 penalty markup", max_digits=6, decimal_places=4, default=Decimal("0.5"))
    grace_days = models.PositiveSmallIntegerField("宽限期 grace days", default=0)
    allocation_order = models.JSONField("冲销顺序 allocation order", default=default_allocation_order)
    npl_allocation_order = models.JSONField("不良冲销顺序", default=principal_first_order)
    npl_principal_first = models.BooleanField("不良先还本", default=False)
    overpayment_policy = models.CharField(max_length=10, choices=OverpaymentPolicy.choices, default=OverpaymentPolicy.REFUSE)
    quarterly_interest = models.BooleanField("按季结息", default=False)
    upfront_fee = models.DecimalField("手续费 fee", default=ZERO, **MONEY)
    apr = models.DecimalField("年化利率(%) APR", max_digits=7, decimal_places=2, default=ZERO)
    level_payment = models.DecimalField("每期还款额 level installment", default=ZERO, **MONEY)
    level_principal = models.DecimalField("每期本金 level principal", default=ZERO, **MONEY)
    auto_debit = models.BooleanField("代扣签约 auto-debit", default=True)
    core_account_ref = models.CharField("核心账户引用 core account ref", max_length=64, blank=True, default="")
    disbursement_reference = models.CharField("放款流水 disbursement ref", max_length=64, blank=True, default="")
    # state
    state = FSMField("状态 state", default=LoanState.PENDING, choices=LoanState.choices, protected=True)
    schedule_version = models.PositiveIntegerField("计划版本 schedule version", default=1)
    dpd = models.PositiveIntegerField("逾期天数 DPD", default=0)
    overdue_since = models.DateField("最早逾期应还日", null=True, blank=True)
    loan_class = models.CharField("五级分类 class", max_length=20, choices=LoanClass.choices, default=LoanClass.NORMAL)
    floor_class = models.CharField("逾期天数底线 DPD floor", max_length=20, choices=LoanClass.choices, default=LoanClass.NORMAL)
    manual_class = models.CharField("人工分类 manual class", max_length=20, choices=LoanClass.choices, blank=True, default="")
    restructured_on = models.DateField("重组日 restructured on", null=True, blank=True)
    off_balance_accrual = models.BooleanField("表外计息 off-balance accrual", default=False)
    last_closed_business_date = models.DateField("已日终至 last closed", null=True, blank=True)
    disbursed_on = models.DateField("放款日", null=True, blank=True)
    settled_on = models.DateField("结清日", null=True, blank=True)
    written_off_on = models.DateField("核销日", null=True, blank=True)
    # ledger mirror: one field per account (debit positive); see lending.ledger.ACCOUNT_FIELDS
    principal_outstanding = models.DecimalField("本金余额 principal outstanding", default=ZERO, **MONEY)
    interest_receivable = models.DecimalField("应收利息 interest receivable", default=ZERO, **MONEY)
    penalty_receivable = models.DecimalField("应收罚息 penalty receivable", default=ZERO, **MONEY)
    compound_receivable = models.DecimalField("应收复利 compound receivable", default=ZERO, **MONEY)
    off_balance_interest = models.DecimalField("表外应收息 off-balance interest", default=ZERO, **MONEY)
    off_balance_contra = models.DecimalField("表外对应 off-balance contra", default=ZERO, **MONEY)
    interest_income = models.DecimalField("利息收入(贷方为负)", default=ZERO, **MONEY)
    penalty_income = models.DecimalField("罚息收入(贷方为负)", default=ZERO, **MONEY)
    compound_income = models.DecimalField("复利收入(贷方为负)", default=ZERO, **MONEY)
    clearing = models.DecimalField("清算往来", default=ZERO, **MONEY)
    suspense = models.DecimalField("暂收款项(贷方为负)", default=ZERO, **MONEY)
    writeoff_loss = models.DecimalField("核销损失", default=ZERO, **MONEY)
    # accrual memory (full precision) and totals
    # full-precision accruals kept as integers of 1e-10 yuan (exact on every database, SQLite included)
    penalty_accrued_e10 = models.BigIntegerField("累计罚息(1e-10元) penalty accrued", default=0)
    penalty_posted = models.DecimalField("已入账罚息", default=ZERO, **MONEY)
    penalty_paid = models.DecimalField("已还罚息", default=ZERO, **MONEY)
    compound_accrued_e10 = models.BigIntegerField("累计复利(1e-10元) compound accrued", default=0)
    compound_posted = models.DecimalField("已入账复利", default=ZERO, **MONEY)
    compound_paid = models.DecimalField("已还复利", default=ZERO, **MONEY)
    paid_to_date = models.DecimalField("累计还款 paid to date", default=ZERO, **MONEY)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="account_manager")

    class Meta:
        verbose_name = "贷款 loan"
        verbose_name_plural = "贷款 loans"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["customer", "state"]),
            models.Index(fields=["institution", "branch", "state"]),
            # open loans in id order for the nightly close; last_closed_business_date is deliberately not
            # indexed so the daily update of every loan stays a HOT update (see the fillfactor migration)
            models.Index(fields=["id"], name="loan_cob_open_idx", condition=Q(state__in=["active", "overdue"])),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="loan_principal_positive"),
            models.CheckConstraint(condition=Q(principal_outstanding__gte=0), name="loan_outstanding_non_negative"),
            models.CheckConstraint(
                condition=Q(penalty_paid__lte=models.F("penalty_posted")) & Q(compound_paid__lte=models.F("compound_posted")),
                name="loan_paid_not_above_posted",
            ),
            models.CheckConstraint(condition=Q(annual_rate__gte=0) & Q(annual_rate__lt=1), name="loan_rate_range"),
        ]
        permissions = [
            ("record_repayment", "录入还款 / record repayments"),
            ("approve_repayment", "复核还款 / approve repayments"),
            ("run_cob", "运行日终 / run the nightly close"),
            ("request_classification", "发起分类调整 / request a class change"),
            ("approve_classification", "复核分类调整 / approve a class change"),
            ("view_portfolio", "查看资产组合 / view the portfolio"),
        ]

    def __str__(self):
        return f"{self.contract_no}"

    # --- state machine (django-fsm-2); only services call these, inside a locked transaction ---
    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=LoanState.PENDING, target=LoanState.ACTIVE)
    def disburse(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=LoanState.ACTIVE, target=LoanState.OVERDUE)
    def mark_overdue(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=LoanState.OVERDUE, target=LoanState.ACTIVE)
    def cure(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[LoanState.ACTIVE, LoanState.OVERDUE], target=LoanState.SETTLED)
    def settle(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[LoanState.ACTIVE, LoanState.OVERDUE], target=LoanState.WRITTEN_OFF)
    def write_off(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=LoanState.SETTLED, target=LoanState.ACTIVE)
    def reopen(self, by=None, description=None):
        """Only a reversal replay reopens a settled loan (the settling repayment bounced)."""

    @property
    def penalty_accrued(self) -> Decimal:
        return Decimal(self.penalty_accrued_e10).scaleb(-10)

    @property
    def compound_accrued(self) -> Decimal:
        return Decimal(self.compound_accrued_e10).scaleb(-10)

    @property
    def annual_rate_percent(self) -> str:
        from lending.schedule import fmt_percent

        return fmt_percent(self.annual_rate * 100)

    @property
    def is_open(self) -> bool:
        return self.state in (LoanState.ACTIVE, LoanState.OVERDUE)

    @property
    def is_non_performing(self) -> bool:
        from lending.models.common import NON_PERFORMING

        return self.loan_class in NON_PERFORMING


class ScheduleVersion(models.Model):
    """A version of a loan's schedule; prepayments and replays add versions, old ones are kept."""

    class Reason(models.TextChoices):
        ORIGINAL = "original", "原始计划 original"
        PREPAYMENT = "prepayment", "提前还款 prepayment"
        REPLAY = "replay", "重算 replay"
        DISBURSEMENT = "disbursement", "放款日调整 value date moved"

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="schedule_versions")
    number = models.PositiveIntegerField("版本 version")
    reason = models.CharField("原因 reason", max_length=20, choices=Reason.choices)
    effective_date = models.DateField("生效日 effective")
    note = models.CharField("说明 note", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "还款计划版本 schedule version"
        verbose_name_plural = "还款计划版本 schedule versions"
        ordering = ["loan", "number"]
        constraints = [models.UniqueConstraint(fields=["loan", "number"], name="schedule_version_unique")]

    def __str__(self):
        return f"{self.loan_id} v{self.number}"


class InstallmentStatus(models.TextChoices):
    PENDING = "pending", "未到期 pending"
    OVERDUE = "overdue", "逾期 overdue"
    PAID = "paid", "已还清 paid"


class Installment(models.Model):
    """One period of a schedule version, with its scheduled and paid parts. The current version's rows
    have ``is_current``; a new version copies the past rows and replaces the rest."""

    Status = InstallmentStatus

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="installments")
    version = models.PositiveIntegerField("版本 version")
    is_current = models.BooleanField("当前版本", default=True)
    number = models.PositiveIntegerField("期次 number")
    start_date = models.DateField("计息起日 start")
    due_date = models.DateField("应还日 due date")
    principal = models.DecimalField("应还本金", **MONEY)
    interest = models.DecimalField("应还利息", **MONEY)
    paid_principal = models.DecimalField("已还本金", default=ZERO, **MONEY)
    paid_interest = models.DecimalField("已还利息", default=ZERO, **MONEY)
    status = models.CharField("状态", max_length=10, choices=InstallmentStatus.choices, default=InstallmentStatus.PENDING)
    paid_on = models.DateField("还清日", null=True, blank=True)
    overdue_on = models.DateField("转逾期日", null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="loan__institution", branch="loan__branch", assigned="loan__account_manager")

    class Meta:
        verbose_name = "还款计划期次 installment"
        verbose_name_plural = "还款计划期次 installments"
        ordering = ["loan", "version", "number"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "version", "number"], name="installment_unique"),
            models.CheckConstraint(
                condition=Q(principal__gte=0) & Q(interest__gte=0) & Q(paid_principal__gte=0) & Q(paid_interest__gte=0),
                name="installment_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(paid_principal__lte=models.F("principal")) & Q(paid_interest__lte=models.F("interest")),
                name="installment_paid_not_above_scheduled",
            ),
            models.CheckConstraint(condition=Q(due_date__gt=models.F("start_date")), name="installment_period_positive"),
        ]
        indexes = [
            models.Index(
                fields=["loan", "due_date"], name="installment_open_idx", condition=Q(is_current=True) & ~Q(status="paid")
            ),
            models.Index(fields=["due_date"], name="installment_due_idx", condition=Q(is_current=True) & ~Q(status="paid")),
        ]

    def __str__(self):
        return f"{self.loan_id} #{self.number} {self.due_date}"

    @property
    def payment(self) -> Decimal:
        return self.principal + self.interest

    @property
    def unpaid(self) -> Decimal:
        return self.principal + self.interest - self.paid_principal - self.paid_interest


class RepaymentKind(models.TextChoices):
    REGULAR = "regular", "正常还款 regular"
    PREPAYMENT = "prepayment", "提前还款 prepayment"


class RepaymentChannel(models.TextChoices):
    CUSTOMER = "customer", "客户自助 customer"
    STAFF = "staff", "柜面 staff"
    CORE_BANKING = "core_banking", "核心系统 core banking"
    AUTO_COLLECTION = "auto_collection", "代扣 auto-collection"


class RepaymentStatus(models.TextChoices):
    POSTED = "posted", "已入账 posted"
    REVERSED = "reversed", "已冲正 reversed"


class Repayment(models.Model):
    """A repayment with its value date. Reversal marks it reversed and replays the loan; the row stays."""

    Kind = RepaymentKind
    Channel = RepaymentChannel
    Status = RepaymentStatus

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayments")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField("类型 kind", max_length=12, choices=RepaymentKind.choices, default=RepaymentKind.REGULAR)
    prepayment_option = models.CharField(
        "提前还款方式", max_length=20, choices=PrepaymentOptionChoices.choices, blank=True, default=""
    )
    channel = models.CharField("渠道 channel", max_length=20, choices=RepaymentChannel.choices)
    amount = models.DecimalField("金额 amount", **MONEY)
    value_date = models.DateField("起息日 value date")
    entry_date = models.DateField("入账营业日 entry business date")
    external_id = models.CharField("外部流水号 external id", max_length=64, blank=True, default="")
    status = models.CharField("状态", max_length=10, choices=RepaymentStatus.choices, default=RepaymentStatus.POSTED)
    allocation = models.JSONField("冲销明细 allocation", default=dict, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reversed_on = models.DateField("冲正营业日", null=True, blank=True)
    reversal_reason = models.CharField("冲正原因", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="loan__institution", branch="loan__branch", assigned="loan__account_manager")

    class Meta:
        verbose_name = "还款 repayment"
        verbose_name_plural = "还款 repayments"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_positive"),
            models.UniqueConstraint(
                fields=["institution", "external_id"], condition=~Q(external_id=""), name="repayment_external_id_unique"
            ),
        ]
        indexes = [models.Index(fields=["loan", "value_date", "id"])]

    def __str__(self):
        return f"{self.loan_id} {self.amount} @ {self.value_date}"
