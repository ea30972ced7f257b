"""Tenancy in the admin: who sees which tenant's integrations, the superuser-only pages, and
the tenant switcher in the header."""

from __future__ import annotations

import html

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import configure, token_hint
from integrations.models import Integration
from integrations.services import add_integration
from integrations.tenancy import SESSION_KEY

CHANGELIST = reverse("admin:integrations_integration_changelist")
ADD = reverse("admin:integrations_integration_add")
SWITCH = reverse("switch_tenant")


def page(response) -> str:
    return html.unescape(response.content.decode())


def object_urls(integration) -> dict[str, str]:
    return {
        name: reverse(f"admin:integrations_integration_{name}", args=[integration.pk])
        for name in ["change", "configure", "history", "delete"]
    }


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def globex_integration(other_tenant, pagerduty_app):
    return add_integration(tenant=other_tenant, application=pagerduty_app, description="Globex on-call")


@pytest.fixture
def both_tenants_admin(make_user, tenant, other_tenant):
    """An admin of Acme and of Globex: the one who needs the switcher."""
    return make_user("carol", tenant=[tenant, other_tenant], role="admin")


# --- isolation ---------------------------------------------------------------------------


def test_tenant_admin_sees_only_their_tenants_integrations(login, tenant_admin, integration, globex_integration):
    text = page(login(tenant_admin).get(CHANGELIST))
    assert "Production PagerDuty" in text
    assert "Globex on-call" not in text


def test_another_tenants_integration_urls_answer_404(login, tenant_admin, integration, globex_integration):
    client = login(tenant_admin)
    for name in ["change", "configure", "history"]:
        assert client.get(object_urls(globex_integration)[name]).status_code == 404, name
    # Delete is refused to tenant admins whatever the id, so it tells nothing either.
    assert client.get(object_urls(globex_integration)["delete"]).status_code == 403
    response = client.post(object_urls(globex_integration)["configure"], {"access_token": "x", "region": "us"})
    assert response.status_code == 404
    response = client.post(object_urls(globex_integration)["change"], {"description": "hijacked"})
    assert response.status_code == 404
    globex_integration.refresh_from_db()
    assert globex_integration.description == "Globex on-call"
    # Own integration: fine (delete is for superusers only).
    own = object_urls(integration)
    assert [client.get(own[name]).status_code for name in ["change", "configure", "history"]] == [200] * 3
    assert client.get(own["delete"]).status_code == 403


def test_actions_cannot_reach_another_tenants_integration(
    login, tenant_admin, integration, globex_integration
):
    configure(globex_integration, token="some-token")
    response = login(tenant_admin).post(
        CHANGELIST, {"action": "sync_now", "_selected_action": [globex_integration.pk]}, follow=True
    )
    assert "Queued a sync" not in page(response)
    from django_q.models import OrmQ

    assert not OrmQ.objects.exists()


def test_owner_choices_are_members_of_the_integrations_tenant_only(
    login, tenant_admin, integration, make_user, other_tenant
):
    make_user("mallory", tenant=other_tenant, role="admin")
    client = login(tenant_admin)
    for url in [ADD, object_urls(integration)["change"]]:
        response = client.get(url)
        owner_field = response.context["adminform"].form.fields["owner"]
        assert [user.username for user in owner_field.queryset] == ["alice"], url
        assert "mallory" not in page(response)


def test_reviewer_gets_no_integration_pages(login, reviewer, integration):
    client = login(reviewer)
    index = page(client.get(reverse("admin:index")))
    assert CHANGELIST not in index
    assert "Third Party Applications" not in index
    for url in [CHANGELIST, ADD, *object_urls(integration).values()]:
        assert client.get(url).status_code == 403, url
    response = client.post(object_urls(integration)["configure"], {"access_token": "x", "region": "us"})
    assert response.status_code == 403
    assert token_hint(integration) == ""


def test_a_user_with_no_membership_sees_nothing(login, make_user, integration):
    client = login(make_user("nobody"))
    assert client.get(CHANGELIST).status_code == 403
    assert "Tenant: <strong>none</strong>" in page(client.get(reverse("admin:index")))


def test_delete_is_for_superusers_only(login, superuser, integration):
    response = login(superuser).post(object_urls(integration)["delete"], {"post": "yes"})
    assert response.status_code == 302
    assert not Integration.objects.exists()


# --- superuser-only pages ----------------------------------------------------------------

OPERATOR_PAGES = [
    "admin:integrations_tenant_changelist",
    "admin:integrations_tenantmembership_changelist",
    "admin:integrations_thirdpartyapplication_changelist",
]


def test_tenants_memberships_and_catalogue_are_invisible_to_tenant_users(login, tenant_admin, reviewer):
    for user in [tenant_admin, reviewer]:
        client = login(user)
        index = page(client.get(reverse("admin:index")))
        assert "Application catalogue" not in index
        for name in OPERATOR_PAGES:
            if user == tenant_admin and name == "admin:integrations_tenant_changelist":
                continue  # their own tenant's email domains: tests/admin/test_findings_admin.py
            assert reverse(name) not in index
            assert client.get(reverse(name)).status_code == 403, (user, name)


def test_superuser_manages_tenants_with_their_members(login, superuser, tenant, tenant_admin, pagerduty_app):
    client = login(superuser)
    index = page(client.get(reverse("admin:index")))
    assert "Application catalogue" in index
    for name in OPERATOR_PAGES:
        assert client.get(reverse(name)).status_code == 200, name
    catalogue = page(client.get(reverse("admin:integrations_thirdpartyapplication_changelist")))
    assert "PagerDuty" in catalogue

    response = client.get(reverse("admin:integrations_tenant_change", args=[tenant.pk]))
    assert response.status_code == 200
    assert "alice" in page(response)  # the membership inline
    assert "Tenant memberships" in page(response)


# --- the tenant switcher -----------------------------------------------------------------


def test_header_shows_the_tenant_and_a_switcher_only_with_a_choice(login, tenant_admin, both_tenants_admin):
    text = page(login(tenant_admin).get(CHANGELIST))
    assert "Tenant: <strong>Acme</strong>" in text
    assert 'id="tenant-switcher"' not in text

    text = page(login(both_tenants_admin).get(CHANGELIST))
    assert "Tenant: <strong>Acme</strong>" in text
    assert f'action="{SWITCH}"' in text
    assert "<option value=" in text and ">Globex</option>" in text
    assert "All tenants" not in text


def test_switching_tenant_changes_every_list_and_form(
    login, both_tenants_admin, integration, globex_integration, make_user, tenant, other_tenant, pagerduty_app
):
    make_user("gina", tenant=other_tenant, role="reviewer")
    client = login(both_tenants_admin)
    text = page(client.get(CHANGELIST))
    assert "Production PagerDuty" in text and "Globex on-call" not in text

    response = client.post(SWITCH, {"tenant": other_tenant.pk, "next": CHANGELIST})
    assert response.status_code == 302 and response.url == CHANGELIST
    text = page(client.get(CHANGELIST))
    assert "Tenant: <strong>Globex</strong>" in text
    assert "Globex on-call" in text and "Production PagerDuty" not in text
    # The object pages follow too: Acme's integration is out of view now.
    assert client.get(object_urls(integration)["change"]).status_code == 404

    # Add Integration follows: Globex's members, and the integration lands in Globex.
    response = client.get(ADD)
    owners = {user.username for user in response.context["adminform"].form.fields["owner"].queryset}
    assert owners == {"carol", "gina"}
    client.post(ADD, {"application": pagerduty_app.pk, "description": "Added while on Globex"})
    assert Integration.objects.get(description="Added while on Globex").tenant == other_tenant


def test_switching_from_an_object_page_goes_to_its_list(login, both_tenants_admin, integration, other_tenant):
    client = login(both_tenants_admin)
    response = client.post(SWITCH, {"tenant": other_tenant.pk, "next": object_urls(integration)["configure"]})
    assert response.url == CHANGELIST


@pytest.mark.parametrize("next_url", ["https://evil.example/admin/", "//evil.example/", ""])
def test_switch_redirects_only_to_this_site(login, both_tenants_admin, other_tenant, next_url):
    response = login(both_tenants_admin).post(SWITCH, {"tenant": other_tenant.pk, "next": next_url})
    assert response.status_code == 302
    assert response.url == reverse("admin:index")


@pytest.mark.parametrize("forged", ["foreign", "", "abc", "999999", "-1"])
def test_a_forged_tenant_is_refused_and_changes_nothing(
    login, both_tenants_admin, make_user, tenant, other_tenant, forged
):
    from integrations.models import Tenant

    foreign = Tenant.objects.create(name="Initech", slug="initech")
    client = login(both_tenants_admin)
    client.post(SWITCH, {"tenant": other_tenant.pk, "next": CHANGELIST})
    value = str(foreign.pk) if forged == "foreign" else forged
    response = client.post(SWITCH, {"tenant": value, "next": CHANGELIST})
    assert response.status_code == 404
    assert client.session[SESSION_KEY] == other_tenant.pk
    assert "Tenant: <strong>Globex</strong>" in page(client.get(CHANGELIST))


def test_switch_needs_a_logged_in_staff_user_a_post_and_a_csrf_token(both_tenants_admin, other_tenant, client):
    response = client.post(SWITCH, {"tenant": other_tenant.pk})
    assert response.status_code == 302 and reverse("admin:login") in response.url
    assert SESSION_KEY not in client.session

    client.force_login(both_tenants_admin)
    assert client.get(SWITCH, {"tenant": other_tenant.pk}).status_code == 405

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(both_tenants_admin)
    assert csrf_client.post(SWITCH, {"tenant": other_tenant.pk}).status_code == 403
    assert SESSION_KEY not in csrf_client.session


def test_switching_to_a_tenant_where_one_is_reviewer_hides_integration_pages(
    login, make_user, tenant, other_tenant, integration
):
    user = make_user("dave", tenant=tenant, role="admin")
    from integrations.models import TenantMembership

    TenantMembership.objects.create(user=user, tenant=other_tenant, role="reviewer")
    client = login(user)
    assert client.get(CHANGELIST).status_code == 200
    client.post(SWITCH, {"tenant": other_tenant.pk})
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(ADD).status_code == 403


def test_superuser_switches_between_all_tenants_and_one(
    login, superuser, tenant, other_tenant, integration, globex_integration
):
    client = login(superuser)
    text = page(client.get(CHANGELIST))
    assert "Tenant: <strong>All tenants</strong>" in text
    assert '<option value="" selected>All tenants</option>' in text
    assert "Production PagerDuty" in text and "Globex on-call" in text

    assert "column-tenant" in text

    client.post(SWITCH, {"tenant": other_tenant.pk})
    text = page(client.get(CHANGELIST))
    assert "Tenant: <strong>Globex</strong>" in text
    assert "Globex on-call" in text and "Production PagerDuty" not in text
    assert "column-tenant" not in text  # one tenant in view: no tenant column
    tenant_choices = client.get(ADD).context["adminform"].form.fields["tenant"].queryset
    assert list(tenant_choices) == [other_tenant]

    client.post(SWITCH, {"tenant": ""})
    text = page(client.get(CHANGELIST))
    assert "Production PagerDuty" in text and "Globex on-call" in text


def test_tenant_names_are_escaped_in_the_header(login, make_user, tenant, other_tenant):
    other_tenant.name = "<img src=x onerror=alert(1)>"
    other_tenant.save()
    user = make_user("erin", tenant=[tenant, other_tenant], role="admin")
    body = login(user).get(reverse("admin:index")).content.decode()
    assert "<img src=x" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
