"""Shared helpers of the performance services: actors, permissions, scoping and the period lock."""

import datetime as dt

from django.db import models
from django.utils import timezone

from jikuai.core.exceptions import Conflict, NotFound, PermissionDeniedError
from jikuai.org.models import Institution, Staff, User
from jikuai.org.scoping import scope_for, scope_queryset
from performance.models import PerformancePolicy, Period


class PeriodLockedError(Conflict):
    code = "period_locked"


def user_of(actor) -> User:
    return actor.user if isinstance(actor, Staff) else actor


def staff_of(actor) -> Staff | None:
    if isinstance(actor, Staff):
        return actor
    return getattr(actor, "staff", None) if actor is not None and hasattr(actor, "staff") else None


def require_perm(actor, perm: str, what_zh: str, what_en: str) -> User:
    user = user_of(actor)
    if user is None or not user.is_active or not user.has_perm(perm):
        raise PermissionDeniedError(f"无权{what_zh} / not allowed to {what_en}")
    return user


def visible_or_404(queryset: models.QuerySet, actor, pk, *, what_zh: str, what_en: str):
    """The object when the actor's scope includes it; NotFound otherwise (no existence leak)."""
    obj = scope_queryset(queryset, user_of(actor)).filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"{what_zh}不存在或不在您的权限范围内 / {what_en} not found")
    return obj


def require_institution(actor, institution_id: int) -> None:
    scope = scope_for(user_of(actor))
    if scope.level == "all":
        return
    if scope.institution_id != institution_id:
        raise PermissionDeniedError("不能操作其他法人行社的数据 / outside your institution")


def policy_for(institution: Institution | int) -> PerformancePolicy:
    institution_id = institution if isinstance(institution, int) else institution.pk
    policy = PerformancePolicy.objects.filter(institution_id=institution_id).first()
    return policy or PerformancePolicy(institution_id=institution_id)


def end_of_business_day(day: dt.date) -> dt.datetime:
    """The last second of a business date in the local time zone (how a date-based deadline is stored and shown)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(23, 59, 59)))


def locked_period_covering(institution_id: int, first: dt.date, last: dt.date | None = None) -> Period | None:
    last = last or first
    return (
        Period.objects.filter(institution_id=institution_id, state__in=Period.LOCKED_STATES, start__lte=last, end__gte=first)
        .order_by("start")
        .first()
    )


def ensure_not_locked(institution_id: int, first: dt.date, last: dt.date | None = None, *, what_zh: str, what_en: str) -> None:
    """Published periods are immutable: changes to what they were computed from are refused; corrections go
    into a later, open period as adjustments."""
    period = locked_period_covering(institution_id, first, last)
    if period is not None:
        raise PeriodLockedError(
            f"考核期「{period.label} {period.scheme.name}」已公示，不能修改{what_zh}；请在后续考核期以调整方式更正。",
            f"period {period.label} is published: {what_en} cannot change; enter an adjustment in a later period",
            extra={"period_id": period.pk},
        )


def month_range(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return months
