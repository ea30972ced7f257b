"""`make bench`: one table of what a sync costs, against the limits PagerDuty sets.

A fake PagerDuty (tests/connectors/pagerduty/fake) answers on 127.0.0.1 with a chosen latency and rate
limit; the sync under test is `python manage.py syncpagerduty --integration ID` run as a
process of its own and timed from spawn to exit; scenario 4 (bench/cost_curves.py) measures
it from 1,000 to 100,000 users and draws docs/bench/cost-curves.svg; scenario 6 (bench/peer.py)
runs the same sync written with PagerDuty's own Python client beside it; scenario 7
(bench/access_review.py) opens, decides and exports an access review of 100,000 items;
scenario 8 (bench/fleet.py) syncs a fleet of 1,000 integrations with 1, 2 and 4 qcluster
processes. The bench's database is its own (see
bench/database.py) and everything it starts is stopped and removed when it ends.

    python -m bench [--database-url URL] [--only 1,2,3,4,5,6,7,8] [--fleet-size N]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import access_review, cost_curves, fleet, peer, report
from bench.database import BenchDatabase
from bench.process import ROOT, Measured, run_measured

RESULTS = ROOT / "bench" / "results"
TOKEN = "bench-token-0123456789abcdef"

USERS, TEAMS, SEED = 10_000, 200, 1
LATENCY = 0.050  # seconds per request: a plausible round trip to api.pagerduty.com
# PagerDuty allows 960 requests a minute per key; the same rate over a shorter window keeps the
# run short while one sync still spans several windows.
RATE_LIMIT, RATE_WINDOW = 160, 10.0
# Every 10th seeded account is removed (tests.factories), so 111,111 accounts leave 100,000 in
# PagerDuty: scenario 7's review has 100,000 items.
REVIEWER_ACCOUNTS = 111_111
PAGE_LOADS = 5  # per reviewer page, after one warm-up load; the median is reported
PROCESS_TIMEOUT = 240.0  # seconds; a hung process is killed and the bench fails
FIRST_SYNC_RUNS = 3  # the latency-bound first sync, each into a fresh integration; the median counts

Target = report.Target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="sqlite (default: a file in a temporary directory) or postgres://… (a dedicated "
        "database bench_balkan_pd is created on that server and dropped afterwards)",
    )
    parser.add_argument(
        "--only", metavar="N,N", default="1,2,3,4,5,6,7,8",
        help="run only these scenarios (default: all; 3 needs 1; 6, the python-pagerduty peer, runs beside 1; "
        "7 seeds 5's tenant; 8 needs PostgreSQL and Redis)",
    )
    parser.add_argument(
        "--fleet-size", type=int, default=fleet.SIZE, metavar="N",
        help=f"integrations of scenario 8 (default {fleet.SIZE:,}; fewer for development)",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="balkan_pd_bench_"))
    database = BenchDatabase.create(server_url=args.database_url, workdir=workdir)
    started = time.perf_counter()
    try:
        bench = Bench(workdir=workdir, database=database, fleet_size=args.fleet_size, database_url=args.database_url)
        bench.setup()
        bench.run(scenarios={int(n) for n in args.only.split(",")})
        text = report.render(
            title=f"balkan_pd bench, {time.strftime('%Y-%m-%d %H:%M')}, {time.perf_counter() - started:.0f} s in all",
            machine=bench.machine(),
            settings=bench.settings_line(),
            rows=bench.rows,
        )
        print(text)
        RESULTS.mkdir(exist_ok=True)
        name = f"latest-{database.vendor}.txt"
        (RESULTS / name).write_text(text + "\n")
        print(f"(also in bench/results/{name})")
        return 0 if all(row.passed is not False for row in bench.rows) else 1
    finally:
        from django.conf import settings

        if settings.configured:
            from django.db import connections

            connections.close_all()  # PostgreSQL drops no database that is still in use
        database.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def bench_environment(database_url: str) -> dict[str, str]:
    """The environment of the bench and of every process it measures: fixed, never a .env."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "BALKAN_PD_DOTENV": "0",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SESSION_COOKIE_SECURE": "false",
        "DJANGO_CSRF_COOKIE_SECURE": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
    }


def window_bound(*, requests: int, per_window: int, window: float, concurrency: int, latency: float) -> float:
    """The least time `requests` can take under a fixed window, from the window's start.

    The last request falls in window k = ceil(requests / per_window), which cannot open
    before (k - 1) windows have passed; its requests then need at least
    ceil(rest / concurrency) round trips. The last window is not waited out.
    """
    windows = math.ceil(requests / per_window)
    rest = requests - (windows - 1) * per_window
    return (windows - 1) * window + math.ceil(rest / concurrency) * latency


@dataclass
class Bench:
    workdir: Path
    database: BenchDatabase
    env: dict[str, str] = field(default_factory=dict)
    rows: list[report.Row] = field(default_factory=list)
    concurrency: int = 0
    fleet_size: int = fleet.SIZE
    database_url: str = ""  # as given: scenario 8 uses its PostgreSQL server, if it is one

    def setup(self) -> None:
        self.env = bench_environment(self.database.url)
        os.environ.update(self.env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.concurrency = settings.PAGERDUTY_MAX_CONCURRENCY
        # Warm the disk cache for every measured process alike (engine and peer).
        run_measured(["manage.py", "syncpagerduty", "--help"], env=self.env, workdir=self.workdir, name="warm-up",
                     timeout=PROCESS_TIMEOUT)

    # -- the scenarios --------------------------------------------------------------------
    def run(self, *, scenarios: set[int]) -> None:
        if scenarios & {5, 7}:
            # First, while this process holds what a web server would (no fake PagerDuty with
            # 60,000 users for its collector to walk) and the database has no other writes to
            # digest; the syncs then run beside a big tenant, as they would in production.
            reviewed = self.seed_reviewer_tenant()
            if 5 in scenarios:
                self.reviewer_list(reviewed)
            if 7 in scenarios:  # after 5: its review items are not there for 5's pages
                self.rows += access_review.measure(self, reviewed)
        self.syncs(scenarios)
        if 8 in scenarios:
            self.rows += fleet.measure(self, size=self.fleet_size, database_url=self.database_url)

    def syncs(self, scenarios: set[int]) -> None:
        from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset

        dataset = generate_dataset(users=USERS, teams=TEAMS, seed=SEED)
        minimum = dataset.minimum_requests()
        with FakePagerDuty(dataset, token=TOKEN, latency=LATENCY) as fake:
            first = self.latency_bound(fake, minimum) if scenarios & {1, 3, 6} else None
            if 3 in scenarios:
                self.unchanged_resync(fake, minimum)
            if 2 in scenarios:
                self.rate_bound(fake, minimum)
            if 6 in scenarios:
                self.rows += peer.measure(self, fake=fake, engine=first)
        if 4 in scenarios:
            self.rows += cost_curves.measure(self)

    def latency_bound(self, fake, minimum: int) -> Measured:
        runs, requests = [], set()
        for number in range(1, FIRST_SYNC_RUNS + 1):
            integration = self.integration("latency-bound" if number == 1 else f"latency-bound {number}")
            fake.reset_log()
            runs.append(self.sync(fake, integration, name=f"latency-bound-{number}"))
            runs[-1].requests = fake.request_count
            requests.add(fake.request_count)
        measured = _median_run(runs)
        sequential = minimum * LATENCY
        scenario = (
            f"1. Latency-bound first sync: {USERS:,} users, {TEAMS} teams, {LATENCY * 1000:.0f} ms a request, "
            f"no rate limit (median of {FIRST_SYNC_RUNS} runs)"
        )
        self.rows += [
            report.Row(scenario, "requests", "/".join(map(str, sorted(requests))),
                       Target(f"= {minimum}, the minimum", requests == {minimum})),
            report.Row(scenario, "wall time, process spawn to exit", f"{measured.seconds:.2f} s",
                       Target.at_most(measured.seconds, 0.3 * sequential,
                                      f"≤ 0.3 × sequential fetch ({minimum} × {LATENCY * 1000:.0f} ms = {sequential:.1f} s)"),
                       note="runs: " + ", ".join(f"{run.seconds:.2f} s" for run in runs)),
            report.Row(scenario, "SQL queries (first sync)", f"{measured.queries}",
                       Target.at_most(measured.queries, 150, "≤ 150")),
            report.Row(scenario, "rows written", f"{measured.rows_written:,}"),
            report.Row(scenario, "peak RSS", f"{measured.peak_rss_mb:.0f} MB"),
        ]
        self.findings_cost(fake, scenario=scenario, engine=measured)
        return measured

    def findings_cost(self, fake, *, scenario: str, engine: Measured) -> None:
        """What the findings add: the audit trail (who changed an account) and the on-call list,
        read beside the users and teams. Priced against a first sync of an account whose plan
        has neither (PagerDuty answers 402 to each, once), which reads everything else."""
        findings_paths = (r"^/audit/records$", r"^/oncalls$")
        full = fake.request_count  # the last first sync's log
        extra = sum(fake.count(path) for path in findings_paths)
        for path in findings_paths:
            fake.inject(path, status=402, times=None)
        runs = []
        try:
            for number in range(1, FIRST_SYNC_RUNS + 1):
                fake.reset_log()
                integration = self.integration(f"without findings {number}")
                runs.append(self.sync(fake, integration, name=f"without-findings-{number}"))
        finally:
            fake.clear_faults()
        without = _median_run(runs)
        refused = sum(fake.count(path) for path in findings_paths)
        rest = fake.request_count - refused
        cost = engine.seconds - without.seconds
        self.rows += [
            report.Row(scenario, "findings: audit trail + on-call requests", f"{extra}",
                       Target(f"= {full - rest}: {full} less the {rest} of a sync without them", extra == full - rest),
                       note=f"{extra / full:.0%} of the sync's requests"),
            report.Row(scenario, "findings: wall time they add", f"{cost:+.2f} s",
                       Target.at_most(cost, 0.5, "≤ 0.5 s: read beside the users, not after"),
                       note=f"median of {len(runs)} syncs without them (402): {without.seconds:.2f} s"),
        ]

    def unchanged_resync(self, fake, minimum: int) -> None:
        from integrations.connectors.pagerduty.fetch import AUDIT_OVERLAP

        integration = self.integration("latency-bound", create=False)
        # A re-sync reads the audit trail from the first sync on, not the last 31 days.
        minimum = fake.dataset.minimum_requests(audit_since=integration.last_synced_at - AUDIT_OVERLAP)
        fake.reset_log()
        measured = self.sync(fake, integration, name="unchanged-resync")
        accounts = measured.rows_written_to("integrations_syncedaccount")
        scenario = f"3. Unchanged re-sync of the {USERS:,} users"
        self.rows += [
            report.Row(scenario, "SQL queries", f"{measured.queries}", Target.at_most(measured.queries, 50, "≤ 50")),
            report.Row(scenario, "account rows written", f"{accounts:,}",
                       Target.exactly(accounts, 0, "= 0, nothing changed")),
            report.Row(scenario, "rows written, all tables", f"{measured.rows_written:,}",
                       note=", ".join(f"{t.removeprefix('integrations_')} {n}" for t, n in sorted(measured.stats["rows_written_by_table"].items()))),
            report.Row(scenario, "requests", f"{fake.request_count}",
                       Target.exactly(fake.request_count, minimum, f"= {minimum}, the minimum")),
            report.Row(scenario, "wall time, process spawn to exit", f"{measured.seconds:.2f} s"),
        ]

    def rate_bound(self, fake, minimum: int) -> None:
        integration = self.integration("rate-bound")
        fake.reset_log()
        fake.rate_limit(RATE_LIMIT, RATE_WINDOW)  # the first window opens now, at spawn
        try:
            measured = self.sync(fake, integration, name="rate-bound")
        finally:
            fake.rate_limit(None)
        throttled = fake.count_429
        bound = window_bound(
            requests=minimum, per_window=RATE_LIMIT, window=RATE_WINDOW, concurrency=self.concurrency, latency=LATENCY
        )
        windows = math.ceil(fake.request_count / RATE_LIMIT)
        scenario = (
            f"2. Rate-bound: the same account, {RATE_LIMIT} requests per {RATE_WINDOW:.0f} s fixed window "
            f"(PagerDuty's 960/min rate, shorter window), ratelimit-* headers, {LATENCY * 1000:.0f} ms a request"
        )
        self.rows += [
            report.Row(scenario, "requests", f"{fake.request_count}",
                       Target.exactly(fake.request_count, minimum + throttled,
                                      f"= {minimum + throttled}: the minimum {minimum} + {throttled} retried 429s")),
            report.Row(scenario, "wall time, process spawn to exit", f"{measured.seconds:.2f} s",
                       Target.at_most(measured.seconds, 1.1 * bound,
                                      f"≤ 1.1 × window bound {bound:.2f} s")),
            report.Row(scenario, "429s received", f"{throttled}",
                       Target.at_most(throttled, windows, f"≤ 1 per window ({windows} windows)")),
        ]

    def reviewer_list(self, reviewed: access_review.Reviewed) -> None:
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        client = Client()
        client.force_login(reviewed.reviewer)
        scenario = (
            f"5. Reviewer list: accounts admin at {REVIEWER_ACCOUNTS:,} accounts, 100,000 of them active "
            f"(seeded in {reviewed.seed_seconds:.0f} s)"
        )
        url = "/admin/integrations/syncedaccount/"
        for label, query in (
            ("first page", ""),
            ("filtered: role=admin", "?role=admin"),
            ("search: user0424", "?q=user0424"),
            ("page 50", "?p=50"),
        ):
            assert client.get(url + query).status_code == 200  # warm-up, as a reviewer clicking around
            timings = []
            for _ in range(PAGE_LOADS):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(url + query)
                    timings.append(time.perf_counter() - started)
                assert response.status_code == 200, (query, response.status_code)
            ms = statistics.median(timings) * 1000
            count = len(queries.captured_queries)
            self.rows.append(
                report.Row(scenario, f"{label}: queries / median time", f"{count} / {ms:.0f} ms",
                           # 16: the findings badges read the licenses' role groups once per page.
                           Target.both(Target.at_most(count, 16, "≤ 16 queries"), Target.at_most(ms, 300, "≤ 300 ms")),
                           note=f"slowest of {PAGE_LOADS}: {max(timings) * 1000:.0f} ms")
            )

    # -- helpers --------------------------------------------------------------------------
    def integration(self, description: str, *, create: bool = True):
        """A configured PagerDuty integration of the bench tenant, as Configure and Integrate leaves it."""
        from django.utils import timezone

        from integrations.models import Integration, Tenant, ThirdPartyApplication
        from integrations.secrets import Secret

        tenant, _ = Tenant.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
        if not create:
            return Integration.objects.get(tenant=tenant, description=description)
        return Integration.objects.create(
            tenant=tenant,
            application=ThirdPartyApplication.objects.get(key="pagerduty"),
            description=description,
            configuration={"region": "us"},
            secrets={"access_token": Secret(TOKEN)},
            secret_hints={"access_token": Secret(TOKEN).hint},
            configured_at=timezone.now(),
            status=Integration.Status.PENDING,
        )

    def sync(self, fake, integration, *, name: str, argv: list[str] | None = None) -> Measured:
        """`manage.py syncpagerduty` (or `argv`) against `fake`, measured."""
        measured = run_measured(
            argv or ["manage.py", "syncpagerduty", "--integration", str(integration.pk)],
            env={**self.env, "PAGERDUTY_API_BASE_URL": fake.base_url},
            workdir=self.workdir,
            name=name,
            timeout=PROCESS_TIMEOUT,
        )
        _settle(fake)
        return measured

    def seed_reviewer_tenant(self) -> access_review.Reviewed:
        from django.contrib.auth import get_user_model
        from django.db import transaction

        from integrations.models import Tenant, TenantMembership
        from tests.factories import make_integration, make_synced_data

        started = time.perf_counter()
        tenant = Tenant.objects.create(slug="reviewed", name="Reviewed")
        with transaction.atomic():
            integration = make_integration(tenant=tenant, description=f"{REVIEWER_ACCOUNTS:,} accounts")
            make_synced_data(integration=integration, accounts=REVIEWER_ACCOUNTS, teams=200, licenses=3)
        self.settle_database()
        reviewer = get_user_model().objects.create_user(username="bench-reviewer", is_staff=True)
        TenantMembership.objects.create(user=reviewer, tenant=tenant, role=TenantMembership.Role.REVIEWER)
        return access_review.Reviewed(
            integration=integration, reviewer=reviewer, accounts=REVIEWER_ACCOUNTS,
            seed_seconds=time.perf_counter() - started,
        )

    def settle_database(self) -> None:
        """As the database would be by the time a reviewer looks: statistics fresh, and the
        earlier scenarios' writes vacuumed and checkpointed rather than competing with reads."""
        from django.db import DatabaseError, connection

        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                cursor.execute("ANALYZE")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                return
            cursor.execute("VACUUM ANALYZE")
            try:
                cursor.execute("CHECKPOINT")
            except DatabaseError:  # needs a superuser or pg_checkpoint: then autovacuum's timing it is
                pass

    def machine(self) -> str:
        import platform

        from django.db import connection

        cpu = next(
            (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines() if line.startswith("model name")),
            platform.processor() or "unknown CPU",
        )
        mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), 0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT sqlite_version()" if connection.vendor == "sqlite" else "SHOW server_version")
            version = cursor.fetchone()[0]
        database = f"{'SQLite' if connection.vendor == 'sqlite' else 'PostgreSQL'} {version}"
        return (
            f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.1f} GiB RAM; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}; {database}"
        )

    def settings_line(self) -> str:
        from django.conf import settings

        return (
            f"PAGERDUTY_MAX_CONCURRENCY={settings.PAGERDUTY_MAX_CONCURRENCY}, page size 100, "
            f"PAGERDUTY_MAX_RETRIES={settings.PAGERDUTY_MAX_RETRIES}, "
            f"PAGERDUTY_BACKOFF_BASE={settings.PAGERDUTY_BACKOFF_BASE:g} s; "
            f"fake PagerDuty on 127.0.0.1 (tests/connectors/pagerduty/fake), seed {SEED}"
        )


def _median_run(runs: list[Measured]) -> Measured:
    """The run of median wall time (the upper one of an even number)."""
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


def _settle(fake) -> None:
    """The fake logs a request just after answering it: wait until its count stops moving."""
    count = -1
    while count != fake.request_count:
        count = fake.request_count
        time.sleep(0.05)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
