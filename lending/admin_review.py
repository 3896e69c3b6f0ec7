"""Back office for manual review (人工审核): review tasks, scoped and read-only; claim and release through
actions that call the services; deciding happens on the reviewer's workbench (/loans/review/)."""

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
        "application",
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
    list_select_related = ["application", "branch", "assignee"]
    search_fields = ["application__application_no"]
    ordering = ["due_at", "id"]
    actions = ["claim", "release"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + ["workbench_link"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request):
        return request.user.has_perm("lending.view_reviewtask") and staff_of(request.user) is not None

    @admin.display(description="审核工作台 workbench")
    def workbench_link(self, obj):
        if not obj.application_id:
            return "—"
        return format_html('<a href="{}">打开 open</a>', reverse("lending:review:task", args=[obj.pk]))

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
