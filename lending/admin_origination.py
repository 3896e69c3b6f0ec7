"""Back office of origination: the product factory (产品工厂) and loan applications (贷款申请).

Products: staff configure everything in the form; the status moves through actions (草稿 → 在售 → 暂停 →
在售); saving a change to a product on sale creates a new version (applications keep the version they
were submitted with). Applications: scoped to the viewer, decision fields read-only, state history
(django-fsm-log) and review tasks on the page.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html, format_html_join
from django_fsm_log.models import StateLog
from unfold.decorators import action

from jikuai.core.exceptions import ApplicationError
from jikuai.org.admin_base import ModelAdmin, ReadOnlyFinancialAdminMixin, ScopedModelAdmin
from jikuai.org.scoping import scope_for
from lending.models import LoanApplication, Product, ProductStatus
from lending.services.products import product_save, product_set_status, product_validate


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = [
            "code", "name", "institution", "segment", "description", "kind", "revolving", "line_validity_months",
            "application_validity_days", "min_amount", "max_amount", "term_options", "allowed_methods", "default_method",
            "min_rate", "max_rate", "apr_ceiling", "lpr_spreads_bp", "upfront_fee_rate", "day_basis", "admission_ruleset",
            "rating_ruleset", "limit_ruleset", "pricing_ruleset", "channels", "required_documents", "approval_tiers",
            "penalty_markup", "grace_days", "allocation_order", "npl_allocation_order", "npl_principal_first",
            "overpayment_policy", "default_prepayment_option", "quarterly_interest", "repayment_approval_threshold",
        ]  # fmt: skip
        help_texts = {
            "code": "小写字母代码，创建后不要修改，如 jnkd；规则集默认以它为前缀",
            "term_options": "可选期限（月），JSON 列表，如 [6, 12, 24, 36]",
            "allowed_methods": "JSON 列表：equal_installment 等额本息、equal_principal 等额本金、"
            "interest_only 按月付息到期还本、bullet 利随本清",
            "default_method": "须为可选还款方式之一",
            "min_rate": "小数：0.0250 = 2.50%；执行利率 = 一年期LPR + 等级加点，须落在最低/最高利率之间",
            "lpr_spreads_bp": '各等级在一年期LPR上的加点（基点），如 {"A": 20, "B": 45, "C": 75, "D": 110}',
            "admission_ruleset": "规则流中的准入规则集代码，如 jnkd_admission（在售产品必填）",
            "rating_ruleset": "评级评分卡规则集代码，如 jnkd_rating",
            "limit_ruleset": "额度测算规则集代码，如 jnkd_limit（在售产品必填）",
            "pricing_ruleset": "定价规则集代码，如 jnkd_pricing",
            "channels": 'JSON 列表：web 手机银行/网页、field 移动展业、api 接口，如 ["web", "field", "api"]',
            "required_documents": 'JSON 列表，如 ["id_card_front", "id_card_back", "selfie"]',
            "approval_tiers": '转人工后按批准金额分级审批：[{"up_to": "100000.00", "role": "reviewer"}, '
            '{"up_to": null, "role": "manager"}]，最后一档 up_to 为 null',
            "kind": "授信额度：审批后开立额度、客户在额度内支用；单笔贷款：签约后一次放款",
            "revolving": "循环额度：还款后恢复可用额度（仅授信额度类产品）",
            "line_validity_months": "授信额度有效期（月）",
            "application_validity_days": "审批通过后须在此天数内签约，否则申请过期",
            "status": "通过列表页的“上架/暂停”操作改变状态",
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = self.instance
        if candidate.pk is None:
            candidate.status = ProductStatus.DRAFT  # new products start as drafts (see save_model)
        for name, value in cleaned.items():
            setattr(candidate, name, value)
        try:
            product_validate(candidate)
        except ApplicationError as exc:
            field = exc.extra.get("field")
            self.add_error(field if field in self.fields else None, exc.message_zh)
        return cleaned


@admin.register(Product)
class ProductAdmin(ReadOnlyFinancialAdminMixin, ModelAdmin):
    form = ProductForm
    list_display = [
        "code",
        "name",
        "institution",
        "segment",
        "kind",
        "status",
        "version",
        "min_amount",
        "max_amount",
        "is_active",
    ]
    list_filter = ["status", "kind", "segment", "institution", "is_active"]
    search_fields = ["code", "name"]
    list_select_related = ["institution"]
    readonly_fields = ["status", "version", "is_active", "created_at", "updated_at"]
    actions = ["activate", "suspend"]
    fieldsets = [
        (
            "产品 product",
            {
                "fields": [
                    "code",
                    "name",
                    "name_en",
                    "institution",
                    "segment",
                    "description",
                    "description_en",
                    "status",
                    "version",
                    "is_active",
                ],
                "description": "法人行社留空 = 全省各行社均可销售。状态通过列表页操作变更；在售产品修改条款会生成新版本，只影响之后的新申请。",
            },
        ),
        ("授信方式 credit", {"fields": ["kind", "revolving", "line_validity_months", "application_validity_days"]}),
        (
            "金额期限 amounts and terms",
            {"fields": ["min_amount", "max_amount", "term_options", "allowed_methods", "default_method"]},
        ),
        (
            "定价 pricing",
            {
                "fields": ["min_rate", "max_rate", "apr_ceiling", "lpr_spreads_bp", "upfront_fee_rate", "day_basis"],
                "description": "执行利率 = 一年期LPR + 评级等级加点；年化利率(APR)按IRR计算，超过上限的报价不能发放。",
            },
        ),
        (
            "规则集 rule sets",
            {
                "fields": ["admission_ruleset", "rating_ruleset", "limit_ruleset", "pricing_ruleset"],
                "description": "自动审批依次调用：准入 → 评级 → 额度 → 定价。",
            },
        ),
        ("渠道与审批 channels and approval", {"fields": ["channels", "required_documents", "approval_tiers"]}),
        (
            "贷后参数 servicing",
            {
                "fields": [
                    "penalty_markup",
                    "grace_days",
                    "allocation_order",
                    "npl_allocation_order",
                    "npl_principal_first",
                    "overpayment_policy",
                    "default_prepayment_option",
                    "quarterly_interest",
                    "repayment_approval_threshold",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        scope = scope_for(request.user)
        if scope.level == "all":
            return queryset
        return queryset.filter(Q(institution__isnull=True) | Q(institution_id=scope.institution_id))

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # a new product starts as a draft; status is not in the add form
            return [
                (name, {**opts, "fields": [f for f in opts["fields"] if f not in ("status", "version", "is_active")]})
                for name, opts in self.fieldsets
            ]
        return self.fieldsets

    def save_model(self, request, obj, form, change):
        if not change:
            obj.status = ProductStatus.DRAFT
        before = obj.version
        product_save(product=obj, actor=request.user)
        if change and obj.version != before:
            messages.info(request, f"在售产品条款已变更，新版本 v{obj.version}；已提交的申请仍按原版本办理。")

    def _set_status(self, request, queryset, status):
        for product in queryset:
            try:
                product_set_status(product_id=product.pk, status=status, actor=request.user)
            except ApplicationError as exc:
                messages.error(request, f"{product.code}：{exc.message_zh}")
            else:
                messages.success(request, f"{product.code}：{ProductStatus(status).label}")

    @action(description="上架（在售） activate")
    def activate(self, request, queryset):
        self._set_status(request, queryset, ProductStatus.ACTIVE)

    @action(description="暂停受理 suspend")
    def suspend(self, request, queryset):
        self._set_status(request, queryset, ProductStatus.SUSPENDED)


@admin.register(LoanApplication)
class LoanApplicationAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "application_no",
        "borrower",
        "product",
        "amount_requested",
        "state",
        "decision_outcome",
        "grade",
        "approved_amount",
        "channel",
        "branch",
        "created_at",
    ]
    list_filter = ["state", "decision_outcome", "channel", "kind", "product"]
    search_fields = ["application_no"]
    list_select_related = ["customer", "product", "branch"]
    exclude = ["customer"]  # shown masked (borrower)

    def get_readonly_fields(self, request, obj=None):
        return [
            "borrower",
            *[f.name for f in self.model._meta.fields if f.name != "customer"],
            "reason_list",
            "state_history",
            "review_tasks",
        ]

    def has_add_permission(self, request):
        return False  # applications come from customers, field staff and the API through the services

    @admin.display(description="借款人 borrower")
    def borrower(self, obj):
        return obj.customer.masked_name if obj.customer_id else "—"

    @admin.display(description="原因 reasons")
    def reason_list(self, obj):
        if not obj.reasons:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{}</code> {}</li>", obj.reasons))

    @admin.display(description="状态历史 state history")
    def state_history(self, obj):
        rows = StateLog.objects.for_(obj).select_related("by").order_by("timestamp", "id")
        return format_html(
            "<table><tr><th>时间</th><th>状态</th><th>操作</th><th>操作人</th><th>说明</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        f"{log.timestamp:%Y-%m-%d %H:%M:%S}",
                        log.state,
                        log.transition,
                        log.by or "系统/客户",
                        log.description or "",
                    )
                    for log in rows
                ),
            ),
        )

    @admin.display(description="审核任务 review tasks")
    def review_tasks(self, obj):
        tasks = obj.review_tasks.order_by("id")
        if not tasks:
            return "—"
        return format_html_join(
            "",
            "<div>#{} {} {} 截止 {}</div>",
            ((t.pk, t.queue_role, t.get_status_display(), f"{t.due_at:%Y-%m-%d %H:%M}") for t in tasks),
        )
