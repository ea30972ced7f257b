"""What the PagerDuty integration is, apart from how its API is called (client.py)."""

from integrations.connectors.pagerduty.client import PagerDutyClient


class PagerDutyConnector:
    key = "pagerduty"
    name = "PagerDuty"

    def validate_credentials(self, *, access_token: str, region: str) -> None:
        """One read-only request; raises IntegrationError when PagerDuty refuses the token."""
        PagerDutyClient(token=access_token, region=region).validate_token()
