"""structlog loggers that import structlog when something is first logged.

structlog is lamdis' logging library. Importing it (with the ``logging``, ``traceback`` and
``asyncio`` modules it loads) is a tenth of a one-test ``lamdis run``, which usually logs
nothing (bench/RESULTS.md). So a module takes its logger from :func:`get_logger` where it
would call ``structlog.get_logger()``: the first call on it (``logger.warning(...)``,
``logger.bind(...)``) imports structlog and, from then on, it is ``structlog.get_logger()``'s
logger, configured however structlog is.

A program that sets structlog up (the CLI) can hand its set-up to
:func:`configure_on_first_use`, so that it runs just before the first event rather than at
start-up: what is logged, and how it reads, is the same.
"""

from __future__ import annotations

import sys
from _thread import RLock
from collections.abc import Callable
from types import ModuleType
from typing import Any

_pending: Callable[[], None] | None = None
_configuring = False
_lock = RLock()  # a set-up may log, or drop another: same thread again


def configure_on_first_use(configure: Callable[[], None] | None) -> None:
    """Run ``configure`` (which calls ``structlog.configure``) just before the first event is
    logged through a :func:`get_logger` logger, or now when structlog is imported already
    (something may log through it directly). ``None`` drops a set-up still waiting: a program
    that configures structlog itself calls it first, so a deferred set-up cannot replace its
    own later."""
    global _pending
    with _lock:
        _pending = None
    if configure is None:
        return
    if "structlog" in sys.modules:
        configure()
        return
    with _lock:
        _pending = configure


def configure_if_imported() -> None:
    """Run a pending set-up now if structlog has been imported since it was deferred: code
    that logs through structlog directly (a third-party adapter just loaded) then logs as
    the program configured it."""
    if _pending is not None and "structlog" in sys.modules:
        _structlog()


def _structlog() -> ModuleType:
    """structlog, set up by the pending configuration if there is one."""
    global _pending, _configuring
    if _pending is not None:
        # Pending until it has run: another thread logging meanwhile waits for the lock.
        with _lock:
            if _pending is not None and not _configuring:  # a set-up that logs: run once
                _configuring = True
                try:
                    _pending()
                finally:
                    _configuring = False
                    _pending = None
    import structlog

    return structlog


class _Logger:
    """``structlog.get_logger()``, fetched on first use."""

    def __init__(self) -> None:
        self._logger: Any = None

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the instance lacks: the bound logger's methods. Dunder
        # lookups (copy, pickle) find nothing here, before __init__ too.
        if name.startswith("__"):
            raise AttributeError(name)
        if self._logger is None:
            self._logger = _structlog().get_logger()
        return getattr(self._logger, name)


def get_logger() -> Any:
    """A logger that is ``structlog.get_logger()``'s once something is logged through it."""
    return _Logger()
