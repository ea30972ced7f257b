"""The `demo` command behind `make demo`: demo tenant, logins and a synced PagerDuty on the fake."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from integrations.models import Integration, SyncedAccount, Tenant, TenantMembership
from tests.conftest import TOKEN, token_hint

pytestmark = pytest.mark.django_db


def test_demo_sets_up_a_synced_tenant_with_an_admin_and_a_reviewer(fake_pagerduty, settings):
    settings.DEBUG = True
    out = StringIO()

    call_command("demo", token=TOKEN, stdout=out)
    call_command("demo", token=TOKEN, stdout=StringIO())  # again: nothing duplicated

    tenant = Tenant.objects.get(slug="demo")
    assert tenant.name == "Demo"
    roles = dict(TenantMembership.objects.filter(tenant=tenant).values_list("user__username", "role"))
    assert roles == {"demo": "admin", "reviewer": "reviewer"}
    assert get_user_model().objects.get(username="demo").check_password("demo-password")
    integration = Integration.objects.get(tenant=tenant)
    assert integration.owner.username == "demo"
    assert (integration.status, integration.message, token_hint(integration)) == ("connected", "Data available", "••••3f9a")
    assert SyncedAccount.objects.filter(integration=integration).count() == 30
    text = out.getvalue()
    assert f"Demo / PagerDuty #{integration.pk}: 30 added, 0 updated, 0 removed, 0 unchanged" in text
    assert "log in as demo / demo-password" in text
    assert "log in as reviewer / reviewer-password" in text
    assert TOKEN not in text


def test_demo_refuses_to_run_outside_debug(fake_pagerduty, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only with DJANGO_DEBUG=true"):
        call_command("demo", token=TOKEN, stdout=StringIO())
    assert not Tenant.objects.exists()


def test_demo_runs_the_first_sync_once_and_queues_none(fake_pagerduty, settings, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    settings.DEBUG = True
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo", token=TOKEN, stdout=StringIO())

    integration = Integration.objects.get(tenant__slug="demo")
    assert integration.sync_runs.count() == 1
    assert not OrmQ.objects.exists()  # before: a second first sync waited for the cluster
