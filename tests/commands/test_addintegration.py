"""`manage.py addintegration` against the fake PagerDuty over real HTTP."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_q.models import OrmQ

from integrations import status
from integrations.models import Integration, Tenant, TenantMembership
from tests.databases import url_of_the_test_database
from tests.conftest import TOKEN, saved_region, saved_token, token_hint
from tests.paths import ROOT

BASE_DIR = ROOT


class TerminalInput(io.StringIO):
    def isatty(self) -> bool:
        return True


def add(*args: str, stdin: str | io.StringIO = TOKEN + "\n") -> list[str]:
    """Run the command with `stdin` piped in; return its output lines."""
    out = io.StringIO()
    stdin = io.StringIO(stdin) if isinstance(stdin, str) else stdin
    call_command("addintegration", *args, stdin=stdin, stdout=out)
    assert TOKEN not in out.getvalue()
    return out.getvalue().splitlines()


def refused(*args: str, stdin: str = TOKEN + "\n") -> str:
    """Run the command expecting it to fail; return the error, checked to leave no rows."""
    before = (Tenant.objects.count(), TenantMembership.objects.count(), Integration.objects.count())
    with pytest.raises(CommandError) as raised:
        add(*args, stdin=stdin)
    message = str(raised.value)
    assert TOKEN not in message
    assert (Tenant.objects.count(), TenantMembership.objects.count(), Integration.objects.count()) == before
    return message


PAGERDUTY = ("--application", "pagerduty", "--description", "Production PagerDuty", "--token-stdin")


def stored_token_column(integration: Integration) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {Integration._meta.db_table} WHERE id = %s", [integration.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_adds_a_configured_integration_to_a_new_tenant(fake_pagerduty, make_user, django_capture_on_commit_callbacks):
    alice = make_user("alice")

    with django_capture_on_commit_callbacks(execute=True):
        lines = add("--tenant", "acme-corp", "--owner", "alice", *PAGERDUTY)

    integration = Integration.objects.get()
    assert lines[-1] == str(integration.pk)
    assert integration.tenant.slug == "acme-corp"
    assert integration.tenant.name == "Acme Corp"
    assert TenantMembership.objects.get(tenant=integration.tenant).user == alice
    assert TenantMembership.objects.get(tenant=integration.tenant).role == "admin"
    assert integration.application.key == "pagerduty"
    assert integration.owner == alice
    assert integration.description == "Production PagerDuty"
    assert saved_region(integration) == "us"
    assert integration.get_status_display() == "Pending"
    assert integration.message == status.AWAITING_FIRST_SYNC
    assert token_hint(integration) == "••••3f9a"
    # The trailing newline is not part of the token; the token is encrypted at rest.
    assert saved_token(integration) == TOKEN
    assert TOKEN not in stored_token_column(integration)
    # Validation is one read-only request with the token, as the admin form does.
    assert fake_pagerduty.request_count == 1
    request = fake_pagerduty.requests[0]
    assert (request.method, request.path, request.status) == ("GET", "/users", 200)
    # ...and the first sync is queued at once.
    assert [task.name() for task in OrmQ.objects.all()] == [f"sync-integration-{integration.pk}"]


@pytest.mark.django_db
def test_new_tenant_takes_the_given_name_and_region(fake_pagerduty):
    lines = add("--tenant", "globex", "--tenant-name", "Globex Corporation", "--region", "EU", *PAGERDUTY)

    integration = Integration.objects.get(pk=int(lines[-1]))
    assert integration.tenant.name == "Globex Corporation"
    assert saved_region(integration) == "eu"
    assert integration.owner is None
    assert not TenantMembership.objects.exists()


@pytest.mark.django_db
def test_adds_to_an_existing_tenant_with_a_member_as_owner(fake_pagerduty, tenant, tenant_admin):
    add("--tenant", tenant.slug, "--owner", tenant_admin.username, *PAGERDUTY)
    lines = add("--tenant", tenant.slug, "--owner", tenant_admin.username, *PAGERDUTY, stdin=TOKEN)

    assert Tenant.objects.count() == 1
    assert TenantMembership.objects.count() == 1
    assert list(tenant.integrations.values_list("pk", flat=True)) == sorted(
        [int(lines[-1]), int(lines[-1]) - 1]
    )
    assert "Using tenant Acme (acme)." in lines


@pytest.mark.django_db
def test_prompts_for_the_token_on_a_terminal(fake_pagerduty, monkeypatch):
    prompts = []

    def getpass(prompt):
        prompts.append(prompt)
        return TOKEN

    monkeypatch.setattr("getpass.getpass", getpass)
    lines = add("--tenant", "acme", *PAGERDUTY, stdin=TerminalInput(""))

    assert prompts == ["Access token (not echoed): "]
    assert saved_token(Integration.objects.get(pk=int(lines[-1]))) == TOKEN


@pytest.mark.django_db
def test_rejected_token_creates_nothing(fake_pagerduty):
    message = refused("--tenant", "acme", *PAGERDUTY, stdin="wrong-token\n")

    assert "nothing was created" in message
    assert "(401)" in message
    assert fake_pagerduty.request_count == 1


@pytest.mark.django_db
def test_token_without_permission_creates_nothing(fake_pagerduty, tenant):
    fake_pagerduty.inject("/users", status=403)

    message = refused("--tenant", tenant.slug, *PAGERDUTY)

    assert "(403)" in message
    assert "admin or owner" in message


@pytest.mark.django_db
def test_unreachable_pagerduty_creates_nothing(settings, unused_port):
    settings.PAGERDUTY_API_BASE_URL = f"http://127.0.0.1:{unused_port}"

    message = refused("--tenant", "acme", *PAGERDUTY)

    assert "unreachable" in message


@pytest.mark.django_db
@pytest.mark.parametrize("stdin", ["", "\n", "   \n"])
def test_empty_token_is_refused_before_asking_pagerduty(fake_pagerduty, stdin):
    message = refused("--tenant", "acme", *PAGERDUTY, stdin=stdin)

    assert message == "The access token read from standard input is empty."
    assert fake_pagerduty.request_count == 0


@pytest.mark.django_db
def test_token_stdin_is_required(fake_pagerduty):
    message = refused("--tenant", "acme", "--application", "pagerduty", "--description", "x")

    assert "--token-stdin is required" in message
    assert fake_pagerduty.request_count == 0


@pytest.mark.django_db
def test_unknown_application_lists_the_known_ones(fake_pagerduty):
    message = refused("--tenant", "acme", "--application", "opsgenie", "--description", "x", "--token-stdin")

    assert message == "Unknown application 'opsgenie'. Known applications: pagerduty, roster."  # roster: the test-only connector
    assert fake_pagerduty.request_count == 0


@pytest.mark.django_db
def test_unknown_region_is_refused(fake_pagerduty):
    message = refused("--tenant", "acme", "--region", "ap", *PAGERDUTY)

    assert message == "Unknown service region 'ap': use one of us, eu."
    assert fake_pagerduty.request_count == 0


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["Acme Corp", "acme/corp", "", "a" * 101])
def test_invalid_tenant_slug_is_refused(fake_pagerduty, slug):
    message = refused("--tenant", slug, *PAGERDUTY)

    assert message.startswith("Invalid tenant slug")
    assert fake_pagerduty.request_count == 0


@pytest.mark.django_db
def test_owner_must_exist(fake_pagerduty):
    message = refused("--tenant", "acme", "--owner", "nobody", *PAGERDUTY)

    assert message.startswith("No user named 'nobody'")
    assert fake_pagerduty.request_count == 0


@pytest.mark.django_db
def test_owner_must_belong_to_an_existing_tenant(fake_pagerduty, tenant, other_tenant, make_user):
    make_user("gina", tenant=other_tenant)

    message = refused("--tenant", tenant.slug, "--owner", "gina", *PAGERDUTY)

    assert message.startswith("User 'gina' is not a member of tenant 'acme'")
    assert fake_pagerduty.request_count == 0


@pytest.mark.django_db
def test_inactive_owner_is_refused(fake_pagerduty, django_user_model):
    django_user_model.objects.create_user(username="olga", is_active=False)

    assert refused("--tenant", "acme", "--owner", "olga", *PAGERDUTY) == "User 'olga' is inactive."


# --- As an operator runs it: a separate process, the token piped in ------------------------


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_command(fake, *args: str, token: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": url_of_the_test_database(),
        "PAGERDUTY_API_BASE_URL": fake.base_url,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "addintegration", *args],
        input=token, env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.django_db(transaction=True)
def test_operator_pipes_the_token_and_reads_the_id_from_the_last_line(fake_pagerduty, pagerduty_app):
    result = run_command(fake_pagerduty, "--tenant", "acme", *PAGERDUTY, token=TOKEN + "\n")

    assert result.returncode == 0, result.stderr
    integration = Integration.objects.get()
    assert result.stdout.splitlines()[-1] == str(integration.pk)
    assert saved_token(integration) == TOKEN
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_operator_sees_a_rejected_token_as_an_error_exit(fake_pagerduty, pagerduty_app):
    result = run_command(fake_pagerduty, "--tenant", "acme", *PAGERDUTY, token="wrong-token")

    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: The token could not be validated, nothing was created:")
    assert "wrong-token" not in result.stdout + result.stderr
    assert not Tenant.objects.exists()
