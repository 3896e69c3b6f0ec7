"""Back office (admin) of the loan engine: loans with ledger legs, schedule versions and events;
repayment entry and repayment reversal (冲正) with maker-checker; manual classification; COB runs with progress; portfolio.

Money, status and ledger fields are read-only; state changes go through services; financial records
cannot be deleted.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django_fsm_log.models import StateLog
from unfold.decorators import action

from jikuai.core.exceptions import ApplicationError
from jikuai.core.models import JobRun, OutboxEvent
from jikuai.core.workdays import get_business_date
from jikuai.org.admin_base import ModelAdmin, ReadOnlyFinancialAdminMixin, ScopedModelAdmin, TabularInline, money_display
from jikuai.org.scoping import scope_for, scope_queryset
from lending import schedule as sched
from lending import selectors
from lending.models import (
    ClassificationBand,
    ClassificationRequest,
    ClassificationSnapshot,
    ClassificationTable,
    CobQuarantine,
    CobRun,
    CollectionAttempt,
    Installment,
    LedgerAccount,
    Loan,
    LoanClass,
    LoanState,
    PortfolioLoan,
    Posting,
    PostingLeg,
    Repayment,
    RepaymentRequest,
    RepaymentReversalRequest,
    ScheduleVersion,
)
from lending.services import (
    classification_request_approve,
    classification_request_create,
    classification_request_reject,
    repayment_reversal_request_approve,
    repayment_reversal_request_create,
    repayment_reversal_request_reject,
    staff_repayment_approve,
    staff_repayment_reject,
    staff_repayment_submit,
)


def _error(request, exc: ApplicationError) -> None:
    messages.error(request, exc.message)


# --- loans ------------------------------------------------------------------------------------------


class InstallmentInline(TabularInline):
    model = Installment
    extra = 0
    can_delete = False
    verbose_name_plural = "当前还款计划 current schedule"
    fields = ["number", "start_date", "due_date", "principal", "interest", "paid_principal", "paid_interest", "status", "paid_on"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_current=True).order_by("number")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RepaymentInline(TabularInline):
    model = Repayment
    extra = 0
    can_delete = False
    fields = ["id", "value_date", "entry_date", "amount", "kind", "channel", "external_id", "status", "allocation"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class StaffRepaymentForm(forms.Form):
    amount = forms.DecimalField(label="金额（元）", max_digits=18, decimal_places=2)
    kind = forms.ChoiceField(label="类型", choices=Repayment.Kind.choices)
    prepayment_option = forms.ChoiceField(
        label="提前还款方式", choices=[("", "—"), *sched.PrepaymentOption.CHOICES], required=False
    )
    note = forms.CharField(label="备注", max_length=200, required=False)


class ReversalRequestForm(forms.Form):
    reason = forms.CharField(label="冲正原因", max_length=200, widget=forms.Textarea(attrs={"rows": 3}))


class ReversalRejectForm(forms.Form):
    comment = forms.CharField(label="驳回原因", max_length=200, widget=forms.Textarea(attrs={"rows": 3}))


class ClassificationForm(forms.Form):
    requested_class = forms.ChoiceField(
        label="人工分类", choices=[("", "取消人工分类（回到逾期天数底线）"), *LoanClass.choices], required=False
    )
    reason = forms.CharField(label="理由", widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(Loan)
class LoanAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "contract_no",
        "borrower",
        "product",
        "principal",
        "principal_outstanding",
        "state",
        "dpd",
        "loan_class",
        "branch",
        "last_closed_business_date",
    ]
    list_filter = ["state", "loan_class", "method", "product", "institution"]
    search_fields = ["contract_no"]
    list_select_related = ["customer", "product", "branch"]
    inlines = [InstallmentInline, RepaymentInline]
    change_form_template = "lending/admin/loan_change_form.html"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False  # loans are created by origination (issue 5) through lending.services.loan_create

    @admin.display(description="借款人 borrower")
    def borrower(self, obj):
        return obj.customer.masked_name

    def get_urls(self):
        return [
            path("<int:loan_id>/repay/", self.admin_site.admin_view(self.repay_view), name="lending_loan_repay"),
            path("<int:loan_id>/classify/", self.admin_site.admin_view(self.classify_view), name="lending_loan_classify"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        loan = self.get_queryset(request).filter(pk=object_id).first()
        extra_context = extra_context or {}
        if loan is not None:
            extra_context.update(
                {
                    "ledger_legs": list(
                        PostingLeg.objects.filter(loan=loan)
                        .select_related("posting", "account")
                        .order_by("-posting_id", "id")[:200]
                    ),
                    "schedule_versions": list(ScheduleVersion.objects.filter(loan=loan).order_by("number")),
                    "loan_events": list(
                        OutboxEvent.objects.filter(topic__startswith="lending.", payload__loan_id=loan.pk).order_by("-id")[:50]
                    ),
                    "state_logs": list(StateLog.objects.for_(loan).order_by("-timestamp")[:50]),
                    "can_repay": request.user.has_perm("lending.record_repayment") and loan.is_open,
                    "can_classify": request.user.has_perm("lending.request_classification") and loan.is_open,
                    "reversible_repayments": list(
                        Repayment.objects.filter(loan=loan, status=Repayment.Status.POSTED).order_by("-id")[:50]
                    )
                    if request.user.has_perm("lending.request_reversal") and loan.state != LoanState.WRITTEN_OFF
                    else [],
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _context(self, request, loan, form, title):
        return {**self.admin_site.each_context(request), "loan": loan, "form": form, "title": title, "opts": self.model._meta}

    def repay_view(self, request, loan_id: int):
        loan = get_object_or_404(self.get_queryset(request), pk=loan_id)
        if not request.user.has_perm("lending.record_repayment"):
            raise PermissionDenied
        form = StaffRepaymentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = staff_repayment_submit(
                    loan_id=loan.pk,
                    amount=data["amount"],
                    maker=request.user,
                    kind=data["kind"],
                    prepayment_option=data["prepayment_option"] or "",
                    note=data["note"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                if isinstance(result, RepaymentRequest):
                    messages.warning(request, f"金额超过复核额度，已提交复核（申请 #{result.pk}），需另一名员工复核后入账。")
                else:
                    messages.success(request, f"还款 {money_display(result.amount)} 元已入账（#{result.pk}）。")
                return redirect(reverse("admin:lending_loan_change", args=[loan.pk]))
        return TemplateResponse(
            request, "lending/admin/loan_form.html", self._context(request, loan, form, f"录入还款 {loan.contract_no}")
        )

    def classify_view(self, request, loan_id: int):
        loan = get_object_or_404(self.get_queryset(request), pk=loan_id)
        if not request.user.has_perm("lending.request_classification"):
            raise PermissionDenied
        form = ClassificationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                created = classification_request_create(
                    loan_id=loan.pk,
                    requested_class=form.cleaned_data["requested_class"],
                    reason=form.cleaned_data["reason"],
                    maker=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"分类调整申请 #{created.pk} 已提交，待另一名员工复核。")
                return redirect(reverse("admin:lending_loan_change", args=[loan.pk]))
        return TemplateResponse(
            request, "lending/admin/loan_form.html", self._context(request, loan, form, f"调整五级分类 {loan.contract_no}")
        )


# --- maker-checker queues -----------------------------------------------------------------------------


@admin.register(RepaymentRequest)
class RepaymentRequestAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["id", "loan", "amount", "kind", "state", "maker", "checker", "created_at"]
    list_filter = ["state", "kind"]
    list_select_related = ["loan", "maker", "checker"]
    actions = ["approve", "reject"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    @action(description="复核通过并入账 approve", permissions=["approve"])
    def approve(self, request, queryset):
        for item in queryset.filter(state=RepaymentRequest.State.PENDING):
            try:
                staff_repayment_approve(request_id=item.pk, checker=request.user)
                messages.success(request, f"申请 #{item.pk} 已复核入账。")
            except ApplicationError as exc:
                _error(request, exc)

    @action(description="驳回 reject", permissions=["approve"])
    def reject(self, request, queryset):
        for item in queryset.filter(state=RepaymentRequest.State.PENDING):
            try:
                staff_repayment_reject(request_id=item.pk, checker=request.user)
                messages.success(request, f"申请 #{item.pk} 已驳回。")
            except ApplicationError as exc:
                _error(request, exc)

    def has_approve_permission(self, request):
        return request.user.has_perm("lending.approve_repayment")


@admin.register(RepaymentReversalRequest)
class RepaymentReversalRequestAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    """冲正复核: pending reversal requests; a different checker approves (action) or rejects with a reason."""

    list_display = ["id", "loan", "repayment", "repayment_amount", "reason", "state", "maker", "checker", "created_at"]
    list_filter = ["state"]
    list_select_related = ["loan", "repayment", "maker", "checker"]
    actions = ["approve"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        return [*columns, "reject_link"] if self.has_approve_permission(request) else columns

    @admin.display(description="金额 amount", ordering="repayment__amount")
    def repayment_amount(self, obj):
        return money_display(obj.repayment.amount)

    @admin.display(description="驳回 reject")
    def reject_link(self, obj):
        if obj.state != RepaymentReversalRequest.State.PENDING:
            return "—"
        return format_html(
            '<a class="underline" href="{}">驳回 reject</a>',
            reverse("admin:lending_repaymentreversalrequest_reject", args=[obj.pk]),
        )

    def get_urls(self):
        return [
            path(
                "<int:request_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="lending_repaymentreversalrequest_reject",
            ),
            *super().get_urls(),
        ]

    @action(description="复核通过并冲正 approve", permissions=["approve"])
    def approve(self, request, queryset):
        for item in queryset.filter(state=RepaymentReversalRequest.State.PENDING):
            try:
                repayment_reversal_request_approve(request_id=item.pk, checker=request.user)
                messages.success(request, f"冲正申请 #{item.pk} 已复核，还款 #{item.repayment_id} 已冲正。")
            except ApplicationError as exc:
                _error(request, exc)

    def has_approve_permission(self, request):
        return request.user.has_perm("lending.approve_reversal")

    def reject_view(self, request, request_id: int):
        item = get_object_or_404(self.get_queryset(request).select_related("loan", "repayment"), pk=request_id)
        if not self.has_approve_permission(request):
            raise PermissionDenied
        form = ReversalRejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                repayment_reversal_request_reject(request_id=item.pk, checker=request.user, comment=form.cleaned_data["comment"])
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"冲正申请 #{item.pk} 已驳回，还款 #{item.repayment_id} 保持入账。")
                return redirect(reverse("admin:lending_repaymentreversalrequest_changelist"))
        title = (
            f"驳回冲正申请 #{item.pk}：还款 #{item.repayment_id} {money_display(item.repayment.amount)} 元（原因：{item.reason}）"
        )
        context = {
            **self.admin_site.each_context(request),
            "loan": item.loan,
            "form": form,
            "title": title,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "lending/admin/loan_form.html", context)


@admin.register(ClassificationRequest)
class ClassificationRequestAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "id",
        "loan",
        "class_before",
        "requested_class",
        "state",
        "maker",
        "checker",
        "requested_on",
        "effective_date",
    ]
    list_filter = ["state", "requested_class"]
    list_select_related = ["loan", "maker", "checker"]
    actions = ["approve", "reject"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    @action(description="复核通过 approve", permissions=["approve"])
    def approve(self, request, queryset):
        for item in queryset.filter(state=ClassificationRequest.State.PENDING):
            try:
                classification_request_approve(request_id=item.pk, checker=request.user)
                messages.success(request, f"分类调整 #{item.pk} 已生效。")
            except ApplicationError as exc:
                _error(request, exc)

    @action(description="驳回 reject", permissions=["approve"])
    def reject(self, request, queryset):
        for item in queryset.filter(state=ClassificationRequest.State.PENDING):
            try:
                classification_request_reject(request_id=item.pk, checker=request.user)
                messages.success(request, f"分类调整 #{item.pk} 已驳回。")
            except ApplicationError as exc:
                _error(request, exc)

    def has_approve_permission(self, request):
        return request.user.has_perm("lending.approve_classification")


# --- ledger (read-only) --------------------------------------------------------------------------------


class LegInline(TabularInline):
    model = PostingLeg
    extra = 0
    can_delete = False
    fields = ["account", "loan", "amount"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _institution_scoped(queryset, request, field="institution_id"):
    scope = scope_for(request.user)
    if scope.level == "all":
        return queryset
    if scope.level == "none":
        return queryset.none()
    return queryset.filter(**{field: scope.institution_id})


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "business_date", "institution", "loan", "repayment", "reverses", "description", "created_at"]
    list_filter = ["kind", "business_date"]
    search_fields = ["description"]
    list_select_related = ["institution", "loan", "repayment", "reverses"]
    inlines = [LegInline]
    show_full_result_count = False

    def get_queryset(self, request):
        return _institution_scoped(super().get_queryset(request), request)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["institution", "code", "balance"]
    list_filter = ["code", "institution"]
    list_select_related = ["institution"]

    def get_queryset(self, request):
        return _institution_scoped(super().get_queryset(request), request)


@admin.register(Repayment)
class RepaymentAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["id", "loan", "value_date", "entry_date", "amount", "kind", "channel", "external_id", "status"]
    list_filter = ["status", "channel", "kind"]
    search_fields = ["external_id", "loan__contract_no"]
    list_select_related = ["loan"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        return [*columns, "reversal_link"] if request.user.has_perm("lending.request_reversal") else columns

    @admin.display(description="冲正 reversal")
    def reversal_link(self, obj):
        if obj.status != Repayment.Status.POSTED or obj.loan.state == LoanState.WRITTEN_OFF:
            return "—"
        return format_html(
            '<a class="underline" href="{}">申请冲正 request reversal</a>',
            reverse("admin:lending_repayment_request_reversal", args=[obj.pk]),
        )

    def get_urls(self):
        return [
            path(
                "<int:repayment_id>/request-reversal/",
                self.admin_site.admin_view(self.request_reversal_view),
                name="lending_repayment_request_reversal",
            ),
            *super().get_urls(),
        ]

    def request_reversal_view(self, request, repayment_id: int):
        repayment = get_object_or_404(self.get_queryset(request).select_related("loan__customer"), pk=repayment_id)
        if not request.user.has_perm("lending.request_reversal"):
            raise PermissionDenied
        form = ReversalRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                created = repayment_reversal_request_create(
                    repayment_id=repayment.pk, maker=request.user, reason=form.cleaned_data["reason"]
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"冲正申请 #{created.pk} 已提交（还款 #{repayment.pk}），待另一名员工复核后冲正。")
                return redirect(reverse("admin:lending_loan_change", args=[repayment.loan_id]))
        title = f"申请冲正 还款 #{repayment.pk}：{money_display(repayment.amount)} 元，起息日 {repayment.value_date}，{repayment.get_channel_display()}"
        context = {
            **self.admin_site.each_context(request),
            "loan": repayment.loan,
            "form": form,
            "title": title,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "lending/admin/loan_form.html", context)


@admin.register(CollectionAttempt)
class CollectionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["loan", "business_date", "amount", "collected", "status", "reference", "message"]
    list_filter = ["status", "business_date"]
    list_select_related = ["loan"]

    def get_queryset(self, request):
        return _institution_scoped(super().get_queryset(request), request, "loan__institution_id")


# --- classification tables and snapshots -------------------------------------------------------------


class BandInline(TabularInline):
    model = ClassificationBand
    extra = 0
    fields = ["min_dpd", "max_dpd", "loan_class"]


@admin.register(ClassificationTable)
class ClassificationTableAdmin(ModelAdmin):
    list_display = ["name", "effective_from", "is_active", "note"]
    inlines = [BandInline]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ClassificationSnapshot)
class ClassificationSnapshotAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["month_end", "loan", "loan_class", "dpd", "principal_outstanding", "product", "branch"]
    list_filter = ["month_end", "loan_class", "product"]
    list_select_related = ["loan", "product", "branch"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- nightly close --------------------------------------------------------------------------------------


@admin.register(CobRun)
class CobRunAdmin(ReadOnlyAdmin):
    list_display = [
        "job",
        "business_date",
        "status",
        "progress",
        "processed",
        "total",
        "failed",
        "counts",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "job"]
    date_hierarchy = "business_date"
    change_list_template = "lending/admin/cobrun_change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(job__startswith="lending.cob.")

    @admin.display(description="进度 progress")
    def progress(self, obj):
        return format_html(
            '<progress max="100" value="{}" style="width:8em"></progress> {}%', obj.progress_percent, obj.progress_percent
        )

    def get_urls(self):
        return [path("run/", self.admin_site.admin_view(self.run_view), name="lending_cobrun_run"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "business_date": get_business_date(),
            "can_run": request.user.has_perm("lending.run_cob"),
            "quarantined": CobQuarantine.objects.filter(resolved_at__isnull=True).count(),
        }
        return super().changelist_view(request, extra_context)

    def run_view(self, request):
        if request.method != "POST" or not request.user.has_perm("lending.run_cob"):
            raise PermissionDenied
        from lending.tasks import run_cob_task

        day = get_business_date()
        run_cob_task.delay()
        messages.success(request, f"已提交日终：营业日期 {day}。进度见下表。")
        return redirect(reverse("admin:lending_cobrun_changelist"))


@admin.register(CobQuarantine)
class CobQuarantineAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["loan", "business_date", "step", "short_error", "created_at", "resolved_at"]
    list_filter = ["step", "business_date"]
    list_select_related = ["loan"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="错误")
    def short_error(self, obj):
        return obj.error[:120]

    def has_add_permission(self, request):
        return False


# --- portfolio ----------------------------------------------------------------------------------------------


@admin.register(PortfolioLoan)
class PortfolioAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    """资产组合: open balances by class, product, institution and branch, within the viewer's scope."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not (request.user.has_perm("lending.view_portfolioloan") or request.user.has_perm("lending.view_portfolio")):
            raise PermissionDenied
        loans = scope_queryset(Loan.objects.all(), request.user)
        groups = [
            ("五级分类 by class", ("loan_class",)),
            ("产品 by product", ("product__code", "product__name")),
            ("法人行社 by institution", ("institution__code", "institution__name")),
            ("网点 by branch", ("institution__code", "branch__code", "branch__name")),
        ]
        labels = dict(LoanClass.choices)
        tables = []
        for title, fields in groups:
            rows = selectors.portfolio_rows(loans, by=fields)
            for row in rows:
                row["label"] = " ".join(str(labels.get(row.get(f), row.get(f)) or "—") for f in fields)
                balance = row["balance"] or Decimal(0)
                row["overdue_rate"] = (row["overdue_balance"] or 0) / balance * 100 if balance else Decimal(0)
                row["npl_ratio"] = (row["npl_balance"] or 0) / balance * 100 if balance else Decimal(0)
            tables.append((title, rows))
        totals = loans.filter(state__in=["active", "overdue"]).aggregate(balance=Sum("principal_outstanding"))
        context = {
            **self.admin_site.each_context(request),
            "title": "资产组合 portfolio",
            "opts": self.model._meta,
            "tables": tables,
            "total_balance": totals["balance"] or Decimal(0),
            "business_date": get_business_date(),
            "snapshots": ClassificationSnapshot.objects.values_list("month_end", flat=True)
            .distinct()
            .order_by("-month_end")[:12],
        }
        return TemplateResponse(request, "lending/admin/portfolio.html", context)


from lending import admin_lines  # noqa: E402, F401  credit lines, requests, drawdowns

__all__ = ["JobRun"]

# issue 5: origination admin screens, registered on import
from lending import admin_contracts, admin_origination, admin_review  # noqa: E402, F401
