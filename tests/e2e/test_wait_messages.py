"""``lamdis wait`` against a server that is not lamdis says what answered (issue 16 item 11)
instead of polling until its timeout."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.e2e

LAMDIS = [sys.executable, "-m", "lamdis_http.cli"]

ANSWERS = {
    "/html": (200, "text/html; charset=utf-8", b"<!doctype html><html><body>Welcome to nginx!"),
    "/missing": (404, "text/plain", b"404 page not found"),
    "/json": (200, "application/json", b'{"hello": "world"}'),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        prefix = "/" + self.path.split("/")[1]
        status, content_type, body = ANSWERS[prefix]
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def other_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _wait(server: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [*LAMDIS, "wait", "run-1", "--server", server, "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    return proc, time.monotonic() - started


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("/html", ["HTTP 200", "content-type text/html", "body starts '<!doctype html><html>"]),
        ("/missing", ["HTTP 404", "content-type text/plain", "'404 page not found'"]),
    ],
)
def test_wait_against_a_web_server_says_what_answered(
    other_server: str, prefix: str, expected: list[str]
) -> None:
    proc, elapsed = _wait(other_server + prefix)
    assert proc.returncode == 2, proc.stderr
    assert "does not look like a lamdis service" in proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr
    assert elapsed < 60, "it polled instead of saying what answered"


def test_wait_against_another_json_api_says_it_is_not_a_run(other_server: str) -> None:
    proc, _ = _wait(other_server + "/json")
    assert proc.returncode == 2, proc.stderr
    assert "JSON but not a lamdis run" in proc.stderr
    assert '{"hello": "world"}' in proc.stderr
