"""The heartbeat of a running sync: proof, renewed every few seconds, that its lock is alive.

A sync's lock (Integration.sync_started_at) whose heartbeat is older than
SYNC_HEARTBEAT_TIMEOUT_SECONDS belongs to a worker that died: the next sync takes it over.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from integrations.models import Integration

logger = logging.getLogger(__name__)


class Heartbeat:
    """Renews the sync's heartbeat from a daemon thread while the sync holds its lock.

    Six beats per SYNC_HEARTBEAT_TIMEOUT_SECONDS (every 20 s by default): a beat that waits
    behind the sync's own write transaction (SQLite has one writer at a time) or fails is
    followed by others well before the timeout. The thread has its own database connection,
    closed when it stops; it stops at `stop()`, or by itself once another sync holds the lock.
    """

    BEATS_PER_TIMEOUT = 6

    def __init__(self, *, integration_id: int, started_at):
        self.integration_id = integration_id
        self.started_at = started_at
        self.every = settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS / self.BEATS_PER_TIMEOUT
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sync-heartbeat-{integration_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        # A beat waiting on a busy database must not hold the sync up: the lock's release
        # follows anyway, and a late beat then matches no row.
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self.every):
                if not self._beat():
                    if not self._stopping.is_set():  # not merely released while this beat waited
                        logger.warning("Sync of integration %s: its lock was taken over", self.integration_id)
                    return
        finally:
            connection.close()  # this thread's own connection

    def _beat(self) -> bool:
        """Whether the sync still holds its lock (a failed beat counts as held: the next one retries)."""
        try:
            return bool(
                Integration.objects.filter(pk=self.integration_id, sync_started_at=self.started_at).update(
                    sync_heartbeat_at=timezone.now()
                )
            )
        except DatabaseError as error:
            logger.warning("Sync of integration %s: heartbeat not saved (%s)", self.integration_id, error)
            return True
