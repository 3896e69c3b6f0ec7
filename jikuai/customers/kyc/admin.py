"""Back office for KYC (实名认证): the review queue, the record with its images, approve / reject.

Registered when this module is imported: ``jikuai/customers/admin.py`` imports it (Django autodiscovers
only the app's own admin module). Images are shown through the access-checked private view.
"""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from jikuai.core.exceptions import ApplicationError
from jikuai.customers import services as customer_services
from jikuai.customers.kyc import services
from jikuai.customers.kyc.models import KycDocument, KycRecord, KycState
from jikuai.org.admin_base import ReadOnlyFinancialAdminMixin, ScopedModelAdmin, TabularInline

STATE_COLOURS = {
    KycState.VERIFIED: "#0b7a45",
    KycState.NEEDS_REVIEW: "#b7791f",
    KycState.REJECTED: "#c0392b",
}


class KycDocumentInline(TabularInline):
    model = KycDocument
    extra = 0
    can_delete = False
    fields = ["kind", "preview", "width", "height", "size", "source_format", "sha256", "uploaded_by_staff", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="影像 image")
    def preview(self, obj):
        if not obj.pk:
            return ""
        url = reverse("kyc:document", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noreferrer">查看 view</a>', url)


@admin.register(KycRecord)
class KycRecordAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "id",
        "customer_display",
        "channel",
        "state_badge",
        "auto_result",
        "face_distance",
        "ocr_confidence",
        "created_by_staff",
        "reviewer",
        "submitted_at",
        "processed_at",
        "review_link",
    ]
    list_filter = ["state", "channel", "auto_result"]
    list_select_related = ["customer", "created_by_staff", "reviewer"]
    search_fields = ["id"]
    search_help_text = "输入完整身份证号（盲索引精确查找）或记录编号"
    ordering = ["-id"]
    inlines = [KycDocumentInline]
    readonly_fields = [
        "customer_display",
        "channel",
        "state",
        "auto_result",
        "reasons_display",
        "mismatches_display",
        "ocr_name",
        "ocr_gender",
        "ocr_ethnicity",
        "ocr_birth_date",
        "masked_ocr_address",
        "masked_ocr_id_number",
        "ocr_id_number_valid",
        "ocr_authority",
        "ocr_valid_from",
        "ocr_valid_until",
        "ocr_valid_long_term",
        "ocr_confidence",
        "ocr_seconds",
        "face_threshold",
        "face_distance",
        "face_match",
        "portrait_face_count",
        "selfie_face_count",
        "face_seconds",
        "created_by_staff",
        "reviewer",
        "reviewed_at",
        "review_comment",
        "created_at",
        "submitted_at",
        "processing_started_at",
        "processed_at",
        "review_link",
    ]
    fieldsets = [
        ("结论 outcome", {"fields": ["customer_display", "channel", "state", "auto_result", "reasons_display", "review_link"]}),
        ("与登记信息比对 comparison", {"fields": ["mismatches_display"]}),
        (
            "证件识别 OCR",
            {
                "fields": [
                    "ocr_name",
                    "ocr_gender",
                    "ocr_ethnicity",
                    "ocr_birth_date",
                    "masked_ocr_address",
                    "masked_ocr_id_number",
                    "ocr_id_number_valid",
                    "ocr_authority",
                    "ocr_valid_from",
                    "ocr_valid_until",
                    "ocr_valid_long_term",
                    "ocr_confidence",
                    "ocr_seconds",
                ]
            },
        ),
        (
            "人脸比对 face",
            {
                "fields": [
                    "face_threshold",
                    "face_distance",
                    "face_match",
                    "portrait_face_count",
                    "selfie_face_count",
                    "face_seconds",
                ]
            },
        ),
        (
            "经办与审核 maker / checker",
            {
                "fields": [
                    "created_by_staff",
                    "reviewer",
                    "reviewed_at",
                    "review_comment",
                    "created_at",
                    "submitted_at",
                    "processing_started_at",
                    "processed_at",
                ]
            },
        ),
    ]

    def has_add_permission(self, request):
        return False  # records start from the customer's upload or the field app

    def has_change_permission(self, request, obj=None):
        return False  # decisions go through the review page (services), never through a form

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        if len(term) == 18:
            return queryset.filter(customer__id_number_index=customer_services.id_number_index(term)), False
        if term.isdigit():
            return queryset.filter(pk=int(term)), False
        return queryset.none(), False

    @admin.display(description="客户 customer", ordering="customer_id")
    def customer_display(self, obj):
        return f"{obj.customer.masked_name} ({obj.customer.masked_id_number})"

    @admin.display(description="状态 state", ordering="state")
    def state_badge(self, obj):
        colour = STATE_COLOURS.get(obj.state, "#6b7785")
        return format_html('<span style="color:{};font-weight:600">{}</span>', colour, obj.get_state_display())

    @admin.display(description="转人工原因 reasons")
    def reasons_display(self, obj):
        if not obj.review_reasons:
            return "—"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((r.get("message", ""),) for r in obj.review_reasons))
        )

    @admin.display(description="不一致项 mismatches")
    def mismatches_display(self, obj):
        if not obj.mismatches:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((m.get("label"), m.get("entered"), m.get("extracted"), "是" if m.get("blocking") else "否") for m in obj.mismatches),
        )
        return format_html("<table><tr><th>项目</th><th>登记</th><th>识别</th><th>阻断</th></tr>{}</table>", rows)

    @admin.display(description="审核 review")
    def review_link(self, obj):
        if obj.state != KycState.NEEDS_REVIEW:
            return "—"
        return format_html('<a href="{}">审核 review</a>', reverse("admin:customers_kycrecord_review", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:record_id>/review/", self.admin_site.admin_view(self.review_view), name="customers_kycrecord_review"),
            *super().get_urls(),
        ]

    def review_view(self, request, record_id: int):
        record = get_object_or_404(
            self.get_queryset(request).select_related("customer", "customer__institution", "created_by_staff", "reviewer"),
            pk=record_id,
        )
        staff = getattr(request.user, "staff", None) if hasattr(request.user, "staff") else None
        if request.method == "POST":
            action = request.POST.get("action")
            comment = (request.POST.get("comment") or "").strip()
            try:
                if staff is None:
                    raise ApplicationError("只有员工账号可以审核。", "Only staff accounts can review.")
                if action == "approve":
                    services.kyc_approve(record_id=record.pk, actor=staff, comment=comment)
                    messages.success(request, f"实名认证 #{record.pk} 已审核通过。")
                elif action == "reject":
                    services.kyc_reject(record_id=record.pk, actor=staff, comment=comment)
                    messages.success(request, f"实名认证 #{record.pk} 已审核不通过。")
                else:
                    raise ApplicationError("请选择通过或不通过。", "Choose approve or reject.")
            except ApplicationError as exc:
                messages.error(request, exc.message_zh)
                return HttpResponseRedirect(reverse("admin:customers_kycrecord_review", args=[record.pk]))
            return HttpResponseRedirect(reverse("admin:customers_kycrecord_changelist") + "?state__exact=needs_review")
        maker_is_me = staff is not None and record.created_by_staff_id == staff.pk
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"实名认证审核 #{record.pk}",
            "record": record,
            "customer": record.customer,
            "documents": list(record.documents.all()),
            "maker_is_me": maker_is_me,
            "can_review": record.state == KycState.NEEDS_REVIEW
            and not maker_is_me
            and staff is not None
            and request.user.has_perm("customers.review_kycrecord"),
        }
        return TemplateResponse(request, "kyc/admin/review.html", context)
