"""The daily sync schedule: created by `migrate` once, moved by SYNC_DAILY_AT, no catch-up storm."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage

from integrations.apps import ensure_daily_schedule_after_migrate
from integrations.models import ThirdPartyApplication
from integrations.schedule import DAILY_SCHEDULE_NAME, ensure_daily_schedule, next_daily_run

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")


def daily_schedules():
    return list(Schedule.objects.filter(name=DAILY_SCHEDULE_NAME))


def the_schedule() -> Schedule:
    [schedule] = daily_schedules()
    return schedule


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


@pytest.fixture
def broker():
    """The configured broker with an empty queue (ORM in the test settings, Redis with REDIS_URL)."""
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


def queued_funcs(broker) -> list[str]:
    if Conf.ORM:
        payloads = broker.get_connection().filter(key=broker.list_key).values_list("payload", flat=True)
    else:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    return [SignedPackage.loads(payload)["func"] for payload in payloads]


def test_migrate_creates_one_daily_schedule_at_sync_daily_at():
    schedule = the_schedule()

    assert schedule.func == "integrations.tasks.sync_all_integrations"
    assert schedule.schedule_type == Schedule.DAILY
    assert schedule.repeats == -1
    assert schedule.cluster is None
    next_run = local(schedule.next_run, "UTC")
    assert (next_run.hour, next_run.minute, next_run.second) == (2, 0, 0)
    assert timezone.now() < schedule.next_run <= timezone.now() + timedelta(days=1)


def test_migrating_again_keeps_the_one_schedule_untouched():
    before = the_schedule()

    call_command("migrate", verbosity=0)
    ensure_daily_schedule_after_migrate(sender=None, using="default", verbosity=0)

    after = the_schedule()
    assert (after.pk, after.next_run) == (before.pk, before.next_run)


def test_changing_sync_daily_at_and_migrating_moves_the_schedule(settings):
    before = the_schedule()
    settings.SYNC_DAILY_AT = "05:30"
    settings.TIME_ZONE = "Europe/Berlin"

    call_command("migrate", verbosity=0)

    after = the_schedule()
    assert after.pk == before.pk
    berlin = local(after.next_run, "Europe/Berlin")
    assert (berlin.hour, berlin.minute) == (5, 30)
    assert timezone.now() < after.next_run <= timezone.now() + timedelta(days=1)


def test_a_pending_run_on_the_right_time_survives_a_deploy():
    # The cluster was down at 02:00; the deploy's migrate must not skip today's sync.
    schedule = the_schedule()
    missed = schedule.next_run - timedelta(days=1)
    Schedule.objects.filter(pk=schedule.pk).update(next_run=missed)

    _, changed = ensure_daily_schedule()

    assert not changed
    assert the_schedule().next_run == missed


def test_duplicates_from_concurrent_migrates_are_merged():
    first = the_schedule()
    Schedule.objects.create(
        name=DAILY_SCHEDULE_NAME, func="integrations.tasks.sync_all_integrations", schedule_type=Schedule.DAILY
    )

    ensure_daily_schedule()

    assert [s.pk for s in daily_schedules()] == [first.pk]


def test_a_schedule_edited_by_hand_is_put_back():
    schedule = the_schedule()
    Schedule.objects.filter(pk=schedule.pk).update(func="something.else", schedule_type=Schedule.HOURLY, repeats=3)

    ensure_daily_schedule()

    schedule = the_schedule()
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "integrations.tasks.sync_all_integrations",
        Schedule.DAILY,
        -1,
    )


@pytest.mark.parametrize(
    ("now", "daily_at", "zone", "expected_utc"),
    [
        # later today
        (datetime(2026, 6, 1, 1, 0, tzinfo=UTC), "02:00", "UTC", datetime(2026, 6, 1, 2, 0, tzinfo=UTC)),
        # exactly now: the next one is tomorrow
        (datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "02:00", "UTC", datetime(2026, 6, 2, 2, 0, tzinfo=UTC)),
        # Berlin summer time is UTC+2
        (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "02:00", "Europe/Berlin", datetime(2026, 6, 2, 0, 0, tzinfo=UTC)),
        # the day after the autumn change (25 Oct 2026): still 02:00 on the wall clock, now UTC+1
        (datetime(2026, 10, 25, 12, 0, tzinfo=UTC), "02:00", "Europe/Berlin", datetime(2026, 10, 26, 1, 0, tzinfo=UTC)),
        # New York is behind UTC: 23:30 there is the next UTC day
        (
            datetime(2026, 1, 10, 12, 0, tzinfo=UTC),
            "23:30",
            "America/New_York",
            datetime(2026, 1, 11, 4, 30, tzinfo=UTC),
        ),
    ],
)
def test_next_daily_run_is_the_next_wall_clock_time_in_time_zone(settings, now, daily_at, zone, expected_utc):
    settings.TIME_ZONE = zone

    assert next_daily_run(daily_at=daily_at, now=now) == expected_utc


@pytest.mark.django_db(transaction=True)  # django-q2's scheduler closes the connection it used
def test_after_downtime_the_schedule_runs_once_not_once_per_missed_day(broker):
    # Three days down: django-q2 with catch_up=False queues one fan-out and moves on to the
    # next 02:00, instead of queueing three.
    assert Conf.CATCH_UP is False
    schedule = the_schedule()
    Schedule.objects.filter(pk=schedule.pk).update(next_run=schedule.next_run - timedelta(days=3))

    scheduler(broker=broker)
    scheduler(broker=broker)

    assert queued_funcs(broker) == ["integrations.tasks.sync_all_integrations"]
    next_run = the_schedule().next_run
    assert timezone.now() < next_run <= timezone.now() + timedelta(days=1)
    assert local(next_run, "UTC").hour == 2


def test_the_schedule_stays_on_the_wall_clock_time_across_daylight_saving(monkeypatch):
    # django-q2 reads TIME_ZONE once at import; the schedule follows the setting it had.
    monkeypatch.setattr(Conf, "TIME_ZONE", "Europe/Berlin")
    schedule = the_schedule()
    before_change = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 in Berlin, still summer time

    after_change = schedule.calculate_next_run(before_change)

    assert local(after_change, "Europe/Berlin").hour == 2
    assert after_change - before_change == timedelta(hours=25)


def test_migrate_puts_every_connected_application_in_the_catalogue():
    # A test's flush (transaction=True) empties the table that data migration 0002 filled.
    ThirdPartyApplication.objects.all().delete()

    call_command("migrate", verbosity=0)

    # roster: the test suite's second connector, registered in tests/settings.py
    assert list(ThirdPartyApplication.objects.values_list("key", "name")) == [("pagerduty", "PagerDuty"), ("roster", "Roster")]
