"""Operator pages: tenants, their members and the application catalogue. Superusers only,
except a tenant's own email domains, which its tenant admins set (they mark outside emails)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.db.models import Count

from integrations.admin.base import ADMIN, has_role, tenants_with_role
from integrations.models import Tenant, TenantMembership, ThirdPartyApplication

TENANT_ADMINS = frozenset({ADMIN})


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """Invisible to tenant users: who belongs to which tenant is the operator's business."""

    def _is_superuser(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return self._is_superuser(request)

    def has_view_permission(self, request, obj=None):
        return self._is_superuser(request)

    def has_add_permission(self, request):
        return self._is_superuser(request)

    def has_change_permission(self, request, obj=None):
        return self._is_superuser(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_superuser(request)


class TenantMembershipInline(admin.TabularInline):
    # Its pages are reachable only through TenantAdmin, i.e. by superusers.
    model = TenantMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(SuperuserOnlyAdmin):
    """Superusers manage tenants. A tenant admin sees their own tenant and edits only its
    email domains; another tenant answers 404."""

    list_display = ["name", "slug", "member_count", "integration_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TenantMembershipInline]
    tenant_admin_fields = ("name", "email_domains")

    def _is_tenant_admin(self, request) -> bool:
        return not self._is_superuser(request) and has_role(request, TENANT_ADMINS)

    def has_module_permission(self, request):
        return self._is_superuser(request) or self._is_tenant_admin(request)

    def has_view_permission(self, request, obj=None):
        return self._is_superuser(request) or self._is_tenant_admin(request)

    def has_change_permission(self, request, obj=None):
        return self._is_superuser(request) or self._is_tenant_admin(request)

    def get_list_display(self, request):
        return self.list_display if self._is_superuser(request) else ["name", "email_domains"]

    def get_search_fields(self, request):
        # No search, hence no autocomplete of tenants, for tenant admins.
        return [] if self._is_tenant_admin(request) else self.search_fields

    def get_fields(self, request, obj=None):
        return super().get_fields(request, obj) if self._is_superuser(request) else self.tenant_admin_fields

    def get_readonly_fields(self, request, obj=None):
        return () if self._is_superuser(request) else ("name",)

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if self._is_superuser(request) else {}

    def get_inlines(self, request, obj):
        return self.inlines if self._is_superuser(request) else []

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another tenant is a plain 404, as everywhere else in the admin.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        raise Http404(f"No {opts.verbose_name} with this ID.")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if not self._is_superuser(request):
            return queryset.filter(pk__in=tenants_with_role(request, TENANT_ADMINS).values("pk"))
        return queryset.annotate(
            member_count=Count("memberships", distinct=True),
            integration_count=Count("integrations", distinct=True),
        )

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, obj: Tenant) -> int:
        return obj.member_count

    @admin.display(description="Integrations", ordering="integration_count")
    def integration_count(self, obj: Tenant) -> int:
        return obj.integration_count


@admin.register(TenantMembership)
class TenantMembershipAdmin(SuperuserOnlyAdmin):
    list_display = ["user", "tenant", "role"]
    list_filter = ["role", "tenant"]
    list_select_related = ["user", "tenant"]
    search_fields = ["user__username", "user__email", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(ThirdPartyApplication)
class ThirdPartyApplicationAdmin(SuperuserOnlyAdmin):
    """Read-only: each row comes from a migration and needs its connector in code."""

    list_display = ["name", "key"]
    readonly_fields = ["name", "key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
