"""Reads of access reviews: who sees which review, progress, pending remediations.

Every function answers in a fixed number of queries whatever the number of items.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from integrations.models import AccountChange, Integration, TeamMembership, Tenant
from integrations.reviews.models import AccessReview, ReviewItem

Remediation = ReviewItem.Remediation


def reviews_for(*, user, admin_tenants: QuerySet[Tenant], reviewer_tenants: QuerySet[Tenant]) -> QuerySet[AccessReview]:
    """Every review of the tenants the user administers, and in the tenants where they review,
    the reviews that hold items assigned to them."""
    assigned = ReviewItem.objects.filter(review=OuterRef("pk"), reviewer=user)
    return AccessReview.objects.filter(
        Q(tenant__in=admin_tenants) | (Q(tenant__in=reviewer_tenants) & Exists(assigned))
    )


def with_progress(reviews: QuerySet[AccessReview]) -> QuerySet[AccessReview]:
    """Reviews annotated with `total`, `decided`, `pending` (remediations) and `pending_since`."""
    return reviews.annotate(
        total=Count("items"),
        decided=Count("items", filter=~Q(items__decision="")),
        pending=Count("items", filter=Q(items__remediation=Remediation.PENDING)),
    )


def progress_of(*, review: AccessReview) -> dict:
    """Decided, total and pending remediations of one review, in one query."""
    figures = review.items.aggregate(
        total=Count("id"),
        decided=Count("id", filter=~Q(decision="")),
        keep=Count("id", filter=Q(decision=ReviewItem.Decision.KEEP)),
        revoke=Count("id", filter=Q(decision=ReviewItem.Decision.REVOKE)),
        change_role=Count("id", filter=Q(decision=ReviewItem.Decision.CHANGE_ROLE)),
        pending=Count("id", filter=Q(remediation=Remediation.PENDING)),
        done=Count("id", filter=Q(remediation=Remediation.DONE)),
    )
    figures["undecided"] = figures["total"] - figures["decided"]
    return figures


def changed_since_opened() -> Exists:
    """True for items whose account a sync saw change after the review opened."""
    return Exists(
        AccountChange.objects.filter(account=OuterRef("account_id"), created_at__gt=OuterRef("review__opened_at"))
    )


def items_for(*, items: QuerySet[ReviewItem]) -> QuerySet[ReviewItem]:
    """Items as the lists show them: riskiest first, with today's access beside the frozen one."""
    teams = Prefetch(
        "account__team_memberships",
        queryset=TeamMembership.objects.select_related("team").order_by("team__name", "team_id"),
    )
    return (
        items.select_related("review__integration__application", "reviewer", "account__license")
        .prefetch_related(teams)
        .annotate(changed_since=changed_since_opened())
    )


def pending_remediations(*, reviews: QuerySet[AccessReview], limit: int = 20) -> list[ReviewItem]:
    """The oldest pending remediations of these reviews (closed longest ago first)."""
    return list(
        ReviewItem.objects.filter(review__in=reviews, remediation=Remediation.PENDING)
        .select_related("review")
        .order_by("review__closed_at", "review_id", "account_name", "id")[:limit]
    )


def pending_summary(*, reviews: QuerySet[AccessReview]) -> dict:
    """How many remediations are pending, and since when the oldest waits, in one query."""
    figures = ReviewItem.objects.filter(review__in=reviews, remediation=Remediation.PENDING).aggregate(
        count=Count("id"), since=Min("review__closed_at")
    )
    return figures


def open_and_pending(*, reviews: QuerySet[AccessReview], limit: int = 10) -> list[AccessReview]:
    """Open reviews, and closed ones with pending remediations, with their progress (index page)."""
    pending = ReviewItem.objects.filter(review=OuterRef("pk"), remediation=Remediation.PENDING)
    return list(
        with_progress(
            reviews.filter(Q(state=AccessReview.State.OPEN) | Exists(pending))
        )
        .select_related("integration__application")
        .order_by("due_date", "id")[:limit]
    )


def reviews_of_integration(*, integration: Integration) -> QuerySet[AccessReview]:
    return AccessReview.objects.filter(integration=integration)


def waiting_for(since: dt.datetime | None, *, now: dt.datetime | None = None) -> str:
    """"3 days" (how long a remediation has been pending)."""
    if since is None:
        return "-"
    days = ((now or timezone.now()) - since).days
    if days < 1:
        return "less than a day"
    return f"{days} day{'s' if days != 1 else ''}"
