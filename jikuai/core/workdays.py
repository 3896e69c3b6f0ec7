"""Business date (营业日期) and the working-day calendar with holidays and make-up workdays (调休)."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from jikuai.core import refmemo
from jikuai.core.models import BusinessDate, CalendarDay


def _exceptions(start: dt.date, end: dt.date) -> dict[dt.date, str]:
    return dict(CalendarDay.objects.filter(date__gte=start, date__lte=end).values_list("date", "kind"))


def _is_working(day: dt.date, exceptions: dict[dt.date, str]) -> bool:
    kind = exceptions.get(day)
    if kind == CalendarDay.Kind.HOLIDAY:
        return False
    if kind == CalendarDay.Kind.WORKDAY:
        return True
    return day.weekday() < 5


def is_working_day(day: dt.date) -> bool:
    return _is_working(day, _exceptions(day, day))


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Number of working days d with start < d <= end (negative when end is before start)."""
    if end < start:
        return -working_days_between(end, start)
    exceptions = _exceptions(start, end)
    return sum(1 for offset in range(1, (end - start).days + 1) if _is_working(start + dt.timedelta(days=offset), exceptions))


def add_working_days(day: dt.date, count: int) -> dt.date:
    """The date ``count`` working days after ``day`` (before it when negative)."""
    step = 1 if count >= 0 else -1
    remaining = abs(count)
    horizon = dt.timedelta(days=remaining * 3 + 30)
    lo, hi = (day, day + horizon) if step > 0 else (day - horizon, day)
    exceptions = _exceptions(lo, hi)
    current = day
    while remaining:
        current += dt.timedelta(days=step)
        if not (lo <= current <= hi):
            lo, hi = (current, current + horizon) if step > 0 else (current - horizon, current)
            exceptions = _exceptions(lo, hi)
        if _is_working(current, exceptions):
            remaining -= 1
    return current


def get_business_date() -> dt.date:
    """The bank's business date (会计日期), remembered per process under the reference generation
    (``jikuai.core.refmemo``): setting or advancing it commits a new generation, so the next request of
    every worker reads the new date; a close in progress reads its own uncommitted change directly."""
    return refmemo.memoized("business-date", None, _business_date_from_db)


def _business_date_from_db() -> dt.date:
    row = BusinessDate.objects.filter(singleton=True).only("current").first()
    if row is None:
        row, _ = BusinessDate.objects.get_or_create(singleton=True, defaults={"current": timezone.localdate()})
    return row.current


@transaction.atomic
def business_date_set(*, day: dt.date) -> dt.date:
    BusinessDate.objects.update_or_create(singleton=True, defaults={"current": day})
    return day


@transaction.atomic
def business_date_advance(*, expected: dt.date) -> dt.date:
    """Move the business date from ``expected`` to the next calendar day (the COB's last step).

    Conditional on the current value so two closes cannot advance twice.
    """
    row = BusinessDate.objects.select_for_update().get(singleton=True)
    if row.current != expected:
        return row.current
    row.current = expected + dt.timedelta(days=1)
    row.save(update_fields=["current", "updated_at"])
    return row.current


def add_working_minutes(start: dt.datetime, minutes: int, *, day_start: dt.time, day_end: dt.time) -> dt.datetime:
    """The moment ``minutes`` working minutes after ``start`` (工作时间): only the hours between
    ``day_start`` and ``day_end`` of working days count, holidays are skipped and make-up workdays (调休)
    count, all in the site time zone (Asia/Shanghai). ``start`` outside working hours counts from the next
    opening. The result is aware, in the site time zone."""
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    if not day_start < day_end:
        raise ValueError("day_start must be before day_end")
    zone = timezone.get_default_timezone()
    if timezone.is_naive(start):
        start = timezone.make_aware(start, zone)
    cursor = start.astimezone(zone)
    remaining = dt.timedelta(minutes=minutes)
    day = cursor.date()
    horizon = dt.timedelta(days=minutes // 60 + 60)
    lo, hi = day, day + horizon
    exceptions = _exceptions(lo, hi)
    while True:
        if day > hi:
            lo, hi = day, day + horizon
            exceptions = _exceptions(lo, hi)
        if _is_working(day, exceptions):
            opens = dt.datetime.combine(day, day_start, tzinfo=zone)
            closes = dt.datetime.combine(day, day_end, tzinfo=zone)
            begin = max(cursor, opens)
            if begin < closes:
                if begin + remaining <= closes:
                    return begin + remaining
                remaining -= closes - begin
        day += dt.timedelta(days=1)
        cursor = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
