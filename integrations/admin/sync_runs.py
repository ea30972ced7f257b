"""Sync history: every sync of the tenant's integrations, read-only, newest first.

Tenant admins, reviewers (and superusers) see it: a reviewer warned that the data may be out
of date finds here why and since when. A run holds counts and plain-word messages, never a
token. Nobody edits or deletes a run here; the history is an audit trail.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from integrations.admin.base import ReadOnlyTenantScopedAdmin
from integrations.admin.filters import IntegrationFilter
from integrations.models import Integration, SyncRun

OUTCOME_COLOURS = {
    SyncRun.Outcome.RUNNING: "#2563eb",
    SyncRun.Outcome.SUCCESS: "#15803d",
    SyncRun.Outcome.PARTIAL: "#b45309",
    SyncRun.Outcome.FAILED: "#b91c1c",
    SyncRun.Outcome.DRY_RUN: "#6b7280",
}


# What each run counted, on the list and on a run's page alike.
COUNTS = [
    "accounts_fetched",
    "accounts_added",
    "accounts_updated",
    "accounts_removed",
    "accounts_unchanged",
    "requests",
    "retries",
]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyTenantScopedAdmin):
    tenant_path = "integration__tenant"

    list_display = [
        "started_at",
        "integration",
        "trigger",
        "duration",
        "outcome_badge",
        *COUNTS,
        "message",
    ]
    list_display_links = ["started_at"]
    list_filter = [IntegrationFilter, "outcome", "trigger"]
    list_select_related = ["integration__application", "integration__tenant"]
    ordering = ["-started_at", "-id"]
    list_per_page = 50
    show_full_result_count = False
    fields = [
        "integration",
        "trigger",
        "started_at",
        "finished_at",
        "duration",
        "outcome_badge",
        *COUNTS,
        "message",
        "notes",
    ]
    readonly_fields = [*fields, "integration_name"]

    def get_fields(self, request, obj=None):
        # Django links a read-only foreign key to its page: only for those who may open it.
        if self.admin_site._registry[Integration].has_view_permission(request):
            return self.fields
        return ["integration_name" if name == "integration" else name for name in self.fields]

    @admin.display(description="Integration")
    def integration_name(self, run: SyncRun) -> str:
        return str(run.integration)

    def get_list_display(self, request):
        # A superuser browsing every tenant needs to know whose integration each run is.
        if request.user.is_superuser:
            return ["started_at", "tenant", *self.list_display[1:]]
        return self.list_display

    @admin.display(description="Tenant", ordering="integration__tenant__name")
    def tenant(self, run: SyncRun) -> str:
        return run.integration.tenant.name

    @admin.display(description="Duration")
    def duration(self, run: SyncRun) -> str:
        seconds = run.duration_seconds
        if seconds is None:
            return "–"
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, seconds = divmod(round(seconds), 60)
        return f"{minutes} min {seconds:02d} s"

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_badge(self, run: SyncRun):
        colour = OUTCOME_COLOURS.get(run.outcome, "#6b7280")
        return format_html(
            '<span class="sync-outcome sync-outcome-{}" style="color:#fff;background:{};'
            'padding:1px 8px;border-radius:8px;white-space:nowrap">{}</span>',
            run.outcome,
            colour,
            run.get_outcome_display(),
        )
