"""What the PagerDuty integration is, apart from how its API is called (client.py).

The sync runner (integrations/sync.py) drives a connector through three steps: `fetcher`
(network only), `plan` (reads the database, diffs, writes nothing) and `apply` (writes,
inside the runner's transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from integrations.connectors.pagerduty.client import PagerDutyClient
from integrations.connectors.pagerduty.fetch import PagerDutyFetcher, Snapshot
from integrations.connectors.pagerduty.store import SyncPlan, apply_plan, plan_changes


class PagerDutyConnector:
    key = "pagerduty"
    name = "PagerDuty"

    def validate_credentials(self, *, access_token: str, region: str) -> None:
        """One read-only request; raises IntegrationError when PagerDuty refuses the token."""
        PagerDutyClient(token=access_token, region=region).validate_token()

    def fetcher(self, *, integration, progress: Callable[[str], None] | None = None) -> PagerDutyFetcher:
        """Raises TokenUndecryptable before any request when the stored token cannot be read."""
        client = PagerDutyClient(token=integration.access_token, region=integration.region)
        return PagerDutyFetcher(client=client, progress=progress)

    def plan(self, *, integration, snapshot: Snapshot, now: datetime) -> SyncPlan:
        return plan_changes(integration=integration, snapshot=snapshot, now=now)

    def apply(self, *, plan: SyncPlan, run) -> None:
        apply_plan(plan=plan, run=run)
