"""A reviewer browses, filters and exports synced accounts in a real browser, and nothing more.

The accounts come from one real sync against the fake PagerDuty, whose data has names with
HTML in them. Screenshots of every step: screenshots/<test name>/.
"""

from __future__ import annotations

import csv
import re

import pytest
from django.urls import reverse

from integrations.models import SyncRun
from integrations.services import add_integration, configure_integration
from integrations.sync import sync_integration
from tests.browser.conftest import PASSWORD, click_and_load
from tests.conftest import TOKEN, configure
from tests.factories import make_account, make_integration, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

# The export keys, in this order.
EXPORT_HEADER = [
    "integration", "pagerduty_id", "name", "email", "role", "role_display", "job_title", "time_zone",
    "invitation_pending", "created_via_sso", "teams", "license", "status", "first_seen", "last_seen",
    "removed_at", "findings",
]
SCRIPT_NAME = "<script>alert(1)</script> Mallory"
BOLD_NAME = "<b>Bold</b> Bob"
HTML_TEAM_NAME = '<img src=x onerror=alert(1)> SRE "Night" & Day'


@pytest.fixture
def synced(fake_pagerduty, pagerduty_app, tenant, make_user):
    """Acme's PagerDuty, synced once through the service; a reviewer of Acme; and another tenant's admin account."""
    alice = make_user("alice", tenant=tenant, role="admin", password=PASSWORD)
    make_user("rita", tenant=tenant, role="reviewer", password=PASSWORD)
    integration = add_integration(tenant=tenant, application=pagerduty_app, owner=alice, description="Production PagerDuty")
    configure_integration(integration=integration, values={"access_token": TOKEN, "region": "us"})
    result = sync_integration(integration_id=integration.pk, trigger=SyncRun.Trigger.COMMAND)
    assert result.ok, result.message
    globex = make_integration(tenant=make_tenant(name="Globex"), description="Globex PagerDuty")
    make_account(integration=globex, name="Gloria Globex", role="admin")
    return integration


def injected_elements(page) -> int:
    """<script> and <img src=x> elements that came from PagerDuty names (Playwright's text
    matching skips script contents, so they are read through the DOM)."""
    return page.evaluate(
        """() => [...document.querySelectorAll("script")].filter(s => s.textContent.includes("alert(1)")).length
               + document.querySelectorAll("img[src=x]").length"""
    )


def account_rows(page):
    return page.locator("#result_list tbody tr")


def names_in_list(page) -> list[str]:
    return [name.strip() for name in page.locator("#result_list tbody .field-name_column a").all_text_contents()]


def test_reviewer_browses_filters_and_exports_accounts_but_cannot_reach_configuration(
    live_server, fake_pagerduty, synced, page, dialogs, screenshot, log_in
):
    users = fake_pagerduty.dataset.user_list()
    admins = sorted(user["name"] for user in users if user["role"] == "admin")
    assert len(admins) >= 2  # the filter below must leave out most rows, and keep more than one

    # The home page offers the synced accounts, and no configuration.
    log_in(page, "rita")
    assert page.get_by_role("link", name="Third Party Applications").count() == 0
    screenshot(page, "02-admin-home")
    click_and_load(page.locator("#content-main .app-integrations").get_by_role("link", name="Synced accounts"))

    # Every synced account of Acme, none of Globex.
    assert page.locator("h1").inner_text() == "Synced accounts"
    assert account_rows(page).count() == len(users)
    assert "Gloria Globex" not in names_in_list(page)
    screenshot(page, "03-accounts")

    # Names with HTML show as text: visible literally, never as markup or script.
    assert page.get_by_role("link", name=SCRIPT_NAME, exact=True).is_visible()
    assert page.get_by_role("link", name=BOLD_NAME, exact=True).is_visible()
    assert page.locator("#result_list b", has_text="Bold").count() == 0
    assert injected_elements(page) == 0
    team_cells = page.locator("#result_list tbody .field-teams_column").all_inner_texts()
    assert any(cell.startswith(HTML_TEAM_NAME) for cell in team_cells)

    # Filter by role: only the Global Admins of Acme.
    role_filter = page.locator('#changelist-filter details[data-filter-title="role"]')
    click_and_load(role_filter.get_by_role("link", name="Global Admin", exact=True))
    assert "role=admin" in page.url
    assert names_in_list(page) == admins
    # The display name, with the API value on hover.
    assert set(page.locator("#result_list tbody .field-role_column").all_inner_texts()) == {"Global Admin privileged"}
    assert set(page.locator("#result_list tbody .field-role_column span[title]").evaluate_all(
        "spans => spans.map(span => span.title)")) == {"admin"}
    screenshot(page, "04-filtered-global-admin")

    # Export the filtered list as CSV with the admin action.
    page.locator("#action-toggle").check()
    page.locator("select[name=action]").select_option(label="Export selected accounts (CSV)")
    screenshot(page, "05-export-action")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Go").click()
    download = download_info.value
    assert re.fullmatch(r"pagerduty-accounts-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    with open(download.path(), newline="", encoding="utf-8") as exported:
        header, *rows = list(csv.reader(exported))
    assert header == EXPORT_HEADER
    records = [dict(zip(header, row)) for row in rows]
    assert sorted(record["name"] for record in records) == admins
    assert {(r["integration"], r["role"], r["role_display"], r["status"]) for r in records} == {
        (str(synced.pk), "admin", "Global Admin", "active")
    }

    # An account's own page: the HTML name is its text, again.
    page.goto(f"{live_server.url}{reverse('admin:integrations_syncedaccount_changelist')}?q=Mallory")
    click_and_load(page.get_by_role("link", name=SCRIPT_NAME, exact=True))
    assert page.locator(".field-name .readonly").inner_text() == SCRIPT_NAME
    assert page.locator(".field-teams_table").get_by_role("link", name=HTML_TEAM_NAME, exact=True).is_visible()
    assert injected_elements(page) == 0
    screenshot(page, "06-account-with-html-name")

    # Configuration is out of reach, by link or by URL.
    for url in (
        reverse("admin:integrations_integration_changelist"),
        reverse("admin:integrations_integration_configure", args=[synced.pk]),
        reverse("admin:integrations_integration_change", args=[synced.pk]),
    ):
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == 403, url
    screenshot(page, "07-configure-forbidden")
    page.goto(f"{live_server.url}/admin/")
    assert page.get_by_role("link", name="Third Party Applications").count() == 0
    assert page.get_by_role("link", name="Configure and Integrate").count() == 0

    # The token is revoked and the next sync fails: the data stays, and every page says it may
    # be out of date, why, and links to the sync history, which the reviewer may open.
    configure(synced, token="u+PDrevokedTOKEN-0123456789abcdefdead")
    failed = sync_integration(integration_id=synced.pk, trigger=SyncRun.Trigger.COMMAND)
    assert not failed.ok and failed.message
    page.goto(f"{live_server.url}/admin/")
    summary_warning = page.locator("#account-summaries .pd-freshness-warning")
    assert summary_warning.is_visible()
    assert "The last sync failed on" in summary_warning.inner_text()
    screenshot(page, "08-home-after-failed-sync")
    page.goto(f"{live_server.url}{reverse('admin:integrations_syncedaccount_changelist')}")
    warning = page.locator(".pd-freshness-warning")
    assert warning.is_visible()
    assert failed.message in warning.inner_text() and "may be out of date" in warning.inner_text()
    assert account_rows(page).count() == len(users)
    screenshot(page, "09-accounts-after-failed-sync")
    click_and_load(warning.get_by_role("link", name="Sync history"))
    assert page.locator("#result_list tbody tr").first.locator(".sync-outcome-failed").is_visible()
    assert failed.message in page.locator("#result_list tbody tr").first.inner_text()
    screenshot(page, "10-sync-history")

    assert dialogs == []
