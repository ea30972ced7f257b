"""The rules of an access review: what opening freezes, who decides what, and that a
closed review never changes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from integrations.models import AccountChange, SyncedAccount
from integrations.reviews import services
from integrations.reviews.models import AccessReview, ReviewDecision, ReviewItem
from tests.factories import make_change, make_review_data, make_run
from tests.reviews.conftest import client_for, start


def item_of(review, account) -> ReviewItem:
    return ReviewItem.objects.get(review=review, account=account)


def test_opening_freezes_each_accounts_access(data, alice):
    review = start(data, by=alice)

    # Every account still in the application, none removed from it.
    assert set(review.items.values_list("account_name", flat=True)) == {
        "Ann Owner", "Bob Admin", "Cy Responder", "Eve Manager", "Fay Future",
    }
    ann = item_of(review, data.ann)
    assert (ann.role, ann.teams, ann.license_name, ann.privileged) == (
        "owner", [{"team": "Ops", "role": "manager"}], "Full User", True,
    )
    cy = item_of(review, data.cy)
    assert cy.invitation_pending and cy.teams == [{"team": "Ops", "role": "responder"}, {"team": "Web", "role": "observer"}]
    assert (cy.account_email, cy.account_external_id) == ("cy@acme.test", "PCY")

    # A later sync changes the account, not what was reviewed.
    SyncedAccount.objects.filter(pk=data.ann.pk).update(role="user", license=None)
    ann.refresh_from_db()
    assert (ann.role, ann.license_name) == ("owner", "Full User")


def test_items_go_to_the_primary_application_owner_by_default(data, alice):
    review = start(data, by=alice)
    assert set(review.items.values_list("reviewer_id", flat=True)) == {alice.pk}
    assert list(review.reviewers.all()) == [alice]


def test_scope_privileged_takes_privileged_roles_and_team_managers(data, alice):
    review = start(data, by=alice, scope="privileged")
    assert set(review.items.values_list("account_name", flat=True)) == {"Ann Owner", "Bob Admin", "Eve Manager"}
    assert all(review.items.values_list("privileged", flat=True))


def test_scope_changed_takes_accounts_changed_since_the_previous_closed_review(data, alice):
    first = start(data, by=alice, now=timezone.now() - dt.timedelta(days=30))
    first.items.update(decision="keep")
    services.close_review(review=first, user=alice)
    run = make_run(integration=data.integration, started_at=timezone.now() - dt.timedelta(days=1))
    make_change(run=run, account=data.eve, kind=AccountChange.Kind.ROLE_CHANGED, old_value="user", new_value="admin")

    review = start(data, by=alice, scope="changed")

    assert list(review.items.values_list("account_name", flat=True)) == ["Eve Manager"]


def test_items_are_shared_among_reviewers_and_nobody_gets_their_own_account(data, alice, rita, make_user, tenant):
    cy = make_user("cy", tenant=tenant, role="reviewer")
    cy.email = "CY@acme.test"  # the account's email, in other case
    cy.save()

    review = start(data, by=alice, reviewers=[cy, rita])

    assert item_of(review, data.cy).reviewer == rita
    assert set(review.items.values_list("reviewer_id", flat=True)) == {cy.pk, rita.pk}


def test_reviewers_are_mailed_counts_and_a_link(data, alice, rita, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        review = start(data, by=alice, reviewers=[rita])

    [message] = mail.outbox
    assert message.to == ["rita@acme.test"]
    assert "5 accounts" in message.body and f"review={review.pk}" in message.body
    # Counts and a link: no account of the application is named.
    assert "Ann" not in message.body and "acme.test" not in message.body.replace("rita@acme.test", "")


def test_due_reminders_go_to_reviewers_with_undecided_items(data, alice, rita):
    review = start(data, by=alice, reviewers=[rita], due_date=timezone.localdate() + dt.timedelta(days=2))
    later = start(data, by=alice, reviewers=[rita], name="Later", due_date=timezone.localdate() + dt.timedelta(days=30))
    from integrations.reviews.notifications import send_due_reminders

    assert send_due_reminders() == 1
    assert "Q3 access" in mail.outbox[0].subject and "5 accounts" in mail.outbox[0].body
    review.items.update(decision="keep")
    assert later.is_open and send_due_reminders() == 0


def test_revoke_and_change_role_need_a_comment(data, alice):
    review = start(data, by=alice)
    bob = item_of(review, data.bob)
    for decision, new_role in (("revoke", ""), ("change_role", "user")):
        with pytest.raises(ValidationError) as error:
            services.decide(item=bob, user=alice, decision=decision, new_role=new_role, comment="  ")
        assert "comment" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.decide(item=bob, user=alice, decision="change_role", new_role="wizard", comment="why")
    services.decide(item=bob, user=alice, decision="keep")


def test_every_decision_stays_in_the_items_history(data, alice):
    review = start(data, by=alice)
    bob = item_of(review, data.bob)
    services.decide(item=bob, user=alice, decision="keep")
    services.decide(item=bob, user=alice, decision="keep")
    services.decide(item=bob, user=alice, decision="change_role", new_role="user", comment="no admin needed")

    bob.refresh_from_db()
    assert (bob.decision, bob.new_role, bob.decided_by) == ("change_role", "user", alice)
    assert list(ReviewDecision.objects.filter(item=bob).order_by("id").values_list("decision", "decided_by", "comment")) == [
        ("keep", alice.pk, ""), ("keep", alice.pk, ""), ("change_role", alice.pk, "no admin needed"),
    ]


def test_nobody_decides_on_their_own_account(data, alice, rita):
    review = start(data, by=alice, reviewers=[rita])
    cy = item_of(review, data.cy)
    rita.email = "Cy@Acme.test"
    rita.save()

    with pytest.raises(PermissionDenied):
        services.decide(item=cy, user=rita, decision="keep")
    assert services.keep_in_bulk(items=review.items.all(), user=rita) == 4
    cy.refresh_from_db()
    assert cy.decision == ""
    page = client_for(rita).post(reverse("admin:integrations_reviewitem_change", args=[cy.pk]), {"decision": "keep"})
    assert page.status_code == 403


def test_only_the_assigned_reviewer_decides(data, alice, rita):
    review = start(data, by=alice, reviewers=[rita])
    with pytest.raises(PermissionDenied):
        services.decide(item=item_of(review, data.bob), user=alice, decision="keep")


def test_a_review_closes_only_when_every_item_has_a_decision(data, alice):
    review = start(data, by=alice)
    with pytest.raises(ValidationError, match="5 items still without a decision"):
        services.close_review(review=review, user=alice)
    services.keep_in_bulk(items=review.items.all(), user=alice)
    services.close_review(review=review, user=alice)
    review.refresh_from_db()
    assert (review.state, review.closed_by) == ("closed", alice)


def test_nothing_changes_on_a_closed_review(data, alice):
    review = start(data, by=alice)
    services.keep_in_bulk(items=review.items.exclude(account=data.bob), user=alice)
    services.decide(item=item_of(review, data.bob), user=alice, decision="revoke", comment="left the team")
    services.close_review(review=review, user=alice)
    bob = item_of(review, data.bob)

    with pytest.raises(PermissionDenied):
        services.decide(item=bob, user=alice, decision="keep")
    assert services.keep_in_bulk(items=review.items.all(), user=alice) == 0
    with pytest.raises(PermissionDenied):
        services.close_review(review=review, user=alice)
    bob.refresh_from_db()
    assert (bob.decision, bob.remediation) == ("revoke", "pending")
    assert item_of(review, data.ann).remediation == "not_needed"
    # The admin shows it read-only: no decision form.
    page = client_for(alice).get(reverse("admin:integrations_reviewitem_change", args=[bob.pk])).content.decode()
    assert "decision_form" not in page and "This review is closed" in page


def test_a_reviewer_sees_only_reviews_with_items_assigned_to_them(data, alice, rita, make_user, tenant):
    mine = start(data, by=alice, reviewers=[rita], name="Mine")
    others = start(data, by=alice, reviewers=[alice], name="Not mine")
    client = client_for(rita)

    listing = client.get(reverse("admin:integrations_accessreview_changelist")).content.decode()
    assert "Mine" in listing and "Not mine" not in listing
    assert client.get(reverse("admin:integrations_accessreview_change", args=[others.pk])).status_code == 404
    other_item = others.items.first()
    assert client.get(reverse("admin:integrations_reviewitem_change", args=[other_item.pk])).status_code == 404
    assert client.get(reverse("admin:integrations_accessreview_change", args=[mine.pk])).status_code == 200
    # Reviewers neither start nor close reviews, nor take the evidence.
    assert client.get(reverse("admin:integrations_accessreview_add")).status_code == 403
    assert client.post(reverse("admin:integrations_accessreview_close", args=[mine.pk])).status_code == 403
    assert client.get(reverse("admin:integrations_accessreview_evidence", args=[mine.pk])).status_code == 403


def test_another_tenants_review_answers_404(data, alice, other_tenant, make_user):
    other_admin = make_user("olga", tenant=other_tenant, role="admin")
    theirs = make_review_data(tenant=other_tenant, prefix="G")
    review = start(theirs, by=other_admin, reviewers=[other_admin])
    client = client_for(alice)

    for url in (
        reverse("admin:integrations_accessreview_change", args=[review.pk]),
        reverse("admin:integrations_accessreview_evidence", args=[review.pk]),
        reverse("admin:integrations_reviewitem_change", args=[review.items.first().pk]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("admin:integrations_accessreview_close", args=[review.pk])).status_code == 404
    listing = client.get(reverse("admin:integrations_reviewitem_changelist") + f"?review={review.pk}").content.decode()
    assert "GAnn" not in listing
    # Nor may a tenant admin pick another tenant's reviewers.
    with pytest.raises(ValidationError, match="members of the integration's tenant"):
        start(data, by=alice, reviewers=[other_admin])


def test_start_access_review_in_the_admin(data, alice, rita):
    client = client_for(alice)
    page = client.get(reverse("admin:integrations_accessreview_changelist")).content.decode()
    assert "Start access review" in page
    response = client.post(
        reverse("admin:integrations_accessreview_add"),
        {
            "integration": data.integration.pk, "name": "Quarterly", "scope": "all",
            "due_date": (timezone.localdate() + dt.timedelta(days=10)).isoformat(),
            "reviewers": [rita.pk], "repeat_every_days": "90",
        },
    )
    review = AccessReview.objects.get(name="Quarterly")
    assert response.status_code == 302 and review.items.count() == 5
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name=services.repeat_schedule_name(review.pk))
    assert schedule.func == "integrations.reviews.tasks.open_next_review"
    from integrations.reviews.tasks import open_next_review

    open_next_review(review.pk)
    follow_up = AccessReview.objects.exclude(pk=review.pk).get()
    assert follow_up.name.startswith("Quarterly (") and follow_up.previous == review
    assert list(follow_up.reviewers.all()) == [rita] and follow_up.repeat_every_days == 90


def test_deciding_in_the_admin_and_the_progress(data, alice, rita):
    review = start(data, by=alice, reviewers=[rita])
    client = client_for(rita)
    bob = item_of(review, data.bob)
    url = reverse("admin:integrations_reviewitem_change", args=[bob.pk])

    refused = client.post(url, {"decision": "revoke", "comment": ""})
    assert refused.status_code == 200 and "A comment is required" in refused.content.decode()
    assert client.post(url, {"decision": "change_role", "new_role": "user", "comment": "least privilege"}).status_code == 302
    page = client.get(reverse("admin:integrations_accessreview_change", args=[review.pk])).content.decode()
    assert "1 of 5 decided" in page
    assert "1 of 5 decided" in client.get(reverse("admin:index")).content.decode()

    # Keep for the rest, as a filtered selection.
    changelist = reverse("admin:integrations_reviewitem_changelist") + f"?review={review.pk}&decision=none"
    response = client.post(changelist, {"action": "keep", "select_across": "1", "index": "0", "_selected_action": [bob.pk]})
    assert response.status_code == 302
    assert review.items.filter(decision="").count() == 0
    assert item_of(review, data.bob).decision == "change_role"
