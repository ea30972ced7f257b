"""A read-only HTTP client for PagerDuty's REST API (and its SCIM user list).

Only GET exists here: balkan_pd never changes anything in a customer's PagerDuty account.
Every failure becomes an `IntegrationError` whose message can be shown to the tenant admin;
the token never appears in a message or a log line.

`get` is one attempt (the admin form validates a token with it); `fetch_json` is what a sync
uses: it retries 5xx answers, timeouts, dropped connections and truncated bodies with
exponential backoff and jitter, and waits out 429s through a `RateLimitGate` that every
thread of the sync shares.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from typing import Any

import requests
from django.conf import settings

from integrations.connectors.errors import (
    AbilityMissing,
    IntegrationError,
    PermissionMissing,
    RateLimited,
    TokenMalformed,
    TokenRejected,
    Unreachable,
    UnexpectedResponse,
)
from integrations.secrets import Secret

logger = logging.getLogger(__name__)

REGION_BASE_URLS = {
    "us": "https://api.pagerduty.com",
    "eu": "https://api.eu.pagerduty.com",
}
ACCEPT = "application/vnd.pagerduty+json;version=2"
SCIM_ACCEPT = "application/scim+json"
# At most this much of PagerDuty's own error text goes into a message (the Status column).
PAGERDUTY_WORDS_MAX_LENGTH = 300
# One backoff never sleeps longer than this, however many attempts came before.
MAX_BACKOFF_SECONDS = 60.0


class NotFound(UnexpectedResponse):
    """HTTP 404: the endpoint or object does not exist for this account (e.g. SCIM off)."""


class Cancelled(IntegrationError):
    """Another thread of the same sync failed; this one stops without sending more requests."""

    def __init__(self):
        super().__init__("cancelled: another request of this sync failed")


def _is_token_shaped(token: str) -> bool:
    """PagerDuty tokens are printable ASCII without spaces. Anything else is refused before a
    request: outside Latin-1 it cannot be an HTTP header, and the encoding error that requests
    raises then carries the whole header, token included."""
    return all("!" <= character <= "~" for character in token)


def base_url_for(region: str) -> str:
    """The API base URL: PAGERDUTY_API_BASE_URL when set (for every integration), else the region's."""
    if settings.PAGERDUTY_API_BASE_URL:
        return settings.PAGERDUTY_API_BASE_URL.rstrip("/")
    try:
        return REGION_BASE_URLS[region]
    except KeyError:
        raise IntegrationError(f"unknown PagerDuty service region {region!r}") from None


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: about base·2^attempt, between half and all of it."""
    # The exponent is capped too: past about 2**1024 the product no longer fits a float.
    delay = min(settings.PAGERDUTY_BACKOFF_BASE * (2 ** min(attempt, 32)), MAX_BACKOFF_SECONDS)
    return delay * (0.5 + random.random() / 2)


def _header_number(response: requests.Response, name: str) -> float | None:
    """A rate-limit header as a number; None when missing, unreadable, NaN or infinite
    (NaN compares false with every time, so it would make a wait that never ends)."""
    try:
        value = float(response.headers[name])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _window_limit_exceeded(seconds: float, max_wait: float) -> RateLimited:
    # An absurd reset (1e308) in full would be 309 digits, pushing the next step off the message.
    asked = f"{seconds:.0f}" if seconds < 1e6 else f"{seconds:.2g}"
    return RateLimited(
        f"rate limit: PagerDuty asked to wait {asked} s for its rate-limit window, more than "
        f"the {max_wait:g} s a sync may wait; the next sync will try again"
    )


class RateLimitGate:
    """Paces every thread of one sync by PagerDuty's rate-limit headers.

    From `ratelimit-remaining` it keeps a budget of requests left in the current window,
    less the requests already in flight (they may not be counted yet); when the budget is
    spent, everyone waits for `ratelimit-reset`, and a new window starts with
    `ratelimit-limit` requests. So the window is not overrun (at most the first, blind
    burst of a sync can meet a 429). A 429 pauses everyone together, for `ratelimit-reset`
    seconds or, without headers, a backoff; the time paused for 429s is summed, and past
    PAGERDUTY_RATE_LIMIT_MAX_WAIT the sync gives up with RateLimited. A wait for the window
    longer than PAGERDUTY_RATE_LIMIT_MAX_WAIT fails the same way at once, and a
    `ratelimit-reset` that is no usable number counts as a short backoff: whatever the
    headers say, no wait outlasts the setting.
    """

    def __init__(self, *, max_wait: float, cancelled: threading.Event):
        self._cond = threading.Condition()
        self._cancelled = cancelled
        self._max_wait = max_wait
        self._resume_at = 0.0  # monotonic time before which nobody sends (429 pause)
        self._budget: int | None = None  # requests left in the window, None: unknown
        self._window_limit: int | None = None
        self._window_reset_at = 0.0
        self._in_flight = 0
        self._unreadable_resets = 0  # in a row: each one backs off longer
        self.waited_for_429 = 0.0

    def enter(self) -> None:
        """Block until this thread may send one request."""
        with self._cond:
            while True:
                if self._cancelled.is_set():
                    raise Cancelled()
                now = time.monotonic()
                wait_until = self._resume_at
                if self._budget is not None and self._budget <= 0:
                    if now >= self._window_reset_at:
                        self._budget = self._window_limit  # a fresh window
                    else:
                        if self._window_reset_at - now > self._max_wait:
                            raise _window_limit_exceeded(self._window_reset_at - now, self._max_wait)
                        wait_until = max(wait_until, self._window_reset_at)
                if now >= wait_until and (self._budget is None or self._budget > 0):
                    break
                # Capped so that an absurd deadline can never overflow the wait; the loop looks again.
                self._cond.wait(min(max(wait_until - now, 0.001), MAX_BACKOFF_SECONDS))
            if self._budget is not None:
                self._budget -= 1
            self._in_flight += 1

    def leave(self, response: requests.Response | None) -> None:
        """Record one finished request and what its rate-limit headers say."""
        with self._cond:
            self._in_flight -= 1
            if response is not None:
                limit = _header_number(response, "ratelimit-limit")
                remaining = _header_number(response, "ratelimit-remaining")
                reset = _header_number(response, "ratelimit-reset")
                if remaining is not None:
                    if reset is None or reset < 0:
                        # A count without a usable reset: back off a little, longer each time in a
                        # row, but never past the max wait: the wait is ours, not PagerDuty's, so it
                        # slows a sync down and never fails it.
                        reset = min(backoff_delay(self._unreadable_resets), self._max_wait)
                        self._unreadable_resets += 1
                    else:
                        self._unreadable_resets = 0
                    if limit is not None and limit >= 0:
                        self._window_limit = int(limit)
                    now = time.monotonic()
                    budget, reset_at = int(max(remaining, 0)) - self._in_flight, now + reset
                    if self._budget is not None and now < self._window_reset_at:
                        # Same window: answers arrive out of order, so the lowest count is the truth.
                        budget = min(budget, self._budget)
                        reset_at = min(reset_at, self._window_reset_at)
                    self._budget, self._window_reset_at = budget, reset_at
            self._cond.notify_all()

    def wake(self) -> None:
        """Let waiting threads look again (at the cancel flag)."""
        with self._cond:
            self._cond.notify_all()

    def pause_for_429(self, *, seconds: float) -> None:
        """Hold every thread for `seconds`; raise RateLimited past the total allowed wait."""
        with self._cond:
            now = time.monotonic()
            resume_at = now + seconds
            extension = resume_at - max(self._resume_at, now)
            if extension > 0:
                if self.waited_for_429 + extension > self._max_wait:
                    raise RateLimited(
                        "rate limit: PagerDuty kept answering 429 (too many requests) past the "
                        f"{self._max_wait:g} s a sync may wait; the next sync will try again"
                    )
                self.waited_for_429 += extension
                self._resume_at = resume_at
            self._cond.notify_all()


def _plain(value: Any) -> str:
    """One line of storable text from whatever PagerDuty put there: control characters become
    spaces, lone surrogates (which no database encoding takes) become U+FFFD."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = "(unreadable)"
    text = text[: PAGERDUTY_WORDS_MAX_LENGTH * 2]  # the rest would be cut anyway
    return " ".join(
        "".join(
            " " if ch < " " or ch == "\x7f" else "\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text
        ).split()
    )


def pagerduty_said(response: requests.Response) -> str:
    """PagerDuty's own words about a refused request, in plain text, or "" when it gave none.

    REST answers carry {"error": {"message", "code", "errors": [...]}}; SCIM answers carry
    {"detail", "scimType"}. Bounded: a proxy's error page must not flood the Status column.
    """
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    parts: list[str] = []
    if isinstance(error, dict):
        message, code, errors = error.get("message"), error.get("code"), error.get("errors")
    elif isinstance(error, str):
        message, code, errors = error, None, None
    else:  # SCIM
        message, code, errors = body.get("detail"), body.get("scimType"), None
    if message not in (None, ""):
        parts.append(_plain(message))
    if code not in (None, ""):
        parts.append(f"code {_plain(code)}")
    if isinstance(errors, list):
        errors = [_plain(e) for e in errors if e not in (None, "")]
    elif errors not in (None, ""):
        errors = [_plain(errors)]
    details = "; ".join(e for e in errors or [] if e and e not in parts)
    words = ", ".join(part for part in parts if part)
    if details:
        words = f"{words}: {details}" if words else details
    if not words:
        return ""
    if len(words) > PAGERDUTY_WORDS_MAX_LENGTH:
        words = words[: PAGERDUTY_WORDS_MAX_LENGTH - 1].rstrip() + "…"
    return f"PagerDuty said: {words}"


class PagerDutyClient:
    def __init__(self, *, token: Secret, region: str = "us"):
        if not isinstance(token, Secret):
            raise TypeError("the access token must be a Secret")
        # An undecryptable token raises TokenUndecryptable here, before any request.
        if not token.reveal():
            raise TokenRejected("token rejected: no access token is configured")
        if not _is_token_shaped(token.reveal()):
            raise TokenMalformed("token rejected: the token has characters PagerDuty tokens never have")
        self.base_url = base_url_for(region)
        self.region = region
        self._token = token
        self.timeout = (settings.PAGERDUTY_CONNECT_TIMEOUT, settings.PAGERDUTY_READ_TIMEOUT)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self.gate = RateLimitGate(
            max_wait=settings.PAGERDUTY_RATE_LIMIT_MAX_WAIT, cancelled=self._cancelled
        )
        self.request_count = 0
        self.retries = 0

    def __repr__(self) -> str:  # never shows the token
        return f"<PagerDutyClient {self.base_url}>"

    @property
    def session(self) -> requests.Session:
        """One requests session per thread: sessions are not thread-safe, connections are reused."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update(
                {
                    "Authorization": f"Token token={self._token.reveal()}",
                    "Accept": ACCEPT,
                    "User-Agent": "balkan_pd/0.1 (+access review connector)",
                }
            )
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close the connections of every thread's session."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def cancel(self) -> None:
        """Stop every thread of this client before its next request (or wait)."""
        self._cancelled.set()
        self.gate.wake()

    def _count(self, *, retry: bool = False) -> None:
        with self._lock:
            self.request_count += 1
            if retry:
                self.retries += 1

    def _send(self, path: str, params: dict[str, Any] | None, accept: str | None) -> requests.Response:
        headers = {"Accept": accept} if accept else None
        # Never follow a redirect: the token would go to (and be "validated" by) another host.
        return self.session.get(
            f"{self.base_url}{path}", params=params, headers=headers, timeout=self.timeout,
            allow_redirects=False,
        )

    @staticmethod
    def _refuse_redirect(response: requests.Response, path: str) -> None:
        if 300 <= response.status_code < 400:
            raise UnexpectedResponse(
                f"unexpected response: PagerDuty answered {response.status_code} "
                f"(a redirect, not followed) to {path}"
            )

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict:
        """One GET, no retry; returns the decoded JSON object or raises an IntegrationError."""
        self._count()
        try:
            response = self._send(path, params, None)
        except requests.Timeout:
            raise Unreachable(f"PagerDuty unreachable: no answer in time from {self.base_url}") from None
        except requests.RequestException:
            raise Unreachable(f"PagerDuty unreachable: cannot connect to {self.base_url}") from None
        self._refuse_redirect(response, path)
        return self._decode(response, path)

    def fetch_json(self, path: str, params: dict[str, Any] | None = None, *, accept: str | None = None) -> dict:
        """One GET as a sync needs it: retried, paced, and cancelled with the rest of the sync."""
        failures = 0  # 5xx, timeouts, broken connections: at most PAGERDUTY_MAX_RETRIES retries
        throttles = 0  # 429s: waited out, bounded by time rather than count
        while True:
            self.gate.enter()
            response = None
            problem = ""
            self._count(retry=failures + throttles > 0)
            try:
                response = self._send(path, params, accept)
            except requests.Timeout:
                problem = f"no answer in time from {self.base_url}{path}"
            except requests.RequestException:
                # Refused or dropped connections, and bodies cut short (ChunkedEncodingError).
                problem = f"connection to {self.base_url} failed or was cut short"
            finally:
                self.gate.leave(response)

            if response is not None and response.status_code == 429:
                reset = _header_number(response, "ratelimit-reset")  # None when NaN, inf or unreadable
                seconds = reset if reset is not None and reset > 0 else backoff_delay(throttles)
                logger.info("PagerDuty answered 429 to %s; all requests pause %.2f s", path, seconds)
                throttles += 1
                self.gate.pause_for_429(seconds=seconds)
                continue
            if response is not None and response.status_code >= 500:
                problem = f"PagerDuty answered {response.status_code} to {path}"
            if not problem:
                self._refuse_redirect(response, path)
                return self._decode(response, path)

            if failures >= settings.PAGERDUTY_MAX_RETRIES:
                raise Unreachable(f"PagerDuty unreachable: {problem} ({failures + 1} attempts)")
            delay = backoff_delay(failures)
            failures += 1
            logger.info("%s; retry %d in %.2f s", problem, failures, delay)
            if self._cancelled.wait(delay):
                raise Cancelled()

    def _decode(self, response: requests.Response, path: str) -> dict:
        status = response.status_code
        said = pagerduty_said(response) if status >= 400 and status != 429 else ""
        said = f"; {said}" if said else ""
        if status == 401:
            raise TokenRejected(
                "token rejected: PagerDuty refused the access token (401); "
                f"check the key and the service region{said}"
            )
        if status == 402:
            raise AbilityMissing(f"this PagerDuty account's plan does not include {path} (402){said}")
        if status == 403:
            raise PermissionMissing(
                f"permission missing: the access token lacks permission to read {path} (403); "
                f"create the key as an admin or owner{said}"
            )
        if status == 404:
            raise NotFound(f"unexpected response: PagerDuty answered 404 (not found) to {path}{said}")
        if status == 429:
            raise RateLimited("rate limit: PagerDuty is throttling this access token (429); try again in a minute")
        if status >= 400:
            raise UnexpectedResponse(f"unexpected response: PagerDuty answered {status} to {path}{said}")
        try:
            body = response.json()
        except (ValueError, RecursionError):  # deeply nested arrays overflow json's recursion
            raise UnexpectedResponse(
                f"unexpected response: PagerDuty sent a response that is not JSON for {path}"
            ) from None
        if not isinstance(body, dict):
            raise UnexpectedResponse(f"unexpected response: PagerDuty sent an unexpected shape for {path}")
        return body

    def validate_token(self) -> None:
        """Check the token with one read-only request; raises IntegrationError when rejected."""
        body = self.get("/users", {"limit": 1})
        if not isinstance(body.get("users"), list):
            raise UnexpectedResponse("unexpected response: PagerDuty sent an unexpected shape for /users")
