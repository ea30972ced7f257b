"""A listing is complete only when everything PagerDuty said about it agrees: `more`, `total`,
the page sizes, and no entry listed twice or skipped. When it contradicts itself the run says
so in plain words and removes nothing on its word."""

from __future__ import annotations

import pytest

from integrations.models import License, SyncedAccount, SyncRun, Team, TeamMembership

from .conftest import SMALL_CAP
from .helpers import active_ids, configured_integration, removed_ids, sync

pytestmark = pytest.mark.django_db
USERS = 250
NOBODY_REMOVED = "; no account was marked removed"


@pytest.fixture
def fake(start_fake):
    return start_fake(users=USERS, teams=4)


@pytest.fixture
def synced(tenant, fake):
    integration = configured_integration(tenant)
    first = sync(integration)
    assert first.run.outcome == SyncRun.Outcome.SUCCESS and len(active_ids(integration)) == USERS
    return integration


def memberships(integration) -> set[tuple[str, str, str]]:
    return set(
        TeamMembership.objects.filter(team__integration=integration).values_list(
            "team__external_id", "account__external_id", "role"
        )
    )


def licenses_of(integration) -> dict[str, str | None]:
    return dict(
        SyncedAccount.objects.filter(integration=integration).values_list("external_id", "license__external_id")
    )


def say(**changes):
    """A page's body with some of what it says replaced."""
    return lambda body, params: {**body, **changes}


def test_a_first_users_page_saying_more_with_a_total_of_100_removes_nobody(synced, fake):
    # The case: 150 accounts were marked removed.
    fake.hook(r"^/users$", params={"offset": 0}, after=say(more=True, total=100))

    result = sync(synced)

    assert result.run.outcome == SyncRun.Outcome.PARTIAL
    assert result.message == "/users said more pages follow but its total was 100" + NOBODY_REMOVED
    synced.refresh_from_db()
    assert synced.message == result.message and result.run.message == result.message
    assert removed_ids(synced) == set() and len(active_ids(synced)) == USERS
    assert result.removed == 0


def page_of(fake, offset):
    return [u["id"] for u in fake.dataset.user_list()[offset:offset + 100]]


CONTRADICTIONS = {
    "no more pages, yet a total of 250": (
        lambda fake: fake.hook(r"^/users$", params={"offset": 0}, after=say(more=False)),
        "/users said no more pages follow after 100 entries but its total was 250",
    ),
    "the second page ends the listing early": (
        lambda fake: fake.hook(r"^/users$", params={"offset": 100}, after=say(more=False)),
        "/users said no more pages follow after offset 100 but its total was 250",
    ),
    "a page shorter than the total promised": (
        lambda fake: fake.hook(r"^/users$", params={"offset": 200}, after=lambda body, _: {**body, "users": body["users"][:-3]}),
        "/users gave 47 entries at offset 200 where its total of 250 promised 50",
    ),
    "the list shrinks while it is paged": (
        lambda fake: fake.hook(r"^/users$", params={"offset": 200}, before=lambda _: fake.dataset.remove_user(fake.dataset.user_list()[0]["id"])),
        "/users gave 49 entries at offset 200 where its total of 250 promised 50",
    ),
    "the list grows while it is paged": (
        lambda fake: fake.hook(r"^/users$", params={"offset": 200}, after=lambda body, _: {**body, "users": [*body["users"][:-1], fake.dataset.user_list()[150]]}),
        "twice: the list changed while it was paged",
    ),
    "a page not full though more follow, without a total": (
        lambda fake: fake.hook(r"^/users$", params={"offset": 0}, after=say(total=None, more=True, users=[])),
        "/users said more pages follow after a page of 0 (of 100 asked for)",
    ),
}


@pytest.mark.parametrize("contradiction", CONTRADICTIONS)
def test_any_contradiction_in_the_users_listing_makes_the_run_partial(synced, fake, contradiction):
    inject, words = CONTRADICTIONS[contradiction]
    gone = fake.dataset.user_list()[-1]["id"]
    fake.dataset.remove_user(gone)  # really gone: yet a listing that contradicts itself cannot say so
    fake.dataset.add_user(name="Late Comer")  # the total stays 250
    inject(fake)

    result = sync(synced)

    assert result.run.outcome == SyncRun.Outcome.PARTIAL, result.message
    assert words in result.message and result.message.endswith(NOBODY_REMOVED)
    assert removed_ids(synced) == set()

    fake.clear_faults()
    again = sync(synced)  # PagerDuty agrees with itself again: now the removal is safe

    assert again.run.outcome == SyncRun.Outcome.SUCCESS, again.message
    assert removed_ids(synced) >= {gone}


def test_a_team_listing_that_contradicts_itself_leaves_teams_and_memberships_as_they_were(synced, fake):
    teams_before, members_before = set(Team.objects.filter(integration=synced).values_list("external_id", "removed_at")), memberships(synced)
    fake.hook(r"^/teams$", params={"offset": 0}, after=lambda body, _: {**body, "teams": body["teams"][:2], "total": 4})
    gone = fake.dataset.user_list()[-1]["id"]
    fake.dataset.remove_user(gone)

    result = sync(synced)

    assert result.run.outcome == SyncRun.Outcome.SUCCESS  # the users listing agreed: accounts are right
    assert removed_ids(synced) == {gone}
    assert "teams not synced: /teams said no more pages follow after 2 entries but its total was 4" in result.run.notes
    assert set(Team.objects.filter(integration=synced).values_list("external_id", "removed_at")) == teams_before
    assert memberships(synced) == {m for m in members_before if m[1] != gone}


def test_a_roster_that_contradicts_itself_leaves_that_teams_memberships_as_they_were(synced, fake):
    big = fake.dataset.team_list()[0]  # 150 members: two pages
    before = memberships(synced)
    leaver = next(iter(fake.dataset.members[big["id"]]))
    fake.dataset.set_team_role(big["id"], leaver, None)
    fake.hook(rf"^/teams/{big['id']}/members$", params={"offset": 0}, after=lambda body, _: {**body, "members": body["members"][:60]})

    result = sync(synced)

    assert result.run.outcome == SyncRun.Outcome.SUCCESS, result.message
    assert f"memberships not synced: /teams/{big['id']}/members said more pages follow after 60 entries at offset 0" in result.run.notes
    assert memberships(synced) == before  # the leaver is not taken off on a roster that contradicts itself


def test_allocations_that_contradict_themselves_change_no_license_they_did_not_list(synced, fake):
    before = licenses_of(synced)
    fake.hook(r"^/license_allocations$", params={"offset": 100}, after=lambda body, _: {**body, "license_allocations": []})

    result = sync(synced)

    assert result.run.outcome == SyncRun.Outcome.SUCCESS, result.message
    assert "licenses: /license_allocations gave 0 entries at offset 100 where its total of 250 promised 100" in result.run.notes
    assert licenses_of(synced) == before
    assert License.objects.filter(integration=synced).count() == 3


def test_a_scim_list_that_contradicts_itself_makes_the_run_partial(tenant, start_fake, small_cap):
    fake = start_fake(users=SMALL_CAP + 150, offset_cap=small_cap)
    integration = configured_integration(tenant)
    assert sync(integration).run.outcome == SyncRun.Outcome.SUCCESS
    fake.hook(r"^/scim/v2/Users$", params={"startIndex": 101}, after=lambda body, _: {**body, "totalResults": 1000})

    result = sync(integration)

    assert result.run.outcome == SyncRun.Outcome.PARTIAL
    assert result.message == (
        "the SCIM user list (/scim/v2/Users) gave a total of 1,000 at startIndex 101 after a total of 450, so who "
        "is beyond the first 10,000 users is not known; no account was marked removed"
    )
    assert removed_ids(integration) == set()


def test_a_users_total_past_the_cap_that_scim_and_the_search_do_not_bear_out_removes_nobody(tenant, start_fake, small_cap):
    fake = start_fake(users=SMALL_CAP + 50, offset_cap=small_cap)
    integration = configured_integration(tenant)
    assert sync(integration).run.outcome == SyncRun.Outcome.SUCCESS
    fake.dataset.remove_user(fake.dataset.user_list()[-1]["id"])
    fake.hook(r"^/users$", params={"offset": 0}, after=lambda body, params: body if "query" in params else {**body, "total": 400})

    result = sync(integration)

    assert result.run.outcome == SyncRun.Outcome.PARTIAL
    assert result.message == (
        "/users gave a total of 400 but the SCIM user list and the search reached 349 users; "
        "no account was marked removed"
    )
    assert removed_ids(integration) == set()
