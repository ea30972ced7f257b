"""`qcluster`: django-q2's cluster, with a stop that cannot hang.

django-q2's own command hangs for good when SIGTERM reaches the whole process group (what
systemd's default KillMode=control-group and many container runtimes send). Its sentinel,
workers, pusher and monitor keep the default action for SIGTERM and die at once; the main
process's handler then calls `stop_event.set()`, and a multiprocessing Event whose waiter
(the sentinel, killed inside `stop_event.wait()`) never wakes blocks `set()` for ever.

Here the main process's handler only notes the signal, and the main loop stops the cluster
with bounded waits:

1. a signal sent to the whole group has already ended the sentinel and its children: wait
   up to GROUP_SIGNAL_GRACE seconds for that, and done;
2. otherwise (only this process was signalled, e.g. `kill PID` or Ctrl-C, which the
   cluster's children ignore) django-q2's own stop: the stop event is set from a helper
   thread, so a stuck Event cannot block the stop, and idle workers leave within
   GRACEFUL_STOP seconds;
3. whatever is still running then (a worker busy with a sync) gets SIGTERM, and SIGKILL
   after TERMINATE_GRACE seconds.

A sync cut off this way is left as after a machine that died mid-sync (its lock goes stale
and the next sync takes it over). The command exits 0 after a signal, and 1 when the cluster
dies on its own, so that a supervisor's restart-on-failure restarts it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django_q.cluster import Cluster
from django_q.conf import logger
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

GROUP_SIGNAL_GRACE = 1.0
GRACEFUL_STOP = 3.0
TERMINATE_GRACE = 2.0


class Command(DjangoQClusterCommand):
    help = "Starts the django-q2 cluster; SIGTERM or SIGINT stops it within seconds, busy or not."

    def handle(self, *args, **options):
        # As django-q2's command: queued tasks are signed, so the key must be there.
        settings.SECRET_KEY
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]

        self.stop_signal: int | None = None
        cluster = Cluster()  # installs django-q2's handlers, replaced right away
        signal.signal(signal.SIGTERM, self._note_signal)
        signal.signal(signal.SIGINT, self._note_signal)
        try:
            cluster.start()
        except RuntimeError:  # the sentinel died while starting: of our signal, or a real failure
            if self.stop_signal is None:
                raise
        if not options.get("run_once"):
            while self.stop_signal is None and cluster.sentinel.is_alive():
                cluster.sentinel.join(0.2)
        died_by_itself = self.stop_signal is None and not options.get("run_once")
        self._stop(cluster)
        if died_by_itself:
            raise CommandError(
                f"the django-q2 cluster stopped on its own (sentinel exit code {cluster.sentinel.exitcode})"
            )

    def _note_signal(self, signum, frame) -> None:
        # Nothing that takes a lock here: the signal may have interrupted its holder.
        if self.stop_signal is None:
            self.stop_signal = signum

    def _stop(self, cluster: Cluster) -> None:
        sentinel = cluster.sentinel
        started = time.monotonic()
        logger.info("Q Cluster %s stopping.", cluster.name)
        # SIGINT (Ctrl-C) never ends the children: they ignore it, so there is nothing to wait for.
        if self.stop_signal == signal.SIGTERM:
            sentinel.join(GROUP_SIGNAL_GRACE)
        if sentinel.is_alive():
            threading.Thread(target=cluster.stop_event.set, name="qcluster-stop", daemon=True).start()
            sentinel.join(GRACEFUL_STOP)
        if sentinel.is_alive():
            processes = [*_descendants(sentinel.pid), sentinel.pid]
            logger.warning(
                "Q Cluster %s did not stop in %.0f s (a task still running); terminating %d processes",
                cluster.name, time.monotonic() - started, len(processes),
            )
            _signal_all(processes, signal.SIGTERM)
            sentinel.join(TERMINATE_GRACE)
            _signal_all([pid for pid in processes if _alive(pid)], signal.SIGKILL)
            sentinel.join(TERMINATE_GRACE)
        logger.info("Q Cluster %s has stopped in %.1f s.", cluster.name, time.monotonic() - started)


def _descendants(pid: int) -> list[int]:
    """Children, grandchildren… of `pid` (Linux /proc; empty where there is none)."""
    parents: dict[int, list[int]] = {}
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
