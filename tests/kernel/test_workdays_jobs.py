import datetime as dt

import pytest

from jikuai.core.jobs import job_run_finish, job_run_progress, job_run_start
from jikuai.core.models import CalendarDay, JobRun
from jikuai.core.workdays import (
    add_working_days,
    business_date_advance,
    business_date_set,
    get_business_date,
    is_working_day,
    working_days_between,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def national_day_2026():
    # 2026 National Day: 1-7 Oct off; Sunday 27 Sep and Saturday 10 Oct are make-up workdays (调休)
    for day in range(1, 8):
        CalendarDay.objects.create(date=dt.date(2026, 10, day), kind=CalendarDay.Kind.HOLIDAY, name="国庆节")
    CalendarDay.objects.create(date=dt.date(2026, 9, 27), kind=CalendarDay.Kind.WORKDAY, name="国庆调休")
    CalendarDay.objects.create(date=dt.date(2026, 10, 10), kind=CalendarDay.Kind.WORKDAY, name="国庆调休")


def test_weekends_holidays_and_makeup_days(national_day_2026):
    assert is_working_day(dt.date(2026, 9, 25))  # Friday
    assert not is_working_day(dt.date(2026, 9, 26))  # Saturday
    assert is_working_day(dt.date(2026, 9, 27))  # Sunday, make-up workday
    assert not is_working_day(dt.date(2026, 10, 1))  # holiday on a Thursday
    assert is_working_day(dt.date(2026, 10, 10))  # Saturday, make-up workday


def test_add_working_days_skips_the_golden_week(national_day_2026):
    # Wed 30 Sep + 1 working day → Thu 8 Oct
    assert add_working_days(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)
    assert add_working_days(dt.date(2026, 10, 8), -1) == dt.date(2026, 9, 30)
    assert add_working_days(dt.date(2026, 9, 25), 2) == dt.date(2026, 9, 28)  # via the Sunday make-up day


def test_working_days_between(national_day_2026):
    # (30 Sep, 12 Oct]: 8 Oct, 9 Oct, 10 Oct (make-up), 12 Oct → 4
    assert working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 12)) == 4
    assert working_days_between(dt.date(2026, 10, 12), dt.date(2026, 9, 30)) == -4


def test_business_date_advances_once():
    business_date_set(day=dt.date(2026, 11, 27))
    assert business_date_advance(expected=dt.date(2026, 11, 27)) == dt.date(2026, 11, 28)
    # a second close of the same date does not advance again
    assert business_date_advance(expected=dt.date(2026, 11, 27)) == dt.date(2026, 11, 28)
    assert get_business_date() == dt.date(2026, 11, 28)


def test_job_run_resumes_and_does_not_repeat():
    day = dt.date(2026, 11, 28)
    run, work = job_run_start(job="test.job", business_date=day, total=10)
    assert work
    job_run_progress(run, add=4, cursor={"last_id": 4}, counts={"rows": 4})
    job_run_finish(run, error="crash")
    again, work = job_run_start(job="test.job", business_date=day)
    assert work and again.pk == run.pk and again.cursor == {"last_id": 4} and again.processed == 4
    job_run_progress(again, add=6, counts={"rows": 6})
    job_run_finish(again)
    assert again.status == JobRun.Status.SUCCEEDED and again.counts == {"rows": 10} and again.progress_percent == 100
    _, work = job_run_start(job="test.job", business_date=day)
    assert not work
    assert JobRun.objects.filter(job="test.job").count() == 1


def test_the_business_date_is_remembered_and_every_change_is_seen_at_once(django_capture_on_commit_callbacks):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jikuai.core import refmemo
    from jikuai.core.models import BusinessDate
    from jikuai.core.workdays import business_date_advance, business_date_set, get_business_date

    with django_capture_on_commit_callbacks(execute=True):
        business_date_set(day=dt.date(2026, 3, 2))
    assert get_business_date() == dt.date(2026, 3, 2)
    with CaptureQueriesContext(connection) as queries:
        assert get_business_date() == dt.date(2026, 3, 2)
    assert not [q for q in queries.captured_queries if "core_businessdate" in q["sql"]]
    with django_capture_on_commit_callbacks(execute=True):
        assert business_date_advance(expected=dt.date(2026, 3, 2)) == dt.date(2026, 3, 3)
    assert get_business_date() == dt.date(2026, 3, 3)
    # another process's close (no signal here) is seen once its generation is committed
    BusinessDate.objects.filter(singleton=True).update(current=dt.date(2026, 3, 4))
    assert get_business_date() == dt.date(2026, 3, 3)
    cache.set(refmemo.GENERATION_KEY, "a-close-elsewhere", None)
    assert get_business_date() == dt.date(2026, 3, 4)
