"""Staff back office for 吉快·漫生活: rules, campaigns with budget use, merchants and their review, catalogue,
vouchers, settlements, the points ledger (read only) and reconciliation reports with a chart.

Money, status and ledger fields are read-only; every state change goes through a service (admin actions and
small form views); financial records are never deleted.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_fsm_log.models import StateLog

from jikuai.core.exceptions import ApplicationError
from jikuai.org.admin_base import ModelAdmin, ReadOnlyFinancialAdminMixin, ScopedModelAdmin, TabularInline
from lifestyle import charts
from lifestyle.models import (
    Activity,
    ActivitySignup,
    Benefit,
    Campaign,
    CardActivation,
    DepositMonthClose,
    EarningRule,
    LedgerEntry,
    LedgerLeg,
    Merchant,
    PayableLine,
    PointsAccount,
    PointsDebit,
    PointsLot,
    PointValueRate,
    ReconciliationReport,
    ReferralBinding,
    ReviewTask,
    SettlementBatch,
    Voucher,
)
from lifestyle.services import community, earning, ledger, merchants, reconciliation, settlement, uploads, vouchers


class ReadOnlyAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ActionForm(forms.Form):
    action = forms.ChoiceField(label="操作", choices=())
    comment = forms.CharField(label="意见 / 原因", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = choices


def _action_view(model_admin, request, obj, *, title: str, choices, perform, back: str, extra: dict | None = None):
    form = ActionForm(request.POST or None, choices=choices)
    if request.method == "POST" and form.is_valid():
        try:
            perform(form.cleaned_data["action"], form.cleaned_data["comment"])
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
        else:
            messages.success(request, "操作成功。")
            return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "object": obj,
        "form": form,
        "back": back,
        **(extra or {}),
    }
    return TemplateResponse(request, "lifestyle/admin/action_form.html", context)


# --- rules and campaigns -----------------------------------------------------------------------------


@admin.register(EarningRule)
class EarningRuleAdmin(ScopedModelAdmin):
    list_display = [
        "code",
        "name",
        "topic",
        "points_display",
        "hold_days",
        "validity_days",
        "funding_source",
        "signed_off",
        "is_active",
    ]
    list_filter = ["topic", "is_active", "deposit_linked", "funding_source"]
    search_fields = ["code", "name"]
    list_select_related = ["institution", "compliance_signed_by"]
    readonly_fields = ["deposit_linked", "compliance_signed_by", "compliance_signed_at", "created_by", "created_at"]
    autocomplete_fields = ["segment_region"]
    actions = ["sign_off"]
    fieldsets = [
        (None, {"fields": ["institution", "code", "name", "topic", "is_active", "valid_from", "valid_to"]}),
        (
            "条件与积分 condition and points",
            {"fields": ["condition_expression", "min_amount_fen", "points_fixed", "points_expression"]},
        ),
        ("存款增长 deposit growth", {"fields": ["deposit_unit_fen", "deposit_points_per_unit", "deposit_min_growth_fen"]}),
        (
            "上限与有效期 caps and validity",
            {"fields": ["cap_per_day", "cap_per_month", "cap_per_customer", "validity_days", "hold_days"]},
        ),
        (
            "客群与出资 segment and funding",
            {
                "fields": [
                    "segment_occupations",
                    "segment_region",
                    "segment_branch",
                    "segment_kyc_verified_only",
                    "funding_source",
                ]
            },
        ),
        (
            "合规 compliance",
            {"fields": ["deposit_linked", "compliance_signed_by", "compliance_signed_at", "created_by", "created_at"]},
        ),
    ]

    @admin.display(description="积分")
    def points_display(self, obj):
        if obj.topic == "lifestyle.deposit_growth":
            return f"{obj.deposit_points_per_unit}/{(obj.deposit_unit_fen or 0) // 100}元"
        return obj.points_expression or obj.points_fixed

    @admin.display(description="合规签批", boolean=True)
    def signed_off(self, obj):
        return obj.is_signed_off if obj.deposit_linked else None

    def save_model(self, request, obj, form, change):
        try:
            earning.rule_save(rule=obj, user=request.user, changed_fields=form.changed_data if change else ())
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
            raise

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError:
            return HttpResponseRedirect(request.get_full_path())

    @admin.action(description="合规签批所选存款类规则 compliance sign-off", permissions=["sign_off"])
    def sign_off(self, request, queryset):
        done = 0
        for rule in queryset.filter(deposit_linked=True):
            try:
                earning.rule_sign_off(rule_id=rule.pk, user=request.user)
                done += 1
            except ApplicationError as exc:
                messages.error(request, f"{rule.code}：{exc.message_zh}")
        if done:
            messages.success(request, f"已签批 {done} 条规则。")

    def has_sign_off_permission(self, request):
        return request.user.has_perm("lifestyle.sign_off_rule")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(ScopedModelAdmin):
    list_display = ["code", "name", "starts_at", "ends_at", "multiplier", "bonus_points", "budget_bar", "is_active"]
    list_filter = ["is_active", "funding_source"]
    search_fields = ["code", "name"]
    readonly_fields = ["budget_used", "budget_bar"]
    filter_horizontal = ["rules"]
    autocomplete_fields = ["segment_region"]

    @admin.display(description="预算使用 budget use")
    def budget_bar(self, obj):
        percent = int(obj.budget_used * 100 / obj.budget_total) if obj.budget_total else 0
        return format_html(
            '<progress max="100" value="{}" style="width:8em"></progress> {} / {} ({}%)',
            percent,
            obj.budget_used,
            obj.budget_total,
            percent,
        )

    def has_delete_permission(self, request, obj=None):
        return False


# --- merchants -----------------------------------------------------------------------------------


class MerchantApplyForm(forms.ModelForm):
    licence_upload = forms.FileField(label="营业执照图片 (JPEG/PNG)", required=True)
    settlement_account_input = forms.CharField(label="结算账号", max_length=40)
    contact_mobile_input = forms.CharField(label="联系电话", max_length=20, required=False)

    class Meta:
        model = Merchant
        fields = [
            "institution",
            "branch",
            "name",
            "category",
            "region",
            "address",
            "contact_name",
            "licence_no",
            "settlement_account_name",
            "settlement_cycle",
            "fee_rate",
            "signed_by",
        ]


class MerchantStaffForm(forms.Form):
    username = forms.CharField(label="用户名", max_length=60)
    password = forms.CharField(label="初始密码", widget=forms.PasswordInput, min_length=8)
    name = forms.CharField(label="姓名", max_length=50, required=False)


@admin.register(Merchant)
class MerchantAdmin(ScopedModelAdmin):
    list_display = ["code", "name", "category", "region", "state", "settlement_cycle", "fee_rate", "signed_by", "institution"]
    list_filter = ["state", "category", "settlement_cycle", "institution"]
    search_fields = ["code", "name"]
    list_select_related = ["region", "signed_by", "institution"]
    autocomplete_fields = ["region"]
    readonly_fields = [
        "code",
        "state",
        "reject_reason",
        "masked_settlement_account",
        "licence_link",
        "licence_sha256",
        "signed_at",
        "created_at",
        "tools",
        "state_history",
    ]
    fieldsets = [
        (None, {"fields": ["code", "name", "category", "state", "reject_reason", "tools"]}),
        ("归属 ownership", {"fields": ["institution", "branch", "region", "address", "signed_by", "signed_at"]}),
        ("联系与证照 contact and licence", {"fields": ["contact_name", "licence_no", "licence_link", "licence_sha256"]}),
        ("结算 settlement", {"fields": ["settlement_account_name", "masked_settlement_account", "settlement_cycle", "fee_rate"]}),
        ("历史 history", {"fields": ["state_history", "created_at"]}),
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MerchantApplyForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    None,
                    {
                        "fields": [
                            "institution",
                            "branch",
                            "name",
                            "category",
                            "region",
                            "address",
                            "contact_name",
                            "contact_mobile_input",
                            "licence_no",
                            "licence_upload",
                            "settlement_account_input",
                            "settlement_account_name",
                            "settlement_cycle",
                            "fee_rate",
                            "signed_by",
                        ]
                    },
                )
            ]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        try:
            created = merchants.merchant_apply(
                institution=data["institution"],
                branch=data.get("branch"),
                name=data["name"],
                category=data["category"],
                region=data.get("region"),
                address=data.get("address", ""),
                contact_name=data.get("contact_name", ""),
                contact_mobile=data.get("contact_mobile_input", ""),
                licence_no=data.get("licence_no", ""),
                licence_image=data["licence_upload"].read(),
                settlement_account=data["settlement_account_input"],
                settlement_account_name=data.get("settlement_account_name", ""),
                settlement_cycle=data["settlement_cycle"],
                fee_rate=data.get("fee_rate") or 0,
                signed_by=data.get("signed_by"),
            )
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
            raise
        obj.pk = created.pk
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError:
            return HttpResponseRedirect(request.get_full_path())

    @admin.display(description="营业执照")
    def licence_link(self, obj):
        if not obj.licence_image:
            return "—"
        return format_html(
            '<a href="{}">查看营业执照（私有存储）</a>', reverse("admin:lifestyle_merchant_licence", args=[obj.pk])
        )

    @admin.display(description="结算账号")
    def masked_settlement_account(self, obj):
        return obj.masked_settlement_account

    @admin.display(description="操作")
    def tools(self, obj):
        if obj.pk is None:
            return ""
        return format_html(
            '<a class="button" href="{}">状态操作（审核 / 上线 / 暂停 / 关闭）</a> · <a href="{}">添加商户端账号</a>',
            reverse("admin:lifestyle_merchant_transition", args=[obj.pk]),
            reverse("admin:lifestyle_merchant_staff", args=[obj.pk]),
        )

    @admin.display(description="状态历史")
    def state_history(self, obj):
        rows = StateLog.objects.for_(obj).select_related("by").order_by("timestamp")
        html = format_html_join(
            mark_safe("<br>"),
            "{} {} → {} · {} · {}",
            (
                (
                    f"{timezone.localtime(r.timestamp):%Y-%m-%d %H:%M}",
                    r.source_state,
                    r.state,
                    r.by or "系统",
                    r.description or "",
                )
                for r in rows
            ),
        )
        return html or "—"

    def get_urls(self):
        return [
            path("<int:merchant_id>/licence/", self.admin_site.admin_view(self.licence_view), name="lifestyle_merchant_licence"),
            path(
                "<int:merchant_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="lifestyle_merchant_transition",
            ),
            path("<int:merchant_id>/staff/", self.admin_site.admin_view(self.staff_view), name="lifestyle_merchant_staff"),
            *super().get_urls(),
        ]

    def _merchant(self, request, merchant_id):
        return get_object_or_404(self.get_queryset(request), pk=merchant_id)

    def licence_view(self, request, merchant_id: int):
        merchant = self._merchant(request, merchant_id)
        if not merchant.licence_image:
            raise Http404
        import io

        response = FileResponse(io.BytesIO(uploads.private_read(merchant.licence_image)), content_type="image/jpeg")
        response["Cache-Control"] = "private, no-store"
        return response

    def transition_view(self, request, merchant_id: int):
        merchant = self._merchant(request, merchant_id)
        if not self.has_change_permission(request, merchant):
            raise PermissionDenied
        choices = [(key, label) for key, label in merchants.ACTIONS.items()]

        def perform(action, comment):
            merchants.merchant_transition(merchant_id=merchant.pk, action=action, user=request.user, comment=comment)

        return _action_view(
            self,
            request,
            merchant,
            title=f"商户状态操作：{merchant.name}（当前：{merchant.get_state_display()}）",
            choices=choices,
            perform=perform,
            back=reverse("admin:lifestyle_merchant_change", args=[merchant.pk]),
        )

    def staff_view(self, request, merchant_id: int):
        merchant = self._merchant(request, merchant_id)
        if not self.has_change_permission(request, merchant):
            raise PermissionDenied
        form = MerchantStaffForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                merchants.merchant_staff_create(merchant=merchant, **form.cleaned_data)
            except ApplicationError as exc:
                messages.error(request, exc.message_zh)
            else:
                messages.success(request, "已创建商户端账号，仅能访问本商户。")
                return HttpResponseRedirect(reverse("admin:lifestyle_merchant_change", args=[merchant.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"添加商户端账号：{merchant.name}",
            "object": merchant,
            "form": form,
            "back": reverse("admin:lifestyle_merchant_change", args=[merchant.pk]),
            "existing": merchants.merchant_staff_users(merchant),
        }
        return TemplateResponse(request, "lifestyle/admin/action_form.html", context)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReviewTask)
class ReviewTaskAdmin(ScopedModelAdmin):
    list_display = ["id", "kind", "merchant", "settlement", "status", "assignee", "due_at", "outcome"]
    list_filter = ["kind", "status"]
    list_select_related = ["merchant", "settlement", "assignee"]
    readonly_fields = [f.name for f in ReviewTask._meta.fields]
    actions = ["claim"]

    @admin.action(description="领取任务 claim")
    def claim(self, request, queryset):
        task = merchants.review_task_claim_next(
            user=request.user, institution_id=getattr(getattr(request.user, "staff", None), "institution_id", None)
        )
        if task is None:
            messages.info(request, "队列中没有待处理任务。")
        else:
            messages.success(request, f"已领取任务 #{task.pk}：{task}")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- catalogue, vouchers ---------------------------------------------------------------------------


@admin.register(Benefit)
class BenefitAdmin(ScopedModelAdmin):
    list_display = [
        "name",
        "kind",
        "points_price",
        "stock_remaining",
        "stock_total",
        "per_customer_limit",
        "funding",
        "is_active",
    ]
    list_filter = ["kind", "funding", "is_active", "institution"]
    search_fields = ["name"]
    filter_horizontal = ["merchants"]
    readonly_fields = ["stock_remaining"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.stock_remaining = obj.stock_total
        elif "stock_total" in form.changed_data and obj.stock_total is not None:
            old = Benefit.objects.get(pk=obj.pk)
            sold = (old.stock_total or 0) - (old.stock_remaining or 0)
            obj.stock_remaining = max(obj.stock_total - sold, 0)
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    list_display = [
        "masked_code",
        "benefit",
        "customer",
        "points",
        "status",
        "issued_at",
        "expires_at",
        "redeemed_merchant",
        "redeemed_at",
    ]
    list_filter = ["status", "redeemed_channel"]
    list_select_related = ["benefit", "customer", "redeemed_merchant"]
    exclude = ["otp_hash", "otp_expires_at", "otp_attempts", "request_token", "code"]
    readonly_fields = [
        "masked_code",
        "benefit",
        "customer",
        "points",
        "status",
        "issued_at",
        "expires_at",
        "redeemed_at",
        "redeemed_merchant",
        "redeemed_by",
        "redeemed_channel",
        "reverse_link",
    ]

    @admin.display(description="券码")
    def masked_code(self, obj):
        return obj.code[:2] + "******" + obj.code[-2:]

    @admin.display(description="撤销核销")
    def reverse_link(self, obj):
        if obj.status != Voucher.Status.REDEEMED:
            return "—"
        return format_html(
            '<a href="{}">撤销核销（退分 + 负数应付）</a>', reverse("admin:lifestyle_voucher_reverse", args=[obj.pk])
        )

    def get_urls(self):
        return [
            path("<int:voucher_id>/reverse/", self.admin_site.admin_view(self.reverse_view), name="lifestyle_voucher_reverse"),
            *super().get_urls(),
        ]

    def reverse_view(self, request, voucher_id: int):
        voucher = get_object_or_404(self.get_queryset(request), pk=voucher_id)
        if not request.user.has_perm("lifestyle.change_settlementbatch"):
            raise PermissionDenied

        def perform(_action, comment):
            vouchers.voucher_redemption_reverse(voucher_id=voucher.pk, user=request.user, reason=comment)

        return _action_view(
            self,
            request,
            voucher,
            title="撤销核销",
            choices=[("reverse", "撤销核销")],
            perform=perform,
            back=reverse("admin:lifestyle_voucher_change", args=[voucher.pk]),
        )


@admin.register(PointValueRate)
class PointValueRateAdmin(ScopedModelAdmin):
    list_display = ["institution", "yuan_per_point", "effective_from", "created_at"]
    list_filter = ["institution"]

    def has_change_permission(self, request, obj=None):
        return False  # a new rate is a new row; frozen payable lines keep theirs

    def has_delete_permission(self, request, obj=None):
        return False


# --- settlement ----------------------------------------------------------------------------------


class PayableLineInline(TabularInline):
    model = PayableLine
    extra = 0
    can_delete = False
    fields = ["business_date", "kind", "voucher", "points", "yuan_per_point", "bank_share", "amount"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SettlementBatch)
class SettlementBatchAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "id",
        "merchant",
        "period_start",
        "period_end",
        "line_count",
        "gross_amount",
        "fee_amount",
        "net_amount",
        "state",
        "paid_at",
    ]
    list_filter = ["state", "cycle"]
    list_select_related = ["merchant"]
    search_fields = ["payout_reference", "merchant__name", "merchant__code"]
    readonly_fields = [f.name for f in SettlementBatch._meta.fields] + ["statement_link", "resolve_link"]
    inlines = [PayableLineInline]
    actions = ["pay"]

    @admin.display(description="对账单")
    def statement_link(self, obj):
        if not obj.statement_file:
            return "—"
        return format_html('<a href="{}">下载 PDF</a>', reverse("admin:lifestyle_settlementbatch_pdf", args=[obj.pk]))

    @admin.display(description="争议处理")
    def resolve_link(self, obj):
        if obj.state != SettlementBatch.State.DISPUTED:
            return "—"
        return format_html('<a href="{}">处理争议</a>', reverse("admin:lifestyle_settlementbatch_resolve", args=[obj.pk]))

    @admin.action(description="付款（已确认的结算单） pay confirmed batches", permissions=["change"])
    def pay(self, request, queryset):
        counts = {"paid": 0, "failed": 0}
        for batch_id in queryset.filter(state__in=["confirmed", "paying"]).values_list("pk", flat=True):
            batch = settlement.settlement_pay(batch_id=batch_id, user=request.user)
            counts["paid" if batch.state == "paid" else "failed"] += 1
        messages.info(request, f"付款成功 {counts['paid']} 笔，失败 {counts['failed']} 笔。")

    def get_urls(self):
        return [
            path("<int:batch_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="lifestyle_settlementbatch_pdf"),
            path(
                "<int:batch_id>/resolve/", self.admin_site.admin_view(self.resolve_view), name="lifestyle_settlementbatch_resolve"
            ),
            *super().get_urls(),
        ]

    def pdf_view(self, request, batch_id: int):
        batch = get_object_or_404(self.get_queryset(request), pk=batch_id)
        import io

        return FileResponse(
            io.BytesIO(uploads.private_read(batch.statement_file)),
            content_type="application/pdf",
            filename=f"statement-{batch.pk}.pdf",
        )

    def resolve_view(self, request, batch_id: int):
        batch = get_object_or_404(self.get_queryset(request), pk=batch_id)
        if not self.has_change_permission(request, batch):
            raise PermissionDenied

        def perform(action, comment):
            settlement.settlement_resolve(batch_id=batch.pk, user=request.user, uphold=action == "uphold", comment=comment)

        return _action_view(
            self,
            request,
            batch,
            title=f"处理结算争议：{batch}（{batch.dispute_reason}）",
            choices=[("uphold", "维持对账单（确认）"), ("void", "作废（明细转入下一期）")],
            perform=perform,
            back=reverse("admin:lifestyle_settlementbatch_change", args=[batch.pk]),
        )

    def has_add_permission(self, request):
        return False


@admin.register(PayableLine)
class PayableLineAdmin(ReadOnlyAdmin):
    list_display = ["id", "merchant", "business_date", "kind", "points", "yuan_per_point", "bank_share", "amount", "batch"]
    list_filter = ["kind"]
    list_select_related = ["merchant", "batch"]
    date_hierarchy = "business_date"


# --- points ledger (read only) -------------------------------------------------------------------


@admin.register(PointsAccount)
class PointsAccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "customer", "balance", "debt", "institution", "branch", "updated_at"]
    list_select_related = ["customer", "institution", "branch"]
    list_filter = ["institution"]
    readonly_fields = ["customer", "institution", "branch", "balance", "debt", "created_at", "updated_at"]


@admin.register(PointsLot)
class PointsLotAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "reason", "amount", "remaining", "status", "earned_at", "expires_on", "rule_key", "campaign"]
    list_filter = ["status", "source"]
    list_select_related = ["account", "campaign"]
    search_fields = ["rule_key", "source_ref"]
    readonly_fields = [f.name for f in PointsLot._meta.fields] + ["reverse_link"]

    @admin.display(description="撤销奖励")
    def reverse_link(self, obj):
        if obj.status == PointsLot.Status.CANCELLED:
            return "—"
        return format_html('<a href="{}">撤销该笔奖励</a>', reverse("admin:lifestyle_pointslot_reverse", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:lot_id>/reverse/", self.admin_site.admin_view(self.reverse_view), name="lifestyle_pointslot_reverse"),
            *super().get_urls(),
        ]

    def reverse_view(self, request, lot_id: int):
        lot = get_object_or_404(self.get_queryset(request), pk=lot_id)
        if not request.user.has_perm("lifestyle.change_earningrule"):
            raise PermissionDenied

        def perform(_action, comment):
            if not comment.strip():
                raise ApplicationError("请填写撤销原因。", "reason required")
            ledger.lot_reverse(lot_id=lot.pk, reason=comment, actor=request.user)

        return _action_view(
            self,
            request,
            lot,
            title=f"撤销奖励：{lot}",
            choices=[("reverse", "撤销（剩余收回，已用部分记欠分）")],
            perform=perform,
            back=reverse("admin:lifestyle_pointslot_change", args=[lot.pk]),
        )


@admin.register(PointsDebit)
class PointsDebitAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "kind", "points", "reason", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["account"]


class LedgerLegInline(TabularInline):
    model = LedgerLeg
    extra = 0
    can_delete = False
    fields = ["book", "account", "merchant", "funding_source", "points"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyFinancialAdminMixin, ModelAdmin):
    list_display = ["id", "kind", "memo", "created_at"]
    list_filter = ["kind"]
    inlines = [LedgerLegInline]
    readonly_fields = ["kind", "memo", "business_key", "created_at"]

    def get_queryset(self, request):
        # postings span institutions (control books are platform-wide): province level only
        from jikuai.org.scoping import scope_for

        queryset = super().get_queryset(request)
        return queryset if scope_for(request.user).level == "all" else queryset.none()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- reconciliation ------------------------------------------------------------------------------


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(ReadOnlyFinancialAdminMixin, ModelAdmin):
    list_display = ["run_date", "kind", "ok", "accounts_checked", "mismatches", "created_at"]
    list_filter = ["kind", "ok"]
    readonly_fields = ["kind", "run_date", "ok", "accounts_checked", "mismatches", "totals", "details", "created_at"]
    actions = ["run_now"]
    change_list_template = "lifestyle/admin/reconciliation_changelist.html"

    def changelist_view(self, request, extra_context=None):
        reports = list(ReconciliationReport.objects.filter(kind="points").order_by("-created_at")[:30])[::-1]
        extra = {"chart": charts.reconciliation_chart(reports), "latest": reports[-1] if reports else None}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    @admin.action(description="立即对账 run reconciliation now", permissions=["view"])
    def run_now(self, request, queryset):
        points = reconciliation.reconcile_points()
        check = reconciliation.settlement_check()
        messages.info(
            request,
            f"积分对账：{'平' if points.ok else '不平'}（{points.mismatches} 处差异）；核销核对：{'平' if check.ok else '不平'}。",
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- community -----------------------------------------------------------------------------------


class ActivitySignupInline(TabularInline):
    model = ActivitySignup
    extra = 0
    can_delete = False
    fields = ["customer", "signed_up_at", "checked_in_at", "confirmed"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Activity)
class ActivityAdmin(ScopedModelAdmin):
    list_display = ["title", "kind", "village", "starts_at", "signup_count", "capacity", "status", "organiser", "qr_link"]
    list_filter = ["kind", "status"]
    list_select_related = ["village", "organiser"]
    autocomplete_fields = ["village"]
    fields = [
        "kind",
        "title",
        "description",
        "village",
        "venue",
        "starts_at",
        "ends_at",
        "capacity",
        "status",
        "signup_count",
        "organiser",
    ]
    readonly_fields = ["status", "signup_count", "organiser"]
    inlines = [ActivitySignupInline]

    @admin.display(description="签到码")
    def qr_link(self, obj):
        return format_html('<a href="{}">现场签到码</a>', reverse("lifestyle:field_activity_qr", args=[obj.pk]))

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        staff = getattr(request.user, "staff", None)
        if staff is None:
            raise PermissionDenied
        created = community.activity_create(
            organiser=staff,
            village=obj.village,
            kind=obj.kind,
            title=obj.title,
            venue=obj.venue,
            starts_at=obj.starts_at,
            ends_at=obj.ends_at,
            capacity=obj.capacity,
            description=obj.description,
        )
        obj.pk = created.pk
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReferralBinding)
class ReferralBindingAdmin(ReadOnlyAdmin):
    list_display = ["customer", "referrer_customer", "referrer_staff", "code", "status", "bound_at", "qualified_at"]
    list_filter = ["status"]
    list_select_related = ["customer", "referrer_customer", "referrer_staff"]


@admin.register(CardActivation)
class CardActivationAdmin(ReadOnlyAdmin):
    list_display = ["card_ref", "customer", "activated_on", "received_at"]
    list_select_related = ["customer"]


@admin.register(DepositMonthClose)
class DepositMonthCloseAdmin(ReadOnlyAdmin):
    list_display = ["institution", "month", "status", "lots_created", "points_awarded", "events_published", "closed_at"]
    list_filter = ["status"]
