"""Review items: a reviewer's list (riskiest first, the frozen access beside today's), the
decision page (Keep, Revoke, Change role) and Keep in bulk for a filtered selection.

Tenant admins see every item of their tenant's reviews; reviewers only the items assigned
to them. Every page runs the same number of queries whatever the number of items.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from integrations import findings
from integrations.admin import freshness
from integrations.admin.base import ADMIN, REVIEWER, TenantScopedAdmin, has_role, is_id, tenants_with_role
from integrations.admin.filters import ScopedFilter
from integrations.admin.html import badge, findings_html, on_call_html, role_html, safe_link
from integrations.admin.pagination import LookAheadCountMixin
from integrations.admin.reviews import READERS, items_url
from integrations.reviews import selectors, services
from integrations.reviews.forms import DecisionForm
from integrations.reviews.models import ReviewDecision, ReviewItem


def teams_html(teams, roles):
    """[{team, role}] or memberships, escaped; privileged team roles stand out."""
    pairs = [(t["team"], t["role"]) if isinstance(t, dict) else (t.team.name, t.role) for t in teams]
    if not pairs:
        return "-"
    return format_html_join(
        ", ", "{} ({})",
        ((team, format_html("<strong>{}</strong>", role) if role in roles.privileged_team_roles else role) for team, role in pairs),
    )


class ReviewFilter(ScopedFilter):
    title = "access review"
    parameter_name = "review"
    by_id = True

    def lookups(self, request, model_admin):
        reviews = model_admin.visible_reviews(request).order_by("-opened_at", "-id")[:50]
        return [(str(review.pk), review.name) for review in reviews]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(review_id=int(value)) if value else queryset


class MineFilter(admin.SimpleListFilter):
    title = "assigned"
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("1", "To me")]

    def queryset(self, request, queryset):
        return queryset.filter(reviewer=request.user) if self.value() == "1" else queryset


class DecisionFilter(admin.SimpleListFilter):
    title = "decision"
    parameter_name = "decision"

    def lookups(self, request, model_admin):
        return [("none", "No decision yet"), *ReviewItem.Decision.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(decision="")
        return queryset.filter(decision=value) if value in ReviewItem.Decision.values else queryset


@admin.register(ReviewItem)
class ReviewItemAdmin(LookAheadCountMixin, TenantScopedAdmin):
    view_roles = READERS
    manage_roles = frozenset()
    change_list_template = "integrations/admin/change_list.html"
    list_display = (
        "account_column", "frozen_column", "today_column", "decision_column", "reviewer", "decided_at", "remediation_column",
    )
    list_display_links = None
    list_filter = (ReviewFilter, MineFilter, DecisionFilter, "privileged", "remediation")
    search_fields = ("account_name", "account_email", "=account_external_id")
    search_help_text = "Search by the account's name, email or id (exact)."
    ordering = ("-privileged", "-finding_count", "account_name", "id")
    actions = ("keep",)

    def visible_reviews(self, request):
        from integrations.admin.reviews import scoped_reviews

        return scoped_reviews(request)

    def get_queryset(self, request):
        admin_tenants = tenants_with_role(request, frozenset({ADMIN}))
        reviewer_tenants = tenants_with_role(request, frozenset({REVIEWER}))
        items = ReviewItem.objects.filter(
            Q(review__tenant__in=admin_tenants) | Q(review__tenant__in=reviewer_tenants, reviewer=request.user)
        )
        return selectors.items_for(items=items)

    def has_module_permission(self, request):
        return has_role(request, READERS)

    def has_keep_permission(self, request):
        return has_role(request, READERS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Review items: riskiest first", **(extra_context or {})})

    # --- columns ------------------------------------------------------------------------
    @admin.display(description="Account", ordering="account_name")
    def account_column(self, obj):
        privileged = format_html(" {}", badge("privileged", "pd-privileged")) if obj.privileged else ""
        found = format_html(" {}", findings_html(obj.findings)) if obj.findings else ""
        return format_html(
            '<a href="{}">{}</a>{}{}<br><span class="pd-quiet">{}</span>',
            reverse("admin:integrations_reviewitem_change", args=[obj.pk]),
            obj.account_name, privileged, found, obj.account_email,
        )

    @admin.display(description="Access when the review opened")
    def frozen_column(self, obj):
        roles = obj.review.integration.roles
        pending = format_html(" {}", badge("invitation pending", "pd-pending")) if obj.invitation_pending else ""
        return format_html(
            "{}<br>Teams: {}<br>License: {}{}", role_html(obj.role, roles), teams_html(obj.teams, roles), obj.license_name or "-", pending
        )

    @admin.display(description="Today")
    def today_column(self, obj):
        account = obj.account
        if account is None:
            return "-"
        if account.removed_at is not None:
            return badge(f"removed {timezone.localtime(account.removed_at):%Y-%m-%d}", "pd-removed")
        roles = obj.review.integration.roles
        changed = format_html("{}<br>", badge("changed since the review opened", "pd-privileged grants-privilege")) if obj.changed_since else ""
        return format_html(
            "{}{}<br>Teams: {}<br>License: {}",
            changed, role_html(account.role, roles), teams_html(account.team_memberships.all(), roles),
            account.license.name if account.license_id else "-",
        )

    @admin.display(description="Decision", ordering="decision")
    def decision_column(self, obj):
        if not obj.decision:
            return badge("no decision", "pd-pending")
        text = obj.get_decision_display()
        if obj.new_role:
            text = format_html("{} → {}", text, obj.review.integration.roles.display(obj.new_role))
        return format_html("{}<br><span class=\"pd-quiet\">{}</span>", text, obj.comment) if obj.comment else text

    @admin.display(description="Remediation", ordering="remediation")
    def remediation_column(self, obj):
        if obj.remediation == ReviewItem.Remediation.PENDING:
            return format_html("{} {}", badge("pending", "pd-pending"), safe_link(obj.html_url, "Open user"))
        if obj.remediation == ReviewItem.Remediation.DONE:
            return badge(f"done {timezone.localtime(obj.remediated_at):%Y-%m-%d}", "pd-active")
        return "-"

    # --- Keep in bulk -------------------------------------------------------------------
    @admin.action(description="Keep", permissions=["keep"])
    def keep(self, request, queryset):
        selected = queryset.count()
        kept = services.keep_in_bulk(items=queryset, user=request.user)
        self.message_user(request, f"Kept {kept:,} item{'s' if kept != 1 else ''}.", messages.SUCCESS)
        if selected > kept:
            self.message_user(
                request,
                f"{selected - kept:,} left as they were: closed reviews, items of other reviewers or your own account.",
                messages.WARNING,
            )

    # --- The decision page --------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        object_id = unquote(object_id)
        item = self.get_queryset(request).filter(pk=object_id if is_id(object_id) else None).first()
        if item is None:
            if not self.has_view_permission(request):
                raise PermissionDenied
            raise Http404("No review item with this ID.")
        may_decide = services.can_decide(item=item, user=request.user)
        form = DecisionForm(request.POST if request.method == "POST" else None, item=item)
        if request.method == "POST":
            if not may_decide:
                raise PermissionDenied
            if form.is_valid():
                try:
                    services.decide(item=item, user=request.user, **form.cleaned_data)
                except ValidationError as error:
                    _add_errors(form, error)
                except PermissionDenied as error:
                    form.add_error(None, str(error))
                else:
                    self.message_user(request, f"Decision saved: {item.account_name}.", messages.SUCCESS)
                    return HttpResponseRedirect(_next_url(request, item))
        roles = item.review.integration.roles
        context = {
            **self.admin_site.each_context(request),
            "title": item.account_name,
            "freshness": freshness.banner(integrations=[item.review.integration]),
            "subtitle": item.review.name,
            "opts": self.opts,
            "item": item,
            "review": item.review,
            "original": item,
            "form": form,
            "may_decide": may_decide,
            "why_not": _why_not(item, request.user) if not may_decide else "",
            "frozen": self.frozen_column(item),
            "today": self.today_column(item),
            "findings": findings_html(item.findings),
            # Today's on-call duties: what a revoke would break.
            "on_call": on_call_html(findings.on_call_of(account_ids=[item.account_id]).get(item.account_id, []))
            if item.account_id
            else "-",
            "role_of": roles.display,
            "history": list(ReviewDecision.objects.filter(item=item).select_related("decided_by")),
            "link": safe_link(item.html_url, "Open user"),
            "back_url": items_url(item.review_id, mine=1),
            "has_view_permission": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/integrations/reviewitem/decide.html", context)


def _add_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _why_not(item: ReviewItem, user) -> str:
    if not item.review.is_open:
        return "This review is closed: nothing on it changes."
    if services._same_person(item.account_email, user):
        return "This is your own account: another reviewer decides on it."
    return "This item is assigned to another reviewer."


def _next_url(request, item: ReviewItem) -> str:
    """Back to the list the reviewer came from, else their items of this review."""
    back = request.POST.get("_back", "")
    if back.startswith(reverse("admin:integrations_reviewitem_changelist")):
        return back
    return items_url(item.review_id, mine=1)
