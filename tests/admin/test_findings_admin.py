"""Findings in the admin: badges and filters on accounts, counts on the summary, the export,
who made each change, on-call context, and the tenant's email domains."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from integrations import findings
from integrations.exports import iter_records
from integrations.models import License, OnCall, SyncedAccount
from tests.factories import SYNC_TIME, make_account, make_change, make_integration, make_run

pytestmark = pytest.mark.django_db
ACCOUNTS = "/admin/integrations/syncedaccount/"
CHANGES = "/admin/integrations/accountchange/"


@pytest.fixture
def data(tenant):
    tenant.email_domains = "acme.test"
    tenant.save()
    integration = make_integration(tenant=tenant)
    full = License.objects.create(
        integration=integration, external_id="PFULL", name="Full User", role_group="FullUser",
        valid_roles=["owner", "admin", "user", "limited_user", "observer"],
    )
    License.objects.create(
        integration=integration, external_id="PSTAKE", name="Stakeholder", role_group="Stakeholder",
        valid_roles=["read_only_user", "read_only_limited_user"],
    )
    ann = make_account(integration=integration, name="Ann Owner", email="ann@ACME.test", role="owner", license=full)
    bob = make_account(integration=integration, name="Bob Contractor", email="bob@contractor.example", license=full)
    cy = make_account(integration=integration, name="Cy Pending", email="cy@acme.test", invitation_pending=True, license=full)
    dee = make_account(integration=integration, name="Dee Stakeholder", email="dee@acme.test", role="read_only_user", license=full)
    gone = make_account(
        integration=integration, name="Gone Outsider", email="gone@elsewhere.example", removed_at=SYNC_TIME, license=full
    )
    return dict(integration=integration, ann=ann, bob=bob, cy=cy, dee=dee, gone=gone)


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


def listed(response) -> str:
    return response.content.decode()


def names_in(response) -> set[str]:
    html = listed(response)
    return {name for name in ("Ann Owner", "Bob Contractor", "Cy Pending", "Dee Stakeholder", "Gone Outsider") if f">{name}</a>" in html}


# --- each finding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "finding, who",
    [
        ("external_email", {"Bob Contractor"}),
        ("license_pending_invite", {"Cy Pending"}),
        ("license_downgrade", {"Dee Stakeholder"}),
        ("any", {"Bob Contractor", "Cy Pending", "Dee Stakeholder"}),
    ],
)
def test_the_finding_filter_lists_the_accounts_a_reviewer_should_look_at(reviewer_client, data, finding, who):
    response = reviewer_client.get(f"{ACCOUNTS}?finding={finding}")
    assert response.status_code == 200
    assert names_in(response) == who


def test_a_finding_the_filter_does_not_offer_is_refused(reviewer_client, data):
    assert reviewer_client.get(f"{ACCOUNTS}?finding=no_such_finding").status_code == 400


def test_badges_name_each_accounts_findings(reviewer_client, data):
    html = listed(reviewer_client.get(ACCOUNTS))
    assert html.count(">outside email</span>") == 1
    assert html.count(">license on a pending invite</span>") == 1
    assert html.count(">lesser license would do</span>") == 1


def test_a_tenant_without_email_domains_has_no_outside_emails(reviewer_client, data, tenant):
    tenant.email_domains = ""
    tenant.save()
    assert names_in(reviewer_client.get(f"{ACCOUNTS}?finding=external_email")) == set()


def test_the_database_and_python_rules_agree(data):
    integration = data["integration"]
    scope = findings.scope_for(integrations=[integration])
    accounts = findings.with_findings(SyncedAccount.objects.filter(integration=integration), scope=scope)
    for account in accounts.select_related("license"):
        assert findings.annotated_findings(account) == findings.findings_of(
            scope=scope, integration_id=account.integration_id, email=account.email, role=account.role,
            invitation_pending=account.invitation_pending, has_license=account.license_id is not None,
            license_role_group=account.license.role_group if account.license_id else None,
            removed=account.removed_at is not None,
        ), account.name


def test_the_summary_counts_findings_and_the_licenses_they_free(reviewer_client, data, django_assert_num_queries):
    with django_assert_num_queries(2):  # the scope, then one aggregate
        counts = findings.finding_counts(integration=data["integration"])
    assert counts == {"external_email": 1, "license_pending_invite": 1, "license_downgrade": 1}
    html = listed(reviewer_client.get("/admin/"))
    assert "1</strong> outside email" in html
    assert "(1 license to reclaim)" in html
    assert "(1 license to exchange for a lesser one)" in html
    assert "finding=license_downgrade" in html


def test_the_export_carries_the_findings_last(data):
    records = {r["pagerduty_id"]: r for r in iter_records(SyncedAccount.objects.all())}
    assert list(records[data["bob"].external_id])[-1] == "findings"
    assert records[data["bob"].external_id]["findings"] == ["external_email"]
    assert records[data["ann"].external_id]["findings"] == []
    assert records[data["gone"].external_id]["findings"] == []  # removed: nothing to act on

    out = io.StringIO()
    data["bob"].invitation_pending = True
    data["bob"].save()
    call_command("exportaccounts", "--tenant", "acme", "--format", "csv", stdout=out)
    rows = {row["pagerduty_id"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert rows[data["bob"].external_id]["findings"] == "external_email;license_pending_invite"
    out = io.StringIO()
    call_command("exportaccounts", "--tenant", "acme", "--format", "json", stdout=out)
    assert {r["name"]: r["findings"] for r in json.loads(out.getvalue())}["Dee Stakeholder"] == ["license_downgrade"]


# --- who made each change --------------------------------------------------------------------


@pytest.fixture
def attributed(data):
    run = make_run(integration=data["integration"])
    by_token = make_change(run=run, account=data["bob"], kind="role_changed", old_value="user", new_value="admin")
    by_token.actor_name, by_token.actor_type, by_token.actor_method = "Terraform Cloud", "api_token", "api_token"
    by_token.acted_at = SYNC_TIME - dt.timedelta(hours=5)
    by_token.save()
    by_scim = make_change(run=run, account=data["cy"], kind="role_changed", old_value="user", new_value="admin")
    by_scim.actor_name, by_scim.actor_type, by_scim.actor_method = "Okta SCIM", "scim", "identity_provider"
    by_scim.save()
    unknown = make_change(run=run, account=data["dee"], kind="email_changed", old_value="d@x.test", new_value="dee@acme.test")
    return dict(by_token=by_token, by_scim=by_scim, unknown=unknown)


def test_the_changes_list_says_who_made_each_change_and_flags_privilege_from_outside_the_idp(
    reviewer_client, attributed
):
    html = listed(reviewer_client.get(CHANGES))
    assert "Terraform Cloud" in html and "an API token, with an API token" in html
    assert "Okta SCIM" in html and "by the identity provider" in html
    assert html.count("outside the identity provider</span>") == 1  # the token's grant, not SCIM's
    assert "not recorded" in html

    outside = listed(reviewer_client.get(f"{CHANGES}?made_by=outside_idp"))
    assert "Terraform Cloud" in outside and "Okta SCIM" not in outside
    assert "Bob Contractor" in listed(reviewer_client.get(f"{CHANGES}?made_by=api_token"))
    assert "Dee Stakeholder" in listed(reviewer_client.get(f"{CHANGES}?made_by=unknown"))


def test_the_accounts_page_shows_who_made_its_changes(reviewer_client, data, attributed):
    html = listed(reviewer_client.get(f"{ACCOUNTS}{data['bob'].pk}/change/"))
    assert "Made by" in html and "Terraform Cloud" in html
    assert "outside the identity provider" in html
    assert "outside email" in html  # its findings, too


# --- on call ---------------------------------------------------------------------------------


def on_call(account, policy: str, level: int, *, schedule: str = "") -> OnCall:
    return OnCall.objects.create(
        integration=account.integration, account=account, policy_id=f"PE{policy[:4].upper()}", policy_name=policy,
        policy_url=f"https://acme.pagerduty.com/escalation_policies/PE{policy[:4].upper()}", level=level,
        schedule_name=schedule,
    )


def test_an_accounts_page_says_what_revoking_it_leaves_without_anyone(reviewer_client, data):
    on_call(data["ann"], "Payments", 1, schedule="Payments primary")
    on_call(data["ann"], "Payments", 2)
    on_call(data["cy"], "Payments", 2)
    on_call(data["gone"], "Payments", 1)  # removed from PagerDuty: covers nothing

    html = listed(reviewer_client.get(f"{ACCOUNTS}{data['ann'].pk}/change/"))

    assert "Payments primary" in html and "direct target" in html
    assert "revoking leaves level 1 without anyone" in html
    assert "1 other on call" in html
    context = findings.on_call_of(account_ids=[data["ann"].pk])[data["ann"].pk]
    assert [(c.level, c.sole) for c in context] == [(1, True), (2, False)]
    assert names_in(reviewer_client.get(f"{ACCOUNTS}?on_call=yes")) == {"Ann Owner", "Cy Pending", "Gone Outsider"}


def test_on_call_context_of_many_accounts_takes_two_queries(data, django_assert_num_queries):
    for account in ("ann", "bob", "cy", "dee"):
        on_call(data[account], "Core", 1)
    with django_assert_num_queries(2):
        context = findings.on_call_of(account_ids=[data[a].pk for a in ("ann", "bob", "cy", "dee")])
    assert {entries[0].others for entries in context.values()} == {3}


# --- the tenant's email domains ------------------------------------------------------------


def test_a_tenant_admin_sets_only_their_tenants_email_domains(client, tenant_admin, tenant, other_tenant):
    client.force_login(tenant_admin)
    url = reverse("admin:integrations_tenant_change", args=[tenant.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="email_domains"' in listed(page)
    assert 'name="slug"' not in listed(page) and "Tenant memberships" not in listed(page)

    response = client.post(url, {"email_domains": "ACME.test, @acme.example", "name": "Renamed"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.email_domains == "acme.test\nacme.example" and tenant.name == "Acme"

    bad = client.post(url, {"email_domains": "exa mple"})
    assert bad.status_code == 200 and "Not a domain" in listed(bad)
    assert client.get(reverse("admin:integrations_tenant_change", args=[other_tenant.pk])).status_code == 404
    assert client.get(reverse("admin:integrations_tenant_add")).status_code == 403


def test_reviewers_cannot_see_tenant_settings(client, reviewer, tenant):
    client.force_login(reviewer)
    assert client.get(reverse("admin:integrations_tenant_change", args=[tenant.pk])).status_code == 403
