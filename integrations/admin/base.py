"""Tenant scoping for every admin page: what a user sees follows their memberships.

Access comes from TenantMembership roles, not Django's model permissions: a tenant admin
manages their tenant's integrations, a reviewer reads synced data, a superuser sees all.
Objects of other tenants are outside the queryset, so their URLs answer 404.

A list takes only the query its page offers: its filters, search, ordering and pages.
Django alone would run any lookup on a model's own fields from the URL (a regex that
backtracks for minutes on every row, a prefix of a secret's ciphertext); here anything else
answers 400, and so does a filter value that cannot be one.
"""

from __future__ import annotations

import re

from django.contrib import admin
from django.contrib.admin import SimpleListFilter
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import BadRequest, FieldDoesNotExist, PermissionDenied
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404
from django.utils.text import capfirst, smart_split

from integrations import selectors
from integrations.fields import EncryptedSecretsField
from integrations.models import Tenant, TenantMembership
from integrations.tenancy import visible_tenants

ADMIN = TenantMembership.Role.ADMIN
REVIEWER = TenantMembership.Role.REVIEWER


def tenants_with_role(request, roles: frozenset[str]) -> QuerySet[Tenant]:
    """The visible tenants (active one, or all for a superuser) where the user holds one of `roles`."""
    tenants = visible_tenants(request)
    if request.user.is_superuser:
        return tenants
    return tenants.filter(memberships__user=request.user, memberships__role__in=roles).distinct()


def visible_integrations(request, roles: frozenset[str]) -> list:
    """The integrations of the viewer's visible tenants where they hold one of `roles`.

    One query per request, shared by the querysets and the filters of the pages.
    """
    cache = request.__dict__.setdefault("_visible_integrations", {})
    if roles not in cache:
        cache[roles] = list(selectors.integrations_of(tenants=tenants_with_role(request, roles)))
    return cache[roles]


def has_role(request, roles: frozenset[str]) -> bool:
    cache = request.__dict__.setdefault("_tenant_role_cache", {})
    if roles not in cache:
        user = request.user
        cache[roles] = bool(
            user.is_active
            and user.is_staff
            and (user.is_superuser or tenants_with_role(request, roles).exists())
        )
    return cache[roles]


ID_MAX = 2**63 - 1  # the largest id either database stores


def is_id(value) -> bool:
    """An id as the admin's links write it: ASCII digits, within a database integer."""
    return isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value) is not None and int(value) <= ID_MAX


def touches_secret(model, lookup: str) -> bool:
    """Whether `lookup` (a__b__c) reaches an encrypted secrets field of `model` or a related model."""
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if isinstance(field, EncryptedSecretsField):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


class ScopedChangeList(ChangeList):
    """A list that runs only the filters its page offers.

    What no list filter took from the query string is applied by Django as a lookup: only the
    admin's `id_lookups` may be. A value a field filter cannot read (a date that is none, a
    yes/no that is neither) answers 400 rather than Django's redirect to "?e=1".
    """

    def __init__(self, request, *args, **kwargs):
        # PostgreSQL takes no NUL in text: a filter or search with one could only fail there.
        if any("\x00" in value for _key, values in request.GET.lists() for value in values):
            raise BadRequest("NUL character in the query")
        super().__init__(request, *args, **kwargs)

    def get_filters(self, request):
        filters = super().get_filters(request)
        remaining = filters[2]
        for key in remaining:
            if key not in self.model_admin.id_lookups:
                raise DisallowedModelAdminLookup(f"Filtering by {key} not allowed")
        return filters

    def get_queryset(self, request, exclude_parameters=None):
        try:
            return super().get_queryset(request, exclude_parameters)
        except IncorrectLookupParameters as error:
            raise BadRequest("malformed filter value") from error


class TenantScopedAdmin(admin.ModelAdmin):
    """Base for every tenant-owned model's admin.

    `tenant_path` leads from the model to its Tenant; `view_roles` may see the pages,
    `manage_roles` may also add and change. Delete is for superusers only: synced data
    and integrations are never lost by a click of a tenant user.
    """

    tenant_path: str = "tenant"
    view_roles: frozenset[str] = frozenset({ADMIN})
    manage_roles: frozenset[str] = frozenset({ADMIN})
    # Lookups by id that other pages' links put in this list's URL beside its filters.
    id_lookups: tuple[str, ...] = ()

    def get_changelist(self, request, **kwargs):
        return ScopedChangeList

    # Each word of a search is one more condition per search field: thousands of them make a
    # query no database takes ("Expression tree is too large"), so a search has a few at most.
    max_search_words = 20

    def get_search_results(self, request, queryset, search_term):
        if sum(1 for _word in smart_split(search_term)) > self.max_search_words:
            raise BadRequest(f"a search takes at most {self.max_search_words} words")
        return super().get_search_results(request, queryset, search_term)

    def lookup_allowed(self, lookup, value, request=None):
        # Before the filters take their parameters: a list filter's own, or an id lookup.
        # The ChangeList then refuses whatever a filter did not take (invitation_pending__regex).
        if touches_secret(self.model, lookup):
            return False
        if lookup in self.id_lookups:
            return is_id(value)
        return self.list_filter_reads(request, lookup)

    def list_filter_reads(self, request, lookup: str) -> bool:
        """Whether one of the list's filters reads `lookup` (a field filter: its field's lookups)."""
        for item in self.get_list_filter(request):
            if isinstance(item, type) and issubclass(item, SimpleListFilter):
                if lookup == item.parameter_name:
                    return True
                continue
            field_path = item[0] if isinstance(item, (list, tuple)) else item
            if isinstance(field_path, str) and lookup.startswith(field_path + LOOKUP_SEP):
                return True
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        tenants = tenants_with_role(request, self.view_roles)
        return queryset.filter(**{f"{self.tenant_path}__in": tenants})

    def has_module_permission(self, request):
        return has_role(request, self.view_roles)

    def has_view_permission(self, request, obj=None):
        return has_role(request, self.view_roles)

    def has_add_permission(self, request):
        return bool(self.manage_roles) and has_role(request, self.manage_roles)

    def has_change_permission(self, request, obj=None):
        return bool(self.manage_roles) and has_role(request, self.manage_roles)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    # Titles: a list is named by what it lists ("Synced accounts", not "Select synced account
    # to view"); an object's page by the object itself.
    def changelist_view(self, request, extra_context=None):
        title = capfirst(self.opts.verbose_name_plural)
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not add:
            context.update(title=str(obj), subtitle=None)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index saying the object "doesn't exist". Here: no access to
        # these pages at all is 403, as on the list; an object of another tenant is a plain 404.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        raise Http404(f"No {opts.verbose_name} with this ID.")


class ReadOnlyTenantScopedAdmin(TenantScopedAdmin):
    """Data that syncs write (PagerDuty's, and the sync history): browsed, never edited here."""

    view_roles = frozenset({ADMIN, REVIEWER})
    manage_roles = frozenset()

    def has_delete_permission(self, request, obj=None):
        return False
