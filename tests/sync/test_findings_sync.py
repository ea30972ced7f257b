"""What a sync brings for the findings: who made each change, who is on call, license roles."""

from __future__ import annotations

import pytest

from integrations.models import AccountChange, License, OnCall, SyncedAccount
from tests.conftest import sync
from tests.connectors.pagerduty.fake.data import api_token_actor, scim_actor, web_actor

pytestmark = pytest.mark.django_db
Kind = AccountChange.Kind


def change_of(external_id: str, kind: str) -> AccountChange:
    return AccountChange.objects.get(account__external_id=external_id, kind=kind)


def test_a_first_sync_attributes_added_accounts_and_stores_on_call_and_license_roles(
    configured_integration, fake_pagerduty
):
    ds = fake_pagerduty.dataset
    made_admin = list(ds.users.values())[1]  # the trail says an API token made them Global Admin

    result = sync(configured_integration)

    assert result.ok
    added = change_of(made_admin["id"], Kind.ADDED)
    assert (added.new_value, added.actor_name, added.actor_type, added.actor_method) == (
        "admin", "Terraform Cloud", "api_token", "api_token"
    )
    assert added.outside_identity_provider and added.grants_privilege
    assert added.acted_at is not None
    # An account the trail says nothing about is left unattributed, not guessed.
    assert AccountChange.objects.filter(kind=Kind.ADDED, actor_type="").exists()

    entries = ds.on_call_entries()
    assert OnCall.objects.filter(integration=configured_integration).count() == len(entries)
    first = entries[0]
    row = OnCall.objects.get(
        account__external_id=first["user"]["id"],
        policy_id=first["escalation_policy"]["id"],
        level=first["escalation_level"],
        schedule_name=first.get("schedule", {}).get("summary", ""),
    )
    assert row.policy_name == first["escalation_policy"]["summary"] and row.on_call_now

    stakeholder = License.objects.get(integration=configured_integration, role_group="Stakeholder")
    assert stakeholder.valid_roles == ["read_only_user", "read_only_limited_user"]


def test_a_later_sync_says_who_made_each_change_and_how(configured_integration, fake_pagerduty):
    ds = fake_pagerduty.dataset
    sync(configured_integration)
    owner = next(iter(ds.users.values()))
    responder, stakeholder, renamed, quiet = (
        ds.users_with_role("limited_user")[0],
        ds.users_with_role("read_only_user")[0],
        list(ds.users.values())[5],
        ds.users_with_role("user")[1],
    )
    team_id = next(iter(ds.teams))
    ds.actor = web_actor(owner)
    ds.set_role(responder["id"], "admin")
    ds.actor = api_token_actor("Provisioning script", "77aa")
    ds.set_email(renamed["id"], "renamed@acme.example")
    ds.actor = scim_actor()
    ds.set_team_role(team_id, stakeholder["id"], "manager")
    ds.update_user(quiet["id"], role="observer")  # changed where the trail does not show it
    ds.audit_records = [r for r in ds.audit_records if r["root_resource"]["id"] != quiet["id"]]

    result = sync(configured_integration)

    assert result.ok
    role = change_of(responder["id"], Kind.ROLE_CHANGED)
    assert (role.actor_name, role.actor_type, role.actor_method) == (owner["name"], "user", "web")
    assert role.outside_identity_provider  # granted Global Admin by hand
    email = change_of(renamed["id"], Kind.EMAIL_CHANGED)
    assert (email.actor_name, email.actor_type) == ("Provisioning script", "api_token")
    team = change_of(stakeholder["id"], Kind.TEAM_ROLE_CHANGED)
    assert (team.actor_type, team.actor_method) == ("scim", "identity_provider")
    assert not team.outside_identity_provider
    unknown = change_of(quiet["id"], Kind.ROLE_CHANGED)
    assert (unknown.actor_name, unknown.actor_type, unknown.actor_method, unknown.acted_at) == ("", "", "", None)


def test_on_call_rows_follow_each_sync_and_stay_when_the_list_cannot_be_read(configured_integration, fake_pagerduty):
    ds = fake_pagerduty.dataset
    sync(configured_integration)
    before = set(OnCall.objects.values_list("account__external_id", "policy_id", "level"))
    policy = ds.escalation_policies[0]
    newcomer = ds.users_with_role("user")[-1]
    policy["levels"][0] = [(newcomer["id"], "Rotation")]

    sync(configured_integration)
    after = set(OnCall.objects.values_list("account__external_id", "policy_id", "level"))
    assert (newcomer["id"], policy["id"], 1) in after and after != before

    fake_pagerduty.oncalls_permission = False
    policy["levels"][0] = [(ds.users_with_role("user")[0]["id"], None)]
    result = sync(configured_integration)
    assert "on-call not synced" in result.run.notes
    # Not read this time: what the last sync saw stays, rather than nobody on call.
    assert set(OnCall.objects.values_list("account__external_id", "policy_id", "level")) == after


def test_without_the_audit_trail_changes_are_recorded_unattributed(configured_integration, fake_pagerduty):
    ds = fake_pagerduty.dataset
    sync(configured_integration)
    fake_pagerduty.audit_ability = False
    user = ds.users_with_role("limited_user")[0]
    ds.set_role(user["id"], "admin")

    result = sync(configured_integration)

    assert result.ok and "change attribution not synced" in result.run.notes
    change = change_of(user["id"], Kind.ROLE_CHANGED)
    assert (change.new_value, change.actor_type) == ("admin", "")
    assert SyncedAccount.objects.get(external_id=user["id"]).role == "admin"


def test_a_dry_run_names_who_made_the_changes(configured_integration, fake_pagerduty):
    ds = fake_pagerduty.dataset
    sync(configured_integration)
    ds.actor = api_token_actor("Terraform Cloud")
    user = ds.users_with_role("limited_user")[0]
    ds.set_role(user["id"], "owner")
    lines = []

    sync(configured_integration, dry_run=True, progress=lines.append)

    assert any(line.startswith("  by Terraform Cloud (api_token, api_token)") and user["name"] in line for line in lines)
