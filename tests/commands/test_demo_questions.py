"""The demo answers a reviewer's first four questions from the admin.

`make demo` syncs the fake PagerDuty's demo account (300 users, 12 teams, seed 0) once; a
reviewer then asks: who made this person a Global Admin, and how? which licenses can we
reclaim? which accounts are not ours? who is on call if we revoke this person? Each answer is
read off the pages a reviewer can open, and checked against the fake's own data.
"""

from __future__ import annotations

import html
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from integrations.models import SyncedAccount
from tests.connectors.pagerduty.fake import FakePagerDuty, generate_dataset

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNTS = "/admin/integrations/syncedaccount/"


@pytest.fixture
def demo(settings, pagerduty_app):
    """The demo as `make demo` leaves it; yields the fake's dataset."""
    dataset = generate_dataset(users=300, teams=12, seed=0)  # scripts/demo.sh's fake
    with FakePagerDuty(dataset, token="demo-token") as fake:
        settings.DEBUG = True
        settings.PAGERDUTY_API_BASE_URL = fake.base_url
        call_command("demo", stdout=io.StringIO())
    return dataset


@pytest.fixture
def reviewer_client(demo, client):
    client.force_login(get_user_model().objects.get(username="reviewer"))
    return client


def text_of(response) -> str:
    assert response.status_code == 200
    page = re.sub(r"<script.*?</script>|<style.*?</style>", "", response.content.decode(), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def account_page(client, user: dict) -> str:
    account = SyncedAccount.objects.get(external_id=user["id"])
    return text_of(client.get(f"{ACCOUNTS}{account.pk}/change/"))


def emails_listed(client, query: str) -> set[str]:
    page = client.get(f"{ACCOUNTS}?{query}").content.decode()
    return set(re.findall(r"[\w.+-]+@[\w.-]+\.[a-z]+", html.unescape(page))) - {"reviewer@example.com"}


def test_who_made_this_person_a_global_admin_and_how(demo, reviewer_client):
    promoted = demo.user_list()[1]  # made Global Admin by an API token three days ago
    page = account_page(reviewer_client, promoted)

    assert "grants privilege as Global Admin" in page
    assert "Terraform Cloud (an API token, with an API token" in page
    assert "outside the identity provider" in page


def test_which_licenses_we_can_reclaim(demo, reviewer_client):
    pending_with_license = {
        user["email"] for user in demo.user_list() if user["invitation_sent"] and user["id"] in demo.allocations
    }

    listed = emails_listed(reviewer_client, "finding=license_pending_invite")

    assert listed == pending_with_license and len(listed) == 18
    assert f"{len(listed)} licenses to reclaim" in text_of(reviewer_client.get("/admin/"))


def test_which_accounts_are_not_ours(demo, reviewer_client):
    outside = {user["email"] for user in demo.user_list() if not user["email"].endswith("@acme.example")}

    assert emails_listed(reviewer_client, "finding=external_email") == outside
    assert {email.split("@")[1] for email in outside} == {"contractor.example", "gmail.com"}


def test_who_is_on_call_if_we_revoke_this_person(demo, reviewer_client):
    users = {user["id"]: user for user in demo.user_list()}
    policy = demo.escalation_policies[0]
    sole_level = next(number for number, level in enumerate(policy["levels"], start=1) if len(level) == 1)
    sole = users[policy["levels"][sole_level - 1][0][0]]
    shared_level = next(number for number, level in enumerate(policy["levels"], start=1) if len(level) > 1)
    sharing = users[policy["levels"][shared_level - 1][0][0]]

    sole_page = account_page(reviewer_client, sole)
    sharing_page = account_page(reviewer_client, sharing)

    assert f"{policy['name']} level {sole_level}" in sole_page
    assert f"revoking leaves level {sole_level} without anyone" in sole_page
    assert f"{policy['name']} level {shared_level}" in sharing_page
    assert "1 other on call" in sharing_page
