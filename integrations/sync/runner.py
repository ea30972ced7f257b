"""The sync runner, the same for every application: lock, SyncRun record, status.

One sync of one integration at a time: the lock is Integration.sync_started_at, taken by one
conditional UPDATE (free, or its heartbeat older than SYNC_HEARTBEAT_TIMEOUT_SECONDS: the
worker died) and released in `finally`. While it holds the lock, a thread of the sync renews
Integration.sync_heartbeat_at, so a killed worker's integration can be synced again within
that timeout, and a live sync, however long, is never taken over. The connector fetches
everything first; then one transaction writes accounts, run and status, so a failed sync
leaves the accounts and last_synced_at as they were.

A dry run fetches and diffs, reports the changes through `progress`, and writes nothing at
all: no lock, no SyncRun row, no status change. It is a read-only preview.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from django.db import transaction
from django.utils import timezone

from integrations import selectors, status
from integrations.connectors.errors import IntegrationError
from integrations.models import Integration, SyncRun
from integrations.reviews.services import verify_remediations
from integrations.sync.heartbeat import Heartbeat
from integrations.sync.plan import SyncPlan, plan_changes
from integrations.sync.write import apply_plan

logger = logging.getLogger(__name__)

Outcome = SyncRun.Outcome
STALE_RUN_MESSAGE = "the worker stopped mid-sync (taken over by a later sync)"
UNEXPECTED_ERROR_MESSAGE = "unexpected error during the sync; the operator can find it in the server log"
MESSAGE_MAX_LENGTH = Integration._meta.get_field("message").max_length
PROGRESS_MAX_LENGTH = Integration._meta.get_field("progress").max_length
PROGRESS_STARTING = "starting"
# At most one progress UPDATE per this many seconds: the admin polls about once a second.
PROGRESS_EVERY_SECONDS = 1.0


class AlreadySyncing(Exception):
    def __init__(self):
        super().__init__("already syncing")


class NotConfigured(Exception):
    """The integration's configuration was never saved: there is nothing to sync with."""


def integration_label(integration: Integration) -> str:
    """"Acme / PagerDuty #3": how commands and logs name an integration."""
    return f"{integration.tenant.name} / {integration.application.name} #{integration.pk}"


@dataclass
class SyncResult:
    label: str
    outcome: str
    run: SyncRun | None = None  # None for a dry run (nothing is recorded) and before a run exists
    fetched: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome != Outcome.FAILED

    def summary(self) -> str:
        """One line: "Acme / PagerDuty #3: 12 added, 1 updated, 0 removed, 287 unchanged; 9 requests; 1.2 s"."""
        cost = f"{self.requests} requests; {self.seconds:.1f} s"
        if self.outcome == Outcome.FAILED:
            return f"{self.label}: failed: {self.message}; {cost}"
        counts = f"{self.added} added, {self.updated} updated, {self.removed} removed, {self.unchanged} unchanged"
        if self.outcome == Outcome.DRY_RUN:
            return f"{self.label}: dry run, nothing written: would be {counts}; {cost}"
        line = f"{self.label}: {counts}; {cost}"
        if self.outcome == Outcome.PARTIAL:
            line += f" (partial: {self.message})"
        return line


def sync_integration(
    *,
    integration_id: int,
    trigger: str,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SyncResult:
    """Sync one integration now; raises AlreadySyncing when another sync holds it.

    Failures the application causes (token rejected, rate limit, unreachable, unexpected
    response) are recorded and returned as a failed result; a bug is recorded and re-raised.
    """
    integration = Integration.objects.select_related("tenant", "application").get(pk=integration_id)
    label = integration_label(integration)
    if not integration.is_configured:
        raise NotConfigured(f"{label}: not configured; Configure and Integrate first")
    if dry_run:
        return _dry_run(integration, label, progress)

    started_at = timezone.now()
    _acquire(integration_id=integration_id, now=started_at)
    heartbeat = Heartbeat(integration_id=integration_id, started_at=started_at)
    try:
        heartbeat.start()
        run = SyncRun.objects.create(integration=integration, trigger=trigger, started_at=started_at)
        result = SyncResult(label=label, outcome=Outcome.FAILED, run=run)
        try:
            recorder = ProgressRecorder(integration_id=integration_id, started_at=started_at, echo=progress)
            snapshot = _fetch(result, integration, recorder)
            with transaction.atomic(), _cyclic_gc_paused():
                plan = plan_changes(integration=integration, snapshot=snapshot, now=timezone.now())
                apply_plan(plan=plan, run=run)
                _record_success(result, plan, integration_id, started_at)
        except IntegrationError as error:
            _record_failure(result, integration_id, started_at, error.message, kind=error.kind)
        except Exception:
            logger.exception("Sync of %s failed unexpectedly", label)
            _record_failure(result, integration_id, started_at, UNEXPECTED_ERROR_MESSAGE, kind=status.UNEXPECTED)
            raise
    finally:
        heartbeat.stop()
        _release(integration_id=integration_id, started_at=started_at)
    # Commands print the summary themselves; a failure is worth the operator's log too.
    log = logger.debug if result.ok else logger.warning
    log("%s", result.summary())
    return result


@contextmanager
def _cyclic_gc_paused():
    """Python's cyclic garbage collector paused while a plan is made and written.

    That phase makes hundreds of thousands of short-lived objects (row values, SQL
    parameters) while the snapshot, as many again, is alive; every full collection re-scanned
    it all: about 0.3 s of a 2.5 s first sync of 10,000 users (`make bench`). None of these
    objects form cycles, so reference counting frees them as before.
    """
    if not gc.isenabled():  # paused already, by the caller: leave it so
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _acquire(*, integration_id: int, now) -> None:
    """Take the sync lock with one conditional UPDATE, or raise AlreadySyncing."""
    taken = (
        Integration.objects.filter(pk=integration_id)
        .filter(selectors.sync_lock_free_q(now=now))
        .update(
            sync_started_at=now,
            sync_heartbeat_at=now,
            status=Integration.Status.SYNCING,
            message=status.SYNC_IN_PROGRESS,
            progress=PROGRESS_STARTING,
        )
    )
    if not taken:
        raise AlreadySyncing()
    # We hold the lock, so a run still marked running was left by a worker that died.
    SyncRun.objects.filter(integration_id=integration_id, outcome=Outcome.RUNNING).update(
        outcome=Outcome.FAILED, finished_at=now, message=STALE_RUN_MESSAGE
    )


class ProgressRecorder:
    """The fetcher's progress callback: each line goes to `echo` (the command's output), and
    the latest one to the integration for the admin's live status, at most once a second.

    A single UPDATE in its own autocommit statement, outside the sync's write transaction
    (fetching happens before it), and only while this sync holds the integration. Only the
    sync's own thread writes: a line from one of the fetcher's worker threads is kept and
    stored by the next call from the sync's thread, so no worker opens a database connection
    of its own (on SQLite it would wait on the sync's, and nobody would close it).
    """

    def __init__(self, *, integration_id: int, started_at, echo: Callable[[str], None] | None = None):
        self.integration_id = integration_id
        self.started_at = started_at
        self.echo = echo
        self.stored_at = float("-inf")
        self.owner = threading.get_ident()
        self.latest = ""

    def __call__(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)
        self.latest = line
        if threading.get_ident() != self.owner:
            return
        now = time.monotonic()
        if now - self.stored_at < PROGRESS_EVERY_SECONDS:
            return
        self.stored_at = now
        _holding_lock(self.integration_id, self.started_at).update(progress=self.latest[:PROGRESS_MAX_LENGTH])


def _holding_lock(integration_id: int, started_at):
    """The integration while this sync holds it: after a stale takeover, a newer sync does."""
    return Integration.objects.filter(pk=integration_id, sync_started_at=started_at)


def _release(*, integration_id: int, started_at) -> None:
    _holding_lock(integration_id, started_at).update(sync_started_at=None, sync_heartbeat_at=None)


def _fetch(result: SyncResult, integration: Integration, progress):
    """The connector's fetch, its requests and retries counted into `result` however it ends."""
    fetcher = integration.connector.fetcher(
        configuration=integration.connector_configuration(),
        progress=progress,
        since=integration.last_synced_at,  # the audit trail is read from the last good sync
    )
    try:
        return fetcher.fetch()
    finally:
        result.requests, result.retries = fetcher.requests, fetcher.retries


def _take_counts(result: SyncResult, plan: SyncPlan) -> None:
    result.fetched, result.added, result.updated = plan.fetched, plan.added, plan.updated
    result.removed, result.unchanged = plan.removed, plan.unchanged
    result.notes = list(plan.notes)


def _record_success(result: SyncResult, plan: SyncPlan, integration_id: int, started_at) -> None:
    finished_at = timezone.now()
    result.outcome = Outcome.PARTIAL if plan.partial_reason else Outcome.SUCCESS
    _take_counts(result, plan)
    if plan.partial_reason:
        result.message = plan.partial_reason
    else:
        result.message = status.DATA_AVAILABLE if plan.active_after else status.NO_DATA_AVAILABLE
    _save_run(result, finished_at)
    # The closed loop of access reviews: the accounts as this sync wrote them show which
    # decided revokes and role changes were carried out in the application.
    verify_remediations(integration_id=integration_id, run=result.run, now=finished_at)
    _holding_lock(integration_id, started_at).update(
        status=Integration.Status.CONNECTED,
        message=result.message[:MESSAGE_MAX_LENGTH],
        error_kind="",
        progress="",
        last_synced_at=finished_at,
    )


def _record_failure(result: SyncResult, integration_id: int, started_at, message: str, *, kind: str) -> None:
    """The run failed: record why; accounts and last_synced_at stay as the last good sync left them."""
    result.outcome = Outcome.FAILED
    result.message = message
    _save_run(result, timezone.now())
    _holding_lock(integration_id, started_at).update(
        status=Integration.Status.ERROR, message=message[:MESSAGE_MAX_LENGTH], error_kind=kind, progress=""
    )


def _save_run(result: SyncResult, finished_at) -> None:
    run = result.run
    result.seconds = (finished_at - run.started_at).total_seconds()
    run.finished_at = finished_at
    run.outcome = result.outcome
    run.accounts_fetched = result.fetched
    run.accounts_added = result.added
    run.accounts_updated = result.updated
    run.accounts_removed = result.removed
    run.accounts_unchanged = result.unchanged
    run.requests = result.requests
    run.retries = result.retries
    run.message = result.message
    run.notes = "\n".join(result.notes)
    run.save()


def _dry_run(integration: Integration, label: str, progress) -> SyncResult:
    """Fetch and diff; report every change through `progress`; write nothing."""
    progress = progress or (lambda line: None)
    clock = time.monotonic()
    result = SyncResult(label=label, outcome=Outcome.FAILED)
    try:
        snapshot = _fetch(result, integration, progress)
        plan = plan_changes(integration=integration, snapshot=snapshot, now=timezone.now())
    except IntegrationError as error:
        result.message = error.message
        return result
    finally:
        result.seconds = time.monotonic() - clock
    for line in plan.lines():
        progress(line)
    result.outcome = Outcome.DRY_RUN
    _take_counts(result, plan)
    result.message = plan.partial_reason
    return result
