"""The connector contract: what an application's package provides to the rest of balkan_pd.

Everything outside `integrations/connectors/<application>/` talks to an application through
this module only: the admin builds Configure and Integrate from `configuration_fields`, the
sync engine (integrations/sync/) calls `fetcher(...).fetch()` and writes the `Snapshot` it
returns, and the reviewers' pages name roles through `roles`. docs/architecture.md walks
through it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from integrations.secrets import Secret

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConfigField:
    """One setting of Configure and Integrate.

    A `secret` field is write-only: encrypted at rest, never shown back (only a hint of its
    last characters), never logged; the connector receives it as a `Secret`, not a string.
    """

    name: str
    label: str
    help_text: str = ""
    secret: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    default: str = ""
    max_length: int = 255


@dataclass(frozen=True)
class Configuration:
    """An integration's configuration as a connector receives it: plain values and secrets."""

    values: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, Secret] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def secret(self, name: str) -> Secret:
        return self.secrets[name]


@dataclass(frozen=True)
class RoleCatalogue:
    """An application's roles: the API value is stored, the display name is shown.

    A value not in `display_names` is kept and shown as it came, never dropped.
    """

    display_names: Mapping[str, str]
    privileged: frozenset[str]
    team_roles: tuple[str, ...] = ()
    privileged_team_roles: frozenset[str] = frozenset()

    def display(self, role: str) -> str:
        return self.display_names.get(role, role)

    def is_privileged(self, role: str) -> bool:
        return role in self.privileged

    def grants_privilege(self, *, kind: str, old: str, new: str) -> bool:
        """Whether an account change of `kind` from `old` to `new` gives a privilege it lacked.

        `kind` is an AccountChange kind; the database form is selectors.grants_privilege_q.
        """
        if kind == "role_changed":
            return new in self.privileged and old not in self.privileged
        if kind == "team_role_changed":
            return new in self.privileged_team_roles and old not in self.privileged_team_roles
        if kind in ("added", "returned"):
            return new in self.privileged
        return False


@dataclass(frozen=True, slots=True)
class Attribution:
    """One account change as the application's audit trail recorded it.

    `kind` is an AccountChange kind (added, removed, role_changed, team_role_changed,
    email_changed); `team_id` names the team of a team role change. `actor_type` is one of
    models.ActorType (user, api_token, app, sso, scim, other) and `method` one of
    models.ActorMethod (web, api_token, oauth, identity_provider, other).
    """

    account_id: str
    kind: str
    at: datetime
    actor_name: str = ""
    actor_type: str = ""
    method: str = ""
    team_id: str = ""


@dataclass(frozen=True, slots=True)
class OnCallEntry:
    """An account on call (now) for an escalation policy at a level, through a schedule or
    directly (empty `schedule_name`)."""

    account_id: str
    policy_id: str
    policy_name: str
    level: int
    policy_url: str = ""
    schedule_name: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass
class Snapshot:
    """One application account as fetched, in model field values, keyed by external id.

    `users` maps an account's id to its fields (name, email, role, job_title, time_zone,
    invitation_pending, created_via_sso, html_url: the link to the account in the
    application). `teams` maps a team's id to its fields (name, description, html_url), or is
    None when the application's teams were not synced (then stored teams stay as they are);
    `members` maps a team id to {user id: team role} for every roster fetched in full.
    `licenses` (id → name, description, role_group, valid_roles: the roles its holder may
    have) is None when not synced; `allocations` maps a user id to a license id. A snapshot
    with a `partial_reason` is incomplete: the engine writes what it holds and marks nobody
    removed. `notes` say what was skipped.

    `attributions` say who made account changes, from the application's audit trail (empty
    when it has none): each an `Attribution`. The engine matches them to the changes it
    records in this sync. `on_calls` lists who is on call now (`OnCallEntry`), or is None
    when it was not read (then the stored on-call rows stay as they are).
    """

    users: dict[str, dict[str, Any]]
    partial_reason: str = ""
    teams: dict[str, dict[str, Any]] | None = None
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    licenses: dict[str, dict[str, Any]] | None = None
    allocations: dict[str, str] = field(default_factory=dict)
    allocations_complete: bool = True  # False: accounts missing from `allocations` keep theirs
    notes: list[str] = field(default_factory=list)
    attributions: list[Attribution] = field(default_factory=list)
    on_calls: list[OnCallEntry] | None = None

    @property
    def complete(self) -> bool:
        return not self.partial_reason

    def make_partial(self, reason: str) -> None:
        """The first reason is the run's message; any later one is a note."""
        if self.partial_reason:
            self.notes.append(reason)
        else:
            self.partial_reason = reason


class Fetcher(Protocol):
    """Fetches one account's snapshot; network only, never the database."""

    requests: int  # HTTP requests made so far, retries included
    retries: int

    def fetch(self) -> Snapshot:
        """The whole snapshot, or an IntegrationError with a message for the tenant admin."""


class Connector(ABC):
    """One application type. Subclasses live in `integrations/connectors/<key>/`."""

    key: ClassVar[str]  # ThirdPartyApplication.key
    name: ClassVar[str]  # as the catalogue and the admin show it
    configuration_fields: ClassVar[tuple[ConfigField, ...]]
    roles: ClassVar[RoleCatalogue]
    # License role groups of a lesser seat (PagerDuty: Stakeholder): an account holding
    # another license although one of these allows its role could do with the lesser one.
    lesser_license_groups: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def validate_credentials(self, *, configuration: Configuration) -> None:
        """A read-only check with the application; raises IntegrationError when refused."""

    @abstractmethod
    def fetcher(
        self, *, configuration: Configuration, progress: Progress | None = None, since: datetime | None = None
    ) -> Fetcher:
        """A fetcher for one sync; raises IntegrationError (e.g. undecryptable secret) before
        any request when the configuration cannot be used. `since` is the integration's last
        successful sync (None before the first): where the audit trail starts."""

    @classmethod
    def secret_fields(cls) -> tuple[ConfigField, ...]:
        return tuple(f for f in cls.configuration_fields if f.secret)

    @classmethod
    def plain_fields(cls) -> tuple[ConfigField, ...]:
        return tuple(f for f in cls.configuration_fields if not f.secret)
