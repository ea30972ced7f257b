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


def test_review_pages_say_as_of_when_and_warn_after_a_failed_sync(data, alice, rita):
    import html

    from integrations.models import Integration

    review = start(data, by=alice, reviewers=[rita])
    item = ReviewItem.objects.filter(review=review).first()
    Integration.objects.filter(pk=data.integration.pk).update(
        status=Integration.Status.ERROR, message="token rejected: <b>401</b>"
    )
    reviewer = client_for(rita)
    for url in (
        reverse("admin:integrations_accessreview_change", args=[review.pk]),
        reverse("admin:integrations_reviewitem_change", args=[item.pk]),
    ):
        page = reviewer.get(url).content.decode()
        assert "Data as of" in html.unescape(page), url
        assert "The last sync failed" in page and "token rejected: &lt;b&gt;401&lt;/b&gt;" in page, url
