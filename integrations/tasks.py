"""django-q2 tasks: thin wrappers that queue and run the sync service.

Task arguments are ids and trigger names only: never a token, since queued and finished tasks
are stored (and shown to superusers in the django-q2 admin).
"""

from __future__ import annotations

import logging

from django_q.tasks import async_task

from integrations.models import Integration, SyncRun
from integrations.selectors import integrations_to_sync
from integrations.sync import AlreadySyncing, NotConfigured, sync_integration

logger = logging.getLogger(__name__)


def queue_sync(*, integration_id: int, trigger: str) -> str:
    """Queue one sync of one integration for the cluster; returns the task id."""
    return async_task(
        "integrations.tasks.sync_integration_task",
        integration_id,
        trigger,
        task_name=f"sync-integration-{integration_id}",
        group="sync",
    )


def sync_integration_task(integration_id: int, trigger: str) -> str:
    """Run one sync, exactly as `syncpagerduty` does."""
    try:
        summary = sync_integration(integration_id=integration_id, trigger=trigger).summary()
    except AlreadySyncing:
        # Another worker holds this integration: its sync covers this request too.
        logger.info("integration %s is already syncing; skipped (%s)", integration_id, trigger)
        return f"integration {integration_id}: already syncing, skipped"
    except (NotConfigured, Integration.DoesNotExist):
        # Deleted (or never configured) between queueing and now: nothing to sync.
        logger.info("integration %s is gone or not configured; skipped (%s)", integration_id, trigger)
        return f"integration {integration_id}: deleted or not configured, skipped"
    # The worker's log names every sync it ran (the cluster's own log lines are terse).
    logger.info("sync task (%s) done: %s", trigger, summary)
    return summary


def queue_daily_syncs() -> list[int]:
    """Queue one sync task per integration due; returns the ids of the integrations queued."""
    integration_ids = list(integrations_to_sync().values_list("id", flat=True))
    for integration_id in integration_ids:
        queue_sync(integration_id=integration_id, trigger=SyncRun.Trigger.SCHEDULE.value)
    logger.info("daily sync: queued %d integration(s)", len(integration_ids))
    return integration_ids


def sync_all_integrations() -> str:
    """The daily schedule's task: one queued sync per configured integration."""
    queued = queue_daily_syncs()
    return f"queued {len(queued)} integration sync(s)"
