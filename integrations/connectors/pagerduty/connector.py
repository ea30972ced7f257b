"""What the PagerDuty integration is, apart from how its API is called (client.py, fetch.py)."""

from __future__ import annotations

from datetime import datetime

from integrations.connectors.base import ConfigField, Configuration, Connector, Progress
from integrations.connectors.pagerduty.client import REGION_BASE_URLS, PagerDutyClient
from integrations.connectors.pagerduty.fetch import PagerDutyFetcher
from integrations.connectors.pagerduty.roles import ROLES

ACCESS_TOKEN_HELP = (
    "A read-only API key is required. In PagerDuty, log in as an admin or owner, go to "
    "Integrations > Developer Tools > API Access Keys, click Create New API Key, enter a "
    "description and check Read-only API Key. Preferably create it for a dedicated service "
    "account rather than a person's account."
)
REGION_HELP = "Where your PagerDuty account is hosted: EU if you sign in at your-subdomain.eu.pagerduty.com."


class PagerDutyConnector(Connector):
    key = "pagerduty"
    name = "PagerDuty"
    configuration_fields = (
        ConfigField("access_token", "Access Token", ACCESS_TOKEN_HELP, secret=True),
        ConfigField(
            "region",
            "Service Region",
            REGION_HELP,
            choices=tuple((region, region.upper()) for region in REGION_BASE_URLS),
            default="us",
        ),
    )
    roles = ROLES
    lesser_license_groups = frozenset({"Stakeholder"})

    @staticmethod
    def _client(configuration: Configuration) -> PagerDutyClient:
        return PagerDutyClient(token=configuration.secret("access_token"), region=configuration["region"])

    def validate_credentials(self, *, configuration: Configuration) -> None:
        """One read-only request; raises IntegrationError when PagerDuty refuses the token."""
        self._client(configuration).validate_token()

    def fetcher(
        self, *, configuration: Configuration, progress: Progress | None = None, since: datetime | None = None
    ) -> PagerDutyFetcher:
        return PagerDutyFetcher(client=self._client(configuration), progress=progress, since=since)
