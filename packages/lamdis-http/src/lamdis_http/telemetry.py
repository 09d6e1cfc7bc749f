"""OpenTelemetry trace export for ``lamdis run`` and ``lamdis serve``, from ``OTEL_*`` variables.

Off unless configured: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set, or ``OTEL_TRACES_EXPORTER=otlp``; ``OTEL_TRACES_EXPORTER=none`` or
``OTEL_SDK_DISABLED=true`` turn it off. Spans go over OTLP/HTTP (protobuf) with the SDK's own
handling of ``OTEL_EXPORTER_OTLP_HEADERS``, ``..._TIMEOUT``, ``..._COMPRESSION``,
``OTEL_SERVICE_NAME`` (default ``lamdis``), ``OTEL_RESOURCE_ATTRIBUTES`` and
``OTEL_TRACES_SAMPLER``. Needs the ``otel`` extra (``pip install 'lamdis-http[otel]'``).

A collector that is down or slow never fails or slows a run: spans wait in a bounded queue
(``OTEL_BSP_MAX_QUEUE_SIZE``, default 2048) and leave from a background thread; what cannot be
queued or sent is counted and reported once, and at the end lamdis waits at most
:data:`FLUSH_GRACE_S` for the last spans, not at all once the collector has failed.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from lamdis_core.domain.errors import ConfigError
from lamdis_core.settings import env_int
from lamdis_core.tracing import span_url

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

FLUSH_GRACE_S = 3.0
"""The longest a run's end waits for its last spans to reach a collector that still answers."""

_DEFAULTS = {"OTEL_BSP_MAX_QUEUE_SIZE": 2048, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 512}
_DEFAULT_DELAY_MS = 1000
_EXPORTER_LOGGER = "opentelemetry.exporter"
_provider: Any = None
"""The tracer provider :func:`start` installed in this process, if it did."""
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")]*")


def wanted(env: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporters(env)
    if exporters == {"none"}:
        return False
    return "otlp" in exporters or bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def _exporters(env: Mapping[str, str]) -> set[str]:
    return {
        name.strip().lower()
        for name in env.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    }


def traces_endpoint(env: Mapping[str, str]) -> str:
    """Where spans are sent, by the OTLP exporter's rules (a base endpoint gets
    ``/v1/traces``; the signal-specific one is used as it is)."""
    specific = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if specific:
        return specific
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
    return base.rstrip("/") + "/v1/traces"


def _setting(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int:
    # A bad tracing setting must not stop a run: warn and keep the default.
    try:
        return env_int(env, name, default, minimum=1)
    except ConfigError:
        problems.append(
            f"{name}={env.get(name, '').strip()!r} is not a positive whole number; using {default}"
        )
        return default


class BoundedExport:
    """A span processor: finished spans wait in a bounded queue and a daemon thread sends them
    in batches. Spans that find the queue full, or whose batch could not be sent, are counted
    in ``dropped``; ``problem`` is the first cause the exporter gave, ``fallback`` what lamdis
    saw itself (a full queue, a refused batch)."""

    def __init__(
        self,
        exporter: Any,
        *,
        max_queue: int,
        batch_size: int,
        delay_s: float,
        on_first_drop: Callable[[BoundedExport], None] | None = None,
    ) -> None:
        self.exporter = exporter
        self.max_queue = max_queue
        self.batch_size = min(batch_size, max_queue)
        self.delay_s = delay_s
        self.on_first_drop = on_first_drop
        self.dropped = 0
        self.exported = 0
        self.problem: str | None = None
        self.fallback: str | None = None
        self.failing = False
        self._queue: deque[Any] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._abandoned = False
        self._thread = threading.Thread(target=self._work, name="lamdis-otlp-export", daemon=True)
        self._thread.start()

    # --- the SpanProcessor interface ------------------------------------------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def _on_ending(self, span: Any) -> None:
        return None

    def on_end(self, span: Any) -> None:
        if self._closed or not span.context.trace_flags.sampled:
            return  # spans ending after the close belong to a later run's processor
        with self._lock:
            if self._stopping or len(self._queue) >= self.max_queue:
                self._drop(1, "the export queue was full")
                return
            self._queue.append(span)
            full = len(self._queue) >= self.batch_size
        if full:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._drain(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Sends what is queued within :data:`FLUSH_GRACE_S` (at once gives up when the
        collector has failed), then counts what is left as dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._drain(FLUSH_GRACE_S, stop=True)
        # Interrupts the exporter's own retry back-off, so the thread ends soon.
        self.exporter.shutdown()
        self._thread.join(0.2)
        with self._lock:
            left = len(self._queue) + self._in_flight
            # A batch still being sent is counted now; the thread must not count it again.
            self._in_flight = 0
            self._abandoned = True
            self._queue.clear()
            if left:
                self._drop(left, "the collector did not answer in time")

    # --- internals ------------------------------------------------------------------------

    def _drop(self, count: int, why: str) -> None:
        """Called with the lock held."""
        first = self.dropped == 0
        self.dropped += count
        self.fallback = self.fallback or why
        if first and self.on_first_drop is not None:
            self.on_first_drop(self)

    def _drain(self, grace_s: float, *, stop: bool = False) -> bool:
        with self._lock:
            self._stopping = self._stopping or stop
        self._wake.set()
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and not self.failing:
            with self._lock:
                if not self._queue and not self._in_flight:
                    return True
            time.sleep(0.01)
        return False

    def _work(self) -> None:
        while True:
            self._wake.wait(self.delay_s)
            self._wake.clear()
            self._send_queued()
            with self._lock:
                if self._stopping and not self._queue:
                    return

    def _send_queued(self) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        while True:
            with self._lock:
                batch = [
                    self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))
                ]
                self._in_flight = len(batch)
            if not batch:
                return
            try:
                ok = self.exporter.export(batch) is SpanExportResult.SUCCESS
            except Exception as exc:  # an exporter bug must not end the thread
                ok = False
                self.note_problem(type(exc).__name__)
            with self._lock:
                if self._abandoned:
                    return
                self._in_flight = 0
                if ok:
                    self.exported += len(batch)
                    self.failing = False
                else:
                    self.failing = True
                    self._drop(len(batch), "the collector refused the spans")

    def note_problem(self, why: str | None) -> None:
        """The exporter said something went wrong (before its retries end): stop waiting for
        it, and keep the first cause it named."""
        self.failing = True
        self.problem = self.problem or why


class _ExporterProblems(logging.Handler):
    """Turns the OTLP exporter's log lines into :meth:`BoundedExport.note_problem` calls (and
    keeps them off stderr: lamdis reports dropped spans once, itself)."""

    def __init__(self, processor: BoundedExport) -> None:
        super().__init__(logging.WARNING)
        self.processor = processor

    def emit(self, record: logging.LogRecord) -> None:
        self.processor.note_problem(_reason(record))


def _reason(record: logging.LogRecord) -> str | None:
    """A short cause from an exporter log record (an errno text, an HTTP status, an error
    type), or ``None`` for lines that name none ("aborting retry")."""
    args = record.args if isinstance(record.args, tuple) else ()
    message = str(record.msg)
    for arg in args:
        if isinstance(arg, BaseException):
            found = _ERRNO.search(str(arg))
            return found.group(0).strip() if found else type(arg).__name__
    if "code:" in message and len(args) >= 3 and args[1] is not None:
        return f"HTTP {args[1]} {args[2]}".strip()
    if message.startswith("Transient error") and args and args[0]:
        return str(args[0])
    return None


class Tracing:
    """The installed tracer provider and its exporter; :meth:`close` ends them."""

    def __init__(
        self, provider: Any, processor: BoundedExport, endpoint: str, log: logging.Handler
    ) -> None:
        self.provider = provider
        self.processor = processor
        self.endpoint = endpoint
        self._log = log

    def close(self) -> str | None:
        """Sends the last spans (bounded) and returns the one warning to report, if any."""
        self.processor.shutdown()
        logging.getLogger(_EXPORTER_LOGGER).removeHandler(self._log)
        return dropped_warning(self.processor, self.endpoint)


def dropped_warning(processor: BoundedExport, endpoint: str) -> str | None:
    if not processor.dropped:
        return None
    return (
        f"OpenTelemetry: {processor.dropped} span(s) were not exported to "
        f"{span_url(endpoint)} ({processor.problem or processor.fallback}); the run's results "
        "are not affected"
    )


def start(
    env: Mapping[str, str] | None = None,
    *,
    warn: Callable[[str], None],
    on_first_drop: Callable[[str], None] | None = None,
) -> Tracing | None:
    """Installs the global tracer provider when the ``OTEL_*`` variables ask for traces.

    ``warn`` is told about settings that cannot be honoured (tracing is then off or uses a
    default); ``on_first_drop`` (the service) about the first spans that could not be sent.
    """
    env = os.environ if env is None else env
    if not wanted(env):
        return None
    unsupported = _exporters(env) - {"otlp", "none"}
    if unsupported:
        warn(
            f"OTEL_TRACES_EXPORTER names {', '.join(sorted(unsupported))}, which lamdis does not "
            "support; only otlp (OTLP over HTTP) is used"
        )
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or ""
    ).strip()
    if protocol and protocol != "http/protobuf":
        warn(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported; traces are not exported "
            "(lamdis sends OTLP over HTTP: http/protobuf)"
        )
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        warn(
            "OTEL_* variables ask for traces, but the OpenTelemetry exporter is not installed: "
            "pip install 'lamdis-http[otel]'; traces are not exported"
        )
        return None
    problems: list[str] = []
    max_queue = _setting(
        env, "OTEL_BSP_MAX_QUEUE_SIZE", _DEFAULTS["OTEL_BSP_MAX_QUEUE_SIZE"], problems
    )
    batch = _setting(
        env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", _DEFAULTS["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"], problems
    )
    delay_ms = _setting(env, "OTEL_BSP_SCHEDULE_DELAY", _DEFAULT_DELAY_MS, problems)
    for problem in problems:
        warn(problem)
    endpoint = traces_endpoint(env)
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "lamdis"}))

    def first_drop(processor: BoundedExport) -> None:
        if on_first_drop is not None:
            message = dropped_warning(processor, endpoint)
            if message:
                on_first_drop(message)

    processor = BoundedExport(
        OTLPSpanExporter(endpoint=endpoint),
        max_queue=max_queue,
        batch_size=batch,
        delay_s=delay_ms / 1000,
        on_first_drop=first_drop,
    )
    handler = _ExporterProblems(processor)
    exporter_log = logging.getLogger(_EXPORTER_LOGGER)
    exporter_log.addHandler(handler)
    exporter_log.propagate = False
    global _provider
    if _provider is None:
        # The global provider can be set once per process; a later run in the same process
        # (an embedding application) adds its processor to it.
        _provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        trace.set_tracer_provider(_provider)
    # BoundedExport has SpanProcessor's methods; subclassing it would import the SDK here.
    _provider.add_span_processor(cast("SpanProcessor", processor))
    return Tracing(_provider, processor, endpoint, handler)
