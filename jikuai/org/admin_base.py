"""Admin base classes: every list, form choice and object URL goes through the scoping mechanism."""

from django.contrib import admin
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin

from jikuai.org.scoping import scope_queryset


class ScopedModelAdmin(SimpleHistoryAdmin, ModelAdmin):
    """Rows, foreign-key choices and detail URLs limited to what the staff member may see.

    An object outside the scope is simply not in the queryset, so its change URL answers 404.
    """

    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Outside the scope and nonexistent look the same: a plain 404, never a hint that the row exists.
        raise Http404("未找到 / not found")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if getattr(related, "scope", None) is not None or related._meta.label in ("org.Institution", "org.Branch", "org.Staff"):
            kwargs["queryset"] = scoped_choices(related, request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def scoped_choices(model, user):
    from jikuai.org.models import Branch, Institution, Staff
    from jikuai.org.scoping import scope_for

    scope = scope_for(user)
    qs = model._default_manager.all()
    if scope.level == "all":
        return qs
    if model is Institution:
        return qs.filter(pk=scope.institution_id)
    if model is Branch:
        qs = qs.filter(institution_id=scope.institution_id)
        return qs.filter(pk=scope.branch_id) if scope.level in ("branch", "assigned") and scope.branch_id else qs
    if model is Staff:
        qs = qs.filter(institution_id=scope.institution_id)
        return qs.filter(branch_id=scope.branch_id) if scope.level in ("branch", "assigned") and scope.branch_id else qs
    return scope_queryset(qs, user)


class ReadOnlyFinancialAdminMixin:
    """Financial records are never deleted from the admin."""

    def has_delete_permission(self, request, obj=None):
        return False


__all__ = ["ReadOnlyFinancialAdminMixin", "ScopedModelAdmin", "admin", "scoped_choices"]
