"""A fetched snapshot → the database: diff in Python against what is stored, then write in bulk.

`plan_changes` reads the integration's accounts, teams, licenses and memberships once (four
queries) and works out every insert, update and change row; it writes nothing, so a dry run
uses it as it is. `apply_plan` writes the plan with bulk statements in batches of 1000, so the
number of queries does not grow with the number of users below 1000 of anything. The caller
runs it inside one transaction: all or nothing. New accounts stay snapshot entries until
`apply_plan` makes them rows, a batch at a time: a first sync of 50,000 users never holds
50,000 model objects (see `make bench`).

Rules: accounts are never deleted; an account is marked removed only by a complete snapshot;
a team or license part that was not synced (snapshot says None) is left as it is; team
memberships of accounts not seen in this snapshot are left as they are.

An account row is written only when something about it changed, so an unchanged re-sync
writes none: its `last_seen_at` stays empty while every sync sees it (it was then seen by
the integration's last sync, `SyncedAccount.last_seen`), and is set when it drops out of
view: to the last sync that saw it, when it is removed or a partial snapshot misses it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce

from integrations.connectors.pagerduty.fetch import Snapshot
from integrations.connectors.pagerduty.roles import role_display_name
from integrations.models import (
    AccountChange,
    Integration,
    License,
    SyncedAccount,
    SyncRun,
    Team,
    TeamMembership,
)

BATCH_SIZE = 1000
ACCOUNT_FIELDS = (
    "name", "email", "role", "job_title", "time_zone", "invitation_pending", "created_via_sso", "html_url",
)
TEAM_FIELDS = ("name", "description", "html_url")
LICENSE_FIELDS = ("name", "description", "role_group")
CHANGE_VALUE_MAX_LENGTH = AccountChange._meta.get_field("old_value").max_length

Kind = AccountChange.Kind


@dataclass(slots=True)  # a big change (a team renamed, many removed) makes thousands
class PlannedChange:
    kind: str
    account: SyncedAccount
    old: str = ""
    new: str = ""
    team: Team | None = None


@dataclass
class SyncPlan:
    integration: Integration
    snapshot: Snapshot
    now: datetime  # first/last seen, removed and change times of this sync
    licenses_new: list[License] = field(default_factory=list)
    licenses_changed: list[License] = field(default_factory=list)
    teams_new: list[Team] = field(default_factory=list)
    teams_changed: list[Team] = field(default_factory=list)
    teams_removed: list[Team] = field(default_factory=list)
    teams_unchanged: int = 0  # existing teams seen again as they were: only last_seen_at moves
    accounts_new: list[str] = field(default_factory=list)  # PagerDuty ids; fields in snapshot.users
    accounts_changed: list[SyncedAccount] = field(default_factory=list)
    accounts_removed: list[SyncedAccount] = field(default_factory=list)
    # Accounts seen again as they were after a partial sync had missed them: in view again.
    accounts_back_in_view: list[SyncedAccount] = field(default_factory=list)
    # Partial snapshot: accounts it missed (not removed); they keep the last sync that saw them.
    accounts_out_of_view: list[SyncedAccount] = field(default_factory=list)
    account_licenses: list[tuple[SyncedAccount, License | None]] = field(default_factory=list)
    licenses: dict[str, License] = field(default_factory=dict)  # by PagerDuty id, as they will be
    account_pks: dict[str, int] = field(default_factory=dict)  # stored accounts, by PagerDuty id
    memberships_new: list[tuple[Team, str, str]] = field(default_factory=list)  # team, user id, role
    memberships_changed: list[TeamMembership] = field(default_factory=list)
    memberships_deleted: list[TeamMembership] = field(default_factory=list)
    changes: list[PlannedChange] = field(default_factory=list)
    # Other fields that changed, for the dry-run report: (account, field names).
    field_updates: list[tuple[SyncedAccount, list[str]]] = field(default_factory=list)
    updated_ids: set[str] = field(default_factory=set)  # existing accounts with any change
    returned_ids: set[str] = field(default_factory=set)
    active_before: int = 0

    @property
    def fetched(self) -> int:
        return len(self.snapshot.users)

    @property
    def added(self) -> int:  # new accounts and accounts that came back
        return len(self.accounts_new) + len(self.returned_ids)

    @property
    def updated(self) -> int:
        return len(self.updated_ids)

    @property
    def removed(self) -> int:
        return len(self.accounts_removed)

    @property
    def unchanged(self) -> int:
        return self.fetched - self.added - self.updated

    @property
    def active_after(self) -> int:
        return self.active_before + self.added - self.removed

    @property
    def partial_reason(self) -> str:
        return self.snapshot.partial_reason

    @property
    def notes(self) -> list[str]:
        return self.snapshot.notes

    def new_account_license(self, pagerduty_id: str) -> License | None:
        if self.snapshot.licenses is None:
            return None
        return self.licenses.get(self.snapshot.allocations.get(pagerduty_id))

    def lines(self) -> list[str]:
        """The changes in plain words, one per line (what `--dry-run` prints)."""
        lines = []
        for pagerduty_id in self.accounts_new:
            values = self.snapshot.users[pagerduty_id]
            lines.append(f"+ added {values['name']} <{values['email']}> ({role_display_name(values['role'])})")
        for change in self.changes:
            who = f"{change.account.name} <{change.account.email}>"
            if change.kind == Kind.RETURNED:
                lines.append(f"+ returned {who}")
            elif change.kind == Kind.REMOVED:
                lines.append(f"- removed {who}")
            elif change.kind == Kind.ROLE_CHANGED:
                lines.append(f"~ role {change.old} → {change.new}: {who}")
            elif change.kind == Kind.EMAIL_CHANGED:
                lines.append(f"~ email {change.old} → {change.new}: {change.account.name}")
            elif change.kind == Kind.TEAM_ROLE_CHANGED:
                lines.append(
                    f"~ team role on {change.team.name}: {change.old or 'none'} → {change.new or 'none'}: {who}"
                )
        for account, names in self.field_updates:
            lines.append(f"~ updated {account.name} <{account.email}>: {', '.join(names)}")
        return lines


def _assign(obj, values: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """Set `names` from `values` on `obj`; returns the names whose value changed."""
    changed = [name for name in names if getattr(obj, name) != values[name]]
    for name in changed:
        setattr(obj, name, values[name])
    return changed


def plan_changes(*, integration: Integration, snapshot: Snapshot, now: datetime) -> SyncPlan:
    plan = SyncPlan(integration=integration, snapshot=snapshot, now=now)
    accounts = {a.pagerduty_id: a for a in SyncedAccount.objects.filter(integration=integration)}
    teams = {t.pagerduty_id: t for t in Team.objects.filter(integration=integration)}
    licenses = {lic.pagerduty_id: lic for lic in License.objects.filter(integration=integration)}
    memberships = list(TeamMembership.objects.filter(team__integration=integration))
    plan.active_before = sum(1 for a in accounts.values() if a.removed_at is None)
    plan.account_pks = {pagerduty_id: account.pk for pagerduty_id, account in accounts.items()}
    plan.licenses = licenses

    _plan_licenses(plan, licenses)
    _plan_teams(plan, teams, now)
    _plan_accounts(plan, accounts, licenses, now)
    _plan_memberships(plan, accounts, teams, memberships)
    return plan


def _plan_licenses(plan: SyncPlan, licenses: dict[str, License]) -> None:
    if plan.snapshot.licenses is None:
        return
    for pagerduty_id, values in plan.snapshot.licenses.items():
        lic = licenses.get(pagerduty_id)
        if lic is None:
            licenses[pagerduty_id] = lic = License(integration=plan.integration, **values)
            plan.licenses_new.append(lic)
        elif _assign(lic, values, LICENSE_FIELDS):
            plan.licenses_changed.append(lic)


def _plan_teams(plan: SyncPlan, teams: dict[str, Team], now: datetime) -> None:
    fetched = plan.snapshot.teams
    if fetched is None:
        return
    for pagerduty_id, values in fetched.items():
        team = teams.get(pagerduty_id)
        if team is None:
            teams[pagerduty_id] = team = Team(
                integration=plan.integration, first_seen_at=now, last_seen_at=now, **values
            )
            plan.teams_new.append(team)
            continue
        changed = bool(_assign(team, values, TEAM_FIELDS))
        if team.removed_at is not None:
            team.removed_at = None
            changed = True
        if changed:
            team.last_seen_at = now
            plan.teams_changed.append(team)
        else:
            plan.teams_unchanged += 1
    plan.teams_removed = [
        team for pagerduty_id, team in teams.items() if team.removed_at is None and pagerduty_id not in fetched
    ]


def _plan_accounts(plan: SyncPlan, accounts: dict[str, SyncedAccount], licenses: dict[str, License], now: datetime) -> None:
    snapshot = plan.snapshot
    license_ids = {lic.pk: pagerduty_id for pagerduty_id, lic in licenses.items() if lic.pk}
    for pagerduty_id, values in snapshot.users.items():
        account = accounts.get(pagerduty_id)
        if account is None:
            plan.accounts_new.append(pagerduty_id)
            continue

        old_role, old_email = account.role, account.email
        changed = _assign(account, values, ACCOUNT_FIELDS)
        returned = account.removed_at is not None
        if returned:
            account.removed_at = None
            plan.returned_ids.add(pagerduty_id)
            plan.changes.append(PlannedChange(Kind.RETURNED, account, new=account.role))
        if "role" in changed:
            plan.changes.append(PlannedChange(Kind.ROLE_CHANGED, account, old=old_role, new=account.role))
        if "email" in changed:
            plan.changes.append(PlannedChange(Kind.EMAIL_CHANGED, account, old=old_email, new=account.email))
        others = [name for name in changed if name not in ("role", "email")]
        if _plan_license(plan, account, license_ids.get(account.license_id), licenses):
            others.append("license")
        if others:
            plan.field_updates.append((account, others))
        back_in_view = account.last_seen_at is not None
        account.last_seen_at = None
        if changed or returned or others:
            plan.accounts_changed.append(account)
            if not returned:
                plan.updated_ids.add(pagerduty_id)
        elif back_in_view:
            plan.accounts_back_in_view.append(account)

    for pagerduty_id, account in accounts.items():
        if account.removed_at is None and pagerduty_id not in snapshot.users:
            if snapshot.complete:
                plan.accounts_removed.append(account)
                plan.changes.append(PlannedChange(Kind.REMOVED, account, old=account.role))
            elif account.last_seen_at is None:
                plan.accounts_out_of_view.append(account)


def _plan_license(plan: SyncPlan, account: SyncedAccount, current: str | None, licenses: dict[str, License]) -> bool:
    """Queue the account's license when it differs; True when it changed."""
    snapshot = plan.snapshot
    if snapshot.licenses is None:
        return False
    if not snapshot.allocations_complete and account.pagerduty_id not in snapshot.allocations:
        return False  # its allocation was beyond the listing's cap: keep what is stored
    wanted = snapshot.allocations.get(account.pagerduty_id)
    if wanted not in licenses:
        wanted = None
    if wanted == current:
        return False
    plan.account_licenses.append((account, licenses[wanted] if wanted else None))
    return True


def _plan_memberships(
    plan: SyncPlan, accounts: dict[str, SyncedAccount], teams: dict[str, Team], memberships: list[TeamMembership]
) -> None:
    snapshot = plan.snapshot
    if snapshot.teams is None:
        return
    team_by_pk = {team.pk: team for team in teams.values() if team.pk}
    account_by_pk = {account.pk: account for account in accounts.values() if account.pk}
    existing = {
        (team_by_pk[m.team_id].pagerduty_id, account_by_pk[m.account_id].pagerduty_id): m for m in memberships
    }
    new_accounts = set(plan.accounts_new)

    def record(account: SyncedAccount, team: Team, old: str, new: str) -> None:
        plan.changes.append(PlannedChange(Kind.TEAM_ROLE_CHANGED, account, old=old, new=new, team=team))
        if account.pagerduty_id not in plan.returned_ids:
            plan.updated_ids.add(account.pagerduty_id)

    wanted: set[tuple[str, str]] = set()
    for team_id, roster in snapshot.members.items():
        for user_id, role in roster.items():
            if user_id not in snapshot.users:
                continue  # a user added after the user listing: next sync
            key = (team_id, user_id)
            wanted.add(key)
            membership = existing.get(key)
            if membership is None:
                plan.memberships_new.append((teams[team_id], user_id, role))
                if user_id not in new_accounts:  # a new account's teams come with it
                    record(accounts[user_id], teams[team_id], "", role)
            elif membership.role != role:
                record(accounts[user_id], teams[team_id], membership.role, role)
                membership.role = role
                plan.memberships_changed.append(membership)

    for (team_id, user_id), membership in existing.items():
        # Only rosters fetched in full (or teams gone from PagerDuty) can say someone left.
        roster_known = team_id in snapshot.members or team_id not in snapshot.teams
        if roster_known and user_id in snapshot.users and (team_id, user_id) not in wanted:
            plan.memberships_deleted.append(membership)
            record(accounts[user_id], teams[team_id], membership.role, "")


def _chunks(items: list, size: int = BATCH_SIZE):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _use_sqlite_variable_limit() -> None:
    """Let Django batch 1000 rows on SQLite too.

    Django 5.2 assumes SQLite's old limit of 999 variables per statement (71 accounts per
    INSERT); SQLite 3.32+ allows 32766 by default. Asking this connection for its real limit
    keeps the number of queries the same on SQLite and PostgreSQL.
    """
    if connection.vendor != "sqlite":
        return
    connection.ensure_connection()
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    connection.features.max_query_params = max(limit, 999)


def _insert_rows(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT `rows` (values of `columns`, in order), as many rows per statement as the
    database takes (up to BATCH_SIZE).

    For the one-row-per-account inserts of a first sync. bulk_create sends every value
    through its model field in Python, about 3 µs each: with 250,000 values for 10,000 users
    that was a third of the whole sync. These rows hold only text, flags, ids and this
    sync's time, already as the database takes them.
    """
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(name).column) for name in columns)
    row = f"({', '.join(['%s'] * len(columns))})"
    limit = connection.features.max_query_params  # None: no limit (PostgreSQL)
    per_statement = BATCH_SIZE if limit is None else max(1, min(BATCH_SIZE, limit // len(columns)))
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, per_statement):
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES {', '.join([row] * len(chunk))}",
                [value for values in chunk for value in values],
            )


NEW_ACCOUNT_COLUMNS = ("integration", "pagerduty_id", *ACCOUNT_FIELDS, "license", "first_seen_at")
CHANGE_COLUMNS = ("integration", "run", "account", "kind", "old_value", "new_value", "created_at")


def _insert_new_accounts(plan: SyncPlan, run: SyncRun, account_pks: dict[str, int]) -> None:
    """New accounts and their "added" changes, made from the snapshot a batch at a time (so a
    first sync of 50,000 users never holds 50,000 model objects); their ids into account_pks."""
    if not plan.accounts_new:
        return
    integration, users = plan.integration, plan.snapshot.users
    now = connection.ops.adapt_datetimefield_value(plan.now)
    for chunk in _chunks(plan.accounts_new):
        _insert_rows(SyncedAccount, NEW_ACCOUNT_COLUMNS, [
            (
                integration.pk,
                pagerduty_id,
                *(users[pagerduty_id][name] for name in ACCOUNT_FIELDS),
                getattr(plan.new_account_license(pagerduty_id), "pk", None),
                now,
            )
            for pagerduty_id in chunk
        ])
    # Every account first seen now is new (the others were stored before this sync began).
    account_pks.update(
        SyncedAccount.objects.filter(integration=integration, first_seen_at=plan.now).values_list("pagerduty_id", "pk")
    )
    for chunk in _chunks(plan.accounts_new):
        _insert_rows(AccountChange, CHANGE_COLUMNS, [
            (
                integration.pk,
                run.pk,
                account_pks[pagerduty_id],
                Kind.ADDED.value,
                "",
                users[pagerduty_id]["role"][:CHANGE_VALUE_MAX_LENGTH],
                now,
            )
            for pagerduty_id in chunk
        ])


def apply_plan(*, plan: SyncPlan, run: SyncRun) -> None:
    """Write `plan`; call inside a transaction."""
    _use_sqlite_variable_limit()
    integration, now = plan.integration, plan.now

    License.objects.bulk_create(plan.licenses_new, batch_size=BATCH_SIZE)
    License.objects.bulk_update(plan.licenses_changed, LICENSE_FIELDS, batch_size=BATCH_SIZE)

    Team.objects.bulk_create(plan.teams_new, batch_size=BATCH_SIZE)
    Team.objects.bulk_update(plan.teams_changed, (*TEAM_FIELDS, "removed_at", "last_seen_at"), batch_size=BATCH_SIZE)
    for chunk in _chunks([team.pk for team in plan.teams_removed]):
        Team.objects.filter(pk__in=chunk).update(removed_at=now)
    if plan.teams_unchanged:
        # New and changed teams were written with it already; the rest are all active teams.
        Team.objects.filter(integration=integration, removed_at__isnull=True).update(last_seen_at=now)

    account_pks = plan.account_pks
    _insert_new_accounts(plan, run, account_pks)
    for account, lic in plan.account_licenses:
        account.license = lic
    SyncedAccount.objects.bulk_update(
        plan.accounts_changed, (*ACCOUNT_FIELDS, "license", "removed_at", "last_seen_at"), batch_size=BATCH_SIZE
    )
    # Until now an empty last_seen_at meant "seen by the last sync": out of view, it says when.
    last_sync = Value(integration.last_synced_at, output_field=DateTimeField())
    for chunk in _chunks([account.pk for account in plan.accounts_removed]):
        SyncedAccount.objects.filter(pk__in=chunk).update(
            removed_at=now, last_seen_at=Coalesce("last_seen_at", last_sync)
        )
    for chunk in _chunks([account.pk for account in plan.accounts_out_of_view]):
        SyncedAccount.objects.filter(pk__in=chunk).update(last_seen_at=last_sync)
    for chunk in _chunks([account.pk for account in plan.accounts_back_in_view]):
        SyncedAccount.objects.filter(pk__in=chunk).update(last_seen_at=None)

    TeamMembership.objects.bulk_create(
        [
            TeamMembership(team_id=team.pk, account_id=account_pks[user_id], role=role)
            for team, user_id, role in plan.memberships_new
        ],
        batch_size=BATCH_SIZE,
    )
    TeamMembership.objects.bulk_update(plan.memberships_changed, ("role",), batch_size=BATCH_SIZE)
    for chunk in _chunks([m.pk for m in plan.memberships_deleted]):
        TeamMembership.objects.filter(pk__in=chunk).delete()

    for chunk in _chunks(plan.changes):
        AccountChange.objects.bulk_create(
            [
                AccountChange(
                    integration_id=integration.pk,
                    run_id=run.pk,
                    account_id=change.account.pk,
                    kind=change.kind,
                    team_id=change.team.pk if change.team else None,
                    old_value=change.old[:CHANGE_VALUE_MAX_LENGTH],
                    new_value=change.new[:CHANGE_VALUE_MAX_LENGTH],
                    created_at=now,
                )
                for change in chunk
            ]
        )
