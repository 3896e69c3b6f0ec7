from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from simple_history.admin import SimpleHistoryAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminTextInputWidget

from jikuai.core.idnumber import parse_mobile
from jikuai.core.masking import mask_mobile
from jikuai.org.admin_base import ModelAdmin, ScopedModelAdmin, StackedInline
from jikuai.org.models import Branch, Institution, Staff, User
from jikuai.org.scoping import scope_for

admin.site.unregister(Group)


class StaffForm(forms.ModelForm):
    """The work mobile in a one-line input, stored normalised (``+86 138-…`` → ``138…``)."""

    class Meta:
        model = Staff
        fields = "__all__"  # noqa: DJ007  the admin's fieldsets decide what is shown
        widgets = {"mobile": UnfoldAdminTextInputWidget(attrs={"autocomplete": "off", "inputmode": "tel", "maxlength": 20})}

    def clean_mobile(self):
        mobile = self.cleaned_data.get("mobile") or ""
        return parse_mobile(mobile) if mobile.strip() else ""


class StaffInline(StackedInline):
    model = Staff
    form = StaffForm
    can_delete = False
    fk_name = "user"
    extra = 0


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin, BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    inlines = [StaffInline]
    list_display = ["username", "staff_name", "staff_institution", "is_active", "last_login"]
    list_select_related = ["staff", "staff__institution"]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("staff", "staff__institution")
        scope = scope_for(request.user)
        if scope.level == "all":
            return qs
        if scope.level == "institution":
            return qs.filter(staff__institution_id=scope.institution_id, is_superuser=False)
        return qs.filter(pk=request.user.pk)

    @admin.display(description="姓名")
    def staff_name(self, obj):
        return getattr(getattr(obj, "staff", None), "name", "")

    @admin.display(description="法人行社")
    def staff_institution(self, obj):
        staff = getattr(obj, "staff", None)
        return staff.institution if staff and staff.institution_id else "省联社"

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


@admin.register(Institution)
class InstitutionAdmin(ScopedModelAdmin):
    list_display = ["code", "name", "short_name", "region_code", "is_active"]
    search_fields = ["code", "name"]

    def get_queryset(self, request):
        qs = Institution.objects.all()
        scope = scope_for(request.user)
        return qs if scope.level == "all" else qs.filter(pk=scope.institution_id)


@admin.register(Branch)
class BranchAdmin(ScopedModelAdmin):
    list_display = ["code", "name", "institution", "region_code", "size_group", "is_active"]
    list_filter = ["institution", "is_active"]
    list_select_related = ["institution"]
    search_fields = ["code", "name"]

    def get_queryset(self, request):
        qs = Branch.objects.select_related("institution")
        scope = scope_for(request.user)
        if scope.level == "all":
            return qs
        qs = qs.filter(institution_id=scope.institution_id)
        return qs.filter(pk=scope.branch_id) if scope.level in ("branch", "assigned") else qs


@admin.register(Staff)
class StaffAdmin(ScopedModelAdmin):
    form = StaffForm
    list_display = ["employee_no", "name", "institution", "branch", "rank", "roles", "masked_mobile", "is_active"]
    list_filter = ["institution", "rank", "is_active"]
    list_select_related = ["institution", "branch", "user"]
    search_fields = ["employee_no", "name"]

    def get_queryset(self, request):
        qs = Staff.objects.select_related("institution", "branch", "user").prefetch_related("user__groups")
        scope = scope_for(request.user)
        if scope.level == "all":
            return qs
        qs = qs.filter(institution_id=scope.institution_id)
        return qs.filter(branch_id=scope.branch_id) if scope.level in ("branch", "assigned") else qs

    @admin.display(description="角色 roles")
    def roles(self, obj):
        return "、".join(group.name for group in obj.user.groups.all())

    @admin.display(description="工作手机 work mobile")
    def masked_mobile(self, obj):
        return mask_mobile(obj.mobile)
