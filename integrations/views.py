"""The tenant switcher of the admin header, and the 403 page inside the admin's frame."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.http import Http404, HttpResponseRedirect
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from integrations.admin.base import is_id
from integrations.tenancy import set_active_tenant, tenants_for

ALL_TENANTS = ""  # the value of the "All tenants" option, superusers only


@require_POST
@staff_member_required
def switch_tenant(request):
    """Make the posted tenant the active one, then go back to where the user was."""
    chosen = request.POST.get("tenant", ALL_TENANTS).strip()
    if chosen == ALL_TENANTS and request.user.is_superuser:
        tenant = None
    else:
        # A forged or foreign id changes nothing: it is simply not among the user's tenants.
        tenant = tenants_for(request.user).filter(pk=chosen).first() if is_id(chosen) else None
        if tenant is None:
            raise Http404("No such tenant.")
    set_active_tenant(request, tenant)
    return HttpResponseRedirect(_back_url(request))


def _back_url(request) -> str:
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return reverse("admin:index")
    # An object page belongs to the tenant just left: go to its list instead of a 404.
    try:
        match = resolve(urlsplit(next_url).path)
    except Resolver404:
        return reverse("admin:index")
    if match.namespace == "admin" and "object_id" in match.kwargs:
        model_prefix = match.url_name.rsplit("_", 1)[0]
        try:
            return reverse(f"admin:{model_prefix}_changelist")
        except NoReverseMatch:
            return reverse("admin:index")
    return next_url


def permission_denied(request, exception=None):
    """403 with the admin's header (Log out, the tenant switcher) for a logged-in staff user."""
    user = getattr(request, "user", None)
    context = admin.site.each_context(request) if user is not None and user.is_active and user.is_staff else {}
    return render(request, "403.html", {**context, "title": "Not allowed"}, status=403)
