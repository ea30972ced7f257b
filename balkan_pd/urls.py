from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from integrations.views import switch_tenant

# Forbidden pages keep the admin's header, with a way back and out.
handler403 = "integrations.views.permission_denied"

urlpatterns = [
    # Before admin/ so the admin's catch-all does not swallow it.
    path("admin/switch-tenant/", switch_tenant, name="switch_tenant"),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
