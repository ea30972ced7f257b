"""AccessReview, ReviewItem and ReviewDecision (an item's history).

An item freezes the access its account had when the review opened (role, teams with their
roles, license, invitation pending, and who the account was), so that later syncs never
change what was reviewed. Imported by integrations/models.py: Django keeps them in the
`integrations` app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AccessReview(models.Model):
    class Scope(models.TextChoices):
        ALL = "all", "All accounts"
        PRIVILEGED = "privileged", "Privileged accounts"
        CHANGED = "changed", "Accounts added or changed since the previous closed review"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    tenant = models.ForeignKey("integrations.Tenant", on_delete=models.CASCADE, related_name="access_reviews")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="access_reviews"
    )
    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.ALL)
    due_date = models.DateField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="access_reviews_to_review", blank=True
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    opened_at = models.DateTimeField()
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    repeat_every_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Open the next review of this integration this many days after this one."
    )
    # The review whose schedule opened this one (a series of repeated reviews).
    previous = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = "access review"
        verbose_name_plural = "Access reviews"
        indexes = [models.Index(fields=["integration", "state", "-opened_at"], name="review_recent_idx")]

    def __str__(self):
        return self.name

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN


class Decision(models.TextChoices):
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"
    CHANGE_ROLE = "change_role", "Change role"


class ReviewItem(models.Model):
    Decision = Decision

    class Remediation(models.TextChoices):
        NOT_NEEDED = "not_needed", "Not needed"
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="items")
    # Kept when the account row goes: the frozen columns below are the evidence.
    account = models.ForeignKey(
        "integrations.SyncedAccount", on_delete=models.SET_NULL, null=True, related_name="review_items"
    )
    # Frozen when the review opened.
    account_external_id = models.CharField("ID in the application", max_length=64)
    account_name = models.TextField("name")
    account_email = models.TextField("email")
    html_url = models.TextField("Link in the application", blank=True)
    role = models.TextField()
    teams = models.JSONField(default=list, help_text="[{team, role}] when the review opened.")
    license_name = models.TextField("license", blank=True)
    invitation_pending = models.BooleanField(default=False)
    privileged = models.BooleanField(default=False)
    findings = models.JSONField(default=list, blank=True, help_text="The account's findings when the review opened.")
    finding_count = models.PositiveSmallIntegerField(default=0, editable=False)  # for "riskiest first"

    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="review_items"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    new_role = models.TextField("role to change to", blank=True)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    remediation = models.CharField(
        max_length=16, choices=Remediation.choices, default=Remediation.NOT_NEEDED
    )
    remediation_run = models.ForeignKey(
        "integrations.SyncRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name="verified by sync run",
    )
    remediated_at = models.DateTimeField("verified at", null=True, blank=True)

    class Meta:
        # Riskiest first.
        ordering = ["-privileged", "-finding_count", "account_name", "id"]
        verbose_name = "review item"
        verbose_name_plural = "Review items"
        indexes = [
            models.Index(
                fields=["review", "-privileged", "-finding_count", "account_name", "id"], name="reviewitem_order_idx"
            ),
            models.Index(fields=["reviewer", "review"], name="reviewitem_reviewer_idx"),
            models.Index(fields=["review", "decision"], name="reviewitem_decision_idx"),
            models.Index(fields=["remediation"], name="reviewitem_remediation_idx"),
        ]

    def __str__(self):
        return f"{self.account_name} <{self.account_email}>"


class ReviewDecision(models.Model):
    """One decision on an item, kept also when the reviewer later changes their mind."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="history")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    new_role = models.TextField(blank=True)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["item", "-decided_at"], name="reviewdecision_item_idx")]

    def __str__(self):
        return f"{self.get_decision_display()} at {self.decided_at:%Y-%m-%d %H:%M}"
