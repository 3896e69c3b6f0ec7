"""Five-category classification (五级分类): effective-dated DPD floor tables, manual changes with
maker and checker, month-end snapshots."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from jikuai.org.models import Branch, Institution, Staff
from jikuai.org.scoping import ScopedManager, ScopeSpec
from lending.models.common import MONEY, LoanClass
from lending.models.loans import Loan
from lending.models.products import Product


class ClassificationTable(models.Model):
    """A DPD → class floor table, effective from a date (the newest effective one applies)."""

    name = models.CharField("名称 name", max_length=100)
    effective_from = models.DateField("生效日 effective from", unique=True)
    is_active = models.BooleanField("启用 active", default=True)
    note = models.CharField("说明", max_length=200, blank=True, default="")

    class Meta:
        verbose_name = "分类底线表 DPD floor table"
        verbose_name_plural = "分类底线表 DPD floor tables"
        ordering = ["-effective_from"]

    def __str__(self):
        return f"{self.name} ({self.effective_from})"


class ClassificationBand(models.Model):
    table = models.ForeignKey(ClassificationTable, on_delete=models.CASCADE, related_name="bands")
    min_dpd = models.PositiveIntegerField("逾期天数下限 min DPD")
    max_dpd = models.PositiveIntegerField("逾期天数上限 max DPD", null=True, blank=True, help_text="空 = 无上限")
    loan_class = models.CharField("分类 class", max_length=20, choices=LoanClass.choices)

    class Meta:
        verbose_name = "分类底线 band"
        verbose_name_plural = "分类底线 bands"
        ordering = ["table", "min_dpd"]
        constraints = [
            models.UniqueConstraint(fields=["table", "min_dpd"], name="classification_band_unique"),
            models.CheckConstraint(condition=Q(max_dpd__isnull=True) | Q(max_dpd__gte=models.F("min_dpd")), name="band_range"),
        ]

    def __str__(self):
        return f"{self.min_dpd}–{self.max_dpd or '∞'} → {self.loan_class}"


class ClassificationRequestState(models.TextChoices):
    PENDING = "pending", "待复核 pending"
    APPROVED = "approved", "已生效 approved"
    REJECTED = "rejected", "已驳回 rejected"


class ClassificationRequest(FSMModelMixin, models.Model):
    """人工调整分类: a maker proposes a class with a reason; a different checker approves or rejects.
    ``requested_class`` empty removes the manual class (back to the DPD floor)."""

    State = ClassificationRequestState

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="classification_requests")
    requested_class = models.CharField("调整为 class", max_length=20, choices=LoanClass.choices, blank=True, default="")
    reason = models.TextField("理由 reason")
    state = FSMField(
        "状态", default=ClassificationRequestState.PENDING, choices=ClassificationRequestState.choices, protected=True
    )
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="发起人 maker")
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="复核人 checker"
    )
    class_before = models.CharField("调整前分类", max_length=20, choices=LoanClass.choices, blank=True, default="")
    requested_on = models.DateField("发起营业日")
    effective_date = models.DateField("生效营业日", null=True, blank=True)
    decision_comment = models.CharField("复核意见", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="loan__institution", branch="loan__branch", assigned="loan__account_manager")

    class Meta:
        verbose_name = "分类调整申请 classification request"
        verbose_name_plural = "分类调整申请 classification requests"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(checker__isnull=True) | ~Q(checker=models.F("maker")), name="classification_checker_not_maker"
            ),
            models.UniqueConstraint(fields=["loan"], condition=Q(state="pending"), name="classification_one_pending_per_loan"),
        ]

    def __str__(self):
        return f"{self.loan_id} → {self.requested_class or '底线'} ({self.state})"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ClassificationRequestState.PENDING, target=ClassificationRequestState.APPROVED)
    def approve(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=ClassificationRequestState.PENDING, target=ClassificationRequestState.REJECTED)
    def reject(self, by=None, description=None):
        pass


class ClassificationSnapshot(models.Model):
    """Month-end snapshot of every open loan's class (月末分类快照) for reporting."""

    month_end = models.DateField("月末 month end")
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="snapshots")
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    account_manager = models.ForeignKey(Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    loan_class = models.CharField(max_length=20, choices=LoanClass.choices)
    dpd = models.PositiveIntegerField(default=0)
    principal_outstanding = models.DecimalField(**MONEY)

    objects = ScopedManager()
    scope = ScopeSpec(institution="institution", branch="branch", assigned="account_manager")

    class Meta:
        verbose_name = "月末分类快照 month-end snapshot"
        verbose_name_plural = "月末分类快照 month-end snapshots"
        ordering = ["-month_end", "loan"]
        constraints = [models.UniqueConstraint(fields=["month_end", "loan"], name="snapshot_once_per_month")]

    def __str__(self):
        return f"{self.month_end} {self.loan_id} {self.loan_class}"
