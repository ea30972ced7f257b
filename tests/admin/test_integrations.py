"""The admin flow up to the first sync: Third Party Applications, Add Integration,
Configure and Integrate against a fake PagerDuty over real HTTP, Sync now."""

from __future__ import annotations

import html
import socket

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.views.debug import SafeExceptionReporterFilter
from django_q.models import OrmQ

from integrations.models import Integration, SyncRun
from integrations.services import add_integration
from tests.conftest import TOKEN, saved_region, saved_token, token_hint, configure

CHANGELIST = reverse("admin:integrations_integration_changelist")
ADD = reverse("admin:integrations_integration_add")
ACCEPT = "application/vnd.pagerduty+json;version=2"


def configure_url(integration) -> str:
    return reverse("admin:integrations_integration_configure", args=[integration.pk])


def change_url(integration) -> str:
    return reverse("admin:integrations_integration_change", args=[integration.pk])


def page(response) -> str:
    """The page as a user reads it (entities decoded)."""
    return html.unescape(response.content.decode())


def queued_syncs() -> list[tuple]:
    """(integration id, trigger) of every sync task waiting in django-q2's ORM broker."""
    return [tuple(task.task["args"]) for task in OrmQ.objects.all()]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def alice(admin_client_for, tenant_admin):
    return admin_client_for(tenant_admin)


# --- Third Party Applications -------------------------------------------------------------


def test_admin_home_has_integrations_section_with_third_party_applications(alice, integration):
    response = alice.get(reverse("admin:index"))
    assert response.status_code == 200
    text = page(response)
    assert "Integrations" in text
    assert "Third Party Applications" in text
    assert CHANGELIST in text


def test_changelist_shows_the_columns_badge_and_buttons_of_the_setup_page(alice, integration):
    response = alice.get(CHANGELIST)
    assert response.status_code == 200
    text = page(response)
    headers = [
        "Application",
        "Description",
        "Primary Application Owner",
        "Status",
        "Message",
        "Last synced",
    ]
    for header in headers:
        assert f">{header}</a>" in text or f">{header}</span>" in text, header
    assert "Production PagerDuty" in text
    assert '<span class="status-badge status-not_configured">Not configured</span>' in text
    assert "Configure and Integrate to start syncing" in text
    assert f'href="{configure_url(integration)}">Configure and Integrate</a>' in text
    assert f'href="{ADD}" class="addlink">Add Integration</a>' in text
    assert "Never" in text  # last synced
    # A tenant admin sees one tenant: no tenant column or filter.
    assert "column-tenant" not in text


def test_changelist_links_to_the_sync_history_of_each_integration(alice, integration, pagerduty_app):
    other = add_integration(tenant=integration.tenant, application=pagerduty_app, description="Staging")
    for each, message in ((integration, "production run"), (other, "staging run")):
        SyncRun.objects.create(integration=each, trigger="command", started_at=timezone.now(), message=message)
    text = page(alice.get(CHANGELIST))
    history = reverse("admin:integrations_syncrun_changelist") + f"?integration={integration.pk}"
    assert f'href="{history}"' in text

    runs = page(alice.get(history))
    assert "production run" in runs and "staging run" not in runs


@pytest.mark.parametrize(
    "status, label",
    [
        (Integration.Status.NOT_CONFIGURED, "Not configured"),
        (Integration.Status.PENDING, "Pending"),
        (Integration.Status.SYNCING, "Syncing"),
        (Integration.Status.CONNECTED, "Connected"),
        (Integration.Status.ERROR, "Error"),
    ],
)
def test_every_status_has_its_badge_with_the_label_of_the_spec(alice, integration, status, label):
    Integration.objects.filter(pk=integration.pk).update(status=status)
    text = page(alice.get(CHANGELIST))
    assert f'<span class="status-badge status-{status}">{label}</span>' in text


def test_html_in_a_description_or_message_is_escaped(alice, integration):
    Integration.objects.filter(pk=integration.pk).update(
        description="<script>alert('d')</script>", message="<b>boom</b>"
    )
    body = alice.get(CHANGELIST).content.decode()
    assert "<script>alert(" not in body
    assert "&lt;script&gt;alert(" in body
    assert "<b>boom</b>" not in body
    assert "&lt;b&gt;boom&lt;/b&gt;" in body


def test_changelist_makes_the_same_number_of_queries_for_2_and_20_integrations(
    alice, tenant, pagerduty_app, tenant_admin, django_assert_num_queries
):
    def add(count):
        for number in range(count):
            add_integration(
                tenant=tenant, application=pagerduty_app, owner=tenant_admin, description=f"PD {number}"
            )

    add(2)
    alice.get(CHANGELIST)  # the session is loaded once, like in any later visit
    # session, user, tenants (active one and the switcher's), 2 counts, the rows with their
    # related objects; for the nav sidebar: 2 role checks (admin; admin or reviewer) and
    # 2 permission lookups (auth's models)
    with django_assert_num_queries(10):
        response = alice.get(CHANGELIST)
    assert page(response).count("Configure and Integrate</a>") == 2
    add(18)
    with django_assert_num_queries(10):
        response = alice.get(CHANGELIST)
    assert page(response).count("Configure and Integrate</a>") == 20


# --- Add Integration --------------------------------------------------------------------


def test_tenant_admin_adds_an_integration_to_the_active_tenant(
    alice, tenant, other_tenant, pagerduty_app, tenant_admin, make_user
):
    colleague = make_user("bob", tenant=tenant, role="reviewer")
    stranger = make_user("mallory", tenant=other_tenant, role="admin")

    response = alice.get(ADD)
    assert response.status_code == 200
    text = page(response)
    assert "<h1>Add Integration</h1>" in text
    assert ">Application:</label>" in text
    assert ">Primary Application Owner:</label>" in text
    assert ">Description:</label>" in text
    assert 'name="tenant"' not in text  # tenant admins add to their own tenant
    owner_choices = response.context["adminform"].form.fields["owner"].queryset
    assert set(owner_choices) == {tenant_admin, colleague}
    assert stranger.username not in text

    response = alice.post(
        ADD,
        {"application": pagerduty_app.pk, "owner": colleague.pk, "description": "Production"},
        follow=True,
    )
    assert response.redirect_chain == [(CHANGELIST, 302)]
    integration = Integration.objects.get()
    assert (integration.tenant, integration.owner, integration.description) == (tenant, colleague, "Production")
    assert integration.status == Integration.Status.NOT_CONFIGURED
    text = page(response)
    assert "PagerDuty was added. Next, click <strong>Configure and Integrate</strong>" in text
    assert "Configure and Integrate to start syncing" in text


def test_owner_from_another_tenant_is_refused_and_nothing_is_added(
    alice, other_tenant, pagerduty_app, make_user
):
    stranger = make_user("mallory", tenant=other_tenant, role="admin")
    response = alice.post(ADD, {"application": pagerduty_app.pk, "owner": stranger.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in page(response)
    assert not Integration.objects.exists()


def test_superuser_chooses_the_tenant_and_the_owner_must_belong_to_it(
    admin_client_for, superuser, tenant, other_tenant, pagerduty_app, tenant_admin
):
    client = admin_client_for(superuser)
    response = client.get(ADD)
    text = page(response)
    assert ">Tenant:</label>" in text
    assert set(response.context["adminform"].form.fields["tenant"].queryset) == {tenant, other_tenant}

    # alice belongs to Acme, not Globex: add_integration refuses, the form says why.
    response = client.post(
        ADD, {"tenant": other_tenant.pk, "application": pagerduty_app.pk, "owner": tenant_admin.pk}
    )
    assert response.status_code == 200
    assert "alice is not a member of tenant Globex" in page(response)
    assert not Integration.objects.exists()

    response = client.post(
        ADD, {"tenant": tenant.pk, "application": pagerduty_app.pk, "owner": tenant_admin.pk}
    )
    assert response.status_code == 302
    assert Integration.objects.get().tenant == tenant


def test_superuser_sees_every_tenant_with_a_tenant_column(
    admin_client_for, superuser, integration, other_tenant, pagerduty_app
):
    add_integration(tenant=other_tenant, application=pagerduty_app, description="Globex PD")
    text = page(admin_client_for(superuser).get(CHANGELIST))
    assert "Production PagerDuty" in text and "Globex PD" in text
    assert "column-tenant" in text
    assert "?tenant__id__exact=" in text  # the tenant filter


# --- change page ------------------------------------------------------------------------


def test_change_page_edits_owner_and_description_only(alice, integration, tenant, make_user):
    colleague = make_user("bob", tenant=tenant, role="reviewer")
    response = alice.get(change_url(integration))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert set(form.fields) == {"owner", "description"}
    text = page(response)
    for label in ["Application", "Tenant", "Status", "Message", "Last synced", "Access Token", "Service Region"]:
        assert f"<label>{label}:</label>" in text, label
    assert "No token saved yet" in text
    assert f'href="{configure_url(integration)}">Configure and Integrate</a>' in text
    history = reverse("admin:integrations_syncrun_changelist") + f"?integration={integration.pk}"
    assert f'href="{history}">Sync history</a>' in text

    response = alice.post(
        change_url(integration),
        # A status or token in the POST is ignored: they are not fields of this form.
        {"owner": colleague.pk, "description": " Renamed ", "status": "connected", "access_token": "x"},
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert (integration.owner, integration.description) == (colleague, "Renamed")
    assert (integration.status, saved_token(integration)) == (Integration.Status.NOT_CONFIGURED, "")


def test_change_page_refuses_an_owner_from_another_tenant(alice, integration, other_tenant, make_user):
    stranger = make_user("mallory", tenant=other_tenant, role="admin")
    response = alice.post(change_url(integration), {"owner": stranger.pk, "description": "x"})
    assert response.status_code == 200
    assert "Select a valid choice" in page(response)
    integration.refresh_from_db()
    assert integration.description == "Production PagerDuty"


# --- Configure and Integrate ------------------------------------------------------------


def test_configure_page_has_the_fields_help_and_button_of_the_setup_page(alice, integration):
    response = alice.get(configure_url(integration))
    assert response.status_code == 200
    text = page(response)
    assert "<h1>Configure and Integrate</h1>" in text
    assert ">Access Token:</label>" in text
    assert ">Service Region:</label>" in text
    assert '<option value="us" selected>US</option>' in text
    assert '<option value="eu">EU</option>' in text
    assert 'type="password" name="access_token"' in text
    assert 'value="Save changes"' in text
    assert "A read-only API key is required" in text
    assert "Integrations > Developer Tools > API Access Keys" in text
    assert "Create New API Key" in text
    assert "check Read-only API Key" in text
    assert "admin or owner" in text
    assert "dedicated service account rather than a person's account" in text


def test_configure_flow_refuses_bad_tokens_then_saves_a_good_one(
    alice, integration, fake_pagerduty, settings, django_capture_on_commit_callbacks
):
    url = configure_url(integration)

    def refused(token, *words, field=None):
        """The form says which problem it was (`words`), and nothing is saved or queued."""
        with django_capture_on_commit_callbacks(execute=True):
            response = alice.post(url, {"access_token": token, "region": "us"})
        assert response.status_code == 200
        errors = response.context["form"].errors[field or "__all__"]
        assert len(errors) == 1
        for word in words:
            assert word in errors[0].lower()
        assert errors[0].endswith("Nothing was saved.")
        assert errors[0] in page(response)
        assert token not in response.content.decode()
        integration.refresh_from_db()
        assert integration.status == Integration.Status.NOT_CONFIGURED
        assert integration.message == "Configure and Integrate to start syncing"
        assert (saved_token(integration), token_hint(integration)) == ("", "")
        assert queued_syncs() == []

    # A wrong token: PagerDuty answers 401.
    refused("wrong-token-0000", "token", "rejected", "401", field="access_token")
    assert fake_pagerduty.requests[-1].status == 401
    # A token without permission: 403.
    fake_pagerduty.inject(r"^/users$", status=403, times=None)
    refused(TOKEN, "permission", "403", field="access_token")
    fake_pagerduty.clear_faults()
    # PagerDuty does not answer in time.
    settings.PAGERDUTY_READ_TIMEOUT = 0.2
    fake_pagerduty.inject(r"^/users$", kind="stall", delay=2, times=None)
    refused(TOKEN, "unreachable", "in time")
    fake_pagerduty.clear_faults()
    # PagerDuty is unreachable.
    settings.PAGERDUTY_API_BASE_URL = f"http://127.0.0.1:{closed_port()}"
    refused(TOKEN, "unreachable", "connect")

    settings.PAGERDUTY_API_BASE_URL = fake_pagerduty.base_url
    fake_pagerduty.reset_log()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(url, {"access_token": TOKEN, "region": "eu"}, follow=True)
    assert response.redirect_chain == [(CHANGELIST, 302)]
    text = page(response)
    assert "Saved. The first sync is queued." in text
    assert '<span class="status-badge status-pending">Pending</span>' in text
    assert "Awaiting first sync" in text

    # Exactly one read-only request, with PagerDuty's headers.
    assert fake_pagerduty.request_count == 1
    request = fake_pagerduty.requests[0]
    assert (request.method, request.path, request.params) == ("GET", "/users", {"limit": ["1"]})
    assert request.headers["authorization"] == f"Token token={TOKEN}"
    assert request.headers["accept"] == ACCEPT

    integration.refresh_from_db()
    assert integration.status == Integration.Status.PENDING
    assert integration.message == "Awaiting first sync"
    assert (saved_region(integration), token_hint(integration)) == ("eu", "••••3f9a")
    assert queued_syncs() == [(integration.pk, "configure")]

    # Coming back: only the hint, never the token.
    response = alice.get(url)
    body = response.content.decode()
    assert TOKEN not in body
    assert 'name="access_token"' in body and 'value="' + TOKEN not in body
    assert "A token is saved (••••3f9a); enter a new one to replace it" in page(response)
    assert '<option value="eu" selected>EU</option>' in page(response)


def test_saving_again_without_a_token_revalidates_the_saved_one(
    alice, integration, fake_pagerduty, django_capture_on_commit_callbacks
):
    alice.post(configure_url(integration), {"access_token": TOKEN, "region": "us"})
    fake_pagerduty.reset_log()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(configure_url(integration), {"access_token": "", "region": "us"})
    assert response.status_code == 302
    assert fake_pagerduty.request_count == 1
    assert fake_pagerduty.requests[0].headers["authorization"] == f"Token token={TOKEN}"


def test_an_empty_token_is_required_before_any_is_saved(alice, integration, fake_pagerduty):
    response = alice.post(configure_url(integration), {"access_token": "  ", "region": "us"})
    assert response.status_code == 200
    assert "This field is required." in page(response)
    assert fake_pagerduty.request_count == 0


def test_the_token_never_leaves_the_server_and_is_encrypted_at_rest(
    alice, integration, fake_pagerduty, settings
):
    error_page = alice.post(configure_url(integration), {"access_token": TOKEN, "region": "xx"})
    assert error_page.status_code == 200
    alice.post(configure_url(integration), {"access_token": TOKEN, "region": "us"})
    integration.refresh_from_db()
    assert saved_token(integration) == TOKEN  # saved, and readable by the sync

    bodies = {
        "POST error page": error_page,
        "changelist": alice.get(CHANGELIST),
        "change page": alice.get(change_url(integration)),
        "configure page": alice.get(configure_url(integration)),
        "history": alice.get(reverse("admin:integrations_integration_history", args=[integration.pk])),
    }
    for name, response in bodies.items():
        assert response.status_code == 200, name
        assert TOKEN not in response.content.decode(), name
    assert "••••3f9a" in page(bodies["change page"])

    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM integrations_integration")
        (stored,) = cursor.fetchone()
    assert stored and TOKEN not in stored and "3f9a" not in stored


def test_the_token_is_hidden_from_error_reports(alice, integration, fake_pagerduty):
    response = alice.post(configure_url(integration), {"access_token": TOKEN, "region": "us"})
    request = response.wsgi_request
    assert request.sensitive_post_parameters == "__ALL__"  # every field: secrets are the connector's
    reported = SafeExceptionReporterFilter().get_post_parameters(request)
    assert reported["access_token"] != TOKEN
    assert set(reported["access_token"]) == {"*"}


def test_configure_needs_post_with_a_csrf_token(client, tenant_admin, integration, fake_pagerduty):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(tenant_admin)
    response = csrf_client.post(configure_url(integration), {"access_token": TOKEN, "region": "us"})
    assert response.status_code == 403
    assert fake_pagerduty.request_count == 0


# --- Sync now ---------------------------------------------------------------------------


def test_sync_now_queues_configured_integrations_and_skips_the_others(
    alice, integration, tenant, pagerduty_app
):
    configured = []
    for number in range(2):
        other = add_integration(tenant=tenant, application=pagerduty_app, description=f"PD {number}")
        configured.append(configure(other, token=f"token-{number}"))

    response = alice.post(
        CHANGELIST,
        {
            "action": "sync_now",
            "_selected_action": [integration.pk, *[item.pk for item in configured]],
        },
        follow=True,
    )
    text = page(response)
    assert "Queued a sync of 2 integrations." in text
    assert "Skipped 1 integration not configured yet: Configure and Integrate first." in text
    assert sorted(queued_syncs()) == sorted((item.pk, "admin") for item in configured)
