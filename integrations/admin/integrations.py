"""Third Party Applications: add an integration, Configure and Integrate it, watch its status.

The labels and steps are those the customer setup page names. Writes go through
integrations.services; every page is scoped to the active tenant by TenantScopedAdmin.
"""

from __future__ import annotations

from functools import cache

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from integrations.admin.base import TenantScopedAdmin, tenants_with_role
from integrations.admin.html import cut, sync_history_url, when_html
from integrations.admin.live import SyncNowMixin, live_message, live_status, sync_now_url
from integrations.connectors.base import ConfigField, Connector
from integrations.connectors.errors import IntegrationError, PermissionMissing, TokenRejected
from integrations.forms import ConfigureIntegrationForm, IntegrationAddForm, IntegrationChangeForm
from integrations.models import Integration
from integrations.services import add_integration, configure_integration, update_integration
from integrations.tenancy import active_tenant

ADD_FIELDS = ["tenant", "application", "owner", "description"]


@cache
def configuration_displays(connector: Connector) -> tuple:
    """One read-only row of the change page per configuration field; of a secret only its
    hint, ever. Cached, so the fieldsets and readonly_fields name the same callables."""

    def display(field: ConfigField):
        @admin.display(description=field.label)
        def value(obj: Integration) -> str:
            if field.secret:
                hint = obj.secret_hints.get(field.name)
                return f"Saved ({hint})" if hint else "No token saved yet"
            value = obj.configuration.get(field.name, "")
            return dict(field.choices).get(value, value) or "-"

        return value

    return tuple(display(field) for field in connector.configuration_fields)


def secret_field_of(integration: Integration) -> str | None:
    """The form field a refused credential belongs to: the connector's first secret field."""
    secrets = integration.connector.secret_fields()
    return secrets[0].name if secrets else None


def nothing_saved(error: IntegrationError) -> str:
    """The connector's plain-words reason, as a sentence, and what it means for the form."""
    reason = capfirst(error.message.rstrip("."))
    return f"{reason}{'' if reason.endswith(('?', '!')) else '.'} Nothing was saved."


@admin.register(Integration)
class IntegrationAdmin(SyncNowMixin, TenantScopedAdmin):
    form = IntegrationChangeForm
    change_list_template = "admin/integrations/integration/change_list.html"
    list_display_links = None  # the Application column renders its own links
    search_fields = ["description", "application__name"]
    actions = ["sync_now"]
    # The application and tenant as plain text: Django would link them to pages that only
    # superusers may open.
    readonly_fields = [
        "application_name",
        "tenant_name",
        "status_display",
        "message_column",
        "last_synced_display",
    ]
    fieldsets = [
        (None, {"fields": ["application_name", "tenant_name", "owner", "description"]}),
        ("Status", {"fields": ["status_display", "message_column", "last_synced_display"]}),
    ]

    class Media:
        js = ["integrations/progress.js"]

    # --- changelist -------------------------------------------------------------------
    def get_queryset(self, request):
        # Every page shows the application, owner and tenant: one query, not one per row.
        return super().get_queryset(request).select_related("application", "owner", "tenant")

    def get_list_display(self, request):
        columns = [
            "application_column",
            "description_column",
            "owner_column",
            "status_column",
            "message_column",
            "last_synced_display",
        ]
        if self._sees_every_tenant(request):
            columns.insert(1, "tenant_name")
        return columns

    def get_list_filter(self, request):
        # A tenant has a handful of integrations; filters help those who see every tenant.
        return ["tenant", "status"] if self._sees_every_tenant(request) else []

    def _sees_every_tenant(self, request) -> bool:
        # Superusers who chose "All tenants" in the header.
        return request.user.is_superuser and active_tenant(request) is None

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(
            request, {"title": "Third Party Applications", **(extra_context or {})}
        )

    @admin.display(description="Application", ordering="application__name")
    def application_column(self, obj: Integration) -> str:
        # The button on a line of its own: the column is as wide as the button, not the name
        # and the button side by side (the list fits beside the filters at 1280 px).
        change_url = reverse("admin:integrations_integration_change", args=[obj.pk])
        return format_html(
            '<a href="{}">{}</a> <a class="sync-history-link" href="{}">Sync history</a>'
            '<br><a class="button configure-button" href="{}">Configure and Integrate</a>',
            change_url,
            obj.application.name,
            sync_history_url(obj),
            reverse("admin:integrations_integration_configure", args=[obj.pk]),
        )

    @admin.display(description="Description", ordering="description")
    def description_column(self, obj: Integration) -> str:
        return cut(obj.description, css="pd-cut-s") if obj.description else "-"

    @admin.display(description="Primary Application Owner", ordering="owner__username")
    def owner_column(self, obj: Integration) -> str:
        return cut(str(obj.owner), css="pd-cut-s") if obj.owner_id else "-"

    @admin.display(description="Application")
    def application_name(self, obj: Integration) -> str:
        return obj.application.name

    @admin.display(description="Tenant", ordering="tenant__name")
    def tenant_name(self, obj: Integration) -> str:
        return obj.tenant.name

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Integration) -> str:
        return live_status(obj)

    @admin.display(description="Status", ordering="status")
    def status_column(self, obj: Integration) -> str:
        """The list's Status: the badge and, once configured, Sync now. The button submits the
        list's own form (and its CSRF token) to the sync URL: a form may not sit in another."""
        if not obj.is_configured:
            return live_status(obj)
        return format_html(
            '<span class="pd-row-tools">{} <button type="submit" class="button pd-sync-now" formaction="{}?from=list"'
            ' formmethod="post" formnovalidate>Sync now</button></span>',
            live_status(obj),
            sync_now_url(obj),
        )

    @admin.display(description="Message", ordering="message")
    def message_column(self, obj: Integration) -> str:
        return live_message(obj)

    @admin.display(description="Last synced", ordering="last_synced_at")
    def last_synced_display(self, obj: Integration):
        return format_html(
            '<span class="pd-last-synced" data-integration="{}">{}</span>', obj.pk, when_html(obj.last_synced_at, empty="Never")
        )


    # --- change page ------------------------------------------------------------------
    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Configuration", {"fields": configuration_displays(obj.connector)})]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, *configuration_displays(obj.connector)] if obj else readonly

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # New integrations come through Add Integration, not from a change page.
        context = {"show_save_and_add_another": False, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:  # for the Sync now and Sync history buttons of the object tools
            context["sync_history_url"] = sync_history_url(obj)
            context["sync_now_url"] = sync_now_url(obj) if obj.is_configured else ""
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        update_integration(
            integration=obj,
            owner=form.cleaned_data["owner"],
            description=form.cleaned_data["description"],
        )

    # --- Add Integration --------------------------------------------------------------
    def add_view(self, request, form_url="", extra_context=None):
        """A separate add form (like UserAdmin's) whose save is the add_integration service."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        # Tenant admins add to their active tenant; superusers choose among the tenants in view.
        tenant = None if request.user.is_superuser else active_tenant(request)
        form = IntegrationAddForm(
            request.POST if request.method == "POST" else None,
            user=request.user,
            tenant=tenant,
            tenants=tenants_with_role(request, self.manage_roles),
        )
        if request.method == "POST" and form.is_valid():
            try:
                integration = add_integration(
                    tenant=form.target_tenant,
                    application=form.cleaned_data["application"],
                    owner=form.cleaned_data["owner"],
                    description=form.cleaned_data["description"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.log_addition(request, integration, [{"added": {}}])
                self.message_user(
                    request,
                    format_html(
                        "{} was added. Next, click <strong>Configure and Integrate</strong> beside "
                        "its name and save a read-only access token: syncing starts then.",
                        integration.application.name,
                    ),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:integrations_integration_changelist"))

        fieldsets = [(None, {"fields": [name for name in ADD_FIELDS if name in form.fields]})]
        admin_form = helpers.AdminForm(form, fieldsets, {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": "Add Integration",
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            # After adding, the next step is Configure and Integrate from the list.
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

    # --- Configure and Integrate ------------------------------------------------------
    def get_urls(self):
        configure = self.admin_site.admin_view(
            # Every parameter: the connector's secret fields are not known here.
            sensitive_post_parameters()(csrf_protect(self.configure_view))
        )
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/configure/", configure, name=f"{prefix}_configure"),
            path("<path:object_id>/sync/", self.admin_site.admin_view(self.sync_now_view), name=f"{prefix}_sync_now"),
            path("<path:object_id>/progress/", self.admin_site.admin_view(self.progress_view), name=f"{prefix}_progress"),
            *super().get_urls(),
        ]

    def _scoped_object(self, request, object_id) -> Integration:
        integration = self.get_object(request, unquote(object_id))
        if integration is None:  # absent, or another tenant's
            raise Http404("No integration with this ID.")
        return integration

    def configure_view(self, request, object_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        integration = self._scoped_object(request, object_id)

        form = ConfigureIntegrationForm(
            request.POST if request.method == "POST" else None, integration=integration
        )
        if request.method == "POST" and form.is_valid():
            try:
                configure_integration(integration=integration, values=form.cleaned_data)
            except (TokenRejected, PermissionMissing) as error:
                form.add_error(secret_field_of(integration), nothing_saved(error))
            except IntegrationError as error:  # unreachable, timeout, unexpected answer
                form.add_error(None, nothing_saved(error))
            except ValidationError as error:
                form.add_error(None, error)
            else:
                self.log_change(request, integration, "Configured: access token and service region saved.")
                self.message_user(request, "Saved. The first sync is queued.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:integrations_integration_changelist"))

        context = {
            **self.admin_site.each_context(request),
            "title": "Configure and Integrate",
            "subtitle": str(integration),
            "opts": self.opts,
            "original": integration,
            "integration": integration,
            "live_status": live_status(integration),
            "live_message": live_message(integration, css=""),
            "form": form,
            "has_view_permission": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/integrations/integration/configure.html", context)
