"""The accounts summary: the selector, the template tag, and the admin index for each viewer."""

from __future__ import annotations

import re

import pytest
from django.template import Context, Template

from integrations.selectors import account_summary
from integrations.tenancy import SESSION_KEY
from tests.factories import make_account, make_integration, make_review_data, make_run, make_synced_data


@pytest.fixture
def data(tenant):
    return make_review_data(tenant=tenant)


def render_tag(integration) -> str:
    return Template("{% load account_summary %}{% account_summary integration %}").render(
        Context({"integration": integration})
    )


def test_summary_counts_what_a_reviewer_asks_about(data, django_assert_num_queries):
    with django_assert_num_queries(3):
        summary = account_summary(integration=data.integration)

    assert summary["active"] == 5 and summary["removed"] == 1
    assert [(row["display"], row["count"]) for row in summary["by_role"]] == [
        ("Account Owner", 1),
        ("Global Admin", 1),
        ("Manager/User", 1),  # Eve; Dee was removed
        ("Responder", 1),
        ("incident_commander", 1),  # an unknown role is counted under its own name
    ]
    # Ann (owner), Bob (admin), and Eve who manages a team; Ann's team is not counted twice.
    assert summary["privileged"] == 3
    assert summary["pending"] == 1
    assert summary["last_run"] == data.run
    assert (summary["added_last_sync"], summary["removed_last_sync"]) == (1, 1)


@pytest.mark.parametrize("accounts", [30, 300])
def test_summary_takes_three_queries_at_any_size(tenant, accounts, django_assert_num_queries):
    data = make_synced_data(integration=make_integration(tenant=tenant), accounts=accounts, teams=5)
    with django_assert_num_queries(3):
        summary = account_summary(integration=data.integration)
    assert summary["active"] == accounts - data.removed
    assert sum(row["count"] for row in summary["by_role"]) == summary["active"]
    assert summary["pending"] == data.integration.accounts.active().filter(invitation_pending=True).count()


def test_summary_ignores_dry_runs_and_runs_still_going(data):
    make_run(integration=data.integration, started_at=data.run.started_at.replace(day=2), outcome="dry_run", added=50)
    make_run(integration=data.integration, started_at=data.run.started_at.replace(day=3), outcome="running")

    assert account_summary(integration=data.integration)["last_run"] == data.run


def test_tag_draws_bars_links_and_figures(data):
    html = render_tag(data.integration)

    assert "PagerDuty: Production PagerDuty" in html
    assert re.search(r"<strong>5</strong> accounts", html)
    assert re.search(r"<strong>3</strong> privileged", html)
    assert re.search(r"<strong>1</strong> invitation pending", html)
    assert "<strong>1</strong> added" in html and "<strong>1</strong> removed" in html
    bars = re.findall(r'role=(\w+)">([^<]+)</a></th>\s*<td class="pd-bar-cell"><svg class="pd-bar([^"]*)"[^>]*><rect width="([\d.]+)%"', html)
    assert [(role, display, privileged.strip(), width) for role, display, privileged, width in bars] == [
        ("owner", "Account Owner", "pd-bar-privileged", "20.0"),
        ("admin", "Global Admin", "pd-bar-privileged", "20.0"),
        ("user", "Manager/User", "", "20.0"),
        ("limited_user", "Responder", "", "20.0"),
        ("incident_commander", "incident_commander", "", "20.0"),
    ]
    integration = data.integration.pk
    assert f"/admin/integrations/syncedaccount/?integration={integration}&amp;status=active&amp;privileged=yes" in html
    assert f"/admin/integrations/syncedaccount/?integration={integration}&amp;status=active&amp;invitation_pending__exact=1" in html
    assert f"/admin/integrations/accountchange/?integration={integration}&amp;run={data.run.pk}&amp;kind__exact=added" in html
    assert "<script" not in html and "http" not in html.replace('href="/admin', "")  # no external assets


def test_tag_escapes_pagerduty_and_customer_strings(tenant):
    integration = make_integration(tenant=tenant, description="<img src=x onerror=alert(1)>")
    make_account(integration=integration, name="A", role="<b>boss</b>")

    html = render_tag(integration)

    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>boss</b>" not in html and "&lt;b&gt;boss&lt;/b&gt;" in html


def test_tag_for_an_integration_without_accounts(tenant):
    html = render_tag(make_integration(tenant=tenant, status="pending", last_synced_at=None))
    assert "Not configured yet." in html and "pd-bar" not in html.replace(".pd-bar", "")


def test_index_shows_the_viewers_tenant_summaries_only(client, reviewer, data, other_tenant):
    make_review_data(tenant=other_tenant, prefix="Zed", description="Globex PagerDuty")
    client.force_login(reviewer)

    html = client.get("/admin/").content.decode()

    assert 'id="account-summaries"' in html
    assert "Production PagerDuty" in html and "Globex PagerDuty" not in html
    assert html.count('class="module pd-summary"') == 1


def test_index_follows_the_active_tenant(client, make_user, tenant, other_tenant, data):
    make_review_data(tenant=other_tenant, prefix="Zed", description="Globex PagerDuty")
    user = make_user("both", tenant=[tenant, other_tenant], role="reviewer")
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = other_tenant.pk
    session.save()

    html = client.get("/admin/").content.decode()

    assert "Globex PagerDuty" in html and "Production PagerDuty" not in html


def test_superuser_sees_every_tenants_summary_with_its_name(client, superuser, data, other_tenant):
    make_review_data(tenant=other_tenant, prefix="Zed", description="Globex PagerDuty")
    client.force_login(superuser)

    html = client.get("/admin/").content.decode()

    assert html.count('class="module pd-summary"') == 2
    assert "· Acme" in html and "· Globex" in html


def test_a_staff_user_of_no_tenant_sees_no_summary(client, make_user, data):
    client.force_login(make_user("nobody"))
    html = client.get("/admin/").content.decode()
    assert 'class="module pd-summary"' not in html
    assert "Production PagerDuty" not in html


def test_index_summarises_a_few_integrations_and_asks_to_choose_a_tenant_for_more(
    client, superuser, tenant, monkeypatch
):
    from integrations.templatetags import account_summary as tag

    monkeypatch.setattr(tag, "MAX_SUMMARIES", 2)
    for n in range(3):
        make_integration(tenant=tenant, description=f"Integration {n}")
    client.force_login(superuser)

    html = client.get("/admin/").content.decode()

    assert html.count('class="module pd-summary"') == 2
    assert "choose a tenant in the header" in html
