"""A running sync keeps its lock alive with a heartbeat: a killed worker's integration can be
synced again within SYNC_HEARTBEAT_TIMEOUT_SECONDS (120 s by default, 3 s here), not 30
minutes, and a live sync is never taken over, however long it runs.

The syncs run in `manage.py syncpagerduty` processes on the test database, as a worker would.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from integrations.models import Integration, SyncRun, ThirdPartyApplication
from integrations.services import add_integration
from integrations.sync import AlreadySyncing
from integrations.sync.heartbeat import Heartbeat
from tests.conftest import TOKEN, configure, sync
from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset
from tests.sync.test_faults import read_until, start_command

TIMEOUT = 3.0  # SYNC_HEARTBEAT_TIMEOUT_SECONDS of the test: one beat every 0.5 s


@pytest.fixture
def fake(settings):
    with FakePagerDuty(generate_dataset(users=150, teams=3, seed=11), token=TOKEN) as running:
        settings.PAGERDUTY_API_BASE_URL = running.base_url
        yield running


@pytest.fixture
def integration(tenant, settings):
    settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS = TIMEOUT
    application, _ = ThirdPartyApplication.objects.get_or_create(key="pagerduty", defaults={"name": "PagerDuty"})
    return configure(add_integration(tenant=tenant, application=application, description="Prod"))


def lock_of(integration: Integration) -> tuple:
    integration.refresh_from_db()
    return integration.sync_started_at, integration.sync_heartbeat_at


def stop(process) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    process.stdout.close()


@pytest.mark.django_db(transaction=True)  # committed: the command's process must see the data
def test_a_killed_workers_integration_is_taken_over_within_the_heartbeat_timeout(integration, fake):
    # Every team roster stalls: the sync is busy fetching when its worker is killed.
    fake.inject(r"^/teams/[^/]+/members$", kind="stall", delay=60, times=None)
    process = start_command(integration, fake, SYNC_HEARTBEAT_TIMEOUT_SECONDS=str(TIMEOUT))
    try:
        read_until(process, "users: page 2/2")
        started_at, first_beat = lock_of(integration)
        time.sleep(3 * TIMEOUT / 6)
        assert lock_of(integration)[1] > first_beat  # its heartbeat renews the lock
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        killed = time.monotonic()
    finally:
        stop(process)
    fake.clear_faults()

    # Right after the kill its heartbeat is fresh: the worker might be alive.
    with pytest.raises(AlreadySyncing):
        sync(integration)
    while True:
        try:
            result = sync(integration)
            break
        except AlreadySyncing:
            assert time.monotonic() - killed < TIMEOUT + 2, "still locked long after the heartbeat timeout"
            time.sleep(0.1)
    taken_over_after = time.monotonic() - killed

    assert result.ok and result.added == 150
    dead = SyncRun.objects.get(started_at=started_at)
    assert dead.outcome == SyncRun.Outcome.FAILED and "worker stopped" in dead.message
    assert lock_of(integration) == (None, None)
    assert integration.status == Integration.Status.CONNECTED
    print(f"\ntaken over {taken_over_after:.1f} s after the kill (heartbeat timeout {TIMEOUT} s)")


@pytest.mark.django_db(transaction=True)
def test_a_live_sync_is_never_taken_over_however_long_it_runs(integration, fake):
    # The rosters answer after 3 heartbeat timeouts: the sync runs 9 s or more.
    fake.inject(r"^/teams/[^/]+/members$", kind="stall", delay=3 * TIMEOUT, times=None)
    process = start_command(integration, fake, SYNC_HEARTBEAT_TIMEOUT_SECONDS=str(TIMEOUT))
    try:
        read_until(process, "users: page 2/2")
        started_at, _ = lock_of(integration)
        attempts = 0
        while timezone.now() - started_at < timedelta(seconds=2 * TIMEOUT):
            with pytest.raises(AlreadySyncing):
                sync(integration)
            attempts += 1
            time.sleep(0.5)
        with pytest.raises(AlreadySyncing):  # past two heartbeat timeouts, and still its lock
            sync(integration)
        assert process.poll() is None, "the sync was meant to be still running"
        output = process.stdout.read()
        assert process.wait(timeout=60) == 0, output
    finally:
        stop(process)

    assert attempts > 5
    run = SyncRun.objects.get(started_at=started_at)
    assert (run.outcome, run.accounts_added) == (SyncRun.Outcome.SUCCESS, 150)
    assert SyncRun.objects.count() == 1  # no takeover ever recorded a "worker stopped" run
    assert "heartbeat not saved" not in output and "taken over" not in output
    assert lock_of(integration) == (None, None)


@pytest.mark.django_db(transaction=True)
def test_a_beat_waits_behind_a_write_transaction_instead_of_failing(integration, caplog):
    """SQLite has one writer at a time (PostgreSQL locks the row): a beat during the sync's own
    write transaction waits for its commit, then renews the lock; nothing logs 'database is locked'."""
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk).update(sync_started_at=now, sync_heartbeat_at=now)
    heartbeat = Heartbeat(integration_id=integration.pk, started_at=now)
    heartbeat.every = 0.1
    caplog.set_level(logging.WARNING, logger="integrations")

    with transaction.atomic():  # the write lock (SQLite) and the row lock (PostgreSQL), held 1 s
        Integration.objects.filter(pk=integration.pk).update(message="writing")
        heartbeat.start()
        time.sleep(1.0)
    time.sleep(0.5)
    heartbeat.stop()

    assert lock_of(integration)[1] > now
    assert caplog.text == ""
    assert not heartbeat._thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_closes_its_own_connection(integration):
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk).update(sync_started_at=now, sync_heartbeat_at=now)
    heartbeat = Heartbeat(integration_id=integration.pk, started_at=now)
    heartbeat.every = 0.05
    seen = {}
    beat = heartbeat._beat

    def beat_and_note():
        seen["connection"] = connections["default"]  # the thread's own
        return beat()

    heartbeat._beat = beat_and_note
    heartbeat.start()
    time.sleep(0.3)
    heartbeat.stop()

    assert seen["connection"] is not connections["default"]
    assert seen["connection"].connection is None  # closed
    assert lock_of(integration)[1] > now


@pytest.mark.django_db(transaction=True)
def test_a_sync_whose_lock_was_taken_over_stops_beating(integration, caplog):
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk).update(sync_started_at=now, sync_heartbeat_at=now)
    heartbeat = Heartbeat(integration_id=integration.pk, started_at=now)
    heartbeat.every = 0.05
    heartbeat.start()
    newer = timezone.now()
    Integration.objects.filter(pk=integration.pk).update(sync_started_at=newer, sync_heartbeat_at=newer)

    heartbeat._thread.join(timeout=2)

    assert not heartbeat._thread.is_alive()
    assert "lock was taken over" in caplog.text
    assert lock_of(integration) == (newer, newer)  # the newer sync's lock, untouched


def test_a_finished_sync_leaves_no_heartbeat_thread(tenant_admin, fake_pagerduty, integration, settings):
    settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS = 120
    before = threading.active_count()

    assert sync(integration).ok

    assert threading.active_count() == before


def test_a_lock_without_heartbeat_counts_from_its_start(configured_integration, fake_pagerduty, settings):
    """A lock taken before heartbeats existed: alive until its start is older than the timeout."""
    settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS = 120
    recent = timezone.now() - timedelta(seconds=60)
    Integration.objects.filter(pk=configured_integration.pk).update(sync_started_at=recent, sync_heartbeat_at=None)
    with pytest.raises(AlreadySyncing):
        sync(configured_integration)

    old = timezone.now() - timedelta(seconds=121)
    Integration.objects.filter(pk=configured_integration.pk).update(sync_started_at=old)

    assert sync(configured_integration).ok
