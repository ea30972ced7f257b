"""A fetched snapshot against what is stored: every insert, update and change row, in Python.

`plan_changes` reads the integration's accounts, teams, licenses and memberships once (four
queries) and works out what a sync would write; it writes nothing, so a dry run uses it as it
is, and `write.apply_plan` writes it. It works for any application: the snapshot is the
connector contract's (integrations/connectors/base.py), the roles come from the
integration's connector.

Stored accounts are read a chunk at a time and kept as model objects only when the plan may
change them: an unchanged re-sync of 100,000 accounts held 100,000 model objects beside the
snapshot, about 100 MB more than a first sync (`make bench`, scenario 4).

Rules: accounts are never deleted; an account is marked removed only by a complete snapshot;
a team or license part that was not synced (snapshot says None) is left as it is; team
memberships of accounts not seen in this snapshot are left as they are.

An account row is written only when something about it changed, so an unchanged re-sync
writes none: its `last_seen_at` stays empty while every sync sees it (it was then seen by
the integration's last sync, `SyncedAccount.last_seen`), and is set when it drops out of
view: to the last sync that saw it, when it is removed or a partial snapshot misses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F

from integrations.connectors.base import Attribution, Snapshot
from integrations.models import (
    AccountChange,
    Integration,
    License,
    SyncedAccount,
    Team,
    TeamMembership,
)

ACCOUNT_FIELDS = (
    "name", "email", "role", "job_title", "time_zone", "invitation_pending", "created_via_sso", "html_url",
)
TEAM_FIELDS = ("name", "description", "html_url")
LICENSE_FIELDS = ("name", "description", "role_group", "valid_roles")
ACCOUNT_READ_CHUNK = 2000  # stored accounts read at a time

Kind = AccountChange.Kind


@dataclass(slots=True)  # a big change (a team renamed, many removed) makes thousands
class PlannedChange:
    kind: str
    account: SyncedAccount
    old: str = ""
    new: str = ""
    team: Team | None = None
    by: Attribution | None = None  # who made it, where the audit trail says


# The audit trail's kind for each change kind: an account that comes back was added again.
ATTRIBUTED_AS = {Kind.RETURNED: Kind.ADDED}


def attribution_index(attributions: list[Attribution]) -> dict[tuple[str, str, str], Attribution]:
    """(account id, kind, team id) → the latest attribution: the change that left it as it is."""
    index: dict[tuple[str, str, str], Attribution] = {}
    for attribution in attributions:
        key = (attribution.account_id, attribution.kind, attribution.team_id)
        current = index.get(key)
        if current is None or attribution.at >= current.at:
            index[key] = attribution
    return index


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
    attributions: dict[tuple[str, str, str], Attribution] = field(default_factory=dict)
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

    def attribution(self, external_id: str, kind: str, team: Team | None = None) -> Attribution | None:
        """Who made the change, where the audit trail says. An account added with a role is
        explained by whichever came last: its creation or a later change of its role."""
        kind = ATTRIBUTED_AS.get(kind, kind)
        found = self.attributions.get((external_id, kind, team.external_id if team is not None else ""))
        if kind == Kind.ADDED:
            role_change = self.attributions.get((external_id, Kind.ROLE_CHANGED, ""))
            if role_change is not None and (found is None or role_change.at >= found.at):
                return role_change
        return found

    def new_account_license(self, external_id: str) -> License | None:
        if self.snapshot.licenses is None:
            return None
        return self.licenses.get(self.snapshot.allocations.get(external_id))

    def lines(self) -> list[str]:
        """The changes in plain words, one per line (what `--dry-run` prints)."""
        lines = []
        roles = self.integration.roles
        for external_id in self.accounts_new:
            values = self.snapshot.users[external_id]
            lines.append(f"+ added {values['name']} <{values['email']}> ({roles.display(values['role'])})")
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
        attributed = [change for change in self.changes if change.by is not None]
        for change in attributed:
            by = change.by
            lines.append(
                f"  by {by.actor_name or by.actor_type} ({by.actor_type}, {by.method}) at "
                f"{by.at:%Y-%m-%d %H:%M}: {change.kind} of {change.account.name}"
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
    teams = {t.external_id: t for t in Team.objects.filter(integration=integration)}
    licenses = {lic.external_id: lic for lic in License.objects.filter(integration=integration)}
    memberships = TeamMembership.objects.filter(team__integration=integration).annotate(
        account_external_id=F("account__external_id")
    )
    team_by_pk = {team.pk: team for team in teams.values()}
    existing = {(team_by_pk[m.team_id].external_id, m.account_external_id): m for m in memberships}
    plan.licenses = licenses

    _plan_licenses(plan, licenses)
    _plan_teams(plan, teams, now)
    accounts = _read_accounts(plan, licenses, keep=_membership_accounts(snapshot, existing))
    _plan_accounts(plan, accounts, licenses, now)
    _plan_memberships(plan, accounts, teams, existing)
    if snapshot.attributions:
        plan.attributions = attribution_index(snapshot.attributions)
        for change in plan.changes:
            change.by = plan.attribution(change.account.external_id, change.kind, change.team)
    return plan


def _membership_accounts(snapshot: Snapshot, existing: dict[tuple[str, str], TeamMembership]) -> set[str]:
    """Ids of the accounts whose team memberships may change: on a team, off it, or another role."""
    fetched = {(team_id, user_id, role) for team_id, roster in snapshot.members.items() for user_id, role in roster.items()}
    stored = {(team_id, user_id, membership.role) for (team_id, user_id), membership in existing.items()}
    return {user_id for _, user_id, _ in fetched ^ stored}


def _read_accounts(plan: SyncPlan, licenses: dict[str, License], *, keep: set[str]) -> dict[str, SyncedAccount]:
    """The stored accounts the plan may change, by PagerDuty id, in their stored order (also
    plan.account_pks and plan.active_before, of all of them).

    Kept: accounts the snapshot does not list, or lists with other values, license, removal
    or last seen time, and those in `keep`. The others would leave no trace in the plan: only
    their ids stay, in plan.account_pks.
    """
    snapshot = plan.snapshot
    license_ids = {lic.pk: external_id for external_id, lic in licenses.items() if lic.pk}
    kept = {}
    for account in SyncedAccount.objects.filter(integration=plan.integration).iterator(chunk_size=ACCOUNT_READ_CHUNK):
        external_id = account.external_id
        plan.account_pks[external_id] = account.pk
        if account.removed_at is None:
            plan.active_before += 1
        values = snapshot.users.get(external_id)
        if values is None:
            if account.removed_at is None:
                kept[external_id] = account
        elif (
            external_id in keep
            or account.removed_at is not None
            or account.last_seen_at is not None
            or any(getattr(account, name) != values[name] for name in ACCOUNT_FIELDS)
            or _license_change(plan, account, license_ids.get(account.license_id), licenses)[0]
        ):
            kept[external_id] = account
    return kept


def _plan_licenses(plan: SyncPlan, licenses: dict[str, License]) -> None:
    if plan.snapshot.licenses is None:
        return
    for external_id, values in plan.snapshot.licenses.items():
        lic = licenses.get(external_id)
        if lic is None:
            licenses[external_id] = lic = License(integration=plan.integration, **{**values, "external_id": external_id})
            plan.licenses_new.append(lic)
        elif _assign(lic, values, LICENSE_FIELDS):
            plan.licenses_changed.append(lic)


def _plan_teams(plan: SyncPlan, teams: dict[str, Team], now: datetime) -> None:
    fetched = plan.snapshot.teams
    if fetched is None:
        return
    for external_id, values in fetched.items():
        team = teams.get(external_id)
        if team is None:
            teams[external_id] = team = Team(
                integration=plan.integration, first_seen_at=now, last_seen_at=now, **{**values, "external_id": external_id}
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
        team for external_id, team in teams.items() if team.removed_at is None and external_id not in fetched
    ]


def _plan_accounts(plan: SyncPlan, accounts: dict[str, SyncedAccount], licenses: dict[str, License], now: datetime) -> None:
    """`accounts`: the stored accounts _read_accounts kept; the others are stored as they are."""
    snapshot = plan.snapshot
    license_ids = {lic.pk: external_id for external_id, lic in licenses.items() if lic.pk}
    for external_id, values in snapshot.users.items():
        account = accounts.get(external_id)
        if account is None:
            if external_id not in plan.account_pks:
                plan.accounts_new.append(external_id)
            continue

        old_role, old_email = account.role, account.email
        changed = _assign(account, values, ACCOUNT_FIELDS)
        returned = account.removed_at is not None
        if returned:
            account.removed_at = None
            plan.returned_ids.add(external_id)
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
                plan.updated_ids.add(external_id)
        elif back_in_view:
            plan.accounts_back_in_view.append(account)

    for external_id, account in accounts.items():
        if account.removed_at is None and external_id not in snapshot.users:
            if snapshot.complete:
                plan.accounts_removed.append(account)
                plan.changes.append(PlannedChange(Kind.REMOVED, account, old=account.role))
            elif account.last_seen_at is None:
                plan.accounts_out_of_view.append(account)


def _plan_license(plan: SyncPlan, account: SyncedAccount, current: str | None, licenses: dict[str, License]) -> bool:
    """Queue the account's license when it differs; True when it changed."""
    changed, lic = _license_change(plan, account, current, licenses)
    if changed:
        plan.account_licenses.append((account, lic))
    return changed


def _license_change(
    plan: SyncPlan, account: SyncedAccount, current: str | None, licenses: dict[str, License]
) -> tuple[bool, License | None]:
    """Whether the account's license (PagerDuty id `current`) differs from the snapshot's, and the new one."""
    snapshot = plan.snapshot
    if snapshot.licenses is None:
        return False, None
    if not snapshot.allocations_complete and account.external_id not in snapshot.allocations:
        return False, None  # its allocation was beyond the listing's cap: keep what is stored
    wanted = snapshot.allocations.get(account.external_id)
    if wanted not in licenses:
        wanted = None
    if wanted == current:
        return False, None
    return True, licenses[wanted] if wanted else None


def _plan_memberships(
    plan: SyncPlan,
    accounts: dict[str, SyncedAccount],
    teams: dict[str, Team],
    existing: dict[tuple[str, str], TeamMembership],
) -> None:
    """`accounts`: as _read_accounts kept them, every account whose memberships change among them;
    `existing`: the stored memberships by (team id, user id) in PagerDuty."""
    snapshot = plan.snapshot
    if snapshot.teams is None:
        return
    new_accounts = set(plan.accounts_new)

    def record(account: SyncedAccount, team: Team, old: str, new: str) -> None:
        plan.changes.append(PlannedChange(Kind.TEAM_ROLE_CHANGED, account, old=old, new=new, team=team))
        if account.external_id not in plan.returned_ids:
            plan.updated_ids.add(account.external_id)

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
