"""Query counts that do not grow with the number of accounts or items."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.models import Integration
from integrations.reviews import services
from tests.factories import make_integration, make_synced_data
from tests.reviews.conftest import client_for, start


def synced(tenant, owner, accounts: int, name: str) -> Integration:
    integration = make_integration(tenant=tenant, description=name)
    Integration.objects.filter(pk=integration.pk).update(owner=owner)
    integration.refresh_from_db()
    make_synced_data(integration=integration, accounts=accounts, id_prefix=name)
    return integration


def queries_to_open(integration, admin) -> int:
    with CaptureQueriesContext(connection) as captured:
        start(integration, by=admin)
    return len(captured)


def test_opening_a_review_takes_the_same_queries_at_30_and_300_accounts(tenant, alice):
    small = synced(tenant, alice, 30, "S")
    large = synced(tenant, alice, 300, "L")
    # the owner (default reviewer) and their membership, the application (its roles); in a
    # savepoint: review, its reviewers, the accounts, their teams, one INSERT per 1000 items
    # 12: the findings frozen into the items read the tenant's domains and the licenses once.
    assert queries_to_open(small, alice) == queries_to_open(large, alice) == 12


def test_item_list_and_review_page_take_the_same_queries_at_30_and_3000_items(tenant, alice, rita, django_assert_num_queries):
    small = start(synced(tenant, alice, 30, "S"), by=alice, reviewers=[rita])
    large = start(synced(tenant, alice, 3000, "L"), by=alice, reviewers=[rita])
    client = client_for(rita)
    items = reverse("admin:integrations_reviewitem_changelist")

    def page(url):
        response = client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    page(f"{items}?review={small.pk}&mine=1")  # the session, as any later visit finds it
    counts = {}
    for review in (small, large):
        for name, url in (
            ("items", f"{items}?review={review.pk}&mine=1"),
            ("undecided, page 3", f"{items}?review={review.pk}&decision=none&p=3"),
            ("review", reverse("admin:integrations_accessreview_change", args=[review.pk])),
        ):
            with CaptureQueriesContext(connection) as captured:
                page(url)
            counts.setdefault(name, []).append(len(captured))
    assert counts == {"items": [11, 11], "undecided, page 3": [11, 11], "review": [11, 11]}
    with django_assert_num_queries(11):
        body = page(f"{items}?review={large.pk}&mine=1")
    # Riskiest first: the first row is a privileged account.
    first_row = body.split('<tbody>')[1].split('</tr>')[0]
    assert "pd-privileged" in first_row
    # (3,000 accounts of which 300 were removed from the application: 2,700 items.)
    with django_assert_num_queries(11):
        assert "0 of 2,700 decided" in page(reverse("admin:integrations_accessreview_change", args=[large.pk]))


def test_keep_in_bulk_is_bounded_and_keeps_history(tenant, alice, django_assert_num_queries):
    review = start(synced(tenant, alice, 2500, "K"), by=alice)
    # the ids, then per 1000 items an UPDATE and a history INSERT, in a savepoint
    with django_assert_num_queries(1 + 3 * 2 + 2):
        assert services.keep_in_bulk(items=review.items.all(), user=alice) == 2250
    # 2,500 accounts of which 250 were removed from the application: 2,250 items.
    assert review.items.filter(decision="keep").count() == 2250
    assert review.items.filter(history__decision="keep").count() == 2250
