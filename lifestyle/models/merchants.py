"""Partner merchants (合作商户): onboarding state machine, documents, settlement terms, review tasks."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from simple_history.models import HistoricalRecords

from jikuai.core.fields import EncryptedTextField
from jikuai.org.scoping import ScopedManager, ScopeSpec


class Merchant(FSMModelMixin, models.Model):
    """A shop that honours benefits. Merchant staff reach it through the guardian permission
    ``lifestyle.operate_merchant`` on this object only."""

    class State(models.TextChoices):
        APPLIED = "applied", "已申请 applied"
        REVIEWING = "reviewing", "审核中 reviewing"
        APPROVED = "approved", "已通过 approved"
        REJECTED = "rejected", "已拒绝 rejected"
        ACTIVE = "active", "营业中 active"
        SUSPENDED = "suspended", "已暂停 suspended"
        CLOSED = "closed", "已关闭 closed"

    class Category(models.TextChoices):
        CATERING = "catering", "餐饮"
        SUPERMARKET = "supermarket", "超市"
        AGRI_SUPPLIES = "agri_supplies", "农资"
        PHARMACY = "pharmacy", "医药"
        LIFE_SERVICES = "life_services", "生活服务"
        TELECOM = "telecom", "通讯"
        OTHER = "other", "其他"

    class Cycle(models.TextChoices):
        T1 = "t1", "T+1 日结"
        WEEKLY = "weekly", "周结"
        MONTHLY = "monthly", "月结"

    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey(
        "org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="管户网点"
    )
    code = models.CharField("商户编号 code", max_length=20, unique=True)
    name = models.CharField("商户名称 name", max_length=100)
    category = models.CharField("类别 category", max_length=20, choices=Category.choices)
    region = models.ForeignKey("customers.Region", on_delete=models.PROTECT, related_name="+", verbose_name="所在村/乡镇 region")
    address = models.CharField("地址 address", max_length=200, blank=True, default="")
    contact_name = models.CharField("联系人 contact", max_length=50, blank=True, default="")
    contact_mobile = EncryptedTextField("联系电话 contact mobile", purpose="lifestyle.merchant_mobile")
    licence_no = models.CharField("营业执照号 licence number", max_length=30, blank=True, default="")
    licence_image = models.CharField("营业执照图片(私有存储) licence image", max_length=200, blank=True, default="")
    licence_sha256 = models.CharField("执照图片摘要", max_length=64, blank=True, default="")
    settlement_account = EncryptedTextField("结算账号 settlement account", purpose="lifestyle.merchant_settlement_account")
    settlement_account_name = models.CharField("结算户名 account name", max_length=100, blank=True, default="")
    settlement_cycle = models.CharField("结算周期 cycle", max_length=10, choices=Cycle.choices, default=Cycle.T1)
    fee_rate = models.DecimalField(
        "服务费率 fee rate", max_digits=6, decimal_places=4, default=0, help_text="例 0.0060 = 0.6%，结算时从应付中扣除"
    )
    signed_by = models.ForeignKey(
        "org.Staff", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="签约员工 signed by"
    )
    signed_at = models.DateTimeField("签约时间", null=True, blank=True)
    state = FSMField("状态 state", default=State.APPLIED, choices=State.choices, protected=True)
    reject_reason = models.CharField("拒绝原因", max_length=200, blank=True, default="")
    is_demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(excluded_fields=["settlement_account", "contact_mobile"])

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="signed_by")

    class Meta:
        verbose_name = "合作商户 merchant"
        verbose_name_plural = "合作商户 merchants"
        ordering = ["code"]
        permissions = [
            ("operate_merchant", "商户端操作（核销、对账） / operate the merchant portal"),
            ("review_merchant", "审核商户 / review merchants"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(fee_rate__gte=0) & Q(fee_rate__lt=1), name="merchant_fee_rate_range"),
        ]
        indexes = [models.Index(fields=["institution", "state", "category"])]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def masked_settlement_account(self) -> str:
        value = self.settlement_account or ""
        return ("**** " + value[-4:]) if value else ""

    # --- transitions (called only by lifestyle.services.merchants) ---------------------------
    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.APPLIED, target=State.REVIEWING)
    def start_review(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.REVIEWING, target=State.APPROVED)
    def approve(self, by=None, description=None):
        self.reject_reason = ""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.REVIEWING, target=State.REJECTED)
    def reject(self, by=None, description=None):
        self.reject_reason = (description or "")[:200]

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.APPROVED, target=State.ACTIVE)
    def activate(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.ACTIVE, target=State.SUSPENDED)
    def suspend(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=State.SUSPENDED, target=State.ACTIVE)
    def resume(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=[State.ACTIVE, State.SUSPENDED, State.REJECTED], target=State.CLOSED)
    def close(self, by=None, description=None):
        pass


class ReviewTask(models.Model):
    """Manual work for staff (商户审核 / 结算争议): a queue by role and branch, claimed by one reviewer."""

    class Kind(models.TextChoices):
        MERCHANT_REVIEW = "merchant_review", "商户入驻审核 merchant review"
        SETTLEMENT_DISPUTE = "settlement_dispute", "结算争议 settlement dispute"

    class Status(models.TextChoices):
        OPEN = "open", "待处理 open"
        CLAIMED = "claimed", "处理中 claimed"
        DONE = "done", "已完成 done"

    kind = models.CharField("类型 kind", max_length=30, choices=Kind.choices)
    institution = models.ForeignKey("org.Institution", on_delete=models.PROTECT, related_name="+", verbose_name="法人行社")
    branch = models.ForeignKey("org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    queue_role = models.CharField("队列角色 role", max_length=20)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="review_tasks")
    settlement = models.ForeignKey(
        "lifestyle.SettlementBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="review_tasks"
    )
    status = models.CharField("状态 status", max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey("org.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    due_at = models.DateTimeField("截止 due")
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
                fields=["merchant", "kind"],
                condition=Q(status__in=["open", "claimed"], kind="merchant_review"),
                name="review_task_one_open_merchant_review",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.merchant}"
