"""`qcluster` stops within 10 s when SIGTERM reaches its whole process group (systemd's
default KillMode=control-group, most container runtimes), idle and with a task running;
and within 10 s too when only its main process is signalled.

django-q2's own command hung for good on a group-wide SIGTERM: its sentinel died inside
`stop_event.wait()`, and the main process's `stop_event.set()` then waited for it for ever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.databases import url_of_the_test_database
from tests.hardening.processes import kill_all, live_processes, seconds_until_gone

ROOT = Path(__file__).resolve().parent.parent.parent
STOP_LIMIT = 10.0
# A task that outlives any stop: the worker is busy when the signal comes.
ENQUEUE_A_LONG_TASK = (
    "import django; django.setup()\n"
    "from django_q.tasks import async_task\n"
    "async_task('time.sleep', 120)\n"
)


def cluster_env() -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": url_of_the_test_database(),
        "Q_POLL": "0.1",
        "Q_WORKERS": "2",
    }
    # The ORM broker on the test database: never a Redis queue others may share.
    env.pop("REDIS_URL", None)
    env.pop("TEST_DB_NAME", None)
    return env


def wait_for_log(log, text: str, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        log.seek(0)
        if text in log.read():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def cluster():
    """A running `qcluster` in a process group of its own; yields (process, log)."""
    env = cluster_env()
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            assert wait_for_log(log, "running.", seconds=30), log.read()
            # The workers log "ready" a moment after the cluster says it runs.
            assert wait_for_log(log, "pushing tasks", seconds=10)
            yield process, log, env
        finally:
            kill_all(group=process.pid)
            process.wait(timeout=10)


def make_busy(log, env) -> None:
    subprocess.run([sys.executable, "-c", ENQUEUE_A_LONG_TASK], cwd=ROOT, env=env, check=True, timeout=60)
    assert wait_for_log(log, "processing", seconds=20), "no worker took the task"
    time.sleep(0.3)  # inside the task, not just taking it


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_sigterm_to_the_process_group_stops_every_process(cluster, busy):
    process, log, env = cluster
    if busy:
        make_busy(log, env)
    assert len(live_processes(group=process.pid)) >= 5  # main, sentinel, 2 workers, monitor, pusher

    os.killpg(process.pid, signal.SIGTERM)
    seconds = seconds_until_gone(group=process.pid, limit=STOP_LIMIT)

    log.seek(0)
    assert seconds is not None, f"processes left after {STOP_LIMIT} s: {live_processes(group=process.pid)}\n{log.read()[-3000:]}"
    assert process.wait(timeout=5) == 0
    print(f"\nqcluster, {'busy' if busy else 'idle'}, SIGTERM to the group: stopped in {seconds:.2f} s")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_sigterm_to_the_main_process_alone_stops_every_process(cluster, busy):
    process, log, env = cluster
    if busy:
        make_busy(log, env)

    process.send_signal(signal.SIGTERM)
    seconds = seconds_until_gone(group=process.pid, limit=STOP_LIMIT)

    log.seek(0)
    assert seconds is not None, f"processes left after {STOP_LIMIT} s: {live_processes(group=process.pid)}\n{log.read()[-3000:]}"
    assert process.wait(timeout=5) == 0
    print(f"\nqcluster, {'busy' if busy else 'idle'}, SIGTERM to the main process: stopped in {seconds:.2f} s")


@pytest.mark.django_db(transaction=True)
def test_a_cluster_that_dies_on_its_own_exits_non_zero(cluster):
    """So that a supervisor's Restart=on-failure starts it again."""
    process, log, env = cluster
    others = [pid for pid in live_processes(group=process.pid) if pid != process.pid]

    for pid in others:  # e.g. the OOM killer
        os.kill(pid, signal.SIGKILL)

    assert process.wait(timeout=STOP_LIMIT) == 1
    log.seek(0)
    assert "the django-q2 cluster stopped on its own" in log.read()
