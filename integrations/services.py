"""Writes to integrations: every entry point (admin, commands, tasks) goes through these."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from integrations import status
from integrations.connectors.registry import get_connector
from integrations.models import Integration, Tenant, TenantMembership, ThirdPartyApplication


def validate_owner(*, tenant: Tenant, owner) -> None:
    if owner is None:
        return
    if not TenantMembership.objects.filter(tenant=tenant, user=owner).exists():
        raise ValidationError(
            {"owner": f"{owner} is not a member of tenant {tenant}; the owner must belong to it."}
        )


def add_integration(
    *,
    tenant: Tenant,
    application: ThirdPartyApplication,
    owner=None,
    description: str = "",
) -> Integration:
    """Add an application to a tenant; it starts Not configured until a token is saved."""
    get_connector(application.key)  # an application with no connector cannot be added
    validate_owner(tenant=tenant, owner=owner)
    return Integration.objects.create(
        tenant=tenant,
        application=application,
        owner=owner,
        description=description.strip(),
        status=Integration.Status.NOT_CONFIGURED,
        message=status.NOT_CONFIGURED,
    )


def update_integration(*, integration: Integration, owner=None, description: str = "") -> Integration:
    """Change what the change page may change: the owner (a member of its tenant) and description."""
    validate_owner(tenant=integration.tenant, owner=owner)
    integration.owner = owner
    integration.description = description.strip()
    integration.save(update_fields=["owner", "description", "updated_at"])
    return integration


def token_hint(token: str) -> str:
    return f"••••{token[-4:]}" if len(token) > 4 else "••••"


def configure_integration(*, integration: Integration, access_token: str, region: str) -> Integration:
    """Validate the token with the application, then save it and queue the first sync.

    Raises IntegrationError when the application refuses the token; then nothing is saved.
    """
    access_token = validate_configuration(
        application=integration.application, access_token=access_token, region=region
    )
    return save_configuration(integration=integration, access_token=access_token, region=region)


def validate_configuration(*, application: ThirdPartyApplication, access_token: str, region: str) -> str:
    """Check a token with the application (one read-only request); return it cleaned.

    Writes nothing, so callers can check before opening a transaction (`addintegration`
    creates its tenant and integration only for an accepted token, without holding a
    transaction open across the request).
    """
    access_token = access_token.strip()
    if not access_token:
        raise ValidationError({"access_token": "Enter the access token."})
    if region not in Integration.Region.values:
        raise ValidationError({"region": f"Unknown service region {region!r}."})
    get_connector(application.key).validate_credentials(access_token=access_token, region=region)
    return access_token


def save_configuration(*, integration: Integration, access_token: str, region: str) -> Integration:
    """Store a token that validate_configuration accepted, and queue the first sync."""
    with transaction.atomic():
        integration = Integration.objects.select_for_update().get(pk=integration.pk)
        integration.access_token = access_token
        integration.token_hint = token_hint(access_token)
        integration.region = region
        if integration.status != Integration.Status.SYNCING:
            integration.status = Integration.Status.PENDING
            integration.message = status.AWAITING_FIRST_SYNC
        integration.save()
        transaction.on_commit(lambda: _queue_first_sync(integration.pk))
    return integration


def _queue_first_sync(integration_id: int) -> None:
    from integrations.tasks import queue_sync  # late: tasks import the sync machinery

    queue_sync(integration_id=integration_id, trigger="configure")
