"""The synced-accounts export: the admin action and `exportaccounts`, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse

from tests.conftest import configure
from integrations.exports import EXPORT_KEYS
from tests.factories import make_integration, make_review_data, make_synced_data

URL = "/admin/integrations/syncedaccount/"
SPEC_KEYS = [
    "integration", "pagerduty_id", "name", "email", "role", "role_display", "job_title",
    "time_zone", "invitation_pending", "created_via_sso", "teams", "license", "status",
    "first_seen", "last_seen", "removed_at", "findings",
]


@pytest.fixture
def data(tenant):
    return make_review_data(tenant=tenant)


@pytest.fixture
def other_data(other_tenant):
    return make_review_data(tenant=other_tenant, prefix="Zed")


def run_export(*args) -> str:
    out = io.StringIO()
    call_command("exportaccounts", *args, stdout=out)
    return out.getvalue()


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def export_action(client, action: str, ids, *, select_across=False, query=""):
    payload = {"action": action, "index": "0", "_selected_action": [str(pk) for pk in ids]}
    if select_across:
        payload["select_across"] = "1"
    return client.post(URL + query, payload)


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


# --- Keys and values -------------------------------------------------------------------------


def test_keys_are_exactly_those_of_the_spec():
    assert list(EXPORT_KEYS) == SPEC_KEYS


def test_json_values_for_an_account_with_teams_license_and_a_removed_one(data):
    data.ann.job_title = "CTO"
    data.ann.time_zone = "Europe/Belgrade"
    data.ann.created_via_sso = True
    data.ann.save()
    data.dee.license = data.full_user
    data.dee.save()

    records = {r["pagerduty_id"]: r for r in json.loads(run_export("--format", "json"))}

    assert list(records["PANN"]) == SPEC_KEYS
    assert records["PANN"] == {
        "integration": data.integration.pk,
        "pagerduty_id": "PANN",
        "name": "Ann Owner",
        "email": "ann@acme.test",
        "role": "owner",
        "role_display": "Account Owner",
        "job_title": "CTO",
        "time_zone": "Europe/Belgrade",
        "invitation_pending": False,
        "created_via_sso": True,
        "teams": [{"team": "Ops", "role": "manager"}],
        "license": "Full User",
        "status": "active",
        "first_seen": "2025-01-30T02:00:00Z",
        "last_seen": "2025-03-01T02:00:00Z",  # in view: the integration's last sync
        "removed_at": None,
        "findings": [],
    }
    dee = records["PDEE"]
    assert (dee["status"], dee["removed_at"], dee["last_seen"]) == (
        "removed", "2025-02-27T02:00:00Z", "2025-02-27T02:00:00Z"
    )
    assert dee["teams"] == [{"team": "Ops", "role": "responder"}] and dee["license"] == "Full User"
    assert records["PCY"]["teams"] == [
        {"team": "Ops", "role": "responder"}, {"team": "Web", "role": "observer"}
    ]
    assert records["PCY"]["invitation_pending"] is True and records["PCY"]["license"] is None
    assert records["PFAY"]["role_display"] == "incident_commander"


def test_csv_values_for_the_same_accounts(data):
    rows = {r["pagerduty_id"]: r for r in csv_rows(run_export())}

    assert list(rows["PANN"]) == SPEC_KEYS
    assert rows["PCY"]["teams"] == "Ops:responder;Web:observer"
    assert rows["PCY"]["invitation_pending"] == "true" and rows["PCY"]["license"] == ""
    assert rows["PDEE"]["status"] == "removed" and rows["PDEE"]["removed_at"] == "2025-02-27T02:00:00Z"
    assert rows["PANN"]["removed_at"] == "" and rows["PANN"]["integration"] == str(data.integration.pk)
    assert rows["PBOB"]["role_display"] == "Global Admin" and rows["PBOB"]["teams"] == ""


def test_spreadsheet_formulas_are_neutralised_in_csv_and_kept_in_json(data):
    data.ann.name = '=HYPERLINK("http://evil.test","click")'
    data.ann.job_title = "+1 555 0100"
    data.ann.save()
    data.bob.name = "@SUM(A1:A2)"
    data.bob.job_title = "-2+3"
    data.bob.save()
    data.cy.name = "\tTabbed"
    data.cy.save()
    data.ops.name = "=cmd|' /C calc'!A0"
    data.ops.save()

    rows = {r["pagerduty_id"]: r for r in csv_rows(run_export())}

    assert rows["PANN"]["name"] == "'=HYPERLINK(\"http://evil.test\",\"click\")"
    assert rows["PANN"]["job_title"] == "'+1 555 0100"
    assert rows["PBOB"]["name"] == "'@SUM(A1:A2)" and rows["PBOB"]["job_title"] == "'-2+3"
    assert rows["PCY"]["name"] == "'\tTabbed"
    assert rows["PANN"]["teams"] == "'=cmd|' /C calc'!A0:manager"
    assert rows["PEVE"]["name"] == "Eve Manager"  # ordinary text is left alone
    records = {r["pagerduty_id"]: r for r in json.loads(run_export("--format", "json"))}
    assert records["PANN"]["name"] == '=HYPERLINK("http://evil.test","click")'


def test_names_are_exported_as_the_text_they_are(data):
    data.ann.name = "<script>alert(1)</script> Đorđe Šćepanović"
    data.ann.save()

    rows = {r["pagerduty_id"]: r for r in csv_rows(run_export())}
    records = {r["pagerduty_id"]: r for r in json.loads(run_export("--format", "json"))}

    # A file, not a page: no HTML escaping, and non-ASCII names stay readable.
    assert rows["PANN"]["name"] == records["PANN"]["name"] == "<script>alert(1)</script> Đorđe Šćepanović"
    assert "Đorđe" in run_export("--format", "json")


# --- The command -----------------------------------------------------------------------------


def test_command_narrows_by_tenant_and_integration(data, other_data, tenant):
    everything = csv_rows(run_export())
    acme = csv_rows(run_export("--tenant", "acme"))
    globex = json.loads(run_export("--tenant", "globex", "--format", "json"))
    one = csv_rows(run_export("--integration", str(other_data.integration.pk)))
    both = csv_rows(run_export("--tenant", "acme", "--integration", str(data.integration.pk)))

    assert len(everything) == 12
    assert {r["pagerduty_id"] for r in acme} == {"PANN", "PBOB", "PCY", "PDEE", "PEVE", "PFAY"}
    assert {r["integration"] for r in globex} == {other_data.integration.pk}
    assert {r["name"] for r in one} == {a.name for a in other_data.accounts}
    assert len(both) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nobody"], "No tenant with slug 'nobody'"),
        (["--integration", "999999"], "No integration with id 999999"),
        (["--tenant", "acme", "--integration", "{other}"], "does not belong to tenant 'acme'"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_command_refuses_what_it_cannot_export(data, other_data, args, message):
    args = [a.format(other=other_data.integration.pk) for a in args]
    with pytest.raises(CommandError, match=message):
        run_export(*args)


def test_command_on_an_empty_database_writes_a_header_or_an_empty_list(db):
    assert run_export().strip() == ",".join(SPEC_KEYS)
    assert json.loads(run_export("--format", "json")) == []


@pytest.mark.parametrize("accounts", [30, 300])
def test_export_reads_in_the_same_two_queries_for_30_or_300_accounts(
    tenant, accounts, django_assert_num_queries
):
    make_synced_data(integration=make_integration(tenant=tenant), accounts=accounts, teams=4)
    # The tenant, the licenses that tell the findings, then the accounts with their licenses
    # and their teams (one chunk).
    with django_assert_num_queries(4):
        rows = csv_rows(run_export("--tenant", "acme"))
    assert len(rows) == accounts


# --- The admin action ------------------------------------------------------------------------


def test_action_exports_the_selected_accounts_as_csv(client, reviewer, data):
    client.force_login(reviewer)

    response = export_action(client, "export_csv", [data.ann.pk, data.dee.pk])

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="pagerduty-accounts-')
    rows = csv_rows(body(response))
    assert [r["pagerduty_id"] for r in rows] == ["PANN", "PDEE"]
    assert rows[1]["status"] == "removed" and rows[0]["teams"] == "Ops:manager"


def test_action_exports_json_of_the_whole_filtered_list(client, reviewer, data):
    client.force_login(reviewer)

    response = export_action(client, "export_json", [data.ann.pk], select_across=True, query="?privileged=yes")

    assert response["Content-Type"] == "application/json"
    records = json.loads(body(response))
    assert [r["name"] for r in records] == ["Ann Owner", "Bob Admin", "Eve Manager"]
    assert list(records[0]) == SPEC_KEYS


def test_action_never_exports_another_tenants_accounts(client, reviewer, data, other_data):
    client.force_login(reviewer)

    picked = export_action(client, "export_csv", [data.bob.pk, other_data.bob.pk, other_data.ann.pk])
    everything = export_action(client, "export_json", [data.bob.pk], select_across=True)

    assert [r["pagerduty_id"] for r in csv_rows(body(picked))] == ["PBOB"]
    records = json.loads(body(everything))
    assert {r["integration"] for r in records} == {data.integration.pk}
    assert len(records) == 6


def test_action_export_never_contains_the_token(client, reviewer, data):
    from integrations.models import Integration

    configure(Integration.objects.get(pk=data.integration.pk), token="u+PDsecretTOKEN-3f9a")
    client.force_login(reviewer)

    text = body(export_action(client, "export_json", [data.ann.pk], select_across=True))

    assert "PDsecretTOKEN" not in text and "3f9a" not in text
