"""The Teams admin: members count and managers per team, read-only, in a fixed number of queries."""

from __future__ import annotations

import re

import pytest

from tests.factories import make_account, make_integration, make_review_data, make_team

URL = "/admin/integrations/team/"


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def team_rows(response) -> dict[str, tuple[str, str]]:
    """{team name: (members count, managers text)} from the result rows."""
    html = response.content.decode()
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html[html.index("<tbody>") :], flags=re.S):
        name = re.search(r'field-name"><a href="[^"]+">([^<]+)</a>', row).group(1)
        members = re.search(r'field-members_column"><a href="[^"]+">(\d+)</a>', row).group(1)
        managers = re.sub(r"<[^>]+>", "", re.search(r'field-managers_column">(.*?)</td>', row).group(1))
        found[name] = (members, managers)
    return found


def test_teams_show_active_members_and_their_managers(reviewer_client, tenant):
    data = make_review_data(tenant=tenant)

    response = reviewer_client.get(URL)

    assert response.status_code == 200
    # Ops: Ann (manager), Cy, and Dee who was removed from PagerDuty (not counted).
    assert team_rows(response) == {"Ops": ("2", "Ann Owner"), "Web": ("2", "Eve Manager")}
    html = response.content.decode()
    assert f"/admin/integrations/syncedaccount/?team={data.ops.pk}&amp;status=active" in html
    assert "addlink" not in html and 'name="action"' not in html


def test_team_detail_lists_its_members(reviewer_client, tenant):
    data = make_review_data(tenant=tenant)

    html = reviewer_client.get(URL + f"{data.ops.pk}/change/").content.decode()

    for shown in ("Ann Owner", "Cy Responder", "Dee Gone", "PTOPS"):
        assert shown in html
    assert '<strong class="pd-privileged-text">manager</strong>' in html
    assert 'name="_save"' not in html
    assert reviewer_client.post(URL + f"{data.ops.pk}/change/", {"name": "x"}).status_code == 403


def test_team_names_are_shown_as_text(reviewer_client, tenant):
    data = make_review_data(tenant=tenant)
    data.web.name = "<script>alert('team')</script>"
    data.web.save()
    data.eve.name = "<b>Eve</b>"
    data.eve.save()

    for page in (URL, URL + f"{data.web.pk}/change/"):
        html = reviewer_client.get(page).content.decode()
        assert "<script>alert('team')" not in html and "&lt;script&gt;" in html
        assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html


@pytest.mark.parametrize("teams", [3, 30])
def test_list_runs_the_same_queries_whatever_the_number_of_teams(
    reviewer_client, tenant, teams, django_assert_num_queries
):
    integration = make_integration(tenant=tenant)
    for n in range(teams):
        team = make_team(integration=integration, name=f"Team {n:02d}", external_id=f"PT{n}")
        for m in range(3):
            make_account(
                integration=integration, name=f"Member {n}-{m}", external_id=f"PU{n}-{m}",
                teams={team: "manager" if m == 0 else "responder"},
            )
    # session, user, tenants (active one and header), role checks x2, integrations, count,
    # page, its member counts, its integrations, its managers, permissions x2
    with django_assert_num_queries(13):
        response = reviewer_client.get(URL)
    rows = team_rows(response)
    assert len(rows) == teams
    assert rows["Team 01"] == ("3", "Member 1-0")


def test_a_team_with_many_managers_names_a_few_and_links_to_all(reviewer_client, tenant):
    integration = make_integration(tenant=tenant)
    team = make_team(integration=integration, name="Big")
    for n in range(7):
        make_account(integration=integration, name=f"Boss {n}", external_id=f"PB{n}", teams={team: "manager"})

    rows = team_rows(reviewer_client.get(URL))

    assert rows["Big"] == ("7", "Boss 0, Boss 1, Boss 2, Boss 3, Boss 4 and 2 more")
    html = reviewer_client.get(URL).content.decode()
    assert f"?team={team.pk}&amp;team_role=manager&amp;status=active" in html
