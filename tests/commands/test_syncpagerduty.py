"""`python manage.py syncpagerduty` against the fake PagerDuty."""

from __future__ import annotations

import logging
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage

from integrations.models import Integration, SyncedAccount, SyncRun, ThirdPartyApplication
from integrations.services import add_integration
from tests.conftest import TOKEN, configure

pytestmark = pytest.mark.django_db


def add(tenant, description: str, *, token: str | None = TOKEN) -> Integration:
    application = ThirdPartyApplication.objects.get(key="pagerduty")
    integration = add_integration(tenant=tenant, application=application, description=description)
    return configure(integration, token=token) if token is not None else integration


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("syncpagerduty", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


SUMMARY = re.compile(r"^(?P<label>.+ #\d+): (?P<counts>\d+ added, \d+ updated, \d+ removed, \d+ unchanged); (?P<requests>\d+) requests; \d+\.\d s$")


def summaries(output: str) -> dict[str, str]:
    return {m["label"]: m["counts"] for m in map(SUMMARY.match, output.splitlines()) if m}


def test_syncs_every_configured_integration_with_progress_and_a_summary_each(tenant, other_tenant, fake_pagerduty):
    acme = add(tenant, "Acme prod")
    globex = add(other_tenant, "Globex")
    add(tenant, "No token yet", token=None)

    out, err = run()

    assert summaries(out) == {
        f"Acme / PagerDuty #{acme.pk}": "30 added, 0 updated, 0 removed, 0 unchanged",
        f"Globex / PagerDuty #{globex.pk}": "30 added, 0 updated, 0 removed, 0 unchanged",
    }
    assert f"Acme / PagerDuty #{acme.pk}: syncing" in out
    assert "  users: page 1/1 (30 accounts)" in out
    assert "  teams: 4 teams" in out
    assert err == ""
    assert SyncRun.objects.filter(trigger=SyncRun.Trigger.COMMAND, outcome=SyncRun.Outcome.SUCCESS).count() == 2


def test_tenant_and_integration_narrow_the_selection(tenant, other_tenant, fake_pagerduty):
    acme = add(tenant, "Acme prod")
    staging = add(tenant, "Acme staging")
    globex = add(other_tenant, "Globex")

    out, _ = run("--tenant", "acme")
    assert set(summaries(out)) == {f"Acme / PagerDuty #{acme.pk}", f"Acme / PagerDuty #{staging.pk}"}

    out, _ = run("--integration", str(globex.pk))
    assert set(summaries(out)) == {f"Globex / PagerDuty #{globex.pk}"}

    with pytest.raises(CommandError, match=f"No PagerDuty integration with id {globex.pk} in tenant 'acme'"):
        run("--tenant", "acme", "--integration", str(globex.pk))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope"], "No tenant with slug 'nope'."),
        (["--integration", "9999"], "No PagerDuty integration with id 9999."),
        (["--dry-run", "--queue"], "--dry-run runs here and now; it cannot be combined with --queue."),
    ],
)
def test_unknown_selections_are_clear_errors(tenant, fake_pagerduty, args, message):
    add(tenant, "Acme prod")

    with pytest.raises(CommandError) as raised:
        run(*args)

    assert str(raised.value) == message
    assert fake_pagerduty.request_count == 0


def test_an_integration_without_a_token_is_refused_by_id(tenant, fake_pagerduty):
    bare = add(tenant, "No token yet", token=None)

    with pytest.raises(CommandError, match=f"Acme / PagerDuty #{bare.pk} is not configured"):
        run("--integration", str(bare.pk))


def test_nothing_configured_is_said_and_not_an_error(tenant, fake_pagerduty):
    add(tenant, "No token yet", token=None)

    out, _ = run()

    assert out == "No configured PagerDuty integrations to sync.\n"


def test_a_failure_is_reported_after_trying_all_and_exits_non_zero(tenant, other_tenant, fake_pagerduty, caplog):
    caplog.set_level(logging.DEBUG)
    rejected = add(tenant, "Old key", token="a-revoked-token")
    fine = add(other_tenant, "Globex")
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("syncpagerduty", stdout=out, stderr=err)

    assert str(raised.value) == f"1 of 2 failed: Acme / PagerDuty #{rejected.pk}"
    assert f"Acme / PagerDuty #{rejected.pk}: failed: token rejected: PagerDuty refused the access token (401)" in out.getvalue()
    assert summaries(out.getvalue()) == {f"Globex / PagerDuty #{fine.pk}": "30 added, 0 updated, 0 removed, 0 unchanged"}
    for text in (out.getvalue(), err.getvalue(), caplog.text, str(raised.value)):
        assert TOKEN not in text and "a-revoked-token" not in text


def test_a_locked_integration_is_reported_as_already_syncing(tenant, fake_pagerduty):
    busy = add(tenant, "Busy")
    Integration.objects.filter(pk=busy.pk).update(sync_started_at=timezone.now(), sync_heartbeat_at=timezone.now())

    out, _ = run()

    assert f"Acme / PagerDuty #{busy.pk}: already syncing" in out
    assert fake_pagerduty.request_count == 0


def test_dry_run_prints_the_changes_and_writes_nothing(tenant, fake_pagerduty):
    acme = add(tenant, "Acme prod")
    run("--integration", str(acme.pk))
    ds = fake_pagerduty.dataset
    ds.add_user(name="Jane", email="jane@x.example", role="admin")
    user = ds.user_list()[9]
    old_role = user["role"]
    ds.set_role(user["id"], "observer" if old_role != "observer" else "user")
    runs = SyncRun.objects.count()
    fake_pagerduty.reset_log()

    out, _ = run("--dry-run")

    assert "+ added Jane <jane@x.example> (Global Admin)" in out
    assert f"~ role {old_role} → {ds.users[user['id']]['role']}: {user['name']} <{user['email']}>" in out
    assert f"Acme / PagerDuty #{acme.pk}: dry run, nothing written: would be 1 added, 1 updated, 0 removed, 29 unchanged" in out
    assert SyncRun.objects.count() == runs
    assert not SyncedAccount.objects.filter(email="jane@x.example").exists()
    assert {r.method for r in fake_pagerduty.requests} == {"GET"}


def test_queue_enqueues_one_sync_per_integration_and_runs_nothing(tenant, other_tenant, fake_pagerduty):
    broker = get_broker()
    broker.purge_queue()
    acme = add(tenant, "Acme prod")
    globex = add(other_tenant, "Globex")

    out, _ = run("--queue")

    if Conf.ORM:
        payloads = broker.get_connection().filter(key=broker.list_key).order_by("id").values_list("payload", flat=True)
    else:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    tasks = [SignedPackage.loads(payload) for payload in payloads]
    assert [tuple(t["args"]) for t in tasks] == [(acme.pk, "command"), (globex.pk, "command")]
    assert all(TOKEN not in repr(t) for t in tasks)
    assert f"Acme / PagerDuty #{acme.pk}: queued (task " in out
    assert fake_pagerduty.request_count == 0
    assert not SyncRun.objects.exists()
    broker.purge_queue()
