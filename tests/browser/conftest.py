"""Playwright driving Debian's chromium against Django's live server.

Screenshots of every step go to `screenshots/` at the top of the repository (README names it).
In CI (CI=true) a missing browser fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from tests.databases import url_of_the_test_database
from tests.paths import ROOT

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are plain synchronous code, so Django's async guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Browser tests log in through the login page: their users are made with this password.
PASSWORD = "pw-Browser-123"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"chromium not found at {CHROMIUM} (make browser installs Debian's package)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    """screenshot(page, "02-configure"): saves screenshots/<test name>/02-configure.png."""
    folder = SCREENSHOTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, step: str) -> Path:
        path = folder / f"{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def click_and_load(locator) -> None:
    """Click a link or submit button, and wait until the page it leads to has loaded."""
    with locator.page.expect_navigation():
        locator.click()


@pytest.fixture
def dialogs(page):
    """Every alert/confirm/prompt the page opens (dismissed): injected script would show here."""
    opened = []

    def record(dialog):
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


@pytest.fixture
def log_in(live_server, screenshot):
    """log_in(page, "alice"): through the admin's own login page, as a person would."""

    def log_in(page, username: str, *, password: str = PASSWORD, step: str = "01-login") -> None:
        page.goto(f"{live_server.url}/admin/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        screenshot(page, step)
        click_and_load(page.get_by_role("button", name="Log in"))
        assert page.url == f"{live_server.url}/admin/", "not logged in"

    return log_in


# --- a real django-q2 cluster on the test database ------------------------------------------


class QCluster:
    """One `python manage.py qcluster` process in its own process group; stop() kills the group."""

    def __init__(self, *, pagerduty_base_url: str):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": url_of_the_test_database(),
            "PAGERDUTY_API_BASE_URL": pagerduty_base_url,
            "Q_WORKERS": "1",
            "Q_POLL": "0.1",
        }
        # The database is already the test one: no test_ prefix on top of it.
        env.pop("TEST_DB_NAME", None)
        # The same broker as this process (whose live server queued the task).
        if settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL
        else:
            env.pop("REDIS_URL", None)
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            # Workers, pusher and monitor share the group of the process we started.
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def start_qcluster():
    """start_qcluster(pagerduty_base_url=...): a running cluster, always stopped after the test."""
    started: list[QCluster] = []

    def start(*, pagerduty_base_url: str) -> QCluster:
        cluster = QCluster(pagerduty_base_url=pagerduty_base_url)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()
