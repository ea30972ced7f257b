"""A Content-Security-Policy on every admin page, and the admin works under it: no inline
script or style is left for the browser to refuse."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from django.urls import reverse

from integrations.models import SyncRun
from integrations.services import add_integration, configure_integration
from integrations.sync import sync_integration
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SCREENSHOTS
from tests.conftest import TOKEN

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def directives(header: str) -> dict[str, list[str]]:
    parts = [part.split() for part in header.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


@pytest.fixture
def synced(fake_pagerduty, pagerduty_app, tenant, make_user):
    """Acme's PagerDuty synced once (so the index has its account summary), and its admin."""
    alice = make_user("alice", tenant=tenant, role="admin", password=PASSWORD)
    integration = add_integration(tenant=tenant, application=pagerduty_app, owner=alice, description="Production")
    configure_integration(integration=integration, values={"access_token": TOKEN, "region": "us"})
    assert sync_integration(integration_id=integration.pk, trigger=SyncRun.Trigger.COMMAND).ok
    return integration


def admin_pages(integration) -> dict[str, str]:
    return {
        "admin index": reverse("admin:index"),
        "accounts list": reverse("admin:integrations_syncedaccount_changelist"),
        "configure page": reverse("admin:integrations_integration_configure", args=[integration.pk]),
        "integrations list": reverse("admin:integrations_integration_changelist"),
        "teams list": reverse("admin:integrations_team_changelist"),
    }


@pytest.mark.django_db
def test_every_admin_page_carries_the_policy(client, synced, tenant_admin_of_synced):
    client.force_login(tenant_admin_of_synced)
    for name, url in {**admin_pages(synced), "login page": reverse("admin:login")}.items():
        if name == "login page":
            client.logout()
        response = client.get(url)
        assert response.status_code == 200, name
        header = response.headers.get("Content-Security-Policy")
        assert header is not None, f"no Content-Security-Policy on the {name}"
        policy = directives(header)
        assert policy == directives(POLICY), name
        # No inline script or style could run under it.
        assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header
        html = response.content.decode()
        assert "<style" not in html, f"inline <style> on the {name}"
        assert " style=" not in html, f"inline style attribute on the {name}"


@pytest.fixture
def tenant_admin_of_synced(synced, django_user_model):
    return django_user_model.objects.get(username="alice")


def in_own_thread(function, *, timeout: float = 120):
    """Run `function` in a thread of its own and return its result. The browser tests'
    session-wide Playwright may already run in this thread, and a second sync Playwright
    cannot start beside it in the same thread."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="csp-browser-check", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the browser check still runs after {timeout} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_admin_reports_no_csp_violation(live_server, synced, request):
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"chromium not found at {CHROMIUM} (make browser installs Debian's package)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pages = admin_pages(synced)
    shots = SCREENSHOTS / request.node.name
    shots.mkdir(parents=True, exist_ok=True)

    def check() -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(15_000)
                browse_the_admin(page, live_server.url, pages, shots)
            finally:
                browser.close()

    in_own_thread(check)


def browse_the_admin(page, base_url: str, pages: dict[str, str], shots) -> None:
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    # The DOM's own report of every refused script, style or image, kept across navigations.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e =>"
        " console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )

    page.goto(f"{base_url}/admin/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert page.url == f"{base_url}/admin/", "not logged in"
    assert violations == [], f"login page: {violations}"

    for step, (name, url) in enumerate(pages.items(), start=1):
        response = page.goto(f"{base_url}{url}")
        assert response.status == 200, name
        assert "default-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
        page.screenshot(path=str(shots / f"{step:02d}-{name.replace(' ', '-')}.png"), full_page=True)
        assert violations == [], f"{name}: {violations}"

    # The styles did load from the static files: a badge is coloured, the summary bars drawn.
    page.goto(f"{base_url}{pages['integrations list']}")
    badge = page.locator(".status-badge").first
    assert badge.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    page.goto(f"{base_url}{pages['admin index']}")
    bar = page.locator("svg.pd-bar rect").first
    assert bar.evaluate("e => e.getBBox().width") > 0
    assert bar.evaluate("e => getComputedStyle(e).fill") != "rgb(0, 0, 0)"  # coloured by admin.css
