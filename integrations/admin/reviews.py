"""Access reviews: Start access review, a review's page (progress, Close review, Evidence
report, remediations still pending). Tenant admins start and close; reviewers see the reviews
that hold items assigned to them. Writes go through integrations.reviews.services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from integrations import selectors as account_selectors
from integrations.admin import freshness
from integrations.admin.base import ADMIN, REVIEWER, TenantScopedAdmin, has_role, is_id, tenants_with_role
from integrations.admin.pagination import LookAheadCountMixin
from integrations.reviews import evidence, selectors, services
from integrations.reviews.forms import StartReviewForm
from integrations.reviews.models import AccessReview

ADMINS = frozenset({ADMIN})
READERS = frozenset({ADMIN, REVIEWER})


def items_url(review_id: int, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"review": review_id, **params}.items())
    return f"{reverse('admin:integrations_reviewitem_changelist')}?{query}"


def progress_text(decided: int, total: int) -> str:
    return f"{decided:,} of {total:,} decided"


def scoped_reviews(request):
    """The reviews this request may see (another tenant's answer 404)."""
    return selectors.reviews_for(
        user=request.user,
        admin_tenants=tenants_with_role(request, ADMINS),
        reviewer_tenants=tenants_with_role(request, frozenset({REVIEWER})),
    )


@admin.register(AccessReview)
class AccessReviewAdmin(LookAheadCountMixin, TenantScopedAdmin):
    view_roles = READERS
    manage_roles = ADMINS
    list_display = (
        "name_column", "integration", "scope", "state", "due_date", "progress_column", "pending_column", "opened_at",
    )
    list_display_links = None
    list_filter = ("state", "scope")
    search_fields = ("name",)
    ordering = ("-opened_at", "-id")
    change_list_template = "integrations/admin/change_list.html"

    def get_queryset(self, request):
        reviews = scoped_reviews(request).select_related("integration__application", "opened_by")
        return selectors.with_progress(reviews)

    def has_change_permission(self, request, obj=None):
        return False  # a review changes only through its decisions and Close review

    def get_actions(self, request):
        return {}

    @admin.display(description="Name", ordering="name")
    def name_column(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:integrations_accessreview_change", args=[obj.pk]), obj.name)

    @admin.display(description="Progress")
    def progress_column(self, obj):
        return progress_text(obj.decided, obj.total)

    @admin.display(description="Remediations pending")
    def pending_column(self, obj):
        if not obj.pending:
            return "-"
        return format_html("{} for {}", obj.pending, selectors.waiting_for(obj.closed_at))

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Access reviews", **(extra_context or {})})

    def get_urls(self):
        view = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/close/", view(self.close_view), name=f"{name}_close"),
            path("<path:object_id>/evidence/", view(self.evidence_view), name=f"{name}_evidence"),
            *super().get_urls(),
        ]

    def _review(self, request, object_id) -> AccessReview:
        review = (
            scoped_reviews(request)
            .select_related("tenant", "integration__application", "opened_by", "closed_by")
            .filter(pk=object_id if is_id(object_id) else None)
            .first()
        )
        if review is None:
            if not self.has_view_permission(request):
                raise PermissionDenied
            raise Http404("No access review with this ID.")
        return review

    def _is_admin_of(self, request, review) -> bool:
        return request.user.is_superuser or tenants_with_role(request, ADMINS).filter(pk=review.tenant_id).exists()

    # --- Start access review ------------------------------------------------------------
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        tenants = tenants_with_role(request, ADMINS)
        integrations = account_selectors.integrations_of(tenants=tenants)
        members = get_user_model().objects.filter(tenant_memberships__tenant__in=tenants, is_active=True).distinct().order_by("username")
        form = StartReviewForm(
            request.POST if request.method == "POST" else None, integrations=integrations, members=members
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                review = services.open_review(
                    integration=data["integration"],
                    name=data["name"],
                    scope=data["scope"],
                    due_date=data["due_date"],
                    reviewers=list(data["reviewers"]),
                    repeat_every_days=data["repeat_every_days"],
                    opened_by=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.log_addition(request, review, [{"added": {}}])
                total = review.items.count()
                self.message_user(
                    request, f"Access review started: {total:,} account{'s' if total != 1 else ''} to review.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:integrations_accessreview_change", args=[review.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Start access review",
            "opts": self.opts,
            "form": form,
            "has_view_permission": True,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/integrations/accessreview/start.html", context)

    # --- The review's page --------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        review = self._review(request, unquote(object_id))
        progress = selectors.progress_of(review=review)
        is_admin = self._is_admin_of(request, review)
        pending = selectors.pending_remediations(reviews=AccessReview.objects.filter(pk=review.pk))
        now = timezone.now()
        context = {
            **self.admin_site.each_context(request),
            "title": review.name,
            "subtitle": "Access review",
            "opts": self.opts,
            "review": review,
            "original": review,
            "progress": progress,
            "progress_text": progress_text(progress["decided"], progress["total"]),
            "is_admin": is_admin,
            "can_close": is_admin and review.is_open and progress["undecided"] == 0,
            "items_url": items_url(review.pk),
            "my_items_url": items_url(review.pk, mine=1),
            "undecided_url": items_url(review.pk, decision="none"),
            "pending_items": [(item, selectors.waiting_for(review.closed_at, now=now)) for item in pending],
            "waiting": selectors.waiting_for(review.closed_at, now=now),
            "has_view_permission": True,
            # Today's access beside the frozen one is synced data: as of when, and whether stale.
            "freshness": freshness.banner(integrations=[review.integration]),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/integrations/accessreview/review.html", context)

    def close_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        review = self._review(request, unquote(object_id))
        if not self._is_admin_of(request, review):
            raise PermissionDenied
        try:
            services.close_review(review=review, user=request.user)
        except (ValidationError, PermissionDenied) as error:
            text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            self.message_user(request, f"Not closed: {text}", messages.ERROR)
        else:
            self.log_change(request, review, "Closed the review.")
            self.message_user(request, "Review closed. Revokes and role changes are pending until a sync sees them done.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:integrations_accessreview_change", args=[review.pk]))

    def evidence_view(self, request, object_id):
        review = self._review(request, unquote(object_id))
        if not self._is_admin_of(request, review):
            raise PermissionDenied
        fmt = request.GET.get("format", "html")
        if fmt not in evidence.FORMATS:
            raise Http404("Unknown format.")
        response = StreamingHttpResponse(
            evidence.stream_report(review_id=review.pk, fmt=fmt), content_type=evidence.CONTENT_TYPES[fmt]
        )
        if fmt != "html" or request.GET.get("download"):
            response["Content-Disposition"] = f'attachment; filename="{evidence.report_filename(review=review, fmt=fmt)}"'
        return response

    def has_module_permission(self, request):
        return has_role(request, READERS)
