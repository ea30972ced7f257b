"""Reads for the reviewers' view: synced accounts, their changes, teams and summaries.

Every function here answers in a fixed number of queries, whatever the number of accounts:
the pages and the export that use them must stay flat at 100,000 accounts.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from integrations.connectors.pagerduty.roles import (
    PRIVILEGED_ROLES,
    PRIVILEGED_TEAM_ROLES,
    ROLE_DISPLAY_NAMES,
    TEAM_ROLES,
    role_display_name,
)
from integrations.models import (
    AccountChange,
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


# --- Conditions shared by filters, summaries and exports ---------------------------------


def manages_a_team(*, team_id: int | None = None) -> Exists:
    return holds_team_role(roles=PRIVILEGED_TEAM_ROLES, team_id=team_id)


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
    """SPEC §4: `owner` and `admin` are privileged, and so is a team manager."""
    return Q(role__in=PRIVILEGED_ROLES) | Q(manages_a_team())


def grants_privilege_q() -> Q:
    """The database form of AccountChange.grants_privilege (kept equal to it by a test)."""
    kind = AccountChange.Kind
    return (
        Q(kind=kind.ROLE_CHANGED, new_value__in=PRIVILEGED_ROLES)
        & ~Q(old_value__in=PRIVILEGED_ROLES)
    ) | (
        Q(kind=kind.TEAM_ROLE_CHANGED, new_value__in=PRIVILEGED_TEAM_ROLES)
        & ~Q(old_value__in=PRIVILEGED_TEAM_ROLES)
    ) | Q(kind__in=(kind.ADDED, kind.RETURNED), new_value__in=PRIVILEGED_ROLES)


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


def role_choices(*, integration_ids: list[int]) -> list[tuple[str, str]]:
    """Every role of SPEC §4's table, then any other value these integrations' accounts hold."""
    unknown = sorted(set(roles_in_use(integration_ids=integration_ids)) - ROLE_DISPLAY_NAMES.keys())
    return [(role, role_display_name(role)) for role in [*ROLE_DISPLAY_NAMES, *unknown]]


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


def team_role_choices() -> list[tuple[str, str]]:
    return [(role, role.capitalize()) for role in TEAM_ROLES]


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
                role__in=PRIVILEGED_TEAM_ROLES, account__removed_at__isnull=True
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

    Counts are of accounts still present in PagerDuty; `by_role` follows SPEC §4's order,
    then unknown roles, each with its share of the active accounts (for the bars).
    """
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
            role__in=PRIVILEGED_TEAM_ROLES,
            account__removed_at__isnull=True,
        )
        .exclude(account__role__in=PRIVILEGED_ROLES)
        .values("account_id")
        .distinct()
        .count()
    )
    last_run = (
        SyncRun.objects.filter(integration=integration, outcome__in=FINISHED_RUN_OUTCOMES)
        .order_by("-started_at", "-id")
        .first()
    )

    active = sum(row["active"] for row in per_role.values())
    order = [*ROLE_DISPLAY_NAMES, *sorted(per_role.keys() - ROLE_DISPLAY_NAMES.keys())]
    by_role = [
        {
            "role": role,
            "display": role_display_name(role),
            "count": per_role[role]["active"],
            "percent": round(100 * per_role[role]["active"] / active, 1) if active else 0,
            "privileged": role in PRIVILEGED_ROLES,
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
    }

