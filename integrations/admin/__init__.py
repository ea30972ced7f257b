"""The Django admin of balkan_pd, one module per area; every list is scoped to the active tenant."""

from django.contrib import admin

from integrations.admin import (  # noqa: F401  (registers)
    accounts,
    changes,
    integrations,
    review_items,
    reviews,
    sync_runs,
    teams,
    tenancy,
)

admin.site.site_header = "balkan_pd administration"
admin.site.site_title = "balkan_pd"
admin.site.index_title = "PagerDuty access review"
# There is no public site: the admin is the product.
admin.site.site_url = None
