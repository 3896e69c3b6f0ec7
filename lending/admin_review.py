"""Back office for manual review (人工审核): review tasks, scoped and read-only; claim and release through
actions that call the services. Application reviews are decided on the reviewer's workbench
(/loans/review/); credit line changes (额度变更复核) on the line request's decision page in the admin."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from unfold.decorators import action

from jikuai.core.exceptions import ApplicationError
from jikuai.org.admin_base import ReadOnlyFinancialAdminMixin, ScopedModelAdmin
from lending.models import ReviewTask, ReviewTaskStatus
from lending.selectors_review import staff_of
from lending.services.review import review_claim, review_release


@admin.register(ReviewTask)
class ReviewTaskAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "id",
        "kind",
        "subject",
        "queue_role",
        "branch",
        "status",
        "assignee",
        "due_at",
        "escalation_level",
        "outcome",
        "workbench_link",
    ]
    list_filter = ["status", "queue_role", "kind", "escalation_level"]
    list_select_related = ["application", "line_request__line", "branch", "assignee"]
    search_fields = ["application__application_no", "line_request__line__line_no"]
    ordering = ["due_at", "id"]
    actions = ["claim", "release"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + ["subject", "workbench_link"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request):
        return request.user.has_perm("lending.view_reviewtask") and staff_of(request.user) is not None

    @admin.display(description="审核对象 subject")
    def subject(self, obj):
        if obj.application_id:
            return obj.application.application_no
        if obj.line_request_id:
            request = obj.line_request
            return f"{request.line.line_no} {request.get_action_display()} #{request.pk}"
        return "—"

    @admin.display(description="办理 open")
    def workbench_link(self, obj):
        if obj.application_id:
            return format_html('<a href="{}">审核工作台 workbench</a>', reverse("lending:review:task", args=[obj.pk]))
        if obj.line_request_id:
            url = reverse("admin:lending_creditlinerequest_decide", args=[obj.line_request_id])
            return format_html('<a class="underline" href="{}">额度变更复核 decide</a>', url)
        return "—"

    @action(description="领取 claim", permissions=["review"])
    def claim(self, request, queryset):
        staff = staff_of(request.user)
        for task in queryset.filter(status=ReviewTaskStatus.OPEN):
            try:
                review_claim(task_id=task.pk, staff=staff)
                messages.success(request, f"已领取任务 #{task.pk}。")
            except ApplicationError as exc:
                messages.error(request, f"#{task.pk}: {exc.message}")

    @action(description="退回队列 release", permissions=["review"])
    def release(self, request, queryset):
        staff = staff_of(request.user)
        for task in queryset.filter(status=ReviewTaskStatus.CLAIMED, assignee=staff):
            try:
                review_release(task_id=task.pk, staff=staff)
                messages.success(request, f"任务 #{task.pk} 已退回队列。")
            except ApplicationError as exc:
                messages.error(request, f"#{task.pk}: {exc.message}")
