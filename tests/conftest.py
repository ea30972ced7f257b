"""Shared fixtures: tenants, users with roles, a fake PagerDuty on 127.0.0.1, and an
integration configured against it (`configured_integration`, or `configure` and `sync` to call
with arguments)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations import status
from integrations.models import Integration, Tenant, TenantMembership, ThirdPartyApplication
from integrations.secrets import Secret

TOKEN = "u+PDtestTOKEN-0123456789abcdef3f9a"


@pytest.fixture
def pagerduty_app(db) -> ThirdPartyApplication:
    # get_or_create: transactional tests flush the tables, data migrations' rows included.
    application, _ = ThirdPartyApplication.objects.get_or_create(
        key="pagerduty", defaults={"name": "PagerDuty"}
    )
    return application


@pytest.fixture
def tenant(db) -> Tenant:
    return Tenant.objects.create(name="Acme", slug="acme")


@pytest.fixture
def other_tenant(db) -> Tenant:
    return Tenant.objects.create(name="Globex", slug="globex")


@pytest.fixture
def make_user(db, django_user_model):
    """make_user("ann", tenant=t, role="admin"): a staff user with a membership in `tenant`."""

    def make(username, *, tenant=None, role="admin", superuser=False, password="pw-Secret-123"):
        user = django_user_model.objects.create_user(
            username=username, password=password, is_staff=True, is_superuser=superuser
        )
        tenants = tenant if isinstance(tenant, (list, tuple)) else [tenant] if tenant else []
        for t in tenants:
            TenantMembership.objects.create(user=user, tenant=t, role=role)
        return user

    return make


@pytest.fixture
def tenant_admin(make_user, tenant):
    return make_user("alice", tenant=tenant, role="admin")


@pytest.fixture
def reviewer(make_user, tenant):
    return make_user("rita", tenant=tenant, role="reviewer")


@pytest.fixture
def superuser(make_user):
    return make_user("root", superuser=True)


@pytest.fixture
def integration(tenant, pagerduty_app, tenant_admin) -> Integration:
    """A PagerDuty integration, added but not configured."""
    from integrations.services import add_integration

    return add_integration(
        tenant=tenant, application=pagerduty_app, owner=tenant_admin, description="Production PagerDuty"
    )


@pytest.fixture
def fake_pagerduty(settings):
    """A fake PagerDuty over real HTTP on 127.0.0.1; every integration is pointed at it."""
    from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset

    with FakePagerDuty(generate_dataset(users=30, teams=4, seed=1), token=TOKEN) as fake:
        settings.PAGERDUTY_API_BASE_URL = fake.base_url
        yield fake


def configure(integration: Integration, *, token: str = TOKEN, **fields) -> Integration:
    """`integration` as Configure and Integrate leaves it, without the token check and without
    queueing the first sync: the token and its hint saved, PENDING, awaiting its first sync.

    `fields` sets other columns as well or instead (status=, sync_started_at=, ...).
    """
    fields = {
        "status": Integration.Status.PENDING,
        "message": status.AWAITING_FIRST_SYNC,
        "configuration": {"region": "us"},
        "secrets": {"access_token": Secret(token)},
        "secret_hints": {"access_token": Secret(token).hint},
        "configured_at": timezone.now(),
        **fields,
    }
    Integration.objects.filter(pk=integration.pk).update(**fields)
    integration.refresh_from_db()
    return integration


def saved_token(integration: Integration) -> str:
    """The access token stored for `integration` ("" when none), as the sync would send it."""
    integration.refresh_from_db()
    secret = integration.secrets.get("access_token")
    return secret.reveal() if secret else ""


def token_hint(integration: Integration) -> str:
    integration.refresh_from_db()
    return integration.secret_hints.get("access_token", "")


def saved_region(integration: Integration) -> str | None:
    integration.refresh_from_db()
    return integration.configuration.get("region")


def sync(integration: Integration, **kwargs):
    """One sync of `integration` in this process, as `syncpagerduty` runs it."""
    from integrations.sync import sync_integration

    return sync_integration(integration_id=integration.pk, trigger="command", **kwargs)


@pytest.fixture
def configured_integration(integration, fake_pagerduty) -> Integration:
    """The `integration` fixture configured with the token of `fake_pagerduty`, not synced yet."""
    return configure(integration)
