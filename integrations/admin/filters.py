"""The list filters of the admin, scoped to the viewer's integrations.

Choices are read with one query each and filters never load accounts into Python: they
add conditions to the list's queryset.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import BadRequest
from django.utils import timezone

from integrations import findings, selectors
from integrations.admin.base import is_id, visible_integrations
from integrations.models import ActorType


class ScopedFilter(admin.SimpleListFilter):
    """A list filter that knows its admin (for the viewer's integrations).

    Its value is checked before any query: an id filter (`by_id`) takes ids (the viewer's
    or not: the list's scope shows nothing of another tenant), other filters one of the
    choices they offer. Anything else (letters for an id, SQL, a number past any id) answers
    400; an empty value filters nothing.
    """

    by_id = False
    other_values: frozenset[str] = frozenset()  # besides ids, for an id filter ("none")

    def __init__(self, request, params, model, model_admin):
        self.model_admin = model_admin
        super().__init__(request, params, model, model_admin)
        value = self.value()
        if value and not self.is_valid(value):
            raise BadRequest(f"{self.parameter_name}: not a value of this filter")

    def is_valid(self, value: str) -> bool:
        if self.by_id:
            return is_id(value) or value in self.other_values
        return value in {str(choice) for choice, _label in self.lookup_choices}

    def integrations(self, request) -> list:
        return visible_integrations(request, self.model_admin.view_roles)

    def integration_ids(self, request) -> list[int]:
        return [i.pk for i in self.integrations(request)]

    def finding_scope(self, request) -> findings.FindingScope:
        return finding_scope(request, self.model_admin.view_roles)

    def labelled(self, request, label: str, integration_id: int) -> str:
        """`label`, naming its integration when the viewer sees several (same team names…)."""
        integrations = {i.pk: i for i in visible_integrations(request, self.model_admin.view_roles)}
        return f"{label} ({integrations[integration_id]})" if len(integrations) > 1 else label


def finding_scope(request, roles) -> findings.FindingScope:
    """The findings' scope of the viewer's integrations: one query per request, shared by the
    list's flags and its filter."""
    cache = request.__dict__.setdefault("_finding_scope", {})
    if roles not in cache:
        cache[roles] = findings.scope_for(integrations=visible_integrations(request, roles))
    return cache[roles]


class IntegrationFilter(ScopedFilter):
    """Offers only the integrations of tenants the viewer may see (never another tenant's names).

    For any admin with `view_roles` whose model has an `integration` foreign key. The list's
    queryset is scoped already: another tenant's integration id shows nothing.
    """

    title = "integration"
    parameter_name = "integration"
    by_id = True

    def lookups(self, request, model_admin):
        integrations = visible_integrations(request, model_admin.view_roles)
        several_tenants = len({integration.tenant_id for integration in integrations}) > 1
        return [
            (str(i.pk), f"{i.tenant.name} / {i}" if several_tenants else str(i))
            for i in integrations
        ]

    def queryset(self, request, queryset):
        return queryset.filter(integration_id=int(self.value())) if self.value() else queryset


class YesNoFilter(ScopedFilter):
    """Yes: the rows that meet `condition()`; no: the others."""

    def condition(self):
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(self.condition())
        if self.value() == "no":
            return queryset.exclude(self.condition())
        return queryset


class RoleFilter(ScopedFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return selectors.role_choices(integrations=self.integrations(request))

    def queryset(self, request, queryset):
        return queryset.filter(role=self.value()) if self.value() else queryset


class TeamFilter(ScopedFilter):
    title = "team"
    parameter_name = "team"
    by_id = True

    def lookups(self, request, model_admin):
        teams = selectors.teams_of(integration_ids=self.integration_ids(request))
        return [
            (str(team.pk), self.labelled(request, team.name, team.integration_id))
            for team in teams.only("id", "name", "integration_id")
        ]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(selectors.in_team(team_id=int(self.value())))
        return queryset


class TeamRoleFilter(ScopedFilter):
    """The role held in a team; within the team chosen in the team filter, if one is."""

    title = "team role"
    parameter_name = "team_role"

    def __init__(self, request, params, model, model_admin):
        # From the request: the team filter has taken its parameter out of `params` already
        # (and refused it unless it is an id).
        team = request.GET.get(TeamFilter.parameter_name)
        self.team = int(team) if is_id(team) else None
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return selectors.team_role_choices(integrations=self.integrations(request))

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(selectors.holds_team_role(roles=[self.value()], team_id=self.team))


class PrivilegedFilter(YesNoFilter):
    title = "privileged (owner, admin or team manager)"
    parameter_name = "privileged"

    def condition(self):
        return selectors.privileged_accounts_q()


class PresenceFilter(ScopedFilter):
    title = "active / removed"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("removed", "Removed from PagerDuty")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(removed_at__isnull=True)
        if self.value() == "removed":
            return queryset.filter(removed_at__isnull=False)
        return queryset


class LicenseFilter(ScopedFilter):
    title = "license"
    parameter_name = "license"
    NONE = "none"
    by_id = True
    other_values = frozenset({NONE})

    def lookups(self, request, model_admin):
        licenses = selectors.licenses_of(integration_ids=self.integration_ids(request))
        return [
            (str(lic.pk), self.labelled(request, lic.name, lic.integration_id))
            for lic in licenses.only("id", "name", "integration_id")
        ] + [(self.NONE, "No license")]

    def queryset(self, request, queryset):
        if self.value() == self.NONE:
            return queryset.filter(license__isnull=True)
        if self.value():
            return queryset.filter(license_id=int(self.value()))
        return queryset


class GrantsPrivilegeFilter(YesNoFilter):
    title = "grants privilege"
    parameter_name = "grants_privilege"

    def condition(self):
        return selectors.grants_privilege_q()


class RunFilter(ScopedFilter):
    """The latest runs are offered; any run of the viewer's can be chosen by its id (?run=)."""

    title = "sync run"
    parameter_name = "run"
    by_id = True

    def lookups(self, request, model_admin):
        runs = selectors.recent_runs_of(integration_ids=self.integration_ids(request))
        return [
            (
                str(run.pk),
                self.labelled(
                    request,
                    f"{timezone.localtime(run.started_at):%Y-%m-%d %H:%M} {run.get_outcome_display()}",
                    run.integration_id,
                ),
            )
            for run in runs
        ]

    def queryset(self, request, queryset):
        return queryset.filter(run_id=int(self.value())) if self.value() else queryset


class FindingFilter(ScopedFilter):
    """?finding=external_email (or any finding name); `any`: accounts with some finding."""

    title = "finding"
    parameter_name = "finding"
    ANY = "any"

    def lookups(self, request, model_admin):
        return [(self.ANY, "Any finding"), *((name, findings.LABELS[name].capitalize()) for name in findings.NAMES)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        scope = self.finding_scope(request)
        if value == self.ANY:
            return queryset.filter(findings.any_finding_q(scope=scope))
        if value not in findings.NAMES:
            return queryset.none()
        return queryset.filter(findings.finding_q(value, scope=scope))


class OnCallFilter(YesNoFilter):
    title = "on call now"
    parameter_name = "on_call"

    def condition(self):
        return findings.on_call_now()


class MadeByFilter(ScopedFilter):
    """Who made a change, as the audit trail recorded it."""

    title = "made by"
    parameter_name = "made_by"
    UNKNOWN = "unknown"
    OUTSIDE_IDP = "outside_idp"

    def lookups(self, request, model_admin):
        return [
            (self.OUTSIDE_IDP, "Outside the identity provider"),
            *((value, f"{label[0].upper()}{label[1:]}") for value, label in ActorType.choices),
            (self.UNKNOWN, "Not recorded"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == self.UNKNOWN:
            return queryset.filter(actor_type="", actor_method="")
        if value == self.OUTSIDE_IDP:
            return queryset.filter(selectors.outside_identity_provider_q())
        return queryset.filter(actor_type=value)
