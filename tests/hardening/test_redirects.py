"""The client never follows a redirect: the token stays with the API host.

A second local HTTP server plays the redirect target; it must receive no request at all.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from integrations.secrets import Secret
from integrations.connectors.errors import UnexpectedResponse
from integrations.connectors.pagerduty.client import PagerDutyClient
from integrations.models import Integration
from tests.conftest import TOKEN, saved_token

USERS = r"^/users$"


class Target:
    """A plain HTTP server that records every request it receives and answers 200 with users."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target.requests.append({k.lower(): v for k, v in self.headers.items()})
                body = b'{"users": [], "limit": 1, "offset": 0, "more": false}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "Target":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    with Target() as target:
        yield target


def message(status: int) -> str:
    return f"unexpected response: PagerDuty answered {status} (a redirect, not followed) to /users"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_validate_token_does_not_follow_a_redirect(fake_pagerduty, target, status):
    fake_pagerduty.inject(USERS, status=status, headers={"Location": f"{target.url}/users"})

    with pytest.raises(UnexpectedResponse) as raised:
        PagerDutyClient(token=Secret(TOKEN)).validate_token()

    assert str(raised.value) == message(status)
    assert target.requests == []
    assert fake_pagerduty.wait_for_requests(1) == 1


def test_a_sync_request_does_not_follow_a_redirect_nor_retry_it(fake_pagerduty, target):
    fake_pagerduty.inject(USERS, status=302, times=None, headers={"Location": f"{target.url}/users"})
    client = PagerDutyClient(token=Secret(TOKEN))

    with pytest.raises(UnexpectedResponse) as raised:
        client.fetch_json("/users", {"limit": 100})

    assert str(raised.value) == message(302)
    assert target.requests == []
    assert client.request_count == 1


def test_configure_with_a_redirecting_api_saves_nothing(client, tenant_admin, integration, fake_pagerduty, target):
    fake_pagerduty.inject(USERS, status=302, headers={"Location": f"{target.url}/users"})
    client.force_login(tenant_admin)

    response = client.post(
        reverse("admin:integrations_integration_configure", args=[integration.pk]),
        {"access_token": TOKEN, "region": "us"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["__all__"] == [
        "Unexpected response: PagerDuty answered 302 (a redirect, not followed) to /users. Nothing was saved."
    ]
    assert target.requests == []
    integration.refresh_from_db()
    assert (integration.status, saved_token(integration)) == (Integration.Status.NOT_CONFIGURED, "")
