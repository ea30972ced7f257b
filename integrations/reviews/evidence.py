"""The evidence report of an access review: CSV, JSON or printable HTML.

The JSON form is canonical: for the same review state it is the same bytes, so its SHA-256
(stated in the HTML form) lets an auditor check that a saved copy is unchanged
(`exportreview --verify`). Everything streams: items are read with an iterator in chunks and
each chunk's decision history in one more query, so memory stays flat at 100,000 items.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator

from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join

from integrations.batching import chunked
from integrations.exports import csv_cell, iso_utc
from integrations.reviews.models import AccessReview, ReviewDecision, ReviewItem

FORMATS = ("csv", "json", "html")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}
CHUNK_SIZE = 2000
ROWS_PER_PIECE = 200

ITEM_KEYS: tuple[str, ...] = (
    "account_id",
    "name",
    "email",
    "link",
    "role",
    "role_display",
    "teams",
    "license",
    "invitation_pending",
    "privileged",
    "findings",
    "reviewer",
    "decision",
    "new_role",
    "new_role_display",
    "comment",
    "decided_by",
    "decided_at",
    "remediation",
    "verified_by_sync_run",
    "verified_at",
    "history",
)
CSV_REVIEW_KEYS = ("review", "review_name", "scope", "opened_at", "opened_by", "closed_at", "closed_by")


def _user(user) -> str | None:
    return user.get_username() if user is not None else None


def review_record(review: AccessReview) -> dict:
    return {
        "id": review.pk,
        "name": review.name,
        "tenant": review.tenant.name,
        "integration": review.integration_id,
        "application": review.integration.application.name,
        "scope": review.scope,
        "scope_display": review.get_scope_display(),
        "state": review.state,
        "due_date": review.due_date.isoformat(),
        "opened_by": _user(review.opened_by),
        "opened_at": iso_utc(review.opened_at),
        "closed_by": _user(review.closed_by),
        "closed_at": iso_utc(review.closed_at),
    }


def _load_review(review_id: int) -> AccessReview:
    return AccessReview.objects.select_related(
        "tenant", "integration__application", "opened_by", "closed_by"
    ).get(pk=review_id)


def iter_items(review: AccessReview) -> Iterator[dict]:
    roles = review.integration.roles
    items = (
        ReviewItem.objects.filter(review=review)
        .select_related("reviewer", "decided_by")
        .order_by("account_name", "id")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for chunk in chunked(items, CHUNK_SIZE):
        history: dict[int, list[dict]] = {}
        for decision in (
            ReviewDecision.objects.filter(item_id__in=[item.pk for item in chunk])
            .select_related("decided_by")
            .order_by("decided_at", "id")
        ):
            history.setdefault(decision.item_id, []).append(
                {
                    "decision": decision.decision,
                    "new_role": decision.new_role,
                    "comment": decision.comment,
                    "decided_by": _user(decision.decided_by),
                    "decided_at": iso_utc(decision.decided_at),
                }
            )
        for item in chunk:
            yield {
                "account_id": item.account_external_id,
                "name": item.account_name,
                "email": item.account_email,
                "link": item.html_url,
                "role": item.role,
                "role_display": roles.display(item.role),
                "teams": item.teams,
                "license": item.license_name,
                "invitation_pending": item.invitation_pending,
                "privileged": item.privileged,
                "findings": item.findings,
                "reviewer": _user(item.reviewer),
                "decision": item.decision or None,
                "new_role": item.new_role or None,
                "new_role_display": roles.display(item.new_role) if item.new_role else None,
                "comment": item.comment,
                "decided_by": _user(item.decided_by),
                "decided_at": iso_utc(item.decided_at),
                "remediation": item.remediation,
                "verified_by_sync_run": item.remediation_run_id,
                "verified_at": iso_utc(item.remediated_at),
                "history": history.get(item.pk, []),
            }


# --- JSON: the canonical form ------------------------------------------------------------


def stream_json(review: AccessReview) -> Iterator[bytes]:
    head = json.dumps(review_record(review), ensure_ascii=False)
    pieces, separator = ['{"review": ' + head + ', "items": ['], "\n"
    for record in iter_items(review):
        pieces.append(separator + json.dumps(record, ensure_ascii=False))
        separator = ",\n"
        if len(pieces) >= ROWS_PER_PIECE:
            yield "".join(pieces).encode()
            pieces = []
    pieces.append("\n]}\n" if separator == ",\n" else "]}\n")
    yield "".join(pieces).encode()


def json_digest(review: AccessReview) -> str:
    digest = hashlib.sha256()
    for piece in stream_json(review):
        digest.update(piece)
    return digest.hexdigest()


def file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


# --- CSV -----------------------------------------------------------------------------------


def _csv_value(key: str, value):
    if key == "history":
        return " | ".join(
            f"{h['decided_at']} {h['decided_by']}: {h['decision']}{' ' + h['new_role'] if h['new_role'] else ''}"
            + (f" ({h['comment']})" if h["comment"] else "")
            for h in value
        )
    return value


def stream_csv(review: AccessReview) -> Iterator[bytes]:
    record = review_record(review)
    review_cells = [
        record["id"], record["name"], record["scope"], record["opened_at"], record["opened_by"],
        record["closed_at"], record["closed_by"],
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*CSV_REVIEW_KEYS, *ITEM_KEYS])
    for count, item in enumerate(iter_items(review), start=1):
        writer.writerow([csv_cell(v) for v in review_cells] + [csv_cell(_csv_value(k, item[k])) for k in ITEM_KEYS])
        if count % ROWS_PER_PIECE == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()


# --- HTML: printable; styles from a static file (the Content-Security-Policy allows no inline style)


def _teams_html(teams: list[dict]):
    if not teams:
        return "-"
    return format_html_join(", ", "{} ({})", ((t["team"], t["role"]) for t in teams))


def _decision_html(item: dict):
    if not item["decision"]:
        return format_html('<span class="undecided">{}</span>', "No decision")
    label = dict(ReviewItem.Decision.choices)[item["decision"]]
    if item["new_role"]:
        return format_html("{} → {}", label, item["new_role_display"])
    return label


def _remediation_html(item: dict):
    label = dict(ReviewItem.Remediation.choices)[item["remediation"]]
    if item["verified_at"]:
        return format_html("{}<br><small>verified {} (sync run {})</small>", label, item["verified_at"], item["verified_by_sync_run"])
    return label


def _row(item: dict) -> str:
    return format_html(
        "<tr{}><td>{}<br><small>{}</small><br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        format_html(' class="{}"', "privileged") if item["privileged"] else "",
        item["name"],
        item["email"],
        item["account_id"],
        format_html(
            "{}{}{}",
            item["role_display"],
            " (privileged)" if item["privileged"] else "",
            format_html("<br><small>findings: {}</small>", "; ".join(item["findings"])) if item["findings"] else "",
        ),
        _teams_html(item["teams"]),
        format_html("{}{}", item["license"] or "-", "; invitation pending" if item["invitation_pending"] else ""),
        _decision_html(item),
        item["reviewer"] or "-",
        format_html("{}<br><small>{}</small>", item["decided_at"] or "-", item["decided_by"] or ""),
        item["comment"] or "-",
        _remediation_html(item),
    )


def stream_html(review: AccessReview, *, now=None) -> Iterator[bytes]:
    digest = json_digest(review)
    record = review_record(review)
    now = now or timezone.now()
    facts = [
        ("Tenant", record["tenant"]),
        ("Application", f"{record['application']} (integration {record['integration']})"),
        ("Scope", record["scope_display"]),
        ("State", review.get_state_display()),
        ("Due date", record["due_date"]),
        ("Opened", f"{record['opened_at']} by {record['opened_by'] or '-'}"),
        ("Closed", f"{record['closed_at']} by {record['closed_by'] or '-'}" if record["closed_at"] else "not closed"),
        ("Report generated", iso_utc(now)),
        ("SHA-256 of the JSON form", digest),
    ]
    yield format_html(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Evidence report: {}</title>"
        '<link rel="stylesheet" href="{}"></head>\n<body class="evidence">\n'
        "<h1>Access review evidence report</h1><h2>{}</h2>\n<dl>{}</dl>\n"
        "<table><thead><tr><th>Account</th><th>Role (frozen)</th><th>Teams (frozen)</th>"
        "<th>License (frozen)</th><th>Decision</th><th>Reviewer</th><th>Decided</th><th>Comment</th>"
        "<th>Remediation</th></tr></thead>\n<tbody>\n",
        review.name,
        static("integrations/evidence.css"),
        review.name,
        format_html_join("", '<div class="fact"><dt>{}</dt><dd>{}</dd></div>', facts),
    ).encode()
    pieces = []
    for item in iter_items(review):
        pieces.append(_row(item))
        if len(pieces) >= ROWS_PER_PIECE:
            yield "".join(pieces).encode()
            pieces = []
    pieces.append(
        "</tbody></table>\n<p class=\"digest\">Verify a saved JSON form: its SHA-256 must be "
        f"<code>{escape(digest)}</code> (<code>sha256sum</code>, or "
        f"<code>python manage.py exportreview --review {review.pk} --verify FILE.json</code>).</p>\n"
        "</body></html>\n"
    )
    yield "".join(pieces).encode()


def stream_report(*, review_id: int, fmt: str) -> Iterator[bytes]:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    review = _load_review(review_id)
    return {"csv": stream_csv, "json": stream_json, "html": stream_html}[fmt](review)


def report_filename(*, review: AccessReview, fmt: str) -> str:
    return f"access-review-{review.pk}-evidence.{fmt}"


def verify_file(*, review_id: int, path) -> tuple[bool, str, str]:
    """(unchanged, the file's SHA-256, the review's JSON form's SHA-256 now)."""
    expected = json_digest(_load_review(review_id))
    actual = file_digest(path)
    return actual == expected, actual, expected
