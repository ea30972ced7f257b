"""The django-q2 cluster for real: broker choice, and several `qcluster` processes sharing the daily sync.

The end-to-end test starts `python manage.py qcluster` processes against the test database
(PostgreSQL with Redis as the broker, or the SQLite file with the ORM broker), lets the daily
schedule fire, and checks that 20 integrations are each synced exactly once, never twice at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django_q.models import Schedule, Task

from integrations.models import Integration, SyncRun, Tenant, ThirdPartyApplication
from integrations.schedule import DAILY_SCHEDULE_NAME
from integrations.services import add_integration
from tests.conftest import TOKEN, configure
from tests.databases import url_of_the_test_database
from tests.paths import ROOT

# Redis databases of the tests' own, so that a developer's queue (db 0) is never touched.
TEST_REDIS_URL = "redis://127.0.0.1:6379/13"
TEST_REDIS_DBS = range(15, 7, -1)
CLAIM_KEY = "balkan_pd:test-run"
INTEGRATIONS = 20
DEADLINE_SECONDS = 120


def service_env(**overrides: str | None) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1"}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=service_env(**env), capture_output=True, text=True, timeout=60
    )


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


BROKER_OF_THE_SETTINGS = (
    "import django; django.setup()\n"
    "from django_q.brokers import get_broker\n"
    "broker = get_broker()\n"
    "print(type(broker).__name__, broker.ping())\n"
    "if type(broker).__name__ == 'Redis':\n"
    "    print(broker.connection.connection_pool.connection_kwargs['db'])\n"
)


@pytest.mark.skipif(not redis_reachable(), reason="Redis is not running on 127.0.0.1:6379")
def test_with_redis_url_the_cluster_uses_that_redis():
    result = run_python(BROKER_OF_THE_SETTINGS, REDIS_URL=TEST_REDIS_URL)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Redis", "True", "13"]


def test_without_redis_url_the_cluster_uses_the_database(tmp_path):
    result = run_python(BROKER_OF_THE_SETTINGS, REDIS_URL=None, DATABASE_URL=f"sqlite:///{tmp_path}/q.sqlite3")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ORM", "True"]


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"Q_TIMEOUT": "1500", "Q_RETRY": "1500"}, "Q_RETRY must be larger than Q_TIMEOUT"),
        ({"SYNC_HEARTBEAT_TIMEOUT_SECONDS": "0"}, "SYNC_HEARTBEAT_TIMEOUT_SECONDS must be a positive number"),
    ],
)
def test_timeouts_that_would_run_a_sync_twice_stop_start_up(env, complaint):
    result = run_python("import django; django.setup()", **env)

    assert result.returncode != 0
    assert complaint in result.stderr


def test_the_old_stale_setting_is_named_as_unused_and_start_up_goes_on():
    result = run_python("import django; django.setup()", SYNC_STALE_AFTER_SECONDS="1800")

    assert result.returncode == 0, result.stderr
    assert "SYNC_STALE_AFTER_SECONDS is no longer used" in result.stderr


# --- several qcluster processes -----------------------------------------------------------


@contextmanager
def broker_env():
    """Environment for the clusters' broker: PostgreSQL runs with Redis (the scale-out setup),
    SQLite with the ORM broker on its file."""
    if connection.vendor == "sqlite":
        yield {"REDIS_URL": None, "Q_POLL": "0.1"}
        return
    if not redis_reachable():
        pytest.skip("Redis is not running on 127.0.0.1:6379: the PostgreSQL pass uses it as the broker")
    # Every Redis database holds one queue: a test run claims a database no other concurrent
    # run (another checkout's suite on this machine) uses, and empties it before and after.
    for db in TEST_REDIS_DBS:
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        if client.set(CLAIM_KEY, os.getpid(), nx=True, ex=DEADLINE_SECONDS + 60):
            break
    else:
        pytest.skip(f"every test Redis database ({TEST_REDIS_DBS.stop + 1}-{TEST_REDIS_DBS.start}) is in use")
    try:
        empty_queue(client)
        yield {"REDIS_URL": f"redis://127.0.0.1:6379/{db}"}
    finally:
        empty_queue(client)
        client.delete(CLAIM_KEY)


def empty_queue(client: redis.Redis) -> None:
    keys = client.keys("django_q:*")
    if keys:
        client.delete(*keys)


class Clusters:
    """`qcluster` processes in their own process groups, always stopped on exit."""

    def __init__(self, *, count: int, env: dict[str, str]):
        self.count = count
        self.env = env
        self.processes: list[subprocess.Popen] = []
        self.logs = [tempfile.TemporaryFile(mode="w+") for _ in range(count)]
        self.final_outputs: list[str] | None = None  # kept once the processes have stopped

    def __enter__(self) -> Clusters:
        for log in self.logs:
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return self

    def outputs(self) -> list[str]:
        if self.final_outputs is not None:
            return self.final_outputs
        texts = []
        for log in self.logs:
            log.seek(0)
            texts.append(log.read())
        return texts

    def output(self) -> str:
        """The end of every process's output, for failure messages."""
        return "\n".join(f"--- qcluster {n} ---\n{text[-4000:]}" for n, text in enumerate(self.outputs()))

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def __exit__(self, *exc_info) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                # The cluster's workers, pusher and monitor share the group of the process we started.
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)
        self.final_outputs = self.outputs()
        for log in self.logs:
            log.close()


def trigger_daily_schedule(env: dict[str, str]) -> None:
    """Make the daily schedule due, and run django-q2's scheduler once, as a cluster would."""
    schedule = Schedule.objects.get(name=DAILY_SCHEDULE_NAME)
    Schedule.objects.filter(pk=schedule.pk).update(next_run=schedule.next_run - timedelta(days=1))
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\nfrom django_q.scheduler import scheduler; scheduler()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def wait_for_tasks(clusters: Clusters, *, expected: int) -> None:
    """Until the clusters have recorded `expected` finished tasks (or the deadline passes)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while Task.objects.count() < expected:
        assert clusters.alive(), clusters.output()
        assert time.monotonic() < deadline, f"{Task.objects.count()} of {expected} tasks done\n{clusters.output()}"
        time.sleep(0.2)


def sync_everything_with_clusters(*, processes: int, fake) -> tuple[float, list[int]]:
    """Configure 20 integrations and let `processes` clusters work off the daily sync.

    Returns the seconds from the first sync's start to the last one's finish, and how many
    syncs each process ran.
    """
    application = ThirdPartyApplication.objects.get(key="pagerduty")
    for number in range(INTEGRATIONS):
        tenant = Tenant.objects.create(name=f"Tenant {number:02d}", slug=f"tenant-{number:02d}")
        configure(add_integration(tenant=tenant, application=application, description=f"PagerDuty {number}"))
    with broker_env() as broker:
        env = service_env(
            DATABASE_URL=url_of_the_test_database(),
            PAGERDUTY_API_BASE_URL=fake.base_url,
            Q_WORKERS="2",
            LOG_LEVEL="INFO",  # each sync logs its summary line: shows which process ran it
            TEST_DB_NAME=None,
            **broker,
        )
        with Clusters(count=processes, env=env) as clusters:
            trigger_daily_schedule(env)
            # the fan-out task, then one sync task per integration
            wait_for_tasks(clusters, expected=1 + INTEGRATIONS)
    syncs_per_process = [log.count("sync task (schedule) done: ") for log in clusters.outputs()]

    runs = list(SyncRun.objects.order_by("started_at"))
    failed_tasks = list(Task.objects.filter(success=False).values_list("func", "result"))
    assert failed_tasks == []
    assert Task.objects.count() == 1 + INTEGRATIONS
    assert [run.outcome for run in runs] == [SyncRun.Outcome.SUCCESS] * INTEGRATIONS, [r.message for r in runs]
    assert sorted(run.integration_id for run in runs) == sorted(Integration.objects.values_list("id", flat=True))
    assert {run.trigger for run in runs} == {SyncRun.Trigger.SCHEDULE}
    assert sum(syncs_per_process) == INTEGRATIONS
    return (max(run.finished_at for run in runs) - runs[0].started_at).total_seconds(), syncs_per_process


def assert_no_overlapping_syncs() -> None:
    by_integration: dict[int, list[SyncRun]] = {}
    for run in SyncRun.objects.order_by("started_at"):
        by_integration.setdefault(run.integration_id, []).append(run)
    for integration_id, runs in by_integration.items():
        for earlier, later in zip(runs, runs[1:]):
            assert earlier.finished_at <= later.started_at, f"integration {integration_id} synced twice at once"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_clusters_share_the_daily_sync_each_integration_once():
    from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset

    with FakePagerDuty(generate_dataset(users=20, teams=2, seed=4), token=TOKEN, latency=0.01) as fake:
        seconds, syncs_per_process = sync_everything_with_clusters(processes=2, fake=fake)

    assert_no_overlapping_syncs()
    assert fake.request_count == sum(SyncRun.objects.values_list("requests", flat=True))
    assert Integration.objects.filter(status=Integration.Status.CONNECTED, sync_started_at=None).count() == INTEGRATIONS
    # How the work was shared depends on timing, so it is reported, not asserted.
    print(
        f"\n{INTEGRATIONS} integrations synced by 2 qcluster processes in {seconds:.2f} s; "
        f"syncs per process: {syncs_per_process}"
    )
