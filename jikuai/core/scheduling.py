"""Periodic jobs registered in code and mirrored into django-celery-beat (调度中心).

Apps declare jobs in ``<app>/schedules.py`` with ``periodic(...)``. After every migrate the registry is
synced into beat's tables, where staff can see them, pause them or change their times in the admin;
a job's times are only written when the job is first created, so staff edits survive deployments.
"""

import importlib
import importlib.util
from dataclasses import dataclass

from django.apps import apps


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    description: str
    crontab: str | None = None  # "minute hour day_of_month month_of_year day_of_week"
    every_seconds: int | None = None
    queue: str | None = None


_jobs: dict[str, PeriodicJob] = {}


def periodic(
    name: str,
    task: str,
    *,
    description: str,
    crontab: str | None = None,
    every_seconds: int | None = None,
    queue: str | None = None,
) -> PeriodicJob:
    if (crontab is None) == (every_seconds is None):
        raise ValueError("give exactly one of crontab or every_seconds")
    job = PeriodicJob(name, task, description, crontab, every_seconds, queue)
    _jobs[name] = job
    return job


def registered_jobs() -> dict[str, PeriodicJob]:
    return dict(_jobs)


def autodiscover_schedules() -> None:
    for config in apps.get_app_configs():
        module = f"{config.name}.schedules"
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            importlib.import_module(module)


def sync_periodic_tasks(**_kwargs) -> int:
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    autodiscover_schedules()
    created = 0
    for job in _jobs.values():
        if PeriodicTask.objects.filter(name=job.name).exists():
            continue
        fields = {"task": job.task, "description": job.description}
        if job.queue:
            fields["queue"] = job.queue
        if job.crontab:
            minute, hour, day_of_month, month_of_year, day_of_week = job.crontab.split()
            schedule, _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
                timezone=settings.TIME_ZONE,
            )
            fields["crontab"] = schedule
        else:
            schedule, _ = IntervalSchedule.objects.get_or_create(every=job.every_seconds, period=IntervalSchedule.SECONDS)
            fields["interval"] = schedule
        PeriodicTask.objects.get_or_create(name=job.name, defaults=fields)
        created += 1
    return created
