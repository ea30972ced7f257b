"""Access review fixtures: review data of one tenant, users with emails, a client per user."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import Integration
from integrations.reviews import services
from tests.factories import make_review_data


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def data(tenant, tenant_admin):
    data = make_review_data(tenant=tenant)
    Integration.objects.filter(pk=data.integration.pk).update(owner=tenant_admin)
    data.integration.refresh_from_db()
    return data


@pytest.fixture
def alice(tenant_admin):
    tenant_admin.email = "alice@acme.test"
    tenant_admin.save()
    return tenant_admin


@pytest.fixture
def rita(reviewer):
    reviewer.email = "rita@acme.test"
    reviewer.save()
    return reviewer


def due(days: int = 14) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def start(data, *, by, reviewers=(), scope="all", **kwargs):
    return services.open_review(
        integration=data.integration if hasattr(data, "integration") else data,
        name=kwargs.pop("name", "Q3 access"),
        scope=scope,
        due_date=kwargs.pop("due_date", due()),
        opened_by=by,
        reviewers=list(reviewers),
        **kwargs,
    )
