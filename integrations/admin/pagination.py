"""Counting without COUNT(*) over 100,000 rows: the paginator of the reviewers' lists.

Every page runs the same number of queries whatever the table's size: lists count at most a
page window ahead instead of counting the whole table.
"""

from __future__ import annotations

from math import ceil

from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from integrations.admin.base import ID_MAX


class LookAheadPaginator(Paginator):
    """Counts rows only up to `look_ahead` past the current page, not the whole table.

    Below that the count is exact. Above it the list says "more than N": every page stays
    reachable (the page links reach `look_ahead` rows further), and a page load costs the
    same at 10,000 or 10,000,000 accounts. A planner estimate (pg_class.reltuples) was not
    used: it is per table, while every list here is one tenant's slice of it.
    """

    look_ahead = 10_000

    def __init__(self, object_list, per_page, *, current_page: int = 1, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        # A page number past any row (`?p=` typed by hand) must still make a LIMIT the database
        # takes: no list has more rows than the largest id, and the page itself is then "no such page".
        self.limit = min(max(current_page, 1) * self.per_page + self.look_ahead + 1, ID_MAX)

    @cached_property
    def count(self) -> int:
        # Ordering is dropped: it changes nothing to a count and would force a sort.
        return self.object_list.order_by().values("pk")[: self.limit].count()

    @property
    def is_estimate(self) -> bool:
        return self.count >= self.limit

    @property
    def count_floor(self) -> int:
        """For "more than N": the rows known to exist."""
        return self.count - 1 if self.is_estimate else self.count

    @cached_property
    def num_pages(self) -> int:
        return max(1, ceil(self.count / self.per_page))


class LookAheadCountMixin:
    list_per_page = 100
    show_full_result_count = False  # no second COUNT(*) of the unfiltered list
    show_facets = admin.ShowFacets.NEVER  # facet counts would count per choice per load

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            current_page = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            current_page = 1
        return LookAheadPaginator(
            queryset,
            per_page,
            current_page=current_page,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
        )
