"""The sync engine, the same for every application.

`runner` takes an integration's lock, asks its connector for a snapshot, and records the run
and the status; `plan` diffs the snapshot against what is stored; `write` applies the plan in
bulk. None of it knows an application: the connector contract (integrations/connectors/base.py)
is all it sees.
"""

from integrations.sync.runner import (
    STALE_RUN_MESSAGE,
    UNEXPECTED_ERROR_MESSAGE,
    AlreadySyncing,
    NotConfigured,
    SyncResult,
    integration_label,
    sync_integration,
)

__all__ = [
    "STALE_RUN_MESSAGE",
    "UNEXPECTED_ERROR_MESSAGE",
    "AlreadySyncing",
    "NotConfigured",
    "SyncResult",
    "integration_label",
    "sync_integration",
]
