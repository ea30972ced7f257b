"""Past the offset cap, a user SCIM names but /users?query= never finds costs a bounded number
of requests, and the run says how many stayed out of reach and why."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from integrations.secrets import Secret
from integrations.connectors.pagerduty.client import PagerDutyClient
from integrations.connectors.pagerduty.fetch import PagerDutyFetcher, Snapshot
from tests.conftest import TOKEN

MISSING = 20
# Measured with these 20 users: 2,003 requests to /users before the bound (each whole-email
# query paged on to the offset cap: 99 pages). After it: 3 probes of shared prefixes
# ("ghost.", "ghost.0", "ghost.1"), then 3 pages for each whole email.
SEARCH_REQUESTS = 3 + MISSING * 3


def endless_search(fake):
    """Every /users?query= answer: a full page of other users, and `more: true`, for ever."""
    others = fake.dataset.user_list()[:30] * 4

    def answer(body, params):
        if "query" not in params:
            return body
        return {**body, "users": others[:100], "more": True, "total": None}

    fake.hook(r"^/users$", after=answer, times=None)


@pytest.fixture
def fetcher(fake_pagerduty):
    fetcher = PagerDutyFetcher(client=PagerDutyClient(token=Secret(TOKEN)))
    yield fetcher
    fetcher.client.close()


def test_a_search_past_the_cap_costs_a_bounded_number_of_requests_per_missing_user(fake_pagerduty, fetcher):
    fake = fake_pagerduty
    ghosts = [f"ghost.{n:02d}.{'abcdefghijklmnopqrst'[n]}@elsewhere.example" for n in range(MISSING)]
    fake.scim_extra = [{"userName": email, "active": True} for email in ghosts]
    endless_search(fake)
    users = {u["id"]: {"external_id": u["id"], "email": u["email"]} for u in fake.dataset.user_list()}
    snapshot = Snapshot(users=users)
    fetcher._executor = ThreadPoolExecutor(max_workers=fetcher.concurrency)
    try:
        fetcher._reach_beyond_cap(snapshot, fetcher._scim_page(1), listed_total=len(users))
    finally:
        fetcher._executor.shutdown(wait=True)

    assert fake.count(r"^/users$") == SEARCH_REQUESTS
    assert snapshot.partial_reason == (
        "Synced 30 of 50 users: 20 could not be reached through PagerDuty's user search (for 20 the "
        "search by their email kept saying more pages follow without listing them, and stops after 3 "
        "pages per email); no account was marked removed"
    )


def test_a_user_the_search_does_not_list_at_all_is_counted_apart(fake_pagerduty, fetcher):
    fake_pagerduty.scim_extra = [{"userName": "nowhere@elsewhere.example", "active": True}]
    users = {u["id"]: {"external_id": u["id"], "email": u["email"]} for u in fake_pagerduty.dataset.user_list()}
    snapshot = Snapshot(users=users)
    fetcher._executor = ThreadPoolExecutor(max_workers=fetcher.concurrency)
    try:
        fetcher._reach_beyond_cap(snapshot, fetcher._scim_page(1), listed_total=len(users))
    finally:
        fetcher._executor.shutdown(wait=True)

    assert fake_pagerduty.count(r"^/users$") == 1  # one probe: it said no more pages follow
    assert snapshot.partial_reason == (
        "Synced 30 of 31 users: 1 could not be reached through PagerDuty's user search "
        "(1 the search did not list at all); no account was marked removed"
    )
