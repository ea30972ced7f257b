"""The reviewers' view: synced accounts, what each sync changed, and teams. Read-only.

Everything here comes from PagerDuty: it is browsed, filtered and exported, never edited.
Reviewers and tenant admins see their active tenant's data; superusers every tenant's.

Scale (100,000 accounts in one tenant): every page runs the same number of queries whatever
its size (related rows are joined or prefetched), lists count at most a page window ahead
instead of COUNT(*) over the whole table, and filters never load accounts into Python.
"""

from __future__ import annotations

from django.contrib import admin

from integrations.admin import freshness
from integrations.admin.base import ADMIN, ReadOnlyTenantScopedAdmin, TenantScopedAdmin, has_role, visible_integrations
from integrations.admin.empty import empty_state
from integrations.admin.html import cut, safe_link
from integrations.admin.pagination import LookAheadCountMixin


class ReviewerAdmin(LookAheadCountMixin, ReadOnlyTenantScopedAdmin):
    """Read-only and tenant-scoped (another tenant's object answers 404, see the base).

    For models with an `integration` foreign key.
    """

    # One template each for every reviewer page, rather than a copy per model.
    change_list_template = "integrations/admin/change_list.html"
    change_form_template = "integrations/admin/change_form.html"

    def get_queryset(self, request):
        # The scope of the base class (tenants_with_role), applied as the literal ids of those
        # tenants' integrations instead of its join to the tenant: with the join, the database
        # sorts the tenant's 100,000 rows for every page instead of reading an index in order.
        ids = [integration.pk for integration in visible_integrations(request, self.view_roles)]
        return super(TenantScopedAdmin, self).get_queryset(request).filter(integration_id__in=ids)

    # Every page says as of when its data is (the integrations are loaded already: no query
    # unless a last sync failed).
    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if getattr(response, "context_data", None) is not None:
            integrations = self.integrations_in_list(request)
            response.context_data["freshness"] = freshness.banner(integrations=integrations)
            # An empty list (no search, no filter) says what comes next.
            cl = response.context_data.get("cl")
            if cl is not None and not cl.result_count and not cl.query and not cl.has_active_filters:
                response.context_data["empty"] = empty_state(
                    integrations=integrations, can_manage=has_role(request, frozenset({ADMIN}))
                )
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            shown = [i for i in visible_integrations(request, self.view_roles) if i.pk == obj.integration_id]
            context["freshness"] = freshness.banner(integrations=shown, name_them=self.shows_several_integrations(request))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def integrations_in_list(self, request) -> list:
        """The viewer's integrations, or the one the list is filtered to."""
        integrations = visible_integrations(request, self.view_roles)
        chosen = request.GET.get("integration", "")
        picked = [i for i in integrations if str(i.pk) == chosen]
        return picked or integrations

    def get_actions(self, request):
        # Only the page's own actions (the exports): nothing is deleted from these lists.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def shows_several_integrations(self, request) -> bool:
        return len(visible_integrations(request, self.view_roles)) > 1

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if not self.shows_several_integrations(request) and "integration_column" in columns:
            columns.remove("integration_column")
        return columns

    @admin.display(description="Integration", ordering="integration")
    def integration_column(self, obj):
        return cut(f"{obj.integration.tenant.name} / {obj.integration}", css="pd-cut-s")

    # For the models that PagerDuty gives a page (accounts, teams).
    @admin.display(description="Link in PagerDuty")
    def pagerduty_link(self, obj):
        return safe_link(obj.html_url, "Open in PagerDuty")
