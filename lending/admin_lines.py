"""Back office of credit lines (授信额度): lines with read-only balances, their change journal and
drawdowns (scoped to the staff member), a form to make a freeze / unfreeze / adjust / close request,
and the request queue with approve / reject actions and a decision page per request (the page the
request's review task 额度变更复核 links to; maker ≠ checker, enforced by the service and a DB CHECK).
Nothing here writes balances: everything goes through ``lending.services.lines``."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.decorators import action

from jikuai.core.exceptions import ApplicationError
from jikuai.org.admin_base import ReadOnlyFinancialAdminMixin, ScopedModelAdmin, TabularInline
from lending.models import CreditLine, CreditLineChange, CreditLineRequest, Drawdown, ReviewTask
from lending.selectors_review import staff_of
from lending.services.lines import (
    credit_line_request_approve,
    credit_line_request_reject,
    credit_line_request_submit,
)


class ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ChangeInline(ReadOnlyInline):
    model = CreditLineChange
    fields = [
        "created_at",
        "kind",
        "amount",
        "limit_after",
        "used_after",
        "available_after",
        "reference",
        "reason",
        "maker",
        "checker",
    ]
    ordering = ["-id"]


class DrawdownInline(ReadOnlyInline):
    model = Drawdown
    fields = ["drawdown_no", "amount", "term_months", "repayment_method", "state", "loan", "failure_reason", "created_at"]
    ordering = ["-id"]


class LineRequestForm(forms.Form):
    action = forms.ChoiceField(label="操作 action", choices=CreditLineRequest.Action.choices)
    new_limit = forms.DecimalField(
        label="新额度（调额时填写）new limit", required=False, min_value=0, max_digits=18, decimal_places=2
    )
    reason = forms.CharField(label="原因 reason", max_length=200)


class LineRequestDecisionForm(forms.Form):
    DECISIONS = [("approve", "复核通过并执行 approve"), ("reject", "驳回 reject")]

    decision = forms.ChoiceField(label="复核结论 decision", choices=DECISIONS, widget=forms.RadioSelect)
    comment = forms.CharField(label="复核意见 comment", max_length=200, required=False)


@admin.register(CreditLine)
class CreditLineAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["line_no", "borrower", "product", "limit", "used", "available", "state", "valid_until", "revolving", "branch"]
    list_filter = ["state", "revolving", "product"]
    search_fields = ["line_no"]
    list_select_related = ["customer", "product", "branch"]
    inlines = [ChangeInline, DrawdownInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + ["request_link"]

    def has_add_permission(self, request):
        return False  # lines are opened by origination (credit_line_open_for_application)

    @admin.display(description="借款人 borrower")
    def borrower(self, obj):
        return obj.customer.masked_name

    @admin.display(description="额度操作 request")
    def request_link(self, obj):
        if obj is None or obj.state == "closed":
            return "-"
        url = reverse("admin:lending_creditline_request", args=[obj.pk])
        return format_html('<a class="underline" href="{}">申请冻结 / 解冻 / 调额 / 关闭</a>', url)

    def get_urls(self):
        return [
            path("<int:line_id>/request/", self.admin_site.admin_view(self.request_view), name="lending_creditline_request"),
            *super().get_urls(),
        ]

    def request_view(self, request, line_id: int):
        line = get_object_or_404(self.get_queryset(request), pk=line_id)
        if not request.user.has_perm("lending.add_creditlinerequest"):
            raise PermissionDenied
        form = LineRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                created = credit_line_request_submit(
                    line_id=line.pk,
                    action=data["action"],
                    maker=request.user,
                    reason=data["reason"],
                    new_limit=data["new_limit"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"额度操作申请 #{created.pk} 已提交，待另一名员工复核。")
                return redirect(reverse("admin:lending_creditline_change", args=[line.pk]))
        context = {
            **self.admin_site.each_context(request),
            "line": line,
            "form": form,
            "title": f"额度操作申请 {line.line_no}",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "lending/admin/lines/request_form.html", context)


@admin.register(CreditLineRequest)
class CreditLineRequestAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["id", "line", "action", "new_limit", "status", "maker", "checker", "reason", "created_at", "decide_link"]
    list_filter = ["status", "action"]
    list_select_related = ["line", "maker", "checker"]
    actions = ["approve", "reject"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + ["decide_link"]

    @admin.display(description="复核 decide")
    def decide_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        label = "复核 decide" if obj.status == CreditLineRequest.Status.PENDING else "查看 view"
        url = reverse("admin:lending_creditlinerequest_decide", args=[obj.pk])
        return format_html('<a class="underline" href="{}">{}</a>', url, label)

    def get_urls(self):
        return [
            path(
                "<int:request_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="lending_creditlinerequest_decide",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request, request_id: int):
        """额度变更复核: the request, its line and review task, and approve / reject with a comment."""
        item = get_object_or_404(
            self.get_queryset(request).select_related("line__customer", "line__product", "maker", "checker"), pk=request_id
        )
        may_decide = self.has_approve_permission(request)
        form = LineRequestDecisionForm(request.POST or None)
        if request.method == "POST":
            if not may_decide:
                raise PermissionDenied
            if form.is_valid():
                decide = credit_line_request_approve if form.cleaned_data["decision"] == "approve" else credit_line_request_reject
                try:
                    decided = decide(request_id=item.pk, checker=request.user, comment=form.cleaned_data["comment"])
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, f"申请 #{item.pk}：{decided.get_status_display()}。")
                    return redirect(reverse("admin:lending_creditlinerequest_decide", args=[item.pk]))
        task = ReviewTask.objects.filter(line_request=item).select_related("assignee").order_by("-id").first()
        staff = staff_of(request.user)
        context = {
            **self.admin_site.each_context(request),
            "item": item,
            "line": item.line,
            "task": task,
            "form": form,
            "may_decide": may_decide and item.status == CreditLineRequest.Status.PENDING,
            "is_maker": staff is not None and staff.pk == item.maker_id,
            "title": f"额度变更复核 #{item.pk} {item.line.line_no}",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "lending/admin/lines/request_decide.html", context)

    def has_add_permission(self, request):
        return False  # made from the credit line's page

    @action(description="复核通过并执行 approve", permissions=["approve"])
    def approve(self, request, queryset):
        for item in queryset.filter(status=CreditLineRequest.Status.PENDING):
            try:
                credit_line_request_approve(request_id=item.pk, checker=request.user)
                messages.success(request, f"申请 #{item.pk} 已复核执行。")
            except ApplicationError as exc:
                messages.error(request, f"申请 #{item.pk}：{exc.message}")

    @action(description="驳回 reject", permissions=["approve"])
    def reject(self, request, queryset):
        for item in queryset.filter(status=CreditLineRequest.Status.PENDING):
            try:
                credit_line_request_reject(request_id=item.pk, checker=request.user)
                messages.success(request, f"申请 #{item.pk} 已驳回。")
            except ApplicationError as exc:
                messages.error(request, f"申请 #{item.pk}：{exc.message}")

    def has_approve_permission(self, request):
        return request.user.has_perm("lending.change_creditlinerequest")


@admin.register(Drawdown)
class DrawdownAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["drawdown_no", "line", "amount", "term_months", "repayment_method", "state", "loan", "channel", "created_at"]
    list_filter = ["state", "channel"]
    search_fields = ["drawdown_no"]
    list_select_related = ["line", "loan"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False
