"""Operations around the engine: staff repayments and reversals with maker-checker, auto-collection attempts,
nightly-close quarantine, and admin proxies (COB runs, portfolio)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from jikuai.core.models import JobRun
from jikuai.org.scoping import ScopedManager, ScopeSpec
from lending.models.common import MONEY, PrepaymentOptionChoices
from lending.models.loans import Loan, Repayment, RepaymentKind


class RepaymentRequestState(models.TextChoices):
    PENDING = "pending", "待复核 pending"
    APPROVED = "approved", "已入账 approved"
    REJECTED = "rejected", "已驳回 rejected"


class RepaymentRequest(FSMModelMixin, models.Model):
    """柜面还款复核: a staff repayment above the product's threshold waits for a different checker."""

    State = RepaymentRequestState

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayment_requests")
    amount = models.DecimalField("金额 amount", **MONEY)
    kind = models.CharField("类型", max_length=12, choices=RepaymentKind.choices, default=RepaymentKind.REGULAR)
    prepayment_option = models.CharField(max_length=20, choices=PrepaymentOptionChoices.choices, blank=True, default="")
    note = models.CharField("备注 note", max_length=200, blank=True, default="")
    state = FSMField("状态", default=RepaymentRequestState.PENDING, choices=RepaymentRequestState.choices, protected=True)
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="录入人 maker")
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="复核人 checker"
    )
    repayment = models.OneToOneField(Repayment, on_delete=models.PROTECT, null=True, blank=True, related_name="request")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="loan__institution", branch="loan__branch", assigned="loan__account_manager")

    class Meta:
        verbose_name = "还款复核 repayment approval"
        verbose_name_plural = "还款复核 repayment approvals"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(checker__isnull=True) | ~Q(checker=models.F("maker")), name="repayment_checker_not_maker"
            ),
        ]

    def __str__(self):
        return f"{self.loan_id} {self.amount} ({self.state})"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=RepaymentRequestState.PENDING, target=RepaymentRequestState.APPROVED)
    def approve(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=RepaymentRequestState.PENDING, target=RepaymentRequestState.REJECTED)
    def reject(self, by=None, description=None):
        pass


class RepaymentReversalRequestState(models.TextChoices):
    PENDING = "pending", "待复核 pending"
    APPROVED = "approved", "已冲正 approved"
    REJECTED = "rejected", "已驳回 rejected"


class RepaymentReversalRequest(FSMModelMixin, models.Model):
    """柜面冲正申请 (staff repayment reversal request): a maker asks, with a reason, to reverse one posted
    repayment; a different checker approves (the loan is replayed without it) or rejects with a reason.

    A small model of its own rather than fields on ``Repayment``: one repayment may collect several
    requests over time (a rejected one, then a new one), each with its own maker, checker, reason and
    decision, while the repayment row itself keeps only the outcome (status, reversal date, reason).
    At most one request per repayment is pending (partial unique constraint)."""

    State = RepaymentReversalRequestState

    repayment = models.ForeignKey(
        Repayment, on_delete=models.PROTECT, related_name="reversal_requests", verbose_name="还款 repayment"
    )
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="reversal_requests", verbose_name="贷款 loan")
    reason = models.CharField("冲正原因 reason", max_length=200)
    state = FSMField(
        "状态", default=RepaymentReversalRequestState.PENDING, choices=RepaymentReversalRequestState.choices, protected=True
    )
    maker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="申请人 maker")
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="复核人 checker"
    )
    requested_on = models.DateField("申请营业日")
    decision_comment = models.CharField("复核意见", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="loan__institution", branch="loan__branch", assigned="loan__account_manager")

    class Meta:
        verbose_name = "冲正复核 reversal approval"
        verbose_name_plural = "冲正复核 reversal approvals"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="reversal_request_reason_required"),
            models.CheckConstraint(
                condition=Q(checker__isnull=True) | ~Q(checker=models.F("maker")), name="reversal_checker_not_maker"
            ),
            models.UniqueConstraint(
                fields=["repayment"], condition=Q(state="pending"), name="reversal_one_pending_per_repayment"
            ),
        ]
        permissions = [
            ("request_reversal", "申请冲正 / request a repayment reversal"),
            ("approve_reversal", "复核冲正 / approve a repayment reversal"),
        ]

    def __str__(self):
        return f"冲正 #{self.repayment_id} ({self.state})"

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=RepaymentReversalRequestState.PENDING, target=RepaymentReversalRequestState.APPROVED)
    def approve(self, by=None, description=None):
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=RepaymentReversalRequestState.PENDING, target=RepaymentReversalRequestState.REJECTED)
    def reject(self, by=None, description=None):
        pass


class CollectionAttempt(models.Model):
    """代扣: one auto-collection request per loan and business date (the unique key makes reruns safe)."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "已发送 requested"
        SUCCEEDED = "succeeded", "成功 succeeded"
        FAILED = "failed", "失败 failed"

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="collection_attempts")
    business_date = models.DateField("营业日期")
    amount = models.DecimalField("应扣金额", **MONEY)
    collected = models.DecimalField("实扣金额", default=0, **MONEY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    reference = models.CharField("核心流水", max_length=64, blank=True, default="")
    message = models.CharField(max_length=200, blank=True, default="")
    repayment = models.ForeignKey(Repayment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "代扣记录 collection attempt"
        verbose_name_plural = "代扣记录 collection attempts"
        constraints = [models.UniqueConstraint(fields=["loan", "business_date"], name="collection_once_per_day")]

    def __str__(self):
        return f"{self.loan_id} {self.business_date} {self.status}"


class CobQuarantine(models.Model):
    """A loan the nightly close could not process: recorded, reported, retried by the next run."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="quarantines")
    business_date = models.DateField("营业日期")
    step = models.CharField("步骤 step", max_length=30)
    error = models.TextField("错误 error")
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager()
    scope = ScopeSpec(institution="loan__institution", branch="loan__branch", assigned="loan__account_manager")

    class Meta:
        verbose_name = "日终隔离 COB quarantine"
        verbose_name_plural = "日终隔离 COB quarantine"
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["loan", "business_date", "step"], name="quarantine_once")]

    def __str__(self):
        return f"{self.loan_id} {self.business_date} {self.step}"


class CobRun(JobRun):
    """The nightly close's job runs (admin view over the kernel's JobRun)."""

    class Meta:
        proxy = True
        verbose_name = "日终运行 COB run"
        verbose_name_plural = "日终运行 COB runs"


class PortfolioLoan(Loan):
    """Admin entry point for the portfolio page (资产组合: by class, product, institution, branch)."""

    class Meta:
        proxy = True
        verbose_name = "资产组合 portfolio"
        verbose_name_plural = "资产组合 portfolio"
