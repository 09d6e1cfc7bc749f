"""``lamdis serve``: the hosted API (docs/api.md) with background runs.

Settings come from the environment (``DB_PROVIDER``, ``MONGO_URL``, ``DATABASE_URL``, ``PORT``,
``LAMDIS_API_TOKEN``, ``LAMDIS_HMAC_SECRET``, ``LAMDIS_CONFIG_DIR``, ``LAMDIS_MAX_RUNS``,
``LAMDIS_READ_TIMEOUT_SECONDS``, ``LAMDIS_MAX_CONNECTIONS``, ``JUDGE_PROVIDER``...). Without ``LAMDIS_API_TOKEN`` the service listens on 127.0.0.1 only.
Logs are JSON lines on stderr, one per event, with a request id.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, MutableMapping
from typing import Any

from lamdis_http.cli._common import EXIT_OK, EXIT_USAGE

LOOPBACK = "127.0.0.1"
_SECRET_WORDS = ("token", "secret", "authorization", "password", "signature", "api_key", "apikey")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the hosted API (POST /internal/runs/start ...) with background runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default=None,
        help="address to listen on (default 0.0.0.0 with LAMDIS_API_TOKEN, else 127.0.0.1)",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default $PORT or 3101)")
    parser.set_defaults(handler=_handle)


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor that masks any field whose name says it holds a secret."""
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_WORDS):
            event[key] = "***"
    return event


class RepeatThrottle:
    """A structlog processor that rate-limits repeated warnings and errors.

    While PostgreSQL was down the service logged about 100 retry warnings a second. The same
    warning — same level, event, ``operation`` and ``run_id`` — is now written at most once
    every ``seconds``; the next one written says how many were dropped (``repeated``).
    Info and debug lines (the access log) pass untouched. Warnings about different config
    files, fields or variables (``file``, ``field``, ``variable``) are different warnings:
    an import reports each one.
    """

    LEVELS = frozenset({"warning", "warn", "error", "exception", "critical"})
    KEY_FIELDS = ("event", "operation", "run_id", "file", "field", "variable")

    def __init__(self, seconds: float = 10.0, clock: Callable[[], float] | None = None) -> None:
        import time

        self.seconds = seconds
        self._clock = clock or time.monotonic
        self._last: dict[tuple[Any, ...], tuple[float, int]] = {}

    def __call__(self, _: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        if method not in self.LEVELS:
            return event
        import structlog

        key = (method, *(event.get(name) for name in self.KEY_FIELDS))
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.seconds:
            self._last[key] = (last[0], last[1] + 1)
            raise structlog.DropEvent
        if last is not None and last[1]:
            event["repeated"] = last[1]
        self._last[key] = (now, 0)
        if len(self._last) > 10_000:  # many distinct runs: forget the quiet ones
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.seconds or v[1]}
        return event


def configure_json_logging() -> None:
    """JSON lines on stderr with level, timestamp and the bound request id."""
    import logging
    import os
    import sys

    import structlog
    from lamdis_core.logs import configure_on_first_use
    from lamdis_core.sanitize import clean_log_event

    configure_on_first_use(None)  # this set-up, not the CLI's deferred one
    level_name = os.environ.get("LAMDIS_LOG_LEVEL", "INFO").upper()
    level = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            RepeatThrottle(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            clean_log_event,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _handle(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    import structlog
    from lamdis_core.domain.errors import ConfigError

    from lamdis_http.bootstrap import Settings, StartupError

    configure_json_logging()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"lamdis serve: bad setting: {exc}", file=sys.stderr)
        return EXIT_USAGE
    tracing = _start_tracing()
    try:
        asyncio.run(_serve(settings, host=args.host, port=args.port))
    except StartupError as exc:
        print(f"lamdis serve: cannot start: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the port is taken, the address cannot be bound
        print(f"lamdis serve: cannot listen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if tracing is not None:
            dropped = tracing.close()
            if dropped:
                structlog.get_logger().warning("otel.spans_dropped", message=dropped)
    return EXIT_OK


def _start_tracing() -> Any:
    """The OTLP trace exporter when ``OTEL_*`` variables ask for it; the first spans it
    cannot send are logged once, the total when the service stops."""
    import os

    import structlog

    from lamdis_http.cli._run import start_tracing

    log = structlog.get_logger()
    tracing = start_tracing(
        os.environ,
        warn=lambda m: log.warning("otel.setting_ignored", message=m),
        on_first_drop=lambda m: log.warning("otel.spans_dropped", message=m),
    )
    if tracing is not None:
        log.info("otel.exporting", endpoint=tracing.endpoint)
    return tracing


def choose_host(requested: str | None, *, has_token: bool) -> tuple[str, str | None]:
    """The address to bind and, when it differs from what was asked, a warning to log."""
    if has_token:
        return requested or "0.0.0.0", None
    if requested not in (None, LOOPBACK, "localhost", "::1"):
        return LOOPBACK, (
            f"LAMDIS_API_TOKEN is not set: refusing to listen on {requested}; listening on "
            f"{LOOPBACK} only. Set LAMDIS_API_TOKEN to serve other hosts."
        )
    return requested or LOOPBACK, (
        "LAMDIS_API_TOKEN is not set: the API is unauthenticated and listens on loopback only"
    )


async def _serve(settings: Any, *, host: str | None, port: int | None) -> None:
    import asyncio
    import signal

    import structlog
    from aiohttp import web

    from lamdis_http._limits import ConnectionGuard, start_guarded_server
    from lamdis_http.bootstrap import build_app

    log = structlog.get_logger()
    bind_host, warning = choose_host(host, has_token=bool(settings.api_token))
    if warning:
        log.warning("serve.no_api_token", message=warning)
    bind_port = settings.port if port is None else port
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    try:
        # Inside the try: when start-up fails half-way, cleanup still closes what the
        # app's cleanup contexts had opened before the failure.
        await runner.setup()
        guard = ConnectionGuard(
            read_seconds=settings.read_seconds, max_connections=settings.max_connections
        )
        listener = await start_guarded_server(runner, bind_host, bind_port, guard)
        bound = int(listener.sockets[0].getsockname()[1]) if listener.sockets else bind_port
        log.info(
            "serve.listening",
            url=f"http://{bind_host}:{bound}",
            read_timeout_seconds=settings.read_seconds,
            max_connections=settings.max_connections,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
            log.info("serve.stopping")
        finally:
            listener.close()
    finally:
        await runner.cleanup()
