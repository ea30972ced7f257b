"""Account changes: what each sync saw change, newest first."""

from __future__ import annotations

from django.contrib import admin
from html import unescape

from django.utils.html import format_html, strip_tags

from integrations import selectors
from integrations.admin.filters import GrantsPrivilegeFilter, IntegrationFilter, MadeByFilter, RunFilter
from integrations.admin.html import (
    account_url,
    actor_html,
    changes_url,
    cut,
    describe_change,
    kind_html,
    run_html,
    when,
    when_html,
)
from integrations.admin.reviewer import ReviewerAdmin
from integrations.models import AccountChange


@admin.register(AccountChange)
class AccountChangeAdmin(ReviewerAdmin):
    list_display = (
        "created_column",
        "account_column",
        "kind_column",
        "detail_column",
        "actor_column",
        "run_column",
        "integration_column",
    )
    list_display_links = ("created_column",)
    list_filter = (
        IntegrationFilter,
        "kind",
        GrantsPrivilegeFilter,
        MadeByFilter,
        ("created_at", admin.DateFieldListFilter),
        RunFilter,
    )
    # "Since last week" is the created_at filter (Past 7 days…): it needs no query, whereas a
    # date_hierarchy reads the distinct dates of every change of the tenant on each load.
    search_fields = ("account__name", "account__email", "=account__external_id")
    search_help_text = "Search by the account's name, email or PagerDuty id."
    id_lookups = ("account__id__exact",)  # an account page's "Every change of this account"
    ordering = ("-created_at", "-id")
    fields = (
        "created_at",
        "account_column",
        "kind_column",
        "detail_column",
        "old_value",
        "new_value",
        "team_column",
        "actor_column",
        "acted_at",
        "run_column",
        "integration_column",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("account", "team", "run")
            .prefetch_related(selectors.integration_prefetch())
        )

    @admin.display(description="When", ordering="created_at")
    def created_column(self, obj):
        return when_html(obj.created_at)

    @admin.display(description="Account", ordering="account__name")
    def account_column(self, obj):
        whole = f"{obj.account.name} <{obj.account.email}>"
        return cut(
            whole,
            css="pd-cut-m",
            html=format_html(
                '<a href="{}">{}</a> <span class="pd-quiet">{}</span>',
                account_url(obj.account_id),
                obj.account.name,
                obj.account.email,
            ),
        )

    @admin.display(description="Change", ordering="kind")
    def kind_column(self, obj):
        return kind_html(obj, obj.integration.roles)

    @admin.display(description="Detail")
    def detail_column(self, obj):
        detail = describe_change(obj, obj.integration.roles)
        return cut(unescape(strip_tags(detail)), css="pd-cut-m", html=detail)

    @admin.display(description="Made by", ordering="actor_name")
    def actor_column(self, obj):
        return actor_html(obj, obj.integration.roles)

    @admin.display(description="Team")
    def team_column(self, obj):
        return obj.team.name if obj.team_id else "-"

    @admin.display(description="Sync run", ordering="run__started_at")
    def run_column(self, obj):
        return run_html(obj)

    def get_list_display(self, request):
        return [name if name != "run_column" else "run_list_column" for name in super().get_list_display(request)]

    @admin.display(description="Sync run", ordering="run__started_at")
    def run_list_column(self, obj):
        # The list's When is the run's time already: a short link to the run's changes.
        return format_html('<a href="{}" title="Sync run of {}">#{}</a>', changes_url(run=obj.run_id), when(obj.run.started_at), obj.run_id)
