"""Reads for the reviewers' view: synced accounts, their changes, teams and summaries.

Every function here answers in a fixed number of queries, whatever the number of accounts:
the pages and the export that use them must stay flat at 100,000 accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.connectors.base import RoleCatalogue
from integrations.connectors.registry import get_connector, registered_keys
from integrations.models import (
    OUTSIDE_SAFE_ACTORS,
    AccountChange,
    ActorMethod,
    Integration,
    License,
    SyncedAccount,
    SyncRun,
    Team,
    TeamMembership,
    Tenant,
)

# Runs whose counts describe what a sync found (a dry run wrote nothing, a running one is not done).
FINISHED_RUN_OUTCOMES = (SyncRun.Outcome.SUCCESS, SyncRun.Outcome.PARTIAL)


def integrations_of(*, tenants: QuerySet[Tenant]) -> QuerySet[Integration]:
    return (
        Integration.objects.filter(tenant__in=tenants)
        .select_related("application", "tenant")
        .order_by("tenant__name", "application__name", "id")
    )


def sync_lock_free_q(*, now: datetime) -> Q:
    """Integrations no live sync holds: no lock, or a lock whose heartbeat stopped (its worker died).

    A live sync renews its heartbeat every few seconds; without one for
    SYNC_HEARTBEAT_TIMEOUT_SECONDS, the next sync takes the lock over.
    """
    stale_before = now - timedelta(seconds=settings.SYNC_HEARTBEAT_TIMEOUT_SECONDS)
    return (
        Q(sync_started_at__isnull=True)
        | Q(sync_heartbeat_at__lt=stale_before)
        # A lock taken before heartbeats existed: its start is its last sign of life.
        | Q(sync_heartbeat_at__isnull=True, sync_started_at__lt=stale_before)
    )


def integrations_to_sync(*, now: datetime | None = None) -> QuerySet[Integration]:
    """Configured integrations that no live sync holds (a dead sync's are included: the sync
    runner takes their lock over)."""
    now = now or timezone.now()
    return Integration.objects.configured().filter(sync_lock_free_q(now=now)).order_by("id")


# --- Roles: each application's catalogue, as conditions ----------------------------------


def _per_application(condition, *, application_path: str = "integration__application__key") -> Q:
    """`condition(roles)` for each application's accounts, OR-ed together.

    With one application registered (production: PagerDuty) no application test is needed,
    so the condition stays on the row's own indexed columns.
    """
    keys = registered_keys()
    if len(keys) == 1:
        return condition(get_connector(keys[0]).roles)
    combined = Q(pk__in=[])
    for key in keys:
        combined |= Q(**{application_path: key}) & condition(get_connector(key).roles)
    return combined


def catalogues_of(*, integrations: list[Integration]) -> list[RoleCatalogue]:
    """The role catalogues of these integrations' applications, each once, in registry order."""
    keys = {integration.application.key for integration in integrations}
    return [get_connector(key).roles for key in registered_keys() if key in keys]


# --- Conditions shared by filters, summaries and exports ---------------------------------


def manages_a_team(*, team_id: int | None = None) -> Q:
    """Accounts with a privileged team role (a PagerDuty team manager, say)."""
    return _per_application(
        lambda roles: Q(holds_team_role(roles=roles.privileged_team_roles, team_id=team_id))
    )


def holds_team_role(*, roles, team_id: int | None = None) -> Exists:
    """True for accounts with one of `roles` in a team (in `team_id` when given)."""
    memberships = TeamMembership.objects.filter(account=OuterRef("pk"), role__in=roles)
    if team_id is not None:
        memberships = memberships.filter(team_id=team_id)
    return Exists(memberships)


def in_team(*, team_id: int) -> Exists:
    # Exists rather than a join: an account appears once whatever it holds in the team.
    return Exists(TeamMembership.objects.filter(account=OuterRef("pk"), team_id=team_id))


def privileged_accounts_q() -> Q:
    """Accounts with a privileged role, or a privileged role in a team."""
    return _per_application(lambda roles: Q(role__in=roles.privileged)) | manages_a_team()


def grants_privilege_q() -> Q:
    """The database form of RoleCatalogue.grants_privilege (kept equal to it by a test)."""
    kind = AccountChange.Kind

    def condition(roles: RoleCatalogue) -> Q:
        return (
            (Q(kind=kind.ROLE_CHANGED, new_value__in=roles.privileged) & ~Q(old_value__in=roles.privileged))
            | (
                Q(kind=kind.TEAM_ROLE_CHANGED, new_value__in=roles.privileged_team_roles)
                & ~Q(old_value__in=roles.privileged_team_roles)
            )
            | Q(kind__in=(kind.ADDED, kind.RETURNED), new_value__in=roles.privileged)
        )

    return _per_application(condition)


def outside_identity_provider_q() -> Q:
    """Changes the audit trail attributes to someone other than the identity provider (a
    person in the web app, an API token): the database form of
    AccountChange.outside_identity_provider."""
    attributed = ~Q(actor_type="") | ~Q(actor_method="")
    return attributed & ~Q(actor_type__in=OUTSIDE_SAFE_ACTORS) & ~Q(actor_method=ActorMethod.IDENTITY_PROVIDER)


# --- Lists ---------------------------------------------------------------------------------


def team_memberships_prefetch() -> Prefetch:
    return Prefetch(
        "team_memberships",
        queryset=TeamMembership.objects.select_related("team").order_by("team__name", "team_id"),
    )


def integration_prefetch() -> Prefetch:
    """The rows' integrations in one query of their own.

    Not a join: joined to the (tiny) integration table, the database scans it first and then
    sorts the whole tenant's rows, instead of walking the (integration, name) index in order.
    """
    return Prefetch("integration", queryset=Integration.objects.select_related("application", "tenant"))


def with_account_relations(accounts: QuerySet[SyncedAccount]) -> QuerySet[SyncedAccount]:
    """What a list of accounts shows beside each row, in three queries for any page size."""
    return accounts.select_related("license").prefetch_related(
        integration_prefetch(), team_memberships_prefetch()
    )


def role_choices(*, integrations: list[Integration]) -> list[tuple[str, str]]:
    """Every role of these integrations' catalogues, then any other value their accounts hold."""
    choices: dict[str, str] = {}
    for roles in catalogues_of(integrations=integrations):
        for role, display in roles.display_names.items():
            choices.setdefault(role, display)
    in_use = roles_in_use(integration_ids=[integration.pk for integration in integrations])
    for role in sorted(set(in_use) - choices.keys()):
        choices[role] = role
    return list(choices.items())


def roles_in_use(*, integration_ids: list[int]) -> list[str]:
    """The distinct roles of these integrations' accounts, in one query.

    A loose index scan on (integration, role): one index step per distinct role, where
    `SELECT DISTINCT role` reads all 100,000 index entries (~25 ms on PostgreSQL) on every
    load of the accounts page.
    """
    if not integration_ids:
        return []
    table = connection.ops.quote_name(SyncedAccount._meta.db_table)
    ids = ", ".join("(%s)" for _ in integration_ids)
    sql = f"""
        WITH RECURSIVE ids(id) AS (VALUES {ids}),
        found(integration_id, role) AS (
            SELECT ids.id, (SELECT role FROM {table} WHERE integration_id = ids.id
                            ORDER BY role LIMIT 1)
            FROM ids
            UNION ALL
            SELECT found.integration_id,
                   (SELECT role FROM {table} WHERE integration_id = found.integration_id
                    AND role > found.role ORDER BY role LIMIT 1)
            FROM found WHERE found.role IS NOT NULL
        )
        SELECT DISTINCT role FROM found WHERE role IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [int(pk) for pk in integration_ids])
        return [role for (role,) in cursor.fetchall()]


def team_role_choices(*, integrations: list[Integration]) -> list[tuple[str, str]]:
    roles = dict.fromkeys(
        role for catalogue in catalogues_of(integrations=integrations) for role in catalogue.team_roles
    )
    return [(role, role.capitalize()) for role in roles]


def teams_of(*, integration_ids: list[int]) -> QuerySet[Team]:
    return Team.objects.filter(integration_id__in=integration_ids).order_by("name", "id")


def licenses_of(*, integration_ids: list[int]) -> QuerySet[License]:
    return License.objects.filter(integration_id__in=integration_ids).order_by("name", "id")


def recent_runs_of(*, integration_ids: list[int], limit: int = 10) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(integration_id__in=integration_ids).order_by(
        "-started_at", "-id"
    )[:limit]


def account_changes(*, account: SyncedAccount, limit: int) -> list[AccountChange]:
    return list(
        AccountChange.objects.filter(account=account)
        .select_related("team", "run")
        .order_by("-created_at", "-id")[:limit]
    )


def team_members(*, team: Team) -> list[TeamMembership]:
    return list(
        TeamMembership.objects.filter(team=team)
        .select_related("account")
        .order_by("account__name", "account_id")
    )


def with_team_figures(teams: QuerySet[Team]) -> QuerySet[Team]:
    """Teams with their integration and `manager_memberships` (managers still in PagerDuty)."""
    return teams.prefetch_related(
        integration_prefetch(),
        Prefetch(
            "memberships",
            queryset=TeamMembership.objects.filter(
                _per_application(
                    lambda roles: Q(role__in=roles.privileged_team_roles),
                    application_path="team__integration__application__key",
                ),
                account__removed_at__isnull=True,
            )
            .select_related("account")
            .order_by("account__name", "account_id"),
            to_attr="manager_memberships",
        ),
    )


def active_member_counts(*, team_ids: list[int]) -> dict[int, int]:
    """Members still in PagerDuty, per team, in one grouped query over these teams.

    Grouped rather than a subquery per team: the database can join the memberships to
    their accounts in one pass, instead of probing every member's account team by team
    (4x slower at 100,000 accounts). Removed accounts keep their memberships, hence the join.
    """
    return dict(
        TeamMembership.objects.filter(team_id__in=team_ids, account__removed_at__isnull=True)
        .order_by()
        .values("team_id")
        .annotate(count=Count("id"))
        .values_list("team_id", "count")
    )


# --- Summary -------------------------------------------------------------------------------


def account_summary(*, integration: Integration) -> dict:
    """What a reviewer wants at a glance about one integration's accounts, in three queries.

    Counts are of accounts still present in the application; `by_role` follows its role
    catalogue's order, then unknown roles, each with its share of the active accounts (for
    the bars).
    """
    roles = integration.roles
    per_role = {
        row["role"]: row
        for row in SyncedAccount.objects.filter(integration=integration)
        .order_by()
        .values("role")
        .annotate(
            active=Count("id", filter=Q(removed_at__isnull=True)),
            pending=Count("id", filter=Q(removed_at__isnull=True, invitation_pending=True)),
            removed=Count("id", filter=Q(removed_at__isnull=False)),
        )
    }
    # Managers who do not already count through their role, found from the (few) manager
    # memberships rather than by probing every account.
    managers_only = (
        TeamMembership.objects.filter(
            team__integration=integration,
            role__in=roles.privileged_team_roles,
            account__removed_at__isnull=True,
        )
        .exclude(account__role__in=roles.privileged)
        .values("account_id")
        .distinct()
        .count()
    )
    # The last finished sync, with what it changed beyond added/removed: role changes and
    # privilege grants, counted by subqueries of the same query.
    last_run = (
        SyncRun.objects.filter(integration=integration, outcome__in=FINISHED_RUN_OUTCOMES)
        .annotate(
            role_changes=_changes_of_run(Q(kind=AccountChange.Kind.ROLE_CHANGED)),
            privilege_grants=_changes_of_run(grants_privilege_q()),
        )
        .order_by("-started_at", "-id")
        .first()
    )

    active = sum(row["active"] for row in per_role.values())
    order = [*roles.display_names, *sorted(per_role.keys() - roles.display_names.keys())]
    by_role = [
        {
            "role": role,
            "display": roles.display(role),
            "count": per_role[role]["active"],
            "percent": round(100 * per_role[role]["active"] / active, 1) if active else 0,
            "privileged": roles.is_privileged(role),
        }
        for role in order
        if per_role.get(role, {}).get("active")
    ]
    return {
        "integration": integration,
        "active": active,
        "removed": sum(row["removed"] for row in per_role.values()),
        "by_role": by_role,
        "privileged": sum(row["count"] for row in by_role if row["privileged"]) + managers_only,
        "pending": sum(row["pending"] for row in per_role.values()),
        "last_run": last_run,
        "added_last_sync": last_run.accounts_added if last_run else None,
        "removed_last_sync": last_run.accounts_removed if last_run else None,
        "role_changes_last_sync": last_run.role_changes if last_run else None,
        "privilege_grants_last_sync": last_run.privilege_grants if last_run else None,
    }


def _changes_of_run(condition: Q) -> Coalesce:
    """How many of a run's changes meet `condition` (a subquery of the runs' query)."""
    counted = (
        AccountChange.objects.filter(condition, run=OuterRef("pk"))
        .order_by()
        .values("run")
        .annotate(count=Count("id"))
        .values("count")
    )
    return Coalesce(Subquery(counted), 0)



# --- Freshness -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Freshness:
    """How current one integration's synced data is, as every page that shows it says."""

    integration: Integration
    as_of: datetime | None  # the last successful sync; None: there never was one
    status: str
    failure: str  # why the last sync failed ("" unless it did)
    failed_at: datetime | None
    stale: bool  # as_of is older than STALE_AFTER_HOURS
    stale_after_hours: int

    @property
    def failed(self) -> bool:
        return self.status == Integration.Status.ERROR

    @property
    def syncing(self) -> bool:
        return self.status == Integration.Status.SYNCING

    @property
    def warning(self) -> bool:
        return self.failed or self.stale or self.as_of is None


def freshness(*, integrations: list[Integration], now: datetime | None = None) -> list[Freshness]:
    """The freshness of these (already loaded) integrations' data, in their order.

    No query unless a last sync failed; then one, for when those failures happened. The
    reason is the integration's Message, which the failed sync set.
    """
    now = now or timezone.now()
    hours = settings.STALE_AFTER_HOURS
    stale_before = now - timedelta(hours=hours)
    failed_ids = {i.pk for i in integrations if i.status == Integration.Status.ERROR}
    failed_at = last_failure_times(integration_ids=sorted(failed_ids)) if failed_ids else {}
    return [
        Freshness(
            integration=integration,
            as_of=integration.last_synced_at,
            status=integration.status,
            failure=integration.message if integration.pk in failed_ids else "",
            failed_at=failed_at.get(integration.pk),
            stale=integration.last_synced_at is not None and integration.last_synced_at < stale_before,
            stale_after_hours=hours,
        )
        for integration in integrations
    ]


def last_failure_times(*, integration_ids: list[int]) -> dict[int, datetime]:
    """When each integration's latest failed sync ended, in one query (a subquery per integration)."""
    latest = (
        SyncRun.objects.filter(integration=OuterRef("pk"), outcome=SyncRun.Outcome.FAILED)
        .order_by("-started_at", "-id")
        .values("finished_at")[:1]
    )
    rows = (
        Integration.objects.filter(pk__in=integration_ids)
        .order_by()
        .annotate(failed_at=Subquery(latest))
        .values_list("pk", "failed_at")
    )
    return {pk: failed_at for pk, failed_at in rows if failed_at is not None}
