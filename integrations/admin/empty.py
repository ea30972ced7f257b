"""What an empty page says instead of nothing: the next step, for whoever is looking.

One helper for every page that shows synced data (the home page's summaries, the reviewers'
lists), drawn by templates/integrations/empty.html.
"""

from __future__ import annotations

from django.urls import reverse

from integrations.models import Integration

RUNNING = {Integration.Status.PENDING, Integration.Status.QUEUED, Integration.Status.SYNCING}


def empty_state(*, integrations: list[Integration], can_manage: bool) -> dict:
    """The next step when there is nothing to show yet: add an integration, configure it, or wait
    for its first sync. `can_manage`: the viewer may add and configure (a tenant admin)."""
    changelist = reverse("admin:integrations_integration_changelist")
    if not integrations:
        if can_manage:
            return {
                "title": "No integration yet.",
                "text": "Add one, then Configure and Integrate it with a read-only API key: the first sync starts at once.",
                "link": reverse("admin:integrations_integration_add"),
                "link_text": "Add Integration",
            }
        return {"title": "No integration yet.", "text": "A tenant admin adds one with Add Integration; its accounts appear here after its first sync."}
    if not any(integration.is_configured for integration in integrations):
        if can_manage:
            return {
                "title": "Not configured yet.",
                "text": "Save a read-only API key with Configure and Integrate beside the integration's name: the first sync starts at once.",
                "link": changelist,
                "link_text": "Configure and Integrate",
            }
        return {"title": "Not configured yet.", "text": "A tenant admin must Configure and Integrate it; its accounts appear here after its first sync."}
    if any(integration.status in RUNNING for integration in integrations):
        return {"title": "The first sync is running.", "text": "Accounts appear here as soon as it finishes: reload in a minute."}
    failed = [integration for integration in integrations if integration.status == Integration.Status.ERROR]
    if failed and all(integration.last_synced_at is None for integration in integrations):
        return {
            "title": "The first sync failed.",
            "text": f"{failed[0].message}." if can_manage else f"{failed[0].message}. A tenant admin can fix it and Sync now.",
            "link": changelist if can_manage else "",
            "link_text": "See the Third Party Applications" if can_manage else "",
        }
    return {"title": "Nothing here yet.", "text": "The last sync found nothing to show."}
