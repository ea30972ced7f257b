"""Writes to integrations: every entry point (admin, commands, tasks) goes through these."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from integrations import status
from integrations.connectors.base import Configuration
from integrations.connectors.registry import get_connector
from integrations.models import Integration, Tenant, TenantMembership, ThirdPartyApplication
from integrations.secrets import Secret
from integrations.tasks import queue_sync


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


def configure_integration(
    *, integration: Integration, values: Mapping[str, str | Secret], queue_first_sync: bool = True
) -> Integration:
    """Validate a configuration with the application, then save it and queue the first sync.

    Raises IntegrationError when the application refuses it; then nothing is saved.
    """
    configuration = validate_configuration(
        application=integration.application, values=values, current=integration
    )
    return save_configuration(
        integration=integration, configuration=configuration, queue_first_sync=queue_first_sync
    )


def validate_configuration(
    *,
    application: ThirdPartyApplication,
    values: Mapping[str, str | Secret],
    current: Integration | None = None,
) -> Configuration:
    """Check a configuration with the application (one read-only request); return it cleaned.

    `values` holds the connector's configuration fields by name. A secret left empty keeps
    the one `current` has saved (and is checked again); plain values left empty keep theirs,
    else take the field's default. Writes nothing, so callers can check before opening a
    transaction (`addintegration` creates its tenant and integration only for an accepted
    configuration, without holding a transaction open across the request).
    """
    connector = get_connector(application.key)
    plain: dict[str, str] = {}
    secrets: dict[str, Secret] = {}
    errors: dict[str, str] = {}
    for field in connector.configuration_fields:
        value = values.get(field.name)
        if isinstance(value, str):
            value = value.strip()
        if field.secret:
            if isinstance(value, str):
                value = Secret(value)
            if not value and current is not None:
                value = current.secrets.get(field.name)
            if not value:
                errors[field.name] = f"Enter the {field.label.lower()}."
                continue
            secrets[field.name] = value
        else:
            value = value or (current.configuration.get(field.name) if current else "") or field.default
            if field.choices and value not in dict(field.choices):
                errors[field.name] = f"Unknown {field.label.lower()} {value!r}."
                continue
            plain[field.name] = value
    if errors:
        raise ValidationError(errors)
    configuration = Configuration(values=plain, secrets=secrets)
    connector.validate_credentials(configuration=configuration)
    return configuration


def save_configuration(
    *, integration: Integration, configuration: Configuration, queue_first_sync: bool = True
) -> Integration:
    """Store a configuration that validate_configuration accepted, and queue the first sync
    (unless the caller runs it itself, as `demo` does)."""
    with transaction.atomic():
        integration = Integration.objects.select_for_update().get(pk=integration.pk)
        integration.configuration = dict(configuration.values)
        integration.secrets = dict(configuration.secrets)
        integration.secret_hints = {name: secret.hint for name, secret in configuration.secrets.items()}
        integration.configured_at = timezone.now()
        if integration.status != Integration.Status.SYNCING:
            integration.status = Integration.Status.PENDING
            integration.message = status.AWAITING_FIRST_SYNC
        integration.save()
        if queue_first_sync:
            transaction.on_commit(lambda: queue_sync(integration_id=integration.pk, trigger="configure"))
    return integration


def request_sync(*, integration: Integration, trigger: str = "admin") -> bool:
    """Sync now: queue a sync of a configured integration and show it as Queued at once
    (unless a sync already runs, which then keeps its Syncing). False when not configured."""
    if not integration.is_configured:
        return False
    # Queued first, then the task: a worker quick to take it sets Syncing after this. A running
    # sync holds sync_started_at: it keeps its Syncing and live progress.
    Integration.objects.filter(pk=integration.pk, sync_started_at__isnull=True).update(
        status=Integration.Status.QUEUED, message=status.QUEUED, error_kind="", progress=""
    )
    queue_sync(integration_id=integration.pk, trigger=trigger)
    integration.refresh_from_db(fields=["status", "message", "progress"])
    return True
