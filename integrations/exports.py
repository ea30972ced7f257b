"""The synced-accounts export, shared by the admin action and `exportaccounts`.

Rows are streamed: accounts are read with `.iterator(chunk_size=...)` and the team
memberships of each chunk in one query, so memory stays flat at 100,000 accounts and the
first bytes leave before the last account is read.

Values, the same in CSV and JSON:
- `integration` is the integration's id: stable, and what an auditor joins on.
- datetimes are ISO 8601 in UTC (`2025-03-01T02:00:00Z`); absent ones are empty (CSV) / null.
- `teams` is a list of {team, role}; in CSV `team:role` pairs joined by `;` (a team name
  holding `:` or `;` is written as it is: JSON is the unambiguous form).
- `license` is the license's name; `status` is `active` or `removed`.
- `findings` is the list of the account's finding names (integrations/findings.py); in CSV
  joined by `;`.
- booleans are `true`/`false`.
CSV cells that a spreadsheet would run as a formula are neutralised (prefixed with `'`);
JSON keeps every value exactly as PagerDuty sent it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from integrations import findings
from integrations.batching import chunked
from integrations.connectors.registry import get_connector
from integrations.models import SyncedAccount, TeamMembership, last_seen_time

EXPORT_KEYS: tuple[str, ...] = (
    "integration",
    "pagerduty_id",
    "name",
    "email",
    "role",
    "role_display",
    "job_title",
    "time_zone",
    "invitation_pending",
    "created_via_sso",
    "teams",
    "license",
    "status",
    "first_seen",
    "last_seen",
    "removed_at",
    "findings",
)
FORMATS = ("csv", "json")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}

CHUNK_SIZE = 2000
# Rows handed out together: few enough to stream, enough to keep per-write overhead low.
ROWS_PER_PIECE = 200
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# What one account's row needs, read as plain values.
ACCOUNT_COLUMNS = (
    "id",
    "integration_id",
    "external_id",
    "name",
    "email",
    "role",
    "job_title",
    "time_zone",
    "invitation_pending",
    "created_via_sso",
    "license_id",
    "license__name",
    "license__role_group",
    "first_seen_at",
    "last_seen_at",
    "removed_at",
    "integration__last_synced_at",  # the last seen time of an account still in view
    "integration__tenant__email_domains",  # whose email is outside the tenant's domains
    "integration__application__key",  # whose role names
)


def iso_utc(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def iter_records(queryset: QuerySet[SyncedAccount]) -> Iterator[dict]:
    """One dict per account of `queryset`, in its order, with EXPORT_KEYS.

    Plain rows rather than model instances: building 100,000 accounts, their memberships and
    their teams as objects (what prefetch_related does) made the export ten times slower.
    The teams of each chunk of accounts come in one more query, so memory stays flat; the
    license part of the findings' scope in one query before the first row.
    """
    scope = findings.scope_for_accounts(queryset)
    rows = (
        queryset.select_related(None)
        .prefetch_related(None)
        .values_list(*ACCOUNT_COLUMNS, named=True)
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for chunk in chunked(rows, CHUNK_SIZE):
        teams = _teams_of(account_ids=[row.id for row in chunk])
        for row in chunk:
            yield account_record(row, teams=teams.get(row.id, []), scope=scope)


def account_record(row, *, teams: list[dict], scope: findings.FindingScope) -> dict:
    return {
        "integration": row.integration_id,
        "pagerduty_id": row.external_id,
        "name": row.name,
        "email": row.email,
        "role": row.role,
        "role_display": get_connector(row.integration__application__key).roles.display(row.role),
        "job_title": row.job_title,
        "time_zone": row.time_zone,
        "invitation_pending": row.invitation_pending,
        "created_via_sso": row.created_via_sso,
        "teams": teams,
        "license": row.license__name,
        "status": "active" if row.removed_at is None else "removed",
        "first_seen": iso_utc(row.first_seen_at),
        "last_seen": iso_utc(
            last_seen_time(
                last_seen_at=row.last_seen_at,
                removed_at=row.removed_at,
                last_synced_at=row.integration__last_synced_at,
            )
        ),
        "removed_at": iso_utc(row.removed_at),
        "findings": _findings(row, scope),
    }


def _findings(row, scope: findings.FindingScope) -> list[str]:
    findings.add_domains(scope, integration_id=row.integration_id, email_domains=row.integration__tenant__email_domains)
    return findings.findings_of(
            scope=scope,
            integration_id=row.integration_id,
            email=row.email,
            role=row.role,
            invitation_pending=row.invitation_pending,
            has_license=row.license_id is not None,
            license_role_group=row.license__role_group,
            removed=row.removed_at is not None,
        )


def _teams_of(*, account_ids: list[int]) -> dict[int, list[dict]]:
    teams: dict[int, list[dict]] = {}
    memberships = (
        TeamMembership.objects.filter(account_id__in=account_ids)
        .order_by("account_id", "team__name", "team_id")
        .values_list("account_id", "team__name", "role")
    )
    for account_id, team, role in memberships:
        teams.setdefault(account_id, []).append({"team": team, "role": role})
    return teams


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = ";".join(f"{item['team']}:{item['role']}" if isinstance(item, dict) else item for item in value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def stream_csv(records: Iterable[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_KEYS)
    for count, record in enumerate(records, start=1):
        writer.writerow([csv_cell(record[key]) for key in EXPORT_KEYS])
        if count % ROWS_PER_PIECE == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def stream_json(records: Iterable[dict]) -> Iterator[str]:
    """A JSON array, one account object per line."""
    pieces, separator = ["["], "\n"
    for record in records:
        pieces.append(separator + json.dumps(record, ensure_ascii=False))
        separator = ",\n"
        if len(pieces) >= ROWS_PER_PIECE:
            yield "".join(pieces)
            pieces = []
    pieces.append("\n]\n" if separator == ",\n" else "]\n")
    yield "".join(pieces)


def stream_export(*, queryset: QuerySet[SyncedAccount], fmt: str) -> Iterator[str]:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    records = iter_records(queryset)
    return stream_csv(records) if fmt == "csv" else stream_json(records)


def export_filename(*, fmt: str, now: dt.datetime) -> str:
    return f"pagerduty-accounts-{now.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}.{fmt}"


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
