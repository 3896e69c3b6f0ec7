from django.contrib import admin, messages

from jikuai.api.models import SCOPES, IdempotencyRecord, IntegratorClient, new_secret
from jikuai.org.admin_base import ModelAdmin, ScopedModelAdmin


@admin.register(IntegratorClient)
class IntegratorClientAdmin(ScopedModelAdmin):
    list_display = ["name", "app_id", "institution", "is_active", "created_at"]
    list_filter = ["institution", "is_active"]
    list_select_related = ["institution"]
    readonly_fields = ["app_id", "created_at"]
    fields = ["institution", "name", "app_id", "scopes", "allowed_ips", "is_active", "created_at"]
    actions = ["rotate_secret"]
    help_texts = SCOPES

    def save_model(self, request, obj, form, change):
        if not change:
            secret = new_secret()
            obj.secret = secret
            super().save_model(request, obj, form, change)
            messages.warning(request, f"接入方密钥（仅显示一次，请妥善保存）/ secret, shown once: {secret}")
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="重置密钥 rotate secret", permissions=["change"])
    def rotate_secret(self, request, queryset):
        for client in queryset:
            secret = new_secret()
            client.secret = secret
            client.save(update_fields=["secret"])
            messages.warning(request, f"{client.app_id} 新密钥（仅显示一次）/ new secret, shown once: {secret}")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ModelAdmin):
    list_display = ["client", "key", "method", "path", "status", "response_status", "created_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in IdempotencyRecord._meta.fields]

    def has_add_permission(self, request):
        return False
