"""Back office for the rule flow (unfold). Every state change goes through riskrules.services; the
admin only parses forms and renders results.

Risk officers: variables, reason codes, rule sets, versions (JDM editing with guard-rails, decision-table
rows as forms, Excel import/export, test cases, submit / approve / publish / retire, diff), deployments
(challenger, split approval), lists (maker-checker, bulk import with preview), simulations with their
report, rule-row hit monitoring. Credit reviewers: decisions (read-only, with explanation)."""

import contextlib
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.decorators import action

from jikuai.core.exceptions import ApplicationError
from jikuai.org.admin_base import ModelAdmin, ScopedModelAdmin, TabularInline, scoped_choices
from jikuai.org.scoping import scope_for
from riskrules import selectors
from riskrules.diff import diff_versions
from riskrules.guardrails import FORBIDDEN_PATTERNS, _compile_problem, referenced_names
from riskrules.models import (
    DecisionRecord,
    Deployment,
    ListEntry,
    ListImport,
    LprRate,
    ReasonCode,
    RuleHitDaily,
    RuleSet,
    RuleVersion,
    Simulation,
    Variable,
)
from riskrules.services import decisions as decision_services
from riskrules.services import lists as list_services
from riskrules.services import simulations as simulation_services
from riskrules.services import versions as version_services
from riskrules.tables import table_from_xlsx, table_to_xlsx


def _staff(request):
    staff = getattr(request.user, "staff", None) if hasattr(request.user, "staff") else None
    if staff is None:
        raise PermissionDenied("需要员工档案 / a staff profile is required")
    return staff


def _is_province(request) -> bool:
    return scope_for(request.user).level == "all"


class PrettyJSONField(forms.JSONField):
    def prepare_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        return json.dumps(value, ensure_ascii=False, indent=2)


def _guard_errors(exc: ApplicationError) -> list[str]:
    violations = exc.extra.get("violations") if exc.extra else None
    if violations:
        return [
            f"[{v['node_id']}{'/' + v['row_id'] if v.get('row_id') else ''}] {v['message_zh']}"
            if v.get("node_id")
            else v["message_zh"]
            for v in violations
        ]
    return [exc.message_zh]


# --- catalogue ----------------------------------------------------------------------------------


class VariableForm(forms.ModelForm):
    class Meta:
        model = Variable
        fields = [
            "code",
            "label",
            "type",
            "unit",
            "source",
            "source_key",
            "expression",
            "enum_values",
            "missing_policy",
            "default_value",
            "description",
            "is_active",
        ]

    def clean(self):
        data = super().clean()
        if data.get("type") == Variable.Type.ENUM and not data.get("enum_values"):
            self.add_error("enum_values", "枚举变量须列出枚举值。")
        if data.get("missing_policy") == Variable.MissingPolicy.DEFAULT and data.get("default_value") is None:
            self.add_error("default_value", "缺失处理为“默认值”时须填写默认值。")
        expression = (data.get("expression") or "").strip()
        if data.get("source") == Variable.Source.DERIVED:
            if not expression:
                self.add_error("expression", "派生变量须填写表达式。")
            else:
                for pattern, _name, message in FORBIDDEN_PATTERNS:
                    if pattern.search(expression):
                        self.add_error("expression", f"禁止使用：{message}")
                problem = _compile_problem(expression, unary=False)
                if problem:
                    self.add_error("expression", f"表达式无法解析：{problem}")
                known = set(Variable.objects.values_list("code", flat=True))
                unknown = [n for n in referenced_names(expression) if n.split(".")[0] not in known]
                if unknown:
                    self.add_error("expression", f"引用了目录外的变量：{'、'.join(unknown)}")
        return data


@admin.register(Variable)
class VariableAdmin(ScopedModelAdmin):
    form = VariableForm
    list_display = ["code", "label", "type", "unit", "source", "source_key", "missing_policy", "is_active"]
    list_filter = ["source", "type", "missing_policy", "is_active"]
    search_fields = ["code", "label"]
    list_per_page = 100

    def get_queryset(self, request):
        return Variable.objects.all()

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _is_province(request)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and _is_province(request)


@admin.register(ReasonCode)
class ReasonCodeAdmin(ModelAdmin):
    list_display = ["code", "text_zh", "text_en", "category", "is_adverse"]
    list_filter = ["category", "is_adverse"]
    search_fields = ["code", "text_zh"]
    list_per_page = 100

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _is_province(request)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and _is_province(request)


@admin.register(LprRate)
class LprRateAdmin(ModelAdmin):
    list_display = ["effective_date", "one_year_bp", "five_year_bp", "note"]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _is_province(request)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and _is_province(request)


# --- rule sets ------------------------------------------------------------------------------------


class VersionInline(TabularInline):
    model = RuleVersion
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["number", "status", "short_hash", "author", "approver", "effective_from", "effective_to", "change_note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author", "approver").defer(*selectors.VERSION_HEAVY_FIELDS)


@admin.register(RuleSet)
class RuleSetAdmin(ScopedModelAdmin):
    list_display = ["code", "name", "kind", "product_code", "institution_label", "champion", "owner"]
    list_filter = ["kind", "product_code"]
    search_fields = ["code", "name"]
    inlines = [VersionInline]
    actions_detail = ["new_draft"]
    fields = ["code", "name", "kind", "product_code", "institution", "owner", "description", "max_reasons"]

    def get_queryset(self, request):
        return selectors.ruleset_list_for_staff(request.user).prefetch_related("deployments__champion")

    def get_readonly_fields(self, request, obj=None):
        return ["code", "kind", "institution"] if obj else []

    @admin.display(description="适用范围 scope")
    def institution_label(self, obj):
        return obj.institution.short_name or obj.institution.name if obj.institution_id else "全省默认"

    @admin.display(description="冠军版本 champion")
    def champion(self, obj):
        deployments = [d for d in obj.deployments.all() if d.channel == "default"]
        return f"v{deployments[0].champion.number}" if deployments else "—"

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.institution_id is None and not _is_province(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("institution", "owner"):
            kwargs["queryset"] = scoped_choices(db_field.remote_field.model, request.user)
            kwargs["required"] = db_field.name == "institution" and not _is_province(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        institution = data.get("institution")
        if not _is_province(request):
            institution = _staff(request).institution
        created = version_services.ruleset_create(
            code=data["code"],
            name=data["name"],
            kind=data["kind"],
            product_code=data.get("product_code", ""),
            institution=institution,
            owner=data.get("owner"),
            description=data.get("description", ""),
            max_reasons=data.get("max_reasons") or 3,
        )
        obj.pk = created.pk
        obj.institution = created.institution

    @action(description="基于冠军版本新建草稿 new draft from champion", url_path="new-draft")
    def new_draft(self, request, object_id):
        rule_set = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not (self.has_change_permission(request, rule_set) and request.user.has_perm("riskrules.add_ruleversion")):
            raise PermissionDenied
        deployment = rule_set.deployments.filter(channel="default").first()
        source = deployment.champion if deployment else rule_set.versions.order_by("-number").first()
        if source is None:
            messages.error(request, "该规则集还没有任何版本，请在“规则版本”中新增。")
            return HttpResponseRedirect(reverse("admin:riskrules_ruleset_change", args=[rule_set.pk]))
        if request.method != "POST":
            return _confirm(self, request, rule_set, f"基于 v{source.number} 新建草稿", "复制内容与测试用例为新草稿。")
        try:
            draft = version_services.version_copy(
                version_id=source.pk, author=_staff(request), change_note=request.POST.get("comment", "")
            )
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
            return HttpResponseRedirect(reverse("admin:riskrules_ruleset_change", args=[rule_set.pk]))
        messages.success(request, f"已创建草稿 v{draft.number}。")
        return HttpResponseRedirect(reverse("admin:riskrules_ruleversion_change", args=[draft.pk]))


def _confirm(model_admin, request, obj, title: str, description: str, *, extra_fields: str = ""):
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "object": obj,
        "description": description,
        "opts": model_admin.model._meta,
        "extra_fields": extra_fields,
    }
    return TemplateResponse(request, "riskrules/admin/confirm.html", context)


# --- versions -----------------------------------------------------------------------------------


class VersionForm(forms.ModelForm):
    content = PrettyJSONField(label="JDM 内容 content", widget=forms.Textarea(attrs={"rows": 24, "class": "font-mono text-xs"}))
    test_cases_json = PrettyJSONField(
        label="测试用例 test cases",
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "class": "font-mono text-xs"}),
        help_text='[{"name": "…", "inputs": {变量: 值}, "expected": {"outcome": "approve", "reasons": […], "amount_fen": …}}]',
    )

    class Meta:
        model = RuleVersion
        fields = ["rule_set", "change_note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["content"].initial = self.instance.content
            self.fields["test_cases_json"].initial = [
                {"name": case.name, "inputs": case.inputs, "expected": case.expected} for case in self.instance.test_cases.all()
            ]
            self.fields.pop("rule_set", None)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        cases = data.get("test_cases_json") or []
        if not isinstance(cases, list):
            raise forms.ValidationError("测试用例须为 JSON 数组。")
        rule_set = self.instance.rule_set if self.instance.pk else data.get("rule_set")
        try:
            version_services._clean_cases(cases)
            version_services.validate(
                content=data.get("content"), test_cases=cases, max_reasons=rule_set.max_reasons if rule_set else 3
            )
        except ApplicationError as exc:
            raise forms.ValidationError(_guard_errors(exc)) from None
        return data


@admin.register(RuleVersion)
class RuleVersionAdmin(ModelAdmin):
    form = VersionForm
    list_display = ["rule_set", "number", "status", "short_hash", "author", "approver", "tests", "effective_from", "published_at"]
    list_filter = ["status", "rule_set__kind", "rule_set__product_code"]
    search_fields = ["rule_set__code", "content_hash"]
    list_select_related = ["rule_set", "author", "approver"]
    list_per_page = 50
    show_full_result_count = False
    actions_detail = [
        "edit_tables",
        "run_tests",
        {
            "title": "流程 workflow",
            "items": ["submit_version", "send_back_version", "approve_version", "publish_version", "retire_version"],
        },
        "copy_version",
        "diff_version",
        "simulate_version",
    ]

    def get_queryset(self, request):
        queryset = selectors.version_list_for_staff(request.user)
        if request.resolver_match and request.resolver_match.url_name == "riskrules_ruleversion_changelist":
            queryset = queryset.defer(*selectors.VERSION_HEAVY_FIELDS[1:])
        return queryset

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["rule_set", "change_note", "content", "test_cases_json"]
        if obj.is_editable and self.has_change_permission(request, obj):
            return [
                "status",
                "short_hash",
                "author",
                "parent",
                "change_note",
                "validation",
                "test_cases_table",
                "content",
                "test_cases_json",
            ]
        return [
            "status",
            "short_hash",
            "content_hash",
            "engine_version",
            "author",
            "approver",
            "parent",
            "effective_from",
            "effective_to",
            "submitted_at",
            "approved_at",
            "published_at",
            "change_note",
            "input_variables",
            "test_summary",
            "test_cases_table",
            "content_pretty",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        editable = (
            {"change_note", "content", "test_cases_json"}
            if obj.is_editable and self.has_change_permission(request, obj)
            else set()
        )
        return [f for f in self.get_fields(request, obj) if f not in editable]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and not (obj.is_editable and self.has_change_permission(request, obj)):
            kwargs["form"] = forms.ModelForm
            kwargs["fields"] = []
        else:
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "rule_set":
            queryset = selectors.ruleset_list_for_staff(request.user)
            if not _is_province(request):
                queryset = queryset.filter(institution__isnull=False)
            kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.rule_set.institution_id is None and not _is_province(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="测试")
    def tests(self, obj):
        report = obj.test_report or {}
        if not report:
            return "—"
        return f"{report.get('passed', 0)}/{report.get('total', 0)}"

    @admin.display(description="测试结果 tests")
    def test_summary(self, obj):
        report = obj.test_report or {}
        return format_html(
            "{} / {} 通过（{}）", report.get("passed", 0), report.get("total", 0), (report.get("ran_at") or "")[:19]
        )

    @admin.display(description="校验 validation")
    def validation(self, obj):
        return "通过 guard-rails OK" if (obj.validation_report or {}).get("ok") else "—"

    @admin.display(description="JDM 内容")
    def content_pretty(self, obj):
        return format_html(
            '<pre class="text-xs overflow-auto" style="max-height:40em">{}</pre>',
            json.dumps(obj.content, ensure_ascii=False, indent=2),
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        staff = _staff(request)
        if change:
            updated = version_services.version_update(
                version_id=obj.pk,
                actor=staff,
                content=data["content"],
                test_cases=data.get("test_cases_json") or [],
                change_note=data.get("change_note", ""),
            )
        else:
            updated = version_services.version_create(
                rule_set=data["rule_set"],
                content=data["content"],
                author=staff,
                change_note=data.get("change_note", ""),
                test_cases=data.get("test_cases_json") or [],
            )
        obj.pk = updated.pk
        obj.__dict__.update({k: v for k, v in updated.__dict__.items() if not k.startswith("_") and k != "status"})

    def save_related(self, request, form, formsets, change):
        return None  # test cases are written by the services together with the content

    @admin.display(description="测试用例 test cases")
    def test_cases_table(self, obj):
        results = {case["name"]: case for case in (obj.test_report or {}).get("cases", [])}
        rows = format_html_join(
            "",
            "<tr><td class='pr-4'>{}</td><td class='pr-4'><code>{}</code></td><td class='pr-4'><code>{}</code></td><td>{}</td></tr>",
            (
                (
                    case.name,
                    json.dumps(case.inputs, ensure_ascii=False),
                    json.dumps(case.expected, ensure_ascii=False),
                    "✔" if results.get(case.name, {}).get("passed") else ("✘" if case.name in results else "—"),
                )
                for case in obj.test_cases.all()
            ),
        )
        return format_html('<table class="text-xs">{}</table>', rows) if rows else "—"

    # -- helpers --
    def _version(self, request, object_id) -> RuleVersion:
        return get_object_or_404(self.get_queryset(request), pk=object_id)

    def _back(self, version):
        return HttpResponseRedirect(reverse("admin:riskrules_ruleversion_change", args=[version.pk]))

    def _transition_view(self, request, object_id, *, title, description, service, success, perm="change", **extra):
        version = self._version(request, object_id)
        if perm == "change" and not self.has_change_permission(request, version):
            raise PermissionDenied
        if request.method != "POST":
            return _confirm(self, request, version, title, description)
        try:
            service(version_id=version.pk, actor=_staff(request), comment=request.POST.get("comment", ""), **extra)
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
        else:
            messages.success(request, success)
        return self._back(version)

    @action(description="提交复核 submit", url_path="submit")
    def submit_version(self, request, object_id):
        return self._transition_view(
            request,
            object_id,
            title="提交复核",
            description="提交前会重新运行全部测试用例。",
            service=version_services.version_submit,
            success="已提交复核。",
        )

    @action(description="退回修改 send back", url_path="send-back")
    def send_back_version(self, request, object_id):
        return self._transition_view(
            request,
            object_id,
            title="退回草稿",
            description="退回后起草人可继续修改。",
            service=version_services.version_send_back,
            success="已退回草稿。",
        )

    @action(description="复核通过 approve", url_path="approve")
    def approve_version(self, request, object_id):
        return self._transition_view(
            request,
            object_id,
            title="复核通过",
            description="复核人不能是起草人；复核前会重新运行测试用例。",
            service=version_services.version_approve,
            success="已复核通过。",
        )

    @action(description="发布为冠军版本 publish", url_path="publish")
    def publish_version(self, request, object_id):
        version = self._version(request, object_id)
        if not self.has_change_permission(request, version):
            raise PermissionDenied
        if request.method != "POST":
            return _confirm(self, request, version, "发布", "发布后该版本成为默认渠道的冠军版本，原冠军版本停用。")
        try:
            version_services.version_publish(
                version_id=version.pk, actor=_staff(request), comment=request.POST.get("comment", "")
            )
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
        else:
            messages.success(request, "已发布。")
        return self._back(version)

    @action(description="停用 retire", url_path="retire")
    def retire_version(self, request, object_id):
        return self._transition_view(
            request,
            object_id,
            title="停用版本",
            description="停用后该版本不再用于决策（历史决策仍可重放）。",
            service=version_services.version_retire,
            success="已停用。",
        )

    @action(description="复制为新草稿 copy", url_path="copy")
    def copy_version(self, request, object_id):
        version = self._version(request, object_id)
        if not request.user.has_perm("riskrules.add_ruleversion") or (
            version.rule_set.institution_id is None and not _is_province(request)
        ):
            raise PermissionDenied
        if request.method != "POST":
            return _confirm(self, request, version, "复制为新草稿", "复制内容与测试用例；新草稿的来源版本为本版本。")
        try:
            draft = version_services.version_copy(
                version_id=version.pk, author=_staff(request), change_note=request.POST.get("comment", "")
            )
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
            return self._back(version)
        messages.success(request, f"已创建草稿 v{draft.number}。")
        return self._back(draft)

    @action(description="运行测试 run tests", url_path="tests")
    def run_tests(self, request, object_id):
        version = self._version(request, object_id)
        try:
            report = version_services.version_run_tests(version_id=version.pk)
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
            return self._back(version)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{version} 测试结果",
            "version": version,
            "report": report,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "riskrules/admin/test_report.html", context)

    @action(description="比较版本 diff", url_path="diff")
    def diff_version(self, request, object_id):
        version = self._version(request, object_id)
        others = self.get_queryset(request).filter(rule_set=version.rule_set).exclude(pk=version.pk).order_by("-number")
        against_id = request.GET.get("against") or (version.parent_id if version.parent_id else None)
        against = others.filter(pk=against_id).first() if against_id else others.first()
        diff = diff_versions(against.content, version.content) if against else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{version} 版本比对",
            "version": version,
            "against": against,
            "others": others.defer(*selectors.VERSION_HEAVY_FIELDS),
            "diff": diff,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "riskrules/admin/diff.html", context)

    @action(description="模拟 simulate", url_path="simulate")
    def simulate_version(self, request, object_id):
        version = self._version(request, object_id)
        return HttpResponseRedirect(reverse("admin:riskrules_simulation_add") + f"?candidate={version.pk}")

    @action(description="编辑决策表 tables", url_path="tables")
    def edit_tables(self, request, object_id):
        version = self._version(request, object_id)
        tables = [
            {
                "id": n["id"],
                "name": n.get("name", ""),
                "rows": len(n.get("content", {}).get("rules", [])),
                "hit_policy": n["content"].get("hitPolicy"),
            }
            for n in version.content.get("nodes", [])
            if n.get("type") == "decisionTableNode"
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": f"{version} 决策表",
            "version": version,
            "tables": tables,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "riskrules/admin/tables.html", context)

    def get_urls(self):
        extra = [
            path(
                "<int:object_id>/tables/<str:node_id>/",
                self.admin_site.admin_view(self.table_view),
                name="riskrules_ruleversion_table",
            ),
            path(
                "<int:object_id>/tables/<str:node_id>/export/",
                self.admin_site.admin_view(self.table_export_view),
                name="riskrules_ruleversion_table_export",
            ),
        ]
        return extra + super().get_urls()

    def table_view(self, request, object_id, node_id):
        version = self._version(request, object_id)
        try:
            node, rows = version_services.table_rows(version.content, node_id)
        except ApplicationError:
            raise Http404 from None
        columns = [("in", c) for c in node["content"].get("inputs", [])] + [
            ("out", c) for c in node["content"].get("outputs", [])
        ]
        editable = version.is_editable and self.has_change_permission(request, version)
        form_class = _row_form_class(columns)
        RowFormSet = forms.formset_factory(form_class, extra=2 if editable else 0, can_delete=editable, can_order=editable)
        errors: list[str] = []
        if request.method == "POST" and editable:
            if request.FILES.get("xlsx"):
                try:
                    new_rows = table_from_xlsx(request.FILES["xlsx"].read(), node)
                    version_services.version_update_table(
                        version_id=version.pk, node_id=node_id, rows=new_rows, actor=_staff(request)
                    )
                except ApplicationError as exc:
                    errors = _guard_errors(exc)
                else:
                    messages.success(request, "已从 Excel 导入并通过校验。")
                    return HttpResponseRedirect(request.path)
                formset = RowFormSet(initial=_initial_rows(rows, columns), prefix="rows")
            else:
                formset = RowFormSet(request.POST, prefix="rows")
                if formset.is_valid():
                    kept = (
                        [f for f in formset.ordered_forms if not f.cleaned_data.get("DELETE")]
                        if formset.can_order
                        else formset.forms
                    )
                    kept += [f for f in formset.forms if f not in kept and f.cleaned_data and not f.cleaned_data.get("DELETE")]
                    new_rows = []
                    for form in kept:
                        data = form.cleaned_data
                        if not data or not any(str(v).strip() for k, v in data.items() if k not in ("ORDER", "DELETE", "_id")):
                            continue
                        new_rows.append(
                            {
                                "_id": data.get("_id", ""),
                                "_description": data.get("_description", ""),
                                **{c["id"]: data.get(f"c_{c['id']}", "") for _kind, c in columns},
                            }
                        )
                    try:
                        version_services.version_update_table(
                            version_id=version.pk, node_id=node_id, rows=new_rows, actor=_staff(request)
                        )
                    except ApplicationError as exc:
                        errors = _guard_errors(exc)
                    else:
                        messages.success(request, "决策表已保存并通过校验与测试。")
                        return HttpResponseRedirect(request.path)
        else:
            formset = RowFormSet(initial=_initial_rows(rows, columns), prefix="rows")
        context = {
            **self.admin_site.each_context(request),
            "title": f"{version} · {node.get('name', node_id)}",
            "version": version,
            "node": node,
            "columns": columns,
            "formset": formset,
            "editable": editable,
            "errors": errors,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "riskrules/admin/table_edit.html", context)

    def table_export_view(self, request, object_id, node_id):
        version = self._version(request, object_id)
        try:
            node, _rows = version_services.table_rows(version.content, node_id)
        except ApplicationError:
            raise Http404 from None
        data = table_to_xlsx(node)
        response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="{version.rule_set.code}_v{version.number}_{node_id}.xlsx"'
        return response


def _initial_rows(rows, columns):
    return [
        {
            "_id": row.get("_id", ""),
            "_description": row.get("_description", ""),
            **{f"c_{c['id']}": row.get(c["id"], "") for _k, c in columns},
        }
        for row in rows
    ]


def _row_form_class(columns):
    fields = {
        "_id": forms.CharField(label="行ID", required=False, max_length=60, widget=forms.TextInput(attrs={"size": 8})),
        "_description": forms.CharField(label="说明", required=False, max_length=200, widget=forms.TextInput(attrs={"size": 16})),
    }
    for kind, column in columns:
        label = f"{'条件' if kind == 'in' else '输出'}：{column.get('name') or column.get('field')}"
        fields[f"c_{column['id']}"] = forms.CharField(
            label=label, required=False, max_length=500, widget=forms.TextInput(attrs={"size": 14})
        )
    return type("RowForm", (forms.Form,), fields)


# --- deployments ----------------------------------------------------------------------------------


class ChallengerForm(forms.Form):
    challenger = forms.ModelChoiceField(queryset=RuleVersion.objects.none(), required=False, label="挑战者版本（留空取消）")
    percent = forms.IntegerField(min_value=0, max_value=100, initial=10, label="挑战者比例%")
    mode = forms.ChoiceField(choices=Deployment.Mode.choices, label="模式")


@admin.register(Deployment)
class DeploymentAdmin(ScopedModelAdmin):
    list_display = [
        "rule_set",
        "channel",
        "champion_label",
        "challenger_label",
        "challenger_percent",
        "mode",
        "effective_mode",
        "updated_at",
    ]
    list_filter = ["mode", "channel"]
    search_fields = ["rule_set__code"]
    readonly_fields = [
        "rule_set",
        "channel",
        "champion",
        "challenger",
        "challenger_percent",
        "mode",
        "salt",
        "split_requested_by",
        "split_approved_by",
        "updated_by",
        "updated_at",
    ]
    actions_detail = ["set_challenger", "approve_split"]

    def get_queryset(self, request):
        return selectors.deployment_list_for_staff(request.user)

    @admin.display(description="冠军")
    def champion_label(self, obj):
        return f"v{obj.champion.number}"

    @admin.display(description="挑战者")
    def challenger_label(self, obj):
        return f"v{obj.challenger.number}" if obj.challenger_id else "—"

    @admin.display(description="生效模式")
    def effective_mode(self, obj):
        return obj.get_mode_display() if obj.effective_mode == obj.mode else "影子（分流待复核）"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _can_manage(self, request, deployment) -> bool:
        return request.user.has_perm("riskrules.change_deployment") and (
            deployment.rule_set.institution_id is not None or _is_province(request)
        )

    @action(description="设置挑战者 set challenger", url_path="challenger")
    def set_challenger(self, request, object_id):
        deployment = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self._can_manage(request, deployment):
            raise PermissionDenied
        form = ChallengerForm(
            request.POST or None,
            initial={"challenger": deployment.challenger_id, "percent": deployment.challenger_percent, "mode": deployment.mode},
        )
        form.fields["challenger"].queryset = (
            RuleVersion.objects.filter(rule_set=deployment.rule_set, status__in=["approved", "published"])
            .exclude(pk=deployment.champion_id)
            .defer(*selectors.VERSION_HEAVY_FIELDS)
        )
        if request.method == "POST" and form.is_valid():
            challenger = form.cleaned_data["challenger"]
            try:
                version_services.deployment_set_challenger(
                    rule_set=deployment.rule_set,
                    channel=deployment.channel,
                    challenger_id=challenger.pk if challenger else None,
                    percent=form.cleaned_data["percent"],
                    mode=form.cleaned_data["mode"],
                    actor=_staff(request),
                )
            except ApplicationError as exc:
                messages.error(request, exc.message_zh)
            else:
                messages.success(request, "已更新挑战者设置；分流模式须另一位风险管理员复核后生效。")
                return HttpResponseRedirect(reverse("admin:riskrules_deployment_change", args=[deployment.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{deployment} 挑战者",
            "form": form,
            "object": deployment,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "riskrules/admin/form.html", context)

    @action(description="复核分流 approve split", url_path="approve-split")
    def approve_split(self, request, object_id):
        deployment = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self._can_manage(request, deployment):
            raise PermissionDenied
        if request.method != "POST":
            return _confirm(self, request, deployment, "复核分流", "通过后挑战者组的决策将生效（分流）。申请人不能复核。")
        try:
            version_services.deployment_approve_split(deployment_id=deployment.pk, actor=_staff(request))
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
        else:
            messages.success(request, "分流已生效。")
        return HttpResponseRedirect(reverse("admin:riskrules_deployment_change", args=[deployment.pk]))


# --- decisions ------------------------------------------------------------------------------------


@admin.register(DecisionRecord)
class DecisionRecordAdmin(ModelAdmin):
    list_display = [
        "id",
        "rule_set",
        "version_label",
        "subject_kind",
        "subject_id",
        "outcome",
        "grade",
        "amount",
        "rate",
        "mode",
        "arm",
        "decision_date",
        "latency_us",
        "created_at",
    ]
    list_filter = ["mode", "arm", "outcome", "rule_set__kind", "decision_date"]
    search_fields = ["subject_id", "rule_set__code"]
    list_per_page = 50
    show_full_result_count = False
    actions_detail = ["replay"]
    fields = [
        "rule_set",
        "version_label",
        "version_hash",
        "engine_version",
        "subject_kind",
        "subject_id",
        "customer",
        "institution",
        "channel",
        "mode",
        "arm",
        "correlation_id",
        "decision_date",
        "outcome",
        "grade",
        "amount",
        "rate",
        "reason_list",
        "explanation_html",
        "inputs_html",
        "missing",
        "outputs_html",
        "error",
        "latency_us",
        "source",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.decisions_for_staff(request.user).select_related("customer")

    @admin.display(description="版本")
    def version_label(self, obj):
        return f"v{obj.version.number} ({obj.version_hash[:12]})"

    @admin.display(description="原因 reasons")
    def reason_list(self, obj):
        return format_html_join("", "<div><code>{}</code> {}</div>", ((code, text) for code, text in obj.reasons)) or "—"

    @admin.display(description="解释 explanation")
    def explanation_html(self, obj):
        from django.template.loader import render_to_string

        return render_to_string("riskrules/admin/explanation.html", {"nodes": obj.explanation})

    @admin.display(description="输入快照 inputs")
    def inputs_html(self, obj):
        return format_html('<pre class="text-xs">{}</pre>', json.dumps(obj.input_snapshot, ensure_ascii=False, indent=2))

    @admin.display(description="输出 outputs")
    def outputs_html(self, obj):
        return format_html('<pre class="text-xs">{}</pre>', json.dumps(obj.outputs, ensure_ascii=False, indent=2))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @action(description="重放核对 replay", url_path="replay")
    def replay(self, request, object_id):
        record = get_object_or_404(self.get_queryset(request), pk=object_id)
        result = decision_services.decision_replay(decision_id=record.pk, strict=False)
        if result.identical:
            messages.success(request, "重放结果与记录一致。")
        else:
            messages.error(request, f"重放结果不一致：{json.dumps(result.differences, ensure_ascii=False)[:500]}")
        return HttpResponseRedirect(reverse("admin:riskrules_decisionrecord_change", args=[record.pk]))


# --- lists ----------------------------------------------------------------------------------------


class ListEntryForm(forms.ModelForm):
    key_value = forms.CharField(label="键值（身份证号/手机号/设备号/营业执照号）", max_length=64)

    class Meta:
        model = ListEntry
        fields = ["institution", "list_kind", "key_type", "key_value", "reason_code", "source", "valid_from", "valid_to", "note"]


class ImportForm(forms.Form):
    file = forms.FileField(label="名单文件（.xlsx 或 .csv）")


@admin.register(ListEntry)
class ListEntryAdmin(ScopedModelAdmin):
    list_display = [
        "id",
        "list_kind",
        "key_type",
        "key_masked",
        "reason_code",
        "source",
        "scope_label",
        "valid_from",
        "valid_to",
        "status",
        "maker",
        "checker",
    ]
    list_filter = ["list_kind", "status", "source", "key_type"]
    search_fields = ["reason_code", "note"]
    search_help_text = "输入完整身份证号或手机号精确查找（盲索引）"
    actions = ["approve_entries", "reject_entries", "revoke_entries"]
    actions_list = ["import_entries"]

    def get_queryset(self, request):
        return selectors.list_entries_for_staff(request.user)

    def get_search_results(self, request, queryset, search_term):
        from riskrules.features import key_index

        term = (search_term or "").strip()
        if not term:
            return queryset, False
        indexes = set()
        for key_type in ("id_number", "mobile", "device", "business_licence"):
            with contextlib.suppress(Exception):  # not a valid key of this type
                indexes.add(key_index(key_type, term))
        return queryset.filter(Q(key_index__in=indexes) | Q(reason_code=term.upper())), False

    @admin.display(description="范围")
    def scope_label(self, obj):
        return obj.institution.short_name or obj.institution.name if obj.institution_id else "全省"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ListEntryForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ListEntryForm.Meta.fields
        return [
            "institution",
            "list_kind",
            "key_type",
            "key_masked",
            "reason_code",
            "source",
            "valid_from",
            "valid_to",
            "note",
            "status",
            "maker",
            "checker",
            "checked_at",
            "import_batch",
            "created_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) if obj is None else False

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "institution":
            kwargs["queryset"] = scoped_choices(db_field.remote_field.model, request.user)
            kwargs["required"] = not _is_province(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = list_services.list_entry_create(
            maker=_staff(request),
            list_kind=data["list_kind"],
            key_type=data["key_type"],
            key_value=data["key_value"],
            reason_code=data["reason_code"],
            source=data["source"],
            valid_from=data["valid_from"],
            valid_to=data.get("valid_to"),
            note=data.get("note", ""),
            institution=data.get("institution"),
        )
        obj.pk = created.pk

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
            return HttpResponseRedirect(request.get_full_path())

    def _check(self, request, queryset, approve: bool):
        done, failed = 0, []
        for entry_id in queryset.values_list("id", flat=True):
            try:
                list_services.list_entry_check(entry_id=entry_id, checker=_staff(request), approve=approve)
                done += 1
            except ApplicationError as exc:
                failed.append(f"#{entry_id}: {exc.message_zh}")
        if done:
            messages.success(request, f"已复核 {done} 条。")
        for failure in failed[:10]:
            messages.error(request, failure)

    @admin.action(description="复核通过所选条目 approve", permissions=["change"])
    def approve_entries(self, request, queryset):
        self._check(request, queryset, True)

    @admin.action(description="复核拒绝所选条目 reject", permissions=["change"])
    def reject_entries(self, request, queryset):
        self._check(request, queryset, False)

    @admin.action(description="撤销所选条目 revoke", permissions=["change"])
    def revoke_entries(self, request, queryset):
        for entry_id in queryset.values_list("id", flat=True):
            try:
                list_services.list_entry_revoke(entry_id=entry_id, actor=_staff(request))
            except ApplicationError as exc:
                messages.error(request, f"#{entry_id}: {exc.message_zh}")

    @action(description="批量导入 import", url_path="import")
    def import_entries(self, request):
        if not request.user.has_perm("riskrules.add_listentry"):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            staff = _staff(request)
            try:
                batch = list_services.list_import_preview(
                    uploaded_by=staff, file_name=upload.name, data=upload.read(), institution=staff.institution
                )
            except ApplicationError as exc:
                messages.error(request, exc.message_zh)
            else:
                return HttpResponseRedirect(reverse("admin:riskrules_listimport_change", args=[batch.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "名单批量导入",
            "form": form,
            "opts": self.model._meta,
            "multipart": True,
            "help": "列：list_kind(black/white/grey)、key_type(id_number/mobile/device/business_licence)、key_value、reason_code、source、valid_from、valid_to、note",
        }
        return TemplateResponse(request, "riskrules/admin/form.html", context)


@admin.register(ListImport)
class ListImportAdmin(ScopedModelAdmin):
    list_display = ["id", "file_name", "status", "accepted_count", "rejected_count", "uploaded_by", "created_at", "committed_at"]
    list_filter = ["status"]

    def get_queryset(self, request):
        return ListImport.objects.visible_to(request.user).select_related("uploaded_by")

    @admin.display(description="可导入")
    def accepted_count(self, obj):
        return len(obj.accepted)

    @admin.display(description="被拒绝")
    def rejected_count(self, obj):
        return len(obj.rejected)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = get_object_or_404(self.get_queryset(request), pk=object_id)
        if request.GET.get("report") == "csv":
            response = HttpResponse(list_services.rejected_rows_csv(batch), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="list_import_{batch.pk}_rejected.csv"'
            return response
        if request.method == "POST":
            staff = _staff(request)
            try:
                if "commit" in request.POST:
                    list_services.list_import_commit(import_id=batch.pk, actor=staff)
                    messages.success(request, "已导入为待复核条目，须另一位风险管理员复核后生效。")
                elif "discard" in request.POST:
                    list_services.list_import_discard(import_id=batch.pk, actor=staff)
                    messages.info(request, "已放弃本次导入。")
                elif "check_all" in request.POST:
                    count = list_services.list_import_check_all(import_id=batch.pk, checker=staff)
                    messages.success(request, f"已复核 {count} 条。")
            except ApplicationError as exc:
                messages.error(request, exc.message_zh)
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": f"名单导入 #{batch.pk}",
            "batch": batch,
            "opts": self.model._meta,
            "pending": batch.entries.filter(status=ListEntry.Status.PENDING).count(),
        }
        return TemplateResponse(request, "riskrules/admin/list_import.html", context)


# --- simulations ----------------------------------------------------------------------------------


class SimulationForm(forms.ModelForm):
    upload = forms.FileField(label="样本文件（可选，.csv/.xlsx，列为变量代码）", required=False)

    class Meta:
        model = Simulation
        fields = ["name", "candidate", "date_from", "date_to", "record_decisions"]

    def clean(self):
        data = super().clean()
        if not data.get("upload") and not (data.get("date_from") and data.get("date_to")):
            raise forms.ValidationError("请选择历史决策日期范围，或上传样本文件。")
        return data


@admin.register(Simulation)
class SimulationAdmin(ModelAdmin):
    form = SimulationForm
    list_display = [
        "id",
        "name",
        "rule_set",
        "candidate_label",
        "champion_label",
        "population",
        "status",
        "progress",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "population"]
    list_select_related = ["rule_set", "candidate", "champion", "job_run", "created_by"]

    def get_queryset(self, request):
        queryset = Simulation.objects.select_related("rule_set", "candidate", "champion", "job_run", "created_by").defer(
            "uploaded_rows",
            "partial",
            *(f"candidate__{f}" for f in selectors.VERSION_HEAVY_FIELDS),
            *(f"champion__{f}" for f in selectors.VERSION_HEAVY_FIELDS),
        )
        scope = scope_for(request.user)
        if scope.level == "all":
            return queryset
        return queryset.filter(Q(rule_set__institution__isnull=True) | Q(rule_set__institution_id=scope.institution_id))

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if request.GET.get("candidate"):
            initial["candidate"] = request.GET["candidate"]
        return initial

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "candidate":
            kwargs["queryset"] = selectors.version_list_for_staff(request.user).defer(*selectors.VERSION_HEAVY_FIELDS)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="候选")
    def candidate_label(self, obj):
        return f"v{obj.candidate.number}"

    @admin.display(description="冠军")
    def champion_label(self, obj):
        return f"v{obj.champion.number}" if obj.champion_id else "—"

    @admin.display(description="进度")
    def progress(self, obj):
        percent = obj.job_run.progress_percent if obj.job_run_id else 0
        return format_html('<progress max="100" value="{}" style="width:6em"></progress> {}%', percent, percent)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        upload = data.get("upload")
        created = simulation_services.simulation_create(
            name=data["name"],
            candidate_id=data["candidate"].pk,
            created_by=_staff(request),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            upload=(upload.name, upload.read()) if upload else None,
            record_decisions=data.get("record_decisions", False),
        )
        obj.pk = created.pk

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
            return HttpResponseRedirect(request.get_full_path())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        simulation = get_object_or_404(self.get_queryset(request), pk=object_id)
        if request.GET.get("download") == "csv":
            response = HttpResponse(simulation_services.simulation_cases_csv(simulation), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="simulation_{simulation.pk}_changed.csv"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": f"模拟 #{simulation.pk} {simulation.name}",
            "simulation": simulation,
            "report": simulation.report,
            "opts": self.model._meta,
            "cases": simulation.cases.order_by("row_no")[:50],
        }
        return TemplateResponse(request, "riskrules/admin/simulation.html", context)


# --- monitoring -----------------------------------------------------------------------------------


@admin.register(RuleHitDaily)
class RuleHitDailyAdmin(ModelAdmin):
    list_display = [
        "day",
        "rule_set",
        "version_label",
        "node_id",
        "row_id",
        "description",
        "hits",
        "decisions",
        "rate_percent",
        "baseline_percent",
        "flag",
        "trend",
    ]
    list_filter = ["flagged", "day", "rule_set__kind"]
    search_fields = ["rule_set__code", "node_id", "row_id"]
    list_select_related = ["rule_set", "version"]
    list_per_page = 100
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = RuleHitDaily.objects.select_related("rule_set", "version").defer(
            *(f"version__{f}" for f in selectors.VERSION_HEAVY_FIELDS)
        )
        scope = scope_for(request.user)
        if scope.level == "all":
            return queryset
        return queryset.filter(Q(rule_set__institution__isnull=True) | Q(rule_set__institution_id=scope.institution_id))

    @admin.display(description="版本")
    def version_label(self, obj):
        return f"v{obj.version.number}"

    @admin.display(description="命中率")
    def rate_percent(self, obj):
        return f"{obj.rate * 100:.2f}%"

    @admin.display(description="前7日均值")
    def baseline_percent(self, obj):
        return f"{obj.baseline_rate * 100:.2f}%" if obj.baseline_rate is not None else "—"

    @admin.display(description="翻倍", boolean=True)
    def flag(self, obj):
        return obj.flagged

    @admin.display(description="趋势")
    def trend(self, obj):
        url = reverse("admin:riskrules_rulehitdaily_trend") + f"?rule_set={obj.rule_set_id}&node={obj.node_id}&row={obj.row_id}"
        return format_html('<a href="{}">趋势</a>', url)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("trend/", self.admin_site.admin_view(self.trend_view), name="riskrules_rulehitdaily_trend"),
            *super().get_urls(),
        ]

    def trend_view(self, request):
        rows = list(
            self.get_queryset(request)
            .filter(
                rule_set_id=request.GET.get("rule_set") or 0,
                node_id=request.GET.get("node", ""),
                row_id=request.GET.get("row", ""),
            )
            .order_by("-day")[:60]
        )
        peak = max((r.rate for r in rows), default=0) or 1
        series = [{"row": r, "width": int(r.rate / peak * 100)} for r in reversed(rows)]
        context = {
            **self.admin_site.each_context(request),
            "title": "规则命中趋势",
            "series": series,
            "opts": self.model._meta,
            "first": rows[0] if rows else None,
        }
        return TemplateResponse(request, "riskrules/admin/hit_trend.html", context)
