"""Who sees which tenant, and which tenant is active in a request (kept in the session)."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations.models import Tenant, TenantMembership

SESSION_KEY = "active_tenant_id"


def tenants_for(user) -> QuerySet[Tenant]:
    """Every tenant a user may look at: all for superusers, else those they are a member of."""
    if not user.is_authenticated or not user.is_active:
        return Tenant.objects.none()
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user).distinct()


def admin_tenants_for(user) -> QuerySet[Tenant]:
    """Tenants whose integrations a user may manage."""
    if not user.is_authenticated or not user.is_active:
        return Tenant.objects.none()
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(
        memberships__user=user, memberships__role=TenantMembership.Role.ADMIN
    ).distinct()


def is_tenant_admin(user, tenant: Tenant) -> bool:
    return admin_tenants_for(user).filter(pk=tenant.pk).exists()


def switchable_tenants(request) -> list[Tenant]:
    """The user's tenants (tenants_for), read once per request: the header switcher lists
    them and the active tenant is one of them."""
    if not hasattr(request, "_switchable_tenants"):
        request._switchable_tenants = list(tenants_for(request.user))
    return request._switchable_tenants


def active_tenant(request) -> Tenant | None:
    """The tenant chosen in the header switcher, or the user's first tenant.

    Cached on the request. A superuser who has chosen nothing sees every tenant (None).
    """
    if hasattr(request, "_active_tenant"):
        return request._active_tenant
    allowed = switchable_tenants(request)
    chosen = request.session.get(SESSION_KEY)
    tenant = next((t for t in allowed if t.pk == chosen), None)
    if tenant is None and not request.user.is_superuser and allowed:
        tenant = allowed[0]
    request._active_tenant = tenant
    return tenant


def set_active_tenant(request, tenant: Tenant | None) -> None:
    if tenant is None:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = tenant.pk
    request.__dict__.pop("_active_tenant", None)


def visible_tenants(request) -> QuerySet[Tenant]:
    """The tenants the current page shows: the active one, or all a superuser may see."""
    tenant = active_tenant(request)
    if tenant is not None:
        return Tenant.objects.filter(pk=tenant.pk)
    return tenants_for(request.user)


def active_tenant_context(request) -> dict:
    """Template context for the tenant switcher in the admin header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not request.path.startswith("/admin"):
        return {}
    return {
        "active_tenant": active_tenant(request),
        "switchable_tenants": switchable_tenants(request),
    }
