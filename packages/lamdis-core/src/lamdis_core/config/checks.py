"""The config model's checks for one document, for callers outside the file loader.

The hosted API stores documents it is sent; it checks them with the same rules the loader
applies to files (value ranges, what a mode needs, generator arguments, operators), so a
document that would fail when a run loads it is refused when it is stored.
"""

from __future__ import annotations

from typing import Any

from lamdis_core.config._parse import format_path
from lamdis_core.config._schema import Checker


def check_document(value: Any, cls: type[Any]) -> tuple[Any, list[tuple[str, str]]]:
    """``value`` read as a ``cls`` (an attrs config class): its normalised form (what the
    loader structures: ``severity: warning`` read as ``warn``, lower-cased enum values...)
    and every error, as ``(JSON path, message)``. Unknown keys, which the loader only warns
    about, are not errors."""
    checker = Checker()
    normalised = checker.check(value, cls)
    return normalised, [(format_path(path), message) for path, message in checker.errors]
