from django.contrib import admin, messages
from django.utils.html import format_html
from unfold.decorators import action

from jikuai.core import bus
from jikuai.core.models import BusinessDate, CalendarDay, JobRun, OutboxEvent
from jikuai.org.admin_base import ModelAdmin


@admin.register(OutboxEvent)
class OutboxEventAdmin(ModelAdmin):
    list_display = ["id", "topic", "status", "attempts", "created_at", "delivered_at", "next_attempt_at", "short_error"]
    list_filter = ["status", "topic"]
    search_fields = ["topic"]
    readonly_fields = ["topic", "payload", "status", "attempts", "next_attempt_at", "last_error", "created_at", "delivered_at"]
    actions = ["retry_events"]
    show_full_result_count = False

    @admin.display(description="错误")
    def short_error(self, obj):
        return (obj.last_error or "")[:80]

    @action(description="重新投递所选事件 retry selected events", permissions=["change"])
    def retry_events(self, request, queryset):
        count = 0
        for event_id in queryset.exclude(status=OutboxEvent.Status.DELIVERED).values_list("id", flat=True):
            bus.event_retry(event_id=event_id)
            count += 1
        messages.success(request, f"已重新投递 {count} 个事件。")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JobRun)
class JobRunAdmin(ModelAdmin):
    list_display = [
        "job",
        "business_date",
        "run_key",
        "status",
        "progress",
        "processed",
        "total",
        "failed",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "job"]
    date_hierarchy = "business_date"
    readonly_fields = [f.name for f in JobRun._meta.fields]

    @admin.display(description="进度 progress")
    def progress(self, obj):
        return format_html(
            '<progress max="100" value="{}" style="width:8em"></progress> {}%', obj.progress_percent, obj.progress_percent
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BusinessDate)
class BusinessDateAdmin(ModelAdmin):
    list_display = ["current", "updated_at"]
    readonly_fields = ["current", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CalendarDay)
class CalendarDayAdmin(ModelAdmin):
    list_display = ["date", "kind", "name"]
    list_filter = ["kind"]
    date_hierarchy = "date"
