"""Scenario 6: a real peer, the same sync written with PagerDuty's own Python client.

    python -m bench.peer --integration ID   (PAGERDUTY_API_BASE_URL set, bench settings)

The `pagerduty` package (PagerDuty's python-pagerduty) used as its documentation shows: one
`RestApiV2Client`, `iter_all` over every listing the engine reads (users, teams, each team's
members, license allocations, who is on call), `iter_cursor` for the audit trail of users
and teams over the same window, and `rget` for the unpaged /licenses, one request after
another as the client makes them, 100 entries a page (the client's default, PagerDuty's maximum). Then Django bulk
writes in one transaction: `bulk_create(update_conflicts=True)` on each table's unique
constraint for licenses, teams, accounts and memberships (an upsert, so a re-run updates),
and the integration's on-call rows replaced. It keeps no change history (the audit trail is
fetched, as the engine fetches it, but attributes nothing), no sync run, and marks nobody
removed: less work than the engine does, so the ratio against it flatters the peer.

The client accepts only an https:// base URL and the fake PagerDuty speaks plain HTTP on
127.0.0.1, so the client keeps https://api.pagerduty.com and an HTTP transport sends its
requests to the fake instead; nothing else about the client is changed.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta, timezone

from bench import report
from bench.process import Measured

Target = report.Target

# The engine reads the audit trail of a first sync from 31 days back (PagerDuty's limit),
# less a margin; the peer asks for the same window.
AUDIT_WINDOW = timedelta(days=31) - timedelta(minutes=5)
BATCH_SIZE = 1000


def measure(bench, *, fake, engine: Measured) -> list[report.Row]:
    """Run the peer against scenario 1's fake and database; rows beside scenario 1's median run."""
    integration = bench.integration("peer")
    argv = ["-m", "bench.peer", "--integration", str(integration.pk)]
    bench.sync(fake, integration, name="peer-warm-up", argv=["-m", "bench.peer", "--help"])  # its imports, cached
    fake.reset_log()
    peer = bench.sync(fake, integration, name="peer", argv=argv)
    peer_requests = fake.request_count
    ratio = peer.seconds / engine.seconds
    scenario = (
        "6. Peer: python-pagerduty's RestApiV2Client.iter_all + Django bulk writes (bulk_create with "
        "update_conflicts, one transaction), the same account as 1, one request after another"
    )
    difference = peer_requests - engine.requests
    requests_note = (
        "the same listings, 100 a page, so the same count" if difference == 0
        else f"the peer makes {abs(difference)} {'more' if difference > 0 else 'fewer'} requests"
    )
    return [
        report.Row(scenario, "requests: peer / engine", f"{peer_requests} / {engine.requests}",
                   Target.at_most(engine.requests, peer_requests, "engine ≤ peer"), note=requests_note),
        report.Row(scenario, "wall time, spawn to exit: peer / engine", f"{peer.seconds:.2f} s / {engine.seconds:.2f} s",
                   note="engine: scenario 1's median run"),
        report.Row(scenario, "SQL queries: peer / engine", f"{peer.queries:,} / {engine.queries:,}",
                   note="Django's default batches on SQLite: 999 variables a statement"
                   if bench.database.vendor == "sqlite" else ""),
        report.Row(scenario, "peak RSS: peer / engine", f"{peer.peak_rss_mb:.0f} MB / {engine.peak_rss_mb:.0f} MB"),
        report.Row(scenario, "engine speed-up: peer wall ÷ engine wall", f"{ratio:.1f}×",
                   Target.at_least(ratio, 10, "≥ 10×")),
    ]


# -- the peer, run as a process of its own ----------------------------------------------------
def fake_transport(base_url: str):
    """An HTTP transport that sends every request to `base_url` (scheme, host and port)."""
    import httpx2

    target = httpx2.URL(base_url)

    class ToFake(httpx2.HTTPTransport):
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
            return super().handle_request(request)

    return ToFake()


def fetch(*, token: str, base_url: str) -> dict:
    from pagerduty import RestApiV2Client

    since = (datetime.now(timezone.utc) - AUDIT_WINDOW).isoformat(timespec="seconds")
    with RestApiV2Client(token, transport=fake_transport(base_url)) as client:
        users = list(client.iter_all("/users"))
        teams = list(client.iter_all("/teams"))
        return {
            "users": users,
            "teams": teams,
            "members": {team["id"]: list(client.iter_all(f"/teams/{team['id']}/members")) for team in teams},
            "licenses": client.rget("/licenses"),
            "allocations": list(client.iter_all("/license_allocations")),
            # iter_cursor, not iter_all: iter_all (7.2.0) hands cursor-paged paths to iter_cursor
            # with a `return` inside its own generator, so it yields nothing and sends no request.
            "audit_records": list(
                client.iter_cursor("/audit/records", params={"since": since, "root_resource_types": ["users", "teams"]})
            ),
            "oncalls": list(client.iter_all("/oncalls")),
        }


def write(*, integration, data: dict) -> None:
    from django.db import transaction
    from django.utils import timezone as django_timezone

    from integrations.models import License, OnCall, SyncedAccount, Team, TeamMembership

    now = django_timezone.now()
    with transaction.atomic():
        licenses = License.objects.bulk_create(
            [
                License(
                    integration=integration,
                    external_id=lic["id"],
                    name=lic["name"],
                    description=lic.get("description") or "",
                    role_group=lic.get("role_group") or "",
                    valid_roles=lic.get("valid_roles") or [],
                )
                for lic in data["licenses"]
            ],
            update_conflicts=True,
            unique_fields=["integration", "external_id"],
            update_fields=["name", "description", "role_group", "valid_roles"],
            batch_size=BATCH_SIZE,
        )
        license_by_id = {lic.external_id: lic for lic in licenses}
        license_of_user = {a["user"]["id"]: license_by_id.get(a["license"]["id"]) for a in data["allocations"]}

        teams = Team.objects.bulk_create(
            [
                Team(
                    integration=integration,
                    external_id=team["id"],
                    name=team["name"],
                    description=team.get("description") or "",
                    html_url=team.get("html_url") or "",
                    first_seen_at=now,
                    last_seen_at=now,
                )
                for team in data["teams"]
            ],
            update_conflicts=True,
            unique_fields=["integration", "external_id"],
            update_fields=["name", "description", "html_url", "last_seen_at", "removed_at"],
            batch_size=BATCH_SIZE,
        )
        team_by_id = {team.external_id: team for team in teams}

        accounts = SyncedAccount.objects.bulk_create(
            [
                SyncedAccount(
                    integration=integration,
                    external_id=user["id"],
                    name=user["name"],
                    email=user["email"],
                    role=user["role"],
                    job_title=user.get("job_title") or "",
                    time_zone=user.get("time_zone") or "",
                    invitation_pending=bool(user.get("invitation_sent")),
                    created_via_sso=bool(user.get("created_via_sso")),
                    html_url=user.get("html_url") or "",
                    license=license_of_user.get(user["id"]),
                    first_seen_at=now,
                )
                for user in data["users"]
            ],
            update_conflicts=True,
            unique_fields=["integration", "external_id"],
            update_fields=[
                "name", "email", "role", "job_title", "time_zone", "invitation_pending", "created_via_sso",
                "html_url", "license", "last_seen_at", "removed_at",
            ],
            batch_size=BATCH_SIZE,
        )
        account_by_id = {account.external_id: account for account in accounts}

        TeamMembership.objects.bulk_create(
            [
                TeamMembership(team=team_by_id[team_id], account=account_by_id[member["user"]["id"]], role=member["role"])
                for team_id, roster in data["members"].items()
                for member in roster
                if member["user"]["id"] in account_by_id
            ],
            update_conflicts=True,
            unique_fields=["team", "account"],
            update_fields=["role"],
            batch_size=BATCH_SIZE,
        )

        OnCall.objects.filter(integration=integration).delete()
        OnCall.objects.bulk_create(
            [
                OnCall(
                    integration=integration,
                    account=account_by_id[entry["user"]["id"]],
                    policy_id=entry["escalation_policy"]["id"],
                    policy_name=entry["escalation_policy"].get("summary") or entry["escalation_policy"]["id"],
                    policy_url=entry["escalation_policy"].get("html_url") or "",
                    level=entry["escalation_level"],
                    schedule_name=(entry.get("schedule") or {}).get("summary") or "",
                    on_call_now=entry.get("start") is None or datetime.fromisoformat(entry["start"]) <= now,
                    starts_at=entry.get("start"),
                    ends_at=entry.get("end"),
                )
                for entry in data["oncalls"]
                if entry["user"]["id"] in account_by_id
            ],
            batch_size=BATCH_SIZE,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n")[0])
    parser.add_argument("--integration", type=int, required=True)
    import pagerduty  # noqa: F401  (before --help exits: the bench's warm-up run caches its imports)

    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings

    from integrations.models import Integration

    integration = Integration.objects.get(pk=args.integration)
    data = fetch(token=integration.secrets["access_token"].reveal(), base_url=settings.PAGERDUTY_API_BASE_URL)
    write(integration=integration, data=data)
    print(
        f"peer: {len(data['users'])} users, {len(data['teams'])} teams, {len(data['allocations'])} allocations, "
        f"{len(data['audit_records'])} audit records, {len(data['oncalls'])} on-call entries synced"
    )


if __name__ == "__main__":
    sys.exit(main())
