"""Who sees the reviewers' pages: a tenant's reviewers and admins, their active tenant only."""

from __future__ import annotations

import pytest

from tests.conftest import configure
from integrations.models import AccountChange, Integration
from integrations.tenancy import SESSION_KEY
from tests.factories import make_review_data

ACCOUNTS = "/admin/integrations/syncedaccount/"
CHANGES = "/admin/integrations/accountchange/"
TEAMS = "/admin/integrations/team/"
TOKEN = "u+PDreviewTOKEN-0123456789abcdef3f9a"


@pytest.fixture
def acme(tenant):
    data = make_review_data(tenant=tenant)
    configure(Integration.objects.get(pk=data.integration.pk), token=TOKEN)
    return data


@pytest.fixture
def globex(other_tenant):
    return make_review_data(tenant=other_tenant, prefix="Zed")


def pages(data) -> dict[str, str]:
    change = AccountChange.objects.filter(account=data.bob).get()
    return {
        "accounts": ACCOUNTS,
        "account": f"{ACCOUNTS}{data.bob.pk}/change/",
        "changes": CHANGES,
        "change": f"{CHANGES}{change.pk}/change/",
        "teams": TEAMS,
        "team": f"{TEAMS}{data.ops.pk}/change/",
        "index": "/admin/",
    }


def export(client, ids):
    return client.post(
        ACCOUNTS, {"action": "export_csv", "index": "0", "select_across": "1", "_selected_action": ids}
    )


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_a_tenant_member_sees_every_page_of_their_tenant(client, make_user, tenant, acme, globex, role):
    client.force_login(make_user("member", tenant=tenant, role=role))

    for name, url in pages(acme).items():
        response = client.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert "Zed" not in html, name  # nothing of the other tenant, not even in a filter
        assert TOKEN not in html and "3f9a" not in html, name
    exported = b"".join(export(client, [acme.bob.pk]).streaming_content).decode()
    assert "PBOB" in exported and "Zed" not in exported


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_another_tenants_objects_answer_404(client, make_user, tenant, acme, globex, role):
    client.force_login(make_user("member", tenant=tenant, role=role))

    for name, url in pages(globex).items():
        if name in ("accounts", "changes", "teams", "index"):
            continue
        assert client.get(url).status_code == 404, name
    exported = b"".join(export(client, [globex.bob.pk]).streaming_content).decode()
    assert "Zed" not in exported


def test_reviewer_sees_no_integration_configuration(client, reviewer, acme):
    client.force_login(reviewer)

    index = client.get("/admin/").content.decode()

    assert "/admin/integrations/integration/" not in index
    assert client.get("/admin/integrations/integration/").status_code == 403
    assert client.get(f"/admin/integrations/integration/{acme.integration.pk}/change/").status_code == 403
    for app_link in (ACCOUNTS, CHANGES, TEAMS):
        assert f'href="{app_link}"' in index


def test_a_member_of_two_tenants_sees_the_active_one_only(client, make_user, tenant, other_tenant, acme, globex):
    client.force_login(make_user("both", tenant=[tenant, other_tenant], role="reviewer"))
    session = client.session
    session[SESSION_KEY] = other_tenant.pk
    session.save()

    accounts = client.get(ACCOUNTS).content.decode()

    assert "ZedBob Admin" in accounts and ">Bob Admin<" not in accounts
    assert client.get(f"{ACCOUNTS}{acme.bob.pk}/change/").status_code == 404
    assert client.get(f"{ACCOUNTS}{globex.bob.pk}/change/").status_code == 200
    exported = b"".join(export(client, [globex.bob.pk]).streaming_content).decode()
    assert "ZedBob Admin" in exported and ",Bob Admin," not in exported


def test_a_staff_user_without_a_tenant_role_is_refused(client, make_user, acme):
    client.force_login(make_user("stranger"))

    for name, url in pages(acme).items():
        if name == "index":
            continue
        assert client.get(url).status_code == 403, name
    assert export(client, [acme.bob.pk]).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client, acme):
    for name, url in pages(acme).items():
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], name


def test_superuser_sees_every_tenant_with_the_integration_named(client, superuser, acme, globex):
    client.force_login(superuser)

    html = client.get(ACCOUNTS).content.decode()

    assert "Bob Admin" in html and "ZedBob Admin" in html
    assert "Acme / PagerDuty: Production PagerDuty" in html and "Globex / PagerDuty: Production PagerDuty" in html
    assert client.get(f"{ACCOUNTS}{globex.bob.pk}/change/").status_code == 200
