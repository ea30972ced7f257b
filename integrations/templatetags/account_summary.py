"""`{% account_summary integration %}`: one integration's accounts at a glance (server-side HTML/CSS).

`{% account_summaries %}` draws it for every integration of the tenants the viewer may review
(used on the admin index). Figures come from selectors.account_summary; this module adds the
links into the filtered admin lists, the bar widths and the freshness banner (as of when).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from integrations import findings, selectors
from integrations.admin import freshness
from integrations.admin.base import ADMIN, REVIEWER, has_role, tenants_with_role
from integrations.admin.empty import empty_state
from integrations.admin.html import when
from integrations.admin.live import message_text, status_badge

register = template.Library()

READERS = frozenset({ADMIN, REVIEWER})
MAX_SUMMARIES = 10


@register.filter
def thousands(value) -> str:
    """10000 → "10,000" (USE_THOUSAND_SEPARATOR is off for the rest of the admin)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.inclusion_tag("integrations/account_summary.html")
def account_summary(integration, show_tenant: bool = False) -> dict:
    # On the integration's own page: its viewer is a tenant admin (or a superuser).
    return summary_context(
        summary=_summary(integration),
        show_tenant=show_tenant,
        freshness_banner=freshness.banner(integrations=[integration], name_them=False),
        can_manage=True,
    )


def _summary(integration) -> dict:
    """The summary's figures and its findings' counts (two queries more)."""
    return {**selectors.account_summary(integration=integration), "findings": findings.finding_counts(integration=integration)}


@register.inclusion_tag("integrations/account_summaries.html", takes_context=True)
def account_summaries(context) -> dict:
    """The summaries of the integrations the viewer may review, at most MAX_SUMMARIES of them.

    Each costs five queries: a superuser with no tenant chosen sees the first few and is
    asked to choose a tenant, rather than waiting for every tenant's summary.
    """
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"summaries": []}
    tenants = tenants_with_role(request, READERS)
    integrations = list(selectors.integrations_of(tenants=tenants)[: MAX_SUMMARIES + 1])
    can_manage = has_role(request, frozenset({ADMIN}))
    if not integrations:  # a new tenant: the next step instead of nothing
        return {"summaries": [], "empty": empty_state(integrations=[], can_manage=can_manage)}
    several_tenants = len({integration.tenant_id for integration in integrations}) > 1
    shown = integrations[:MAX_SUMMARIES]
    banners = freshness.banner_of_each(integrations=shown)
    return {
        "summaries": [
            summary_context(
                summary=_summary(integration),
                show_tenant=several_tenants,
                freshness_banner=banners[integration.pk],
                can_manage=can_manage,
            )
            for integration in shown
        ],
        "more": len(integrations) > MAX_SUMMARIES,
    }


def summary_context(*, summary: dict, show_tenant: bool, freshness_banner: dict, can_manage: bool) -> dict:
    integration = summary["integration"]
    accounts = reverse("admin:integrations_syncedaccount_changelist")
    changes = reverse("admin:integrations_accountchange_changelist")

    def accounts_link(**params):
        return f"{accounts}?{urlencode({'integration': integration.pk, 'status': 'active', **params})}"

    def changes_link(**params):
        return f"{changes}?{urlencode({'integration': integration.pk, **params})}"

    run = summary["last_run"]
    nothing_yet = not summary["active"] and not summary["removed"]
    return {
        "summary": summary,
        "show_tenant": show_tenant,
        "freshness": freshness_banner,
        "status_badge": status_badge(integration),
        "status_message": message_text(integration),
        "last_sync": when(run.finished_at or run.started_at) if run else "",
        "empty": empty_state(integrations=[integration], can_manage=can_manage) if nothing_yet else None,
        "roles": [
            {
                **row,
                "url": accounts_link(role=row["role"]),
                # A role with a single account still shows a sliver of bar.
                "width": f"{max(row['percent'], 0.5):.1f}",
            }
            for row in summary["by_role"]
        ],
        "findings": [
            {
                "name": name,
                "label": findings.LABELS[name],
                "count": count,
                # Each account of a license finding holds one license to reclaim or exchange.
                "frees": name in (findings.LICENSE_PENDING_INVITE, findings.LICENSE_DOWNGRADE),
                "url": accounts_link(finding=name),
            }
            for name, count in summary.get("findings", {}).items()
        ],
        "links": {
            "active": accounts_link(),
            "privileged": accounts_link(privileged="yes"),
            "pending": accounts_link(invitation_pending__exact="1"),
            "added": changes_link(run=run.pk, kind__exact="added") if run else "",
            "removed": changes_link(run=run.pk, kind__exact="removed") if run else "",
            "role_changes": changes_link(run=run.pk, kind__exact="role_changed") if run else "",
            "privilege_grants": changes_link(run=run.pk, grants_privilege="yes") if run else "",
        },
    }
