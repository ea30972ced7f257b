"""Start-up checks of balkan_pd/settings.py, each in a fresh Python with a controlled environment.

Settings are read once per process, so every case starts its own interpreter with only the
variables it names (and BALKAN_PD_DOTENV=0, so a developer's .env never leaks in).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse
from django.conf import settings
from django.db import connection

from integrations.connectors.errors import TokenUndecryptable
from integrations.connectors.pagerduty.client import PagerDutyClient
from integrations.secrets import Secret, UndecryptableSecret
from integrations.models import Integration
from tests.conftest import TOKEN
from tests.paths import ROOT

BASE_DIR = ROOT
SECRET_KEY = "a-strong-secret-key-for-these-tests-only-Xq7vLr2Zp9Wm4Nk8Tb3Hc6Jd1Fg5"
FERNET_KEY = Fernet.generate_key().decode()

PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in [
    "DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SYNC_DAILY_AT",
]}))
"""


def run_python(args: list[str], **variables: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "balkan_pd.settings",
        "BALKAN_PD_DOTENV": "0",
        **variables,
    }
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=60
    )


def start(**variables: str) -> subprocess.CompletedProcess:
    return run_python(["-c", PRINT_SETTINGS], **variables)


def started_settings(**variables: str) -> dict:
    result = start(**variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def last_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, "start-up should have failed"
    return result.stderr.strip().splitlines()[-1]


def run_suggested_command(message: str) -> str:
    """Run the `python -c "..."` that an error message suggests; return what it prints."""
    code = re.search(r'Generate one with: python -c "([^"]+)"', message).group(1)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_missing_secret_key_without_debug_fails_and_says_how_to_generate_one():
    error = last_error_line(start(FIELD_ENCRYPTION_KEY=FERNET_KEY))

    assert error.startswith("django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY is not set.")
    assert "DJANGO_DEBUG=true" in error
    generated = run_suggested_command(error)
    assert started_settings(DJANGO_SECRET_KEY=generated, FIELD_ENCRYPTION_KEY=FERNET_KEY)["SECRET_KEY"] == generated


def test_missing_encryption_key_fails_and_says_how_to_generate_one():
    error = last_error_line(start(DJANGO_SECRET_KEY=SECRET_KEY))

    assert error.startswith("django.core.exceptions.ImproperlyConfigured: FIELD_ENCRYPTION_KEY is not set.")
    generated = run_suggested_command(error)
    Fernet(generated)  # the suggested command makes a usable key
    started_settings(DJANGO_SECRET_KEY=SECRET_KEY, FIELD_ENCRYPTION_KEY=generated)


def test_invalid_encryption_key_fails_without_echoing_it():
    result = start(DJANGO_SECRET_KEY=SECRET_KEY, FIELD_ENCRYPTION_KEY="not-a-key")
    error = last_error_line(result)

    assert error.startswith(
        "django.core.exceptions.ImproperlyConfigured: FIELD_ENCRYPTION_KEY is not a valid Fernet key."
    )
    assert "Fernet.generate_key()" in error
    assert "not-a-key" not in result.stderr


def test_debug_starts_without_a_secret_key_and_without_https_hardening():
    values = started_settings(DJANGO_DEBUG="true", FIELD_ENCRYPTION_KEY=FERNET_KEY)

    assert values["DEBUG"] is True
    assert values["SECRET_KEY"]
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0


def test_https_hardening_is_on_by_default():
    values = started_settings(DJANGO_SECRET_KEY=SECRET_KEY, FIELD_ENCRYPTION_KEY=FERNET_KEY)

    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SYNC_DAILY_AT"] == "02:00"


@pytest.mark.parametrize("hsts_off", ["0", "false"])
def test_https_hardening_can_be_turned_off_for_plain_http(hsts_off):
    values = started_settings(
        DJANGO_SECRET_KEY=SECRET_KEY,
        FIELD_ENCRYPTION_KEY=FERNET_KEY,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
        DJANGO_SECURE_HSTS_SECONDS=hsts_off,
    )

    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False


def test_hsts_seconds_that_are_not_a_number_fail_clearly():
    error = last_error_line(
        start(DJANGO_SECRET_KEY=SECRET_KEY, FIELD_ENCRYPTION_KEY=FERNET_KEY, DJANGO_SECURE_HSTS_SECONDS="a year")
    )

    assert "DJANGO_SECURE_HSTS_SECONDS must be a number of seconds" in error
    assert "'a year'" in error


def test_secret_key_starting_with_a_dollar_is_taken_as_is():
    # Django's get_random_secret_key() can start with "$"; django-environ would resolve that
    # as a reference to another variable and report the key as missing.
    key = "$" + SECRET_KEY

    assert started_settings(DJANGO_SECRET_KEY=key, FIELD_ENCRYPTION_KEY=FERNET_KEY)["SECRET_KEY"] == key


@pytest.mark.parametrize("value", ["25:00", "2am", "7:30", ""])
def test_invalid_sync_time_fails_clearly(value):
    error = last_error_line(
        start(DJANGO_SECRET_KEY=SECRET_KEY, FIELD_ENCRYPTION_KEY=FERNET_KEY, SYNC_DAILY_AT=value)
    )

    assert f"SYNC_DAILY_AT must be a time as HH:MM (24h), got {value!r}" in error


def test_valid_sync_time_is_used():
    values = started_settings(DJANGO_SECRET_KEY=SECRET_KEY, FIELD_ENCRYPTION_KEY=FERNET_KEY, SYNC_DAILY_AT="23:59")

    assert values["SYNC_DAILY_AT"] == "23:59"


def test_check_deploy_is_clean_with_only_the_two_keys():
    result = run_python(
        ["manage.py", "check", "--deploy"],
        # A key made as the start-up error suggests must be strong enough (security.W009).
        DJANGO_SECRET_KEY=run_suggested_command(f"Generate one with: {settings.GENERATE_SECRET_KEY}"),
        FIELD_ENCRYPTION_KEY=FERNET_KEY,
        DJANGO_DEBUG="false",
    )
    output = result.stdout + result.stderr

    assert result.returncode == 0, output
    assert "WARNINGS" not in output
    assert "security.W" not in output
    assert "System check identified no issues" in output


def test_check_deploy_names_what_plain_http_gives_up():
    result = run_python(
        ["manage.py", "check", "--deploy"],
        DJANGO_SECRET_KEY=SECRET_KEY,
        FIELD_ENCRYPTION_KEY=FERNET_KEY,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
        DJANGO_SECURE_HSTS_SECONDS="0",
    )

    assert result.returncode == 0
    for warning in ["security.W004", "security.W008", "security.W012", "security.W016"]:
        assert warning in result.stderr


# --- A stored token that the current FIELD_ENCRYPTION_KEY cannot open ----------------------


def store_ciphertext_from_another_key(integration: Integration) -> str:
    """Write the token column as a deployment with another FIELD_ENCRYPTION_KEY would have."""
    ciphertext = Fernet(Fernet.generate_key()).encrypt(TOKEN.encode()).decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Integration._meta.db_table} SET secrets = %s WHERE id = %s",
            [json.dumps({"access_token": ciphertext}), integration.pk],
        )
    return ciphertext


def stored_column(integration: Integration) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {Integration._meta.db_table} WHERE id = %s", [integration.pk])
        return json.loads(cursor.fetchone()[0])["access_token"]


@pytest.mark.django_db
def test_token_is_stored_encrypted_and_read_back(integration):
    Integration.objects.filter(pk=integration.pk).update(secrets={"access_token": Secret(TOKEN)})

    assert TOKEN not in stored_column(integration)
    assert Integration.objects.get(pk=integration.pk).secrets["access_token"].reveal() == TOKEN


@pytest.mark.django_db
def test_token_from_another_encryption_key_is_never_sent(integration, fake_pagerduty):
    ciphertext = store_ciphertext_from_another_key(integration)
    integration = Integration.objects.get(pk=integration.pk)

    assert isinstance(integration.secrets["access_token"], UndecryptableSecret)
    with pytest.raises(TokenUndecryptable) as raised:
        PagerDutyClient(token=integration.secrets["access_token"], region="us")
    assert str(raised.value) == "stored token cannot be decrypted: FIELD_ENCRYPTION_KEY changed?"
    assert fake_pagerduty.request_count == 0

    # Saving the row (an admin edit of the description, say) must not re-encrypt the
    # ciphertext as if it were the token: the right key can still open it later.
    integration.description = "Renamed"
    integration.save()
    assert stored_column(integration) == ciphertext


@pytest.mark.django_db
def test_configure_with_the_token_left_empty_after_a_key_change_says_so_and_sends_nothing(
    client, tenant_admin, integration, fake_pagerduty
):
    from tests.conftest import configure

    configure(integration)
    ciphertext = store_ciphertext_from_another_key(integration)
    client.force_login(tenant_admin)

    response = client.post(
        reverse("admin:integrations_integration_configure", args=[integration.pk]),
        {"access_token": "", "region": "us"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["__all__"] == [
        "Stored token cannot be decrypted: FIELD_ENCRYPTION_KEY changed? Nothing was saved."
    ]
    assert fake_pagerduty.request_count == 0  # the ciphertext was never sent as a token
    assert stored_column(integration) == ciphertext


@pytest.mark.django_db(transaction=True)
def test_dumpdata_keeps_tokens_encrypted_and_loaddata_reads_them_back(integration, tmp_path):
    from django.core.management import call_command

    from tests.conftest import configure, saved_token

    configure(integration)
    for fmt in ("json", "xml", "yaml"):
        dump = tmp_path / f"backup.{fmt}"
        call_command("dumpdata", "integrations.integration", format=fmt, output=str(dump), verbosity=0)
        assert TOKEN not in dump.read_text() and "gAAAA" in dump.read_text(), fmt
        Integration.objects.filter(pk=integration.pk).update(secrets={})
        call_command("loaddata", str(dump), verbosity=0)
        assert saved_token(integration) == TOKEN, fmt
