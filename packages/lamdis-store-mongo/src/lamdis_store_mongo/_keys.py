"""Reversible escaping of field names that MongoDB servers refuse or misread.

Free-form parts of runs and catalog documents (``gitContext``, ``request``, check
``details``, request bodies, user profiles...) may use any JSON key. FerretDB 1.x refuses keys
that contain ``.`` or start with ``$`` (MongoDB before 5.0 did too, and dotted keys are
ambiguous in queries on any version), and BSON cannot hold a NUL in a key. Such a key is
stored as ``%`` followed by its percent-encoding (``$schema`` -> ``%%24schema``); a key that
itself starts with ``%`` is escaped the same way, so reading back is unambiguous. Every other
key, including all of lamdis's own camelCase fields, is stored as it is.

BSON integers are 64-bit; a larger JSON integer (a check's details may quote one) is stored as
its decimal string rather than refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote


def _needs_escape(key: str) -> bool:
    return key.startswith(("$", "%")) or "." in key or "\x00" in key


def escape_key(key: str) -> str:
    if not _needs_escape(key):
        return key
    return "%" + quote(key, safe="").replace(".", "%2E")


def unescape_key(key: str) -> str:
    return unquote(key[1:]) if key.startswith("%") else key


_INT64 = range(-(2**63), 2**63)


def escape_keys(value: Any) -> Any:
    """``value`` with every dict key (at any depth) made storable, and integers beyond 64 bits
    turned into strings."""
    if isinstance(value, dict):
        return {escape_key(str(k)): escape_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_keys(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return str(value)
    return value


def unescape_keys(value: Any) -> Any:
    """The inverse of ``escape_keys``."""
    if isinstance(value, dict):
        return {unescape_key(k): unescape_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape_keys(v) for v in value]
    return value
