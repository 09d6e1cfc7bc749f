"""Converter hooks for documents that keep datetimes as BSON dates.

BSON dates hold milliseconds; the domain model carries microseconds. ``micro_remainders``
collects the sub-millisecond part of every datetime in a document into a small mirror tree
(stored beside the fields as ``_us``), and ``restore_micros`` adds it back on read, so a run
read back equals the run written while the dates stay real dates for shell queries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import cattrs
from lamdis_core.domain.convert import make_converter

MICROS_FIELD = "_us"


def _unstructure_datetime(value: datetime) -> datetime:
    # naive datetimes are taken as UTC, as the core converter does for ISO strings
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _structure_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise TypeError(f"expected a BSON date or an ISO-8601 timestamp, got {type(value).__name__}")


def configure_converter(converter: cattrs.Converter) -> None:
    """Make ``converter`` keep datetimes native (timezone-aware UTC), so PyMongo stores them
    as BSON dates. Use on a converter from ``lamdis_core.domain.convert.make_converter()``,
    in the manner of cattrs' ``preconf`` modules.
    """
    converter.register_unstructure_hook(datetime, _unstructure_datetime)
    converter.register_structure_hook(datetime, _structure_datetime)


def make_mongo_converter() -> cattrs.Converter:
    """The core converter (camelCase, ``None`` fields left out) with native datetimes."""
    converter = make_converter(omit_none=True)
    configure_converter(converter)
    return converter


def micro_remainders(value: Any) -> Any:
    """The sub-millisecond microseconds of the datetimes in ``value``, as a mirror tree.

    Returns an ``int`` for a datetime with a remainder, a dict for a dict holding such
    datetimes (keys without any are left out), or ``None`` when there is nothing to keep.
    Lists are not walked: the model keeps no datetimes in lists.
    """
    if isinstance(value, datetime):
        return value.microsecond % 1000 or None
    if isinstance(value, dict):
        tree = {}
        for key, inner in value.items():
            if key == MICROS_FIELD:
                continue
            found = micro_remainders(inner)
            if found is not None:
                tree[key] = found
        return tree or None
    return None


def with_micros(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with its ``_us`` mirror tree set (or removed when there is nothing to keep)."""
    doc = {k: v for k, v in doc.items() if k != MICROS_FIELD}
    tree = micro_remainders(doc)
    if tree is not None:
        doc[MICROS_FIELD] = tree
    return doc


def restore_micros(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (read from MongoDB) with the ``_us`` remainders added back and the tree removed."""
    tree = doc.pop(MICROS_FIELD, None)
    if isinstance(tree, dict):
        _apply(doc, tree)
    return doc


def _apply(target: dict[str, Any], tree: dict[str, Any]) -> None:
    for key, remainder in tree.items():
        value = target.get(key)
        if isinstance(remainder, dict) and isinstance(value, dict):
            _apply(value, remainder)
        elif isinstance(remainder, int) and isinstance(value, datetime) and 0 < remainder < 1000:
            # BSON dates are floored to the millisecond, so the remainder adds back exactly
            target[key] = value.replace(microsecond=(value.microsecond // 1000) * 1000 + remainder)
