"""Findings: what a reviewer should look at first, computed from what the syncs brought.

Reads only (like selectors.py), for the accounts list and page, the summary, the exports and
later the access reviews:

- `external_email`: the account's email domain is not one of its tenant's email domains
  (none are flagged while the tenant lists no domain);
- `license_pending_invite`: a license is held by an account whose invitation is pending;
- `license_downgrade`: the account holds a license of another group although a lesser
  license of the same integration (PagerDuty: Stakeholder) allows its role.

Each is an account condition (`finding_q`, for filters and counts in SQL) and the same rule
in Python (`findings_of`, for rows already read); a test keeps the two equal. Only accounts
still present in the application have findings. `FindingScope` holds what the conditions
need beyond the account row, read in one query for any number of accounts.

On-call context (`on_call_of`) says where an account is on call now and which escalation
levels would be left without anyone if it were revoked.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from integrations.connectors.registry import get_connector
from integrations.models import Integration, License, OnCall, SyncedAccount, parse_domains

EXTERNAL_EMAIL = "external_email"
LICENSE_PENDING_INVITE = "license_pending_invite"
LICENSE_DOWNGRADE = "license_downgrade"
NAMES: tuple[str, ...] = (EXTERNAL_EMAIL, LICENSE_PENDING_INVITE, LICENSE_DOWNGRADE)
LABELS = {
    EXTERNAL_EMAIL: "outside email",
    LICENSE_PENDING_INVITE: "license on a pending invite",
    LICENSE_DOWNGRADE: "lesser license would do",
}
EXPLANATIONS = {
    EXTERNAL_EMAIL: "The email is not at one of the tenant's email domains.",
    LICENSE_PENDING_INVITE: "A license is held by an account that never accepted its invitation.",
    LICENSE_DOWNGRADE: "A full license is held for a role that a lesser license of the same account allows.",
}
# The annotation that carries each finding on a queryset (see with_findings).
ANNOTATIONS = {name: f"finding_{name}" for name in NAMES}


@dataclass
class FindingScope:
    """What the finding conditions need for some integrations: each one's tenant email
    domains, its lesser license groups, and the roles one of its lesser licenses allows."""

    domains: dict[int, list[str]] = field(default_factory=dict)
    lesser_groups: dict[int, frozenset[str]] = field(default_factory=dict)
    downgradable_roles: dict[int, set[str]] = field(default_factory=dict)


def scope_for(*, integrations: list[Integration]) -> FindingScope:
    """The scope of these integrations (with their tenant and application loaded): one query."""
    scope = FindingScope()
    for integration in integrations:
        domains = integration.tenant.domains
        if domains:
            scope.domains[integration.pk] = domains
        groups = get_connector(integration.application.key).lesser_license_groups
        if groups:
            scope.lesser_groups[integration.pk] = groups
    if scope.lesser_groups:
        licenses = License.objects.filter(integration_id__in=list(scope.lesser_groups)).values_list(
            "integration_id", "role_group", "valid_roles"
        )
        for integration_id, role_group, valid_roles in licenses:
            if role_group in scope.lesser_groups[integration_id] and isinstance(valid_roles, list):
                scope.downgradable_roles.setdefault(integration_id, set()).update(valid_roles)
    return scope


def scope_for_accounts(accounts: QuerySet[SyncedAccount]) -> FindingScope:
    """The license part of the scope of these accounts' integrations, in one query (the
    export); their tenants' domains come with each row (`add_domains`)."""
    scope = FindingScope()
    licenses = License.objects.filter(
        integration_id__in=accounts.order_by().values("integration_id")
    ).values_list("integration_id", "integration__application__key", "role_group", "valid_roles")
    for integration_id, key, role_group, valid_roles in licenses:
        groups = get_connector(key).lesser_license_groups
        scope.lesser_groups[integration_id] = groups
        if role_group in groups and isinstance(valid_roles, list):
            scope.downgradable_roles.setdefault(integration_id, set()).update(valid_roles)
    return scope


def add_domains(scope: FindingScope, *, integration_id: int, email_domains: str) -> None:
    if integration_id not in scope.domains:
        scope.domains[integration_id] = parse_domains(email_domains)


# --- Conditions ----------------------------------------------------------------------------

NOTHING = Q(pk__in=[])
ACTIVE = Q(removed_at__isnull=True)


def finding_q(name: str, *, scope: FindingScope) -> Q:
    """Accounts (SyncedAccount rows) with the finding `name`."""
    if name == EXTERNAL_EMAIL:
        condition = NOTHING
        for integration_id, domains in scope.domains.items():
            ours = NOTHING
            for domain in domains:
                ours |= Q(email__iendswith=f"@{domain}")
            condition |= Q(integration_id=integration_id) & ~ours
        return ACTIVE & condition
    if name == LICENSE_PENDING_INVITE:
        return ACTIVE & Q(invitation_pending=True, license__isnull=False)
    if name == LICENSE_DOWNGRADE:
        condition = NOTHING
        for integration_id, roles in scope.downgradable_roles.items():
            condition |= (
                Q(integration_id=integration_id, role__in=sorted(roles), license__isnull=False)
                & ~Q(license__role_group__in=sorted(scope.lesser_groups[integration_id]))
            )
        return ACTIVE & condition
    raise ValueError(f"unknown finding {name!r}")


def any_finding_q(*, scope: FindingScope) -> Q:
    condition = NOTHING
    for name in NAMES:
        condition |= finding_q(name, scope=scope)
    return condition


def with_findings(accounts: QuerySet[SyncedAccount], *, scope: FindingScope) -> QuerySet[SyncedAccount]:
    """Each account with a `finding_<name>` flag per finding, computed by the database."""
    return accounts.annotate(
        **{
            ANNOTATIONS[name]: ExpressionWrapper(finding_q(name, scope=scope), output_field=BooleanField())
            for name in NAMES
        }
    )


def annotated_findings(account: SyncedAccount) -> list[str]:
    """The findings of an account read through `with_findings`."""
    return [name for name in NAMES if getattr(account, ANNOTATIONS[name], False)]


def findings_of(
    *,
    scope: FindingScope,
    integration_id: int,
    email: str,
    role: str,
    invitation_pending: bool,
    has_license: bool,
    license_role_group: str | None,
    removed: bool,
) -> list[str]:
    """The same rules as `finding_q`, for an account row already read (the export)."""
    if removed:
        return []
    found = []
    domains = scope.domains.get(integration_id)
    if domains and not any(email.lower().endswith(f"@{domain}") for domain in domains):
        found.append(EXTERNAL_EMAIL)
    if invitation_pending and has_license:
        found.append(LICENSE_PENDING_INVITE)
    if (
        has_license
        and role in scope.downgradable_roles.get(integration_id, ())
        and license_role_group not in scope.lesser_groups.get(integration_id, ())
    ):
        found.append(LICENSE_DOWNGRADE)
    return found


def finding_counts(*, integration: Integration, scope: FindingScope | None = None) -> dict[str, int]:
    """Active accounts per finding, in one query (two without a scope). For the license
    findings, each account is a license that could be freed (or exchanged for a lesser one)."""
    scope = scope or scope_for(integrations=[integration])
    counts = SyncedAccount.objects.filter(integration=integration).aggregate(
        **{name: Count("id", filter=finding_q(name, scope=scope)) for name in NAMES}
    )
    return {name: counts[name] or 0 for name in NAMES}


# --- On call -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnCallContext:
    """One escalation policy level an account is on call for, and who else is there."""

    policy_name: str
    policy_url: str
    level: int
    schedule_name: str
    on_call_now: bool
    others: int  # other accounts (still present) on call at the same policy and level

    @property
    def sole(self) -> bool:
        """Revoking the account leaves this level of the policy without anyone."""
        return self.others == 0


def on_call_of(*, account_ids: list[int]) -> dict[int, list[OnCallContext]]:
    """account id → the policy levels it is on call for, in two queries for any number."""
    rows = list(
        OnCall.objects.filter(account_id__in=account_ids).order_by("policy_name", "level", "id")
    )
    if not rows:
        return {}
    levels = {(row.integration_id, row.policy_id, row.level) for row in rows}
    people: dict[tuple[int, str, int], set[int]] = defaultdict(set)
    others = (
        OnCall.objects.filter(
            integration_id__in={key[0] for key in levels},
            policy_id__in={key[1] for key in levels},
            account__removed_at__isnull=True,
        )
        .values_list("integration_id", "policy_id", "level", "account_id")
        .distinct()
    )
    for integration_id, policy_id, level, account_id in others:
        people[(integration_id, policy_id, level)].add(account_id)
    result: dict[int, list[OnCallContext]] = defaultdict(list)
    for row in rows:
        present = people[(row.integration_id, row.policy_id, row.level)]
        result[row.account_id].append(
            OnCallContext(
                policy_name=row.policy_name,
                policy_url=row.policy_url,
                level=row.level,
                schedule_name=row.schedule_name,
                on_call_now=row.on_call_now,
                others=len(present - {row.account_id}),
            )
        )
    return dict(result)


def on_call_now() -> Exists:
    """Accounts on call now for some escalation policy."""
    return Exists(OnCall.objects.filter(account=OuterRef("pk"), on_call_now=True))
