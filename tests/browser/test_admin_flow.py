"""A tenant admin sets PagerDuty up in a real browser, as the customer setup page tells them to.

Live server, fake PagerDuty over HTTP, and a real `qcluster` process that runs the first sync
from the queue. Screenshots of every step: screenshots/<test name>/.
"""

from __future__ import annotations

import time

import pytest
from django_q.models import Task

from integrations.models import Integration, SyncedAccount, SyncRun
from tests.browser.conftest import PASSWORD, click_and_load
from tests.conftest import TOKEN, saved_region, saved_token

pytestmark = pytest.mark.django_db(transaction=True)

WRONG_TOKEN = "u+PDwrongTOKEN-not-the-one-0000"
SYNC_DEADLINE_SECONDS = 60


def integration_row(page):
    """The only row of the Third Party Applications list."""
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    return rows.first


# Columns of the Third Party Applications list.
COLUMNS = {
    "status_display": "td.field-status_column .status-badge",
    "message": "td.field-message_column .pd-message",
    "description": "td.field-description_column",
    "owner": "td.field-owner_column",
    "last_synced_display": "td.field-last_synced_display",
}


def cell(row, column: str) -> str:
    return row.locator(COLUMNS.get(column, f"td.field-{column}")).inner_text().strip()


def wait_until_synced(page, cluster) -> None:
    """Reload the list until the cluster's sync shows, failing early on Error or a dead cluster."""
    deadline = time.monotonic() + SYNC_DEADLINE_SECONDS
    while True:
        row = integration_row(page)
        status = cell(row, "status_display")
        if status == "Connected":
            return
        assert status in {"Pending", "Syncing"}, f"{status}: {cell(row, 'message')}"
        assert cluster.alive(), cluster.output()
        assert time.monotonic() < deadline, f"still {status} after {SYNC_DEADLINE_SECONDS} s\n{cluster.output()}"
        time.sleep(0.3)
        page.reload()


def finished_tasks() -> list[tuple[str, bool]]:
    """(function, success) of the tasks the cluster recorded; its monitor saves a result just
    after the worker has finished, so the sync's effects can show a moment before it."""
    deadline = time.monotonic() + 10
    while not Task.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return list(Task.objects.values_list("func", "success"))


def test_tenant_admin_adds_configures_and_sees_the_first_sync_connect(
    live_server, fake_pagerduty, pagerduty_app, tenant, make_user, page, dialogs, screenshot, log_in,
    start_qcluster,
):
    make_user("alice", tenant=tenant, role="admin", password=PASSWORD)
    fake_pagerduty.reset_log()

    # Log in; the admin home has Integrations > Third Party Applications.
    log_in(page, "alice")
    integrations_module = page.locator("#content-main .app-integrations")
    assert integrations_module.locator("caption").text_content().strip() == "Integrations"
    screenshot(page, "02-admin-home")
    click_and_load(integrations_module.get_by_role("link", name="Third Party Applications", exact=True))
    assert page.locator("h1").inner_text() == "Third Party Applications"
    assert page.locator("#result_list").count() == 0  # nothing added yet
    screenshot(page, "03-empty-list")

    # Add Integration: PagerDuty, with its Primary Application Owner and Description.
    click_and_load(page.locator(".object-tools").get_by_role("link", name="Add Integration"))
    assert page.locator("h1").inner_text() == "Add Integration"
    assert page.locator("label[for=id_owner]").inner_text().startswith("Primary Application Owner")
    page.locator("#id_application").select_option(label="PagerDuty")
    page.locator("#id_owner").select_option(label="alice")
    page.locator("#id_description").fill("Production PagerDuty")
    screenshot(page, "04-add-integration")
    click_and_load(page.get_by_role("button", name="Save", exact=True))

    assert page.url.endswith("/admin/integrations/integration/")
    assert "PagerDuty was added" in page.locator(".messagelist").inner_text()
    row = integration_row(page)
    assert cell(row, "application_column").startswith("PagerDuty")
    assert cell(row, "description") == "Production PagerDuty"
    assert cell(row, "owner") == "alice"
    assert cell(row, "status_display") == "Not configured"
    assert cell(row, "message") == "Configure and Integrate to start syncing"
    assert cell(row, "last_synced_display") == "Never"
    screenshot(page, "05-added-not-configured")

    # Configure and Integrate, beside the name: a wrong token first.
    click_and_load(row.get_by_role("link", name="Configure and Integrate"))
    assert page.locator("h1").inner_text() == "Configure and Integrate"
    assert "A read-only API key is required" in page.locator(".field-access_token .help").inner_text()
    page.get_by_label("Access Token").fill(WRONG_TOKEN)
    page.get_by_label("Service Region").select_option(label="EU")
    click_and_load(page.get_by_role("button", name="Save changes"))

    assert page.locator(".errornote").inner_text().strip() == "Please correct the error below."
    assert "Nothing was saved." in page.locator(".field-access_token .errorlist").inner_text()
    assert page.get_by_label("Access Token").input_value() == ""  # never shown back
    assert page.locator("#content-main p", has_text="Status:").inner_text().startswith("Status: Not configured")
    screenshot(page, "06-wrong-token-refused")
    # One read-only request checked it, and nothing was saved.
    assert [(r.method, r.status) for r in fake_pagerduty.requests] == [("GET", 401)]
    integration = Integration.objects.get()
    assert (integration.status, saved_token(integration), saved_region(integration)) == (
        Integration.Status.NOT_CONFIGURED, "", None,
    )

    # The right token and region: saved, and the first sync is queued.
    page.get_by_label("Access Token").fill(TOKEN)
    page.get_by_label("Service Region").select_option(label="EU")
    screenshot(page, "07-right-token")
    click_and_load(page.get_by_role("button", name="Save changes"))

    assert page.url.endswith("/admin/integrations/integration/")
    assert "Saved. The first sync is queued." in page.locator(".messagelist").inner_text()
    row = integration_row(page)
    assert cell(row, "status_display") == "Pending"
    assert cell(row, "message") == "Awaiting first sync"
    assert TOKEN not in page.content()
    screenshot(page, "08-pending")
    assert fake_pagerduty.request_count == 2
    integration.refresh_from_db()
    assert (integration.status, saved_region(integration)) == (Integration.Status.PENDING, "eu")
    assert SyncRun.objects.count() == 0  # nothing has synced yet: the cluster will

    # "The sync runs": a real django-q2 cluster takes the queued task.
    cluster = start_qcluster(pagerduty_base_url=fake_pagerduty.base_url)
    wait_until_synced(page, cluster)
    row = integration_row(page)
    assert cell(row, "message") == "Data available"
    assert cell(row, "last_synced_display") != "Never"
    assert TOKEN not in page.content()
    screenshot(page, "09-connected")

    run = SyncRun.objects.get()
    assert (run.trigger, run.outcome) == (SyncRun.Trigger.CONFIGURE, SyncRun.Outcome.SUCCESS)
    assert finished_tasks() == [("integrations.tasks.sync_integration_task", True)]
    assert SyncedAccount.objects.filter(integration=integration).count() == len(fake_pagerduty.dataset.user_list())
    assert dialogs == []
