"""The freshness banner: as of when the data on a page is, and a warning when it may be out of date.

One banner for every page that shows synced data (the reviewers' lists and pages, the
summaries), drawn by templates/integrations/freshness.html from `banner(...)`. The texts are
plain strings: the template escapes them, the failure reason included.
"""

from __future__ import annotations

from datetime import datetime


from integrations import selectors
from integrations.admin import html
from integrations.admin.html import sync_history_url
from integrations.models import Integration

# Past this many integrations without a warning, they share one line (a superuser sees all).
FRESH_LINES = 5
OUT_OF_DATE = "what you see may be out of date"


# "2026-11-28 02:00 UTC": the admin's one date format.
when = html.when


def sentence(item: selectors.Freshness) -> str:
    """What a reviewer must know about one integration's data, in plain words."""
    parts = []
    if item.as_of is None:
        parts.append("No successful sync yet: none of its data is shown.")
    elif item.stale:
        parts.append(f"Data as of {when(item.as_of)}, more than {item.stale_after_hours} hours ago.")
    elif item.failed:
        parts.append(f"Data as of {when(item.as_of)}.")
    else:
        parts.append(f"Data as of {when(item.as_of)} (last successful sync).")
    if item.failed:
        on = f" on {when(item.failed_at)}" if item.failed_at else ""
        reason = f": {item.failure}" if item.failure else ""
        parts.append(f"The last sync failed{on}{reason}" + (f"; {OUT_OF_DATE}." if item.as_of else "."))
    elif item.stale:
        parts.append(f"No sync has succeeded since; {OUT_OF_DATE}.")
    if item.syncing:
        parts.append("A sync is in progress.")
    return " ".join(parts)


def label(integration: Integration, *, several_tenants: bool) -> str:
    return f"{integration.tenant.name} / {integration}" if several_tenants else str(integration)


def banner(*, integrations: list[Integration], name_them: bool | None = None, now: datetime | None = None) -> dict:
    """The banner's context for these (already loaded) integrations: warnings first.

    `name_them`: begin each line with its integration (by default when there are several).
    """
    items = selectors.freshness(integrations=integrations, now=now)
    if name_them is None:
        name_them = len(items) > 1
    return _banner(items, name_them=name_them, several_tenants=len({i.tenant_id for i in integrations}) > 1)


def banner_of_each(*, integrations: list[Integration], now: datetime | None = None) -> dict[int, dict]:
    """One banner per integration (the summaries), for the cost of one `banner`."""
    items = selectors.freshness(integrations=integrations, now=now)
    return {item.integration.pk: _banner([item], name_them=False, several_tenants=False) for item in items}


def _banner(items: list[selectors.Freshness], *, name_them: bool, several_tenants: bool) -> dict:
    warnings, fresh = [], []
    for item in items:
        line = {
            "label": label(item.integration, several_tenants=several_tenants) if name_them else "",
            "text": sentence(item),
            "history_url": sync_history_url(item.integration) if item.warning else "",
        }
        (warnings if item.warning else fresh).append(line)
    if len(fresh) > FRESH_LINES:
        oldest = min(item.as_of for item in items if not item.warning)
        text = f"{len(fresh)} other integrations: data as of {when(oldest)} or later."
        fresh = [{"label": "", "text": text, "history_url": ""}]
    return {"warnings": warnings, "fresh": fresh}
