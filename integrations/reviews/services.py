"""Writes of access reviews: open, decide, keep in bulk, close, and the closed loop.

Every write checks the rules itself (the admin and the commands are thin): a closed review
never changes, nobody decides on their own account, revoke and change_role need a comment.
Opening a review and verifying remediations run a bounded number of queries whatever the
number of accounts: rows are read and written in batches of BATCH_SIZE.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django_q.models import Schedule

from integrations import findings
from integrations import selectors as account_selectors
from integrations.batching import chunked
from integrations.models import (
    AccountChange,
    Integration,
    SyncedAccount,
    SyncRun,
    TeamMembership,
    TenantMembership,
)
from integrations.reviews.models import AccessReview, ReviewDecision, ReviewItem
from integrations.sync.write import insert_rows, use_sqlite_variable_limit

BATCH_SIZE = 1000
Decision = ReviewItem.Decision
Remediation = ReviewItem.Remediation
NEEDS_COMMENT = frozenset({Decision.REVOKE, Decision.CHANGE_ROLE})
REPEAT_TASK = "integrations.reviews.tasks.open_next_review"

# What an account's frozen access is read from, as plain values.
ACCOUNT_COLUMNS = (
    "id", "external_id", "name", "email", "html_url", "role", "invitation_pending", "license__name",
    "license_id", "license__role_group",
)

# An item as opening writes it, in plain multi-row INSERTs as the sync engine writes accounts:
# bulk_create spent most of the time of a 100,000-account review preparing values in Python.
ITEM_COLUMNS = (
    "review", "account", "account_external_id", "account_name", "account_email", "html_url", "role",
    "teams", "license_name", "invitation_pending", "privileged", "findings", "finding_count", "reviewer",
    "decision", "new_role", "comment", "remediation",
)


def repeat_schedule_name(review_id: int) -> str:
    return f"balkan_pd: access review {review_id}, next one"


def _same_person(email: str, user) -> bool:
    """An account is the user's own when their emails match, case aside (empty never matches)."""
    user_email = (getattr(user, "email", "") or "").strip().lower()
    return bool(user_email) and (email or "").strip().lower() == user_email


def previous_closed_review(*, integration: Integration, before: dt.datetime | None = None) -> AccessReview | None:
    reviews = AccessReview.objects.filter(integration=integration, state=AccessReview.State.CLOSED)
    if before is not None:
        reviews = reviews.filter(opened_at__lt=before)
    return reviews.order_by("-opened_at", "-id").first()


def accounts_in_scope(*, integration: Integration, scope: str) -> QuerySet[SyncedAccount]:
    """The accounts still in the application that a review of `scope` covers."""
    accounts = SyncedAccount.objects.filter(integration=integration, removed_at__isnull=True)
    if scope == AccessReview.Scope.PRIVILEGED:
        return accounts.filter(account_selectors.privileged_accounts_q())
    if scope == AccessReview.Scope.CHANGED:
        previous = previous_closed_review(integration=integration)
        if previous is not None:
            changed = AccountChange.objects.filter(account=OuterRef("pk"), created_at__gt=previous.opened_at)
            return accounts.filter(Exists(changed))
    return accounts


def _check_reviewers(*, integration: Integration, reviewers: Sequence) -> list:
    reviewers = list(dict.fromkeys(reviewers))  # once each, in the order given
    if not reviewers and integration.owner_id:
        reviewers = [integration.owner]
    if not reviewers:
        raise ValidationError("Choose the reviewers: this integration has no Primary Application Owner.")
    members = set(
        TenantMembership.objects.filter(
            tenant_id=integration.tenant_id, user__in=reviewers, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    outsiders = [user for user in reviewers if user.pk not in members]
    if outsiders:
        names = ", ".join(sorted(user.get_username() for user in outsiders))
        raise ValidationError(f"Reviewers must be members of the integration's tenant: {names}.")
    return reviewers


def open_review(
    *,
    integration: Integration,
    name: str,
    scope: str,
    due_date: dt.date,
    opened_by,
    reviewers: Sequence = (),
    repeat_every_days: int | None = None,
    previous: AccessReview | None = None,
    now: dt.datetime | None = None,
) -> AccessReview:
    """Open a review and freeze every account in its scope into a ReviewItem.

    Items go to the reviewers in turn, never to the reviewer whose own account it is (then
    to the next reviewer, or the one who opened the review). Reviewers are mailed once the
    transaction commits.
    """
    from integrations.reviews import notifications

    now = now or timezone.now()
    if scope not in AccessReview.Scope.values:
        raise ValidationError(f"Unknown scope: {scope}.")
    if repeat_every_days is not None and repeat_every_days < 1:
        raise ValidationError("Repeat every: at least 1 day.")
    reviewers = _check_reviewers(integration=integration, reviewers=reviewers)
    roles = integration.roles
    finding_scope = findings.scope_for(integrations=[integration])
    use_sqlite_variable_limit()
    with transaction.atomic():
        review = AccessReview.objects.create(
            tenant_id=integration.tenant_id,
            integration=integration,
            name=name,
            scope=scope,
            due_date=due_date,
            opened_by=opened_by,
            opened_at=now,
            repeat_every_days=repeat_every_days,
            previous=previous,
        )
        AccessReview.reviewers.through.objects.bulk_create(
            AccessReview.reviewers.through(accessreview_id=review.pk, user_id=user.pk) for user in reviewers
        )
        accounts = (
            accounts_in_scope(integration=integration, scope=scope)
            .order_by("id")
            .values_list(*ACCOUNT_COLUMNS)
            .iterator(chunk_size=BATCH_SIZE)
        )
        turn = 0
        for chunk in chunked(accounts, BATCH_SIZE):
            teams: dict[int, list[dict]] = {}
            for account_id, team_name, team_role in (
                TeamMembership.objects.filter(account_id__in=[row[0] for row in chunk])
                .order_by("team__name", "team_id")
                .values_list("account_id", "team__name", "role")
            ):
                teams.setdefault(account_id, []).append({"team": team_name, "role": team_role})
            rows = []
            for account_id, external_id, name_, email, html_url, role, pending, license_name, license_id, role_group in chunk:
                account_teams = teams.get(account_id, [])
                reviewer = _assign(reviewers, turn, email, fallback=opened_by)
                turn += 1
                privileged = roles.is_privileged(role) or any(
                    t["role"] in roles.privileged_team_roles for t in account_teams
                )
                found = findings.findings_of(
                    scope=finding_scope, integration_id=integration.pk, email=email, role=role,
                    invitation_pending=pending, has_license=license_id is not None,
                    license_role_group=role_group, removed=False,
                )
                rows.append((
                    review.pk, account_id, external_id, name_, email, html_url, role,
                    json.dumps(account_teams), license_name or "", pending, privileged, json.dumps(found), len(found),
                    reviewer.pk if reviewer is not None else None, "", "", "", Remediation.NOT_NEEDED,
                ))
            insert_rows(ReviewItem, ITEM_COLUMNS, rows)
        if repeat_every_days:
            Schedule.objects.create(
                name=repeat_schedule_name(review.pk),
                func=REPEAT_TASK,
                kwargs=repr({"review_id": review.pk}),
                schedule_type=Schedule.ONCE,
                repeats=1,
                next_run=now + dt.timedelta(days=repeat_every_days),
            )
        transaction.on_commit(lambda: notifications.send_assignments(review_id=review.pk))
    return review


def _assign(reviewers: list, turn: int, email: str, *, fallback):
    for offset in range(len(reviewers)):
        reviewer = reviewers[(turn + offset) % len(reviewers)]
        if not _same_person(email, reviewer):
            return reviewer
    if fallback is not None and not _same_person(email, fallback):
        return fallback
    return None


def open_next_review(*, review_id: int, now: dt.datetime | None = None) -> AccessReview | None:
    """The repeat schedule's work: the next review of the same integration, scope and reviewers.

    None when the previous review or its integration is gone.
    """
    now = now or timezone.now()
    previous = (
        AccessReview.objects.select_related("integration__application", "opened_by")
        .filter(pk=review_id)
        .first()
    )
    if previous is None or not previous.repeat_every_days:
        return None
    due_in = previous.due_date - timezone.localtime(previous.opened_at).date()
    return open_review(
        integration=previous.integration,
        name=f"{_series_name(previous.name)} ({timezone.localtime(now):%Y-%m-%d})",
        scope=previous.scope,
        due_date=timezone.localtime(now).date() + due_in,
        opened_by=previous.opened_by,
        reviewers=list(previous.reviewers.all()),
        repeat_every_days=previous.repeat_every_days,
        previous=previous,
        now=now,
    )


def _series_name(name: str) -> str:
    """"Quarterly (2025-03-01)" → "Quarterly": repeated reviews are named by date."""
    if name.endswith(")") and " (" in name:
        head, _, tail = name.rpartition(" (")
        if len(tail) == 11 and tail[4] == "-" and tail[7] == "-":
            return head
    return name


# --- Deciding ------------------------------------------------------------------------------


def _check_decision(*, item: ReviewItem, decision: str, new_role: str, comment: str, roles) -> None:
    if decision not in Decision.values:
        raise ValidationError({"decision": "Choose Keep, Revoke or Change role."})
    if decision in NEEDS_COMMENT and not comment.strip():
        raise ValidationError({"comment": f"A comment is required to {Decision(decision).label.lower()}."})
    if decision == Decision.CHANGE_ROLE:
        if new_role not in roles.display_names:
            raise ValidationError({"new_role": "Choose the role to change to."})
        if new_role == item.role:
            raise ValidationError({"new_role": "That is the account's role already: choose Keep."})


def can_decide(*, item: ReviewItem, user) -> bool:
    return (
        item.review.is_open
        and item.reviewer_id is not None
        and item.reviewer_id == user.pk
        and not _same_person(item.account_email, user)
    )


def decide(
    *,
    item: ReviewItem,
    user,
    decision: str,
    new_role: str = "",
    comment: str = "",
    now: dt.datetime | None = None,
) -> ReviewItem:
    """Record `user`'s decision on `item`; the earlier ones stay in its history."""
    now = now or timezone.now()
    comment = comment.strip()
    with transaction.atomic():
        # Locked, so that a review closing at the same moment sees this decision or refuses it.
        item = ReviewItem.objects.select_for_update().select_related("review__integration__application").get(pk=item.pk)
        if not item.review.is_open:
            raise PermissionDenied("This review is closed: nothing on it changes.")
        if _same_person(item.account_email, user):
            raise PermissionDenied("Nobody decides on their own account.")
        if item.reviewer_id != user.pk:
            raise PermissionDenied("This item is assigned to another reviewer.")
        _check_decision(item=item, decision=decision, new_role=new_role, comment=comment, roles=item.review.integration.roles)
        item.decision = decision
        item.new_role = new_role if decision == Decision.CHANGE_ROLE else ""
        item.comment = comment
        item.decided_by = user
        item.decided_at = now
        item.save(update_fields=["decision", "new_role", "comment", "decided_by", "decided_at"])
        ReviewDecision.objects.create(
            item=item, decision=decision, new_role=item.new_role, comment=comment, decided_by=user, decided_at=now
        )
    return item


def keep_in_bulk(*, items: QuerySet[ReviewItem], user, now: dt.datetime | None = None) -> int:
    """Keep every item of `items` that `user` may decide; returns how many.

    Items of closed reviews, of other reviewers and the user's own account are left as they
    are. One read, then an UPDATE and a history INSERT per BATCH_SIZE items.
    """
    now = now or timezone.now()
    decidable = items.filter(review__state=AccessReview.State.OPEN, reviewer=user)
    if (user.email or "").strip():
        decidable = decidable.exclude(account_email__iexact=user.email.strip())
    kept = 0
    use_sqlite_variable_limit()
    with transaction.atomic():
        ids = list(decidable.order_by().values_list("id", flat=True))
        for batch in chunked(ids, BATCH_SIZE):
            ReviewItem.objects.filter(pk__in=batch, review__state=AccessReview.State.OPEN).update(
                decision=Decision.KEEP, new_role="", comment="", decided_by=user, decided_at=now
            )
            ReviewDecision.objects.bulk_create(
                ReviewDecision(item_id=pk, decision=Decision.KEEP, decided_by=user, decided_at=now) for pk in batch
            )
            kept += len(batch)
    return kept


def reassign(*, items: QuerySet[ReviewItem], reviewer) -> int:
    """Give undecided items of open reviews to `reviewer` (a member of their tenant), except
    the reviewer's own account; returns how many moved."""
    items = items.filter(review__state=AccessReview.State.OPEN, decision="")
    items = items.filter(review__tenant__memberships__user=reviewer)
    if (reviewer.email or "").strip():
        items = items.exclude(account_email__iexact=reviewer.email.strip())
    return ReviewItem.objects.filter(pk__in=items.values("pk")).update(reviewer=reviewer)


# --- Closing and the closed loop -----------------------------------------------------------


def close_review(*, review: AccessReview, user, now: dt.datetime | None = None) -> AccessReview:
    """Close a review whose every item has a decision; revokes and role changes become pending."""
    now = now or timezone.now()
    with transaction.atomic():
        review = AccessReview.objects.select_for_update().get(pk=review.pk)
        if not review.is_open:
            raise PermissionDenied("This review is closed already.")
        undecided = review.items.filter(decision="").count()
        if undecided:
            raise ValidationError(f"{undecided:,} item{'s' if undecided != 1 else ''} still without a decision.")
        review.items.filter(decision__in=NEEDS_COMMENT).update(remediation=Remediation.PENDING)
        review.state = AccessReview.State.CLOSED
        review.closed_by = user
        review.closed_at = now
        review.save(update_fields=["state", "closed_by", "closed_at"])
    return review


def pending_done_q() -> Q:
    """Pending remediations that the accounts' current state shows carried out."""
    return Q(decision=Decision.REVOKE, account__removed_at__isnull=False) | Q(
        decision=Decision.CHANGE_ROLE, account__removed_at__isnull=True, account__role=F("new_role")
    )


def verify_remediations(*, integration_id: int, run: SyncRun, now: dt.datetime | None = None) -> int:
    """After a sync wrote its accounts: mark done each pending revoke whose account is gone
    and each pending role change the application now shows. Returns how many.

    One read when nothing is done (every sync pays it), plus one UPDATE per BATCH_SIZE done.
    A revoke or role change not carried out stays pending.
    """
    now = now or timezone.now()
    done = list(
        ReviewItem.objects.filter(
            review__integration_id=integration_id, remediation=Remediation.PENDING
        )
        .filter(pending_done_q())
        .values_list("id", flat=True)
    )
    for batch in chunked(done, BATCH_SIZE):
        ReviewItem.objects.filter(pk__in=batch).update(
            remediation=Remediation.DONE, remediation_run=run, remediated_at=now
        )
    return len(done)
