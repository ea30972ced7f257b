"""Synced data made directly through the ORM (bulk_create), as a finished sync would leave it.

Used by the reviewer-view tests and by scripts/seed_accounts.py (100,000 accounts), so it
never holds every account in memory: accounts are created in batches and only ids are kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from integrations.models import (
    AccountChange,
    Integration,
    License,
    SyncedAccount,
    SyncRun,
    Team,
    TeamMembership,
    Tenant,
    ThirdPartyApplication,
)

# A plausible spread of roles: mostly responders and users, a few admins (see make_synced_data).
ROLE_CYCLE = (
    "limited_user",
    "user",
    "limited_user",
    "observer",
    "user",
    "read_only_user",
    "limited_user",
    "read_only_limited_user",
    "user",
    "restricted_access",
    "limited_user",
    "admin",
)

SYNC_TIME = dt.datetime(2025, 3, 1, 2, 0, tzinfo=dt.timezone.utc)


def make_tenant(*, name: str = "Acme", slug: str | None = None) -> Tenant:
    return Tenant.objects.create(name=name, slug=slug or name.lower().replace(" ", "-"))


def make_integration(
    *,
    tenant: Tenant,
    description: str = "Production PagerDuty",
    status: str = Integration.Status.CONNECTED,
    last_synced_at: dt.datetime | None = SYNC_TIME,
) -> Integration:
    return Integration.objects.create(
        tenant=tenant,
        # get_or_create: a transactional test elsewhere may have flushed the migration's row.
        application=ThirdPartyApplication.objects.get_or_create(key="pagerduty", defaults={"name": "PagerDuty"})[0],
        description=description,
        status=status,
        message="Data available" if status == Integration.Status.CONNECTED else "",
        last_synced_at=last_synced_at,
    )


def make_team(*, integration: Integration, name: str, external_id: str | None = None) -> Team:
    return Team.objects.create(
        integration=integration,
        external_id=external_id or f"PT{name.upper().replace(' ', '')[:20]}",
        name=name,
        html_url=f"https://acme.pagerduty.com/teams/{external_id or 'T'}",
        first_seen_at=SYNC_TIME,
        last_seen_at=SYNC_TIME,
    )


def make_license(*, integration: Integration, name: str, external_id: str | None = None) -> License:
    return License.objects.create(
        integration=integration,
        external_id=external_id or f"PL{name.upper().replace(' ', '')[:20]}",
        name=name,
        role_group="FullUser",
    )


def make_account(
    *,
    integration: Integration,
    name: str,
    email: str | None = None,
    external_id: str | None = None,
    role: str = "user",
    teams: dict[Team, str] | None = None,
    **fields,
) -> SyncedAccount:
    """One account; `teams` maps a Team to the account's role in it.

    As the sync leaves an account in view, `last_seen_at` stays empty unless given: it was
    seen by the integration's last sync. A removed one gets the `last_seen_at` it is given.
    """
    slug = "".join(ch for ch in name.lower() if ch.isalnum())[:30] or "user"
    fields.setdefault("first_seen_at", SYNC_TIME - dt.timedelta(days=30))
    account = SyncedAccount.objects.create(
        integration=integration,
        name=name,
        email=email if email is not None else f"{slug}@example.com",
        external_id=external_id or f"P{slug.upper()[:12]}",
        role=role,
        **fields,
    )
    for team, team_role in (teams or {}).items():
        TeamMembership.objects.create(team=team, account=account, role=team_role)
    return account


def make_run(
    *,
    integration: Integration,
    started_at: dt.datetime = SYNC_TIME,
    outcome: str = SyncRun.Outcome.SUCCESS,
    added: int = 0,
    removed: int = 0,
    fetched: int = 0,
) -> SyncRun:
    return SyncRun.objects.create(
        integration=integration,
        trigger=SyncRun.Trigger.SCHEDULE,
        started_at=started_at,
        finished_at=started_at + dt.timedelta(seconds=42),
        outcome=outcome,
        accounts_fetched=fetched,
        accounts_added=added,
        accounts_removed=removed,
    )


def make_change(
    *,
    run: SyncRun,
    account: SyncedAccount,
    kind: str,
    old_value: str = "",
    new_value: str = "",
    team: Team | None = None,
    created_at: dt.datetime | None = None,
) -> AccountChange:
    return AccountChange.objects.create(
        integration_id=run.integration_id,
        run=run,
        account=account,
        kind=kind,
        old_value=old_value,
        new_value=new_value,
        team=team,
        created_at=created_at or run.started_at,
    )


@dataclass
class SyncedData:
    integration: Integration
    run: SyncRun
    teams: list[Team]
    licenses: list[License]
    account_ids: list[int] = field(default_factory=list)
    accounts: int = 0
    removed: int = 0
    pending: int = 0
    memberships: int = 0
    changes: int = 0


def make_synced_data(
    *,
    integration: Integration,
    accounts: int,
    teams: int = 5,
    licenses: int = 2,
    removed_every: int = 10,
    pending_every: int = 7,
    batch_size: int = 2000,
    id_prefix: str = "P",
    synced_at: dt.datetime = SYNC_TIME,
    progress=None,
) -> SyncedData:
    """`accounts` accounts in `teams` teams, as one successful sync at `synced_at` left them.

    Account i: role from ROLE_CYCLE (account 0 is the owner), member of team i % teams
    (every 25th member of a team manages it, the others respond) and every 3rd also an observer of the
    next team; license i % licenses, none every 11th; removed every `removed_every`th;
    invitation pending every `pending_every`th. The run saw every 20th account added, the
    removed ones removed, and half of the admins promoted from user.

    That sync is the integration's last (`last_synced_at` = `synced_at`): the accounts it saw
    have no `last_seen_at` of their own, so they read as last seen then.
    """
    if integration.last_synced_at != synced_at:
        Integration.objects.filter(pk=integration.pk).update(last_synced_at=synced_at)
        integration.last_synced_at = synced_at
    team_objs = Team.objects.bulk_create(
        Team(
            integration=integration,
            external_id=f"{id_prefix}T{n:04d}",
            name=f"Team {n:03d}",
            html_url=f"https://acme.pagerduty.com/teams/{id_prefix}T{n:04d}",
            first_seen_at=synced_at - dt.timedelta(days=90),
            last_seen_at=synced_at,
        )
        for n in range(teams)
    )
    license_objs = License.objects.bulk_create(
        License(
            integration=integration,
            external_id=f"{id_prefix}L{n:03d}",
            name=["Full User", "Stakeholder", "Business User"][n % 3] + (f" {n}" if n >= 3 else ""),
            role_group="FullUser",
        )
        for n in range(licenses)
    )
    run = SyncRun.objects.create(
        integration=integration,
        trigger=SyncRun.Trigger.SCHEDULE,
        started_at=synced_at,
        finished_at=synced_at + dt.timedelta(seconds=30),
        outcome=SyncRun.Outcome.SUCCESS,
        accounts_fetched=accounts,
    )
    data = SyncedData(integration=integration, run=run, teams=team_objs, licenses=license_objs)
    added = 0
    for start in range(0, accounts, batch_size):
        batch = [
            _account(integration, i, id_prefix, synced_at, license_objs, removed_every, pending_every)
            for i in range(start, min(start + batch_size, accounts))
        ]
        batch = SyncedAccount.objects.bulk_create(batch, batch_size=batch_size)
        memberships, changes = [], []
        for i, account in zip(range(start, start + len(batch)), batch):
            if team_objs:
                # Every 25th member of each team manages it.
                team_role = "manager" if (i // teams) % 25 == 0 else "responder"
                memberships.append(
                    TeamMembership(team=team_objs[i % teams], account=account, role=team_role)
                )
                if i % 3 == 0 and teams > 1:
                    memberships.append(
                        TeamMembership(team=team_objs[(i + 1) % teams], account=account, role="observer")
                    )
            if i % 20 == 0:
                added += 1
                changes.append(_change(run, account, AccountChange.Kind.ADDED, "", account.role))
            if account.removed_at is not None:
                data.removed += 1
                changes.append(_change(run, account, AccountChange.Kind.REMOVED, account.role, ""))
            if i % 24 == 11:  # half of the admins were promoted in this run
                changes.append(_change(run, account, AccountChange.Kind.ROLE_CHANGED, "user", "admin"))
            data.pending += account.invitation_pending
        TeamMembership.objects.bulk_create(memberships, batch_size=batch_size)
        AccountChange.objects.bulk_create(changes, batch_size=batch_size)
        data.account_ids.extend(account.pk for account in batch)
        data.memberships += len(memberships)
        data.changes += len(changes)
        data.accounts += len(batch)
        if progress:
            progress(data.accounts)
    SyncRun.objects.filter(pk=run.pk).update(accounts_added=added, accounts_removed=data.removed)
    run.refresh_from_db()
    return data


def _account(integration, i, id_prefix, synced_at, licenses, removed_every, pending_every):
    role = "owner" if i == 0 else ROLE_CYCLE[i % len(ROLE_CYCLE)]
    # Removed accounts are kept with their last seen time, as the sync leaves them; an
    # account in view has none (seen by the integration's last sync, store.py).
    removed = removed_every and i % removed_every == removed_every - 1
    return SyncedAccount(
        integration=integration,
        external_id=f"{id_prefix}U{i:07d}",
        name=f"User {i:06d}",
        email=f"user{i:06d}@example.com",
        role=role,
        job_title="Engineer" if i % 2 else "SRE",
        time_zone="Europe/Belgrade",
        invitation_pending=bool(pending_every and i % pending_every == 0),
        created_via_sso=i % 4 == 0,
        html_url=f"https://acme.pagerduty.com/users/{id_prefix}U{i:07d}",
        license=None if (not licenses or i % 11 == 0) else licenses[i % len(licenses)],
        first_seen_at=synced_at - dt.timedelta(days=60),
        last_seen_at=synced_at - dt.timedelta(days=1) if removed else None,
        removed_at=synced_at if removed else None,
    )


def _change(run, account, kind, old_value, new_value):
    return AccountChange(
        integration_id=run.integration_id,
        run=run,
        account=account,
        kind=kind,
        old_value=old_value,
        new_value=new_value,
        created_at=run.started_at,
    )



@dataclass
class ReviewData:
    """A small named dataset covering every case a reviewer filters on (see make_review_data)."""

    integration: Integration
    run: SyncRun
    ops: Team
    web: Team
    full_user: License
    ann: SyncedAccount  # owner, manager of Ops, Full User license
    bob: SyncedAccount  # admin, no team, promoted from user in the last run
    cy: SyncedAccount  # responder in Ops, observer in Web, invitation pending
    dee: SyncedAccount  # removed from PagerDuty, was in Ops
    eve: SyncedAccount  # user, manager of Web (privileged through the team only)
    fay: SyncedAccount  # a role PagerDuty may add one day, kept as it came

    @property
    def accounts(self) -> list[SyncedAccount]:
        return [self.ann, self.bob, self.cy, self.dee, self.eve, self.fay]


def make_review_data(*, tenant: Tenant, prefix: str = "", description: str = "Production PagerDuty") -> ReviewData:
    """Six accounts of one integration, two teams, a license and one run with its changes.

    `prefix` starts every name, email and id, so two tenants' data never look alike.
    """
    p = prefix
    integration = make_integration(tenant=tenant, description=description)
    ops = make_team(integration=integration, name=f"{p}Ops", external_id=f"{p}PTOPS")
    web = make_team(integration=integration, name=f"{p}Web", external_id=f"{p}PTWEB")
    full_user = make_license(integration=integration, name=f"{p}Full User", external_id=f"{p}PLFULL")
    removed_at = SYNC_TIME - dt.timedelta(days=2)
    accounts = {
        "ann": make_account(
            integration=integration, name=f"{p}Ann Owner", email=f"{p.lower()}ann@acme.test",
            external_id=f"{p}PANN", role="owner", teams={ops: "manager"}, license=full_user,
            html_url=f"https://acme.pagerduty.com/users/{p}PANN",
        ),
        "bob": make_account(
            integration=integration, name=f"{p}Bob Admin", email=f"{p.lower()}bob@acme.test",
            external_id=f"{p}PBOB", role="admin", license=full_user,
        ),
        "cy": make_account(
            integration=integration, name=f"{p}Cy Responder", email=f"{p.lower()}cy@acme.test",
            external_id=f"{p}PCY", role="limited_user", teams={ops: "responder", web: "observer"},
            invitation_pending=True,
        ),
        "dee": make_account(
            integration=integration, name=f"{p}Dee Gone", email=f"{p.lower()}dee@acme.test",
            external_id=f"{p}PDEE", role="user", teams={ops: "responder"},
            removed_at=removed_at, last_seen_at=removed_at,
        ),
        "eve": make_account(
            integration=integration, name=f"{p}Eve Manager", email=f"{p.lower()}eve@acme.test",
            external_id=f"{p}PEVE", role="user", teams={web: "manager"},
        ),
        "fay": make_account(
            integration=integration, name=f"{p}Fay Future", email=f"{p.lower()}fay@acme.test",
            external_id=f"{p}PFAY", role="incident_commander",
        ),
    }
    run = make_run(integration=integration, added=1, removed=1, fetched=5)
    make_change(run=run, account=accounts["fay"], kind=AccountChange.Kind.ADDED, new_value="incident_commander")
    make_change(run=run, account=accounts["dee"], kind=AccountChange.Kind.REMOVED, old_value="user")
    make_change(run=run, account=accounts["bob"], kind=AccountChange.Kind.ROLE_CHANGED, old_value="user", new_value="admin")
    make_change(
        run=run, account=accounts["eve"], kind=AccountChange.Kind.TEAM_ROLE_CHANGED,
        old_value="responder", new_value="manager", team=web,
    )
    make_change(
        run=run, account=accounts["cy"], kind=AccountChange.Kind.EMAIL_CHANGED,
        old_value=f"{p.lower()}cy@old.test", new_value=f"{p.lower()}cy@acme.test",
    )
    return ReviewData(integration=integration, run=run, ops=ops, web=web, full_user=full_user, **accounts)
