"""The Changes admin: what each sync found, newest first, with privilege grants standing out."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from integrations.models import AccountChange
from integrations.selectors import grants_privilege_q
from tests.factories import make_integration, make_review_data, make_run, make_synced_data

URL = "/admin/integrations/accountchange/"


@pytest.fixture
def data(tenant):
    return make_review_data(tenant=tenant)


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def rows(response) -> list[tuple[str, str]]:
    """(account name, change kind) per result row, in page order."""
    html = response.content.decode()
    body = html[html.index('<table id="result_list"') : html.index("</table>", html.index('<table id="result_list"'))]
    return [
        (name, kind)
        for name, kind in re.findall(
            r'<td class="field-account_column"><span class="pd-cut[^"]*" title="[^"]*"><a href="[^"]+">([^<]+)</a>.*?<td class="field-kind_column">([A-Z][a-z]+(?: [a-z]+)*)',
            body,
            flags=re.S,
        )
    ]


def test_changes_are_listed_newest_first_with_what_changed(reviewer_client, data):
    earlier = make_run(integration=data.integration, started_at=data.run.started_at - dt.timedelta(days=1))
    AccountChange.objects.create(
        integration=data.integration, run=earlier, account=data.ann, kind="added",
        new_value="owner", created_at=earlier.started_at,
    )

    response = reviewer_client.get(URL)

    assert response.status_code == 200
    listed = rows(response)
    assert listed[-1] == ("Ann Owner", "Added")  # the older run's change comes last
    assert set(listed[:-1]) == {
        ("Fay Future", "Added"),
        ("Dee Gone", "Removed"),
        ("Bob Admin", "Role changed"),
        ("Eve Manager", "Team role changed"),
        ("Cy Responder", "Email changed"),
    }
    html = response.content.decode()
    assert "Manager/User → Global Admin" in html
    assert "Web: responder → manager" in html
    assert "cy@old.test → cy@acme.test" in html
    assert "was Manager/User" in html
    assert "as incident_commander" in html


def test_changes_that_grant_privilege_stand_out(reviewer_client, data):
    html = reviewer_client.get(URL).content.decode()
    badged = re.findall(r'<tr>.*?</tr>', html[html.index('<tbody>') :], flags=re.S)
    with_badge = {
        re.search(r'field-account_column"><span [^>]*><a href="[^"]+">([^<]+)</a>', row).group(1)
        for row in badged
        if "grants-privilege" in row
    }

    assert with_badge == {"Bob Admin", "Eve Manager"}
    # The whole row is highlighted, by the page's stylesheet (a static file: the CSP allows no inline style).
    assert "/static/integrations/reviewer.css" in html
    assert "tr:has(.grants-privilege)" in Path(finders.find("integrations/reviewer.css")).read_text()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind__exact=added", {("Fay Future", "Added")}),
        ("kind__exact=role_changed", {("Bob Admin", "Role changed")}),
        ("grants_privilege=yes", {("Bob Admin", "Role changed"), ("Eve Manager", "Team role changed")}),
        ("grants_privilege=no", {("Fay Future", "Added"), ("Dee Gone", "Removed"), ("Cy Responder", "Email changed")}),
        ("q=dee", {("Dee Gone", "Removed")}),
    ],
)
def test_filters_return_the_right_changes(reviewer_client, data, query, expected):
    assert set(rows(reviewer_client.get(f"{URL}?{query}"))) == expected


def test_filter_by_run_and_integration(reviewer_client, tenant, data):
    other = make_review_data(tenant=tenant, prefix="Two ", description="Staging")

    by_run = rows(reviewer_client.get(f"{URL}?run={other.run.pk}"))
    by_integration = rows(reviewer_client.get(f"{URL}?integration={data.integration.pk}"))

    assert len(by_run) == 5 and all(name.startswith("Two ") for name, _ in by_run)
    assert len(by_integration) == 5 and not any(name.startswith("Two ") for name, _ in by_integration)
    html = reviewer_client.get(URL).content.decode()
    assert f"?run={data.run.pk}" in html  # offered in the run filter and linked from each row


def test_since_last_week(reviewer_client, data):
    now = timezone.now()
    recent = make_run(integration=data.integration, started_at=now - dt.timedelta(days=2))
    AccountChange.objects.create(
        integration=data.integration, run=recent, account=data.cy, kind="role_changed",
        old_value="limited_user", new_value="admin", created_at=recent.started_at,
    )
    html = reviewer_client.get(URL).content.decode()
    past_week = re.search(r'href="(\?created_at__gte=[^"]+)">Past 7 days', html).group(1).replace("&amp;", "&")

    assert rows(reviewer_client.get(URL + past_week)) == [("Cy Responder", "Role changed")]
    assert rows(reviewer_client.get(URL + past_week + "&grants_privilege=yes")) == [("Cy Responder", "Role changed")]


def test_changes_are_read_only(reviewer_client, data):
    change = AccountChange.objects.filter(account=data.bob).get()
    html = reviewer_client.get(URL).content.decode()

    assert "addlink" not in html and 'name="action"' not in html
    assert reviewer_client.get(URL + "add/").status_code == 403
    assert reviewer_client.post(URL + f"{change.pk}/change/", {"new_value": "owner"}).status_code == 403
    assert reviewer_client.post(URL + f"{change.pk}/delete/", {"post": "yes"}).status_code == 403
    detail = reviewer_client.get(URL + f"{change.pk}/change/").content.decode()
    assert "Manager/User → Global Admin" in detail and "grants privilege" in detail
    assert f'href="/admin/integrations/syncedaccount/{data.bob.pk}/change/"' in detail


def test_changed_values_are_shown_as_text(reviewer_client, data):
    AccountChange.objects.filter(account=data.cy).update(
        old_value="<b>old</b>@x.test", new_value='"><script>alert(1)</script>'
    )
    data.cy.name = "<em>Cy</em>"
    data.cy.save()

    for page in (URL, f"/admin/integrations/syncedaccount/{data.cy.pk}/change/"):
        html = reviewer_client.get(page).content.decode()
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<b>old</b>" not in html and "<em>Cy</em>" not in html


ROLE_VALUES = ["", "owner", "admin", "user", "limited_user", "incident_commander"]
TEAM_ROLE_VALUES = ["", "manager", "responder", "observer"]


def test_the_grants_privilege_filter_agrees_with_the_model(data):
    """Every kind with every old/new value: the query and AccountChange.grants_privilege agree."""
    combos = [
        (kind, old, new)
        for kind in AccountChange.Kind.values
        for old, new in itertools.product(
            TEAM_ROLE_VALUES if kind == "team_role_changed" else ROLE_VALUES, repeat=2
        )
    ]
    AccountChange.objects.all().delete()
    AccountChange.objects.bulk_create(
        AccountChange(
            integration=data.integration, run=data.run, account=data.ann, kind=kind,
            old_value=old, new_value=new, created_at=data.run.started_at,
        )
        for kind, old, new in combos
    )
    changes = list(AccountChange.objects.all())
    granting = set(AccountChange.objects.filter(grants_privilege_q()).values_list("pk", flat=True))

    assert {c.pk for c in changes if c.grants_privilege} == granting
    assert 0 < len(granting) < len(changes)


@pytest.mark.parametrize("accounts", [30, 300])
def test_list_runs_the_same_queries_for_30_or_300_accounts(
    reviewer_client, tenant, accounts, django_assert_num_queries
):
    data = make_synced_data(integration=make_integration(tenant=tenant), accounts=accounts, teams=3)
    assert data.changes >= accounts // 10
    # session, user, tenants, role checks x2, integrations, recent runs, count, page,
    # its integrations, permissions x2
    with django_assert_num_queries(12):
        response = reviewer_client.get(URL)
    assert len(rows(response)) == min(data.changes, 100)


def test_one_accounts_changes_as_linked_from_its_page(reviewer_client, data):
    assert rows(reviewer_client.get(f"{CHANGES_OF}{data.bob.pk}")) == [("Bob Admin", "Role changed")]


CHANGES_OF = URL + "?account__id__exact="
