"""The main pages fit the window: nothing scrolls sideways at 1280 and 1440 px (the superuser's
lists too, with their Tenant column and the filter sidebar), rows stay compact, long values are
cut in lists with the whole text on hover and shown whole on detail pages, and at phone width
(390 px) a tenant admin still reaches Configure and Integrate and Save.

The data is made to be awkward: two integrations (so lists name the integration), long
descriptions, names, licenses, team lists and failure reasons, and a second tenant.
Screenshots: screenshots/<test name>/.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from integrations.models import Integration, SyncedAccount, SyncRun, Team
from tests.browser.conftest import PASSWORD, click_and_load
from tests.conftest import configure
from tests.factories import (
    make_account,
    make_integration,
    make_license,
    make_run,
    make_synced_data,
    make_team,
    make_tenant,
)

pytestmark = pytest.mark.django_db(transaction=True)

LONG_FAILURE = (
    "PagerDuty could not be reached: connection refused by api.pagerduty.com after 4 retries "
    "(HTTPSConnectionPool read timed out); nothing was written"
)
LONG_NAME = "Maximiliana Konstantinopoulou-Vanderbilt de la Fontaine"
LONG_LICENSE = "Digital Operations (Full User), Business Plan"
MAIN_PAGES = {
    "index": "/admin/",
    "integrations": "/admin/integrations/integration/",
    "accounts": "/admin/integrations/syncedaccount/",
    "changes": "/admin/integrations/accountchange/",
    "teams": "/admin/integrations/team/",
    "sync-runs": "/admin/integrations/syncrun/",
}

# How many lines an element's text takes (the distinct tops of its text's line boxes).
LINES_OF_TEXT = """el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
}"""
PHONE_TABLE_WIDTH = 449

# Widths of the page's scrolling boxes: #content, and the results table's container.
MEASURE = """() => {
  const box = (el) => el ? {scroll: el.scrollWidth, client: el.clientWidth} : null;
  const rows = [...document.querySelectorAll('#result_list tbody tr')].map(r => r.getBoundingClientRect().height);
  return {
    content: box(document.querySelector('#content')),
    results: box(document.querySelector('#changelist .results')),
    table: document.querySelector('#result_list') ? document.querySelector('#result_list').scrollWidth : null,
    page: box(document.documentElement),
    rowHeights: rows,
    columns: [...document.querySelectorAll('#result_list thead th')].map(th => [th.className.split(' ')[0], Math.round(th.getBoundingClientRect().width)]),
  };
}"""


@pytest.fixture
def awkward_tenant(tenant, make_user):
    """Acme with two PagerDuty integrations (one failing), 60 accounts with long values, sync runs,
    and a second tenant whose integration only the superuser sees (with a Tenant column and
    the tenant filter). Both of Acme's integrations are configured: each row has Sync now."""
    alice = make_user("alice", tenant=tenant, role="admin", password=PASSWORD)
    make_user("rita", tenant=tenant, role="reviewer", password=PASSWORD)
    make_user("root", superuser=True, password=PASSWORD)
    production = make_integration(
        tenant=tenant, description="Production PagerDuty of the platform engineering organisation (EU)"
    )
    configure(production, status=Integration.Status.CONNECTED, message="Data available", owner=alice)
    data = make_synced_data(integration=production, accounts=60, teams=6)
    failing = make_integration(
        tenant=tenant, description="Staging PagerDuty for the incident response drills", last_synced_at=None
    )
    # The next step ("Next: check the service region...") follows the message on every page.
    configure(failing, status=Integration.Status.ERROR, message=LONG_FAILURE, error_kind="unreachable", owner=alice)
    teams = [
        make_team(integration=failing, name=f"Incident Response Rotation Team Number {n}", external_id=f"PIRT{n}")
        for n in range(4)
    ]
    make_account(
        integration=failing,
        name=LONG_NAME,
        email="maximiliana.konstantinopoulou-vanderbilt.de.la.fontaine@platform-engineering.example.com",
        role="admin",
        teams={team: "manager" for team in teams},
        html_url="https://acme.pagerduty.com/users/PMAX",
        license=make_license(integration=failing, name=LONG_LICENSE),
    )
    started = data.run.started_at
    for n in range(1, 6):
        run = make_run(integration=failing, started_at=started + dt.timedelta(hours=n), outcome=SyncRun.Outcome.FAILED)
        SyncRun.objects.filter(pk=run.pk).update(message=LONG_FAILURE, requests=1234, retries=4)
    northwind = make_tenant(name="Northwind Traders")
    berlin = make_integration(
        tenant=northwind, description="PagerDuty EU account, the on-call rota of the Berlin office"
    )
    configure(
        berlin,
        status=Integration.Status.CONNECTED,
        message="Data available",
        owner=make_user("northwind-admin", tenant=northwind, role="admin", password=PASSWORD),
    )
    return tenant


def measure(page) -> dict:
    return page.evaluate(MEASURE)


def sideways(measured: dict) -> list[str]:
    """The boxes that scroll sideways (scrollWidth beyond clientWidth)."""
    return [
        f"{name} needs {box['scroll']} px of {box['client']}"
        for name, box in measured.items()
        if isinstance(box, dict) and box["scroll"] > box["client"]
    ]


@pytest.mark.parametrize("width", [1280, 1440])
@pytest.mark.parametrize("username", ["alice", "rita", "root"])
def test_no_main_page_scrolls_sideways(awkward_tenant, browser, live_server, screenshot, username, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        click_and_load(page.get_by_role("button", name="Log in"))
        found, problems = {}, []
        for name, path in MAIN_PAGES.items():
            page.goto(f"{live_server.url}{path}")
            if "Not allowed" in page.title():
                continue
            if username == "root" and name == "integrations":
                # As the finding saw it: every tenant, so a Tenant column and the filter sidebar open.
                assert page.locator("#changelist-filter").is_visible()
                assert page.locator("#result_list thead th.column-tenant_name").count() == 1
            measured = measure(page)
            found[name] = measured
            screenshot(page, f"{width}-{name}")
            page.screenshot(path=str(screenshot(page, f"{width}-{name}").with_suffix(".top.png")))
            problems += [f"{name}: {p} {measured['columns']}" for p in sideways(measured)]
            heights = sorted(measured["rowHeights"])
            if heights and heights[len(heights) // 2] > 60:
                problems.append(f"{name}: rows are {heights[len(heights) // 2]:.0f} px tall (median)")
        print(json.dumps({name: {k: v for k, v in m.items() if k not in ("rowHeights", "columns")} for name, m in found.items()}))
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_long_values_are_cut_with_the_whole_text_on_hover(awkward_tenant, browser, live_server, screenshot):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        click_and_load(page.get_by_role("button", name="Log in"))

        page.goto(f"{live_server.url}/admin/integrations/syncrun/")
        message = page.locator("#result_list td.field-message_column [title]").first
        assert message.get_attribute("title") == LONG_FAILURE
        assert message.evaluate("el => getComputedStyle(el).textOverflow") == "ellipsis"
        outcome = page.locator("#result_list .sync-outcome").first
        # A badge, drawn by the stylesheet (the CSP drops inline styles), never cut.
        assert outcome.evaluate("el => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"
        assert outcome.evaluate("el => el.scrollWidth <= el.clientWidth")
        screenshot(page, "sync-runs")

        page.goto(f"{live_server.url}/admin/integrations/syncedaccount/?q=Maximiliana")
        name = page.locator("#result_list td.field-name_column [title]").first
        assert name.get_attribute("title").startswith("Maximiliana Konstantinopoulou-Vanderbilt")
        teams = page.locator("#result_list td.field-teams_column [title]").first
        assert "Incident Response Rotation Team Number 3" in teams.get_attribute("title")
        screenshot(page, "accounts")
    finally:
        context.close()


# On a detail page, the read-only values that do not show whole: cut by a box of theirs (an
# ellipsis) or reaching past their fieldset (clipped by the page).
CUT_ON_DETAIL_PAGE = """() => [...document.querySelectorAll('#content-main div.readonly')].flatMap(field => {
  const row = [...field.closest('.form-row').classList].find(c => c.startsWith('field-'));
  const fieldset = field.closest('fieldset').getBoundingClientRect();
  const problems = [];
  const right = Math.round(field.getBoundingClientRect().right);
  if (right > fieldset.right + 1) problems.push(`${row} ends at ${right} px, its fieldset at ${Math.round(fieldset.right)}`);
  for (const el of [field, ...field.querySelectorAll('*')]) {
    if (getComputedStyle(el).overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${row}: "${el.textContent.trim().slice(0, 40)}" shows ${el.clientWidth} px of ${el.scrollWidth}`);
    }
  }
  return problems;
})"""


def log_in_as(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    click_and_load(page.get_by_role("button", name="Log in"))


@pytest.mark.parametrize("width", [1280, 1440])
def test_detail_pages_show_long_values_whole(awkward_tenant, browser, live_server, screenshot, width):
    """Cutting is for list columns: an integration's page shows its whole Error message (with
    the next step), an account's or a team's page its whole Integration and License."""
    failing = Integration.objects.get(status=Integration.Status.ERROR)
    account = SyncedAccount.objects.get(name=LONG_NAME)
    team = Team.objects.filter(integration=failing).first()
    pages = {
        "integration": f"/admin/integrations/integration/{failing.pk}/change/",
        "account": f"/admin/integrations/syncedaccount/{account.pk}/change/",
        "team": f"/admin/integrations/team/{team.pk}/change/",
    }
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in_as(page, live_server, "alice")
        problems = []
        for name, path in pages.items():
            page.goto(f"{live_server.url}{path}")
            screenshot(page, f"{width}-{name}")
            problems += [f"{name}: {p}" for p in page.evaluate(CUT_ON_DETAIL_PAGE) + sideways(measure(page))]
        page.goto(f"{live_server.url}{pages['integration']}")
        message = page.locator(".field-message_column .pd-message")
        assert message.inner_text().startswith(LONG_FAILURE) and "Next: check the service region" in message.inner_text()
        page.goto(f"{live_server.url}{pages['account']}")
        assert page.locator(".field-integration_column").inner_text().endswith(str(failing))
        assert LONG_LICENSE in page.locator(".field-license_column").inner_text()
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_at_phone_width_the_admin_reaches_configure_and_save(awkward_tenant, browser, live_server, screenshot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        click_and_load(page.get_by_role("button", name="Log in"))
        page.goto(f"{live_server.url}/admin/integrations/integration/")
        screenshot(page, "390-integrations")
        button = page.locator("#result_list a.configure-button").first
        box = button.bounding_box()
        measured = measure(page)
        print(json.dumps({"configure_button": box, "measured": measured}))
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert button.evaluate(LINES_OF_TEXT) == 1, "Configure and Integrate wraps inside its button"
        # The table scrolls sideways for the Message at this width; no further than it did when
        # the button still wrapped (449 px).
        assert measured["results"]["scroll"] <= PHONE_TABLE_WIDTH, measured
        # The failing integration's Sync now is in reach too.
        sync_now = page.locator("#result_list button.pd-sync-now").first
        box = sync_now.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box

        click_and_load(button)
        screenshot(page, "390-configure")
        save = page.get_by_role("button", name="Save changes")
        box = save.bounding_box()
        measured = measure(page)
        print(json.dumps({"save_button": box, "measured": measured}))
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert measured["page"]["scroll"] <= measured["page"]["client"], measured
    finally:
        context.close()
