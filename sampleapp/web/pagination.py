"""Pagination as will_paginate did it: 30 per page, ``?page=N``, a window of page links.

Any bad or out-of-range page number shows the nearest page instead of an error: a page past the
end shows the last one, and zero or a negative number the first (Django's ``get_page`` would
show the last page for those too). ``items`` is a queryset or a ``reads.Listing``.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PER_PAGE = 30


def paginate(request: HttpRequest, items: Any) -> Page[Any]:
    paginator = Paginator(items, PER_PAGE)
    page = paginator.get_page(page_number(request.GET.get("page")))
    page.links = list(paginator.get_elided_page_range(page.number, on_each_side=4, on_ends=1))  # type: ignore[attr-defined]
    return page


def page_number(asked: str | None) -> str | int | None:
    """The page asked for, with zero and negative numbers read as the first page."""
    try:
        return max(int(asked or ""), 1)
    except ValueError:
        return asked  # not a number: get_page shows the first page
