"""HTML pieces of the reviewers' pages: badges, links, tables and how a change reads.

Names, titles and team names are PagerDuty's strings: they are only ever rendered escaped
(format_html), and links are drawn only for http(s) URLs.
"""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlencode, urlsplit

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from integrations import findings
from integrations.connectors.base import RoleCatalogue
from integrations.models import AccountChange


def when(moment: datetime | None, *, empty: str = "-") -> str:
    """The one way the admin writes a time: "2026-11-29 21:13 UTC", in the admin's time zone.

    Django's own rendering (readonly fields, list columns of date fields) uses the same format
    through FORMAT_MODULE_PATH (balkan_pd/formats/).
    """
    if moment is None:
        return empty
    if not isinstance(moment, datetime):  # a plain date
        return f"{moment:%Y-%m-%d}" if isinstance(moment, date) else str(moment)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def when_html(moment: datetime | None, *, empty: str = "-"):
    """`when` for a table cell: it may wrap between the date and the time, nowhere else."""
    if moment is None:
        return empty
    day, _, rest = when(moment).partition(" ")
    return format_html('<span class="pd-when"><span>{}</span> <span>{}</span></span>', day, rest)


def cut(text, *, css: str = "", html=None):
    """A value cut to its column's width (CSS ellipsis), the whole text on hover (title).

    `css` adds a width class of admin.css (pd-cut-s, pd-cut-m, pd-cut-l); `html` is what to
    show instead of the plain text (already safe, e.g. a link), `text` stays the title.
    """
    return format_html(
        '<span class="pd-cut {}" title="{}">{}</span>', css, text, text if html is None else html
    )


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


def sync_history_url(integration) -> str:
    """The sync runs of one integration (the `integration` filter of the sync history admin)."""
    return f"{reverse('admin:integrations_syncrun_changelist')}?integration={integration.pk}"


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


# --- Account changes: on the changes list and in an account's history ----------------------


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


def actor_html(change: AccountChange, roles: RoleCatalogue):
    """Who made the change and how ("Terraform Cloud (an API token, with an API token)"),
    marked when it grants privilege from outside the identity provider."""
    if not change.attributed:
        return format_html('<span class="pd-quiet">{}</span>', "not recorded")
    who = change.actor_name or change.get_actor_type_display() or "someone"
    how = ", ".join(
        part for part in (
            change.get_actor_type_display() if change.actor_name else "",
            change.get_actor_method_display(),
        ) if part
    )
    when = f"{timezone.localtime(change.acted_at):%Y-%m-%d %H:%M}" if change.acted_at else ""
    text = format_html("{} <span class=\"pd-quiet\">({}{})</span>", who, how, f"; {when}" if when else "")
    if change.outside_identity_provider and roles.grants_privilege(
        kind=change.kind, old=change.old_value, new=change.new_value
    ):
        return format_html("{} {}", text, badge("outside the identity provider", "pd-privileged outside-idp"))
    return text


def findings_html(names: list[str]):
    """A badge per finding, or "-"."""
    if not names:
        return "-"
    return format_html_join(
        " ", '<span class="pd-badge pd-finding" title="{}">{}</span>',
        ((findings.EXPLANATIONS[name], findings.LABELS[name]) for name in names),
    )


def on_call_html(entries: list):
    """Where an account is on call, and what revoking it would leave without anyone."""
    rows = [
        (
            safe_link(entry.policy_url, entry.policy_name) if entry.policy_url else entry.policy_name,
            f"level {entry.level}",
            entry.schedule_name or "direct target",
            "on call now" if entry.on_call_now else "later",
            badge(f"revoking leaves level {entry.level} without anyone", "pd-privileged sole-on-call")
            if entry.sole
            else f"{entry.others} other{'s' if entry.others != 1 else ''} on call",
        )
        for entry in entries
    ]
    return table(
        ["Escalation policy", "Level", "Through", "When", "If revoked"],
        rows,
        "Not on call for any escalation policy (as of the last sync that could read it).",
    )


def run_html(change: AccountChange):
    return format_html(
        '<a href="{}">{}</a>',
        changes_url(run=change.run_id),
        when(change.run.started_at),
    )


def change_row(change: AccountChange, roles: RoleCatalogue) -> tuple:
    return (
        when(change.created_at),
        kind_html(change, roles),
        describe_change(change, roles),
        actor_html(change, roles),
        run_html(change),
    )
