"""Scenario 8, Fleet: one daily fan-out over a fleet of integrations, with 1, 2 and 4 clusters.

A thousand integrations of 50 to 500 users (seeded uniform), each its own tenant and its own
PagerDuty account and token, on PostgreSQL, with django-q2 on Redis (REDIS_URL). One fake
PagerDuty serves every account (FakePagerDuty(accounts=...): a request's token picks its
account, built on first use) at 200 ms a request. For each number of `manage.py qcluster`
processes, on a fresh database: the integrations are seeded as Configure and Integrate leaves
them (token encrypted, awaiting the first sync), the clusters start, the daily schedule is made
due, and the clusters' own scheduler fires it: `sync_all_integrations` queues one task per
integration and the workers take them. Measured: fan-out to the last SyncRun finished, per
worker; the peak of database connections (pg_stat_activity, sampled); machine CPU; and the
proof that every integration was synced exactly once (one SyncRun, trigger schedule, outcome
success, with its own account's users) and none skipped.

PostgreSQL and Redis are needed whatever --database-url says: the server of --database-url when
it is PostgreSQL, else 127.0.0.1:5432 (BENCH_FLEET_POSTGRES_URL), and Redis database 5
(BENCH_FLEET_REDIS_URL). Either unreachable: a SKIP row.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from bench import report
from bench.database import BenchDatabase
from bench.process import ROOT

if TYPE_CHECKING:
    from bench.run import Bench

Target = report.Target

FLEET_DATABASE = "bench_fleet_balkan_pd"
POSTGRES_URL = os.environ.get("BENCH_FLEET_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_FLEET_REDIS_URL", "redis://127.0.0.1:6379/5")
SIZE = 1_000
USERS_MIN, USERS_MAX = 50, 500
USERS_PER_TEAM = 25  # 2 to 20 teams
SEED = 8
LATENCY = 0.200  # seconds per request
PROCESSES = (1, 2, 4)
TARGET_SECONDS = 20 * 60
SAMPLE_EVERY = 0.5  # seconds between samples of pg_stat_activity and the SyncRun count
SCHEDULER_WAIT = 120.0  # seconds for a cluster's scheduler (every 30 s) to fire the due schedule
STOP_WAIT = 20.0  # seconds for a cluster to stop on SIGTERM before it is killed
# Seconds the fleet must stay done (every integration synced, the queue empty, nothing running)
# before the clusters stop: a task queued twice, held by a cluster, would run by then.
SETTLE = 5.0
QUEUE_KEY = "django_q:balkan_pd:q"  # django-q2's Redis list of the cluster named balkan_pd
DAILY_FUNC = "integrations.tasks.sync_all_integrations"


def fleet_sizes(*, count: int, seed: int = SEED) -> list[int]:
    """Users of each account of the fleet, by index: uniform over USERS_MIN..USERS_MAX."""
    rng = random.Random(seed)
    return [rng.randint(USERS_MIN, USERS_MAX) for _ in range(count)]


def fleet_token(index: int) -> str:
    return f"fleet-{index:05d}-bench-token-0123456789"


def account_index(token: str) -> int | None:
    prefix, _, rest = token.partition("-")
    number = rest.split("-", 1)[0]
    return int(number) if prefix == "fleet" and number.isdigit() else None


def seed_fleet(*, count: int, seed: int = SEED) -> None:
    """The fleet's tenants and integrations, in bulk, each as Configure and Integrate saves it:
    its token encrypted (the field seals every Secret), its hint, configured, awaiting its first
    sync. Run in a process of the fleet's database: `manage.py shell -c`."""
    from django.db import connection, transaction
    from django.utils import timezone

    from integrations import status
    from integrations.connectors.base import Configuration
    from integrations.models import Integration, Tenant, ThirdPartyApplication
    from integrations.secrets import Secret

    application = ThirdPartyApplication.objects.get(key="pagerduty")
    sizes = fleet_sizes(count=count, seed=seed)
    now = timezone.now()
    with transaction.atomic():
        tenants = Tenant.objects.bulk_create(
            Tenant(slug=f"fleet-{index:05d}", name=f"Fleet {index:05d}") for index in range(count)
        )
        integrations = []
        for index, tenant in enumerate(tenants):
            configuration = Configuration(values={"region": "us"}, secrets={"access_token": Secret(fleet_token(index))})
            integrations.append(Integration(
                tenant=tenant,
                application=application,
                description=f"PagerDuty, {sizes[index]} users",
                configuration=dict(configuration.values),
                secrets=dict(configuration.secrets),
                secret_hints={name: secret.hint for name, secret in configuration.secrets.items()},
                configured_at=now,
                status=Integration.Status.PENDING,
                message=status.AWAITING_FIRST_SYNC,
            ))
        Integration.objects.bulk_create(integrations, batch_size=500)
    # Real configured integrations: the sync reads each token back; none is stored in clear.
    assert Integration.objects.configured().count() == count
    last = Integration.objects.select_related("tenant").get(tenant__slug=f"fleet-{count - 1:05d}")
    assert last.secrets["access_token"].reveal() == fleet_token(count - 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM integrations_integration WHERE secrets LIKE %s", ["%bench-token%"])
        assert cursor.fetchone()[0] == 0, "a token is stored in clear"


def measure(bench: Bench, *, size: int = SIZE, database_url: str = "") -> list[report.Row]:
    """Scenario 8's rows; a SKIP row when PostgreSQL or Redis cannot be reached."""
    from django.conf import settings

    scenario = (
        f"8. Fleet: {size:,} integrations of {USERS_MIN}-{USERS_MAX} users (seeded uniform), each its own tenant "
        f"and PagerDuty account, {LATENCY * 1000:.0f} ms a request; one daily fan-out (the schedule made due, "
        f"fired by the clusters' scheduler), django-q2 on Redis, PostgreSQL; Q_WORKERS={settings.Q_WORKERS}, "
        f"PAGERDUTY_MAX_CONCURRENCY={settings.PAGERDUTY_MAX_CONCURRENCY}"
    )
    server_url = database_url if urlsplit(database_url).scheme in ("postgres", "postgresql", "pgsql") else POSTGRES_URL
    problem = _unreachable(server_url)
    if problem:
        return [report.Row(scenario, "skipped", "SKIP", note=problem)]
    fleet = Fleet(bench=bench, size=size, server_url=server_url, workers=settings.Q_WORKERS)
    return fleet.measure(scenario)


def _unreachable(server_url: str) -> str:
    import psycopg
    import redis

    try:
        with psycopg.connect(_maintenance_url(server_url), connect_timeout=3):
            pass
    except psycopg.Error as error:
        return f"PostgreSQL unreachable at {urlsplit(server_url).netloc}: {str(error).strip().splitlines()[0]}"
    try:
        redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis unreachable at {REDIS_URL}: {error}"
    return ""


def _maintenance_url(server_url: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(scheme="postgresql", path="/postgres"))


@dataclass
class Run:
    """One fan-out with `processes` clusters, and what was seen of it."""

    processes: int
    workers: int  # per process
    due_to_fanout: float = 0.0  # seconds from the schedule made due to its firing
    seconds: float = 0.0  # fan-out to the last SyncRun finished
    peak_connections: int = 0
    peak_active: int = 0
    watched: float = 0.0  # seconds from the fan-out to the end of the settling: the CPU figures' span
    cpu_busy: float = 0.0  # of the machine, fan-out to the end
    cluster_cpu: float = 0.0  # seconds, of every process of the clusters, fan-out to the end
    fake_cpu: float = 0.0  # seconds, of the bench process (the fake PagerDuty, the sampling), the same
    requests: int = 0
    sync_seconds: tuple[float, float] = (0.0, 0.0)  # one sync, SyncRun start to finish: median, 95th percentile
    integrations: int = 0
    synced_once: int = 0  # exactly one SyncRun: schedule, success
    twice: int = 0  # more than one SyncRun
    skipped: int = 0  # no successful schedule SyncRun
    other_runs: dict[str, int] = field(default_factory=dict)  # "trigger/outcome": count, besides schedule/success
    wrong_accounts: int = 0  # runs whose account count is not their own account's
    failed_tasks: int = 0

    @property
    def per_minute_per_worker(self) -> float:
        return self.integrations / (self.seconds / 60) / (self.processes * self.workers)


@dataclass
class Fleet:
    bench: Bench
    size: int
    server_url: str
    workers: int
    sizes: list[int] = field(init=False)  # users of each account, by index
    built: threading.Thread | None = field(init=False, default=None)  # builds every account ahead

    def __post_init__(self) -> None:
        self.sizes = fleet_sizes(count=self.size)

    def measure(self, scenario: str) -> list[report.Row]:
        from tests.connectors.pagerduty.fake import FakePagerDuty, LazyAccounts, generate_dataset

        def account(token: str):
            """A token's own PagerDuty account, built on its sync's first request."""
            index = account_index(token)
            if index is None or index >= self.size:
                return None
            users = self.sizes[index]
            return generate_dataset(users=users, teams=max(2, users // USERS_PER_TEAM), seed=index)

        accounts = LazyAccounts(account)
        # Built while the first database migrates and the clusters start, so that no run pays
        # for building the accounts and the runs compare alike.
        self.built = threading.Thread(target=lambda: [accounts[fleet_token(n)] for n in range(self.size)], daemon=True)
        self.built.start()
        rows = []
        with FakePagerDuty(accounts=accounts, latency=LATENCY) as fake:
            for processes in PROCESSES:
                run = self.fan_out(fake, processes=processes)
                rows += self.rows(scenario, run)
        return rows

    # -- one fan-out ------------------------------------------------------------------------
    def fan_out(self, fake, *, processes: int) -> Run:
        import psycopg
        import redis

        workdir: Path = self.bench.workdir
        database = BenchDatabase.create(server_url=self.server_url, workdir=workdir, name=FLEET_DATABASE)
        clusters: list[subprocess.Popen] = []
        try:
            redis.from_url(REDIS_URL).flushdb()  # this index only: left-over tasks of a killed run
            env = {
                **self.bench.env,
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "DATABASE_URL": database.url,
                "REDIS_URL": REDIS_URL,
                "PAGERDUTY_API_BASE_URL": fake.base_url,
            }
            env.pop("BALKAN_PD_BENCH_STATS", None)
            self._manage(["migrate", "--no-input"], env=env)
            self._manage(["shell", "-c", f"from bench.fleet import seed_fleet; seed_fleet(count={self.size})"], env=env)
            fake.reset_log()
            run = Run(processes=processes, workers=self.workers)
            for number in range(processes):
                log = open(workdir / f"fleet-{processes}-qcluster-{number}.log", "w")
                clusters.append(subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                ))
                log.close()
            self.built.join()
            with psycopg.connect(database.url, autocommit=True) as connection:
                self._watch(connection, run, clusters)
                _stop(clusters)
                run.requests = fake.request_count
                self._check(connection, run)
            return run
        finally:
            _stop(clusters)
            database.drop()

    def _manage(self, argv: list[str], *, env: dict[str, str]) -> None:
        done = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(argv)} failed:\n{(done.stdout + done.stderr)[-3000:]}")

    def _watch(self, connection, run: Run, clusters: list[subprocess.Popen]) -> None:
        """Make the daily schedule due, wait for the clusters' scheduler to fire it, then sample
        until every integration has a finished run and nothing is queued or running."""
        import redis

        queue = redis.from_url(REDIS_URL)
        name = connection.info.dbname
        updated = connection.execute(
            "UPDATE django_q_schedule SET next_run = now() - interval '1 second' WHERE func = %s", [DAILY_FUNC]
        ).rowcount
        assert updated == 1, f"{updated} daily schedules"
        due = time.time()
        fanout = None
        cpu_at_fanout = (0, 0)
        sessions_cpu = self_cpu = 0.0
        deadline = due + SCHEDULER_WAIT
        done_since = None
        while True:
            _check_alive(clusters)
            sessions, active = connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", [name]
            ).fetchone()
            run.peak_connections = max(run.peak_connections, sessions)
            run.peak_active = max(run.peak_active, active)
            if fanout is None:
                if connection.execute("SELECT next_run > now() FROM django_q_schedule WHERE func = %s",
                                      [DAILY_FUNC]).fetchone()[0]:
                    fanout = time.time()
                    cpu_at_fanout = _cpu_times()
                    sessions_cpu, self_cpu = _sessions_cpu({cluster.pid for cluster in clusters}), time.process_time()
                    run.due_to_fanout = fanout - due
                    deadline = fanout + 3 * TARGET_SECONDS
                elif time.time() > deadline:
                    raise RuntimeError(f"the daily schedule did not fire within {SCHEDULER_WAIT:.0f} s")
            else:
                finished, running = connection.execute(
                    "SELECT count(*) FILTER (WHERE finished_at IS NOT NULL), count(*) FILTER (WHERE finished_at IS NULL) "
                    "FROM integrations_syncrun"
                ).fetchone()
                if finished >= self.size and not running and queue.llen(QUEUE_KEY) == 0:
                    done_since = done_since or time.time()
                    if time.time() - done_since >= SETTLE:
                        break
                else:
                    done_since = None
                if time.time() > deadline:
                    break  # reported as it stands: skipped or unfinished integrations fail the row
            time.sleep(SAMPLE_EVERY)
        run.watched = time.time() - fanout
        busy, total = (now - before for now, before in zip(_cpu_times(), cpu_at_fanout))
        run.cpu_busy = busy / total if total else 0.0
        run.cluster_cpu = _sessions_cpu({cluster.pid for cluster in clusters}) - sessions_cpu
        run.fake_cpu = time.process_time() - self_cpu
        last = connection.execute("SELECT extract(epoch FROM max(finished_at)) FROM integrations_syncrun").fetchone()[0]
        run.seconds = float(last) - fanout if last is not None else time.time() - fanout

    def _check(self, connection, run: Run) -> None:
        """Exactly one SyncRun per integration, trigger schedule, outcome success, of its own account."""
        run.integrations = connection.execute("SELECT count(*) FROM integrations_integration").fetchone()[0]
        per_integration = connection.execute(
            """SELECT count(r.id) FILTER (WHERE r.trigger = 'schedule' AND r.outcome = 'success') AS good,
                      count(r.id) AS runs
               FROM integrations_integration i LEFT JOIN integrations_syncrun r ON r.integration_id = i.id
               GROUP BY i.id"""
        ).fetchall()
        run.synced_once = sum(1 for good, runs in per_integration if good == 1 and runs == 1)
        run.twice = sum(1 for good, runs in per_integration if runs > 1)
        run.skipped = sum(1 for good, runs in per_integration if good == 0)
        run.other_runs = {
            f"{trigger}/{outcome}": count
            for trigger, outcome, count in connection.execute(
                "SELECT trigger, outcome, count(*) FROM integrations_syncrun "
                "WHERE NOT (trigger = 'schedule' AND outcome = 'success') GROUP BY 1, 2"
            ).fetchall()
        }
        fetched = connection.execute(
            """SELECT t.slug, r.accounts_fetched FROM integrations_syncrun r
               JOIN integrations_integration i ON i.id = r.integration_id
               JOIN integrations_tenant t ON t.id = i.tenant_id"""
        ).fetchall()
        run.wrong_accounts = sum(1 for slug, count in fetched if count != self.sizes[int(slug.rsplit("-", 1)[1])])
        run.failed_tasks = connection.execute("SELECT count(*) FROM django_q_task WHERE NOT success").fetchone()[0]
        run.sync_seconds = connection.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP (ORDER BY s) "
            "FROM (SELECT extract(epoch FROM finished_at - started_at) AS s FROM integrations_syncrun) AS runs"
        ).fetchone()

    # -- the report ---------------------------------------------------------------------------
    def rows(self, scenario: str, run: Run) -> list[report.Row]:
        label = f"{run.processes} process{'es' if run.processes > 1 else ''} × {run.workers} workers"
        exact = run.synced_once == self.size == run.integrations and not run.twice and not run.skipped
        others = ", ".join(f"{key} {count}" for key, count in sorted(run.other_runs.items())) or "no other runs"
        minutes = run.seconds / 60
        return [
            report.Row(scenario, f"{label}: all {self.size:,} synced, fan-out to last run finished",
                       f"{run.seconds:.0f} s ({minutes:.1f} min)",
                       Target.at_most(run.seconds, TARGET_SECONDS, f"≤ {TARGET_SECONDS // 60} min"),
                       note=f"schedule due → fired: {run.due_to_fanout:.0f} s (the scheduler runs every 30 s)"),
            report.Row(scenario, f"{label}: integrations per minute per worker", f"{run.per_minute_per_worker:.1f}",
                       note=f"{self.size / minutes:.0f}/min in all; one sync {run.sync_seconds[0]:.2f} s median, "
                            f"{run.sync_seconds[1]:.2f} s p95; {run.requests / max(run.integrations, 1):.1f} requests a sync"),
            report.Row(scenario, f"{label}: synced exactly once (schedule, success)",
                       f"{run.synced_once:,} of {run.integrations:,}",
                       Target(f"= {self.size:,}: none twice ({run.twice}), none skipped ({run.skipped})", exact),
                       note=f"{others}; accounts not their own: {run.wrong_accounts}; failed tasks: {run.failed_tasks}"),
            report.Row(scenario, f"{label}: peak DB connections (pg_stat_activity)",
                       f"{run.peak_connections} ({run.peak_active} active)"),
            report.Row(scenario, f"{label}: CPU of the clusters' processes", f"{run.cluster_cpu / run.watched:.2f} cores",
                       note=f"{run.cluster_cpu:.0f} s, {run.cluster_cpu / max(run.integrations, 1) * 1000:.0f} ms a sync; "
                            f"fake PagerDuty {run.fake_cpu:.0f} s; the machine's {os.cpu_count()} cores "
                            f"{run.cpu_busy * 100:.0f} % busy (PostgreSQL and other processes included); "
                            f"fan-out to {SETTLE:.0f} s after the last sync"),
        ]


def _check_alive(clusters: list[subprocess.Popen]) -> None:
    dead = [cluster.args for cluster in clusters if cluster.poll() is not None]
    if dead:
        raise RuntimeError(f"a qcluster exited during the run (see its log in the bench's directory): {dead}")


def _stop(clusters: list[subprocess.Popen]) -> None:
    """SIGTERM to each cluster we started (it stops within seconds), SIGKILL to its session after."""
    for cluster in clusters:
        if cluster.poll() is None:
            cluster.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    for cluster in clusters:
        try:
            cluster.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)  # its own session: the cluster and its workers
            cluster.wait()


def _sessions_cpu(sessions: set[int]) -> float:
    """CPU seconds used so far by the processes of these sessions (each cluster is a session of
    its own): their own time, and that of their children which ended (a recycled worker)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        # After the command: state, ppid, pgrp, session, ..., utime, stime, cutime, cstime (fields 3-17).
        if int(fields[3]) in sessions:
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)
