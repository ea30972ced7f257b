"""Sync history in the admin: tenant admins (and reviewers, tests/admin/test_freshness.py) see their runs
read-only; django-q2 pages are for superusers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.models import Integration, SyncRun
from integrations.services import add_integration

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/integrations/syncrun/"


def make_run(integration: Integration, *, minutes_ago: int, **fields) -> SyncRun:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    defaults = {
        "trigger": SyncRun.Trigger.SCHEDULE,
        "started_at": started,
        "finished_at": started + timedelta(seconds=12.5),
        "outcome": SyncRun.Outcome.SUCCESS,
        "accounts_fetched": 30,
        "accounts_added": 3,
        "accounts_updated": 2,
        "accounts_removed": 1,
        "accounts_unchanged": 24,
        "requests": 17,
        "retries": 4,
    }
    defaults.update(fields)
    return SyncRun.objects.create(integration=integration, **defaults)


@pytest.fixture
def other_integration(other_tenant, pagerduty_app, make_user):
    owner = make_user("oscar", tenant=other_tenant, role="admin")
    return add_integration(
        tenant=other_tenant, application=pagerduty_app, owner=owner, description="Globex on-call"
    )


def result_rows(response) -> list[SyncRun]:
    return list(response.context["cl"].result_list)


def test_tenant_admin_sees_own_runs_newest_first_with_every_column(
    client, tenant_admin, integration, other_integration
):
    old = make_run(integration, minutes_ago=60, trigger=SyncRun.Trigger.CONFIGURE)
    new = make_run(
        integration, minutes_ago=5, outcome=SyncRun.Outcome.FAILED, message="PagerDuty rejected the access token (401)"
    )
    make_run(other_integration, minutes_ago=1)
    client.force_login(tenant_admin)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert result_rows(response) == [new, old]
    page = response.content.decode()
    # Compact: the counts share two columns, each figure named on hover.
    for header in ("Started", "Integration", "Trigger", "Duration", "Outcome", "Accounts (+ − ~)", "Requests", "Message"):
        assert f">{header}<" in page, header
    assert 'title="30 fetched, 3 added, 1 removed, 2 updated, 24 unchanged"' in page and "17 <span" in page
    assert "12.5 s" in page
    assert "First sync after configuration" in page
    assert 'sync-outcome-failed' in page and ">Failed</span>" in page
    assert "PagerDuty rejected the access token (401)" in page
    assert "Globex" not in page


def test_another_tenants_run_is_not_found(client, tenant_admin, other_integration):
    foreign = make_run(other_integration, minutes_ago=1)
    client.force_login(tenant_admin)

    response = client.get(reverse("admin:integrations_syncrun_change", args=[foreign.pk]))

    assert response.status_code == 404
    assert "Globex" not in response.content.decode()


def test_runs_are_read_only_even_for_superusers(client, superuser, integration):
    run = make_run(integration, minutes_ago=1)
    client.force_login(superuser)

    detail = client.get(reverse("admin:integrations_syncrun_change", args=[run.pk]))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert 'name="_save"' not in page
    assert "deletelink" not in page
    assert client.get(reverse("admin:integrations_syncrun_add")).status_code == 403
    assert client.get(reverse("admin:integrations_syncrun_delete", args=[run.pk])).status_code == 403
    assert client.post(reverse("admin:integrations_syncrun_change", args=[run.pk]), {"message": "x"}).status_code == 403
    changelist = client.get(CHANGELIST)
    assert "delete_selected" not in changelist.content.decode()
    run.refresh_from_db()
    assert run.message == ""


def test_superuser_sees_every_tenant_with_a_tenant_column(client, superuser, integration, other_integration):
    mine = make_run(integration, minutes_ago=2)
    theirs = make_run(other_integration, minutes_ago=1)
    client.force_login(superuser)

    response = client.get(CHANGELIST)

    assert result_rows(response) == [theirs, mine]
    page = response.content.decode()
    assert ">Tenant</a>" in page and "Globex" in page and "Acme" in page


def test_integration_filter_offers_only_visible_tenants_integrations(
    client, tenant_admin, integration, other_integration
):
    second = add_integration(
        tenant=integration.tenant, application=integration.application, description="Staging PagerDuty"
    )
    kept = make_run(second, minutes_ago=1)
    make_run(integration, minutes_ago=2)
    foreign = make_run(other_integration, minutes_ago=3)
    client.force_login(tenant_admin)

    unfiltered = client.get(CHANGELIST).content.decode()
    assert "Staging PagerDuty" in unfiltered and "Production PagerDuty" in unfiltered
    assert "Globex on-call" not in unfiltered

    filtered = client.get(CHANGELIST, {"integration": second.pk})
    assert result_rows(filtered) == [kept]
    # Naming another tenant's integration by id shows nothing of it.
    assert result_rows(client.get(CHANGELIST, {"integration": other_integration.pk})) == []
    assert foreign.pk not in [r.pk for r in result_rows(client.get(CHANGELIST))]


def test_outcome_and_trigger_filters(client, tenant_admin, integration):
    failed = make_run(integration, minutes_ago=1, outcome=SyncRun.Outcome.FAILED, trigger=SyncRun.Trigger.ADMIN)
    make_run(integration, minutes_ago=2)
    client.force_login(tenant_admin)

    assert result_rows(client.get(CHANGELIST, {"outcome__exact": "failed"})) == [failed]
    assert result_rows(client.get(CHANGELIST, {"trigger__exact": "admin"})) == [failed]


def test_pagerduty_strings_are_escaped(client, tenant_admin, integration):
    integration.description = "<b>bold</b>"
    integration.save()
    make_run(integration, minutes_ago=1, message="<script>alert(1)</script>")
    client.force_login(tenant_admin)

    page = client.get(CHANGELIST).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page


def test_running_run_shows_no_duration(client, tenant_admin, integration):
    make_run(integration, minutes_ago=1, finished_at=None, outcome=SyncRun.Outcome.RUNNING)
    client.force_login(tenant_admin)

    page = client.get(CHANGELIST).content.decode()

    assert ">Running</span>" in page
    assert 'class="field-duration">–<' in page


def test_changelist_queries_do_not_grow_with_runs(client, tenant_admin, integration, django_assert_num_queries):
    second = add_integration(tenant=integration.tenant, application=integration.application, description="Second")
    client.force_login(tenant_admin)
    make_run(integration, minutes_ago=1)
    with CaptureQueriesContext(connection) as one_run:
        assert client.get(CHANGELIST).status_code == 200
    # The page's own reads of runs: one count and one page of rows with their integrations.
    run_queries = [q["sql"] for q in one_run.captured_queries if 'FROM "integrations_syncrun"' in q["sql"]]
    assert len(run_queries) == 2
    for minute in range(2, 32):
        make_run(integration if minute % 2 else second, minutes_ago=minute)

    # Everything else on the page (session, tenancy, sidebar, filter choices) is fixed too.
    with django_assert_num_queries(len(one_run)):
        response = client.get(CHANGELIST)

    assert len(result_rows(response)) == 31


DJANGO_Q_PAGES = ["schedule", "ormq", "success", "failure"]


@pytest.mark.parametrize("model", DJANGO_Q_PAGES)
def test_tenant_admins_cannot_open_django_q_pages(client, tenant_admin, model):
    client.force_login(tenant_admin)

    assert client.get(f"/admin/django_q/{model}/").status_code == 403


def test_django_q_section_is_hidden_from_tenant_admins_and_shown_to_superusers(client, tenant_admin, superuser):
    client.force_login(tenant_admin)
    assert client.get("/admin/django_q/").status_code == 404
    assert "/admin/django_q/" not in client.get("/admin/").content.decode()

    client.force_login(superuser)
    index = client.get("/admin/").content.decode()
    assert "Task queue" in index
    for model in DJANGO_Q_PAGES:
        assert client.get(f"/admin/django_q/{model}/").status_code == 200
