"""Tenant scoping for every admin page: what a user sees follows their memberships.

Access comes from TenantMembership roles, not Django's model permissions: a tenant admin
manages their tenant's integrations, a reviewer reads synced data, a superuser sees all.
Objects of other tenants are outside the queryset, so their URLs answer 404.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.text import capfirst

from integrations import selectors
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


class TenantScopedAdmin(admin.ModelAdmin):
    """Base for every tenant-owned model's admin.

    `tenant_path` leads from the model to its Tenant; `view_roles` may see the pages,
    `manage_roles` may also add and change. Delete is for superusers only: synced data
    and integrations are never lost by a click of a tenant user.
    """

    tenant_path: str = "tenant"
    view_roles: frozenset[str] = frozenset({ADMIN})
    manage_roles: frozenset[str] = frozenset({ADMIN})

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
