"""The baseline: the same sync written the way a first script would write it.

    python bench/baseline.py --integration ID   (PAGERDUTY_API_BASE_URL set, bench settings)

One requests session, every page one after another (users, teams, each team's members,
licenses, allocations: the same requests as the engine), then one ORM call per object:
`update_or_create` per team, license, account and membership, each in its own autocommit.
It records no change history and no sync run, and marks nobody removed: less work than
the engine does, so the ratio against it is, if anything, flattering to the baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from integrations.models import Integration, License, SyncedAccount, Team, TeamMembership  # noqa: E402


def fetch_all(session: requests.Session, path: str, key: str, *, paged: bool = True) -> list[dict]:
    items, offset = [], 0
    while True:
        params = {"limit": 100, "offset": offset} if paged else None
        response = session.get(f"{settings.PAGERDUTY_API_BASE_URL}{path}", params=params, timeout=30)
        response.raise_for_status()
        body = response.json()
        items.extend(body[key])
        if not paged or not body.get("more"):
            return items
        offset += 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--integration", type=int, required=True)
    args = parser.parse_args()
    integration = Integration.objects.get(pk=args.integration)

    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Token token={integration.secrets['access_token'].reveal()}", "Accept": "application/vnd.pagerduty+json;version=2"}
    )
    users = fetch_all(session, "/users", "users")
    teams = fetch_all(session, "/teams", "teams")
    members = {team["id"]: fetch_all(session, f"/teams/{team['id']}/members", "members") for team in teams}
    licenses = fetch_all(session, "/licenses", "licenses", paged=False)
    allocations = fetch_all(session, "/license_allocations", "license_allocations")

    now = timezone.now()
    license_by_id = {}
    for lic in licenses:
        license_by_id[lic["id"]], _ = License.objects.update_or_create(
            integration=integration,
            external_id=lic["id"],
            defaults={"name": lic["name"], "description": lic.get("description") or "", "role_group": lic.get("role_group") or ""},
        )
    license_of_user = {a["user"]["id"]: license_by_id.get(a["license"]["id"]) for a in allocations}
    team_by_id = {}
    for team in teams:
        team_by_id[team["id"]], _ = Team.objects.update_or_create(
            integration=integration,
            external_id=team["id"],
            defaults={"name": team["name"], "description": team.get("description") or "", "html_url": team["html_url"], "last_seen_at": now},
            create_defaults={"name": team["name"], "description": team.get("description") or "", "html_url": team["html_url"], "first_seen_at": now, "last_seen_at": now},
        )
    account_by_id = {}
    for user in users:
        fields = {
            "name": user["name"],
            "email": user["email"],
            "role": user["role"],
            "job_title": user.get("job_title") or "",
            "time_zone": user.get("time_zone") or "",
            "invitation_pending": bool(user.get("invitation_sent")),
            "created_via_sso": bool(user.get("created_via_sso")),
            "html_url": user.get("html_url") or "",
            "license": license_of_user.get(user["id"]),
            "last_seen_at": now,
            "removed_at": None,
        }
        account_by_id[user["id"]], _ = SyncedAccount.objects.update_or_create(
            integration=integration, external_id=user["id"], defaults=fields, create_defaults={**fields, "first_seen_at": now}
        )
    for team_id, roster in members.items():
        for member in roster:
            account = account_by_id.get(member["user"]["id"])
            if account is not None:
                TeamMembership.objects.update_or_create(
                    team=team_by_id[team_id], account=account, defaults={"role": member["role"]}
                )
    print(f"baseline: {len(users)} users, {len(teams)} teams synced")


if __name__ == "__main__":
    main()
