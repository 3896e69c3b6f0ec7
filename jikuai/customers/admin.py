from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from jikuai.core.exceptions import ApplicationError
from jikuai.core.idnumber import parse_id_number, parse_mobile
from jikuai.customers import services
from jikuai.customers.models import Consent, Customer, Household, HouseholdMember, PiiAccessLog, Region
from jikuai.org.admin_base import ModelAdmin, ScopedModelAdmin, TabularInline, scoped_choices


@admin.register(Region)
class RegionAdmin(ModelAdmin):
    list_display = ["code", "name", "level", "parent", "is_demo"]
    list_filter = ["level", "is_demo"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]


class CustomerAddForm(forms.ModelForm):
    id_number_input = forms.CharField(label="身份证号", max_length=20)
    mobile_input = forms.CharField(label="手机号", max_length=20)
    address_input = forms.CharField(label="地址", max_length=200, required=False)

    class Meta:
        model = Customer
        fields = ["institution", "branch", "account_manager", "name", "region", "occupation", "employer", "monthly_income"]

    def clean_id_number_input(self):
        try:
            return parse_id_number(self.cleaned_data["id_number_input"]).number
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc

    def clean_mobile_input(self):
        try:
            return parse_mobile(self.cleaned_data["mobile_input"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc

    def clean(self):
        data = super().clean()
        institution, id_number = data.get("institution"), data.get("id_number_input")
        if (
            institution
            and id_number
            and services.customer_find_by_id_number(institution=institution, id_number=id_number).exists()
        ):
            self.add_error("id_number_input", "该身份证号码已在本机构登记。")
        branch = data.get("branch")
        if institution and branch and branch.institution_id != institution.pk:
            self.add_error("branch", "网点不属于该法人行社。")
        manager = data.get("account_manager")
        if institution and manager and manager.institution_id != institution.pk:
            self.add_error("account_manager", "客户经理不属于该法人行社。")
        return data


class ConsentInline(TabularInline):
    model = Consent
    extra = 0
    can_delete = False
    fields = ["purpose", "text_version", "granted_at", "channel", "withdrawn_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Customer)
class CustomerAdmin(ScopedModelAdmin):
    list_display = [
        "id",
        "masked_name",
        "masked_id_number",
        "masked_mobile",
        "institution",
        "branch",
        "account_manager",
        "occupation",
        "kyc_status",
        "channel",
        "created_at",
    ]
    list_filter = [("institution", admin.RelatedOnlyFieldListFilter), "kyc_status", "occupation", "channel", "is_demo"]
    list_select_related = ["institution", "branch", "account_manager"]
    search_fields = ["referral_code"]
    search_help_text = "输入完整身份证号或手机号精确查找（盲索引），或推荐码"
    readonly_fields = [
        "masked_id_number",
        "masked_mobile",
        "masked_address",
        "masked_bank_card",
        "gender",
        "birth_date",
        "referral_code",
        "kyc_status",
        "channel",
        "created_at",
        "full_pii_link",
    ]
    inlines = [ConsentInline]
    autocomplete_fields = ["region"]
    fieldsets = [
        (
            "身份信息",
            {
                "fields": [
                    "name",
                    "masked_id_number",
                    "gender",
                    "birth_date",
                    "masked_mobile",
                    "masked_address",
                    "masked_bank_card",
                    "full_pii_link",
                ]
            },
        ),
        ("归属", {"fields": ["institution", "branch", "account_manager", "region"]}),
        ("职业与收入", {"fields": ["occupation", "employer", "monthly_income"]}),
        ("状态", {"fields": ["kyc_status", "channel", "referral_code", "created_at"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        if len(term) == 18 or (len(term) == 18 and term[-1] in "xX"):
            return queryset.filter(id_number_index=services.id_number_index(term)), False
        if len(term) == 11 and term.isdigit():
            return queryset.filter(mobile_index=services.mobile_index(term)), False
        return queryset.filter(referral_code=term.upper()), False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CustomerAddForm
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
                            "account_manager",
                            "name",
                            "id_number_input",
                            "mobile_input",
                            "address_input",
                            "region",
                            "occupation",
                            "employer",
                            "monthly_income",
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
            created = services.customer_create(
                institution=data["institution"],
                branch=data.get("branch"),
                account_manager=data.get("account_manager"),
                name=data["name"],
                id_number=data["id_number_input"],
                mobile=data["mobile_input"],
                address=data.get("address_input", ""),
                region=data.get("region"),
                occupation=data["occupation"],
                employer=data.get("employer", ""),
                monthly_income=data.get("monthly_income") or 0,
                channel=Customer.Channel.FIELD,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message_zh)
            raise
        obj.pk = created.pk
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError as exc:
            messages.error(request, exc.message_zh)
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.get_full_path())

    @admin.display(description="姓名")
    def masked_name(self, obj):
        return obj.masked_name

    @admin.display(description="身份证号")
    def masked_id_number(self, obj):
        return obj.masked_id_number

    @admin.display(description="手机号")
    def masked_mobile(self, obj):
        return obj.masked_mobile

    @admin.display(description="地址")
    def masked_address(self, obj):
        return obj.masked_address

    @admin.display(description="银行卡")
    def masked_bank_card(self, obj):
        return obj.masked_bank_card

    @admin.display(description="完整信息")
    def full_pii_link(self, obj):
        if obj.pk is None:
            return ""
        return format_html(
            '<a href="{}">查看完整个人信息（将记录日志）</a>', reverse("admin:customers_customer_pii", args=[obj.pk])
        )

    def get_urls(self):
        return [
            path("<int:customer_id>/pii/", self.admin_site.admin_view(self.pii_view), name="customers_customer_pii"),
            *super().get_urls(),
        ]

    def pii_view(self, request, customer_id: int):
        customer = get_object_or_404(self.get_queryset(request), pk=customer_id)
        if not request.user.has_perm("customers.view_full_pii"):
            raise PermissionDenied
        PiiAccessLog.objects.create(
            user=request.user,
            customer=customer,
            fields="id_number,mobile,address,bank_card",
            reason=request.GET.get("reason", "")[:200],
            ip_address=request.META.get("REMOTE_ADDR"),
        )
        context = {
            **self.admin_site.each_context(request),
            "customer": customer,
            "title": "完整个人信息",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/customers/customer_pii.html", context)

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("institution", "branch", "account_manager"):
            kwargs["queryset"] = scoped_choices(db_field.remote_field.model, request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class HouseholdMemberInline(TabularInline):
    model = HouseholdMember
    extra = 0
    raw_id_fields = ["customer"]


@admin.register(Household)
class HouseholdAdmin(ScopedModelAdmin):
    list_display = ["household_no", "head", "village", "institution", "branch", "account_manager"]
    list_select_related = ["head", "village", "institution", "branch", "account_manager"]
    list_filter = ["institution"]
    search_fields = ["household_no"]
    raw_id_fields = ["head"]
    inlines = [HouseholdMemberInline]


@admin.register(Consent)
class ConsentAdmin(ScopedModelAdmin):
    list_display = ["customer", "purpose", "text_version", "granted_at", "channel", "withdrawn_at"]
    list_select_related = ["customer"]
    list_filter = ["purpose", "channel"]
    readonly_fields = ["customer", "purpose", "text_version", "granted_at", "channel", "ip_address", "withdrawn_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PiiAccessLog)
class PiiAccessLogAdmin(ModelAdmin):
    list_display = ["at", "user", "customer", "fields", "reason", "ip_address"]
    list_select_related = ["user", "customer"]
    readonly_fields = ["at", "user", "customer", "fields", "reason", "ip_address"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        from jikuai.org.scoping import scope_queryset

        visible = scope_queryset(Customer.objects.all(), request.user).values("pk")
        return super().get_queryset(request).filter(customer_id__in=visible)


from jikuai.customers.kyc import admin as kyc_admin  # noqa: E402,F401  (KYC admin lives with the KYC package)
