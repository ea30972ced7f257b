"""A whole access review in Chromium: a tenant admin starts it, a reviewer decides (one
revoke with a comment, Keep for the rest of a filtered selection), the admin closes it and
takes the evidence report. Screenshots of every step: screenshots/<test name>/."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from django.utils import timezone

from integrations.models import Integration
from integrations.reviews.models import AccessReview
from tests.browser.conftest import PASSWORD, click_and_load
from tests.factories import make_review_data

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_whole_access_review(page, browser, live_server, log_in, screenshot, make_user, tenant, dialogs):
    alice = make_user("alice", tenant=tenant, role="admin", password=PASSWORD)
    make_user("rita", tenant=tenant, role="reviewer", password=PASSWORD)
    data = make_review_data(tenant=tenant)
    Integration.objects.filter(pk=data.integration.pk).update(owner=alice)

    # The admin starts the review.
    log_in(page, "alice")
    click_and_load(page.get_by_role("link", name="Access reviews").first)
    click_and_load(page.get_by_role("link", name="Start access review"))
    page.get_by_label("Integration").select_option(label=str(data.integration))
    page.get_by_label("Name").fill("Q3 PagerDuty access")
    page.get_by_label("Scope").select_option("all")
    page.get_by_label("Due date").fill((timezone.localdate() + dt.timedelta(days=14)).isoformat())
    page.get_by_label("Reviewers").select_option(label="rita")
    screenshot(page, "02-start-access-review")
    click_and_load(page.get_by_role("button", name="Start access review"))
    page.get_by_text("Access review started: 5 accounts to review.").wait_for()
    assert page.get_by_text("0 of 5 decided").is_visible()
    screenshot(page, "03-review-opened")
    review = AccessReview.objects.get()

    # The reviewer decides, riskiest first.
    reviewer = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    log_in(reviewer, "rita", step="04-reviewer-login")
    assert reviewer.locator("#review-progress").get_by_text("0 of 5 decided").is_visible()
    click_and_load(reviewer.locator("#review-progress").get_by_role("link", name="Q3 PagerDuty access"))
    click_and_load(reviewer.get_by_role("link", name="My items"))
    first_row = reviewer.locator("#result_list tbody tr").first
    assert "privileged" in first_row.inner_text()
    screenshot(reviewer, "05-my-items")
    click_and_load(reviewer.get_by_role("link", name="Bob Admin"))
    reviewer.get_by_label("Revoke").check()
    click_and_load(reviewer.get_by_role("button", name="Save decision"))
    assert reviewer.get_by_text("A comment is required to revoke.").is_visible()
    screenshot(reviewer, "06-comment-required")
    reviewer.get_by_label("Revoke").check()
    reviewer.get_by_label("Comment").fill("Left the on-call rota in June.")
    click_and_load(reviewer.get_by_role("button", name="Save decision"))
    reviewer.get_by_text("Decision saved: Bob Admin.").wait_for()
    # Keep for the rest: the items without a decision, all selected.
    click_and_load(reviewer.get_by_role("link", name="No decision yet"))
    reviewer.locator("#action-toggle").check()
    reviewer.locator("select[name=action]").select_option(label="Keep")
    screenshot(reviewer, "07-keep-the-rest")
    click_and_load(reviewer.locator("button[name=index]"))
    reviewer.get_by_text("Kept 4 items.").wait_for()
    screenshot(reviewer, "08-kept")
    reviewer.context.close()

    # The admin closes the review and takes the evidence report.
    page.reload()
    assert page.get_by_text("5 of 5 decided").is_visible()
    click_and_load(page.get_by_role("button", name="Close review"))
    page.get_by_text("Review closed.").wait_for()
    assert page.get_by_text("1 pending for less than a day").is_visible()
    assert page.locator(".pending-remediations").get_by_text("Bob Admin").is_visible()
    screenshot(page, "09-closed")
    with page.expect_download() as download:
        page.get_by_role("link", name="JSON", exact=True).click()
    digest = hashlib.sha256(open(download.value.path(), "rb").read()).hexdigest()
    click_and_load(page.get_by_role("link", name="Evidence report"))
    assert page.get_by_text(digest).first.is_visible()
    assert page.get_by_text("Left the on-call rota in June.").is_visible()
    # The print stylesheet (a static file) applied: the CSP allowed it.
    assert page.locator("table").evaluate("t => getComputedStyle(t).borderCollapse") == "collapse"
    screenshot(page, "10-evidence-report")
    page.emulate_media(media="print")
    screenshot(page, "11-evidence-report-print")
    review.refresh_from_db()
    assert review.state == "closed" and review.closed_by == alice
    assert dialogs == []
    assert re.search(r"Revoke", page.content())
