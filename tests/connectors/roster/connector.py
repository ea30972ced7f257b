"""The Roster connector: one secret (API key), one plain setting (workspace), its own roles."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from integrations.connectors.base import ConfigField, Configuration, Connector, Progress, RoleCatalogue, Snapshot
from integrations.connectors.errors import TokenRejected, Unreachable, UnexpectedResponse

ROLES = RoleCatalogue(
    display_names={"boss": "Boss", "staff": "Staff"},
    privileged=frozenset({"boss"}),
    team_roles=("lead", "member"),
    privileged_team_roles=frozenset({"lead"}),
)


class RosterFetcher:
    def __init__(self, *, configuration: Configuration):
        self._key = configuration.secret("api_key")
        self._key.reveal()  # an undecryptable key stops here, before any request
        base_url = getattr(settings, "ROSTER_BASE_URL", "https://roster.example/api")
        self._url = f"{base_url}/{configuration['workspace']}"
        self.requests = 0
        self.retries = 0

    def get(self, path: str) -> Any:
        self.requests += 1
        try:
            response = requests.get(
                f"{self._url}{path}",
                headers={"Authorization": f"Bearer {self._key.reveal()}"},
                timeout=5,
                allow_redirects=False,
            )
        except requests.RequestException:
            raise Unreachable("Roster unreachable") from None
        if response.status_code == 401:
            raise TokenRejected("token rejected: Roster refused the API key (401)")
        if response.status_code != 200:
            raise UnexpectedResponse(f"unexpected response: Roster answered {response.status_code} to {path}")
        return response.json()

    def fetch(self) -> Snapshot:
        body = self.get("/people")
        users = {
            person["id"]: {
                "name": person["name"],
                "email": person["email"],
                "role": person["role"],
                "job_title": "",
                "time_zone": "",
                "invitation_pending": False,
                "created_via_sso": False,
                "html_url": f"https://roster.example/people/{person['id']}",
            }
            for person in body["people"]
        }
        teams = {
            group["id"]: {"name": group["name"], "description": "", "html_url": ""} for group in body["groups"]
        }
        members = {group["id"]: dict(group["members"]) for group in body["groups"]}
        return Snapshot(users=users, teams=teams, members=members)


class RosterConnector(Connector):
    key = "roster"
    name = "Roster"
    configuration_fields = (
        ConfigField("api_key", "API Key", "Roster's read-only API key.", secret=True),
        ConfigField("workspace", "Workspace", "The workspace's short name."),
    )
    roles = ROLES

    def validate_credentials(self, *, configuration: Configuration) -> None:
        RosterFetcher(configuration=configuration).get("/people")

    def fetcher(self, *, configuration: Configuration, progress: Progress | None = None, since=None) -> RosterFetcher:
        return RosterFetcher(configuration=configuration)
