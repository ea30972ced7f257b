"""The PagerDuty client over real HTTP against the fake: headers, retries, 429s, failures."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from integrations.connectors.errors import (
    AbilityMissing,
    PermissionMissing,
    RateLimited,
    TokenRejected,
    TokenUndecryptable,
    Unreachable,
    UnexpectedResponse,
)
from integrations.connectors.pagerduty.client import ACCEPT, Cancelled, NotFound, PagerDutyClient
from integrations.secrets import Secret, UndecryptableSecret
from tests.conftest import TOKEN

USERS = r"^/users$"


@pytest.fixture
def client(fake_pagerduty):
    client = PagerDutyClient(token=Secret(TOKEN), region="us")
    yield client
    client.close()


def test_every_request_is_a_get_with_the_token_and_version_headers(client, fake_pagerduty):
    body = client.fetch_json("/users", {"limit": 100})

    assert len(body["users"]) == 30
    assert fake_pagerduty.wait_for_requests(1) == 1
    [request] = fake_pagerduty.requests
    assert request.method == "GET"
    assert request.headers["authorization"] == f"Token token={TOKEN}"
    assert request.headers["accept"] == ACCEPT
    assert request.status == 200


def test_the_base_url_setting_wins_over_the_region(client, fake_pagerduty):
    assert PagerDutyClient(token=Secret(TOKEN), region="eu").base_url == fake_pagerduty.base_url


def test_the_region_chooses_the_base_url_without_the_setting(settings):
    settings.PAGERDUTY_API_BASE_URL = None
    assert PagerDutyClient(token=Secret(TOKEN), region="eu").base_url == "https://api.eu.pagerduty.com"
    assert PagerDutyClient(token=Secret(TOKEN), region="us").base_url == "https://api.pagerduty.com"


def test_a_burst_of_5xx_is_retried_and_counted(client, fake_pagerduty):
    fake_pagerduty.inject(USERS, status=503, times=2)
    fake_pagerduty.inject(USERS, status=502, times=1)

    body = client.fetch_json("/users", {"limit": 100})

    assert len(body["users"]) == 30
    assert fake_pagerduty.wait_for_requests(4) == 4
    assert [r.status for r in fake_pagerduty.requests] == [503, 503, 502, 200]
    assert (client.request_count, client.retries) == (4, 3)


def test_5xx_that_never_ends_gives_up_after_the_retries(client, fake_pagerduty, settings):
    settings.PAGERDUTY_MAX_RETRIES = 2
    fake_pagerduty.inject(USERS, status=500, times=None)

    with pytest.raises(Unreachable) as raised:
        client.fetch_json("/users", {"limit": 100})

    assert str(raised.value) == "PagerDuty unreachable: PagerDuty answered 500 to /users (3 attempts)"
    assert fake_pagerduty.wait_for_requests(3) == 3


def test_a_truncated_body_is_retried(client, fake_pagerduty):
    fake_pagerduty.inject(USERS, kind="truncated", times=1)

    assert len(client.fetch_json("/users", {"limit": 100})["users"]) == 30
    assert fake_pagerduty.wait_for_requests(2) == 2
    assert client.retries == 1


def test_a_stalled_answer_times_out_and_is_retried(fake_pagerduty, settings):
    settings.PAGERDUTY_READ_TIMEOUT = 0.2
    client = PagerDutyClient(token=Secret(TOKEN))
    fake_pagerduty.inject(USERS, kind="stall", delay=0.5, times=1)

    assert len(client.fetch_json("/users", {"limit": 100})["users"]) == 30
    assert (client.request_count, client.retries) == (2, 1)
    assert fake_pagerduty.wait_for_requests(2) == 2  # the stalled one is logged when it finally answers


@pytest.mark.parametrize("kind", ["malformed", "html"])
def test_a_body_that_is_not_json_is_an_unexpected_response_not_retried(client, fake_pagerduty, kind):
    fake_pagerduty.inject(USERS, kind=kind, times=1)

    with pytest.raises(UnexpectedResponse) as raised:
        client.fetch_json("/users", {"limit": 100})

    assert str(raised.value) == "unexpected response: PagerDuty sent a response that is not JSON for /users"
    assert fake_pagerduty.wait_for_requests(1) == 1


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, TokenRejected, "token rejected: PagerDuty refused the access token (401)"),
        (402, AbilityMissing, "this PagerDuty account's plan does not include /users (402)"),
        (403, PermissionMissing, "permission missing: the access token lacks permission to read /users (403)"),
        (404, NotFound, "unexpected response: PagerDuty answered 404 (not found) to /users"),
        (400, UnexpectedResponse, "unexpected response: PagerDuty answered 400 to /users"),
    ],
)
def test_client_errors_fail_at_once_in_plain_words(client, fake_pagerduty, status, error, message):
    fake_pagerduty.inject(USERS, status=status, times=1)

    with pytest.raises(error) as raised:
        client.fetch_json("/users", {"limit": 100})

    assert str(raised.value).startswith(message)
    assert fake_pagerduty.wait_for_requests(1) == 1


def test_429_without_headers_backs_off_and_carries_on(client, fake_pagerduty):
    fake_pagerduty.inject(USERS, kind="throttle", times=4)

    assert len(client.fetch_json("/users", {"limit": 100})["users"]) == 30
    assert fake_pagerduty.wait_for_requests(5) == 5
    assert fake_pagerduty.count_429 == 4
    assert (client.request_count, client.retries) == (5, 4)


def test_429_that_never_ends_fails_with_a_rate_limit_message(client, fake_pagerduty, settings):
    settings.PAGERDUTY_RATE_LIMIT_MAX_WAIT = 0.1
    client = PagerDutyClient(token=Secret(TOKEN))
    fake_pagerduty.inject(USERS, kind="throttle", times=None, headers={"ratelimit-reset": "0.04"})

    with pytest.raises(RateLimited) as raised:
        client.fetch_json("/users", {"limit": 100})

    assert str(raised.value).startswith("rate limit: PagerDuty kept answering 429")
    # 0.04 s a time within 0.1 s: the third pause would pass the limit.
    assert fake_pagerduty.wait_for_requests(3) == 3
    assert fake_pagerduty.count_429 == 3


def test_threads_sharing_a_client_stay_inside_the_rate_limit_window(fake_pagerduty, settings):
    """12 requests from 4 threads against 8 requests per second: the headers pace them."""
    settings.PAGERDUTY_MAX_CONCURRENCY = 4
    client = PagerDutyClient(token=Secret(TOKEN))
    fake_pagerduty.rate_limit(8, 1.0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = list(pool.map(lambda offset: client.fetch_json("/users", {"limit": 1, "offset": offset}), range(12)))

    assert [page["users"][0]["id"] for page in pages] == [u["id"] for u in fake_pagerduty.dataset.user_list()[:12]]
    # Two windows; the target: at most one 429 in any of them.
    assert fake_pagerduty.wait_for_requests(client.request_count) == client.request_count
    assert fake_pagerduty.count_429 <= 1
    assert client.request_count == 12 + fake_pagerduty.count_429


def test_a_cancelled_client_sends_nothing_more(client, fake_pagerduty):
    client.cancel()

    with pytest.raises(Cancelled):
        client.fetch_json("/users")
    assert fake_pagerduty.request_count == 0


def test_the_token_is_in_no_message_and_no_log_line(client, fake_pagerduty, caplog, settings):
    caplog.set_level(logging.DEBUG)
    settings.PAGERDUTY_MAX_RETRIES = 1
    fake_pagerduty.inject(USERS, kind="throttle", times=1)
    fake_pagerduty.inject(USERS, status=500, times=None)

    with pytest.raises(Unreachable) as raised:
        client.fetch_json("/users", {"limit": 100})

    assert caplog.records  # the retries were logged...
    assert TOKEN not in caplog.text  # ...without the token (urllib3 included)
    assert TOKEN not in str(raised.value)
    assert TOKEN not in repr(client)


def test_validate_token_is_one_request_and_rejects_a_wrong_token(fake_pagerduty):
    PagerDutyClient(token=Secret(TOKEN)).validate_token()
    assert fake_pagerduty.wait_for_requests(1) == 1

    with pytest.raises(TokenRejected):
        PagerDutyClient(token=Secret("not-the-token")).validate_token()
    assert fake_pagerduty.wait_for_requests(2) == 2


def test_validate_token_does_not_retry(fake_pagerduty):
    fake_pagerduty.inject(USERS, status=500, times=1)

    with pytest.raises(UnexpectedResponse):
        PagerDutyClient(token=Secret(TOKEN)).validate_token()
    assert fake_pagerduty.wait_for_requests(1) == 1


def test_ciphertext_is_never_sent_as_a_token(fake_pagerduty):
    with pytest.raises(TokenUndecryptable) as raised:
        PagerDutyClient(token=UndecryptableSecret("gAAAAAB-not-for-this-key"))

    assert str(raised.value) == "stored token cannot be decrypted: FIELD_ENCRYPTION_KEY changed?"
    assert fake_pagerduty.request_count == 0
