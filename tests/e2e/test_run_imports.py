"""What a short ``lamdis run`` loads (issue 15, start-up): a passing ``--quiet`` run in CI
imports no rich and reads no CA bundle; the console stays plain text off a terminal and
styled with ``FORCE_COLOR``. Against the demo assistant on a loopback port, the ``lamdis``
program in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lamdis_http.demo import start_demo_server

pytestmark = pytest.mark.e2e

# What a run of a JSON test file over plain HTTP with the offline judge has no use for: no
# logging library (a passing run logs nothing), no YAML, no LLM SDK, no store or catalog, no trace export (no OTEL_* set), no metadata scan, no
# HTTP server, no statistics (one judge sample) and no suggestions (nothing misspelt).
NOT_FOR_A_PLAIN_RUN = (
    "structlog",
    "yaml",
    "openai",
    "asyncpg",
    "pymongo",
    "lamdis_core.ports.store",
    "lamdis_core.ports.catalog",
    "lamdis_core.service",
    "lamdis_http.app",
    "opentelemetry",
    "importlib.metadata",
    "importlib.resources",
    "statistics",
    "difflib",
)

# Reported from an atexit function: the program runs them before it leaves.
PROGRAM = (
    f"UNNEEDED = {NOT_FOR_A_PLAIN_RUN!r}\n"
    + """
import atexit, gc, json, ssl, sys

def report():
    connector = sys.modules.get("aiohttp.connector")
    ca = None
    if connector is not None:
        ca = ssl.SSLContext.cert_store_stats(connector._SSL_CONTEXT_VERIFIED)["x509_ca"]
    modules = sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "pygments"))
    unneeded = [m for m in UNNEEDED if m in sys.modules]
    collector = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}
    report = {"modules": modules, "ca": ca, "unneeded": unneeded, "gc": collector}
    sys.stderr.write("\\nREPORT " + json.dumps(report) + "\\n")

atexit.register(report)
sys.argv = ["lamdis", *sys.argv[1:]]
from lamdis_http.cli import program
program()
"""
)


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner, url = asyncio.run_coroutine_threadsafe(
        start_demo_server("127.0.0.1", 0, 0), loop
    ).result(timeout=10)
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _tree(root: Path, url: str, *, fail: bool = False, message: str = "hello") -> Path:
    (root / "assistants").mkdir(parents=True)
    (root / "assistants" / "demo.json").write_text(
        json.dumps({"id": "demo", "env": {"channel": "http_chat", "baseUrl": url}})
    )
    expected = "no such words anywhere" if fail else "general information"
    tests = root / "tests.json"
    tests.write_text(
        json.dumps(
            {
                "assistantRef": "assistants/demo",
                "tests": [
                    {
                        "id": "greets",
                        "steps": [
                            {"type": "message", "role": "user", "content": message},
                            {"type": "includes", "includes": [expected]},
                        ],
                    }
                ],
            }
        )
    )
    return tests


def _run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str, dict[str, Any]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "JUDGE_"))}
    base.pop("FORCE_COLOR", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM, "run", *args, "--results-dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**base, **env},
    )
    stderr, _, report = proc.stderr.rpartition("\nREPORT ")
    return proc.returncode, proc.stdout, stderr, json.loads(report)


def test_a_passing_quiet_run_imports_no_rich_nor_what_it_does_not_use_and_reads_no_ca_bundle(
    tmp_path: Path, demo_url: str
) -> None:
    tests = _tree(tmp_path / "tree", demo_url)
    code, out, err, report = _run(tmp_path, str(tests), "--quiet")
    assert code == 0, err
    # The collector, paused while the run started, runs again once the tests do.
    collector = {"enabled": True, "frozen": True}
    assert report == {"modules": [], "ca": 0, "unneeded": [], "gc": collector}
    lines = out.splitlines()
    assert lines[0].startswith("PASSED  1 passed, 0 failed, 0 errors, 0 skipped")
    assert lines[-1].startswith("reports: ")
    # Plain text, one line each, however long (rich wrapped these at 160 columns).
    assert "\x1b[" not in out + err
    (judge_line,) = [line for line in err.splitlines() if line.startswith("lamdis: judge:")]
    assert judge_line.endswith("JUDGE_BASE_URL for LLM scoring")


def test_a_failure_shows_the_table_laid_out_by_rich_still_without_colour(
    tmp_path: Path, demo_url: str
) -> None:
    tests = _tree(tmp_path / "tree", demo_url, fail=True)
    code, out, err, report = _run(tmp_path, str(tests))
    assert code == 1, err
    assert "rich.table" in report["modules"]
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0].startswith("[1/1] FAIL  greets @ demo  (1 turn")
    assert "lamdis summary" in out
    assert any(line.startswith("FAILED  0 passed, 1 failed") for line in lines)


def test_force_color_styles_the_console_off_a_terminal(tmp_path: Path, demo_url: str) -> None:
    tests = _tree(tmp_path / "tree", demo_url)
    code, out, err, _ = _run(tmp_path, str(tests), "--quiet", FORCE_COLOR="1")
    assert code == 0, err
    assert "\x1b[" in out  # the PASSED headline in bold green
    assert "PASSED" in out


def test_a_run_that_logs_sets_structlog_up_at_its_first_event_as_before(
    tmp_path: Path, demo_url: str
) -> None:
    """structlog is imported when the first event is logged (here the retries of a turn the
    assistant answers with 429, at level info), then set up as the CLI always set it up: console
    lines with an ISO timestamp and the level, on stderr, no colour off a terminal."""
    tests = _tree(tmp_path / "tree", demo_url, message="hello #fail:429")
    code, _, err, _ = _run(tmp_path, str(tests), "--quiet", LAMDIS_LOG_LEVEL="info")
    assert code == 1, err
    retries = [line for line in err.splitlines() if "target turn retry" in line]
    assert retries, err
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[info     \] target turn retry +"
        r"attempt=1 delay_s=0\.0 reason='POST \S+ answered HTTP 429: .*' test=greets",
        retries[0],
    ), retries[0]
    assert "\x1b[" not in err
    # Nothing below the level asked for: debug events stay out.
    assert "[debug" not in err
