"""The hosted run page's items, a page at a time: a run of 500 items would otherwise be a page
of megabytes (every transcript inline) that takes a second to render, and reading only the
page's items from the store keeps the page's cost that of 100 items, whatever the run's size.
The HTML report file keeps every item inline; it is read offline, where nothing can be
fetched later."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from lamdis_core.domain.results import ItemStatus
from lamdis_core.ports.store import ItemPage
from lamdis_core.service import RunService

from lamdis_http.ui import item_view, run_view

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


def page_offset(page: int) -> int:
    """The position of the first item of ``page`` (1-based)."""
    return (max(page, 1) - 1) * ITEMS_PAGE


async def read_page(service: RunService, run_id: str, page: int) -> ItemPage:
    """The items of ``page`` (1-based), read alone; a page past the last shows the last.

    Raises:
        UnknownRunError: the store holds no such run.
    """
    items = await service.items(run_id, offset=page_offset(page), limit=ITEMS_PAGE)
    if items.offset and items.offset >= items.total:
        last = page_offset(page_count(items.total))
        items = await service.items(run_id, offset=last, limit=ITEMS_PAGE)
    return items


def paged_run_view(summary: Mapping[str, Any], items: ItemPage, *, run_id: str) -> dict[str, Any]:
    """The run page's view with one page of the run's items (``items``, read at a
    :func:`page_offset`); rows whose transcript is not inline link to
    ``/ui/runs/{run_id}/items/{n}``. An item that cannot be read is named in the warnings."""
    page = items.offset // ITEMS_PAGE + 1
    start, total, shown = items.offset, items.total, len(items.items)
    view = run_view(summary, ())
    view["items"] = [item_view(n, item) for n, item in items.numbered() if item is not None]
    if items.unreadable:
        numbers = ", ".join(str(n + 1) for n in items.unreadable)
        noun = "items" if len(items.unreadable) > 1 else "item"
        view["warnings"].append(f"stored {noun} {numbers} of this run cannot be read (left out)")
    every = shown <= INLINE_ALL_UP_TO
    inline = 0
    for item in view["items"]:
        item["inline"] = every or (item["status"] in _FAILING and inline < INLINE_FAILING)
        inline += item["inline"]
        if not item["inline"]:
            item["link"] = item_path(run_id, item["number"])
    if total > shown or not every:
        base = f"/ui/runs/{quote(run_id, safe='')}?page="
        view["items_pager"] = {
            "first": start + 1 if shown else 0,
            "last": start + shown,
            "total": total,
            "size": ITEMS_PAGE,
            "hidden": len(view["items"]) - inline,
            "previous": f"{base}{page - 1}" if page > 1 else None,
            "next": f"{base}{page + 1}" if start + shown < total else None,
        }
    return view


def item_path(run_id: str, number: int) -> str:
    """The page of the run's item ``number`` (1-based, in the order the items finished)."""
    return f"/ui/runs/{quote(run_id, safe='')}/items/{number}"
