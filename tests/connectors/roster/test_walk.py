"""A second application walks the whole product without a line changed outside its package:
Add Integration, Configure and Integrate, sync, the accounts list, changes and the export."""

from __future__ import annotations

import html
import json

import pytest
from django.urls import reverse

from integrations.models import AccountChange, Integration, SyncedAccount, ThirdPartyApplication
from integrations.secrets import Secret
from integrations.sync import sync_integration
from tests.connectors.roster.fake import FakeRoster

API_KEY = "roster-key-0123456789-wxyz"
PEOPLE = [
    {"id": "r1", "name": "Bea Boss", "email": "bea@acme.test", "role": "boss"},
    {"id": "r2", "name": "Sam Staff", "email": "sam@acme.test", "role": "staff"},
    {"id": "r3", "name": "Odd One", "email": "odd@acme.test", "role": "intern"},
]
GROUPS = [{"id": "g1", "name": "Night shift", "members": [["r2", "lead"], ["r3", "member"]]}]


@pytest.fixture
def roster(settings):
    with FakeRoster(api_key=API_KEY, workspace="acme", people=[dict(p) for p in PEOPLE], groups=GROUPS) as fake:
        settings.ROSTER_BASE_URL = fake.base_url
        yield fake


def page(response) -> str:
    return html.unescape(response.content.decode())


def test_a_second_connector_goes_through_the_admin_sync_lists_and_export(
    client, tenant_admin, reviewer, roster, django_capture_on_commit_callbacks
):
    application = ThirdPartyApplication.objects.get(key="roster")  # made by migrate from the registry
    client.force_login(tenant_admin)

    response = client.post(
        reverse("admin:integrations_integration_add"),
        {"application": application.pk, "owner": tenant_admin.pk, "description": "Staff roster"},
    )
    assert response.status_code == 302
    integration = Integration.objects.get(application=application)

    configure = reverse("admin:integrations_integration_configure", args=[integration.pk])
    form = page(client.get(configure))
    assert "API Key" in form and "Workspace" in form and "Service Region" not in form

    refused = page(client.post(configure, {"api_key": "wrong", "workspace": "acme"}))
    assert "Token rejected: Roster refused the API key (401). Nothing was saved." in refused
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(configure, {"api_key": API_KEY, "workspace": "acme"})
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.configuration == {"workspace": "acme"}
    assert integration.secrets == {"api_key": Secret(API_KEY)}
    assert integration.secret_hints == {"api_key": "••••wxyz"}
    assert API_KEY not in page(client.get(reverse("admin:integrations_integration_change", args=[integration.pk])))

    result = sync_integration(integration_id=integration.pk, trigger="admin")
    assert (result.outcome, result.added, result.requests) == ("success", 3, 1)
    assert roster.requests == [("GET", "/acme/people")] * 3  # two checks of the key, one sync
    integration.refresh_from_db()
    assert (integration.get_status_display(), integration.message) == ("Connected", "Data available")

    client.force_login(reviewer)
    accounts = page(client.get(reverse("admin:integrations_syncedaccount_changelist")))
    assert "Bea Boss" in accounts and "Boss" in accounts and "intern" in accounts
    privileged = page(client.get(reverse("admin:integrations_syncedaccount_changelist") + "?privileged=yes"))
    assert "Bea Boss" in privileged and "Sam Staff" in privileged  # a boss, and a lead of a group
    assert "Odd One" not in privileged

    roster.people[0]["role"] = "staff"
    sync_integration(integration_id=integration.pk, trigger="admin")
    change = AccountChange.objects.get(kind=AccountChange.Kind.ROLE_CHANGED)
    assert (change.old_value, change.new_value) == ("boss", "staff")
    changes = page(client.get(reverse("admin:integrations_accountchange_changelist")))
    assert "Boss → Staff" in changes

    export = client.post(
        reverse("admin:integrations_syncedaccount_changelist"),
        {"action": "export_json", "select_across": "1", "index": "0",
         "_selected_action": list(SyncedAccount.objects.values_list("pk", flat=True))},
    )
    rows = {row["pagerduty_id"]: row for row in json.loads(b"".join(export.streaming_content))}
    assert rows["r1"]["role_display"] == "Staff"
    assert rows["r2"]["teams"] == [{"team": "Night shift", "role": "lead"}]
    assert rows["r3"]["role_display"] == "intern"  # unknown roles are kept and shown as they came
