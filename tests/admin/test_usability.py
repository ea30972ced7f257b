"""An admin people are glad to use: no link to a page its viewer may not open, a 403 page with
the admin's header, empty pages that say the next step, one date format, the summary's counts,
Sync now (a POST that shows Queued at once), the next step after every Error, live progress."""

from __future__ import annotations

import datetime as dt
import html
import re
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django_q.models import OrmQ

from integrations import status
from integrations.connectors import errors
from integrations.models import Integration, SyncRun
from integrations.selectors import account_summary
from tests.conftest import configure, sync
from tests.factories import make_integration, make_review_data

LIST = "/admin/integrations/integration/"


def change_url(integration) -> str:
    return reverse("admin:integrations_integration_change", args=[integration.pk])


def sync_now_url(integration) -> str:
    return reverse("admin:integrations_integration_sync_now", args=[integration.pk])


def progress_url(integration) -> str:
    return reverse("admin:integrations_integration_progress", args=[integration.pk])


def text(response) -> str:
    return html.unescape(response.content.decode())


def admin_links(page: str) -> set[str]:
    return {href for href in re.findall(r'href="(/admin/[^"#]*)"', page) if "logout" not in href}


@pytest.fixture
def alice(client, tenant_admin):
    client.force_login(tenant_admin)
    return client


@pytest.fixture
def rita(client, reviewer):
    client.force_login(reviewer)
    return client


# --- 5. No link to a page its viewer may not open; a 403 page with the admin header ---------


def test_a_tenant_admin_opens_every_link_of_an_integrations_page(alice, integration):
    configure(integration)
    page = text(alice.get(change_url(integration)))

    assert "/admin/integrations/tenant/" not in page and "/admin/integrations/thirdpartyapplication/" not in page
    links = admin_links(page)
    assert links  # the page has links: breadcrumbs, Configure and Integrate, Sync history
    forbidden = [url for url in sorted(links) if alice.get(html.unescape(url)).status_code == 403]
    assert forbidden == []


def test_the_403_page_keeps_the_admin_header(alice):
    response = alice.get("/admin/auth/user/")  # users are the operators' business

    assert response.status_code == 403
    page = text(response)
    assert "Not allowed" in page
    assert 'id="logout-form"' in page  # Log out
    assert 'id="current-tenant"' in page and "Acme" in page  # the tenant in the header
    assert 'id="site-name"' in page


def test_the_403_page_says_not_allowed_once(alice):
    # The admin's base template prints the title as the page's heading: one, not two.
    page = text(alice.get("/admin/auth/user/"))

    assert re.findall(r"<h1[^>]*>[^<]*</h1>", page) == ["<h1>Not allowed</h1>"]


# --- 6. Empty states say the next step -------------------------------------------------------


def test_a_new_tenant_admins_home_says_add_integration(alice):
    page = text(alice.get("/admin/"))

    state = page[page.index('id="empty-state"'):]
    assert "No integration yet." in state
    assert f'<a href="{reverse("admin:integrations_integration_add")}">Add Integration</a>' in state


def test_an_empty_third_party_applications_list_says_add_integration(alice):
    page = text(alice.get(LIST))

    assert 'id="integrations-empty"' in page
    assert f'<a href="{reverse("admin:integrations_integration_add")}">Add Integration</a>' in page
    assert 'id="result_list"' not in page


def test_a_reviewers_empty_accounts_list_says_the_first_sync_is_running(rita, integration):
    configure(integration, status=Integration.Status.SYNCING)
    page = text(rita.get("/admin/integrations/syncedaccount/"))

    assert "The first sync is running." in page[page.index('id="empty-state"'):]


def test_a_reviewers_empty_list_before_configuration_names_who_acts(rita, integration):
    page = text(rita.get("/admin/integrations/syncedaccount/"))

    state = page[page.index('id="empty-state"'):]
    assert "A tenant admin must Configure and Integrate it" in state


# --- 7. One date format with the time zone; names and titles --------------------------------


def test_every_date_reads_the_same_with_its_time_zone(alice, integration):
    from integrations.admin.html import when

    moment = dt.datetime(2026, 11, 29, 21, 13, 8, 486295, tzinfo=dt.timezone.utc)
    configure(integration, last_synced_at=moment)
    Integration.objects.filter(pk=integration.pk).update(status=Integration.Status.CONNECTED)
    SyncRun.objects.create(integration=integration, trigger="admin", started_at=moment, finished_at=moment, outcome="success")

    assert when(moment) == "2026-11-29 21:13 UTC"
    change_page = text(alice.get(change_url(integration)))
    run = SyncRun.objects.get()
    run_page = text(alice.get(reverse("admin:integrations_syncrun_change", args=[run.pk])))
    for page in (change_page, run_page, text(alice.get(LIST))):
        assert "21:13:08" not in page and "486295" not in page and "+00:00" not in page
    assert "2026-11-29 21:13 UTC" in change_page
    assert "2026-11-29 21:13 UTC" in run_page  # Django's own rendering, through the formats module
    assert "Nov. 29, 2026" not in run_page


def test_titles_name_what_the_page_shows(alice, tenant):
    data = make_review_data(tenant=tenant)

    assert "<h1>Synced accounts</h1>" in text(alice.get("/admin/integrations/syncedaccount/"))
    assert "<h1>Sync runs</h1>" in text(alice.get("/admin/integrations/syncrun/"))
    assert "<h1>Account changes</h1>" in text(alice.get("/admin/integrations/accountchange/"))
    account = text(alice.get(reverse("admin:integrations_syncedaccount_change", args=[data.ann.pk])))
    assert "<h1>Ann Owner <ann@acme.test></h1>" in account
    assert "Select synced account to view" not in account
    integration_page = text(alice.get(change_url(data.integration)))
    assert "<h1>PagerDuty: Production PagerDuty</h1>" in integration_page
    assert "Change third party application" not in integration_page
    assert Integration._meta.verbose_name == "Third Party Application"


# --- 8. The summary: status, last sync, added, removed, role changes, privilege grants ------


def test_summary_counts_role_changes_and_privilege_grants_of_the_last_sync(tenant, django_assert_num_queries):
    data = make_review_data(tenant=tenant)
    with django_assert_num_queries(3):
        summary = account_summary(integration=data.integration)

    # Bob user → admin (a role change that grants privilege), Eve responder → manager of Web.
    assert (summary["added_last_sync"], summary["removed_last_sync"]) == (1, 1)
    assert summary["role_changes_last_sync"] == 1
    assert summary["privilege_grants_last_sync"] == 2


def test_summary_shows_status_and_links_to_the_filtered_changes(alice, tenant):
    data = make_review_data(tenant=tenant)
    page = text(alice.get("/admin/"))
    summary = page[page.index('class="module pd-summary"'):]

    assert '<span class="status-badge status-connected">Connected</span> Data available' in summary
    assert "Last successful sync 2025-03-01 02:00 UTC" in summary
    changes = f"/admin/integrations/accountchange/?integration={data.integration.pk}&run={data.run.pk}"
    assert f'<a href="{changes}&kind__exact=role_changed"><strong>1</strong> role change</a>' in summary
    assert f'<a href="{changes}&grants_privilege=yes"><strong>2</strong> privilege grants</a>' in summary
    assert "+0" not in summary and "−0" not in summary


# --- 4. Sync now: a button on the page and each row; Queued at once -------------------------


def test_sync_now_button_on_the_list_and_the_page(alice, integration):
    configure(integration)

    row = text(alice.get(LIST))
    assert f'formaction="{sync_now_url(integration)}?from=list" formmethod="post"' in row
    page = text(alice.get(change_url(integration)))
    assert re.search(rf'<form method="post" action="{sync_now_url(integration)}"[^>]*><input type="hidden" name="csrfmiddlewaretoken"', page)


def test_sync_now_queues_a_sync_and_shows_queued(alice, integration):
    configure(integration, status=Integration.Status.ERROR, message="PagerDuty could not be reached", error_kind="unreachable")

    response = alice.post(f"{sync_now_url(integration)}?from=list", follow=True)

    assert response.redirect_chain[-1][0] == LIST
    assert [tuple(task.task["args"]) for task in OrmQ.objects.all()] == [(integration.pk, "admin")]
    integration.refresh_from_db()
    assert (integration.status, integration.message) == (Integration.Status.QUEUED, status.QUEUED)
    page = text(response)
    assert '<span class="status-badge status-queued">Queued</span>' in page
    assert "could not be reached" not in page


def test_sync_now_leaves_a_running_sync_syncing(alice, integration):
    configure(integration, status=Integration.Status.SYNCING, message=status.SYNC_IN_PROGRESS, sync_started_at=dt.datetime.now(dt.timezone.utc))

    alice.post(sync_now_url(integration))

    integration.refresh_from_db()
    assert integration.status == Integration.Status.SYNCING


def test_sync_now_is_a_post_for_the_tenants_admins_only(client, alice, integration, reviewer, other_tenant):
    configure(integration)
    assert alice.get(sync_now_url(integration)).status_code == 405
    foreign = configure(make_integration(tenant=other_tenant))
    assert alice.post(sync_now_url(foreign)).status_code == 404
    client.force_login(reviewer)
    assert client.post(sync_now_url(integration)).status_code == 403
    assert not OrmQ.objects.exists()


# --- 4. Every Error message ends with what to do next -----------------------------------------


@pytest.mark.parametrize(
    ("error", "step"),
    [
        (errors.TokenRejected("the access token was rejected (401)"), "check the access token"),
        (errors.PermissionMissing("permission missing"), "as an admin or owner"),
        (errors.RateLimited("rate limit"), "wait a few minutes"),
        (errors.Unreachable("PagerDuty could not be reached"), "check the service region"),
        (errors.UnexpectedResponse("unexpected response"), "status page"),
        (errors.TokenUndecryptable(), "FIELD_ENCRYPTION_KEY"),
    ],
)
def test_every_error_message_ends_with_the_next_step(alice, integration, error, step):
    configure(integration, status=Integration.Status.ERROR, message=error.message, error_kind=error.kind)

    for page in (text(alice.get(LIST)), text(alice.get(change_url(integration)))):
        shown = re.search(r'<span class="pd-message[^"]*" data-integration="\d+" title="[^"]*">([^<]+)</span>', page).group(1)
        assert shown.startswith(error.message) and step in shown and "Next: " in shown
        assert re.search(r"[.!?] Next: ", shown), "the next step is a sentence of its own"


def test_a_failed_sync_records_its_kind_for_the_next_step(alice, configured_integration, fake_pagerduty):
    fake_pagerduty.revoke_token_after(0)  # the saved token is now refused
    sync(configured_integration)

    configured_integration.refresh_from_db()
    assert (configured_integration.status, configured_integration.error_kind) == (Integration.Status.ERROR, "token_rejected")
    assert "Next: check the access token" in text(alice.get(LIST))


# --- 3. Live progress: stored by the runner, served as JSON -----------------------------------


def test_progress_lines_are_stored_at_most_once_a_second(integration, monkeypatch):
    from integrations.sync.runner import ProgressRecorder

    started = dt.datetime.now(dt.timezone.utc)
    configure(integration, status=Integration.Status.SYNCING, sync_started_at=started)
    clock = iter([100.0, 100.4, 101.2])
    monkeypatch.setattr("integrations.sync.runner.time", SimpleNamespace(monotonic=lambda: next(clock)))
    echoed = []
    record = ProgressRecorder(integration_id=integration.pk, started_at=started, echo=echoed.append)

    stored = []
    for line in ("users: page 1/3 (100 accounts)", "users: page 2/3 (200 accounts)", "users: page 3/3 (250 accounts)"):
        record(line)
        integration.refresh_from_db()
        stored.append(integration.progress)

    assert echoed == ["users: page 1/3 (100 accounts)", "users: page 2/3 (200 accounts)", "users: page 3/3 (250 accounts)"]
    assert stored == ["users: page 1/3 (100 accounts)", "users: page 1/3 (100 accounts)", "users: page 3/3 (250 accounts)"]


def test_a_finished_sync_clears_its_progress(configured_integration):
    sync(configured_integration)

    configured_integration.refresh_from_db()
    assert (configured_integration.status, configured_integration.progress) == (Integration.Status.CONNECTED, "")


def test_progress_endpoint_answers_json_in_the_tenant_only(client, alice, integration, reviewer, other_tenant):
    configure(integration, status=Integration.Status.SYNCING, progress="users: page 2/3 (200 accounts)")

    data = alice.get(progress_url(integration)).json()
    assert data == {
        "id": integration.pk,
        "status": "syncing",
        "status_display": "Syncing",
        "message": "Awaiting first sync",
        "progress": "users: page 2/3 (200 accounts)",
        "last_synced": "Never",
        "in_flight": True,
    }
    assert alice.get(progress_url(make_integration(tenant=other_tenant))).status_code == 404
    client.force_login(reviewer)
    assert client.get(progress_url(integration)).status_code == 403


def test_a_syncing_integration_is_followed_live_by_a_static_script(alice, integration):
    configure(integration, status=Integration.Status.SYNCING, progress="users: page 2/3 (200 accounts)")

    page = text(alice.get(LIST))

    assert f'data-progress-url="{progress_url(integration)}"' in page
    assert "users: page 2/3 (200 accounts)" in page
    assert '<script src="/static/integrations/progress.js"></script>' in page
    assert "<script>" not in page and " style=" not in page


def test_sync_runs_outcome_badge_is_drawn_by_classes(alice, integration):
    SyncRun.objects.create(
        integration=integration, trigger="admin", started_at=dt.datetime.now(dt.timezone.utc), outcome="success"
    )
    page = text(alice.get("/admin/integrations/syncrun/"))

    assert '<span class="sync-outcome sync-outcome-success">Success</span>' in page
    assert " style=" not in page
