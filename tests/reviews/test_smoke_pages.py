"""Every access review page answers for the people who should see it."""

from django.urls import reverse

from integrations.reviews.models import ReviewItem
from tests.reviews.conftest import client_for, start


def test_pages_answer(data, alice, rita):
    review = start(data, by=alice, reviewers=[rita])
    admin, reviewer = client_for(alice), client_for(rita)
    item = ReviewItem.objects.filter(review=review).first()
    for client in (admin, reviewer):
        assert client.get(reverse("admin:index")).status_code == 200
        assert client.get(reverse("admin:integrations_accessreview_changelist")).status_code == 200
        assert client.get(reverse("admin:integrations_accessreview_change", args=[review.pk])).status_code == 200
        assert client.get(reverse("admin:integrations_reviewitem_changelist") + f"?review={review.pk}").status_code == 200
        assert client.get(reverse("admin:integrations_reviewitem_change", args=[item.pk])).status_code == 200
    assert admin.get(reverse("admin:integrations_accessreview_add")).status_code == 200
    assert admin.get(reverse("admin:integrations_accessreview_evidence", args=[review.pk]) + "?format=html").status_code == 200
    assert admin.get(reverse("admin:integrations_integration_change", args=[data.integration.pk])).status_code == 200
