"""The closed loop against the fake PagerDuty: a decided revoke or role change is pending
until a later sync sees it carried out; one not carried out stays pending."""

from __future__ import annotations

from django.test.utils import CaptureQueriesContext
from django.db import connection
from django.urls import reverse

from integrations.models import SyncedAccount
from integrations.reviews import services
from integrations.reviews.models import ReviewItem
from tests.conftest import sync
from tests.reviews.conftest import client_for, start


def _decided_review(integration, admin, *, revoke, change_role, new_role):
    review = start(integration, by=admin)
    services.keep_in_bulk(items=review.items.exclude(account_external_id__in=[*revoke, change_role]), user=admin)
    for external_id in revoke:
        services.decide(item=review.items.get(account_external_id=external_id), user=admin, decision="revoke", comment="left the company")
    services.decide(
        item=review.items.get(account_external_id=change_role), user=admin, decision="change_role",
        new_role=new_role, comment="least privilege",
    )
    return services.close_review(review=review, user=admin)


def test_revokes_and_role_changes_are_done_when_a_sync_sees_them(configured_integration, fake_pagerduty, alice):
    assert sync(configured_integration).ok
    users = [u for u in fake_pagerduty.dataset.user_list() if u["role"] not in ("owner", "admin")]
    gone, kept_on, promoted = users[0]["id"], users[1]["id"], users[2]["id"]
    new_role = "admin" if users[2]["role"] != "admin" else "user"
    review = _decided_review(configured_integration, alice, revoke=[gone, kept_on], change_role=promoted, new_role=new_role)

    pending = review.items.filter(remediation="pending")
    assert set(pending.values_list("account_external_id", flat=True)) == {gone, kept_on, promoted}
    assert review.items.get(account_external_id=gone).html_url.endswith(f"/users/{gone}")

    # Someone carries out two of the three in PagerDuty; the next sync checks them.
    fake_pagerduty.dataset.remove_user(gone)
    fake_pagerduty.dataset.set_role(promoted, new_role)
    result = sync(configured_integration)

    done = {item.account_external_id: item for item in review.items.filter(remediation="done")}
    assert set(done) == {gone, promoted}
    assert {item.remediation_run_id for item in done.values()} == {result.run.pk}
    assert all(item.remediated_at is not None for item in done.values())
    assert review.items.get(account_external_id=kept_on).remediation == "pending"

    # The review, the index and the integration's page say what is still pending.
    client = client_for(alice)
    page = client.get(reverse("admin:integrations_accessreview_change", args=[review.pk])).content.decode()
    assert "1 pending for less than a day, 2 verified done by a sync" in page
    assert f"/users/{kept_on}" in page
    for url in (reverse("admin:index"), reverse("admin:integrations_integration_change", args=[configured_integration.pk])):
        assert "Remediations pending" in client.get(url).content.decode()


def test_a_role_change_to_another_role_stays_pending(configured_integration, fake_pagerduty, alice):
    assert sync(configured_integration).ok
    user = next(u for u in fake_pagerduty.dataset.user_list() if u["role"] == "user")
    review = _decided_review(configured_integration, alice, revoke=[], change_role=user["id"], new_role="read_only_user")

    fake_pagerduty.dataset.set_role(user["id"], "limited_user")
    sync(configured_integration)

    assert review.items.get(account_external_id=user["id"]).remediation == "pending"


def test_checking_remediations_costs_a_bounded_number_of_queries(configured_integration, fake_pagerduty, alice):
    assert sync(configured_integration).ok
    users = [u["id"] for u in fake_pagerduty.dataset.user_list() if u["role"] not in ("owner",)]
    review = _decided_review(configured_integration, alice, revoke=users[:20], change_role=users[20], new_role="observer")
    for user_id in users[:20]:
        fake_pagerduty.dataset.remove_user(user_id)
    sync(configured_integration)
    run = configured_integration.sync_runs.first()

    with CaptureQueriesContext(connection) as nothing_left:
        assert services.verify_remediations(integration_id=configured_integration.pk, run=run) == 0
    assert len(nothing_left) == 1
    assert review.items.filter(remediation="done").count() == 20
    ReviewItem.objects.filter(review=review, remediation="done").update(remediation="pending")
    with CaptureQueriesContext(connection) as twenty:
        assert services.verify_remediations(integration_id=configured_integration.pk, run=run) == 20
    assert len(twenty) == 2
    assert SyncedAccount.objects.filter(integration=configured_integration, removed_at__isnull=False).count() == 20
