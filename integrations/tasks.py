"""django-q2 tasks: thin wrappers that queue and run the sync service."""

from __future__ import annotations

from django_q.tasks import async_task


def queue_sync(*, integration_id: int, trigger: str) -> str:
    """Queue one sync of one integration for the cluster; returns the task id."""
    return async_task(
        "integrations.tasks.sync_integration_task",
        integration_id,
        trigger,
        task_name=f"sync-integration-{integration_id}",
        group="sync",
    )


def sync_integration_task(integration_id: int, trigger: str):
    from integrations.sync import sync_integration

    return sync_integration(integration_id=integration_id, trigger=trigger).summary()
