"""Integrity as properties, over sequences of PagerDuty states and answers.

A hypothesis state machine changes a fake PagerDuty between syncs (people added, removed,
renamed with any text; team roles), arms trouble for the next sync (pages that contradict
themselves, a list that shrinks while it is paged, SCIM drift, faults) and runs the real
sync over HTTP. After every sync:

- an account is marked removed only by a complete, self-consistent listing that lacks it;
- nothing stored is lost or cut: every stored value is one PagerDuty sent, whole;
- a failed sync writes nothing;
- a sync with nothing armed and nothing changed since a complete one writes no account,
  membership, license or change row.

The account has more users than a (lowered) offset cap, so SCIM and the search run too.
"""

from __future__ import annotations

import itertools
import re
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from integrations.connectors.pagerduty import fetch
from integrations.models import AccountChange, License, SyncedAccount, SyncRun, Tenant, TeamMembership
from tests.conftest import TOKEN
from tests.connectors.pagerduty.fake import ROLES, TEAM_ROLES, FakePagerDuty, generate_dataset

from .helpers import configured_integration, sync

CAP = 200  # the offset cap, lowered: users past it come through SCIM and the search
USERS = 215
Outcome = SyncRun.Outcome
ACCOUNT_TEXT = ("name", "email", "role", "job_title", "time_zone", "html_url")
WRITES = re.compile(
    r'^\s*(INSERT INTO|UPDATE|DELETE FROM) "integrations_(syncedaccount|teammembership|license|accountchange)"',
    re.IGNORECASE,
)
_tenants = itertools.count()

# Any text, long ones too, with what no database stores as it is (NUL, lone surrogates).
texts = st.text(max_size=40) | st.text(min_size=256, max_size=400) | st.sampled_from(
    ["Ann\x00 Lee", "Đorđe \ud800Petrović", "<b>x</b> & \"y\"", "李雷" * 100]
)


def storable(value: str) -> str:
    """A text as the sync must store it: whole, without NUL, lone surrogates as U+FFFD."""
    return re.sub("[\ud800-\udfff]", "\ufffd", value.replace("\x00", ""))


def name_of(value: str) -> str:
    return value if value.strip() else "Someone"  # the fake gives a nameless user a default name


class SyncIntegrity(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.fake = FakePagerDuty(generate_dataset(users=USERS, teams=3, seed=11), token=TOKEN).start()
        self.fake.offset_cap = CAP
        self.settings = override_settings(
            PAGERDUTY_API_BASE_URL=self.fake.base_url, PAGERDUTY_MAX_RETRIES=1, PAGERDUTY_MAX_CONCURRENCY=4
        )
        self.settings.enable()
        n = next(_tenants)
        self.integration = configured_integration(Tenant.objects.create(name=f"T{n}", slug=f"t-{n}"))
        self.ds = self.fake.dataset
        # Every value PagerDuty ever sent for a user's field: what may be stored.
        self.sent: dict[str, dict[str, set[str]]] = {}
        self._remember_all()
        # What the next sync meets: "contradiction" and "unreachable" must make it partial, a
        # "fault" may fail it; "teams" and "shrink" need nothing but no clean sync either.
        self.armed: set[str] = set()
        self.changed_since_complete = True

    def teardown(self):
        self.settings.disable()
        self.fake.stop()

    # -- helpers ------------------------------------------------------------------------
    def _remember(self, user: dict) -> None:
        sent = self.sent.setdefault(user["id"], {field: set() for field in ACCOUNT_TEXT})
        for field in ACCOUNT_TEXT:
            sent[field].add(storable(user.get(field) or ""))

    def _remember_all(self) -> None:
        for user in self.ds.user_list():
            self._remember(user)

    def _state(self) -> dict:
        accounts = SyncedAccount.objects.filter(integration=self.integration)
        return {
            "accounts": sorted(accounts.values_list()),
            "memberships": sorted(TeamMembership.objects.filter(team__integration=self.integration).values_list()),
            "licenses": sorted(License.objects.filter(integration=self.integration).values_list()),
            "changes": AccountChange.objects.filter(integration=self.integration).count(),
        }

    def _active(self) -> set[str]:
        return set(
            SyncedAccount.objects.filter(integration=self.integration, removed_at__isnull=True)
            .values_list("external_id", flat=True)
        )

    # -- PagerDuty changes between syncs ------------------------------------------------
    @rule(name=texts, job_title=texts, role=st.sampled_from(ROLES) | texts)
    def add_user(self, name, job_title, role):
        self._remember(self.ds.add_user(name=name_of(name), job_title=job_title, role=role or "user"))
        self.changed_since_complete = True

    @rule(data=st.data())
    def remove_user(self, data):
        if len(self.ds.users) > 2:
            self.ds.remove_user(data.draw(st.sampled_from(sorted(self.ds.users))))
            self.changed_since_complete = True

    @rule(data=st.data(), name=texts, job_title=texts)
    def rename_user(self, data, name, job_title):
        user_id = data.draw(st.sampled_from(sorted(self.ds.users)))
        self._remember(self.ds.update_user(user_id, name=name_of(name), job_title=job_title))
        self.changed_since_complete = True

    @rule(data=st.data(), role=st.sampled_from(TEAM_ROLES) | st.none())
    def team_role(self, data, role):
        team_id = data.draw(st.sampled_from(sorted(self.ds.teams)))
        self.ds.set_team_role(team_id, data.draw(st.sampled_from(sorted(self.ds.users))), role)
        self.changed_since_complete = True

    # -- trouble armed for the next sync ------------------------------------------------
    @rule(
        said=st.tuples(st.just(True), st.integers(0, 99) | st.integers(101, CAP - 1) | st.integers(400, 20_000))
        | st.tuples(st.just(False), st.integers(0, 99) | st.integers(101, 20_000))
    )
    def users_page_contradicts_itself(self, said):
        # Never "no more pages, total 100": that lie agrees with itself, and would be believed.
        body = {"more": said[0], "total": said[1]}
        self.fake.hook(r"^/users$", params={"offset": 0}, after=lambda b, params: b if "query" in params else {**b, **body})
        self.armed.add("contradiction")

    @rule()
    def list_shrinks_while_paged(self):
        def shrink(params):  # after the first page went out: the rest shifts by one
            if "query" not in params and len(self.ds.users) > 2:
                self.ds.remove_user(self.ds.user_list()[0]["id"])

        self.fake.hook(r"^/users$", params={"offset": 100}, before=shrink)
        self.armed.add("shrink")
        self.changed_since_complete = True

    @rule()
    def scim_lists_deactivated_users(self):
        self.fake.scim_extra = [{"userName": f"gone{n}@acme.example", "active": False} for n in range(3)]
        self.fake.scim_user_name = lambda user: user["email"].upper()  # and spells names differently

    @rule()
    def scim_lists_someone_no_search_finds(self):
        self.fake.scim_extra = [*self.fake.scim_extra, {"userName": "hidden@nowhere.example", "active": True}]
        self.armed.add("unreachable")

    @rule(path=st.sampled_from([r"^/users$", r"^/teams$", r"^/scim/v2/Users$", r"^/license_allocations$", r"/members$"]))
    def pagerduty_fails(self, path):
        self.fake.inject(path, status=503, times=None)
        self.armed.add("fault")

    @rule()
    def team_listing_contradicts_itself(self):
        self.fake.hook(r"^/teams$", params={"offset": 0}, after=lambda b, _: {**b, "total": len(b["teams"]) + 5})
        self.armed.add("teams")

    # -- the sync and what must hold after it -------------------------------------------
    @rule()
    def sync(self):
        before, active_before = self._state(), self._active()
        quiet = not self.armed and not self.changed_since_complete

        with CaptureQueriesContext(connection) as queries:
            result = sync(self.integration)

        self._remember_all()
        run = result.run
        removed = set(
            AccountChange.objects.filter(run=run, kind=AccountChange.Kind.REMOVED).values_list("account__external_id", flat=True)
        )
        if run.outcome == Outcome.FAILED:
            assert "fault" in self.armed, run.message
            assert self._state() == before  # a failed sync writes nothing
        else:
            if removed:  # only a complete, self-consistent listing removes, and only those gone
                assert run.outcome == Outcome.SUCCESS
                assert not self.armed & {"contradiction", "unreachable"}
                assert not removed & set(self.ds.users)
                assert removed <= active_before
            if "contradiction" in self.armed or "unreachable" in self.armed:
                assert run.outcome == Outcome.PARTIAL, run.message
                assert run.message.endswith("no account was marked removed"), run.message
            if not self.armed:
                # Nothing in the way: the stored accounts are PagerDuty's, exactly.
                assert run.outcome == Outcome.SUCCESS, run.message
                assert self._active() == set(self.ds.users)
                for account in SyncedAccount.objects.filter(integration=self.integration, removed_at__isnull=True):
                    user = self.ds.users[account.external_id]
                    for field in ACCOUNT_TEXT:
                        assert getattr(account, field) == storable(user.get(field) or ""), field
            if quiet:
                assert self._state() == before
                assert not [q["sql"] for q in queries.captured_queries if WRITES.match(q["sql"])]
        if run.outcome == Outcome.SUCCESS and not self.armed:
            self.changed_since_complete = False
        self.fake.clear_faults()
        self.fake.scim_extra = [r for r in self.fake.scim_extra if r.get("active") is False]
        self.armed.clear()

    @invariant()
    def nothing_stored_is_cut(self):
        for values in SyncedAccount.objects.filter(integration=self.integration).values("external_id", *ACCOUNT_TEXT):
            sent = self.sent.get(values["external_id"])
            assert sent is not None
            for field in ACCOUNT_TEXT:
                assert values[field] in sent[field], (field, values[field][:80])


@pytest.mark.django_db
def test_sync_integrity_over_sequences_of_pagerduty_states():
    with mock.patch.object(fetch, "OFFSET_CAP", CAP):
        run_state_machine_as_test(
            SyncIntegrity,
            settings=settings(
                max_examples=25, stateful_step_count=15, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
