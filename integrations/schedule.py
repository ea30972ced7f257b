"""The daily sync's one django-q2 schedule.

`ensure_daily_schedule` runs after every `migrate` (integrations/apps.py); the schedule calls
`integrations.tasks.sync_all_integrations`, which queues one task per configured integration so
that every worker of the cluster, on any machine, takes a share of the day's syncs.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

DAILY_SCHEDULE_NAME = "balkan_pd: daily PagerDuty sync"
DAILY_SCHEDULE_FUNC = "integrations.tasks.sync_all_integrations"


def _parse_daily_at(daily_at: str) -> time:
    hours, minutes = daily_at.split(":")
    return time(int(hours), int(minutes))


def next_daily_run(*, daily_at: str, now: datetime | None = None) -> datetime:
    """The next moment, strictly after `now`, when the wall clock in TIME_ZONE reads `daily_at`."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local_now = (now or timezone.now()).astimezone(zone)
    at = _parse_daily_at(daily_at)
    day = local_now.date()
    while True:
        candidate = datetime.combine(day, at, tzinfo=zone)
        if candidate > local_now:
            return candidate.astimezone(ZoneInfo("UTC"))
        day += timedelta(days=1)


def _runs_at(schedule: Schedule, *, daily_at: str) -> bool:
    """Whether the schedule's next run falls on `daily_at` in TIME_ZONE."""
    if schedule.next_run is None:
        return False
    local = schedule.next_run.astimezone(ZoneInfo(settings.TIME_ZONE))
    return local.time().replace(second=0, microsecond=0) == _parse_daily_at(daily_at)


def ensure_daily_schedule(*, using: str = "default") -> tuple[Schedule, bool]:
    """Create the one daily schedule, or move it to SYNC_DAILY_AT; returns (schedule, changed).

    Idempotent: run after every `migrate`. A schedule already on the right time keeps its
    next_run, even one in the past, so a deploy during downtime never skips the pending run.
    """
    daily_at = settings.SYNC_DAILY_AT
    schedules = Schedule.objects.using(using)
    with transaction.atomic(using=using):
        existing = list(schedules.select_for_update().filter(name=DAILY_SCHEDULE_NAME).order_by("id"))
        if existing:
            schedule, duplicates = existing[0], existing[1:]
            # Two machines migrating at the same moment may each have created one.
            for duplicate in duplicates:
                duplicate.delete()
        else:
            schedule, duplicates = Schedule(name=DAILY_SCHEDULE_NAME), []

        changed = bool(duplicates) or schedule.pk is None
        wanted = {
            "func": DAILY_SCHEDULE_FUNC,
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "args": None,
            "kwargs": None,
            "cluster": None,
        }
        for field, value in wanted.items():
            if getattr(schedule, field) != value:
                setattr(schedule, field, value)
                changed = True
        if not _runs_at(schedule, daily_at=daily_at):
            # django-q2's DAILY repeats at the time of day of next_run: that time is the setting.
            schedule.next_run = next_daily_run(daily_at=daily_at)
            changed = True
        if changed:
            schedule.save(using=using)
    return schedule, changed
