"""A token that cannot be a PagerDuty token (outside printable ASCII, or with whitespace or
control characters inside) is a clean error before any request, in the client, the admin's
Configure and Integrate and `addintegration`; the typed token shows up nowhere."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from integrations.secrets import Secret
from integrations.connectors.errors import TokenMalformed, TokenRejected
from integrations.connectors.pagerduty.client import PagerDutyClient
from integrations.models import Integration, Tenant
from tests.conftest import TOKEN, saved_token, token_hint
from tests.databases import url_of_the_test_database

BASE_DIR = Path(__file__).resolve().parent.parent.parent
MESSAGE = "token rejected: the token has characters PagerDuty tokens never have"
EURO_TOKEN = "u+PDtestTOKEN-€-secret-4711"

BAD_TOKENS = [
    pytest.param(EURO_TOKEN, id="euro"),
    pytest.param("u+PDtest\u202eTOKEN-secret", id="right-to-left-override"),
    pytest.param("u+PDtestTÖKEN-secret", id="latin-1"),
    pytest.param("u+PDtest TOKEN-secret", id="space"),
    pytest.param("u+PDtest\tTOKEN-secret", id="tab"),
    pytest.param("u+PDtest\nTOKEN-secret", id="newline"),
    pytest.param("u+PDtest\x00TOKEN-secret", id="nul"),
    pytest.param("u+PDtest\x7fTOKEN-secret", id="delete"),
    pytest.param("u+PDtest\u00a0TOKEN-secret", id="no-break-space"),
]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_the_client_refuses_it_before_any_request(fake_pagerduty, token, caplog):
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TokenMalformed) as raised:
        PagerDutyClient(token=Secret(token))

    assert isinstance(raised.value, TokenRejected)  # the admin shows it on the token field
    assert str(raised.value) == MESSAGE
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    assert token not in caplog.text
    assert fake_pagerduty.request_count == 0


def test_every_printable_ascii_character_is_allowed(fake_pagerduty):
    PagerDutyClient(token=Secret("".join(map(chr, range(0x21, 0x7F)))))  # raises nothing


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("token", [EURO_TOKEN, "u+PDtest\u202eTOKEN-secret"])
def test_configure_shows_a_form_error_not_a_500(client, tenant_admin, integration, fake_pagerduty, settings,
                                                caplog, token, debug):
    settings.DEBUG = debug
    caplog.set_level(logging.DEBUG)
    client.force_login(tenant_admin)

    response = client.post(
        reverse("admin:integrations_integration_configure", args=[integration.pk]),
        {"access_token": token, "region": "us"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["access_token"] == [
        "Token rejected: the token has characters PagerDuty tokens never have. Nothing was saved."
    ]
    assert token not in response.content.decode()
    assert token not in caplog.text
    integration.refresh_from_db()
    assert (integration.status, saved_token(integration), token_hint(integration)) == (
        Integration.Status.NOT_CONFIGURED, "", ""
    )
    assert fake_pagerduty.request_count == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("token", [EURO_TOKEN, "u+PDtest\u202eTOKEN-secret"])
def test_addintegration_exits_with_the_message_and_no_traceback(fake_pagerduty, pagerduty_app, token):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": url_of_the_test_database(),
        "PAGERDUTY_API_BASE_URL": fake_pagerduty.base_url,
        "PYTHONIOENCODING": "utf-8",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "addintegration", "--tenant", "acme", "--application", "pagerduty",
         "--description", "Production PagerDuty", "--token-stdin"],
        input=token + "\n", env=env, cwd=BASE_DIR, capture_output=True, text=True, encoding="utf-8", timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr == (
        "CommandError: The token could not be validated, nothing was created: " + MESSAGE + ".\n"
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert token not in result.stdout + result.stderr
    assert not Tenant.objects.exists()
    assert fake_pagerduty.request_count == 0


def test_a_good_token_still_configures(client, tenant_admin, integration, fake_pagerduty):
    client.force_login(tenant_admin)

    response = client.post(
        reverse("admin:integrations_integration_configure", args=[integration.pk]),
        {"access_token": TOKEN, "region": "us"},
    )

    assert response.status_code == 302
    integration.refresh_from_db()
    assert saved_token(integration) == TOKEN
