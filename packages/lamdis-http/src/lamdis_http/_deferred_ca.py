"""Installs the deferral of :mod:`lamdis_http._tls` without importing ssl or aiohttp, so that
commands which never open a connection (``lamdis validate``, ``--help``) pay nothing for it."""

from __future__ import annotations

import sys
from importlib.machinery import ModuleSpec
from typing import Any

_CONNECTOR = "aiohttp.connector"


class _ConnectorFinder:
    """Finds ``aiohttp.connector`` as the other finders would, and runs its import with the
    CA loading deferred. Removes itself on first use."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name != _CONNECTOR:
            return None
        import importlib.util

        from lamdis_http._tls import exec_connector

        _remove_finder()
        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module
        loader.exec_module = lambda module: exec_connector(exec_module, module)  # type: ignore[method-assign]
        return spec


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ConnectorFinder)]


def defer_aiohttp_ca_loading() -> None:
    """Make aiohttp's default TLS contexts read the CA bundle on first use, not at import.

    Imports nothing: takes effect when aiohttp is first imported, whenever that is, and does
    nothing if it already was.
    """
    if _CONNECTOR in sys.modules or any(isinstance(f, _ConnectorFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _ConnectorFinder())
