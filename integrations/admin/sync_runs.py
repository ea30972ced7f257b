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
from integrations.admin.html import cut, when_html
from integrations.models import Integration, SyncRun


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

    # Compact, so the failure reason (Message) fits on screen: the counts share two columns
    # (each figure named on hover); a run's page lists them one by one.
    list_display = [
        "started_column",
        "integration_column",
        "trigger_column",
        "duration",
        "outcome_badge",
        "accounts_column",
        "requests_column",
        "message_column",
    ]
    list_display_links = ["started_column"]
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
            return [self.list_display[0], "tenant", *self.list_display[1:]]
        return self.list_display

    @admin.display(description="Started", ordering="started_at")
    def started_column(self, run: SyncRun) -> str:
        return when_html(run.started_at)

    @admin.display(description="Integration", ordering="integration")
    def integration_column(self, run: SyncRun):
        return cut(str(run.integration), css="pd-cut-s")

    @admin.display(description="Trigger", ordering="trigger")
    def trigger_column(self, run: SyncRun):
        return cut(run.get_trigger_display(), css="pd-cut-s")

    @admin.display(description="Accounts (+ − ~)")
    def accounts_column(self, run: SyncRun):
        title = (
            f"{run.accounts_fetched} fetched, {run.accounts_added} added, {run.accounts_removed} removed, "
            f"{run.accounts_updated} updated, {run.accounts_unchanged} unchanged"
        )
        shown = f"{run.accounts_fetched} (+{run.accounts_added} −{run.accounts_removed} ~{run.accounts_updated})"
        return format_html('<span class="pd-figures" title="{}">{}</span>', title, shown)

    @admin.display(description="Requests", ordering="requests")
    def requests_column(self, run: SyncRun):
        if not run.retries:
            return str(run.requests)
        return format_html('{} <span class="pd-quiet" title="{} retries">(+{})</span>', run.requests, run.retries, run.retries)

    @admin.display(description="Message")
    def message_column(self, run: SyncRun):
        return cut(run.message, css="pd-fill") if run.message else "-"

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
        # Colours in admin.css: the Content-Security-Policy drops inline styles.
        return format_html(
            '<span class="sync-outcome sync-outcome-{}">{}</span>', run.outcome, run.get_outcome_display()
        )
