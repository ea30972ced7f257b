"""PagerDuty's own words about a refused request reach the Error message, bounded."""

from __future__ import annotations

import json

import pytest

from integrations.secrets import Secret
from integrations.connectors.errors import (
    AbilityMissing,
    PermissionMissing,
    TokenRejected,
    UnexpectedResponse,
)
from integrations.connectors.pagerduty.client import NotFound, PagerDutyClient
from integrations.models import Integration, SyncRun
from tests.conftest import TOKEN

from .helpers import configured_integration, sync

USERS = r"^/users$"
ERROR = {"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Offset must be less than 10000."]}}
SAID = "PagerDuty said: Invalid Input Provided, code 2001: Offset must be less than 10000."


@pytest.fixture
def client(fake_pagerduty):
    client = PagerDutyClient(token=Secret(TOKEN), region="us")
    yield client
    client.close()


@pytest.mark.parametrize(
    ("status", "error", "leading"),
    [
        (400, UnexpectedResponse, "unexpected response: PagerDuty answered 400 to /users; "),
        (401, TokenRejected, "token rejected: PagerDuty refused the access token (401); check the key and the service region; "),
        (402, AbilityMissing, "this PagerDuty account's plan does not include /users (402); "),
        (403, PermissionMissing, "permission missing: the access token lacks permission to read /users (403); create the key as an admin or owner; "),
        (404, NotFound, "unexpected response: PagerDuty answered 404 (not found) to /users; "),
        (409, UnexpectedResponse, "unexpected response: PagerDuty answered 409 to /users; "),
    ],
)
def test_every_4xx_message_keeps_its_leading_words_and_adds_pagerdutys(client, fake_pagerduty, status, error, leading):
    fake_pagerduty.inject(USERS, status=status, body=json.dumps(ERROR))

    with pytest.raises(error) as raised:
        client.fetch_json("/users", {"limit": 100})

    assert str(raised.value) == leading + SAID


def test_pagerdutys_words_are_bounded_and_one_plain_line(client, fake_pagerduty):
    flood = {"error": {"message": "Bad\nrequest\x00", "code": 2001, "errors": ["x" * 5000, "\ud800 never shown"]}}
    fake_pagerduty.inject(USERS, status=400, body=json.dumps(flood))

    with pytest.raises(UnexpectedResponse) as raised:
        client.fetch_json("/users", {"limit": 100})

    said = str(raised.value).split("; ", 1)[1]
    assert said.startswith("PagerDuty said: Bad request, code 2001: xxx")
    assert len(said) <= len("PagerDuty said: ") + 300 and said.endswith("…")
    assert "\n" not in said and "\x00" not in said


def test_an_answer_without_an_error_object_keeps_the_message_as_it_was(client, fake_pagerduty):
    fake_pagerduty.inject(USERS, status=400, kind="html")

    with pytest.raises(UnexpectedResponse) as raised:
        client.fetch_json("/users", {"limit": 100})

    assert str(raised.value) == "unexpected response: PagerDuty answered 400 to /users"


def test_a_scim_refusal_gives_its_detail(client, fake_pagerduty):
    fake_pagerduty.scim_enabled = False

    with pytest.raises(PermissionMissing) as raised:
        client.fetch_json("/scim/v2/Users", {"startIndex": 1, "count": 1}, accept="application/scim+json")

    assert str(raised.value).endswith("; PagerDuty said: SCIM is not enabled for this account")


@pytest.mark.django_db
def test_a_refused_sync_shows_pagerdutys_words_in_the_status(tenant, fake_pagerduty):
    integration = configured_integration(tenant)
    fake_pagerduty.inject(USERS, status=400, body=json.dumps(ERROR))

    result = sync(integration)

    integration.refresh_from_db()
    assert integration.status == Integration.Status.ERROR
    assert integration.message == f"unexpected response: PagerDuty answered 400 to /users; {SAID}"
    assert result.run.outcome == SyncRun.Outcome.FAILED and result.run.message == integration.message
