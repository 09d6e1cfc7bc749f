"""The domain model: configuration objects, results and errors.

The package re-exports its modules' names (``lamdis_core.domain.Check``); each module is
imported when one of its names is first asked for, so that importing
``lamdis_core.domain.config`` (validating files) does not also build the result classes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamdis_core.domain.config import *  # noqa: F403
    from lamdis_core.domain.errors import *  # noqa: F403
    from lamdis_core.domain.results import *  # noqa: F403

_PARTS = ("config", "errors", "results")
_MODULES = frozenset({*_PARTS, "base", "convert", "plan"})
"""The package's modules: ``from lamdis_core.domain import config`` asks for the attribute
first, and must get that module alone."""


def _public(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in vars(module) if not n.startswith("_")]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "__all__":
        return [
            n for part in _PARTS for n in _public(importlib.import_module(f"{__name__}.{part}"))
        ]
    for part in reversed(_PARTS):  # a later module's name wins, as with the star imports
        module = importlib.import_module(f"{__name__}.{part}")
        if name in _public(module):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
