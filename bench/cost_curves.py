"""Scenario 4 of `make bench`: what a sync costs as the account grows, against PagerDuty's bounds.

At 1,000, 10,000, 50,000 and 100,000 users (teams: users / 50, at most 200), a first sync into
a fresh integration and then an unchanged re-sync, each `manage.py syncpagerduty` in a
process of its own against the fake PagerDuty answering every request after 50 ms. Each is
set beside what PagerDuty allows at best:

- requests: the fewest the account needs (Dataset.minimum_requests; past 10,000 users a
  lower bound, as the search for the users beyond the offset cap cannot know in advance
  which queries list them without overlap);
- wall time: the latency bound, those requests PAGERDUTY_MAX_CONCURRENCY at a time, and the
  rate-limit bound, those requests at 960 a minute (the fake sets no rate limit here, so
  this is what a real account would add, not something the run waits for);
- peak RSS: at most 300 MB at 100,000 users.

The numbers are drawn in docs/bench/cost-curves.svg (bench/chart.py), rewritten each run.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

from bench import chart, report
from bench.process import ROOT, Measured, run_measured

POINTS = (1_000, 10_000, 50_000, 100_000)
LATENCY = 0.050  # seconds per request, as in scenarios 1 to 3
RATE_PER_MINUTE = 960  # PagerDuty's REST API limit per key
RSS_LIMIT_MB = 300  # at 100,000 users
CHART = ROOT / "docs" / "bench" / "cost-curves.svg"
STARTS = 3  # runs of the process start measured; the median counts

Target = report.Target


def teams_for(users: int) -> int:
    """One team per 50 users, at most 200 (scenario 1's account has 200 at 10,000 users)."""
    return max(1, min(200, users // 50))


@dataclass
class Point:
    users: int
    teams: int
    generated_seconds: float  # the fake's data, built in the bench process
    minimum: int  # requests of a first sync, at best
    resync_minimum: int  # of the re-sync: its audit trail starts at the first sync
    first: Measured
    first_requests: int
    resync: Measured
    resync_requests: int


def measure(bench, *, points: tuple[int, ...] = POINTS) -> list[report.Row]:
    from integrations.connectors.pagerduty.fetch import AUDIT_OVERLAP
    from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset

    from bench.run import PROCESS_TIMEOUT, SEED, TOKEN  # here: bench.run imports this module

    started = time.perf_counter()
    starts = [
        run_measured(["manage.py", "syncpagerduty", "--help"], env=bench.env, workdir=bench.workdir,
                     name=f"start-{number}", timeout=PROCESS_TIMEOUT).seconds
        for number in range(STARTS)
    ]
    process_start = statistics.median(starts)
    measured: list[Point] = []
    for users in points:
        teams = teams_for(users)
        generating = time.perf_counter()
        dataset = generate_dataset(users=users, teams=teams, seed=SEED)
        generated_seconds = time.perf_counter() - generating
        minimum = dataset.minimum_requests()
        with FakePagerDuty(dataset, token=TOKEN, latency=LATENCY) as fake:
            integration = bench.integration(f"cost curve, {users:,} users")
            fake.reset_log()
            first = bench.sync(fake, integration, name=f"curve-{users}-first")
            first_requests = fake.request_count
            integration.refresh_from_db()
            resync_minimum = dataset.minimum_requests(audit_since=integration.last_synced_at - AUDIT_OVERLAP)
            fake.reset_log()
            resync = bench.sync(fake, integration, name=f"curve-{users}-resync")
            measured.append(Point(
                users=users, teams=teams, generated_seconds=generated_seconds,
                minimum=minimum, resync_minimum=resync_minimum,
                first=first, first_requests=first_requests, resync=resync, resync_requests=fake.request_count,
            ))
        del dataset, fake  # the next account's fake starts without this one's users
    concurrency = bench.concurrency
    rows = rows_for(measured, concurrency=concurrency, process_start=process_start,
                    seconds=time.perf_counter() - started)
    write_chart(measured, concurrency=concurrency, process_start=process_start, database=_database_name())
    return rows


# -- bounds and targets ---------------------------------------------------------------------
def latency_bound(requests: int, *, concurrency: int) -> float:
    """Those requests, `concurrency` in flight at all times, each answered after LATENCY."""
    return math.ceil(requests / concurrency) * LATENCY


def rate_bound(requests: int) -> float:
    """Those requests at PagerDuty's 960 a minute."""
    return requests / RATE_PER_MINUTE * 60


# A sync's wall time is its process start, its fetch and its writes; neither bound holds all
# three. At 100,000 users the fetch took 2.2 to 3 times the latency bound (the search past the
# cap goes in rounds, and 2,800 pages are parsed on CPU the fake shares on the bench's 2 cores)
# and the writes of 200,000 rows 4 s on SQLite, 15 s on PostgreSQL. The target: at most this
# many times the larger of the latency bound and the process start alone (`syncpagerduty --help`).
WALL_FACTOR = 5.0
# Past the offset cap the minimum is a lower bound no client can know how to meet: the users
# beyond it come through searches by email prefix, each probed before it is paged, and a
# query lists users found already (the first 10,000, another prefix's).
SEARCH_OVERHEAD = 0.20
# The unchanged re-sync: lock, reads, run and status, the teams' last seen time; nothing per
# account. Besides those, the integration row is updated with progress (at most once a
# second) and a heartbeat: they grow with the time a sync takes, not with its accounts.
RESYNC_QUERIES = 30
# A first sync writes each account and its "added" change in INSERTs of 1,000 rows: two
# queries per 1,000 users, a few more for memberships; nothing per account.
FIRST_QUERIES_PER_1000 = 2.5
# Memory grows with the snapshot, which a sync holds whole until it is written (about 1.5 KB
# a user); nothing else may grow with the account.
RSS_PER_10K_MB = 20
INTEGRATION_TABLE = "integrations_integration"


def rows_for(points: list[Point], *, concurrency: int, process_start: float, seconds: float) -> list[report.Row]:
    scenario = (
        f"4. Cost curves: first sync and unchanged re-sync at {', '.join(f'{p.users:,}' for p in points)} users "
        f"(teams: users / 50, at most 200), {LATENCY * 1000:.0f} ms a request, no rate limit; each sync a process "
        f"of its own; process start alone {process_start:.2f} s; {seconds:.0f} s in all; drawn in "
        f"docs/bench/cost-curves.svg"
    )
    rows = []
    for point in points:
        label = f"{point.users:,}"
        first_bound = max(latency_bound(point.minimum, concurrency=concurrency), process_start)
        resync_bound = max(latency_bound(point.resync_minimum, concurrency=concurrency), process_start)
        rows += [
            report.Row(
                scenario, f"{label}: requests, first / re-sync", f"{point.first_requests:,} / {point.resync_requests:,}",
                _requests_target(point),
            ),
            report.Row(
                scenario, f"{label}: wall time, first / re-sync",
                f"{point.first.seconds:.2f} / {point.resync.seconds:.2f} s",
                Target(
                    f"≤ {WALL_FACTOR:g} × {first_bound:.2f} / {resync_bound:.2f} s",
                    point.first.seconds <= WALL_FACTOR * first_bound and point.resync.seconds <= WALL_FACTOR * resync_bound,
                ),
                note=(
                    f"latency bound {latency_bound(point.minimum, concurrency=concurrency):.2f} s, "
                    f"960/min bound {rate_bound(point.minimum):.0f} s"
                ),
            ),
            report.Row(
                scenario, f"{label}: SQL queries, first / re-sync", f"{point.first.queries} / {point.resync.queries}",
                Target.at_most(point.resync.queries, RESYNC_QUERIES, f"re-sync ≤ {RESYNC_QUERIES}"),
                note=(
                    f"of which integration row updates (progress, heartbeat) {point.first.writes_to(INTEGRATION_TABLE)}"
                    f" / {point.resync.writes_to(INTEGRATION_TABLE)}"
                ),
            ),
            report.Row(
                scenario, f"{label}: peak RSS, first / re-sync",
                f"{point.first.peak_rss_mb:.0f} / {point.resync.peak_rss_mb:.0f} MB",
                Target.at_most(_peak(point), RSS_LIMIT_MB, f"≤ {RSS_LIMIT_MB} MB") if point.users == 100_000 else None,
                note=f"fake's data built in {point.generated_seconds:.1f} s" if point is points[-1] else "",
            ),
        ]
    others = [point.resync.queries - point.resync.writes_to(INTEGRATION_TABLE) for point in points]
    rows.append(report.Row(
        scenario, "re-sync queries, integration row's aside", " / ".join(map(str, others)),
        Target("the same at every size", len(set(others)) == 1),
    ))
    if len(points) > 1:
        first_queries = [point.first.queries - point.first.writes_to(INTEGRATION_TABLE) for point in points]
        per_1000 = _slope([p.users / 1000 for p in points], first_queries)
        rows.append(report.Row(
            scenario, "first sync queries per 1,000 users, the same aside", f"{per_1000:.2f}",
            Target.at_most(per_1000, FIRST_QUERIES_PER_1000, f"≤ {FIRST_QUERIES_PER_1000:g}"),
            note=f"{' / '.join(map(str, first_queries))}: INSERTs of 1,000 rows (accounts, their changes)",
        ))
        growth = _slope([p.users / 10_000 for p in points], [_peak(p) for p in points])
        rows.append(report.Row(
            scenario, "peak RSS growth per 10,000 users", f"{growth:.1f} MB",
            Target.at_most(growth, RSS_PER_10K_MB, f"≤ {RSS_PER_10K_MB} MB"),
            note=f"least squares over the {len(points)} sizes, the larger of first sync and re-sync",
        ))
    return rows


def _requests_target(point: Point) -> Target:
    first_over, resync_over = point.first_requests / point.minimum - 1, point.resync_requests / point.resync_minimum - 1
    if point.users <= 10_000:
        return Target(
            f"= {point.minimum:,} / {point.resync_minimum:,}, the minimum",
            first_over == 0 and resync_over == 0,
        )
    return Target(
        f"≤ {1 + SEARCH_OVERHEAD:g} × lower bound {point.minimum:,} / {point.resync_minimum:,} "
        f"(+{first_over:.0%} / +{resync_over:.0%}: the search past 10,000)",
        first_over <= SEARCH_OVERHEAD and resync_over <= SEARCH_OVERHEAD,
    )


def _peak(point: Point) -> float:
    return max(point.first.peak_rss_mb, point.resync.peak_rss_mb)


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least squares: how much y grows per unit of x."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)


# -- the chart -----------------------------------------------------------------------------
FIRST, RESYNC = "first sync", "unchanged re-sync"
COLORS = {FIRST: "#1f6feb", RESYNC: "#d1242f", "minimum": "#57606a", "latency": "#8250df", "rate": "#1a7f37",
          "start": "#bc4c00", "memory": "#bc4c00"}


def write_chart(points: list[Point], *, concurrency: int, process_start: float, database: str) -> None:
    users = [point.users for point in points]

    def measured(values) -> list[chart.Series]:
        return [chart.Series(name, [values(p, sync) for p in points], color=COLORS[name])
                for name, sync in ((FIRST, "first"), (RESYNC, "resync"))]

    def bound(name: str, color: str, values: list[float]) -> chart.Series:
        return chart.Series(name, values, dashed=True, color=COLORS[color])

    panels = [
        chart.Panel("Requests", "", log_y=True, series=[
            *measured(lambda p, sync: getattr(p, f"{sync}_requests")),
            bound("PagerDuty's minimum, first sync (past 10k: a lower bound)", "minimum", [p.minimum for p in points]),
        ]),
        chart.Panel("Wall time, process spawn to exit", "s", log_y=True, series=[
            *measured(lambda p, sync: getattr(p, sync).seconds),
            bound(f"latency bound, {concurrency} in flight", "latency",
                  [latency_bound(p.minimum, concurrency=concurrency) for p in points]),
            bound("960 requests a minute", "rate", [rate_bound(p.minimum) for p in points]),
            bound("process start alone", "start", [process_start] * len(points)),
        ]),
        chart.Panel("SQL queries", "", log_x=False, series=measured(lambda p, sync: getattr(p, sync).queries)),
        chart.Panel("Peak RSS of the sync process", "MB", log_x=False, series=[
            *measured(lambda p, sync: getattr(p, sync).peak_rss_mb),
            bound(f"{RSS_LIMIT_MB} MB target", "memory", [float(RSS_LIMIT_MB)] * len(points)),
        ]),
    ]
    svg = chart.render(
        title=f"balkan_pd sync cost curves, {time.strftime('%Y-%m-%d')}, {database}",
        subtitle=(
            f"syncpagerduty against the fake PagerDuty, {LATENCY * 1000:.0f} ms a request, "
            f"PAGERDUTY_MAX_CONCURRENCY={concurrency}, teams = users / 50 (at most 200); dashed: bounds"
        ),
        x_values=users, x_label="users", panels=panels,
    )
    CHART.parent.mkdir(parents=True, exist_ok=True)
    CHART.write_text(svg)


def _database_name() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()" if connection.vendor == "sqlite" else "SHOW server_version")
        version = cursor.fetchone()[0]
    return f"SQLite {version}" if connection.vendor == "sqlite" else f"PostgreSQL {version.split()[0]}"
