"""Past the offset cap, SCIM names the users to reach: deactivated SCIM users are not among
them, and a userName differing from the REST email only in case is the same user."""

from __future__ import annotations

import pytest

from integrations.models import SyncRun

from .conftest import SMALL_CAP
from .helpers import active_ids, configured_integration, removed_ids, sync

pytestmark = pytest.mark.django_db
USERS = SMALL_CAP + 40


def test_deactivated_scim_users_do_not_freeze_removals(tenant, start_fake, small_cap):
    fake = start_fake(users=USERS, offset_cap=small_cap)
    ds = fake.dataset
    # Users deactivated in PagerDuty: /users no longer has them, SCIM still lists them.
    fake.scim_extra = [
        {"userName": f"gone.{n}@acme.example", "active": False, "displayName": f"Gone {n}"} for n in range(5)
    ]
    integration = configured_integration(tenant)

    first = sync(integration)

    assert first.run.outcome == SyncRun.Outcome.SUCCESS, first.message
    assert active_ids(integration) == set(ds.users)
    # No search was spent on them.
    assert not any("gone" in (r.param("query") or "") for r in fake.requests)

    late, early = ds.user_list()[-1]["id"], ds.user_list()[0]["id"]
    ds.remove_user(late)
    ds.remove_user(early)
    second = sync(integration)

    assert second.run.outcome == SyncRun.Outcome.SUCCESS, second.message
    assert removed_ids(integration) == {late, early}


def test_scim_user_names_differing_only_in_case_match_the_rest_emails(tenant, start_fake, small_cap):
    fake = start_fake(users=USERS, offset_cap=small_cap)
    fake.scim_user_name = lambda user: user["email"].upper()
    integration = configured_integration(tenant)

    result = sync(integration)

    assert result.run.outcome == SyncRun.Outcome.SUCCESS, result.message
    assert active_ids(integration) == set(fake.dataset.users)
    searched = [r for r in fake.requests if r.param("query")]
    assert searched and all(r.param("query") == r.param("query").lower() for r in searched)


def test_an_active_scim_user_that_no_listing_has_still_makes_the_sync_partial(tenant, start_fake, small_cap):
    fake = start_fake(users=USERS, offset_cap=small_cap)
    fake.scim_extra = [{"userName": "hidden@acme.example", "active": True}]
    integration = configured_integration(tenant)

    result = sync(integration)

    assert result.run.outcome == SyncRun.Outcome.PARTIAL
    assert "1 could not be reached" in result.message and result.message.endswith("no account was marked removed")
