"""Text from PagerDuty is stored whole; what no database can store is made storable, and the
sync goes on. Runs on the suite's database (SQLite by default)."""

from __future__ import annotations

import pytest

from integrations.connectors.pagerduty import mapping
from integrations.models import AccountChange, License, SyncedAccount, SyncRun, Team

from .helpers import configured_integration, sync

pytestmark = pytest.mark.django_db

LONG = "Principal " + "Very Senior " * 60 + "Engineer"  # 738 characters


def test_long_text_is_stored_whole_in_every_column(tenant, fake_pagerduty):
    ds = fake_pagerduty.dataset
    user, team = ds.user_list()[5], ds.team_list()[0]
    integration = configured_integration(tenant)
    assert sync(integration).ok
    ds.update_user(
        user["id"], name="N" + LONG, email=LONG.replace(" ", ".") + "@acme.example", job_title=LONG,
        time_zone="Area/" + LONG, html_url="https://acme.pagerduty.com/users/" + "x" * 600,
        role="a_role_pagerduty_may_add_one_day_with_a_name_longer_than_sixty_four_characters",
    )
    ds.set_team_role(team["id"], user["id"], "incident_commander_of_the_whole_company_and_beyond")
    ds.teams[team["id"]].update(name="T" + LONG, html_url="https://acme.pagerduty.com/teams/" + "y" * 600)
    ds.licenses[0].update(name="L" + LONG, description="D" + LONG * 2, role_group="FullUser" + "G" * 200)

    result = sync(integration)

    assert result.run.outcome == SyncRun.Outcome.SUCCESS, result.message
    account = SyncedAccount.objects.get(integration=integration, external_id=user["id"])
    for field in ("name", "email", "job_title", "time_zone", "html_url", "role"):
        assert getattr(account, field) == ds.users[user["id"]][field], field
    assert account.team_memberships.get(team__external_id=team["id"]).role == (
        "incident_commander_of_the_whole_company_and_beyond"
    )
    stored_team = Team.objects.get(integration=integration, external_id=team["id"])
    assert (stored_team.name, stored_team.html_url) == (ds.teams[team["id"]]["name"], ds.teams[team["id"]]["html_url"])
    lic = License.objects.get(integration=integration, external_id=ds.licenses[0]["id"])
    assert (lic.name, lic.description, lic.role_group) == (
        ds.licenses[0]["name"], ds.licenses[0]["description"], ds.licenses[0]["role_group"],
    )
    change = AccountChange.objects.get(run=result.run, account=account, kind=AccountChange.Kind.ROLE_CHANGED)
    assert change.new_value == ds.users[user["id"]]["role"]


def test_lone_surrogates_and_nul_become_storable_and_the_sync_goes_on(tenant, fake_pagerduty):
    ds = fake_pagerduty.dataset
    odd, other = ds.user_list()[3], ds.user_list()[4]
    ds.update_user(odd["id"], name="Ann \ud800Lee\x00", job_title="Lead \udfff")
    ds.teams[ds.team_list()[0]["id"]]["name"] = "Ops \udbff"
    integration = configured_integration(tenant)

    result = sync(integration)

    assert result.run.outcome == SyncRun.Outcome.SUCCESS, result.message
    account = SyncedAccount.objects.get(integration=integration, external_id=odd["id"])
    assert (account.name, account.job_title) == ("Ann \ufffdLee", "Lead \ufffd")
    assert Team.objects.get(integration=integration, external_id=ds.team_list()[0]["id"]).name == "Ops \ufffd"
    assert SyncedAccount.objects.get(integration=integration, external_id=other["id"]).name == other["name"]
    assert SyncedAccount.objects.filter(integration=integration).count() == len(ds.users)


def test_an_indexed_value_beyond_what_an_index_holds_is_kept_as_far_as_it_goes_and_says_so():
    # PagerDuty caps names, emails and roles at 100 characters; only a broken answer is longer.
    name = "é" * 3000
    kept = mapping.user_fields(
        {"id": "P1", "name": name, "email": "a@b.example", "role": "user", "job_title": name}, "/users"
    )

    assert kept["job_title"] == name  # not indexed: whole
    assert kept["name"].startswith("é" * 900)
    assert kept["name"].endswith("… [shortened: 3,000 characters from PagerDuty, more than an index holds]")
    assert len(kept["name"].encode()) <= mapping.INDEXED_TEXT_MAX_BYTES


def test_an_id_with_a_lone_surrogate_is_invalid_not_a_database_error():
    with pytest.raises(Exception, match="without a valid id"):
        mapping.user_fields({"id": "P\ud800", "name": "A", "email": "a@b.example", "role": "user"}, "/users")
