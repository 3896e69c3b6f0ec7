"""Row scoping: the one mechanism every admin, API and page uses to limit rows to what a user may see.

A scoped model declares ``scope = ScopeSpec(institution=..., branch=..., assigned=...)`` with the field
paths to its institution, branch and assigned account manager, and uses ``ScopedQuerySet`` (or calls
``scope_queryset``). Per-object grants that do not follow the hierarchy (delegated review, merchant
staff) come from django-guardian and are added on top.
"""

from dataclasses import dataclass

from django.db import models
from django.db.models import Q

from jikuai.org import roles


@dataclass(frozen=True)
class ScopeSpec:
    institution: str | None = None
    branch: str | None = None
    assigned: str | None = None


@dataclass(frozen=True)
class Scope:
    level: str
    institution_id: int | None = None
    branch_id: int | None = None
    staff_id: int | None = None


NO_SCOPE = Scope(level=roles.NONE)


def scope_for(user) -> Scope:
    """How far ``user`` sees: the widest scope among their roles, bounded by their staff profile."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_SCOPE
    cached = getattr(user, "_jikuai_scope", None)
    if cached is not None:
        return cached
    staff = getattr(user, "staff", None) if hasattr(user, "staff") else None
    group_names = set(user.groups.values_list("name", flat=True))
    if user.is_superuser or roles.PROVINCE_ADMIN in group_names:
        scope = Scope(level=roles.ALL, staff_id=staff.pk if staff else None)
    elif staff is None or not staff.is_active or staff.institution_id is None:
        scope = NO_SCOPE
    else:
        levels = [roles.ROLE_SCOPE[name] for name in group_names if name in roles.ROLE_SCOPE]
        level = min(levels, key=roles.LEVEL_ORDER.index) if levels else roles.NONE
        if level == roles.BRANCH and staff.branch_id is None:
            level = roles.INSTITUTION if roles.INSTITUTION in levels else roles.NONE
        scope = Scope(level=level, institution_id=staff.institution_id, branch_id=staff.branch_id, staff_id=staff.pk)
    user._jikuai_scope = scope
    return scope


def scope_filter(model, scope: Scope) -> Q | None:
    """The Q that limits ``model`` to ``scope``; None means no limit; Q(pk__in=[]) means nothing."""
    spec: ScopeSpec | None = getattr(model, "scope", None)
    if scope.level == roles.ALL:
        return None
    if scope.level == roles.NONE or spec is None:
        return Q(pk__in=[])
    level = scope.level
    if level == roles.ASSIGNED:
        if spec.assigned:
            return Q(**{spec.assigned: scope.staff_id})
        level = roles.BRANCH
    if level == roles.BRANCH:
        if spec.branch:
            return Q(**{spec.branch: scope.branch_id})
        level = roles.INSTITUTION
    if level == roles.INSTITUTION and spec.institution:
        return Q(**{spec.institution: scope.institution_id})
    return Q(pk__in=[])


def scope_queryset(queryset: models.QuerySet, user, *, grant_perm: str | None = "view") -> models.QuerySet:
    scope = scope_for(user)
    condition = scope_filter(queryset.model, scope)
    if condition is None:
        return queryset
    if grant_perm and getattr(user, "is_authenticated", False) and user.is_active:
        from guardian.shortcuts import get_objects_for_user

        opts = queryset.model._meta
        perm = f"{opts.app_label}.{grant_perm}_{opts.model_name}"
        granted = get_objects_for_user(user, perm, klass=queryset.model, accept_global_perms=False, with_superuser=False).values(
            "pk"
        )
        condition = condition | Q(pk__in=granted)
    return queryset.filter(condition)


class ScopedQuerySet(models.QuerySet):
    def visible_to(self, user, *, grant_perm: str | None = "view"):
        return scope_queryset(self, user, grant_perm=grant_perm)


class ScopedManager(models.Manager.from_queryset(ScopedQuerySet)):
    pass
