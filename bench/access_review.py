"""Scenario 7: an access review of the 100,000 accounts of scenario 5's tenant still in PagerDuty.

Opening it and streaming its evidence report each run as a process of their own (wall time,
SQL queries, peak RSS), beside the same at 1,000 accounts to show what does not grow; the
reviewer's pages load through Django's test client in the bench process, as scenario 5's do,
and Keep in bulk runs there too (its queries are captured on the bench's connection).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

from bench import report
from bench.process import Measured, run_measured

Target = report.Target

SMALL_ACCOUNTS = 1_000
KEEP_ITEMS = 10_000
PAGE_LOADS = 5  # per page, after one warm-up load; the median is reported
PROCESS_TIMEOUT = 240.0


@dataclass
class Reviewed:
    """Scenario 5's tenant: its integration of 100,000 accounts and its reviewer."""

    integration: object
    reviewer: object
    accounts: int
    seed_seconds: float


@dataclass
class Opened:
    review_id: int
    seconds: float  # open_review alone
    queries: int  # open_review alone
    process: Measured

    @property
    def items(self) -> int:
        return self.process.rows_written_to("integrations_reviewitem")


def measure(bench, reviewed: Reviewed) -> list[report.Row]:
    from django.contrib.auth import get_user_model

    from integrations.models import SyncedAccount, TenantMembership
    from tests.factories import make_integration, make_synced_data

    tenant = reviewed.integration.tenant
    reviewer = reviewed.reviewer
    reviewer.email = "bench-reviewer@bench.test"  # no account's: every item can be decided
    reviewer.save(update_fields=["email"])
    admin = get_user_model().objects.create_user(username="bench-admin", email="bench-admin@bench.test", is_staff=True)
    TenantMembership.objects.create(user=admin, tenant=tenant, role=TenantMembership.Role.ADMIN)
    small_integration = make_integration(tenant=tenant, description=f"{SMALL_ACCOUNTS:,} accounts")
    make_synced_data(integration=small_integration, accounts=SMALL_ACCOUNTS, teams=200, licenses=3, id_prefix="S")
    in_scope = SyncedAccount.objects.filter(integration=reviewed.integration, removed_at__isnull=True).count()

    small = _open(bench, integration=small_integration, admin=admin, reviewer=reviewer, name="open-review-small")
    large = _open(bench, integration=reviewed.integration, admin=admin, reviewer=reviewer, name="open-review-large")
    bench.settle_database()  # as scenario 5: statistics fresh by the time a reviewer looks

    scenario = (
        f"7. Access review at {reviewed.accounts:,} accounts (scenario 5's tenant, seeded in "
        f"{reviewed.seed_seconds:.0f} s; {in_scope:,} still in PagerDuty: {in_scope:,} items), one reviewer"
    )
    # Opening reads each 1,000 accounts' teams and writes their items in one INSERT: a fixed
    # part (the small run's, less its one batch) and two queries per 1,000 items, none per item.
    fixed = small.queries - 2 * _batches(small.items)
    expected = fixed + 2 * _batches(large.items)
    rows = [
        report.Row(scenario, "open: wall time of open_review", f"{large.seconds:.2f} s",
                   Target.at_most(large.seconds, 10, "≤ 10 s"),
                   note=f"process spawn to exit {large.process.seconds:.2f} s; "
                        f"at {SMALL_ACCOUNTS:,} accounts {small.seconds:.2f} s"),
        report.Row(scenario, "open: SQL queries of open_review", f"{large.queries}",
                   Target.exactly(large.queries, expected,
                                  f"= {fixed} + 2 per 1,000 items, as at {SMALL_ACCOUNTS:,} accounts "
                                  f"({small.queries} = {fixed} + {2 * _batches(small.items)}); not constant: over 150 past "
                                  f"{(150 - fixed) // 2 * 1000:,} items")),
        report.Row(scenario, "open: items written", f"{large.items:,}",
                   Target.exactly(large.items, in_scope, f"= {in_scope:,}, the accounts in scope")),
        report.Row(scenario, "open: peak RSS of the process", f"{large.process.peak_rss_mb:.0f} MB",
                   Target.both(Target.at_most(large.process.peak_rss_mb, 300, "≤ 300 MB"),
                               Target.at_most(large.process.peak_rss_mb - small.process.peak_rss_mb, 50,
                                              f"flat: ≤ 50 MB over {SMALL_ACCOUNTS:,} accounts' "
                                              f"{small.process.peak_rss_mb:.0f} MB"))),
    ]
    rows += _pages(scenario, reviewer=reviewer, small_id=small.review_id, large_id=large.review_id)
    rows += _keep(scenario, reviewer=reviewer, review_id=large.review_id)
    rows += _export(bench, scenario, small=small, large=large)
    return rows


def _batches(items: int) -> int:
    from integrations.reviews.services import BATCH_SIZE

    return -(-items // BATCH_SIZE)


def _open(bench, *, integration, admin, reviewer, name: str) -> Opened:
    measured = run_measured(
        ["bench/open_review.py", "--integration", str(integration.pk), "--opened-by", str(admin.pk),
         "--reviewer", str(reviewer.pk)],
        env={**bench.env, "EMAIL_URL": "dummymail://"},  # the mail is made, not printed
        workdir=bench.workdir,
        name=name,
        timeout=PROCESS_TIMEOUT,
    )
    line = next(line for line in reversed(measured.output.splitlines()) if line.startswith("bench-result "))
    result = json.loads(line.removeprefix("bench-result "))
    return Opened(review_id=result["review"], seconds=result["seconds"], queries=result["queries"], process=measured)


def _pages(scenario: str, *, reviewer, small_id: int, large_id: int) -> list[report.Row]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client()
    client.force_login(reviewer)
    items = reverse("admin:integrations_reviewitem_changelist")
    pages = (
        ("reviewer's items (mine)", lambda review: f"{items}?review={review}&mine=1"),
        ("undecided items, page 3", lambda review: f"{items}?review={review}&decision=none&p=3"),
        ("the review's page", lambda review: reverse("admin:integrations_accessreview_change", args=[review])),
    )
    rows = []
    for label, url in pages:
        small_url, large_url = url(small_id), url(large_id)
        assert client.get(small_url).status_code == 200  # warm-up
        with CaptureQueriesContext(connection) as small_queries:
            assert client.get(small_url).status_code == 200
        assert client.get(large_url).status_code == 200  # warm-up, as a reviewer clicking around
        timings = []
        for _ in range(PAGE_LOADS):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(large_url)
                timings.append(time.perf_counter() - started)
            assert response.status_code == 200, (large_url, response.status_code)
        ms = statistics.median(timings) * 1000
        count, small_count = len(queries.captured_queries), len(small_queries.captured_queries)
        rows.append(report.Row(
            scenario, f"{label}: queries / median time", f"{count} / {ms:.0f} ms",
            Target.both(Target.exactly(count, small_count, f"= {small_count} queries as at {SMALL_ACCOUNTS:,} accounts"),
                        Target.at_most(ms, 300, "≤ 300 ms")),
            note=f"slowest of {PAGE_LOADS}: {max(timings) * 1000:.0f} ms",
        ))
    return rows


def _keep(scenario: str, *, reviewer, review_id: int) -> list[report.Row]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.reviews import services
    from integrations.reviews.models import ReviewDecision, ReviewItem

    review_items = ReviewItem.objects.filter(review_id=review_id)
    # A filtered selection of exactly KEEP_ITEMS undecided items: the first by id.
    last = review_items.order_by("id").values_list("id", flat=True)[KEEP_ITEMS - 1]
    selection = review_items.filter(decision="", id__lte=last)
    history = ReviewDecision.objects.filter(item__review_id=review_id)
    before = history.count()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        kept = services.keep_in_bulk(items=selection, user=reviewer)
        seconds = time.perf_counter() - started
    written = history.count() - before
    decided = review_items.filter(decision=ReviewItem.Decision.KEEP).count()
    count = len(queries.captured_queries)
    bound = 1 + 2 * _batches(KEEP_ITEMS) + 2
    return [
        report.Row(scenario, f"Keep in bulk, {KEEP_ITEMS:,} filtered items: time / queries", f"{seconds:.2f} s / {count}",
                   Target.at_most(count, bound, f"≤ {bound} queries (ids, UPDATE + history INSERT per "
                                                f"{services.BATCH_SIZE:,}, transaction)")),
        report.Row(scenario, "Keep in bulk: items kept / history rows written", f"{decided:,} / {written:,}",
                   Target(f"= {KEEP_ITEMS:,} each", kept == decided == written == KEEP_ITEMS)),
    ]


def _export(bench, scenario: str, *, small: Opened, large: Opened) -> list[report.Row]:
    def export(review_id: int, name: str) -> Measured:
        return run_measured(
            ["manage.py", "exportreview", "--review", str(review_id), "--format", "json", "--output", "/dev/null"],
            env=bench.env, workdir=bench.workdir, name=name, timeout=PROCESS_TIMEOUT,
        )

    small_run = export(small.review_id, "export-review-small")
    large_run = export(large.review_id, "export-review-large")
    growth = large_run.peak_rss_mb - small_run.peak_rss_mb
    return [
        report.Row(scenario, "evidence report (JSON) to /dev/null: peak RSS", f"{large_run.peak_rss_mb:.0f} MB",
                   Target.both(Target.at_most(large_run.peak_rss_mb, 300, "≤ 300 MB"),
                               Target.at_most(growth, 50, f"flat: ≤ 50 MB over {small.items:,} items' "
                                                          f"{small_run.peak_rss_mb:.0f} MB"))),
        report.Row(scenario, "evidence report: wall time / SQL queries", f"{large_run.seconds:.1f} s / {large_run.queries}",
                   note=f"process spawn to exit, `manage.py exportreview --format json`; "
                        f"{small.items:,} items: {small_run.seconds:.1f} s / {small_run.queries}"),
    ]
