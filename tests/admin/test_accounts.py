"""The synced accounts admin: read-only list, filters, search, detail page, and scale."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.views.main import PAGE_VAR

from integrations.admin.pagination import LookAheadPaginator
from tests.factories import make_account, make_integration, make_review_data, make_synced_data

URL = "/admin/integrations/syncedaccount/"


@pytest.fixture
def data(tenant):
    return make_review_data(tenant=tenant)


@pytest.fixture
def other_data(other_tenant):
    return make_review_data(tenant=other_tenant, prefix="Zed")


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def listed_names(response) -> list[str]:
    """Names in the result rows, in page order (the name column links to the detail page)."""
    html = response.content.decode()
    return re.findall(r'<td class="field-name_column"><span class="pd-cut[^"]*" title="[^"]*"><a href="[^"]+">([^<]+)</a>', html)


# --- The list --------------------------------------------------------------------------------


def test_list_shows_what_a_reviewer_needs_per_account(reviewer_client, data):
    response = reviewer_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert listed_names(response) == [
        "Ann Owner", "Bob Admin", "Cy Responder", "Dee Gone", "Eve Manager", "Fay Future"
    ]
    ann_row = html[html.index('title="Ann Owner"') : html.index('title="Bob Admin"')]
    assert "ann@acme.test" in ann_row
    assert '<span title="owner">Account Owner</span>' in ann_row  # display name, the API value on hover
    assert "privileged" in ann_row
    assert 'Ops (<strong class="pd-privileged-text">manager</strong>)' in ann_row
    assert "Full User" in ann_row
    assert 'href="https://acme.pagerduty.com/users/PANN"' in ann_row
    cy_row = html[html.index('title="Cy Responder"') : html.index('title="Dee Gone"')]
    assert '<span title="limited_user">Responder</span>' in cy_row
    assert "Ops (responder), Web (observer)" in cy_row
    assert 'class="pd-badge pd-pending">invitation pending<' in cy_row
    assert "pending" not in ann_row
    dee_row = html[html.index('title="Dee Gone"') : html.index('title="Eve Manager"')]
    assert 'title="removed 2025-02-27 02:00 UTC"' in dee_row
    fay_row = html[html.index('title="Fay Future"') :]
    assert "incident_commander" in fay_row  # an unknown role is shown as it came
    assert "6 synced accounts" in html


def test_list_is_read_only(reviewer_client, data):
    html = reviewer_client.get(URL).content.decode()

    assert "addlink" not in html
    assert "delete_selected" not in html
    assert '<option value="export_csv">Export selected accounts (CSV)</option>' in html
    assert '<option value="export_json">Export selected accounts (JSON)</option>' in html
    assert reviewer_client.get(URL + "add/").status_code == 403
    assert reviewer_client.post(URL + f"{data.ann.pk}/change/", {"name": "Mallory"}).status_code == 403
    assert reviewer_client.post(URL + f"{data.ann.pk}/delete/", {"post": "yes"}).status_code == 403
    data.ann.refresh_from_db()
    assert data.ann.name == "Ann Owner"


def test_tenant_admin_gets_the_same_read_only_list(client, tenant_admin, data):
    client.force_login(tenant_admin)
    response = client.get(URL)
    assert len(listed_names(response)) == 6
    assert client.get(URL + "add/").status_code == 403
    assert client.post(URL + f"{data.bob.pk}/change/", {"name": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("role=admin", ["Bob Admin"]),
        ("role=owner", ["Ann Owner"]),
        ("role=incident_commander", ["Fay Future"]),
        ("privileged=yes", ["Ann Owner", "Bob Admin", "Eve Manager"]),
        ("privileged=no", ["Cy Responder", "Dee Gone", "Fay Future"]),
        ("team={ops}", ["Ann Owner", "Cy Responder", "Dee Gone"]),
        ("team_role=manager", ["Ann Owner", "Eve Manager"]),
        ("team_role=observer", ["Cy Responder"]),
        ("team={web}&team_role=manager", ["Eve Manager"]),  # manager *of that team*
        ("team={ops}&team_role=observer", []),
        ("invitation_pending__exact=1", ["Cy Responder"]),
        ("status=active", ["Ann Owner", "Bob Admin", "Cy Responder", "Eve Manager", "Fay Future"]),
        ("status=removed", ["Dee Gone"]),
        ("license={full_user}", ["Ann Owner", "Bob Admin"]),
        ("license=none", ["Cy Responder", "Dee Gone", "Eve Manager", "Fay Future"]),
        ("integration={integration}&status=active&privileged=yes", ["Ann Owner", "Bob Admin", "Eve Manager"]),
        ("q=resp", ["Cy Responder"]),  # part of a name
        ("q=eve%40acme", ["Eve Manager"]),  # part of an email
        ("q=pbob", ["Bob Admin"]),  # a PagerDuty id, exactly (any case)
        ("q=PB", []),  # ... not a part of one
        ("q=ann+owner", ["Ann Owner"]),
    ],
)
def test_filters_and_search_return_the_right_accounts(reviewer_client, data, other_data, query, expected):
    query = query.format(
        ops=data.ops.pk, web=data.web.pk, full_user=data.full_user.pk, integration=data.integration.pk
    )
    response = reviewer_client.get(f"{URL}?{query}")

    assert response.status_code == 200
    assert listed_names(response) == expected


def test_filters_offer_only_the_viewers_integrations_teams_and_licenses(reviewer_client, data, other_data):
    html = reviewer_client.get(URL).content.decode()
    sidebar = html[html.index('id="changelist-filter"') :]

    assert f"?team={data.ops.pk}" in sidebar and f"?team={data.web.pk}" in sidebar
    assert f"?team={other_data.ops.pk}" not in sidebar and "ZedOps" not in sidebar
    assert f"?license={data.full_user.pk}" in sidebar and "ZedFull User" not in sidebar
    assert f"?integration={data.integration.pk}" in sidebar
    assert f"?integration={other_data.integration.pk}" not in sidebar


def test_role_filter_names_every_role_of_the_table_and_the_unknown_ones(reviewer_client, data):
    html = reviewer_client.get(URL).content.decode()
    role_filter = html[html.index('data-filter-title="role"') :]
    role_filter = role_filter[: role_filter.index("</details>")]

    assert re.findall(r'\?role=([a-z_]+)">([^<]+)</a>', role_filter) == [
        ("owner", "Account Owner"),
        ("admin", "Global Admin"),
        ("read_only_user", "Full Stakeholder"),
        ("read_only_limited_user", "Limited Stakeholder"),
        ("user", "Manager/User"),
        ("limited_user", "Responder"),
        ("observer", "Observer"),
        ("restricted_access", "Restricted Access"),
        ("incident_commander", "incident_commander"),
    ]


def test_another_tenants_team_or_integration_in_the_url_shows_nothing(reviewer_client, data, other_data):
    assert listed_names(reviewer_client.get(f"{URL}?team={other_data.ops.pk}")) == []
    assert listed_names(reviewer_client.get(f"{URL}?integration={other_data.integration.pk}")) == []
    assert listed_names(reviewer_client.get(f"{URL}?license={other_data.full_user.pk}")) == []


def test_a_lookup_through_the_integration_is_refused(reviewer_client, data):
    # The admin lets local fields be filtered from the URL, never a path to the token.
    response = reviewer_client.get(f"{URL}?integration__secrets__startswith=u")
    assert response.status_code == 400


def test_several_integrations_show_which_one_each_account_belongs_to(reviewer_client, tenant, data):
    staging = make_integration(tenant=tenant, description="Staging")
    make_account(integration=staging, name="Stan Staging", role="admin")

    html = reviewer_client.get(URL).content.decode()

    assert "PagerDuty: Staging" in html
    assert len(listed_names(reviewer_client.get(f"{URL}?integration={staging.pk}"))) == 1


# --- Detail page -----------------------------------------------------------------------------


def test_detail_page_shows_every_field_teams_and_history(reviewer_client, data):
    data.bob.job_title = "Head of SRE"
    data.bob.time_zone = "Europe/Belgrade"
    data.bob.created_via_sso = True
    data.bob.save()
    html = reviewer_client.get(URL + f"{data.eve.pk}/change/").content.decode()
    assert "Eve Manager" in html and "eve@acme.test" in html and "PEVE" in html
    assert "Web" in html and '<strong class="pd-privileged-text">manager</strong>' in html
    assert "Team role changed" in html and "Web: responder → manager" in html
    assert "grants privilege" in html

    html = reviewer_client.get(URL + f"{data.bob.pk}/change/").content.decode()
    for shown in ("Head of SRE", "Europe/Belgrade", "Full User", "Global Admin", "(admin)"):
        assert shown in html
    assert "Role changed" in html and "Manager/User → Global Admin" in html
    assert "Member of no team." in html
    assert 'name="_save"' not in html  # nothing to save: read-only

    html = reviewer_client.get(URL + f"{data.dee.pk}/change/").content.decode()
    assert "removed" in html and "Removed from the application" in html and "was Manager/User" in html


def test_detail_links_only_to_http_urls(reviewer_client, data):
    data.cy.html_url = "javascript:alert(document.cookie)"
    data.cy.save()

    html = reviewer_client.get(URL + f"{data.cy.pk}/change/").content.decode()

    assert 'href="javascript:' not in html
    assert "javascript:alert" not in reviewer_client.get(URL).content.decode()


def test_pagerduty_strings_are_shown_as_text(reviewer_client, data):
    data.ann.name = '<script>alert("name")</script>'
    data.ann.job_title = "<img src=x onerror=alert(1)>"
    data.ann.save()
    data.ops.name = "<b>Ops</b>"
    data.ops.save()
    data.full_user.name = "<i>Full</i>"
    data.full_user.save()

    for page in (URL, URL + f"{data.ann.pk}/change/"):
        html = reviewer_client.get(page).content.decode()
        assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in html
        assert "<b>Ops</b>" not in html and "&lt;b&gt;Ops&lt;/b&gt;" in html
        assert "<i>Full</i>" not in html and "&lt;i&gt;Full&lt;/i&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


# --- Scale: queries and counting -------------------------------------------------------------


@pytest.fixture
def synced(tenant):
    def make(accounts: int):
        integration = make_integration(tenant=tenant)
        return make_synced_data(integration=integration, accounts=accounts, teams=7, licenses=3)

    return make


@pytest.mark.parametrize("accounts", [30, 300])
def test_list_runs_the_same_queries_for_30_or_300_accounts(
    reviewer_client, synced, accounts, django_assert_num_queries
):
    synced(accounts)
    # session, user, tenants (active one and header switcher), role checks x2, integrations,
    # roles, teams, licenses, count, page, its integrations, its team memberships, permissions x2,
    # and the findings' scope (the roles a lesser license allows: one query, whatever the page)
    with django_assert_num_queries(16):
        response = reviewer_client.get(URL)
    assert len(listed_names(response)) == min(accounts, 100)


@pytest.mark.parametrize("accounts", [30, 300])
def test_filtered_list_runs_the_same_queries(reviewer_client, synced, accounts, django_assert_num_queries):
    data = synced(accounts)
    with django_assert_num_queries(16):  # the findings' scope: see above
        response = reviewer_client.get(
            f"{URL}?privileged=yes&team={data.teams[0].pk}&q=user&status=active&on_call=no"
        )
    assert response.status_code == 200 and listed_names(response)


@pytest.mark.parametrize("teams", [1, 12])
def test_detail_runs_the_same_queries_whatever_its_teams_and_history(
    reviewer_client, tenant, data, teams, django_assert_num_queries
):
    from tests.factories import make_change, make_team

    account = data.cy
    for n in range(teams):
        team = make_team(integration=data.integration, name=f"Extra {n}", external_id=f"PX{n}")
        account.team_memberships.create(team=team, role="responder")
        make_change(run=data.run, account=account, kind="team_role_changed", new_value="responder", team=team)
    # session, user, tenants (active one and header), integrations, account, memberships, role
    # checks x2, permissions x2, content type, history, the findings' scope, its on-call rows
    with django_assert_num_queries(14):
        response = reviewer_client.get(URL + f"{account.pk}/change/")
    assert response.content.decode().count("joined Extra") == teams


def test_counting_stops_a_window_past_the_current_page(reviewer_client, synced, monkeypatch):
    monkeypatch.setattr(LookAheadPaginator, "look_ahead", 50)
    synced(300)

    first = reviewer_client.get(URL).content.decode()
    assert "More than 150 synced accounts" in first  # 100 on the page + 50 ahead, not 300
    assert f"?{PAGE_VAR}=2" in first

    last = reviewer_client.get(f"{URL}?{PAGE_VAR}=3").content.decode()
    assert "300 synced accounts" in last  # within reach of the window: exact
    assert "User 000299" in last


def test_a_page_past_the_end_is_an_error_not_a_crash(reviewer_client, synced):
    synced(300)
    response = reviewer_client.get(f"{URL}?{PAGE_VAR}=9")
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_select_all_and_search_counts_follow_the_window(reviewer_client, synced, monkeypatch):
    monkeypatch.setattr(LookAheadPaginator, "look_ahead", 50)
    synced(300)

    html = reviewer_client.get(f"{URL}?q=user").content.decode()

    assert "Select all more than 150 synced accounts" in html
    assert "more than 150 results" in html



def test_a_long_history_shows_the_latest_and_links_to_all(reviewer_client, data, monkeypatch):
    from integrations.admin.accounts import SyncedAccountAdmin

    page = URL + f"{data.bob.pk}/change/"
    assert "Every change of this account" not in reviewer_client.get(page).content.decode()

    monkeypatch.setattr(SyncedAccountAdmin, "history_limit", 1)
    html = reviewer_client.get(page).content.decode()
    assert f'href="/admin/integrations/accountchange/?account__id__exact={data.bob.pk}">Every change' in html
