"""The hosted run page's items, a page at a time: a run of 500 items would otherwise be a page
of megabytes (every transcript inline) that takes a second to render. The HTML report file
keeps every item inline; it is read offline, where nothing can be fetched later."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from lamdis_core.domain.results import Item, ItemStatus

from lamdis_http.ui import run_view

ITEMS_PAGE = 100
"""Rows of the items table per page."""
INLINE_ALL_UP_TO = 20
"""A page of at most this many items shows every transcript inline, as the report does."""
INLINE_FAILING = 10
"""Otherwise the transcripts of this many failing or errored items of the page are inline;
the other rows link to the item's own page."""

_FAILING = frozenset({ItemStatus.FAILED.value, ItemStatus.ERROR.value})


def page_count(items: int) -> int:
    return max(1, -(-items // ITEMS_PAGE))


def paged_run_view(
    summary: Mapping[str, Any], items: Sequence[Item], *, run_id: str, page: int
) -> dict[str, Any]:
    """The run page's view with the items of ``page`` (1-based, clamped to the pages there
    are); rows whose transcript is not inline link to ``/ui/runs/{run_id}/items/{n}``."""
    page = min(max(page, 1), page_count(len(items)))
    start = (page - 1) * ITEMS_PAGE
    shown = items[start : start + ITEMS_PAGE]
    view = run_view(summary, shown, first_index=start)
    every = len(shown) <= INLINE_ALL_UP_TO
    inline = 0
    for item in view["items"]:
        item["inline"] = every or (item["status"] in _FAILING and inline < INLINE_FAILING)
        inline += item["inline"]
        if not item["inline"]:
            item["link"] = item_path(run_id, item["number"])
    if len(items) > len(shown) or not every:
        base = f"/ui/runs/{quote(run_id, safe='')}?page="
        view["items_pager"] = {
            "first": start + 1 if shown else 0,
            "last": start + len(shown),
            "total": len(items),
            "size": ITEMS_PAGE,
            "hidden": len(shown) - inline,
            "previous": f"{base}{page - 1}" if page > 1 else None,
            "next": f"{base}{page + 1}" if start + len(shown) < len(items) else None,
        }
    return view


def item_path(run_id: str, number: int) -> str:
    """The page of the run's item ``number`` (1-based, in the order the items finished)."""
    return f"/ui/runs/{quote(run_id, safe='')}/items/{number}"
