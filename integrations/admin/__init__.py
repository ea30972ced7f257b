"""The Django admin of balkan_pd, one module per area; every list is scoped to the active tenant."""

from django.conf import settings
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

admin.site.site_header = settings.SITE_TITLE
admin.site.site_title = settings.SITE_TITLE
admin.site.index_title = "Overview"
# There is no public site: the admin is the product.
admin.site.site_url = None
# The home page and the breadcrumbs lead everywhere; the sidebar's 300 px go to the tables.
admin.site.enable_nav_sidebar = False
