"""The audit trail and the on-call list, as the PagerDuty fetcher reads them.

Who made each account change comes from /audit/records (cursor paged, from the last sync but
never more than 31 days back, users and teams only); who is on call now from /oncalls (every
level, paged like the other listings). A plan or key without either syncs as before, noted.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from integrations.connectors.base import Attribution, Configuration
from integrations.connectors.pagerduty.connector import PagerDutyConnector
from integrations.connectors.pagerduty.fetch import AUDIT_MAX_AGE, AUDIT_OVERLAP
from integrations.models import SyncRun
from integrations.secrets import Secret
from tests.conftest import TOKEN
from tests.connectors.pagerduty.fake.data import api_token_actor, scim_actor, sso_actor, web_actor
from tests.connectors.pagerduty.helpers import configured_integration, sync

pytestmark = pytest.mark.django_db


def fetch(*, since=None):
    fetcher = PagerDutyConnector().fetcher(
        configuration=Configuration(values={"region": "us"}, secrets={"access_token": Secret(TOKEN)}), since=since
    )
    return fetcher.fetch(), fetcher


def test_each_kind_of_change_is_attributed_to_who_made_it_and_how(start_fake):
    fake = start_fake(users=20, teams=2)
    ds = fake.dataset
    owner, other = list(ds.users.values())[0], list(ds.users.values())[2]
    user = ds.users_with_role("limited_user")[0]
    team_id = next(iter(ds.teams))
    ds.actor = web_actor(owner)
    ds.set_role(user["id"], "admin")
    ds.actor = api_token_actor("Terraform Cloud", "9abc")
    ds.set_email(other["id"], "other@acme.example")
    ds.actor = scim_actor("Okta SCIM provisioning")
    newcomer = ds.add_user(name="Nina Newcomer", role="user")
    ds.actor = sso_actor()
    ds.set_team_role(team_id, newcomer["id"], "responder")
    ds.actor = web_actor(owner)
    gone = ds.remove_user(list(ds.users)[5])

    snapshot, _ = fetch()

    by_key = {}  # the latest record of each change (the generated trail has older ones)
    for a in sorted(snapshot.attributions, key=lambda a: a.at):
        by_key[(a.account_id, a.kind)] = a
    role = by_key[(user["id"], "role_changed")]
    assert (role.actor_name, role.actor_type, role.method) == (owner["name"], "user", "web")
    email = by_key[(other["id"], "email_changed")]
    assert (email.actor_name, email.actor_type, email.method) == ("Terraform Cloud", "api_token", "api_token")
    added = by_key[(newcomer["id"], "added")]
    assert (added.actor_type, added.method) == ("scim", "identity_provider")
    team = by_key[(newcomer["id"], "team_role_changed")]
    assert (team.team_id, team.actor_type, team.method) == (team_id, "sso", "identity_provider")
    assert by_key[(gone["id"], "removed")].actor_type == "user"
    assert all(isinstance(a, Attribution) and a.at.tzinfo for a in snapshot.attributions)


def test_the_audit_window_starts_an_hour_before_the_last_sync_and_never_past_31_days(start_fake):
    fake = start_fake(users=5, teams=1)
    last_sync = datetime.now(timezone.utc) - timedelta(days=2)

    fetch(since=last_sync)
    fetch(since=datetime.now(timezone.utc) - timedelta(days=90))
    fetch()

    windows = [datetime.fromisoformat(r.param("since")) for r in fake.requests if r.path == "/audit/records"]
    assert windows[0] == (last_sync - AUDIT_OVERLAP).replace(microsecond=0)
    for start in windows[1:]:
        assert timedelta(days=30) < datetime.now(timezone.utc) - start < AUDIT_MAX_AGE
    audit = [r for r in fake.requests if r.path == "/audit/records"]
    assert {tuple(r.params["root_resource_types[]"]) for r in audit} == {("users", "teams")}
    assert {r.param("limit") for r in audit} == {"100"}
    assert all(r.status == 200 for r in audit)  # PagerDuty refuses a window over 31 days: never asked


def test_audit_pages_follow_the_cursor_and_on_call_pages_run_side_by_side(start_fake):
    fake = start_fake(users=250, teams=3)
    ds = fake.dataset
    for n in range(230):
        ds.record({"id": f"PU{n:05d}", "type": "user_reference", "summary": f"Someone {n}"}, "create")
    records = len(ds.audit_records_between(since=None, until=None))
    for n in range(130):  # more than one page of on-call entries
        ds.escalation_policies.append({"id": f"PEX{n:03d}", "name": f"Extra {n}", "levels": [[(next(iter(ds.users)), None)]]})
    entries = len(ds.on_call_entries())

    snapshot, fetcher = fetch()

    assert fake.count(r"^/audit/records$") == math.ceil(records / 100) == 3
    assert fake.count(r"^/oncalls$") == math.ceil(entries / 100) == 2
    assert fetcher.requests == ds.minimum_requests()
    assert len(snapshot.on_calls) == entries
    cursors = [r.param("cursor") for r in fake.requests if r.path == "/audit/records"]
    assert cursors == [None, "c100", "c200"]


def test_on_call_entries_name_the_policy_level_and_schedule(start_fake):
    fake = start_fake(users=30, teams=4)

    snapshot, _ = fetch()

    served = fake.dataset.on_call_entries()
    assert len(snapshot.on_calls) == len(served)
    first = served[0]
    entry = snapshot.on_calls[0]
    assert (entry.account_id, entry.policy_id, entry.level) == (
        first["user"]["id"], first["escalation_policy"]["id"], first["escalation_level"]
    )
    assert entry.policy_name == first["escalation_policy"]["summary"]
    assert entry.policy_url.startswith("https://")
    assert any(e.schedule_name for e in snapshot.on_calls) and any(not e.schedule_name for e in snapshot.on_calls)


@pytest.mark.parametrize(
    "switch, status, note",
    [
        ("audit_ability", 402, "change attribution not synced: the account's plan does not include it (402)"),
        ("audit_permission", 403, "change attribution not synced: the access token may not read it (403)"),
        ("oncalls_ability", 402, "on-call not synced: the account's plan does not include it (402)"),
        ("oncalls_permission", 403, "on-call not synced: the access token may not read it (403)"),
    ],
)
def test_a_plan_or_key_without_audit_or_on_call_syncs_as_before_with_a_note(tenant, start_fake, switch, status, note):
    fake = start_fake(users=30, teams=3)
    setattr(fake, switch, False)
    integration = configured_integration(tenant)

    result = sync(integration)

    assert result.ok and result.run.outcome == SyncRun.Outcome.SUCCESS
    assert note in result.run.notes.splitlines()
    assert result.run.requests == fake.dataset.minimum_requests()
    assert fake.count(r"^/(audit/records|oncalls)$", status=status) == 1
    integration.refresh_from_db()
    assert integration.status == "connected"
