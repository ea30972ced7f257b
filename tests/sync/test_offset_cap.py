"""Past PagerDuty's 10,000 offset cap: SCIM and search reach the rest, or the run is partial."""

from __future__ import annotations

import pytest

from integrations.models import AccountChange, Integration, SyncedAccount, SyncRun, ThirdPartyApplication
from integrations.services import add_integration
from tests.conftest import TOKEN, configure, sync
from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset

pytestmark = pytest.mark.django_db

USERS = 10_200


@pytest.fixture
def big_fake(settings):
    with FakePagerDuty(generate_dataset(users=USERS, teams=3, seed=5), token=TOKEN, scim_enabled=False) as fake:
        settings.PAGERDUTY_API_BASE_URL = fake.base_url
        yield fake


@pytest.fixture
def configured(tenant):
    application = ThirdPartyApplication.objects.get(key="pagerduty")
    return configure(add_integration(tenant=tenant, application=application, description="Big account"))


def stored_ids(integration, **filters) -> set[str]:
    return set(SyncedAccount.objects.filter(integration=integration, **filters).values_list("external_id", flat=True))


def test_past_ten_thousand_users_scim_and_search_reach_everyone(configured, big_fake):
    ds = big_fake.dataset
    beyond_cap = [u["id"] for u in ds.user_list()[10_000:]]

    # Without SCIM the 200 users past the cap cannot be listed: a partial run, nobody removed.
    partial = sync(configured)

    assert partial.run.outcome == SyncRun.Outcome.PARTIAL
    configured.refresh_from_db()
    assert configured.status == Integration.Status.CONNECTED
    assert configured.message.startswith("Synced 10,000 of 10,200 users: PagerDuty lists at most 10,000 users")
    assert configured.message.endswith("no account was marked removed")
    assert configured.last_synced_at == partial.run.finished_at
    assert stored_ids(configured) == set(ds.users) - set(beyond_cap)
    assert big_fake.count(status=400) == 0  # never asked past the cap
    assert max(int(r.param("offset")) for r in big_fake.requests if r.path == "/users") == 9_900

    # With SCIM, the missing emails are found through /users?query=… and merged by id.
    big_fake.scim_enabled = True
    big_fake.reset_log()
    complete = sync(configured)

    assert complete.run.outcome == SyncRun.Outcome.SUCCESS
    assert (complete.added, complete.removed, complete.unchanged) == (200, 0, 10_000)
    assert stored_ids(configured) == set(ds.users)
    late = SyncedAccount.objects.get(integration=configured, external_id=beyond_cap[-1])
    assert (late.email, late.role, late.license.external_id) == (
        ds.users[beyond_cap[-1]]["email"], ds.users[beyond_cap[-1]]["role"], ds.allocations[beyond_cap[-1]]["license"]["id"],
    )
    assert big_fake.count(status=400) == 0
    assert big_fake.count(r"^/scim/v2/Users$") == 102
    searches = [r for r in big_fake.requests if r.param("query")]
    assert 0 < len(searches) < 200  # fewer requests than one per missing user
    assert all(len(r.param("query")) >= 3 for r in searches)

    # A partial run again (SCIM off): users gone from PagerDuty are not marked removed by it.
    gone_early, gone_late = ds.user_list()[0]["id"], beyond_cap[0]
    ds.remove_user(gone_early)
    ds.remove_user(gone_late)
    big_fake.scim_enabled = False
    again = sync(configured)

    assert again.run.outcome == SyncRun.Outcome.PARTIAL
    assert again.message.startswith("Synced 10,000 of 10,198 users")
    assert stored_ids(configured, removed_at__isnull=False) == set()
    assert not AccountChange.objects.filter(run=again.run, kind=AccountChange.Kind.REMOVED).exists()
    # The accounts it missed keep the last sync that saw them; the others read as seen by it.
    assert last_seen(configured, beyond_cap[-1]) == complete.run.finished_at
    assert last_seen(configured, ds.user_list()[0]["id"]) == again.run.finished_at


def last_seen(integration, external_id: str):
    return SyncedAccount.objects.select_related("integration").get(integration=integration, external_id=external_id).last_seen
