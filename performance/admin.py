"""Back office for 吉快·智能绩效: library, formulas (with a what-if tester), versioned schemes, targets (with
Excel import), claims, facts and manual entries, periods and jobs, results and calibration, appeals,
incentives and clawbacks, reports, and a dashboard with charts by institution and branch.

Every state change goes through a service; money, scores and states are read-only here."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count, Sum
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin
from unfold.decorators import action

from jikuai.core.exceptions import ApplicationError
from jikuai.core.money import to_decimal
from jikuai.org.admin_base import ModelAdmin, ReadOnlyFinancialAdminMixin, ScopedModelAdmin, TabularInline
from jikuai.org.scoping import scope_queryset
from performance import formulas
from performance.models import (
    Appeal,
    AttributionClaim,
    CalibrationAdjustment,
    ClaimShare,
    ClawbackEntry,
    DeferralInstallment,
    Fact,
    Formula,
    ImportBatch,
    IncentiveAward,
    Indicator,
    ManualEntry,
    PerformancePolicy,
    PerformanceReport,
    Period,
    Scheme,
    SchemeItem,
    SchemeVersion,
    ScoreLine,
    StaffPosition,
    SubjectResult,
    Target,
)
from performance.services import appeals as appeal_services
from performance.services import attribution as attribution_services
from performance.services import close as close_services
from performance.services import library, pay, reports
from performance.services import targets as target_services
from performance.services.common import staff_of


def _run(request, label: str, func, *args, **kwargs):
    try:
        result = func(*args, **kwargs)
    except ApplicationError as exc:
        messages.error(request, f"{label}失败：{exc.message}")
        return None
    messages.success(request, f"{label}成功。")
    return result


def _actor(request):
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied("需要员工身份 / a staff profile is required")
    return staff


# --------------------------------------------------------------------------------------------------
# library and formulas
# --------------------------------------------------------------------------------------------------


class IndicatorForm(forms.ModelForm):
    class Meta:
        model = Indicator
        fields = [
            "code",
            "name",
            "unit",
            "direction",
            "measure",
            "data_source",
            "attribution_mode",
            "sources",
            "numerator",
            "denominator",
            "ratio_scale",
            "description",
            "is_active",
        ]

    def clean(self):
        data = super().clean()
        candidate = Indicator(**{k: v for k, v in data.items() if k in {f.name for f in Indicator._meta.fields}})
        candidate.pk = self.instance.pk
        try:
            library.indicator_validate(candidate)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(Indicator)
class IndicatorAdmin(SimpleHistoryAdmin, ModelAdmin):
    form = IndicatorForm
    list_display = ["code", "name", "unit", "direction", "measure", "data_source", "attribution_mode", "is_active"]
    list_filter = ["direction", "measure", "data_source", "is_active"]
    search_fields = ["code", "name"]

    def has_delete_permission(self, request, obj=None):
        return False


class FormulaForm(forms.ModelForm):
    class Meta:
        model = Formula
        fields = ["code", "kind", "name", "parameters", "description"]

    def clean(self):
        data = super().clean()
        if data.get("kind"):
            try:
                data["parameters"] = formulas.validate_parameters(data["kind"], data.get("parameters") or {})
            except ApplicationError as exc:
                self.add_error("parameters", exc.message)
        return data


class WhatIfForm(forms.Form):
    kind = forms.ChoiceField(label="公式类型", choices=formulas.ITEM_FORMULA_CHOICES)
    parameters = forms.JSONField(label="参数 (JSON)", initial=dict, required=False)
    actual = forms.CharField(label="实际 A", required=False)
    target = forms.CharField(label="目标 T", required=False)
    weight = forms.CharField(label="权重 W", initial="100")
    base = forms.CharField(label="基期日均 B (F11)", required=False)
    rank = forms.IntegerField(label="名次 (F12)", required=False, min_value=1)
    peer_count = forms.IntegerField(label="同组人数 (F12)", required=False, min_value=1)

    def clean(self):
        data = super().clean()
        for name in ("actual", "target", "weight", "base"):
            value = (data.get(name) or "").strip()
            if value:
                try:
                    to_decimal(value)
                except (ValueError, InvalidOperation):
                    self.add_error(name, "不是有效数字 / not a number")
        return data


@admin.register(Formula)
class FormulaAdmin(SimpleHistoryAdmin, ModelAdmin):
    form = FormulaForm
    list_display = ["code", "kind", "name", "updated_at", "what_if_link"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]

    @admin.display(description="试算 what-if")
    def what_if_link(self, obj):
        return format_html('<a href="{}?formula={}">试算</a>', reverse("admin:performance_formula_whatif"), obj.pk)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("what-if/", self.admin_site.admin_view(self.what_if_view), name="performance_formula_whatif"),
            *super().get_urls(),
        ]

    def what_if_view(self, request):
        """Test a formula with sample numbers: the parameters are validated first, then the steps are shown."""
        if not request.user.has_perm("performance.view_formula"):
            raise PermissionDenied
        initial = {}
        formula = Formula.objects.filter(pk=request.GET.get("formula") or 0).first()
        if formula:
            initial = {"kind": formula.kind, "parameters": formula.parameters, "actual": "85", "target": "100", "weight": "20"}
        form = WhatIfForm(request.POST or None, initial=initial)
        result, error = None, None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = library.formula_what_if(
                    kind=data["kind"],
                    parameters=data["parameters"] or {},
                    actual=data["actual"] or None,
                    target=data["target"] or None,
                    weight=data["weight"],
                    base=data["base"] or None,
                    rank=data["rank"],
                    peer_count=data["peer_count"],
                )
            except ApplicationError as exc:
                error = exc.message
        context = {
            **self.admin_site.each_context(request),
            "title": "公式试算 what-if",
            "form": form,
            "result": result,
            "error": error,
            "catalogue": formulas.CATALOGUE.values(),
        }
        return TemplateResponse(request, "performance/admin/whatif.html", context)


# --------------------------------------------------------------------------------------------------
# schemes
# --------------------------------------------------------------------------------------------------


class SchemeItemFormSet(BaseInlineFormSet):
    """Weights sum to 100, parameters complete, formulas fit the indicators: checked on the whole set."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        drafts = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("indicator") or not data.get("formula"):
                continue
            drafts.append(
                library.ItemDraft(
                    indicator=data["indicator"],
                    kind=data["kind"],
                    weight=data.get("weight") or Decimal(0),
                    formula=data["formula"],
                    parameters=data.get("parameters") or {},
                )
            )
        try:
            library.validate_items(drafts)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.extra.get("errors") or exc.message) from exc


class SchemeItemInline(TabularInline):
    model = SchemeItem
    formset = SchemeItemFormSet
    extra = 0
    fields = ["order", "indicator", "kind", "weight", "formula", "parameters"]
    autocomplete_fields = ["indicator"]

    def _editable(self, obj):
        return obj is None or obj.state == SchemeVersion.State.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


class SchemeVersionForm(forms.ModelForm):
    class Meta:
        model = SchemeVersion
        fields = ["scheme", "number", "effective_from", "renormalise_missing_targets", "grading", "incentive", "notes"]

    def clean(self):
        data = super().clean()
        try:
            data["grading"] = formulas.validate_grading(data.get("grading"))
        except ApplicationError as exc:
            self.add_error("grading", exc.message)
        try:
            data["incentive"] = formulas.validate_incentive(data.get("incentive"))
        except ApplicationError as exc:
            self.add_error("incentive", exc.message)
        return data


@admin.register(SchemeVersion)
class SchemeVersionAdmin(ScopedModelAdmin):
    form = SchemeVersionForm
    inlines = [SchemeItemInline]
    list_display = ["scheme", "number", "state", "effective_from", "published_at"]
    list_filter = ["state", "scheme__position"]
    list_select_related = ["scheme"]
    readonly_fields = ["state", "spec_hash", "published_at", "published_by"]
    actions = ["publish_versions", "clone_versions"]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.state != SchemeVersion.State.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and obj.state == SchemeVersion.State.DRAFT and super().has_delete_permission(request, obj)

    @action(description="发布所选版本（校验并冻结）publish", permissions=["change"])
    def publish_versions(self, request, queryset):
        for version in queryset:
            _run(request, f"发布 {version}", library.scheme_version_publish, version_id=version.pk, actor=request.user)

    @action(description="复制为新草稿版本 clone", permissions=["add"])
    def clone_versions(self, request, queryset):
        for version in queryset:
            _run(request, f"复制 {version}", library.scheme_version_clone, version_id=version.pk, actor=request.user)


class SchemeVersionInline(TabularInline):
    model = SchemeVersion
    extra = 0
    fields = ["number", "state", "effective_from", "published_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Scheme)
class SchemeAdmin(ScopedModelAdmin):
    list_display = ["code", "name", "institution", "position", "period_type", "aggregation", "is_active"]
    list_filter = ["position", "period_type", "is_active"]
    search_fields = ["code", "name"]
    inlines = [SchemeVersionInline]
    list_select_related = ["institution"]


# --------------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------------


class TargetForm(forms.ModelForm):
    class Meta:
        model = Target
        fields = ["institution", "level", "branch", "rank", "staff", "indicator", "year", "month", "value"]

    def clean(self):
        data = super().clean()
        institution = data.get("institution")
        if institution and data.get("indicator") and data.get("year") is not None and data.get("month") is not None:
            self.spec = target_services.TargetSpec(
                indicator=data["indicator"],
                year=data["year"],
                month=data["month"],
                value=data.get("value") or Decimal(0),
                level=data.get("level"),
                branch=data.get("branch"),
                rank=data.get("rank") or "",
                staff=data.get("staff"),
            )
            try:
                target_services.targets_validate(institution, [self.spec])
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message) from exc
        return data


class TargetImportForm(forms.Form):
    institution = forms.ModelChoiceField(label="法人行社", queryset=None)
    file = forms.FileField(label="Excel 文件 (.xlsx)")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        from jikuai.org.admin_base import scoped_choices
        from jikuai.org.models import Institution

        self.fields["institution"].queryset = scoped_choices(Institution, user)


@admin.register(Target)
class TargetAdmin(ScopedModelAdmin):
    form = TargetForm
    list_display = ["indicator", "year", "month", "level", "branch", "rank", "staff", "value", "source", "updated_at"]
    list_filter = ["level", "year", "month", "indicator"]
    search_fields = ["staff__employee_no", "staff__name", "indicator__code"]
    list_select_related = ["indicator", "branch", "staff", "institution"]
    readonly_fields = ["source", "updated_by"]

    def save_model(self, request, obj, form, change):
        written = target_services.targets_set(institution=form.cleaned_data["institution"], specs=[form.spec], actor=request.user)
        obj.pk = written[0].pk

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="performance_target_import"),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not request.user.has_perm("performance.change_target"):
            raise PermissionDenied
        form = TargetImportForm(request.POST or None, request.FILES or None, user=request.user)
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = target_services.targets_import_excel(
                    institution=form.cleaned_data["institution"], file=upload, file_name=upload.name, actor=request.user
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
                errors = exc.extra.get("errors", [])
            else:
                messages.success(request, f"导入成功：{report.rows} 行 / imported {report.rows} rows")
                return redirect("admin:performance_target_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "目标导入 import targets",
            "form": form,
            "errors": errors,
            "columns": list(target_services.TARGET_HEADERS),
        }
        return TemplateResponse(request, "performance/admin/import.html", context)


@admin.register(PerformancePolicy)
class PerformancePolicyAdmin(ScopedModelAdmin):
    list_display = ["institution", "claim_cutoff_day", "appeal_window_days"]


@admin.register(StaffPosition)
class StaffPositionAdmin(ScopedModelAdmin):
    list_display = ["staff", "position", "peer_group"]
    list_filter = ["position"]
    search_fields = ["staff__name", "staff__employee_no"]
    list_select_related = ["staff"]
    autocomplete_fields = []


# --------------------------------------------------------------------------------------------------
# attribution, facts, manual data
# --------------------------------------------------------------------------------------------------


class ClaimShareInline(TabularInline):
    model = ClaimShare
    extra = 0
    can_delete = False
    fields = ["staff", "percent"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AttributionClaim)
class AttributionClaimAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["id", "customer", "state", "effective_from", "effective_to", "requested_by", "decided_by", "requested_at"]
    list_filter = ["state"]
    inlines = [ClaimShareInline]
    list_select_related = ["customer", "requested_by", "decided_by"]
    readonly_fields = [f.name for f in AttributionClaim._meta.fields]
    actions = ["approve_claims", "reject_claims"]

    def has_add_permission(self, request):
        return False

    @action(description="批准所选认领（解决冲突）approve", permissions=["change"])
    def approve_claims(self, request, queryset):
        actor = _actor(request)
        for claim in queryset:
            _run(request, f"批准认领 #{claim.pk}", attribution_services.claim_approve, claim_id=claim.pk, actor=actor)

    @action(description="驳回所选认领 reject", permissions=["change"])
    def reject_claims(self, request, queryset):
        actor = _actor(request)
        for claim in queryset:
            _run(
                request,
                f"驳回认领 #{claim.pk}",
                attribution_services.claim_reject,
                claim_id=claim.pk,
                actor=actor,
                note="后台驳回",
            )


@admin.register(Fact)
class FactAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "id",
        "fact_date",
        "indicator",
        "staff",
        "branch",
        "value",
        "share",
        "attribution",
        "source",
        "subject_kind",
        "subject_id",
    ]
    list_filter = ["source", "attribution", "indicator"]
    search_fields = ["source_key", "staff__employee_no"]
    list_select_related = ["indicator", "staff", "branch"]
    readonly_fields = [f.name for f in Fact._meta.fields]
    date_hierarchy = "fact_date"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ManualEntryForm(forms.ModelForm):
    class Meta:
        model = ManualEntry
        fields = ["institution", "indicator", "staff", "branch", "customer", "fact_date", "value", "base_value", "note"]


@admin.register(ManualEntry)
class ManualEntryAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    form = ManualEntryForm
    list_display = ["id", "indicator", "fact_date", "staff", "branch", "value", "state", "entered_by", "decided_by", "batch"]
    list_filter = ["state", "indicator"]
    list_select_related = ["indicator", "staff", "branch", "entered_by", "decided_by", "batch"]
    raw_id_fields = ["customer"]
    actions = ["approve_entries", "reject_entries"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        entry = attribution_services.manual_entry_create(
            institution=data["institution"],
            indicator=data["indicator"],
            fact_date=data["fact_date"],
            value=data["value"],
            base_value=data.get("base_value") or 0,
            staff=data.get("staff"),
            branch=data.get("branch"),
            customer=data.get("customer"),
            note=data.get("note") or "",
            actor=request.user,
        )
        obj.pk = entry.pk

    @action(description="审批入库 approve", permissions=["change"])
    def approve_entries(self, request, queryset):
        for entry in queryset:
            _run(request, f"审批 #{entry.pk}", attribution_services.manual_entry_approve, entry_id=entry.pk, actor=request.user)

    @action(description="驳回 reject", permissions=["change"])
    def reject_entries(self, request, queryset):
        for entry in queryset:
            _run(request, f"驳回 #{entry.pk}", attribution_services.manual_entry_reject, entry_id=entry.pk, actor=request.user)


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["id", "kind", "file_name", "row_count", "state", "uploaded_by", "uploaded_at", "decided_by"]
    list_filter = ["kind", "state"]
    readonly_fields = [f.name for f in ImportBatch._meta.fields]
    actions = ["approve_batches"]

    def has_add_permission(self, request):
        return False

    @action(description="审批入库（业绩数据批次）approve facts batch", permissions=["change"])
    def approve_batches(self, request, queryset):
        for batch in queryset:
            _run(
                request,
                f"批次 #{batch.pk} 入库",
                attribution_services.facts_import_approve,
                batch_id=batch.pk,
                actor=request.user,
            )

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="performance_importbatch_upload"),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        if not request.user.has_perm("performance.add_manualentry"):
            raise PermissionDenied
        form = TargetImportForm(request.POST or None, request.FILES or None, user=request.user)
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                batch = attribution_services.facts_import_excel(
                    institution=form.cleaned_data["institution"], file=upload, file_name=upload.name, actor=request.user
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
                errors = exc.extra.get("errors", [])
            else:
                messages.success(request, f"已导入 {batch.row_count} 行，待他人审批入库。")
                return redirect("admin:performance_importbatch_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "业绩数据导入 import facts",
            "form": form,
            "errors": errors,
            "columns": list(attribution_services.FACT_HEADERS),
        }
        return TemplateResponse(request, "performance/admin/import.html", context)


# --------------------------------------------------------------------------------------------------
# periods, results, appeals, calibration
# --------------------------------------------------------------------------------------------------


class PeriodAddForm(forms.ModelForm):
    class Meta:
        model = Period
        fields = ["scheme", "start"]


@admin.register(Period)
class PeriodAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "label",
        "scheme",
        "scheme_version",
        "state",
        "job_progress",
        "published_at",
        "appeal_closes_at",
        "finalised_at",
    ]
    list_filter = ["state", "period_type"]
    list_select_related = ["scheme", "scheme_version__scheme", "job_run", "institution"]
    actions = ["confirm_data", "compute", "publish", "close_appeals", "finalise", "generate_reports"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PeriodAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["scheme", "start"]
        return [
            "label",
            "institution",
            "scheme",
            "scheme_version",
            "period_type",
            "start",
            "end",
            "state",
            "facts_watermark",
            "previous_watermark",
            "snapshot_hash",
            "job_run",
            "compute_count",
            "compute_error",
            "confirmed_at",
            "computed_at",
            "published_at",
            "appeal_closes_at",
            "finalised_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        period = close_services.period_create(
            scheme=form.cleaned_data["scheme"], start=form.cleaned_data["start"], actor=request.user
        )
        obj.pk = period.pk

    @admin.display(description="计算进度")
    def job_progress(self, obj):
        if obj.job_run is None:
            return "—"
        return format_html(
            '<progress max="100" value="{}" style="width:6em"></progress> {}%',
            obj.job_run.progress_percent,
            obj.job_run.progress_percent,
        )

    @action(description="确认数据 confirm data", permissions=["change"])
    def confirm_data(self, request, queryset):
        for period in queryset:
            _run(
                request,
                f"{period} 确认数据",
                close_services.period_confirm_data,
                period_id=period.pk,
                actor=request.user,
                comment="后台确认",
            )

    @action(description="计算（后台作业）compute", permissions=["change"])
    def compute(self, request, queryset):
        for period in queryset:
            _run(request, f"{period} 提交计算", close_services.period_compute_start, period_id=period.pk, actor=request.user)

    @action(description="公示（开启申诉期）publish", permissions=["change"])
    def publish(self, request, queryset):
        for period in queryset:
            _run(request, f"{period} 公示", close_services.period_publish, period_id=period.pk, actor=request.user)

    @action(description="结束申诉期，进入校准 close appeals", permissions=["change"])
    def close_appeals(self, request, queryset):
        for period in queryset:
            _run(request, f"{period} 结束申诉期", close_services.period_close_appeals, period_id=period.pk, actor=request.user)

    @action(description="定稿（等级、激励、延期支付）finalise", permissions=["change"])
    def finalise(self, request, queryset):
        for period in queryset:
            _run(request, f"{period} 定稿", pay.period_finalise, period_id=period.pk, actor=request.user)

    @action(description="生成缺失的PDF报告 generate reports", permissions=["change"])
    def generate_reports(self, request, queryset):
        for period in queryset:
            _run(request, f"{period} 生成报告", reports.reports_generate, period_id=period.pk)

    def get_urls(self):
        return [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="performance_dashboard"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request):
        """Charts by institution and branch (server-side SVG bars) over the periods the viewer can see."""
        if not request.user.has_perm("performance.view_subjectresult"):
            raise PermissionDenied
        periods = list(
            scope_queryset(Period.objects.filter(state__in=Period.LOCKED_STATES), request.user)
            .select_related("scheme")
            .order_by("-start")[:30]
        )
        selected = next((p for p in periods if str(p.pk) == request.GET.get("period")), periods[0] if periods else None)
        context = {**self.admin_site.each_context(request), "title": "绩效看板 dashboard", "periods": periods, "period": selected}
        if selected is not None:
            results = scope_queryset(SubjectResult.objects.filter(period=selected), request.user)
            by_branch = list(results.values("branch__name").annotate(avg=Avg("total"), n=Count("id")).order_by("-avg"))
            by_grade = list(results.values("final_grade").annotate(n=Count("id")).order_by("final_grade"))
            pay_by_branch = list(
                scope_queryset(IncentiveAward.objects.filter(period=selected), request.user)
                .values("branch__name")
                .annotate(total=Sum("gross"))
                .order_by("-total")
            )
            context.update(
                by_branch=_bars([(r["branch__name"] or "—", Decimal(str(r["avg"] or 0))) for r in by_branch]),
                by_grade=_bars([(r["final_grade"] or "未定", Decimal(r["n"])) for r in by_grade]),
                pay_by_branch=_bars([(r["branch__name"] or "—", r["total"] or Decimal(0)) for r in pay_by_branch]),
                institutions=list(
                    scope_queryset(SubjectResult.objects.filter(period__state__in=Period.LOCKED_STATES), request.user)
                    .values("period__institution__name")
                    .annotate(avg=Avg("total"), n=Count("id"))
                    .order_by("period__institution__name")
                ),
            )
        return TemplateResponse(request, "performance/admin/dashboard.html", context)


def _bars(rows: list[tuple[str, Decimal]]) -> dict:
    """Geometry of a horizontal SVG bar chart (bars up to 400 px), computed here so the template stays dumb."""
    top = max((v for _, v in rows), default=Decimal(0))
    bars = []
    for index, (label, value) in enumerate(rows):
        px = int(value / top * 400) if top > 0 else 0
        bars.append(
            {"label": label, "value": value, "px": px, "y": index * 20 + 4, "text_y": index * 20 + 14, "value_x": 146 + px}
        )
    return {"rows": bars, "height": len(rows) * 20 + 8}


class ScoreLineInline(TabularInline):
    model = ScoreLine
    extra = 0
    can_delete = False
    fields = ["indicator", "actual", "adjustment", "target", "ratio", "peer_rank", "score", "note", "revision"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SubjectResult)
class SubjectResultAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = [
        "period",
        "subject",
        "branch",
        "peer_group",
        "total",
        "peer_rank",
        "peer_size",
        "overall_rank",
        "grade",
        "final_grade",
        "revision",
    ]
    list_filter = ["period__state", "peer_group", "final_grade"]
    search_fields = ["staff__name", "staff__employee_no", "branch__name"]
    list_select_related = ["period", "period__scheme", "staff", "branch"]
    readonly_fields = [f.name for f in SubjectResult._meta.fields]
    inlines = [ScoreLineInline]

    @admin.display(description="对象")
    def subject(self, obj):
        return obj.subject_name

    def has_add_permission(self, request):
        return False


class CalibrationForm(forms.ModelForm):
    class Meta:
        model = CalibrationAdjustment
        fields = ["result", "to_grade", "reason"]


@admin.register(CalibrationAdjustment)
class CalibrationAdjustmentAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    form = CalibrationForm
    list_display = ["period", "result", "from_grade", "to_grade", "reason", "by", "at"]
    list_select_related = ["period", "result__staff", "by"]
    raw_id_fields = ["result"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        adjustment = pay.calibration_adjust(
            result_id=form.cleaned_data["result"].pk,
            to_grade=form.cleaned_data["to_grade"],
            reason=form.cleaned_data["reason"],
            actor=_actor(request),
        )
        obj.pk = adjustment.pk


class AppealDecisionAdminForm(forms.Form):
    accept = forms.BooleanField(label="采纳", required=False)
    note = forms.CharField(label="处理意见", widget=forms.Textarea)
    corrected_actual = forms.DecimalField(label="更正实际值", required=False, max_digits=20, decimal_places=4)
    corrected_target = forms.DecimalField(label="更正目标值", required=False, max_digits=20, decimal_places=4)


@admin.register(Appeal)
class AppealAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["id", "period", "staff", "line", "state", "submitted_at", "decided_by", "decide_link"]
    list_filter = ["state"]
    list_select_related = ["period", "staff", "line__indicator", "decided_by"]
    readonly_fields = [f.name for f in Appeal._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="处理")
    def decide_link(self, obj):
        if obj.state != Appeal.State.SUBMITTED:
            return "—"
        return format_html('<a href="{}">处理</a>', reverse("admin:performance_appeal_decide", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:appeal_id>/decide/", self.admin_site.admin_view(self.decide_view), name="performance_appeal_decide"),
            *super().get_urls(),
        ]

    def decide_view(self, request, appeal_id: int):
        appeal = (
            scope_queryset(Appeal.objects.select_related("staff", "line__indicator", "period"), request.user)
            .filter(pk=appeal_id)
            .first()
        )
        if appeal is None:
            raise Http404
        form = AppealDecisionAdminForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            done = _run(
                request,
                f"处理申诉 #{appeal.pk}",
                appeal_services.appeal_decide,
                appeal_id=appeal.pk,
                actor=_actor(request),
                accept=data["accept"],
                note=data["note"],
                corrected_actual=data["corrected_actual"],
                corrected_target=data["corrected_target"],
            )
            if done is not None:
                return redirect("admin:performance_appeal_changelist")
        context = {**self.admin_site.each_context(request), "title": f"处理申诉 #{appeal.pk}", "form": form, "appeal": appeal}
        return TemplateResponse(request, "performance/admin/appeal_decide.html", context)


# --------------------------------------------------------------------------------------------------
# pay and reports
# --------------------------------------------------------------------------------------------------


class InstallmentInline(TabularInline):
    model = DeferralInstallment
    extra = 0
    can_delete = False
    fields = ["number", "due_date", "amount", "clawed_back", "state", "released_amount"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(IncentiveAward)
class IncentiveAwardAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["period", "staff", "branch", "method", "coefficient", "gross", "immediate", "deferred"]
    list_filter = ["period__label", "method"]
    list_select_related = ["period", "staff", "branch"]
    readonly_fields = [f.name for f in IncentiveAward._meta.fields]
    inlines = [InstallmentInline]

    def has_add_permission(self, request):
        return False


@admin.register(ClawbackEntry)
class ClawbackEntryAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["id", "staff", "amount", "recovered", "state", "loan_id", "reason", "created_at"]
    list_filter = ["state"]
    list_select_related = ["staff"]
    readonly_fields = [f.name for f in ClawbackEntry._meta.fields]
    actions = ["approve_entries", "cancel_entries"]

    def has_add_permission(self, request):
        return False

    @action(description="审批扣回 approve", permissions=["change"])
    def approve_entries(self, request, queryset):
        actor = _actor(request)
        for entry in queryset:
            _run(request, f"追索 #{entry.pk}", pay.clawback_approve, entry_id=entry.pk, actor=actor)

    @action(description="撤销 cancel", permissions=["change"])
    def cancel_entries(self, request, queryset):
        actor = _actor(request)
        for entry in queryset:
            _run(request, f"撤销追索 #{entry.pk}", pay.clawback_cancel, entry_id=entry.pk, actor=actor, note="后台撤销")


@admin.register(PerformanceReport)
class PerformanceReportAdmin(ReadOnlyFinancialAdminMixin, ScopedModelAdmin):
    list_display = ["period", "kind", "staff", "branch", "size", "sha256", "created_at", "download"]
    list_filter = ["kind"]
    list_select_related = ["period", "staff", "branch"]
    readonly_fields = [f.name for f in PerformanceReport._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="下载")
    def download(self, obj):
        return format_html('<a href="{}">PDF</a>', reverse("admin:performance_performancereport_download", args=[obj.pk]))

    def get_urls(self):
        return [
            path(
                "<int:report_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="performance_performancereport_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request, report_id: int):
        report = get_object_or_404(self.get_queryset(request), pk=report_id)
        try:
            content = reports.report_read(report)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("admin:performance_performancereport_changelist")
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="performance-{report.period.label}-{report.key}.pdf"'
        return response
