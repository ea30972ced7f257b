"""Synced accounts: who holds which access in PagerDuty, browsed, filtered and exported."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import F
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from integrations import exports, findings, selectors
from integrations.admin.filters import (
    FindingFilter,
    IntegrationFilter,
    LicenseFilter,
    OnCallFilter,
    PresenceFilter,
    PrivilegedFilter,
    RoleFilter,
    TeamFilter,
    TeamRoleFilter,
    finding_scope,
)
from integrations.admin.html import (
    badge,
    change_row,
    changes_url,
    cut,
    findings_html,
    on_call_html,
    role_html,
    safe_link,
    table,
    team_role_html,
    when,
    when_html,
)
from integrations.admin.reviewer import ReviewerAdmin
from integrations.models import SyncedAccount


@admin.register(SyncedAccount)
class SyncedAccountAdmin(ReviewerAdmin):
    # Compact so every column fits beside the filters: email under the name, dates as dates.
    list_display = (
        "name_column",
        "role_column",
        "teams_column",
        "license_column",
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
        FindingFilter,
        OnCallFilter,
    )
    search_fields = ("name", "email", "=external_id")
    search_help_text = "Search by name, email (any part) or PagerDuty id (exact)."
    actions = ("export_csv", "export_json")
    ordering = ("name", "id")
    fieldsets = (
        (None, {"fields": ("name", "email", "role_detail_column", "job_title", "time_zone", "integration_column")}),
        (
            "In PagerDuty",
            {"fields": ("external_id", "pagerduty_link", "license_column", "invitation_pending", "created_via_sso")},
        ),
        ("Findings", {"fields": ("findings_column", "on_call_table")}),
        ("Teams", {"fields": ("teams_table",)}),
        ("Presence", {"fields": ("status_column", "first_seen_at", "last_seen_column", "removed_at")}),
        ("Change history", {"fields": ("history_table",)}),
    )
    readonly_fields = (
        "name",
        "email",
        "role_detail_column",
        "job_title",
        "time_zone",
        "integration_column",
        "external_id",
        "pagerduty_link",
        "license_column",
        "invitation_pending",
        "created_via_sso",
        "teams_table",
        "findings_column",
        "on_call_table",
        "status_column",
        "first_seen_at",
        "last_seen_column",
        "removed_at",
        "history_table",
    )
    history_limit = 50

    def get_queryset(self, request):
        accounts = selectors.with_account_relations(super().get_queryset(request))
        return findings.with_findings(accounts, scope=finding_scope(request, self.view_roles))

    @admin.display(description="Findings")
    def findings_column(self, obj):
        return findings_html(findings.annotated_findings(obj))

    @admin.display(description="On call")
    def on_call_table(self, obj):
        """Where the account is on call now, and what revoking it would leave empty."""
        return on_call_html(findings.on_call_of(account_ids=[obj.pk]).get(obj.pk, []))

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
        found = findings.annotated_findings(obj)
        return format_html(
            '{}<br>{}{}',
            cut(obj.name, css="pd-cut-m", html=format_html('<a href="{}">{}</a>', url, obj.name)),
            cut(obj.email, css="pd-cut-m pd-quiet"),
            # Under the name, not a column of their own: the table still fits at 1280 px.
            format_html('<div class="pd-findings">{}</div>', findings_html(found)) if found else "",
        )

    @admin.display(description="Invitation", ordering="invitation_pending")
    def invitation_column(self, obj):
        return badge("invitation pending", "pd-pending") if obj.invitation_pending else "-"

    # An empty last_seen_at is the latest of all (seen by the integration's last sync).
    @admin.display(description="Last seen", ordering=F("last_seen_at").asc(nulls_last=True))
    def last_seen_column(self, obj):
        return when_html(obj.last_seen)

    @admin.display(description="Link")
    def pagerduty_list_link(self, obj):
        return safe_link(obj.html_url, "Open")

    @admin.display(description="Role", ordering="role")
    def role_detail_column(self, obj):
        return role_html(obj.role, obj.integration.roles)

    # In the list, the role's display name with its API value on hover (the page shows both).
    @admin.display(description="Role", ordering="role")
    def role_column(self, obj):
        roles = obj.integration.roles
        privileged = format_html(" {}", badge("privileged", "pd-privileged")) if roles.is_privileged(obj.role) else ""
        return format_html('<span title="{}">{}</span>{}', obj.role, roles.display(obj.role), privileged)

    @admin.display(description="Teams (team role)")
    def teams_column(self, obj):
        memberships = obj.team_memberships.all()
        if not memberships:
            return "-"
        shown = format_html_join(
            ", ",
            "{} ({})",
            ((membership.team.name, team_role_html(membership.role, obj.integration.roles)) for membership in memberships),
        )
        whole = ", ".join(f"{membership.team.name} ({membership.role})" for membership in memberships)
        return cut(whole, css="pd-cut-m", html=shown)

    @admin.display(description="License", ordering="license__name")
    def license_column(self, obj):
        return cut(obj.license.name, css="pd-cut-s") if obj.license_id else "-"

    @admin.display(description="Status", ordering="removed_at")
    def status_column(self, obj):
        # The invitation beside the presence: one column less for the list to fit.
        invitation = format_html(" {}", self.invitation_column(obj)) if obj.invitation_pending else ""
        if obj.removed_at is None:
            return format_html("{}{}", badge("active", "pd-active"), invitation)
        removed = format_html('<span title="removed {}">{}</span>', when(obj.removed_at), badge("removed", "pd-removed"))
        return format_html("{}{}", removed, invitation)

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
        body = table(["When", "Change", "Detail", "Made by", "Sync run"], rows, "No change recorded yet.")
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
