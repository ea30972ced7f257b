"""A tenant admin presses Sync now and watches the sync advance on the page, without reloading.

A fake PagerDuty that answers slowly (its latency switch), one request at a time, and a real
django-q2 cluster that runs the queued sync. Screenshots: screenshots/<test name>/.
"""

from __future__ import annotations

import re
import time

import pytest

from integrations.models import Integration
from tests.browser.conftest import PASSWORD, click_and_load
from tests.conftest import TOKEN, configure

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE_SECONDS = 90


@pytest.fixture
def slow_pagerduty(settings):
    """1,000 users (ten pages) behind 0.5 s of latency per request."""
    from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset

    with FakePagerDuty(generate_dataset(users=1000, teams=4, seed=1), token=TOKEN, latency=0.5) as fake:
        settings.PAGERDUTY_API_BASE_URL = fake.base_url
        yield fake


def test_sync_now_shows_queued_then_live_progress_until_connected(
    live_server, slow_pagerduty, integration, tenant_admin, page, log_in, screenshot, start_qcluster, monkeypatch
):
    tenant_admin.set_password(PASSWORD)
    tenant_admin.save()
    configure(integration, status=Integration.Status.ERROR, message="PagerDuty could not be reached", error_kind="unreachable")
    log_in(page, "alice")
    page.goto(f"{live_server.url}/admin/integrations/integration/")
    row = page.locator("#result_list tbody tr").first
    assert "Next: check the service region" in row.locator(".pd-message").inner_text()
    screenshot(page, "02-error-with-next-step")

    # Sync now on the row: the page comes back with the sync Queued, no more the old Error.
    click_and_load(row.get_by_role("button", name="Sync now"))
    badge = page.locator("#result_list tbody tr .status-badge").first
    assert badge.inner_text() == "Queued"
    assert "Queued a sync of" in page.locator(".messagelist").inner_text()
    screenshot(page, "03-queued")

    # The cluster runs it, one request at a time; the page follows without a reload.
    page.evaluate("window.__notReloaded = true")
    monkeypatch.setenv("PAGERDUTY_MAX_CONCURRENCY", "1")
    cluster = start_qcluster(pagerduty_base_url=slow_pagerduty.base_url)
    seen_progress, seen_status = [], []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        status = badge.inner_text()
        progress = page.locator("#result_list tbody tr .pd-progress").first.inner_text()
        if not seen_status or seen_status[-1] != status:
            seen_status.append(status)
        if progress and (not seen_progress or seen_progress[-1] != progress):
            seen_progress.append(progress)
            if len(seen_progress) == 2:
                screenshot(page, "04-syncing-with-progress")
        if status == "Connected":
            break
        assert status in {"Queued", "Syncing"}, (status, cluster.output())
        assert cluster.alive(), cluster.output()
        assert time.monotonic() < deadline, (seen_status, seen_progress, cluster.output())
        time.sleep(0.1)
    screenshot(page, "05-connected")

    assert page.evaluate("window.__notReloaded") is True
    assert seen_status[:1] == ["Queued"] and "Syncing" in seen_status and seen_status[-1] == "Connected"
    pages = [int(match.group(1)) for line in seen_progress if (match := re.match(r"users: page (\d+)/10", line))]
    assert len(pages) >= 2 and pages == sorted(pages) and pages[0] < pages[-1], seen_progress
    assert page.locator("#result_list tbody tr .pd-message").first.inner_text() == "Data available"
    assert page.locator("#result_list tbody tr .pd-last-synced").first.inner_text() != "Never"
