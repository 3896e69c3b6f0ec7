"""Credit origination (授信/用信): applications and their automated decision, manual review tasks,
credit lines and drawdowns, contracts with e-signatures.

State machines (django-fsm-2, history in django-fsm-log). Only services call the transitions, inside
``transaction.atomic()`` with the row locked.

Application: draft → submitted → deciding → approved | rejected | referred; referred → (manual review)
→ approved | rejected; approved → contract_pending → signed → active (credit line opened) or disbursed
(one-off loan); draft / submitted / referred / approved / contract_pending → cancelled; approved /
contract_pending → expired (not signed within the product's validity).
"""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from simple_history.models import HistoricalRecords

from jikuai.customers.kyc.models import private_storage
from jikuai.org.scoping import ScopedManager, ScopeSpec
from lending.models.common import MONEY, RATE
from lending.models.products import ProductKind

__all__ = [
    "OPEN_APPLICATION_STATES",
    "ApplicationChannel",
    "ApplicationState",
    "Contract",
    "ContractKind",
    "ContractState",
    "CreditLine",
    "CreditLineChange",
    "CreditLineRequest",
    "CreditLineState",
    "Drawdown",
    "DrawdownState",
    "LoanApplication",
    "ReviewTask",
    "ReviewTaskStatus",
]


class ApplicationChannel(models.TextChoices):
    WEB = "web", "手机银行/网页 web"
    FIELD = "field", "移动展业 field"
    API = "api", "接口 API"


class ApplicationState(models.TextChoices):
    DRAFT = "draft", "草稿 draft"
    SUBMITTED = "submitted", "已提交 submitted"
    DECIDING = "deciding", "自动审批中 deciding"
    APPROVED = "approved", "已批准 approved"
    REJECTED = "rejected", "已拒绝 rejected"
    REFERRED = "referred", "转人工审核 referred"
    CONTRACT_PENDING = "contract_pending", "待签约 contract pending"
    SIGNED = "signed", "已签约 signed"
    ACTIVE = "active", "额度已生效 line active"
    DISBURSED = "disbursed", "已放款 disbursed"
    CANCELLED = "cancelled", "已撤销 cancelled"
    EXPIRED = "expired", "已过期 expired"


OPEN_APPLICATION_STATES = (
    ApplicationState.DRAFT,
    ApplicationState.SUBMITTED,
    ApplicationState.DECIDING,
    ApplicationState.APPROVED,
    ApplicationState.REFERRED,
    ApplicationState.CONTRACT_PENDING,
    ApplicationState.SIGNED,
)
CANCELLABLE = [
    ApplicationState.DRAFT,
    ApplicationState.SUBMITTED,
    ApplicationState.REFERRED,
    ApplicationState.APPROVED,
    ApplicationState.CONTRACT_PENDING,
]


HISTORY_UNINDEXED = [
    "application_no",
    "institution",
    "branch",
    "account_manager",
    "created_by_staff",
    "customer",
    "product",
    "approved_by",
]


class LoanApplication(FSMModelMixin, models.Model):
    """贷款申请: one customer's request for one product, its automated decision and its manual review."""

    application_no = models.CharField("申请编号 application no.", max_length=32, unique=True)
    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey(
        "org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点"
    )
    account_manager = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="客户经理 account manager"
    )
    created_by_staff = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="代办员工 made by (field)"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="loan_applications", db_index=False
    )  # indexed first in (customer, state) and (customer, product)
    product = models.ForeignKey("lending.Product", on_delete=models.PROTECT, related_name="applications", verbose_name="产品")
    product_version = models.PositiveIntegerField("产品版本 product version", default=1)
    product_snapshot = models.JSONField("产品参数快照 product snapshot", default=dict, blank=True)
    kind = models.CharField("授信方式 kind", max_length=10, choices=ProductKind.choices, default=ProductKind.LOAN)
    channel = models.CharField("渠道 channel", max_length=10, choices=ApplicationChannel.choices, default=ApplicationChannel.WEB)

    amount_requested = models.DecimalField("申请金额 amount requested", **MONEY)
    term_months = models.PositiveSmallIntegerField("期限(月) term")
    repayment_method = models.CharField("还款方式 repayment method", max_length=20)
    purpose = models.CharField("用途 purpose", max_length=200, blank=True, default="")
    declared_monthly_income = models.DecimalField("申报月收入 declared income", null=True, blank=True, **MONEY)
    decision_inputs = models.JSONField("决策输入 decision inputs", default=dict, blank=True)

    state = FSMField("状态 state", default=ApplicationState.DRAFT, choices=ApplicationState.choices, protected=True)
    decision_outcome = models.CharField("自动决策结果 automated outcome", max_length=10, blank=True, default="")
    decision_ids = models.JSONField("决策记录 decision record ids", default=dict, blank=True)
    grade = models.CharField("评级 grade", max_length=2, blank=True, default="")
    approved_amount = models.DecimalField("批准金额 approved amount", null=True, blank=True, **MONEY)
    annual_rate = models.DecimalField("年利率 annual rate", null=True, blank=True, **RATE)
    apr = models.DecimalField("年化利率 APR", null=True, blank=True, **RATE)
    reasons = models.JSONField("原因 reasons", default=list, blank=True, help_text="[[code, 中文说明], …]")
    decision_ms = models.FloatField("决策耗时(毫秒) decision ms", null=True, blank=True)

    submitted_at = models.DateTimeField("提交时间 submitted at", null=True, blank=True)
    decided_at = models.DateTimeField("决策时间 decided at", null=True, blank=True)
    approved_by = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="审批人 approved by"
    )
    expires_on = models.DateField("签约截止 sign by", null=True, blank=True)
    closed_reason = models.CharField("结束原因 closed reason", max_length=200, blank=True, default="")
    created_at = models.DateTimeField("创建时间 created at", default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # the history is looked up by application (id) and time; an index per copied foreign key only slows
    # every insert (one history row per change)
    history = HistoricalRecords(no_db_index=HISTORY_UNINDEXED)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="account_manager")

    class Meta:
        verbose_name = "贷款申请 loan application"
        verbose_name_plural = "贷款申请 loan applications"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "institution"]), models.Index(fields=["customer", "state"])]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "product"],
                condition=Q(state__in=[s.value for s in OPEN_APPLICATION_STATES]),
                name="application_one_open_per_product",
            ),
            models.CheckConstraint(condition=Q(amount_requested__gt=0), name="application_amount_positive"),
        ]

    def __str__(self):
        return self.application_no

    # transitions (called by lending.services.origination only)
    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ApplicationState.DRAFT, target=ApplicationState.SUBMITTED)
    def submit(self, by=None, description=None):
        self.submitted_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ApplicationState.SUBMITTED, target=ApplicationState.DECIDING)
    def start_deciding(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[ApplicationState.DECIDING, ApplicationState.REFERRED], target=ApplicationState.APPROVED)
    def approve(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[ApplicationState.DECIDING, ApplicationState.REFERRED], target=ApplicationState.REJECTED)
    def reject(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ApplicationState.DECIDING, target=ApplicationState.REFERRED)
    def refer(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ApplicationState.APPROVED, target=ApplicationState.CONTRACT_PENDING)
    def await_contract(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ApplicationState.CONTRACT_PENDING, target=ApplicationState.SIGNED)
    def sign(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ApplicationState.SIGNED, target=ApplicationState.ACTIVE)
    def activate_line(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ApplicationState.SIGNED, target=ApplicationState.DISBURSED)
    def mark_disbursed(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=CANCELLABLE, target=ApplicationState.CANCELLED)
    def cancel(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state, source=[ApplicationState.APPROVED, ApplicationState.CONTRACT_PENDING], target=ApplicationState.EXPIRED
    )
    def expire(self, by=None, description=None):
        pass


class ReviewTaskStatus(models.TextChoices):
    OPEN = "open", "待领取 open"
    CLAIMED = "claimed", "处理中 claimed"
    DONE = "done", "已完成 done"
    CANCELLED = "cancelled", "已撤销 cancelled"


class ReviewTask(models.Model):
    """人工审核任务: a referred application (or a credit line change request, 额度变更复核) waiting in a queue
    (role + branch). One reviewer holds it at a time (claim with ``skip_locked``); due in working hours;
    escalated by a beat job when overdue."""

    class Kind(models.TextChoices):
        APPLICATION_REVIEW = "application_review", "贷款申请审核 application review"
        LINE_CHANGE = "line_change", "额度变更复核 credit line change"

    kind = models.CharField("类型 kind", max_length=30, choices=Kind.choices, default=Kind.APPLICATION_REVIEW)
    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey(
        "org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点"
    )
    queue_role = models.CharField("队列角色 queue role", max_length=30)
    application = models.ForeignKey(LoanApplication, on_delete=models.PROTECT, null=True, blank=True, related_name="review_tasks")
    line_request = models.ForeignKey(
        "lending.CreditLineRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="review_tasks"
    )
    status = models.CharField("状态 status", max_length=10, choices=ReviewTaskStatus.choices, default=ReviewTaskStatus.OPEN)
    assignee = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="处理人 assignee"
    )
    claimed_at = models.DateTimeField("领取时间 claimed at", null=True, blank=True)
    due_at = models.DateTimeField("截止时间 due at")
    escalation_level = models.PositiveSmallIntegerField("升级次数 escalations", default=0)
    escalated_at = models.DateTimeField("升级时间 escalated at", null=True, blank=True)
    outcome = models.CharField("结论 outcome", max_length=20, blank=True, default="")
    comment = models.CharField("意见 comment", max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch")

    class Meta:
        verbose_name = "审核任务 review task"
        verbose_name_plural = "审核任务 review tasks"
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "queue_role", "due_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["application"],
                condition=Q(status__in=["open", "claimed"], application__isnull=False),
                name="review_task_one_open_per_application",
            ),
            models.UniqueConstraint(
                fields=["line_request"],
                condition=Q(status__in=["open", "claimed"], line_request__isnull=False),
                name="review_task_one_open_per_line_request",
            ),
            models.CheckConstraint(
                condition=~Q(status="claimed") | Q(assignee__isnull=False), name="review_task_claimed_has_assignee"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"


class CreditLineState(models.TextChoices):
    ACTIVE = "active", "有效 active"
    FROZEN = "frozen", "冻结 frozen"
    CLOSED = "closed", "已关闭 closed"
    EXPIRED = "expired", "已到期 expired"


class CreditLine(models.Model):
    """授信额度: limit = used + available, always (a CHECK constraint; changed only under a row lock)."""

    line_no = models.CharField("额度编号 line no.", max_length=32, unique=True)
    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey(
        "org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点"
    )
    account_manager = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="客户经理 account manager"
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="credit_lines")
    product = models.ForeignKey("lending.Product", on_delete=models.PROTECT, related_name="credit_lines", verbose_name="产品")
    application = models.OneToOneField(
        LoanApplication, on_delete=models.PROTECT, null=True, blank=True, related_name="credit_line"
    )
    limit = models.DecimalField("授信额度 limit", **MONEY)
    used = models.DecimalField("已用额度 used", default=0, **MONEY)
    available = models.DecimalField("可用额度 available", **MONEY)
    annual_rate = models.DecimalField("执行年利率 annual rate", **RATE)
    valid_from = models.DateField("生效日 valid from")
    valid_until = models.DateField("到期日 valid until")
    revolving = models.BooleanField("循环使用 revolving", default=False)
    state = models.CharField("状态 state", max_length=10, choices=CreditLineState.choices, default=CreditLineState.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="account_manager")

    class Meta:
        verbose_name = "授信额度 credit line"
        verbose_name_plural = "授信额度 credit lines"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(used__gte=0) & Q(available__gte=0), name="credit_line_non_negative"),
            models.CheckConstraint(condition=Q(limit=F("used") + F("available")), name="credit_line_balanced"),
            models.CheckConstraint(condition=Q(valid_until__gte=F("valid_from")), name="credit_line_validity"),
        ]

    def __str__(self):
        return self.line_no


class CreditLineChange(models.Model):
    """额度变动流水: every change of limit / used / available / state, with before and after."""

    class Kind(models.TextChoices):
        OPEN = "open", "开立 open"
        DRAWDOWN = "drawdown", "用信占用 drawdown"
        RELEASE = "release", "放款失败释放 release"
        RESTORE = "restore", "还款恢复 restore"
        FREEZE = "freeze", "冻结 freeze"
        UNFREEZE = "unfreeze", "解冻 unfreeze"
        ADJUST = "adjust", "调额 adjust"
        CLOSE = "close", "关闭 close"
        EXPIRE = "expire", "到期 expire"

    line = models.ForeignKey(CreditLine, on_delete=models.PROTECT, related_name="changes")
    kind = models.CharField("类型 kind", max_length=10, choices=Kind.choices)
    amount = models.DecimalField("金额 amount", default=0, **MONEY)
    limit_after = models.DecimalField("变动后额度 limit after", **MONEY)
    used_after = models.DecimalField("变动后已用 used after", **MONEY)
    available_after = models.DecimalField("变动后可用 available after", **MONEY)
    reference = models.CharField("业务参考 reference", max_length=64, blank=True, default="")
    reason = models.CharField("原因 reason", max_length=200, blank=True, default="")
    maker = models.ForeignKey("org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    checker = models.ForeignKey("org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "额度变动 credit line change"
        verbose_name_plural = "额度变动 credit line changes"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.line} {self.get_kind_display()} {self.amount}"


class CreditLineRequest(models.Model):
    """Staff request to freeze / unfreeze / adjust / close a line: made by one, checked by another."""

    class Action(models.TextChoices):
        FREEZE = "freeze", "冻结 freeze"
        UNFREEZE = "unfreeze", "解冻 unfreeze"
        ADJUST = "adjust", "调整额度 adjust"
        CLOSE = "close", "关闭 close"

    class Status(models.TextChoices):
        PENDING = "pending", "待复核 pending"
        APPROVED = "approved", "已执行 approved"
        REJECTED = "rejected", "已驳回 rejected"

    line = models.ForeignKey(CreditLine, on_delete=models.PROTECT, related_name="requests")
    action = models.CharField("操作 action", max_length=10, choices=Action.choices)
    new_limit = models.DecimalField("新额度 new limit", null=True, blank=True, **MONEY)
    reason = models.CharField("原因 reason", max_length=200)
    status = models.CharField("状态 status", max_length=10, choices=Status.choices, default=Status.PENDING)
    maker = models.ForeignKey("org.Staff", on_delete=models.PROTECT, related_name="+", verbose_name="经办 maker")
    checker = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="复核 checker"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    comment = models.CharField("复核意见 comment", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="line__institution", branch="line__branch", assigned="line__account_manager")

    class Meta:
        verbose_name = "额度操作申请 credit line request"
        verbose_name_plural = "额度操作申请 credit line requests"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(checker=F("maker")), name="credit_line_request_maker_not_checker"),
        ]

    def __str__(self):
        return f"{self.line} {self.get_action_display()}"


class DrawdownState(models.TextChoices):
    REQUESTED = "requested", "已受理 requested"
    DISBURSING = "disbursing", "放款中 disbursing"
    DISBURSED = "disbursed", "已放款 disbursed"
    FAILED = "failed", "放款失败 failed"


class Drawdown(models.Model):
    """用信 (支用): a loan drawn on a credit line; the amount is held on the line until the loan settles
    or the disbursement fails (then released)."""

    drawdown_no = models.CharField("支用编号 drawdown no.", max_length=32, unique=True)
    line = models.ForeignKey(CreditLine, on_delete=models.PROTECT, related_name="drawdowns")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="drawdowns")
    amount = models.DecimalField("支用金额 amount", **MONEY)
    term_months = models.PositiveSmallIntegerField("期限(月) term")
    repayment_method = models.CharField("还款方式 repayment method", max_length=20)
    annual_rate = models.DecimalField("年利率 annual rate", **RATE)
    apr = models.DecimalField("年化利率 APR", null=True, blank=True, **RATE)
    channel = models.CharField("渠道 channel", max_length=10, choices=ApplicationChannel.choices, default=ApplicationChannel.WEB)
    state = models.CharField("状态 state", max_length=12, choices=DrawdownState.choices, default=DrawdownState.REQUESTED)
    loan = models.OneToOneField("lending.Loan", on_delete=models.PROTECT, null=True, blank=True, related_name="drawdown")
    decision_id = models.BigIntegerField("复核决策 decision id", null=True, blank=True)
    failure_reason = models.CharField("失败原因 failure reason", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="line__institution", branch="line__branch", assigned="line__account_manager")

    class Meta:
        verbose_name = "用信支用 drawdown"
        verbose_name_plural = "用信支用 drawdowns"
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="drawdown_amount_positive")]

    def __str__(self):
        return self.drawdown_no


class ContractKind(models.TextChoices):
    LOAN = "loan", "借款合同 loan contract"
    LINE = "line", "授信额度合同 credit line agreement"
    RECEIPT = "receipt", "借款借据 loan receipt"


class ContractState(models.TextChoices):
    AWAITING_SIGNATURE = "awaiting_signature", "待签署 awaiting signature"
    SIGNED = "signed", "已签署 signed"
    VOID = "void", "已作废 void"


class Contract(models.Model):
    """电子合同: the PDF as generated, the customer's confirmation (one-time code) and the PDF signed by
    the institution (PAdES). Files live in private storage; ``*_sha256`` are of the stored bytes."""

    contract_no = models.CharField("合同编号 contract no.", max_length=40, unique=True)
    kind = models.CharField("合同类型 kind", max_length=10, choices=ContractKind.choices)
    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey(
        "org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="网点"
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="contracts")
    application = models.ForeignKey(LoanApplication, on_delete=models.PROTECT, null=True, blank=True, related_name="contracts")
    credit_line = models.ForeignKey(CreditLine, on_delete=models.PROTECT, null=True, blank=True, related_name="contracts")
    drawdown = models.ForeignKey(Drawdown, on_delete=models.PROTECT, null=True, blank=True, related_name="contracts")
    state = models.CharField("状态 state", max_length=20, choices=ContractState.choices, default=ContractState.AWAITING_SIGNATURE)
    terms = models.JSONField("合同要素 terms", default=dict, blank=True)
    unsigned_pdf = models.FileField("合同文本 PDF", upload_to="contracts/unsigned/", storage=private_storage, blank=True)
    unsigned_sha256 = models.CharField("文本摘要 SHA-256", max_length=64, blank=True, default="")
    signed_pdf = models.FileField("签章合同 signed PDF", upload_to="contracts/signed/", storage=private_storage, blank=True)
    signed_sha256 = models.CharField("签章文件摘要 signed SHA-256", max_length=64, blank=True, default="")
    confirmation = models.JSONField(
        "客户确认证据 confirmation evidence", default=dict, blank=True, help_text="时间、IP、手机号(脱敏)、文档摘要"
    )
    signer_subject = models.CharField("签章证书主体 signer", max_length=300, blank=True, default="")
    signed_at = models.DateTimeField("签署时间 signed at", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="customer__account_manager")

    class Meta:
        verbose_name = "电子合同 contract"
        verbose_name_plural = "电子合同 contracts"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="signed") | (Q(signed_at__isnull=False) & ~Q(signed_sha256="")),
                name="contract_signed_has_evidence",
            ),
        ]

    def __str__(self):
        return self.contract_no
