"""aiohttp without reading the system CA bundle at import time.

``aiohttp.connector`` builds its two default TLS client contexts when it is imported, and each
loads the system's CA certificates from disk: about 65 ms of every ``lamdis`` command that
imports aiohttp, a sixth of a one-test ``lamdis run``, paid even when every assistant is
reached over plain HTTP on loopback. :func:`exec_connector` runs that import so that those two
contexts load the certificates when they first set up a TLS connection instead. Nothing else
about them changes: same protocol, options, ALPN and verification, the same
``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured; the first HTTPS connection pays the load once
(a blocking read of a few tens of milliseconds, in whichever thread makes that connection).

It is a process-wide choice, so only the CLI's entry point makes it, through
:func:`lamdis_http._deferred_ca.defer_aiohttp_ca_loading` (embedders importing lamdis_http
keep aiohttp as it is). Should aiohttp stop keeping its contexts where this
looks for them, every context made during the import gets its certificates at once, as
before: slower, never less verified.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

# Where aiohttp 3.10+ keeps the contexts it made at import.
_DEFAULT_CONTEXTS = ("_SSL_CONTEXT_VERIFIED", "_SSL_CONTEXT_UNVERIFIED")


class CALoadedOnFirstUse(ssl.SSLContext):
    """A client context whose default CA certificates are read just before its first use."""

    _ca_lock = threading.Lock()
    _ca_pending = True

    def _load_ca(self) -> None:
        if self._ca_pending:
            with self._ca_lock:
                if self._ca_pending:
                    super().set_default_verify_paths()
                    self._ca_pending = False

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load_ca()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load_ca()
        return super().wrap_socket(*args, **kwargs)

    def get_ca_certs(self, binary_form: bool = False) -> Any:
        self._load_ca()
        return super().get_ca_certs(binary_form)

    def cert_store_stats(self) -> dict[str, int]:
        self._load_ca()
        return super().cert_store_stats()


@contextmanager
def _verify_paths_deferred(deferred: list[ssl.SSLContext]) -> Iterator[None]:
    """Within the block, ``set_default_verify_paths`` only adds its context to ``deferred``."""

    def record(self: ssl.SSLContext) -> None:
        deferred.append(self)

    ssl.SSLContext.set_default_verify_paths = record  # type: ignore[method-assign]
    try:
        yield
    finally:
        del ssl.SSLContext.set_default_verify_paths  # the C implementation shows through again


def _settle(module: ModuleType, deferred: list[ssl.SSLContext]) -> None:
    """aiohttp's own default contexts load on first use; any other context made during the
    import (none in aiohttp 3.14) loads its certificates now."""
    defaults = [getattr(module, name, None) for name in _DEFAULT_CONTEXTS]
    for context in deferred:
        if type(context) is ssl.SSLContext and any(context is d for d in defaults):
            context.__class__ = CALoadedOnFirstUse
        else:
            context.set_default_verify_paths()


def exec_connector(exec_module: Callable[[ModuleType], None], module: ModuleType) -> None:
    """Run ``aiohttp.connector``'s import (``exec_module``) with the CA loading deferred."""
    deferred: list[ssl.SSLContext] = []
    try:
        with _verify_paths_deferred(deferred):
            exec_module(module)
    finally:
        _settle(module, deferred)
