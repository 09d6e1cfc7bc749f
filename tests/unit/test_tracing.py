"""Tracing is off and free unless configured: which ``OTEL_*`` settings turn the exporter on,
and that an untraced process never imports OpenTelemetry (see tests/e2e/test_otel.py for the
spans themselves, received by a real OTLP receiver)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from lamdis_http import telemetry


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "nightly"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_traces_are_exported_only_when_the_otel_variables_ask(
    env: dict[str, str], wanted: bool
) -> None:
    assert telemetry.wanted(env) is wanted


def test_the_endpoint_follows_the_otlp_exporter_rules() -> None:
    assert telemetry.traces_endpoint({}) == "http://localhost:4318/v1/traces"
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example.com/"}
    assert telemetry.traces_endpoint(base) == "https://otel.example.com/v1/traces"
    specific = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t.example.com/in"}
    assert telemetry.traces_endpoint(specific) == "https://t.example.com/in"


def test_a_protocol_lamdis_cannot_speak_is_a_warning_and_no_tracing() -> None:
    warnings: list[str] = []
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    assert telemetry.start(env, warn=warnings.append) is None
    assert warnings == [
        "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported; traces are not exported "
        "(lamdis sends OTLP over HTTP: http/protobuf)"
    ]


def test_an_untraced_process_never_imports_opentelemetry() -> None:
    """The engine, the targets and the CLI's run path load; the traceparent is still sent
    (the conversation id is the trace); OpenTelemetry stays out of ``sys.modules``."""
    code = (
        "import json, sys\n"
        "import lamdis_core.engine, lamdis_core.tracing\n"
        "import lamdis_http.targets.http_chat, lamdis_http.targets.sse\n"
        "import lamdis_http.targets.websocket\n"
        "from lamdis_http.cli._run import start_tracing\n"
        "from lamdis_core.ports.target import traceparent\n"
        "assert start_tracing({'PATH': '/usr/bin'}) is None\n"
        "print(json.dumps([traceparent('ab' * 16, 'cd' * 8),\n"
        "    sorted(m for m in sys.modules if m.startswith('opentelemetry'))]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    header, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert header == f"00-{'ab' * 16}-{'cd' * 8}-01"
    assert loaded == []
