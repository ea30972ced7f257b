"""The domain: tenants, the application catalogue, integrations and what their syncs bring.

Nothing here knows an application: an integration's connector (integrations/connectors/)
says what its configuration holds and what its roles mean.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from integrations.connectors.base import Configuration, Connector, RoleCatalogue
from integrations.connectors.registry import get_connector, registered_keys
from integrations.fields import EncryptedSecretsField


DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


class Tenant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    # The tenant's own email domains, one per line; an account with an email elsewhere is an
    # `external_email` finding. Empty: no account is flagged.
    email_domains = models.TextField(
        blank=True,
        help_text=(
            "Your organisation's email domains, one per line (e.g. example.com). Accounts whose "
            "email is at another domain are flagged as outside emails. Leave empty to flag none."
        ),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def domains(self) -> list[str]:
        return parse_domains(self.email_domains)

    def clean(self):
        domains = parse_domains(self.email_domains)
        wrong = [domain for domain in domains if not DOMAIN.fullmatch(domain)]
        if wrong:
            raise ValidationError({"email_domains": f"Not a domain: {', '.join(wrong)}"})
        self.email_domains = "\n".join(domains)  # kept one per line, lower case, each once


def parse_domains(text: str) -> list[str]:
    """"Example.com, @sub.example.com" → ["example.com", "sub.example.com"]: lower case, each once."""
    words = text.replace(",", " ").split()
    return list(dict.fromkeys(word.strip().lstrip("@").lower() for word in words if word.strip("@")))


class TenantMembership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        REVIEWER = "reviewer", "Reviewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REVIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="unique_membership_per_tenant")
        ]
        ordering = ["tenant__name", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.get_role_display()})"


class ThirdPartyApplication(models.Model):
    """The catalogue of application types; each key maps to a connector in code."""

    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name = "application type"
        verbose_name_plural = "Application catalogue"

    def __str__(self):
        return self.name


class IntegrationQuerySet(models.QuerySet):
    def configured(self):
        """Integrations whose configuration was saved, of applications this code can sync."""
        return self.filter(configured_at__isnull=False, application__key__in=registered_keys())


class Integration(models.Model):
    """One tenant's connection to one application, with its configuration and sync status."""

    class Status(models.TextChoices):
        NOT_CONFIGURED = "not_configured", "Not configured"
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued"
        SYNCING = "syncing", "Syncing"
        CONNECTED = "connected", "Connected"
        ERROR = "error", "Error"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="integrations")
    application = models.ForeignKey(
        ThirdPartyApplication, on_delete=models.PROTECT, related_name="integrations"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_integrations",
        verbose_name="Primary Application Owner",
    )
    description = models.CharField(max_length=255, blank=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_CONFIGURED)
    message = models.CharField(max_length=500, blank=True)
    # What kind of failure the Error message reports (IntegrationError.kind): it picks the
    # next step shown after the message (integrations.status.next_step).
    error_kind = models.CharField(max_length=32, blank=True, editable=False)
    # The running sync's latest progress line ("users: page 2/3 (200 accounts)"), for the
    # live status of the admin; empty when no sync runs.
    progress = models.CharField(max_length=200, blank=True, editable=False)
    last_synced_at = models.DateTimeField("Last synced", null=True, blank=True)
    # Set while a sync holds this integration (its lock). The sync renews its heartbeat every
    # few seconds; one older than SYNC_HEARTBEAT_TIMEOUT_SECONDS means the worker died and the
    # next sync may take over.
    sync_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Configuration, as the connector's configuration fields name it. Secrets are write-only:
    # encrypted at rest, only their hints (last four characters) are ever shown.
    configuration = models.JSONField(default=dict, blank=True, editable=False)
    secrets = EncryptedSecretsField()
    secret_hints = models.JSONField(default=dict, blank=True, editable=False)
    configured_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IntegrationQuerySet.as_manager()

    class Meta:
        ordering = ["tenant__name", "application__name", "id"]
        verbose_name = "Third Party Application"
        verbose_name_plural = "Third Party Applications"
        indexes = [models.Index(fields=["status"], name="integration_status_idx")]

    def __str__(self):
        label = self.application.name if self.application_id else "Integration"
        return f"{label}: {self.description}" if self.description else label

    @property
    def is_configured(self) -> bool:
        return self.configured_at is not None

    @property
    def connector(self) -> Connector:
        return get_connector(self.application.key)

    @property
    def roles(self) -> RoleCatalogue:
        return self.connector.roles

    def connector_configuration(self) -> Configuration:
        return Configuration(values=dict(self.configuration), secrets=dict(self.secrets))


class Team(models.Model):
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="teams")
    external_id = models.CharField(max_length=64)
    # Text from the application is stored whole (TextField): a longer value is never cut to fit.
    name = models.TextField()
    description = models.TextField(blank=True)
    html_url = models.TextField(blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"], name="unique_team_per_integration"
            )
        ]

    def __str__(self):
        return self.name


class License(models.Model):
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="licenses"
    )
    external_id = models.CharField(max_length=64)
    name = models.TextField()
    description = models.TextField(blank=True)
    role_group = models.TextField(blank=True)
    # The roles an account holding this license may have, as the application lists them.
    valid_roles = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"], name="unique_license_per_integration"
            )
        ]

    def __str__(self):
        return self.name


def last_seen_time(*, last_seen_at, removed_at, last_synced_at):
    """When a sync last saw an account.

    The engine leaves `last_seen_at` empty while every sync sees the account (so an
    unchanged re-sync rewrites no row): it was then seen by the integration's last sync. It
    is set once the account drops out of view or is removed.
    """
    if last_seen_at is not None or removed_at is not None:
        return last_seen_at
    return last_synced_at


class SyncedAccountQuerySet(models.QuerySet):
    def active(self):
        return self.filter(removed_at__isnull=True)


class SyncedAccount(models.Model):
    """One user of an application as last seen by an integration."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="accounts"
    )
    # Ids stay short: a longer one is refused as invalid when a sync reads it. The text
    # fields hold the application's values whole, never cut to a column's length.
    external_id = models.CharField("ID in the application", max_length=64)
    name = models.TextField()
    email = models.TextField()
    role = models.TextField(help_text="The role as the application's API names it.")
    job_title = models.TextField(blank=True)
    time_zone = models.TextField(blank=True)
    invitation_pending = models.BooleanField(default=False)
    created_via_sso = models.BooleanField("Created via SSO", default=False)
    html_url = models.TextField("Link in the application", blank=True)
    license = models.ForeignKey(
        License, on_delete=models.SET_NULL, null=True, blank=True, related_name="accounts"
    )
    first_seen_at = models.DateTimeField("First seen")
    # Empty while every sync sees the account: see `last_seen_time`.
    last_seen_at = models.DateTimeField("Last seen", null=True, blank=True)
    removed_at = models.DateTimeField("Removed from the application", null=True, blank=True)

    objects = SyncedAccountQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "synced account"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"], name="unique_account_per_integration"
            )
        ]
        indexes = [
            models.Index(fields=["integration", "role"], name="account_role_idx"),
            models.Index(fields=["integration", "email"], name="account_email_idx"),
            models.Index(fields=["integration", "removed_at"], name="account_removed_idx"),
            models.Index(fields=["integration", "name", "id"], name="account_name_idx"),
        ]

    def __str__(self):
        return f"{self.name} <{self.email}>"

    @property
    def role_display(self) -> str:
        return self.integration.roles.display(self.role)

    @property
    def is_active(self) -> bool:
        return self.removed_at is None

    @property
    def last_seen(self):
        return last_seen_time(
            last_seen_at=self.last_seen_at,
            removed_at=self.removed_at,
            last_synced_at=self.integration.last_synced_at,
        )


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(
        SyncedAccount, on_delete=models.CASCADE, related_name="team_memberships"
    )
    # Kept as the application sent it: an unknown team role is stored, not dropped.
    role = models.TextField()

    class Meta:
        ordering = ["team__name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "account"], name="unique_team_membership")
        ]
        # Team first: "the managers of these teams" (teams list, summary) is an index range.
        indexes = [models.Index(fields=["team", "role"], name="team_membership_role_idx")]

    def __str__(self):
        return f"{self.team}: {self.role}"


class SyncRun(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Daily schedule"
        CONFIGURE = "configure", "First sync after configuration"
        ADMIN = "admin", "Sync now (admin)"
        COMMAND = "command", "syncpagerduty command"

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        DRY_RUN = "dry_run", "Dry run"

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="sync_runs"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    accounts_fetched = models.PositiveIntegerField(default=0)
    accounts_added = models.PositiveIntegerField(default=0)
    accounts_updated = models.PositiveIntegerField(default=0)
    accounts_removed = models.PositiveIntegerField(default=0)
    accounts_unchanged = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField("HTTP requests", default=0)
    retries = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    notes = models.TextField(blank=True, help_text="What was skipped, and why.")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["integration", "-started_at"], name="syncrun_recent_idx")]

    def __str__(self):
        return f"Sync of {self.integration} at {self.started_at:%Y-%m-%d %H:%M} ({self.get_outcome_display()})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class ActorType(models.TextChoices):
    """Who made a change, as audit trails name them."""

    USER = "user", "a person"
    API_TOKEN = "api_token", "an API token"
    APP = "app", "an app"
    SSO = "sso", "SSO provisioning"
    SCIM = "scim", "SCIM provisioning"
    OTHER = "other", "other"


class ActorMethod(models.TextChoices):
    """How a change was made."""

    WEB = "web", "in the web app"
    API_TOKEN = "api_token", "with an API token"
    OAUTH = "oauth", "through OAuth"
    IDENTITY_PROVIDER = "identity_provider", "by the identity provider"
    OTHER = "other", "other"


class AccountChange(models.Model):
    class Kind(models.TextChoices):
        ADDED = "added", "Added"
        REMOVED = "removed", "Removed"
        RETURNED = "returned", "Returned"
        ROLE_CHANGED = "role_changed", "Role changed"
        TEAM_ROLE_CHANGED = "team_role_changed", "Team role changed"
        EMAIL_CHANGED = "email_changed", "Email changed"

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="account_changes"
    )
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="changes")
    account = models.ForeignKey(SyncedAccount, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    # For team role changes: the team concerned (an empty old/new value is joining/leaving).
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="changes"
    )
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # Who made the change and how, where the application's audit trail recorded it (empty:
    # not recorded, or no audit trail).
    actor_name = models.TextField(blank=True)
    actor_type = models.CharField(max_length=32, blank=True, choices=ActorType.choices)
    actor_method = models.CharField("how", max_length=32, blank=True, choices=ActorMethod.choices)
    acted_at = models.DateTimeField("made at", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # With -id: every change of one sync shares created_at, and the list pages in this order.
            models.Index(fields=["integration", "-created_at", "-id"], name="change_recent_idx"),
            models.Index(fields=["integration", "kind"], name="change_kind_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.account}"

    @property
    def grants_privilege(self) -> bool:
        """True when this change gives the account a privileged role it did not have."""
        return self.integration.roles.grants_privilege(kind=self.kind, old=self.old_value, new=self.new_value)

    @property
    def attributed(self) -> bool:
        return bool(self.actor_type or self.actor_method)

    @property
    def outside_identity_provider(self) -> bool:
        """Made by an API token or by hand, not by the identity provider: worth a look when it
        grants privilege."""
        if not self.attributed:
            return False
        return self.actor_type not in OUTSIDE_SAFE_ACTORS and self.actor_method != ActorMethod.IDENTITY_PROVIDER


# Provisioning by the identity provider is the expected way an account changes.
OUTSIDE_SAFE_ACTORS = frozenset({ActorType.SSO, ActorType.SCIM})


class OnCall(models.Model):
    """One account on call for one escalation policy at one level, as the last sync saw it.

    Rewritten whole by every sync that could read the on-call list; kept as they were by one
    that could not.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="on_calls")
    account = models.ForeignKey(SyncedAccount, on_delete=models.CASCADE, related_name="on_calls")
    policy_id = models.CharField("escalation policy id", max_length=64)
    policy_name = models.TextField("escalation policy")
    policy_url = models.TextField(blank=True)
    level = models.PositiveIntegerField("escalation level")
    schedule_name = models.TextField(blank=True, help_text="Empty: a direct target of the policy.")
    on_call_now = models.BooleanField(default=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["policy_name", "level", "id"]
        verbose_name = "on-call entry"
        verbose_name_plural = "on-call entries"
        indexes = [
            models.Index(fields=["account"], name="oncall_account_idx"),
            models.Index(fields=["integration", "policy_id", "level"], name="oncall_policy_level_idx"),
        ]

    def __str__(self):
        return f"{self.policy_name} level {self.level}"

# Access reviews live in their own package; imported here so Django keeps them in this app.
from integrations.reviews.models import AccessReview, ReviewDecision, ReviewItem  # noqa: E402,F401
