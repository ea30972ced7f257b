"""The django-q2 tasks: the daily fan-out, the first sync on configure, and the sync task itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage

from integrations.connectors.errors import TokenRejected
from integrations.models import Integration, SyncRun, ThirdPartyApplication
from integrations.services import add_integration, configure_integration
from integrations.tasks import sync_all_integrations, sync_integration_task
from tests.conftest import TOKEN, configure

pytestmark = pytest.mark.django_db

SYNC_TASK = "integrations.tasks.sync_integration_task"


@pytest.fixture
def broker():
    """The configured broker with an empty queue (ORM in the test settings, Redis with REDIS_URL)."""
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


def queued(broker) -> list[dict]:
    if Conf.ORM:
        payloads = broker.get_connection().filter(key=broker.list_key).order_by("id").values_list("payload", flat=True)
    else:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    return [SignedPackage.loads(payload) for payload in payloads]


def queued_syncs(broker) -> list[tuple]:
    """(integration id, trigger) of every queued sync task, in queue order."""
    return [tuple(task["args"]) for task in queued(broker) if task["func"] == SYNC_TASK]


@pytest.fixture
def many_integrations(tenant, other_tenant, pagerduty_app):
    def add(tenant, description):
        return add_integration(tenant=tenant, application=pagerduty_app, description=description)

    now = timezone.now()
    stale = now - timedelta(seconds=settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS + 60)
    return {
        "acme": configure(add(tenant, "Acme prod")),
        "acme_staging": configure(add(tenant, "Acme staging")),
        "globex": configure(add(other_tenant, "Globex")),
        "not_configured": add(tenant, "No token yet"),
        # A long sync, alive: its heartbeat is fresh.
        "syncing": configure(
            add(tenant, "Busy"), sync_started_at=now - timedelta(minutes=50), sync_heartbeat_at=now
        ),
        "dead_sync": configure(add(other_tenant, "Worker died"), sync_started_at=stale, sync_heartbeat_at=stale),
    }


def test_fan_out_queues_one_sync_per_configured_integration(broker, many_integrations):
    result = sync_all_integrations()

    expected = [
        (many_integrations[key].pk, "schedule") for key in ("acme", "acme_staging", "globex", "dead_sync")
    ]
    assert queued_syncs(broker) == expected
    assert len(queued(broker)) == 4
    assert result == "queued 4 integration sync(s)"


def test_fan_out_tasks_are_named_per_integration_and_carry_no_token(broker, many_integrations):
    sync_all_integrations()

    for task in queued(broker):
        assert task["name"] == f"sync-integration-{task['args'][0]}"
        assert task["group"] == "sync"
        assert TOKEN not in repr(task)


def test_fan_out_skips_applications_without_a_connector(broker, tenant):
    # A catalogue row added ahead of its connector (a second application later).
    future = ThirdPartyApplication.objects.create(key="opsgenie", name="Opsgenie")
    orphan = Integration.objects.create(tenant=tenant, application=future, description="not yet supported")
    configure(orphan)

    sync_all_integrations()

    assert queued(broker) == []


def test_fan_out_with_nothing_configured_queues_nothing(broker, integration):
    assert sync_all_integrations() == "queued 0 integration sync(s)"
    assert queued(broker) == []


def test_configure_queues_exactly_one_first_sync_after_commit(
    broker, integration, fake_pagerduty, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        configure_integration(integration=integration, values={"access_token": TOKEN, "region": "us"})
        # Nothing reaches the cluster before the token is committed: a worker must find it.
        assert queued(broker) == []

    assert len(callbacks) == 1
    callbacks[0]()
    assert queued_syncs(broker) == [(integration.pk, "configure")]
    assert len(queued(broker)) == 1
    assert fake_pagerduty.request_count == 1  # the token check; the sync itself is the worker's


def test_a_rejected_token_queues_nothing(broker, integration, fake_pagerduty, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(TokenRejected):
            configure_integration(integration=integration, values={"access_token": "wrong-token", "region": "us"})

    assert callbacks == []
    assert queued(broker) == []
    integration.refresh_from_db()
    assert not integration.is_configured


# --- the sync task (what a worker runs) --------------------------------------------------


def test_the_task_syncs_like_the_command(integration, fake_pagerduty):
    configure(integration)

    summary = sync_integration_task(integration.pk, "schedule")

    [run] = SyncRun.objects.all()
    assert (run.outcome, run.trigger, run.accounts_fetched) == (SyncRun.Outcome.SUCCESS, "schedule", 30)
    assert run.requests == fake_pagerduty.request_count > 0
    assert summary.startswith(f"Acme / PagerDuty #{integration.pk}: 30 added")
    integration.refresh_from_db()
    assert (integration.status, integration.sync_started_at) == (Integration.Status.CONNECTED, None)


def test_a_second_sync_of_a_busy_integration_returns_cleanly(integration, fake_pagerduty):
    started = timezone.now() - timedelta(minutes=1)
    configure(integration, sync_started_at=started, sync_heartbeat_at=timezone.now(), status=Integration.Status.SYNCING)
    running = SyncRun.objects.create(integration=integration, trigger="admin", started_at=started)

    summary = sync_integration_task(integration.pk, "schedule")

    assert summary == f"integration {integration.pk}: already syncing, skipped"
    assert fake_pagerduty.request_count == 0
    assert list(SyncRun.objects.all()) == [running]
    running.refresh_from_db()
    assert running.outcome == SyncRun.Outcome.RUNNING
    integration.refresh_from_db()
    assert integration.sync_started_at == started


def test_a_sync_left_by_a_dead_worker_is_taken_over(integration, fake_pagerduty):
    # The worker was killed mid-sync: its lock and its RUNNING run stayed behind.
    died_at = timezone.now() - timedelta(seconds=settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS + 60)
    configure(integration, sync_started_at=died_at, sync_heartbeat_at=died_at, status=Integration.Status.SYNCING)
    dead = SyncRun.objects.create(integration=integration, trigger="schedule", started_at=died_at)

    sync_integration_task(integration.pk, "schedule")

    dead.refresh_from_db()
    assert dead.outcome == SyncRun.Outcome.FAILED
    assert dead.finished_at is not None and "worker stopped" in dead.message
    new = SyncRun.objects.exclude(pk=dead.pk).get()
    assert (new.outcome, new.accounts_added) == (SyncRun.Outcome.SUCCESS, 30)
    assert dead.finished_at <= new.started_at
    integration.refresh_from_db()
    assert (integration.status, integration.sync_started_at) == (Integration.Status.CONNECTED, None)


def test_the_daily_fan_out_retries_an_integration_whose_worker_died(broker, integration):
    died_at = timezone.now() - timedelta(seconds=settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS + 60)
    configure(integration, sync_started_at=died_at, sync_heartbeat_at=died_at)

    sync_all_integrations()

    assert queued_syncs(broker) == [(integration.pk, "schedule")]


def test_a_queued_sync_of_a_deleted_integration_returns_cleanly(integration):
    integration_id = integration.pk
    integration.delete()

    assert sync_integration_task(integration_id, "schedule") == (
        f"integration {integration_id}: deleted or not configured, skipped"
    )
    assert not SyncRun.objects.exists()


def test_a_failed_sync_is_recorded_and_the_task_still_returns(integration, fake_pagerduty):
    configure(integration, token="not-the-token")

    summary = sync_integration_task(integration.pk, "schedule")

    assert "failed" in summary and "not-the-token" not in summary
    [run] = SyncRun.objects.all()
    assert run.outcome == SyncRun.Outcome.FAILED
    integration.refresh_from_db()
    assert integration.status == Integration.Status.ERROR
