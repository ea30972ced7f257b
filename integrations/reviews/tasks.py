"""django-q2 tasks of access reviews: thin wrappers over the services (arguments are ids)."""

from __future__ import annotations

import logging

from integrations.reviews import notifications, services

logger = logging.getLogger(__name__)

REMINDER_SCHEDULE_NAME = "balkan_pd: access review reminders"
REMINDER_FUNC = "integrations.reviews.tasks.send_due_reminders"


def open_next_review(review_id: int) -> str:
    """The repeat schedule of a review: open the next one."""
    review = services.open_next_review(review_id=review_id)
    if review is None:
        return f"access review {review_id}: gone or not repeated; nothing opened"
    logger.info("opened access review %s after %s", review.pk, review_id)
    return f"opened access review {review.pk}"


def send_due_reminders() -> str:
    return f"sent {notifications.send_due_reminders()} reminder(s)"


def ensure_reminder_schedule(*, using: str = "default") -> bool:
    """The daily reminder schedule (after every `migrate`, beside the daily sync's); True when created."""
    from django_q.models import Schedule

    from integrations.schedule import next_daily_run

    if Schedule.objects.using(using).filter(name=REMINDER_SCHEDULE_NAME).exists():
        return False
    Schedule.objects.using(using).create(
        name=REMINDER_SCHEDULE_NAME,
        func=REMINDER_FUNC,
        schedule_type=Schedule.DAILY,
        repeats=-1,
        next_run=next_daily_run(daily_at="08:00"),
    )
    return True
