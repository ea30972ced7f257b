"""Review items carry the account's findings as they were when the review opened, riskiest
first, and the decision page shows today's on-call duties: what a revoke would break."""

from __future__ import annotations

import html
import json

from django.urls import reverse

from integrations.models import OnCall, SyncedAccount, Tenant
from integrations.reviews import evidence
from integrations.reviews.models import ReviewItem
from tests.reviews.conftest import client_for, start


def test_items_freeze_findings_and_put_them_before_accounts_without(data, alice, rita):
    Tenant.objects.filter(pk=data.integration.tenant_id).update(email_domains="other.example")
    outsider = SyncedAccount.objects.filter(integration=data.integration, removed_at__isnull=True).first()

    review = start(data, by=alice, reviewers=[rita])

    items = list(ReviewItem.objects.filter(review=review))
    assert all(item.findings == ["external_email"] for item in items)  # none at other.example
    Tenant.objects.filter(pk=data.integration.tenant_id).update(email_domains="")
    assert ReviewItem.objects.get(review=review, account=outsider).findings == ["external_email"]  # frozen
    record = json.loads(b"".join(evidence.stream_json(review)))
    assert {tuple(item["findings"]) for item in record["items"]} == {("external_email",)}

    page = html.unescape(client_for(rita).get(reverse("admin:integrations_reviewitem_changelist")).content.decode())
    assert "outside email" in page.lower()


def test_riskiest_first_orders_by_privilege_then_findings(data, alice, rita):
    review = start(data, by=alice, reviewers=[rita])
    ReviewItem.objects.filter(review=review, privileged=False).update(findings=[], finding_count=0)
    plain = ReviewItem.objects.filter(review=review, privileged=False).order_by("account_name")
    last = plain.last()
    ReviewItem.objects.filter(pk=last.pk).update(findings=["external_email"], finding_count=1)
    ordered = list(ReviewItem.objects.filter(review=review))
    first_plain = next(item for item in ordered if not item.privileged)
    assert first_plain.pk == last.pk


def test_the_decision_page_says_who_is_left_on_call_if_revoked(data, alice, rita):
    review = start(data, by=alice, reviewers=[rita])
    item = ReviewItem.objects.filter(review=review, reviewer=rita).exclude(account=None).first()
    OnCall.objects.create(
        integration=data.integration, account_id=item.account_id, policy_id="PEP1",
        policy_name="Payments <primary>", level=1, on_call_now=True,
    )

    page = client_for(rita).get(reverse("admin:integrations_reviewitem_change", args=[item.pk])).content.decode()

    assert "Payments &lt;primary&gt;" in page
    assert "revoking leaves level 1 without anyone" in page
