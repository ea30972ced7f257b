"""A read-only HTTP client for PagerDuty's REST API.

Only GET exists here: balkan_pd never changes anything in a customer's PagerDuty account.
Every failure becomes an `IntegrationError` whose message can be shown to the tenant admin;
the token never appears in a message or a log line.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
from django.conf import settings

from integrations.connectors.errors import (
    AbilityMissing,
    IntegrationError,
    PermissionMissing,
    TokenRejected,
    TokenUndecryptable,
    Unreachable,
    UnexpectedResponse,
)
from integrations.fields import UndecryptableSecret

logger = logging.getLogger(__name__)

REGION_BASE_URLS = {
    "us": "https://api.pagerduty.com",
    "eu": "https://api.eu.pagerduty.com",
}
ACCEPT = "application/vnd.pagerduty+json;version=2"


def base_url_for(region: str) -> str:
    """The API base URL: PAGERDUTY_API_BASE_URL when set (for every integration), else the region's."""
    if settings.PAGERDUTY_API_BASE_URL:
        return settings.PAGERDUTY_API_BASE_URL.rstrip("/")
    try:
        return REGION_BASE_URLS[region]
    except KeyError:
        raise IntegrationError(f"unknown PagerDuty service region {region!r}") from None


class PagerDutyClient:
    def __init__(self, *, token: str, region: str = "us"):
        if isinstance(token, UndecryptableSecret):
            # Never send ciphertext anywhere: it is not the customer's token.
            raise TokenUndecryptable()
        if not token:
            raise TokenRejected("no access token is configured")
        self.base_url = base_url_for(region)
        self.region = region
        self._token = token
        self.timeout = (settings.PAGERDUTY_CONNECT_TIMEOUT, settings.PAGERDUTY_READ_TIMEOUT)
        self._local = threading.local()
        self.request_count = 0
        self._count_lock = threading.Lock()

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
                    "Authorization": f"Token token={self._token}",
                    "Accept": ACCEPT,
                    "User-Agent": "balkan_pd/0.1 (+access review connector)",
                }
            )
            self._local.session = session
        return session

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict:
        """One GET; returns the decoded JSON object or raises an IntegrationError."""
        url = f"{self.base_url}{path}"
        with self._count_lock:
            self.request_count += 1
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.Timeout:
            raise Unreachable(f"PagerDuty did not answer in time ({self.base_url})") from None
        except requests.RequestException:
            raise Unreachable(f"PagerDuty is unreachable ({self.base_url})") from None
        return self._decode(response, path)

    def _decode(self, response: requests.Response, path: str) -> dict:
        status = response.status_code
        if status == 401:
            raise TokenRejected(
                "PagerDuty rejected the access token (401): check the key and the service region"
            )
        if status == 402:
            raise AbilityMissing(f"this PagerDuty account's plan does not include {path} (402)")
        if status == 403:
            raise PermissionMissing(
                f"the access token lacks permission to read {path} (403): "
                "create the key as an admin or owner"
            )
        if status >= 400:
            raise UnexpectedResponse(f"PagerDuty answered {status} to {path}")
        try:
            body = response.json()
        except ValueError:
            raise UnexpectedResponse(f"PagerDuty sent a response that is not JSON for {path}") from None
        if not isinstance(body, dict):
            raise UnexpectedResponse(f"PagerDuty sent an unexpected response shape for {path}")
        return body

    def validate_token(self) -> None:
        """Check the token with one read-only request; raises IntegrationError when rejected."""
        body = self.get("/users", {"limit": 1})
        if not isinstance(body.get("users"), list):
            raise UnexpectedResponse("PagerDuty sent an unexpected response shape for /users")
