"""What these tests share: an integration configured against a fake PagerDuty, and a sync."""

from __future__ import annotations

from integrations.models import Integration, SyncedAccount, ThirdPartyApplication
from integrations.services import add_integration
from integrations.sync import sync_integration
from tests.conftest import configure


def configured_integration(tenant, description: str = "Production PagerDuty") -> Integration:
    """As Configure and Integrate leaves it, without queueing the first sync."""
    application, _ = ThirdPartyApplication.objects.get_or_create(key="pagerduty", defaults={"name": "PagerDuty"})
    return configure(add_integration(tenant=tenant, application=application, description=description))


def sync(integration: Integration):
    return sync_integration(integration_id=integration.pk, trigger="command")


def active_ids(integration: Integration) -> set[str]:
    return set(
        SyncedAccount.objects.filter(integration=integration, removed_at__isnull=True).values_list("external_id", flat=True)
    )


def removed_ids(integration: Integration) -> set[str]:
    return set(
        SyncedAccount.objects.filter(integration=integration, removed_at__isnull=False).values_list("external_id", flat=True)
    )
