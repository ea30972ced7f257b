"""Teams: their members and managers, with links to the accounts list filtered by team."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from integrations import selectors
from integrations.admin.base import ScopedChangeList
from integrations.admin.filters import IntegrationFilter, PresenceFilter
from integrations.admin.html import account_url, accounts_url, badge, table, team_role_html
from integrations.admin.reviewer import ReviewerAdmin
from integrations.models import Team


class TeamChangeList(ScopedChangeList):
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
