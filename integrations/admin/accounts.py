"""The reviewers' view: synced accounts, what each sync changed, and teams. Read-only.

Everything here comes from PagerDuty: it is browsed, filtered and exported, never edited.
Reviewers and tenant admins see their active tenant's data; superusers every tenant's.
Names, titles and team names are PagerDuty's strings: they are only ever rendered escaped
(format_html), and links are drawn only for http(s) URLs.

Scale (100,000 accounts in one tenant): every page runs the same number of queries whatever
its size (related rows are joined or prefetched), lists count at most a page window ahead
instead of COUNT(*) over the whole table, and filters never load accounts into Python.
"""

from __future__ import annotations

from math import ceil
from urllib.parse import urlencode, urlsplit

from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR, ChangeList
from django.core.paginator import Paginator
from django.db.models import F
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from integrations import exports, selectors
from integrations.admin.base import ReadOnlyTenantScopedAdmin, TenantScopedAdmin, tenants_with_role
from integrations.connectors.base import RoleCatalogue
from integrations.models import AccountChange, SyncedAccount, Team

# --- Counting without COUNT(*) over 100,000 rows -------------------------------------------


class LookAheadPaginator(Paginator):
    """Counts rows only up to `look_ahead` past the current page, not the whole table.

    Below that the count is exact. Above it the list says "more than N": every page stays
    reachable (the page links reach `look_ahead` rows further), and a page load costs the
    same at 10,000 or 10,000,000 accounts. A planner estimate (pg_class.reltuples) was not
    used: it is per table, while every list here is one tenant's slice of it.
    """

    look_ahead = 10_000

    def __init__(self, object_list, per_page, *, current_page: int = 1, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.limit = max(current_page, 1) * self.per_page + self.look_ahead + 1

    @cached_property
    def count(self) -> int:
        # Ordering is dropped: it changes nothing to a count and would force a sort.
        return self.object_list.order_by().values("pk")[: self.limit].count()

    @property
    def is_estimate(self) -> bool:
        return self.count >= self.limit

    @property
    def count_floor(self) -> int:
        """For "more than N": the rows known to exist."""
        return self.count - 1 if self.is_estimate else self.count

    @cached_property
    def num_pages(self) -> int:
        return max(1, ceil(self.count / self.per_page))


class LookAheadCountMixin:
    list_per_page = 100
    show_full_result_count = False  # no second COUNT(*) of the unfiltered list
    show_facets = admin.ShowFacets.NEVER  # facet counts would count per choice per load

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            current_page = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            current_page = 1
        return LookAheadPaginator(
            queryset,
            per_page,
            current_page=current_page,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
        )


# --- Scope ---------------------------------------------------------------------------------


def visible_integrations(request, roles: frozenset[str]) -> list:
    """The integrations of the viewer's visible tenants where they hold one of `roles`.

    One query per request, shared by the querysets and the filters of these pages.
    """
    cache = request.__dict__.setdefault("_visible_integrations", {})
    if roles not in cache:
        cache[roles] = list(selectors.integrations_of(tenants=tenants_with_role(request, roles)))
    return cache[roles]


class ReviewerAdmin(LookAheadCountMixin, ReadOnlyTenantScopedAdmin):
    """Read-only and tenant-scoped (another tenant's object answers 404, see the base).

    For models with an `integration` foreign key.
    """

    def get_queryset(self, request):
        # The scope of the base class (tenants_with_role), applied as the literal ids of those
        # tenants' integrations instead of its join to the tenant: with the join, the database
        # sorts the tenant's 100,000 rows for every page instead of reading an index in order.
        ids = [integration.pk for integration in visible_integrations(request, self.view_roles)]
        return super(TenantScopedAdmin, self).get_queryset(request).filter(integration_id__in=ids)

    def shows_several_integrations(self, request) -> bool:
        return len(visible_integrations(request, self.view_roles)) > 1

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if not self.shows_several_integrations(request) and "integration_column" in columns:
            columns.remove("integration_column")
        return columns

    @admin.display(description="Integration", ordering="integration")
    def integration_column(self, obj):
        return format_html("{} / {}", obj.integration.tenant.name, obj.integration)


# --- Filters -------------------------------------------------------------------------------


class ScopedFilter(admin.SimpleListFilter):
    """A list filter that knows its admin (for the viewer's integrations)."""

    def __init__(self, request, params, model, model_admin):
        self.model_admin = model_admin
        super().__init__(request, params, model, model_admin)

    def integration_ids(self, request) -> list[int]:
        return [i.pk for i in visible_integrations(request, self.model_admin.view_roles)]

    def labelled(self, request, label: str, integration_id: int) -> str:
        """`label`, naming its integration when the viewer sees several (same team names…)."""
        integrations = {i.pk: i for i in visible_integrations(request, self.model_admin.view_roles)}
        return f"{label} ({integrations[integration_id]})" if len(integrations) > 1 else label


class IntegrationFilter(ScopedFilter):
    title = "integration"
    parameter_name = "integration"

    def lookups(self, request, model_admin):
        integrations = visible_integrations(request, model_admin.view_roles)
        several_tenants = len({integration.tenant_id for integration in integrations}) > 1
        return [
            (str(i.pk), f"{i.tenant.name} / {i}" if several_tenants else str(i))
            for i in integrations
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(integration_id=self.value())
        return queryset


class RoleFilter(ScopedFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return selectors.role_choices(integration_ids=self.integration_ids(request))

    def queryset(self, request, queryset):
        return queryset.filter(role=self.value()) if self.value() else queryset


class TeamFilter(ScopedFilter):
    title = "team"
    parameter_name = "team"

    def lookups(self, request, model_admin):
        teams = selectors.teams_of(integration_ids=self.integration_ids(request))
        return [
            (str(team.pk), self.labelled(request, team.name, team.integration_id))
            for team in teams.only("id", "name", "integration_id")
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(selectors.in_team(team_id=int(self.value())))
        return queryset


class TeamRoleFilter(ScopedFilter):
    """The role held in a team; within the team chosen in the team filter, if one is."""

    title = "team role"
    parameter_name = "team_role"

    def __init__(self, request, params, model, model_admin):
        # From the request: the team filter has taken its parameter out of `params` already.
        self.team = request.GET.get(TeamFilter.parameter_name)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return selectors.team_role_choices(integration_ids=self.integration_ids(request))

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        team_id = int(self.team) if self.team else None
        return queryset.filter(selectors.holds_team_role(roles=[self.value()], team_id=team_id))


class PrivilegedFilter(ScopedFilter):
    title = "privileged (owner, admin or team manager)"
    parameter_name = "privileged"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(selectors.privileged_accounts_q())
        if self.value() == "no":
            return queryset.exclude(selectors.privileged_accounts_q())
        return queryset


class PresenceFilter(ScopedFilter):
    title = "active / removed"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("removed", "Removed from PagerDuty")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(removed_at__isnull=True)
        if self.value() == "removed":
            return queryset.filter(removed_at__isnull=False)
        return queryset


class LicenseFilter(ScopedFilter):
    title = "license"
    parameter_name = "license"
    NONE = "none"

    def lookups(self, request, model_admin):
        licenses = selectors.licenses_of(integration_ids=self.integration_ids(request))
        return [
            (str(lic.pk), self.labelled(request, lic.name, lic.integration_id))
            for lic in licenses.only("id", "name", "integration_id")
        ] + [(self.NONE, "No license")]

    def queryset(self, request, queryset):
        if self.value() == self.NONE:
            return queryset.filter(license__isnull=True)
        if self.value():
            return queryset.filter(license_id=self.value())
        return queryset


class GrantsPrivilegeFilter(ScopedFilter):
    title = "grants privilege"
    parameter_name = "grants_privilege"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(selectors.grants_privilege_q())
        if self.value() == "no":
            return queryset.exclude(selectors.grants_privilege_q())
        return queryset


class RunFilter(ScopedFilter):
    """The latest runs are offered; any run of the viewer's can be chosen by its id (?run=)."""

    title = "sync run"
    parameter_name = "run"

    def lookups(self, request, model_admin):
        runs = selectors.recent_runs_of(integration_ids=self.integration_ids(request))
        return [
            (
                str(run.pk),
                self.labelled(
                    request,
                    f"{timezone.localtime(run.started_at):%Y-%m-%d %H:%M} {run.get_outcome_display()}",
                    run.integration_id,
                ),
            )
            for run in runs
        ]

    def queryset(self, request, queryset):
        return queryset.filter(run_id=self.value()) if self.value() else queryset


# --- Shared rendering ----------------------------------------------------------------------


def safe_link(url: str, text: str):
    """A link only for http(s) URLs: PagerDuty data never becomes a javascript: link."""
    if url and urlsplit(url).scheme.lower() in ("http", "https"):
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, text)
    return "-"


def badge(text: str, css: str):
    return format_html('<span class="pd-badge {}">{}</span>', css, text)


def role_html(role: str, roles: RoleCatalogue):
    display = roles.display(role)
    privileged = format_html(" {}", badge("privileged", "pd-privileged")) if roles.is_privileged(role) else ""
    if display == role:
        return format_html("{}{}", display, privileged)
    return format_html('{} <span class="pd-quiet">({})</span>{}', display, role, privileged)


def team_role_html(role: str, roles: RoleCatalogue):
    if role in roles.privileged_team_roles:
        return format_html('<strong class="pd-privileged-text">{}</strong>', role)
    return format_html("{}", role)


def accounts_url(**params) -> str:
    return reverse("admin:integrations_syncedaccount_changelist") + "?" + urlencode(params)


def account_url(account_id: int) -> str:
    return reverse("admin:integrations_syncedaccount_change", args=[account_id])


def changes_url(**params) -> str:
    return reverse("admin:integrations_accountchange_changelist") + "?" + urlencode(params)


def table(headers: list[str], rows: list[tuple], empty: str):
    """A small HTML table; every cell is escaped unless it is already safe HTML."""
    if not rows:
        return format_html('<p class="pd-quiet">{}</p>', empty)

    def cells(tag: str, values) -> str:
        return format_html_join("", f"<{tag}>{{}}</{tag}>", ((value,) for value in values))

    return format_html(
        '<table class="pd-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        cells("th", headers),
        format_html_join("", "<tr>{}</tr>", ((cells("td", row),) for row in rows)),
    )


# --- Synced accounts -----------------------------------------------------------------------


@admin.register(SyncedAccount)
class SyncedAccountAdmin(ReviewerAdmin):
    # Compact so every column fits beside the filters: email under the name, dates as dates.
    list_display = (
        "name_column",
        "role_column",
        "teams_column",
        "license_column",
        "invitation_column",
        "status_column",
        "last_seen_column",
        "pagerduty_list_link",
        "integration_column",
    )
    list_display_links = None  # name_column links to the account itself, email left outside
    list_filter = (
        IntegrationFilter,
        RoleFilter,
        PrivilegedFilter,
        TeamFilter,
        TeamRoleFilter,
        "invitation_pending",
        PresenceFilter,
        LicenseFilter,
    )
    search_fields = ("name", "email", "=external_id")
    search_help_text = "Search by name, email (any part) or PagerDuty id (exact)."
    actions = ("export_csv", "export_json")
    ordering = ("name", "id")
    fieldsets = (
        (None, {"fields": ("name", "email", "role_column", "job_title", "time_zone", "integration_column")}),
        (
            "In PagerDuty",
            {"fields": ("external_id", "pagerduty_link", "license_column", "invitation_pending", "created_via_sso")},
        ),
        ("Teams", {"fields": ("teams_table",)}),
        ("Presence", {"fields": ("status_column", "first_seen_at", "last_seen_column", "removed_at")}),
        ("Change history", {"fields": ("history_table",)}),
    )
    readonly_fields = (
        "name",
        "email",
        "role_column",
        "job_title",
        "time_zone",
        "integration_column",
        "external_id",
        "pagerduty_link",
        "license_column",
        "invitation_pending",
        "created_via_sso",
        "teams_table",
        "status_column",
        "first_seen_at",
        "last_seen_column",
        "removed_at",
        "history_table",
    )
    history_limit = 50

    def get_queryset(self, request):
        return selectors.with_account_relations(super().get_queryset(request))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.shows_several_integrations(request):
            return fieldsets
        # One integration in view: naming it on every page says nothing.
        first_name, first_options = fieldsets[0]
        fields = tuple(f for f in first_options["fields"] if f != "integration_column")
        return ((first_name, {**first_options, "fields": fields}), *fieldsets[1:])

    @admin.display(description="Name / email", ordering="name")
    def name_column(self, obj):
        url = reverse("admin:integrations_syncedaccount_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a><br><span class="pd-quiet">{}</span>', url, obj.name, obj.email)

    @admin.display(description="Invitation", ordering="invitation_pending")
    def invitation_column(self, obj):
        return badge("pending", "pd-pending") if obj.invitation_pending else "-"

    # An empty last_seen_at is the latest of all (seen by the integration's last sync).
    @admin.display(description="Last seen", ordering=F("last_seen_at").asc(nulls_last=True))
    def last_seen_column(self, obj):
        return f"{timezone.localtime(obj.last_seen):%Y-%m-%d}" if obj.last_seen else "-"

    @admin.display(description="PagerDuty")
    def pagerduty_list_link(self, obj):
        return safe_link(obj.html_url, "Open")

    @admin.display(description="Role", ordering="role")
    def role_column(self, obj):
        return role_html(obj.role, obj.integration.roles)

    @admin.display(description="Teams (team role)")
    def teams_column(self, obj):
        memberships = obj.team_memberships.all()
        if not memberships:
            return "-"
        return format_html_join(
            ", ",
            "{} ({})",
            ((membership.team.name, team_role_html(membership.role, obj.integration.roles)) for membership in memberships),
        )

    @admin.display(description="License", ordering="license__name")
    def license_column(self, obj):
        return obj.license.name if obj.license_id else "-"

    @admin.display(description="Status", ordering="removed_at")
    def status_column(self, obj):
        if obj.removed_at is None:
            return badge("active", "pd-active")
        return format_html(
            "{} {}", badge("removed", "pd-removed"), f"{timezone.localtime(obj.removed_at):%Y-%m-%d}"
        )

    @admin.display(description="Link in PagerDuty")
    def pagerduty_link(self, obj):
        return safe_link(obj.html_url, "Open in PagerDuty")

    @admin.display(description="Team memberships")
    def teams_table(self, obj):
        rows = [
            (
                safe_link(membership.team.html_url, membership.team.name)
                if membership.team.html_url
                else membership.team.name,
                team_role_html(membership.role, obj.integration.roles),
                "removed" if membership.team.removed_at else "active",
            )
            for membership in obj.team_memberships.all()
        ]
        return table(["Team", "Team role", "Team status"], rows, "Member of no team.")

    @admin.display(description="Changes seen by syncs")
    def history_table(self, obj):
        changes = selectors.account_changes(account=obj, limit=self.history_limit)
        rows = [change_row(change, obj.integration.roles) for change in changes]
        body = table(["When", "Change", "Detail", "Sync run"], rows, "No change recorded yet.")
        if len(changes) < self.history_limit:
            return body
        more = changes_url(**{"account__id__exact": obj.pk})
        return format_html('{}<p><a href="{}">Every change of this account</a></p>', body, more)

    @admin.action(description="Export selected accounts (CSV)")
    def export_csv(self, request, queryset):
        return export_response(queryset=queryset, fmt="csv")

    @admin.action(description="Export selected accounts (JSON)")
    def export_json(self, request, queryset):
        return export_response(queryset=queryset, fmt="json")


def export_response(*, queryset, fmt: str) -> StreamingHttpResponse:
    """The selected (or, with "select all", the filtered) accounts, streamed as they are read."""
    response = StreamingHttpResponse(
        exports.stream_export(queryset=queryset, fmt=fmt), content_type=exports.CONTENT_TYPES[fmt]
    )
    filename = exports.export_filename(fmt=fmt, now=timezone.now())
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --- Changes -------------------------------------------------------------------------------


def describe_change(change: AccountChange, roles: RoleCatalogue):
    kind = AccountChange.Kind
    if change.kind == kind.ROLE_CHANGED:
        return format_html("{} → {}", roles.display(change.old_value), roles.display(change.new_value))
    if change.kind == kind.TEAM_ROLE_CHANGED:
        team = change.team.name if change.team_id else "a team"
        if not change.old_value:
            return format_html("joined {} as {}", team, change.new_value)
        if not change.new_value:
            return format_html("left {} (was {})", team, change.old_value)
        return format_html("{}: {} → {}", team, change.old_value, change.new_value)
    if change.kind == kind.EMAIL_CHANGED:
        return format_html("{} → {}", change.old_value, change.new_value)
    if change.kind in (kind.ADDED, kind.RETURNED) and change.new_value:
        return format_html("as {}", roles.display(change.new_value))
    if change.kind == kind.REMOVED and change.old_value:
        return format_html("was {}", roles.display(change.old_value))
    return "-"


def kind_html(change: AccountChange, roles: RoleCatalogue):
    if roles.grants_privilege(kind=change.kind, old=change.old_value, new=change.new_value):
        return format_html(
            "{} {}", change.get_kind_display(), badge("grants privilege", "pd-privileged grants-privilege")
        )
    return change.get_kind_display()


def run_html(change: AccountChange):
    return format_html(
        '<a href="{}">{}</a>',
        changes_url(run=change.run_id),
        f"{timezone.localtime(change.run.started_at):%Y-%m-%d %H:%M}",
    )


def change_row(change: AccountChange, roles: RoleCatalogue) -> tuple:
    return (
        f"{timezone.localtime(change.created_at):%Y-%m-%d %H:%M}",
        kind_html(change, roles),
        describe_change(change, roles),
        run_html(change),
    )


@admin.register(AccountChange)
class AccountChangeAdmin(ReviewerAdmin):
    list_display = (
        "created_at",
        "account_column",
        "kind_column",
        "detail_column",
        "run_column",
        "integration_column",
    )
    list_display_links = ("created_at",)
    list_filter = (
        IntegrationFilter,
        "kind",
        GrantsPrivilegeFilter,
        ("created_at", admin.DateFieldListFilter),
        RunFilter,
    )
    # "Since last week" is the created_at filter (Past 7 days…): it needs no query, whereas a
    # date_hierarchy reads the distinct dates of every change of the tenant on each load.
    search_fields = ("account__name", "account__email", "=account__external_id")
    search_help_text = "Search by the account's name, email or PagerDuty id."
    ordering = ("-created_at", "-id")
    fields = (
        "created_at",
        "account_column",
        "kind_column",
        "detail_column",
        "old_value",
        "new_value",
        "team_column",
        "run_column",
        "integration_column",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("account", "team", "run")
            .prefetch_related(selectors.integration_prefetch())
        )

    def get_actions(self, request):
        return {}

    @admin.display(description="Account", ordering="account__name")
    def account_column(self, obj):
        return format_html(
            '<a href="{}">{}</a> <span class="pd-quiet">{}</span>',
            account_url(obj.account_id),
            obj.account.name,
            obj.account.email,
        )

    @admin.display(description="Change", ordering="kind")
    def kind_column(self, obj):
        return kind_html(obj, obj.integration.roles)

    @admin.display(description="Detail")
    def detail_column(self, obj):
        return describe_change(obj, obj.integration.roles)

    @admin.display(description="Team")
    def team_column(self, obj):
        return obj.team.name if obj.team_id else "-"

    @admin.display(description="Sync run", ordering="run__started_at")
    def run_column(self, obj):
        return run_html(obj)


# --- Teams ---------------------------------------------------------------------------------


class TeamChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # The page's teams are read once here (the page renders from this cache); their
        # member counts come in one more query.
        teams = list(self.result_list)
        counts = selectors.active_member_counts(team_ids=[team.pk for team in teams])
        for team in teams:
            team.member_count = counts.get(team.pk, 0)


@admin.register(Team)
class TeamAdmin(ReviewerAdmin):
    list_display = ("name", "members_column", "managers_column", "status_column", "integration_column")
    list_filter = (IntegrationFilter, PresenceFilter)
    search_fields = ("name", "=external_id")
    ordering = ("name", "id")
    fields = (
        "name",
        "description",
        "external_id",
        "pagerduty_link",
        "members_column",
        "status_column",
        "first_seen_at",
        "last_seen_at",
        "removed_at",
        "integration_column",
        "members_table",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return selectors.with_team_figures(super().get_queryset(request))

    def get_changelist(self, request, **kwargs):
        return TeamChangeList

    def get_actions(self, request):
        return {}

    @admin.display(description="Members")
    def members_column(self, obj):
        count = getattr(obj, "member_count", None)
        if count is None:  # the detail page: one team
            count = selectors.active_member_counts(team_ids=[obj.pk]).get(obj.pk, 0)
        return format_html('<a href="{}">{}</a>', accounts_url(team=obj.pk, status="active"), count)

    managers_shown = 5

    @admin.display(description="Managers")
    def managers_column(self, obj):
        managers = obj.manager_memberships
        if not managers:
            return "-"
        names = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((account_url(m.account_id), m.account.name) for m in managers[: self.managers_shown]),
        )
        if len(managers) <= self.managers_shown:
            return names
        every = accounts_url(team=obj.pk, team_role="manager", status="active")
        return format_html('{} <a href="{}">and {} more</a>', names, every, len(managers) - self.managers_shown)

    @admin.display(description="Status", ordering="removed_at")
    def status_column(self, obj):
        return badge("active", "pd-active") if obj.removed_at is None else badge("removed", "pd-removed")

    @admin.display(description="Link in PagerDuty")
    def pagerduty_link(self, obj):
        return safe_link(obj.html_url, "Open in PagerDuty")

    @admin.display(description="Members")
    def members_table(self, obj):
        rows = [
            (
                format_html('<a href="{}">{}</a>', account_url(m.account_id), m.account.name),
                m.account.email,
                team_role_html(m.role, obj.integration.roles),
                "removed" if m.account.removed_at else "active",
            )
            for m in selectors.team_members(team=obj)
        ]
        return table(["Account", "Email", "Team role", "Account status"], rows, "No members.")

