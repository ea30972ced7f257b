"""The admin's search form, actions bar and paginator, drawn with the look-ahead count.

Django's own tag functions give the same context as on any admin list; only the template
differs, so the reviewer pages' shared change_list.html needs no template per model.
"""

from __future__ import annotations

from django import template
from django.contrib.admin.templatetags import admin_list

register = template.Library()

register.inclusion_tag("integrations/admin/look_ahead_search_form.html", name="look_ahead_search_form")(
    admin_list.search_form
)
register.inclusion_tag("integrations/admin/look_ahead_pagination.html", name="look_ahead_pagination")(
    admin_list.pagination
)
register.inclusion_tag(
    "integrations/admin/look_ahead_actions.html", takes_context=True, name="look_ahead_actions"
)(admin_list.admin_actions)
