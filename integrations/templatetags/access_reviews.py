"""`{% review_progress %}` (admin index): open reviews with their progress and remediations
still pending; `{% integration_reviews integration %}` (an integration's page): the same for
one integration. Two queries each, whatever the number of items."""

from __future__ import annotations

from django import template
from django.utils import timezone

from integrations.admin.reviews import progress_text, scoped_reviews
from integrations.reviews import selectors

register = template.Library()


def _rows(reviews) -> list[dict]:
    now = timezone.now()
    return [
        {
            "review": review,
            "progress": progress_text(review.decided, review.total),
            "pending": review.pending,
            "waiting": selectors.waiting_for(review.closed_at, now=now),
        }
        for review in selectors.open_and_pending(reviews=reviews)
    ]


@register.inclusion_tag("integrations/review_progress.html", takes_context=True)
def review_progress(context) -> dict:
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"rows": []}
    return {"rows": _rows(scoped_reviews(request))}


@register.inclusion_tag("integrations/review_progress.html", takes_context=True)
def integration_reviews(context, integration) -> dict:
    request = context.get("request")
    if request is None or integration is None:
        return {"rows": []}
    return {"rows": _rows(scoped_reviews(request).filter(integration=integration)), "for_integration": True}
