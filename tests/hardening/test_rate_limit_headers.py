"""Rate-limit headers that are absurd, unreadable or not finite never hang a sync.

Every wait is bounded by PAGERDUTY_RATE_LIMIT_MAX_WAIT, a reset that is no usable number is a
short backoff, and each test runs under a time limit, so a regression fails instead of hanging.
"""

from __future__ import annotations

import pytest

from integrations.secrets import Secret
from integrations.connectors.errors import RateLimited
from integrations.connectors.pagerduty.client import PagerDutyClient, backoff_delay
from integrations.models import Integration, SyncRun
from integrations.services import add_integration
from integrations.sync import sync_integration
from tests.conftest import TOKEN, configure
from tests.hardening.bounded import bounded

USERS = r"^/users$"


@pytest.fixture
def small_waits(settings):
    settings.PAGERDUTY_RATE_LIMIT_MAX_WAIT = 0.5
    settings.PAGERDUTY_BACKOFF_BASE = 0.01


@pytest.fixture
def client(fake_pagerduty, small_waits):
    client = PagerDutyClient(token=Secret(TOKEN))
    yield client
    client.cancel()
    client.close()


def window(limit: str, remaining: str, reset: str) -> dict[str, str]:
    return {"ratelimit-limit": limit, "ratelimit-remaining": remaining, "ratelimit-reset": reset}


@pytest.mark.parametrize("reset", ["NaN", "nan", "inf", "-inf", "Infinity", "soon", "", "-5"])
def test_a_spent_window_with_an_unusable_reset_is_a_short_backoff(client, fake_pagerduty, reset):
    fake_pagerduty.inject(USERS, kind="headers", times=None, headers=window("10", "0", reset))

    with bounded(5) as elapsed:
        pages = [client.fetch_json("/users", {"limit": 1, "offset": n}) for n in range(4)]

    assert [len(page["users"]) for page in pages] == [1, 1, 1, 1]
    assert elapsed() < 2
    assert fake_pagerduty.wait_for_requests(4) == 4


def test_a_long_run_of_unusable_resets_slows_a_sync_but_never_fails_it(client, fake_pagerduty):
    """The backoff for an unusable reset grows with each one in a row, but it is our own wait,
    not PagerDuty's: it stops growing at the max wait (0.5 s here) instead of failing the sync
    with a wait PagerDuty never asked for."""
    fake_pagerduty.inject(USERS, kind="headers", times=None, headers=window("10", "0", "NaN"))

    with bounded(15) as elapsed:
        pages = [client.fetch_json("/users", {"limit": 1, "offset": n}) for n in range(10)]

    assert len(pages) == 10
    assert elapsed() < 10


def test_backoff_never_overflows_however_many_attempts_came_before(settings):
    settings.PAGERDUTY_BACKOFF_BASE = 1.0
    assert 30 <= backoff_delay(5000) <= 60


@pytest.mark.parametrize("reset", ["NaN", "inf", "nonsense"])
def test_429_with_an_unusable_reset_backs_off_and_carries_on(client, fake_pagerduty, reset):
    fake_pagerduty.inject(USERS, kind="throttle", times=2, headers=window("10", "0", reset))

    with bounded(5):
        body = client.fetch_json("/users", {"limit": 100})
        client.fetch_json("/users", {"limit": 100})  # the spent window does not block the next one

    assert len(body["users"]) == 30
    assert fake_pagerduty.count_429 == 2


@pytest.mark.parametrize("value", ["inf", "NaN", "1e400"])
def test_non_finite_limit_and_remaining_are_ignored(client, fake_pagerduty, value):
    fake_pagerduty.inject(USERS, kind="headers", times=None, headers=window(value, value, value))

    with bounded(5):
        pages = [client.fetch_json("/users", {"limit": 1, "offset": n}) for n in range(3)]

    assert [page["users"][0]["id"] for page in pages] == [u["id"] for u in fake_pagerduty.dataset.user_list()[:3]]


@pytest.mark.parametrize("reset", ["100000", "3"])
def test_a_window_wait_longer_than_the_max_wait_fails_at_once(client, fake_pagerduty, reset):
    """Budget waits are bounded too: past PAGERDUTY_RATE_LIMIT_MAX_WAIT (0.5 s here) the sync
    gives up with a plain rate-limit message instead of sleeping."""
    fake_pagerduty.inject(USERS, kind="headers", times=None, headers=window("10", "0", reset))

    with bounded(5) as elapsed:
        client.fetch_json("/users", {"limit": 1})
        with pytest.raises(RateLimited) as raised:
            client.fetch_json("/users", {"limit": 1})

    assert elapsed() < 1
    assert str(raised.value) == (
        f"rate limit: PagerDuty asked to wait {int(reset)} s for its rate-limit window, more than "
        "the 0.5 s a sync may wait; the next sync will try again"
    )
    assert fake_pagerduty.wait_for_requests(1) == 1


def test_an_absurd_window_wait_is_a_short_number_in_the_message(client, fake_pagerduty):
    fake_pagerduty.inject(USERS, kind="headers", times=None, headers=window("10", "0", "1e308"))

    client.fetch_json("/users", {"limit": 1})
    with pytest.raises(RateLimited) as raised:
        client.fetch_json("/users", {"limit": 1})

    assert str(raised.value).startswith("rate limit: PagerDuty asked to wait 1e+308 s for its rate-limit window")
    assert len(str(raised.value)) < 200


def test_a_window_wait_within_the_max_wait_is_waited_out(client, fake_pagerduty):
    fake_pagerduty.inject(USERS, kind="headers", times=1, headers=window("10", "0", "0.2"))

    with bounded(5) as elapsed:
        client.fetch_json("/users", {"limit": 1})
        client.fetch_json("/users", {"limit": 1})

    assert 0.15 <= elapsed() < 2


def test_429_with_a_huge_reset_fails_at_once(client, fake_pagerduty):
    fake_pagerduty.inject(USERS, kind="throttle", times=None, headers=window("10", "0", "100000"))

    with bounded(5) as elapsed, pytest.raises(RateLimited) as raised:
        client.fetch_json("/users", {"limit": 1})

    assert elapsed() < 1
    assert str(raised.value).startswith("rate limit: PagerDuty kept answering 429")


# --- a whole sync ------------------------------------------------------------------------


@pytest.fixture
def configured(tenant, pagerduty_app, fake_pagerduty, small_waits) -> Integration:
    return configure(add_integration(tenant=tenant, application=pagerduty_app, description="PD"))


@pytest.mark.parametrize("value", ["inf", "NaN"])
def test_a_sync_through_non_finite_headers_succeeds(configured, fake_pagerduty, value):
    fake_pagerduty.inject(kind="headers", times=None, headers=window(value, "0", value))

    with bounded(20):
        result = sync_integration(integration_id=configured.pk, trigger="command")

    run = SyncRun.objects.get(integration=configured)
    assert (result.ok, run.outcome, run.message) == (True, SyncRun.Outcome.SUCCESS, result.message)
    assert run.accounts_added == 30


def test_a_sync_told_to_wait_for_ever_fails_with_a_rate_limit_message(configured, fake_pagerduty):
    fake_pagerduty.inject(kind="headers", times=None, headers=window("960", "0", "100000"))

    with bounded(20):
        result = sync_integration(integration_id=configured.pk, trigger="command")

    configured.refresh_from_db()
    assert not result.ok
    assert configured.message.startswith("rate limit: PagerDuty asked to wait 100000 s")
    assert SyncRun.objects.get(integration=configured).outcome == SyncRun.Outcome.FAILED
