"""The sync engine end to end: real HTTP against the fake PagerDuty, the real database."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import status
from integrations.admin.accounts import SyncedAccountAdmin
from integrations.exports import iso_utc, iter_records
from integrations.connectors.pagerduty.roles import ROLES
from integrations.models import (
    AccountChange,
    Integration,
    License,
    SyncedAccount,
    SyncRun,
    Team,
    TeamMembership,
    ThirdPartyApplication,
)
from integrations.sync import AlreadySyncing, NotConfigured, STALE_RUN_MESSAGE
from tests.conftest import TOKEN, configure, sync
from tests.connectors.pagerduty.fake import LEGACY_ROLE, FakePagerDuty, generate_dataset

pytestmark = pytest.mark.django_db

Kind = AccountChange.Kind
ACCOUNT_COLUMNS = (
    "external_id", "name", "email", "role", "job_title", "time_zone", "invitation_pending",
    "created_via_sso", "html_url", "license_id", "first_seen_at", "last_seen_at", "removed_at",
)


def accounts_state(integration: Integration) -> list[tuple]:
    return list(SyncedAccount.objects.filter(integration=integration).order_by("external_id").values_list(*ACCOUNT_COLUMNS))


def memberships_state(integration: Integration) -> list[tuple]:
    return list(
        TeamMembership.objects.filter(team__integration=integration)
        .order_by("team__external_id", "account__external_id")
        .values_list("team__external_id", "account__external_id", "role")
    )


def add_pagerduty(tenant, description: str = "Production PagerDuty") -> Integration:
    from integrations.services import add_integration

    application = ThirdPartyApplication.objects.get(key="pagerduty")
    return add_integration(tenant=tenant, application=application, description=description)


@pytest.fixture
def configured(configured_integration):
    return configured_integration


@pytest.fixture
def start_fake(settings):
    """start_fake(users=, teams=, **switches): a fake PagerDuty of that size for this test."""
    fakes = []

    def start(*, users: int, teams: int, seed: int = 3, **kwargs) -> FakePagerDuty:
        fake = FakePagerDuty(generate_dataset(users=users, teams=teams, seed=seed), token=TOKEN, **kwargs).start()
        fakes.append(fake)
        settings.PAGERDUTY_API_BASE_URL = fake.base_url
        return fake

    yield start
    for fake in fakes:
        fake.stop()


# -- what a first sync stores ----------------------------------------------------------------


def test_first_sync_stores_every_field_of_every_user(configured, fake_pagerduty):
    ds = fake_pagerduty.dataset

    result = sync(configured)

    assert result.ok and result.run.outcome == SyncRun.Outcome.SUCCESS
    stored = {
        a.external_id: a
        for a in SyncedAccount.objects.filter(integration=configured).select_related("license", "integration")
    }
    assert stored.keys() == ds.users.keys()
    for user_id, user in ds.users.items():
        account = stored[user_id]
        assert account.name == user["name"]
        assert account.email == user["email"]
        assert account.role == user["role"]
        assert account.role_display == ROLES.display_names.get(user["role"], user["role"])
        assert account.job_title == user.get("job_title", "")
        assert account.time_zone == user["time_zone"]
        assert account.invitation_pending is user["invitation_sent"]
        assert account.created_via_sso is user["created_via_sso"]
        assert account.html_url == user["html_url"]
        assert account.license.external_id == ds.allocations[user_id]["license"]["id"]
        assert account.removed_at is None
        assert account.first_seen_at == result.run.changes.first().created_at
        assert account.last_seen == result.run.finished_at
    # The table's names, and a value outside the table kept and shown as it came.
    owner = SyncedAccount.objects.get(integration=configured, role="owner")
    assert owner.role_display == "Account Owner"
    legacy = SyncedAccount.objects.get(integration=configured, role=LEGACY_ROLE)
    assert legacy.role_display == LEGACY_ROLE
    assert SyncedAccount.objects.filter(integration=configured, job_title="").exists()
    assert SyncedAccount.objects.filter(integration=configured, name="<script>alert(1)</script> Mallory").exists()


def test_first_sync_stores_teams_memberships_and_licenses(configured, fake_pagerduty):
    ds = fake_pagerduty.dataset

    sync(configured)

    teams = {t.external_id: t for t in Team.objects.filter(integration=configured)}
    assert {tid: (t.name, t.description, t.html_url) for tid, t in teams.items()} == {
        tid: (t["name"], t["description"], t["html_url"]) for tid, t in ds.teams.items()
    }
    expected = sorted((tid, uid, role) for tid, roster in ds.members.items() for uid, role in roster.items())
    assert memberships_state(configured) == expected
    assert sorted(License.objects.filter(integration=configured).values_list("external_id", "name", "role_group")) == sorted(
        (lic["id"], lic["name"], lic["role_group"]) for lic in ds.licenses
    )


def test_first_sync_sets_the_status_and_records_the_run(configured, fake_pagerduty):
    before = timezone.now()

    result = sync(configured)

    configured.refresh_from_db()
    assert (configured.status, configured.message) == (Integration.Status.CONNECTED, status.DATA_AVAILABLE)
    assert configured.last_synced_at >= before
    assert configured.sync_started_at is None
    run = SyncRun.objects.get(integration=configured)
    assert run == result.run
    assert (run.trigger, run.outcome) == (SyncRun.Trigger.COMMAND, SyncRun.Outcome.SUCCESS)
    assert (run.accounts_fetched, run.accounts_added, run.accounts_updated, run.accounts_removed, run.accounts_unchanged) == (
        30, 30, 0, 0, 0,
    )
    assert run.finished_at == configured.last_synced_at
    assert run.message == status.DATA_AVAILABLE
    assert run.notes == ""
    assert AccountChange.objects.filter(run=run, kind=Kind.ADDED).count() == 30
    assert result.summary() == (
        f"Acme / PagerDuty #{configured.pk}: 30 added, 0 updated, 0 removed, 0 unchanged; "
        f"{run.requests} requests; {result.seconds:.1f} s"
    )


def test_an_account_without_users_is_connected_with_no_data(configured, start_fake):
    fake = start_fake(users=0, teams=0)

    result = sync(configured)

    configured.refresh_from_db()
    assert result.ok
    assert (configured.status, configured.message) == (Integration.Status.CONNECTED, status.NO_DATA_AVAILABLE)
    # Every listing, even an empty one, is one request: users, teams, licenses, allocations,
    # the audit trail and the on-call list.
    assert result.run.requests == fake.dataset.minimum_requests() == 6


def test_an_unconfigured_integration_is_not_synced(tenant, fake_pagerduty):
    integration = add_pagerduty(tenant)

    with pytest.raises(NotConfigured):
        sync(integration)
    integration.refresh_from_db()
    assert integration.status == Integration.Status.NOT_CONFIGURED
    assert not SyncRun.objects.exists()
    assert fake_pagerduty.request_count == 0


# -- requests and queries --------------------------------------------------------------------


def test_requests_are_the_formulas_minimum_and_only_gets(configured, start_fake):
    # 250 users (3 pages), 6 teams (one of 150 members: 2 pages; empty ones: 1), 250
    # allocations, the audit trail of the last 31 days (fewer than 100 records: 1 page) and
    # who is on call (1 page).
    fake = start_fake(users=250, teams=6)

    result = sync(configured)

    expected = fake.dataset.minimum_requests()
    assert expected == 3 + 1 + 7 + 1 + 3 + 1 + 1
    assert result.run.requests == expected
    assert result.run.retries == 0
    assert fake.wait_for_requests(expected) == expected
    assert {r.method for r in fake.requests} == {"GET"}
    assert fake.count(r"^/users$") == 3
    assert {r.param("limit") for r in fake.requests if r.path != "/licenses"} == {"100"}


def test_pages_are_fetched_concurrently_but_never_beyond_the_setting(configured, start_fake, settings):
    settings.PAGERDUTY_MAX_CONCURRENCY = 3
    fake = start_fake(users=300, teams=10, latency=0.02)

    assert sync(configured).ok

    assert 2 <= fake.max_concurrent <= 3


def _sync_queries(integration) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as first:
        assert sync(integration).ok
    with CaptureQueriesContext(connection) as again:
        assert sync(integration).ok
    return len(first.captured_queries), len(again.captured_queries)


def test_query_counts_do_not_depend_on_the_number_of_users(tenant, start_fake, django_assert_num_queries, monkeypatch):
    # Progress is stored at most once a second: a sync slowed past a second by a busy machine
    # would store a second line. Only the first is stored here, however long a sync takes.
    monkeypatch.setattr("integrations.sync.runner.PROGRESS_EVERY_SECONDS", 3600.0)
    small = configure(add_pagerduty(tenant, "small"))
    large = configure(add_pagerduty(tenant, "large"))
    start_fake(users=30, teams=4)
    small_counts = _sync_queries(small)
    start_fake(users=300, teams=12)
    large_counts = _sync_queries(large)

    assert small_counts == large_counts
    # Lock, stale runs, run, the first progress line (the next within a second are not
    # stored); in one transaction: 4 reads, 5 bulk inserts (licenses, teams, accounts,
    # memberships, changes) and the new accounts' ids, run, status; release.
    # A re-sync: 1 bulk update (teams' last seen); no account row is written.
    # Both: who is on call is replaced whole (one delete, one bulk insert), and the access
    # reviews' pending remediations are read once.
    assert small_counts == (23, 18)
    with django_assert_num_queries(18):  # a third sync, unchanged: as the re-sync
        sync(large)


def test_an_unchanged_resync_writes_no_account_row(configured, fake_pagerduty):
    first = sync(configured)
    before = accounts_state(configured)
    memberships = memberships_state(configured)
    changes = AccountChange.objects.count()

    with CaptureQueriesContext(connection) as queries:
        result = sync(configured)

    assert (result.added, result.updated, result.removed, result.unchanged) == (0, 0, 0, 30)
    assert accounts_state(configured) == before
    assert memberships_state(configured) == memberships
    assert AccountChange.objects.count() == changes
    account_writes = [
        q["sql"] for q in queries.captured_queries
        if '"integrations_syncedaccount"' in q["sql"] and q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert account_writes == []
    # Yet every account reads as seen by this latest sync.
    accounts = SyncedAccount.objects.filter(integration=configured).select_related("integration")
    assert {account.last_seen for account in accounts} == {result.run.finished_at}
    assert result.run.finished_at > first.run.finished_at


def test_an_account_a_partial_sync_missed_is_back_in_view_once_seen(configured, fake_pagerduty):
    first = sync(configured)
    # As a partial sync leaves an account it missed (tests/sync/test_offset_cap.py makes one).
    missed = SyncedAccount.objects.filter(integration=configured).first()
    SyncedAccount.objects.filter(pk=missed.pk).update(last_seen_at=first.run.finished_at)

    result = sync(configured)

    missed = SyncedAccount.objects.select_related("integration").get(pk=missed.pk)
    assert (missed.last_seen_at, missed.last_seen) == (None, result.run.finished_at)
    assert (result.added, result.updated, result.unchanged) == (0, 0, 30)


def test_reviewers_read_the_latest_sync_as_last_seen(configured, fake_pagerduty, reviewer, client):
    sync(configured)
    latest = sync(configured)  # writes no account row

    records = list(iter_records(SyncedAccount.objects.filter(integration=configured)))
    assert {record["last_seen"] for record in records} == {iso_utc(latest.run.finished_at)}
    client.force_login(reviewer)
    by_last_seen = f"-{SyncedAccountAdmin.list_display.index('last_seen_column') + 1}"
    page = client.get("/admin/integrations/syncedaccount/", {"o": by_last_seen})
    assert page.status_code == 200
    day, time = timezone.localtime(latest.run.finished_at).strftime("%Y-%m-%d|%H:%M %Z").split("|")
    assert (
        f'<td class="field-last_seen_column"><span class="pd-when"><span>{day}</span> <span>{time}</span></span></td>'
        in page.content.decode()
    )


# -- changes between syncs -------------------------------------------------------------------


def _team_member(ds, role: str) -> tuple[str, str]:
    return next((tid, uid) for tid, roster in ds.members.items() for uid, r in roster.items() if r == role)


def test_changes_between_syncs_are_recorded(configured, fake_pagerduty):
    ds = fake_pagerduty.dataset
    sync(configured)
    users = ds.user_list()
    leaver, promoted, renamed, retitled = users[10]["id"], users[11]["id"], users[12]["id"], users[13]["id"]
    old_email = users[12]["email"]
    team_id, responder = _team_member(ds, "responder")
    old_promoted_role = ds.users[promoted]["role"]
    ds.remove_user(leaver)
    ds.set_role(promoted, "admin" if old_promoted_role != "admin" else "user")
    ds.set_email(renamed, "renamed@acme.example")
    ds.update_user(retitled, job_title="Chief Pager Officer")
    ds.set_team_role(team_id, responder, "manager")
    newcomer = ds.add_user(name="Nina Newcomer", email="nina@acme.example", role="limited_user")

    result = sync(configured)

    assert (result.added, result.removed) == (1, 1)
    assert result.updated == len({promoted, renamed, retitled, responder})
    assert result.unchanged == 30 - 1 - result.updated
    run = result.run
    changes = {(c.kind, c.account.external_id): c for c in AccountChange.objects.filter(run=run).select_related("account", "team")}
    assert changes[(Kind.ADDED, newcomer["id"])].new_value == "limited_user"
    assert changes[(Kind.REMOVED, leaver)].old_value == stored_role(configured, leaver)
    role_change = changes[(Kind.ROLE_CHANGED, promoted)]
    assert (role_change.old_value, role_change.new_value) == (old_promoted_role, ds.users[promoted]["role"])
    email_change = changes[(Kind.EMAIL_CHANGED, renamed)]
    assert (email_change.old_value, email_change.new_value) == (old_email, "renamed@acme.example")
    team_change = changes[(Kind.TEAM_ROLE_CHANGED, responder)]
    assert (team_change.team.external_id, team_change.old_value, team_change.new_value) == (team_id, "responder", "manager")
    assert team_change.grants_privilege
    assert len(changes) == 5  # the job title is updated without a change row
    assert SyncedAccount.objects.get(integration=configured, external_id=retitled).job_title == "Chief Pager Officer"
    assert TeamMembership.objects.get(team__external_id=team_id, account__external_id=responder).role == "manager"


def stored_role(integration, external_id: str) -> str:
    return SyncedAccount.objects.get(integration=integration, external_id=external_id).role


def test_a_removed_account_is_kept_and_comes_back(configured, fake_pagerduty):
    ds = fake_pagerduty.dataset
    first = sync(configured)
    user = dict(ds.user_list()[5])
    ds.remove_user(user["id"])

    removal = sync(configured)

    account = SyncedAccount.objects.get(integration=configured, external_id=user["id"])
    assert account.removed_at == AccountChange.objects.get(run=removal.run, kind=Kind.REMOVED, account=account).created_at
    assert account.last_seen == first.run.finished_at < account.removed_at
    assert SyncedAccount.objects.filter(integration=configured).count() == 30
    assert SyncedAccount.objects.filter(integration=configured).active().count() == 29

    ds.add_user(**{k: user[k] for k in ("id", "name", "email", "role", "time_zone")})
    comeback = sync(configured)

    account.refresh_from_db()
    returned = AccountChange.objects.get(run=comeback.run, kind=Kind.RETURNED)
    assert (returned.account, returned.new_value) == (account, user["role"])
    assert account.removed_at is None
    assert account.last_seen == comeback.run.finished_at
    assert (comeback.added, comeback.removed) == (1, 0)


def test_leaving_and_joining_a_team_are_team_role_changes(configured, fake_pagerduty):
    ds = fake_pagerduty.dataset
    sync(configured)
    team_id, member = _team_member(ds, "responder")
    other_team = next(tid for tid, roster in ds.members.items() if member not in roster)
    ds.set_team_role(team_id, member, None)
    ds.set_team_role(other_team, member, "observer")

    result = sync(configured)

    changes = sorted(
        AccountChange.objects.filter(run=result.run).values_list("team__external_id", "old_value", "new_value")
    )
    assert changes == sorted([(team_id, "responder", ""), (other_team, "", "observer")])
    assert not TeamMembership.objects.filter(team__external_id=team_id, account__external_id=member).exists()
    assert result.updated == 1


# -- failures --------------------------------------------------------------------------------


def test_a_failure_on_the_last_users_page_leaves_every_row_as_it_was(configured, start_fake, settings):
    settings.PAGERDUTY_MAX_RETRIES = 2
    fake = start_fake(users=300, teams=5)
    first = sync(configured)
    configured.refresh_from_db()
    synced_at = configured.last_synced_at
    before = (accounts_state(configured), memberships_state(configured), AccountChange.objects.count())
    fake.dataset.remove_user(fake.dataset.user_list()[0]["id"])
    fake.dataset.set_role(fake.dataset.user_list()[1]["id"], "admin")
    fake.inject(r"^/users$", status=500, times=None, params={"offset": 200})

    result = sync(configured)

    assert not result.ok
    assert (accounts_state(configured), memberships_state(configured), AccountChange.objects.count()) == before
    configured.refresh_from_db()
    assert configured.status == Integration.Status.ERROR
    assert configured.message == "PagerDuty unreachable: PagerDuty answered 500 to /users (3 attempts)"
    assert configured.last_synced_at == synced_at
    assert configured.sync_started_at is None
    run = SyncRun.objects.exclude(pk=first.run.pk).get()
    assert (run.outcome, run.message) == (SyncRun.Outcome.FAILED, configured.message)
    assert run.retries >= 2 and run.requests >= 3
    assert result.summary().startswith(f"Acme / PagerDuty #{configured.pk}: failed: PagerDuty unreachable")


def test_a_token_revoked_mid_sync_fails_with_token_rejected(configured, start_fake):
    fake = start_fake(users=300, teams=5)
    sync(configured)
    before = accounts_state(configured)
    fake.revoke_token_after(3)

    result = sync(configured)

    configured.refresh_from_db()
    assert configured.status == Integration.Status.ERROR
    assert configured.message.startswith("token rejected")
    assert result.run.outcome == SyncRun.Outcome.FAILED
    assert accounts_state(configured) == before


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        (r"^/teams/[^/]+/members$", "malformed", "unexpected response: PagerDuty sent a response that is not JSON for /teams/"),
        (r"^/users$", "wrong_type", "unexpected response: PagerDuty sent no list of users in /users"),
        (r"^/license_allocations$", "wrong_type", "unexpected response: PagerDuty sent no list of license_allocations"),
        (r"^/licenses$", "html", "unexpected response: PagerDuty sent a response that is not JSON for /licenses"),
    ],
)
def test_malformed_answers_fail_the_sync_with_a_plain_message(configured, fake_pagerduty, path, kind, message):
    fake_pagerduty.inject(path, kind=kind, times=1)

    result = sync(configured)

    assert result.run.outcome == SyncRun.Outcome.FAILED
    assert result.message.startswith(message)
    configured.refresh_from_db()
    assert (configured.status, configured.message) == (Integration.Status.ERROR, result.message)
    assert not SyncedAccount.objects.exists()


def test_a_field_of_the_wrong_type_is_an_unexpected_response(configured, fake_pagerduty):
    fake_pagerduty.dataset.update_user(fake_pagerduty.dataset.user_list()[7]["id"], invitation_sent="yes")

    result = sync(configured)

    assert result.message == "unexpected response: PagerDuty sent an 'invitation_sent' field that is not true or false in /users"
    assert not SyncedAccount.objects.exists()


def test_an_undecryptable_token_fails_before_any_request(configured, fake_pagerduty):
    # The token as another FIELD_ENCRYPTION_KEY stored it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE integrations_integration SET secrets = %s WHERE id = %s",
            ['{"access_token": "gAAAAABnot-a-token-this-key-can-open"}', configured.pk],
        )

    result = sync(configured)

    configured.refresh_from_db()
    assert (configured.status, configured.message) == (
        Integration.Status.ERROR, "stored token cannot be decrypted: FIELD_ENCRYPTION_KEY changed?",
    )
    assert (result.run.outcome, result.run.requests) == (SyncRun.Outcome.FAILED, 0)
    assert fake_pagerduty.request_count == 0


# -- retries, rate limits and skipped parts --------------------------------------------------


def test_5xx_bursts_timeouts_and_truncated_pages_are_retried(configured, fake_pagerduty, settings):
    settings.PAGERDUTY_READ_TIMEOUT = 0.2
    fake_pagerduty.inject(r"^/teams/[^/]+/members$", status=503, times=3)
    fake_pagerduty.inject(r"^/teams$", kind="stall", delay=0.6, times=1)
    fake_pagerduty.inject(r"^/license_allocations$", kind="truncated", times=1)

    result = sync(configured)

    expected = fake_pagerduty.dataset.minimum_requests() + 5
    assert result.ok
    assert (result.run.requests, result.run.retries) == (expected, 5)
    assert SyncedAccount.objects.count() == 30
    assert fake_pagerduty.wait_for_requests(expected) == expected


def test_a_429_storm_without_headers_is_waited_out(configured, fake_pagerduty):
    fake_pagerduty.inject(None, kind="throttle", times=6)

    result = sync(configured)

    assert result.ok
    assert result.run.retries == 6
    assert result.run.requests == fake_pagerduty.dataset.minimum_requests() + 6


def test_a_rate_limited_sync_keeps_to_the_window(configured, fake_pagerduty, settings):
    settings.PAGERDUTY_MAX_CONCURRENCY = 4
    fake_pagerduty.rate_limit(5, 1.0)  # 8 requests: two windows

    result = sync(configured)

    assert result.ok
    assert fake_pagerduty.wait_for_requests(result.run.requests) == result.run.requests
    assert fake_pagerduty.count_429 <= 1
    assert result.run.requests == fake_pagerduty.dataset.minimum_requests() + fake_pagerduty.count_429


def test_a_rate_limit_that_never_lifts_fails_with_a_rate_limit_message(configured, fake_pagerduty, settings):
    settings.PAGERDUTY_RATE_LIMIT_MAX_WAIT = 0.2
    fake_pagerduty.inject(None, kind="throttle", times=None)

    result = sync(configured)

    configured.refresh_from_db()
    assert configured.status == Integration.Status.ERROR
    assert configured.message.startswith("rate limit: PagerDuty kept answering 429")


def test_teams_are_skipped_and_noted_when_the_plan_has_none(configured, fake_pagerduty):
    sync(configured)
    memberships = memberships_state(configured)
    fake_pagerduty.teams_ability = False

    result = sync(configured)

    assert result.ok and result.run.outcome == SyncRun.Outcome.SUCCESS
    assert result.run.notes == "teams not synced: the account's plan has no teams (402)"
    # Teams synced before are neither removed nor emptied by a sync that could not see them.
    assert memberships_state(configured) == memberships
    assert not Team.objects.filter(removed_at__isnull=False).exists()
    # users, teams (402), licenses, allocations, audit trail, on-call
    assert result.run.requests == 1 + 1 + 1 + 1 + 1 + 1


def test_licenses_are_skipped_and_noted_without_permission(configured, fake_pagerduty):
    fake_pagerduty.licenses_permission = False

    result = sync(configured)

    assert result.ok
    assert result.run.notes == "licenses not synced: the access token may not read licenses (403)"
    assert not License.objects.exists()
    assert SyncedAccount.objects.filter(license__isnull=True).count() == 30


def test_the_token_is_never_logged(configured, fake_pagerduty, caplog, settings):
    caplog.set_level(logging.DEBUG)
    settings.PAGERDUTY_MAX_RETRIES = 1
    fake_pagerduty.inject(None, kind="throttle", times=2)
    fake_pagerduty.inject(r"^/teams$", status=500, times=None)

    result = sync(configured)

    assert not result.ok
    assert "PagerDuty answered 429" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in result.summary()


# -- one sync at a time -----------------------------------------------------------------------


def test_a_held_lock_refuses_the_sync_untouched(configured, fake_pagerduty):
    held_since = timezone.now() - timedelta(minutes=50)  # a long sync, alive: its heartbeat is fresh
    Integration.objects.filter(pk=configured.pk).update(
        sync_started_at=held_since,
        sync_heartbeat_at=timezone.now(),
        status=Integration.Status.SYNCING,
        message=status.SYNC_IN_PROGRESS,
    )

    with pytest.raises(AlreadySyncing, match="already syncing"):
        sync(configured)

    configured.refresh_from_db()
    assert configured.sync_started_at == held_since
    assert not SyncRun.objects.exists()
    assert fake_pagerduty.request_count == 0


def test_a_stale_lock_is_taken_over_and_its_run_closed(configured, fake_pagerduty, settings):
    dead_since = timezone.now() - timedelta(seconds=settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS + 60)
    dead = SyncRun.objects.create(integration=configured, trigger="schedule", started_at=dead_since)
    Integration.objects.filter(pk=configured.pk).update(
        sync_started_at=dead_since, sync_heartbeat_at=dead_since, status=Integration.Status.SYNCING
    )

    result = sync(configured)

    assert result.ok
    dead.refresh_from_db()
    assert (dead.outcome, dead.message) == (SyncRun.Outcome.FAILED, STALE_RUN_MESSAGE)
    assert dead.finished_at is not None
    configured.refresh_from_db()
    assert configured.sync_started_at is None
    assert configured.status == Integration.Status.CONNECTED


def test_the_lock_is_released_after_a_failed_sync(configured, fake_pagerduty):
    fake_pagerduty.inject(r"^/users$", status=401, times=1)

    assert not sync(configured).ok

    configured.refresh_from_db()
    assert configured.sync_started_at is None
    assert sync(configured).ok


@pytest.mark.django_db(transaction=True)  # committed, so the two threads see each other's writes
def test_a_second_sync_is_refused_while_the_first_runs(tenant, fake_pagerduty):
    # An earlier transactional test's flush may have emptied the catalogue migration 0002 filled.
    ThirdPartyApplication.objects.get_or_create(key="pagerduty", defaults={"name": "PagerDuty"})
    integration = configure(add_pagerduty(tenant, "busy"))
    fake_pagerduty.inject(r"^/users$", kind="stall", delay=1.0, times=1)
    results = []

    def first_sync():
        try:
            results.append(sync(integration))
        finally:
            connection.close()  # this thread's own connection

    first = threading.Thread(target=first_sync)
    first.start()
    try:
        deadline = time.monotonic() + 5
        while not Integration.objects.filter(pk=integration.pk, status=Integration.Status.SYNCING).exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(AlreadySyncing):
            sync(integration)
    finally:
        first.join()

    assert results[0].ok
    assert SyncRun.objects.filter(integration=integration).count() == 1


# -- dry run -----------------------------------------------------------------------------------


def test_a_dry_run_reports_the_changes_and_writes_nothing(configured, fake_pagerduty):
    ds = fake_pagerduty.dataset
    sync(configured)
    configured.refresh_from_db()
    state = (
        accounts_state(configured), memberships_state(configured), AccountChange.objects.count(),
        list(SyncRun.objects.values_list("id", "outcome")),
        (configured.status, configured.message, configured.last_synced_at, configured.sync_started_at),
    )
    users = ds.user_list()
    ds.remove_user(users[3]["id"])
    ds.set_role(users[20]["id"], "admin" if users[20]["role"] != "admin" else "user")
    old_role = SyncedAccount.objects.get(external_id=users[20]["id"]).role
    ds.add_user(name="Jane", email="jane@x.example", role="user")
    lines = []

    result = sync(configured, dry_run=True, progress=lines.append)

    assert result.outcome == SyncRun.Outcome.DRY_RUN and result.run is None
    assert (result.added, result.updated, result.removed) == (1, 1, 1)
    assert "+ added Jane <jane@x.example> (Manager/User)" in lines
    assert f"~ role {old_role} → {ds.users[users[20]['id']]['role']}: {users[20]['name']} <{users[20]['email']}>" in lines
    assert any(line.startswith("- removed ") for line in lines)
    assert any(line.startswith("users: page 1/1") for line in lines)
    configured.refresh_from_db()
    assert state == (
        accounts_state(configured), memberships_state(configured), AccountChange.objects.count(),
        list(SyncRun.objects.values_list("id", "outcome")),
        (configured.status, configured.message, configured.last_synced_at, configured.sync_started_at),
    )
    assert result.summary().startswith(f"Acme / PagerDuty #{configured.pk}: dry run, nothing written: would be 1 added")


def test_the_plan_holds_model_objects_only_of_accounts_it_may_change(configured, fake_pagerduty, monkeypatch):
    """Stored accounts are read a chunk at a time; the unchanged ones leave no trace in the plan,
    so a re-sync of 100,000 does not hold 100,000 model objects (`make bench`, scenario 4)."""
    from integrations.sync import plan as plan_module

    kept: list[dict] = []
    read_accounts = plan_module._read_accounts

    def recording(*args, **kwargs):
        kept.append(read_accounts(*args, **kwargs))
        return kept[-1]

    monkeypatch.setattr(plan_module, "_read_accounts", recording)
    monkeypatch.setattr(plan_module, "ACCOUNT_READ_CHUNK", 7)  # several chunks of the 30 accounts
    ds = fake_pagerduty.dataset
    sync(configured)
    team_id, responder = _team_member(ds, "responder")
    leaver, promoted = [user["id"] for user in ds.user_list()[10:13] if user["id"] != responder][:2]
    ds.remove_user(leaver)
    ds.set_role(promoted, "admin" if ds.users[promoted]["role"] != "admin" else "user")
    ds.set_team_role(team_id, responder, "manager")

    changed = sync(configured)
    unchanged = sync(configured)

    assert kept[0] == {}  # a first sync: nothing stored yet
    assert set(kept[1]) == {leaver, promoted, responder}
    assert kept[2] == {}
    assert (changed.removed, changed.updated, unchanged.unchanged) == (1, 2, 29)
