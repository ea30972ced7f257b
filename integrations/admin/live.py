"""An integration's status as its pages show it, live: the badge, the message with the next
step after an Error, and the running sync's progress (refreshed by static progress.js from the
JSON of `progress_data`)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.html import format_html

from integrations import status as status_texts
from integrations.admin.html import when
from integrations.models import Integration
from integrations.services import request_sync

# Statuses a sync is still to come out of: their pages follow it live (progress.js).
IN_FLIGHT = {Integration.Status.PENDING, Integration.Status.QUEUED, Integration.Status.SYNCING}


def status_badge(integration: Integration) -> str:
    # Colours live in integrations/static/integrations/admin.css (.status-badge).
    return format_html(
        '<span class="status-badge status-{}">{}</span>',
        integration.status,
        integration.get_status_display(),
    )


def next_step(integration: Integration) -> str:
    """After an Error: what to do next (check the key, the region, wait for the rate limit...)."""
    if integration.status != Integration.Status.ERROR:
        return ""
    return status_texts.next_step(kind=integration.error_kind, application=integration.application.name)


def message_text(integration: Integration) -> str:
    """The status message, then the next step as a sentence of its own."""
    message, step = integration.message, next_step(integration)
    if message and step and not message.endswith((".", "!", "?")):
        message += "."
    return " ".join(part for part in (message, step) if part)


def progress_text(integration: Integration) -> str:
    return integration.progress if integration.status == Integration.Status.SYNCING else ""


def live_status(integration: Integration) -> str:
    """The status badge; while a sync is queued or running, progress.js refreshes it and the
    elements with the same data-integration (.pd-message, .pd-progress, .pd-last-synced)."""
    live = integration.status in IN_FLIGHT
    return format_html(
        '<span class="pd-status" data-integration="{}"{}>{}</span>',
        integration.pk,
        format_html(' data-progress-url="{}"', progress_url(integration)) if live else "",
        status_badge(integration),
    )


def live_message(integration: Integration, *, css: str = "pd-cut pd-fill") -> str:
    """The message (with the next step after an Error), cut to its column with the whole text on
    hover, then the running sync's progress line ("users: page 2/3 (200 accounts)")."""
    text = message_text(integration)
    return format_html(
        '<span class="pd-message {}" data-integration="{}" title="{}">{}</span>'
        '<span class="pd-progress pd-cut pd-fill" data-integration="{}">{}</span>',
        css,
        integration.pk,
        text,
        text,
        integration.pk,
        progress_text(integration),
    )


def progress_url(integration: Integration) -> str:
    return reverse("admin:integrations_integration_progress", args=[integration.pk])


def sync_now_url(integration: Integration) -> str:
    return reverse("admin:integrations_integration_sync_now", args=[integration.pk])


def progress_data(integration: Integration) -> dict:
    """What progress.js shows: the JSON of the progress endpoint."""
    return {
        "id": integration.pk,
        "status": integration.status,
        "status_display": integration.get_status_display(),
        "message": message_text(integration),
        "progress": progress_text(integration),
        "last_synced": when(integration.last_synced_at, empty="Never"),
        "in_flight": integration.status in IN_FLIGHT,
    }


class SyncNowMixin:
    """Of the integrations' admin: Sync now (row and page buttons, and the list action) and the
    JSON of the live status. Its URLs are added by the admin's get_urls; `_scoped_object` is
    its tenant-scoped lookup (404 for another tenant's integration)."""

    def sync_now_view(self, request, object_id):
        """The Sync now button (POST, CSRF-checked by the admin view): queue a sync, show Queued."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        integration = self._scoped_object(request, object_id)
        if request_sync(integration=integration):
            self.message_user(request, f"Queued a sync of {integration}.", messages.SUCCESS)
        else:
            self.message_user(request, f"{integration} is not configured yet: Configure and Integrate first.", messages.WARNING)
        if request.GET.get("from") == "list":
            return HttpResponseRedirect(reverse("admin:integrations_integration_changelist"))
        return HttpResponseRedirect(reverse("admin:integrations_integration_change", args=[integration.pk]))

    def progress_view(self, request, object_id):
        """The live status of one integration, as JSON, for progress.js."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = JsonResponse(progress_data(self._scoped_object(request, object_id)))
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset):
        integrations = list(queryset.select_related("application"))
        configured = [integration for integration in integrations if request_sync(integration=integration)]
        if configured:
            self.message_user(
                request,
                f"Queued a sync of {len(configured)} integration{'s' if len(configured) != 1 else ''}.",
                messages.SUCCESS,
            )
        skipped = len(integrations) - len(configured)
        if skipped:
            self.message_user(
                request,
                f"Skipped {skipped} integration{'s' if skipped != 1 else ''} not configured yet: "
                "Configure and Integrate first.",
                messages.WARNING,
            )
