"""Mail to reviewers: items assigned to them, and a daily reminder as the due date nears.

A mail holds counts, the review's name and due date, and a link to the admin: never a
token, and no account data (names, emails, roles) of the application.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mass_mail
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from integrations.reviews.models import AccessReview, ReviewItem

logger = logging.getLogger(__name__)


def items_link(review: AccessReview) -> str:
    path = reverse("admin:integrations_reviewitem_changelist")
    return f"{settings.SITE_URL}{path}?review={review.pk}&mine=1"


def _counts(review: AccessReview, *, undecided_only: bool) -> dict[int, int]:
    items = ReviewItem.objects.filter(review=review, reviewer__isnull=False)
    if undecided_only:
        items = items.filter(decision="")
    return dict(items.order_by().values("reviewer_id").annotate(n=Count("id")).values_list("reviewer_id", "n"))


def _send(review: AccessReview, counts: dict[int, int], subject: str, line: str) -> int:
    users = get_user_model().objects.filter(pk__in=counts, is_active=True).exclude(email="")
    messages = [
        (
            subject,
            (
                f"Hello {user.get_username()},\n\n"
                f"{line.format(count=f'{counts[user.pk]:,}', s='s' if counts[user.pk] != 1 else '')}\n"
                f"Review: {review.name}\nDue: {review.due_date:%Y-%m-%d}\n\n"
                f"Your items: {items_link(review)}\n"
            ),
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
        )
        for user in users
    ]
    return send_mass_mail(messages, fail_silently=False) if messages else 0


def send_assignments(*, review_id: int) -> int:
    """One mail per reviewer of a new review with the number of items assigned to them."""
    review = AccessReview.objects.filter(pk=review_id).first()
    if review is None:
        return 0
    try:
        return _send(
            review,
            _counts(review, undecided_only=False),
            f"Access review to do: {review.name}",
            "{count} account{s} of an access review are assigned to you.",
        )
    except OSError:
        # The review is open either way; the operator sees why no mail left.
        logger.exception("Could not mail the reviewers of access review %s", review_id)
        return 0


def send_due_reminders(*, now: dt.datetime | None = None) -> int:
    """Remind every reviewer with undecided items of an open review due within
    REVIEW_REMINDER_DAYS (or overdue). Returns the mails sent."""
    today = timezone.localtime(now or timezone.now()).date()
    horizon = today + dt.timedelta(days=settings.REVIEW_REMINDER_DAYS)
    reviews = AccessReview.objects.filter(state=AccessReview.State.OPEN, due_date__lte=horizon).filter(
        Q(items__decision="")
    ).distinct()
    sent = 0
    for review in reviews:
        when = "is overdue" if review.due_date < today else f"is due on {review.due_date:%Y-%m-%d}"
        sent += _send(
            review,
            _counts(review, undecided_only=True),
            f"Reminder: access review {review.name} {when}",
            "{count} account{s} assigned to you still wait for a decision.",
        )
    return sent
