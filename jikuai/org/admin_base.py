"""Admin base classes: every list, form choice and object URL goes through the scoping mechanism, and every
money amount is shown with thousands separators.

Every admin of the platform derives from ``ModelAdmin`` / ``TabularInline`` / ``StackedInline`` here (not
unfold's directly; a test walks the admin registry to check it).
"""

from decimal import Decimal, InvalidOperation

from django.contrib import admin
from django.db import models
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin
from unfold import admin as unfold_admin

from jikuai.core.money import format_yuan
from jikuai.org.scoping import scope_queryset


def is_money_field(field) -> bool:
    """Amounts in yuan are ``DecimalField(max_digits=18 or 20, decimal_places=2)`` in every app (lending's
    ``MONEY`` / ``BIG_MONEY``). Rates, shares, multipliers and scores have other places or at most 9 digits
    (e.g. ``Loan.apr`` is (7, 2)) and keep Django's plain display."""
    return isinstance(field, models.DecimalField) and field.decimal_places == 2 and field.max_digits >= 18


def money_display(value) -> str | None:
    """``1,234,567.89`` (half-up to the fen, as ``format_yuan``); None for a missing amount, which the admin
    shows as its empty value ("-"). For callable columns that show an amount."""
    if value is None or value == "":
        return None
    return format_yuan(value)


def _group_rendered_amount(contents):
    # Read-only fields reach unfold's preprocess hook already rendered by display_for_field, i.e.
    # number_format(value, 2) without grouping: "1234567.89", or the empty value "-". Anything that does not
    # parse as a plain number is left as it is.
    try:
        amount = Decimal(str(contents))
    except InvalidOperation:
        return contents
    return format_yuan(amount) if amount.is_finite() else contents


def _money_fields(model) -> list:
    return [field for field in model._meta.concrete_fields if is_money_field(field)]


def _money_column(field):
    """A list_display callable for a money field: same title, sorts by the field, shows ``1,234,567.89``."""
    name = field.name

    @admin.display(description=field.verbose_name, ordering=name)
    def column(obj):
        return money_display(getattr(obj, name))

    column.__name__ = name  # the cell keeps its CSS class field-<name>
    return column


class MoneyReadonlyFieldsMixin:
    """Read-only money fields (change pages, view-only pages, inlines) show ``1,234,567.89``.

    Uses unfold's ``readonly_preprocess_fields`` hook, applied only to read-only fields: editable inputs keep
    plain numbers. Subclasses must not assign ``readonly_preprocess_fields`` (it would hide this property).
    """

    @property
    def readonly_preprocess_fields(self):
        return {field.name: _group_rendered_amount for field in _money_fields(self.model)}


class MoneyDisplayMixin(MoneyReadonlyFieldsMixin):
    """Changelist money columns show ``1,234,567.89``: each money field named in list_display (and not in
    list_editable) is replaced by a display callable with the field's title, ordering and CSS class. The
    callables are built once per admin, so list_display, list_display_links and sortable_by agree on them."""

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self._money_columns = {field.name: _money_column(field) for field in _money_fields(model)}

    def _with_money_columns(self, names):
        if names is None:
            return None
        editable = set(self.list_editable)
        return [self._money_columns.get(name, name) if isinstance(name, str) and name not in editable else name for name in names]

    def get_list_display(self, request):
        return self._with_money_columns(super().get_list_display(request))

    def get_list_display_links(self, request, list_display):
        return self._with_money_columns(super().get_list_display_links(request, list_display))

    def get_sortable_by(self, request):
        return self._with_money_columns(super().get_sortable_by(request))


class ModelAdmin(MoneyDisplayMixin, unfold_admin.ModelAdmin):
    """unfold's ModelAdmin with money shown grouped."""


class TabularInline(MoneyReadonlyFieldsMixin, unfold_admin.TabularInline):
    """unfold's TabularInline with read-only money shown grouped."""


class StackedInline(MoneyReadonlyFieldsMixin, unfold_admin.StackedInline):
    """unfold's StackedInline with read-only money shown grouped."""


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


__all__ = [
    "ModelAdmin",
    "MoneyDisplayMixin",
    "MoneyReadonlyFieldsMixin",
    "ReadOnlyFinancialAdminMixin",
    "ScopedModelAdmin",
    "StackedInline",
    "TabularInline",
    "admin",
    "is_money_field",
    "money_display",
    "scoped_choices",
]
