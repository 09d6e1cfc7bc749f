"""The ``lamdis`` CLI end to end: the demo assistant on a loopback port, the CLI as a subprocess.

Every test writes its own config tree in a temporary folder, runs ``python -m
lamdis_http.cli`` and checks the exit code, the console output, and the JSON and JUnit
reports parsed (never grepped).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lamdis_http.demo import start_demo_server

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LAMDIS = [sys.executable, "-m", "lamdis_http.cli"]
OFFLINE_WARNING = "semantic checks ran without an LLM (offline heuristic judge)"


# --- the demo assistant, in a thread of this process --------------------------------------


class DemoServer:
    """The demo assistant on a free loopback port, served from a background event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""
        self._runner: Any = None

    def start(self) -> None:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(start_demo_server("127.0.0.1", 0, 0), self.loop)
        self._runner, self.url = future.result(timeout=10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    server = DemoServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


# --- config trees ---------------------------------------------------------------------------


def _write(root: Path, relative: str, data: Any) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def _message(content: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": content}


def _tree(root: Path, *, timeout_ms: int = 5000) -> Path:
    """A config tree with an assistant pointing at the demo and a few passing tests."""
    _write(
        root,
        "assistants/demo.json",
        {
            "id": "demo",
            "name": "Demo assistant",
            "env": {
                "channel": "http_chat",
                "baseUrl": "${LAMDIS_DEMO_URL}",
                "path": "/chat",
                "timeoutMs": timeout_ms,
            },
        },
    )
    _write(
        root,
        "tests/basics.json",
        {
            "id": "basics",
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "diversify",
                    "name": "explains diversification",
                    "tags": ["smoke"],
                    "steps": [
                        _message("What is diversification?"),
                        {"type": "includes", "includes": ["diversification", "risk"]},
                    ],
                },
                {
                    "id": "greeting",
                    "name": "greets the user",
                    "tags": ["smoke", "greet"],
                    "steps": [_message("hello"), {"type": "includes", "includes": ["Hello"]}],
                },
                {
                    "id": "risky",
                    "name": "warns about a single stock",
                    "steps": [
                        _message("Should I put everything in one stock?"),
                        {"type": "includes", "includes": ["concentrat"]},
                        {"type": "not_includes", "terms": ["guaranteed"]},
                        _message("And what about diversification?"),
                        {"type": "includes", "includes": ["spread"]},
                    ],
                },
            ],
        },
    )
    return root


def _run(
    args: list[str],
    *,
    cwd: Path,
    demo_url: str,
    extra_env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    env = _env(demo_url, extra_env)
    return subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _env(demo_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "JUDGE_", "DB_", "GITHUB_", "LAMDIS_"))
    }
    env["LAMDIS_DEMO_URL"] = demo_url
    env.update(extra or {})
    return env


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


def _signal_after_passes(
    args: list[str],
    cwd: Path,
    demo_url: str,
    *,
    passes: int,
    signum: int,
    settle: float = 0.0,
) -> tuple[subprocess.Popen[str], str, str, float]:
    """Run ``lamdis`` with ``args``; once ``passes`` tests have passed (and ``settle``
    seconds more), send ``signum``. Returns the process, its output and the seconds it took
    to exit after the signal."""
    proc = subprocess.Popen(
        [*LAMDIS, *args],
        cwd=cwd,
        env=_env(demo_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        passed = 0
        deadline = time.monotonic() + 30
        while passed < passes and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            passed += "PASS " in line
        assert passed == passes, "the run never got going"
        time.sleep(settle)
        interrupted_at = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - interrupted_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc, out, err, elapsed


# --- exit codes and reports -------------------------------------------------------------------


def test_passing_tests_exit_0_and_write_json_and_junit(tmp_path: Path, demo_url: str) -> None:
    """All passing: exit 0; the JSON summary and JUnit file list every test as passed."""
    _tree(tmp_path)
    proc = _run(
        ["run", "tests/basics.json", "--json", "out/summary.json", "--junit", "out/junit.xml"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = _json(tmp_path / "out/summary.json")
    assert summary["status"] == "passed"
    assert summary["totals"] == {"passed": 3, "failed": 0, "skipped": 0, "errors": 0, "total": 3}
    assert summary["passRate"] == 1.0
    assert summary["file"] == "tests/basics.json"
    assert {i["testId"] for i in summary["items"]} == {"diversify", "greeting", "risky"}
    risky = next(i for i in summary["items"] if i["testId"] == "risky")
    assert risky["messageCounts"]["assistant"] == 2
    assert len(risky["timings"]["perTurnMs"]) == 2
    cases = _cases(tmp_path / "out/junit.xml")
    assert set(cases) == {
        "explains diversification",
        "greets the user",
        "warns about a single stock",
    }
    assert all(c.find("failure") is None and c.find("error") is None for c in cases.values())
    # Reports not asked for explicitly land in the results folder.
    assert (tmp_path / "lamdis-results/summary.md").is_file()
    # Non-TTY: one line per finished test, then the summary table.
    progress = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert len(progress) == 3
    assert all(" PASS " in line for line in progress)
    assert "First failing check" in proc.stdout
    assert "judge: offline" in proc.stderr


def test_failing_test_exits_1_and_junit_carries_check_reason_and_exchange(
    tmp_path: Path, demo_url: str
) -> None:
    """A failing check: exit 1; <failure> names the check, its reason and the last exchange."""
    _tree(tmp_path)
    _write(
        tmp_path,
        "failing/promise.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "promise",
                    "name": "promises returns",
                    "steps": [
                        _message("What is diversification?"),
                        {"type": "includes", "includes": ["guaranteed returns"], "name": "promise"},
                    ],
                }
            ],
        },
    )
    proc = _run(
        ["run", "failing", "tests", "--junit", "j.xml", "--json", "s.json"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failure = _cases(tmp_path / "j.xml")["promises returns"].find("failure")
    assert failure is not None
    assert "promise" in failure.get("message", "")
    assert "guaranteed returns" in (failure.text or "")
    assert "user: What is diversification?" in (failure.text or "")
    assert "assistant: A more diversified allocation" in (failure.text or "")
    summary = _json(tmp_path / "s.json")
    assert summary["status"] == "failed"
    assert summary["totals"]["failed"] == 1
    assert summary["totals"]["passed"] == 3
    row = next(t for t in summary["tests"] if t["testId"] == "promise")
    assert row["failure"].startswith("promise:")
    assert "FAIL " in proc.stdout


def test_bad_config_exits_2_naming_file_and_json_path_and_runs_nothing(
    tmp_path: Path, demo_url: str
) -> None:
    """An unknown step type and a missing reference: exit 2, every problem, no reports."""
    _tree(tmp_path)
    _write(
        tmp_path,
        "broken/bad.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [{"id": "t", "steps": [_message("hi"), {"type": "teleport", "to": "mars"}]}],
        },
    )
    _write(
        tmp_path,
        "broken/lost.json",
        {"assistantRef": "assistants/nowhere", "tests": [{"id": "u", "steps": [_message("hi")]}]},
    )
    proc = _run(["run", "broken"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "bad.json" in proc.stderr
    assert "$.tests[0].steps[1]" in proc.stderr
    assert "teleport" in proc.stderr
    assert "lost.json" in proc.stderr
    assert "nowhere" in proc.stderr
    assert not (tmp_path / "lamdis-results").exists()
    validate = _run(["validate", "broken"], cwd=tmp_path, demo_url=demo_url)
    assert validate.returncode == 2
    assert "$.tests[0].steps[1]" in validate.stderr


def test_malformed_json_exits_2_with_the_line(tmp_path: Path, demo_url: str) -> None:
    """A syntax error names the file and its line."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/broken.json").write_text('{\n  "tests": [\n    {"id": "x",}\n  ]\n}\n')
    proc = _run(["run", "tests/broken.json"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2
    assert "broken.json:3" in proc.stderr


def test_validate_passes_a_good_tree(tmp_path: Path, demo_url: str) -> None:
    """validate exits 0 on a good tree and runs nothing."""
    _tree(tmp_path)
    proc = _run(["validate", "tests", "--config-root", "."], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok:")
    assert not (tmp_path / "lamdis-results").exists()


def test_target_faults_become_error_items_and_the_run_goes_on(
    tmp_path: Path, demo_url: str
) -> None:
    """HTTP 500, non-JSON, an empty reply and a hang are error items; others still pass."""
    _tree(tmp_path)
    # Only the hang gets a short timeout, so a slow machine cannot time out the others.
    _write(
        tmp_path,
        "assistants/impatient.json",
        {
            "id": "impatient",
            "env": {"channel": "http_chat", "baseUrl": "${LAMDIS_DEMO_URL}", "timeoutMs": 500},
        },
    )

    def case(name: str, content: str, term: str = "x") -> dict[str, Any]:
        return {"id": name, "steps": [_message(content), {"type": "includes", "includes": [term]}]}

    faults = {"http500": "#fail:500", "nonjson": "#fail:nonjson", "empty": "#fail:empty"}
    tests = [case(name, f"hello {marker}") for name, marker in faults.items()]
    tests.append(case("fine", "hello", "Hello"))
    _write(tmp_path, "tests/faults.json", {"assistantRef": "assistants/demo", "tests": tests})
    _write(
        tmp_path,
        "tests/hang.json",
        {"assistantRef": "assistants/impatient", "tests": [case("hang", "hello #fail:hang")]},
    )
    proc = _run(
        ["run", "tests/faults.json", "tests/hang.json", "--json", "s.json", "--junit", "j.xml"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = _json(tmp_path / "s.json")
    items = {i["testId"]: i for i in summary["items"]}
    assert items["fine"]["status"] == "passed"
    for name in [*faults, "hang"]:
        assert items[name]["status"] == "error", items[name]
        assert items[name]["error"]
    assert "500" in items["http500"]["error"]
    assert summary["totals"]["errors"] == 4
    cases = _cases(tmp_path / "j.xml")
    assert cases["http500"].find("error") is not None
    assert cases["hang"].find("error") is not None
    assert cases["fine"].find("error") is None
    assert proc.stdout.count("ERROR") >= 4


def test_examples_pass_and_the_failing_example_fails(tmp_path: Path, demo_url: str) -> None:
    """The shipped examples: the suite exits 0, examples/failing exits 1 with a failure."""
    if not (REPO / "examples/configs/suites").is_dir():
        pytest.skip("examples/configs/suites is not in this checkout yet")
    suite = next(p for p in sorted((REPO / "examples/configs/suites").iterdir()) if p.is_file())
    proc = _run(
        ["run", str(suite), "--config-root", str(REPO / "examples/configs"), "--json", "ok.json"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _json(tmp_path / "ok.json")["totals"]["failed"] == 0
    proc = _run(
        ["run", str(REPO / "examples/failing"), "--json", "bad.json", "--junit", "bad.xml"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert _json(tmp_path / "bad.json")["totals"]["failed"] >= 1
    failures = [c for c in _cases(tmp_path / "bad.xml").values() if c.find("failure") is not None]
    assert failures


# --- selection, repetition, summaries ---------------------------------------------------------


def test_repeat_reports_pass_rate_per_test(tmp_path: Path, demo_url: str) -> None:
    """--repeat 3 runs every test three times and reports runs, passed and passRate."""
    _tree(tmp_path)
    proc = _run(
        ["run", "tests", "--repeat", "3", "--json", "s.json", "--junit", "j.xml"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = _json(tmp_path / "s.json")
    assert summary["repeat"] == 3
    assert len(summary["items"]) == 9
    assert {(t["testId"], t["runs"], t["passRate"]) for t in summary["tests"]} == {
        ("diversify", 3, 1.0),
        ("greeting", 3, 1.0),
        ("risky", 3, 1.0),
    }
    assert "greets the user [run 3]" in _cases(tmp_path / "j.xml")
    assert "Pass rate" in proc.stdout


def test_filter_and_tag_select_tests(tmp_path: Path, demo_url: str) -> None:
    """--filter matches ids or names by glob; --tag keeps tests carrying the tag."""
    _tree(tmp_path)
    proc = _run(
        ["run", "tests", "--filter", "greet*", "--json", "f.json"], cwd=tmp_path, demo_url=demo_url
    )
    assert proc.returncode == 0, proc.stderr
    assert [i["testId"] for i in _json(tmp_path / "f.json")["items"]] == ["greeting"]
    proc = _run(
        ["run", "tests", "--tag", "smoke", "--json", "t.json"], cwd=tmp_path, demo_url=demo_url
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(i["testId"] for i in _json(tmp_path / "t.json")["items"]) == [
        "diversify",
        "greeting",
    ]
    proc = _run(["run", "tests", "--tag", "nope"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2
    assert "no tests to run" in proc.stderr


def test_github_step_summary_gets_the_markdown_and_offline_warning(
    tmp_path: Path, demo_url: str
) -> None:
    """With GITHUB_STEP_SUMMARY set the Markdown summary is appended, offline banner included."""
    _tree(tmp_path)
    _write(
        tmp_path,
        "tests/semantic.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "rubric",
                    "steps": [
                        _message("What is diversification?"),
                        {
                            "type": "assistant_check",
                            "mode": "judge",
                            "rubric": "Explains diversification and mentions risk",
                            "threshold": 0.5,
                        },
                    ],
                }
            ],
        },
    )
    summary_file = tmp_path / "step-summary.md"
    summary_file.write_text("# earlier step\n")
    proc = _run(
        ["run", "tests", "--json", "s.json"],
        cwd=tmp_path,
        demo_url=demo_url,
        extra_env={"GITHUB_STEP_SUMMARY": str(summary_file)},
    )
    assert proc.returncode in (0, 1), proc.stderr
    text = summary_file.read_text()
    assert text.startswith("# earlier step\n")  # appended, not overwritten
    assert "| Test | Assistant | Status |" in text
    assert "explains diversification" in text
    assert OFFLINE_WARNING in text
    assert OFFLINE_WARNING in proc.stdout
    assert OFFLINE_WARNING in _json(tmp_path / "s.json")["warnings"]


def test_usage_errors_exit_2(tmp_path: Path, demo_url: str) -> None:
    """A bad --concurrency or LAMDIS_CONCURRENCY is a usage error; nothing runs."""
    _tree(tmp_path)
    proc = _run(["run", "tests", "--concurrency", "0"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2
    assert "--concurrency must be a positive integer" in proc.stderr
    proc = _run(
        ["run", "tests"], cwd=tmp_path, demo_url=demo_url, extra_env={"LAMDIS_CONCURRENCY": "many"}
    )
    assert proc.returncode == 2
    assert "LAMDIS_CONCURRENCY" in proc.stderr
    proc = _run(["run"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2


def test_llm_judge_is_announced_cached_in_results_dir_and_no_cache_skips_it(
    tmp_path: Path, demo_url: str
) -> None:
    """With OPENAI_API_KEY the OpenAI judge (here the wire-format fake) scores rubrics, no
    offline warning appears, answers are cached under --results-dir, and --no-cache asks again."""
    from tests.fakes.openai_server import FakeOpenAIServer

    _tree(tmp_path)
    _write(
        tmp_path,
        "tests/semantic.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "rubric",
                    "steps": [
                        _message("What is diversification?"),
                        {"type": "assistant_check", "rubric": "Explains diversification"},
                    ],
                }
            ],
        },
    )
    fake = FakeOpenAIServer()
    server = DemoServer()  # a background loop; it serves the fake instead of the demo
    server.thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), server.loop).result(timeout=10)
    try:
        llm_env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE": fake.api_base}
        args = ["run", "tests/semantic.json", "--results-dir", "res", "--json", "a.json"]
        first = _run(args, cwd=tmp_path, demo_url=demo_url, extra_env=llm_env)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "judge: openai" in first.stderr
        assert OFFLINE_WARNING not in first.stdout
        summary = _json(tmp_path / "a.json")
        assert summary["judge"]["offline"] is False
        assert summary["usage"]["calls"] >= 1
        assert summary["warnings"] == []
        assert any((tmp_path / "res/cache").rglob("*"))
        calls = len(fake.requests)
        assert calls >= 1

        again = _run(args, cwd=tmp_path, demo_url=demo_url, extra_env=llm_env)
        assert again.returncode == 0, again.stderr
        assert len(fake.requests) == calls  # every judge answer came from the cache

        fresh = _run([*args, "--no-cache"], cwd=tmp_path, demo_url=demo_url, extra_env=llm_env)
        assert fresh.returncode == 0, fresh.stderr
        assert len(fake.requests) > calls
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), server.loop).result(timeout=10)
        server.stop()


def test_a_report_that_cannot_be_written_fails_the_run(tmp_path: Path, demo_url: str) -> None:
    """Passing tests but an unwritable --json path: the error is shown and the exit is 1."""
    _tree(tmp_path)
    (tmp_path / "blocker").write_text("a file, not a folder")
    proc = _run(
        ["run", "tests", "--json", "blocker/s.json", "--junit", "j.xml"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot write a report" in proc.stderr
    assert "blocker" in proc.stderr


# --- Ctrl-C -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_cancels_the_run_and_reports_the_finished_items(
    tmp_path: Path, demo_url: str, signum: int, code: int, said: str
) -> None:
    """SIGINT (Ctrl-C) or SIGTERM (CI cancel, docker stop) mid-run cancels in-flight turns at
    once, writes what finished and exits 130 or 143."""
    _tree(tmp_path)
    fast = [
        {
            "id": f"fast{n}",
            "steps": [_message("hello"), {"type": "includes", "includes": ["Hello"]}],
        }
        for n in range(2)
    ]
    slow = [
        {
            "id": f"slow{n}",
            "steps": [_message("hello #delay:20000"), {"type": "includes", "includes": ["Hello"]}],
        }
        for n in range(4)
    ]
    _write(tmp_path, "tests/mixed.json", {"assistantRef": "assistants/demo", "tests": fast + slow})
    proc, out, err, elapsed = _signal_after_passes(
        ["run", "tests/mixed.json", "--concurrency", "4", "--json", "s.json", "--junit", "j.xml"],
        tmp_path,
        demo_url,
        passes=2,
        signum=signum,
        settle=0.3,  # the slow ones are then waiting on the assistant
    )
    assert proc.returncode == code, out + err
    assert elapsed < 10, f"took {elapsed:.1f} s to stop: in-flight turns were not cancelled"
    summary = _json(tmp_path / "s.json")
    assert summary["stopped"] is True
    assert summary["status"] == "stopped"
    assert sorted(i["testId"] for i in summary["items"]) == ["fast0", "fast1"]
    assert set(_cases(tmp_path / "j.xml")) == {"fast0", "fast1"}
    assert f"lamdis: {said}" in err
    assert "stopped" in (tmp_path / "lamdis-results" / "summary.md").read_text()


def test_a_huge_repeat_is_refused_naming_the_allowed_range(tmp_path: Path, demo_url: str) -> None:
    """--repeat 1000000 (which once grew to gigabytes) is a usage error: exit 2, nothing run."""
    _tree(tmp_path)
    proc = _run(["run", "tests", "--repeat", "1000000"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--repeat must be an integer from 1 to 10,000, got '1000000'" in proc.stderr
    assert not (tmp_path / "lamdis-results").exists()


def test_too_many_runs_in_all_are_refused_before_anything_runs(
    tmp_path: Path, demo_url: str
) -> None:
    """tests x --repeat beyond the cap is exit 2 naming both numbers, before any turn."""
    _tree(tmp_path)
    many = [{"id": f"t{n}", "steps": [_message("hello")]} for n in range(30)]
    _write(tmp_path, "tests/many.json", {"assistantRef": "assistants/demo", "tests": many})
    proc = _run(["run", "tests/many.json", "--repeat", "10000"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "30 tests x --repeat 10,000 = 300,000 runs; at most 200,000" in proc.stderr


def test_ctrl_c_during_the_largest_repeat_exits_promptly_with_reports(
    tmp_path: Path, demo_url: str
) -> None:
    """SIGINT while 20 tests x --repeat 10,000 (the most allowed) are scheduled stops the run
    promptly and writes the reports of the runs that finished."""
    _tree(tmp_path)
    many = [
        {"id": f"t{n}", "steps": [_message("hello"), {"type": "includes", "includes": ["Hello"]}]}
        for n in range(20)
    ]
    _write(tmp_path, "tests/many.json", {"assistantRef": "assistants/demo", "tests": many})
    proc, _, err, elapsed = _signal_after_passes(
        ["run", "tests/many.json", "--repeat", "10000", "--json", "s.json"],
        tmp_path,
        demo_url,
        passes=5,
        signum=signal.SIGINT,
    )
    assert proc.returncode == 130, err
    # A generous bound: the point is "not minutes", not a timing measurement.
    assert elapsed < 10, f"took {elapsed:.1f} s to stop after SIGINT"
    summary = _json(tmp_path / "s.json")
    assert summary["stopped"] is True
    assert 5 <= len(summary["items"]) < 200_000
    assert all(i["status"] == "passed" for i in summary["items"])


# --- the other commands -----------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    """lamdis --help exits 0 and names run, validate and demo-assistant."""
    proc = subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0
    for command in ("run", "validate", "demo-assistant"):
        assert command in proc.stdout


def test_demo_assistant_command_serves_until_interrupted(tmp_path: Path) -> None:
    """lamdis demo-assistant answers the http_chat contract and stops cleanly on SIGINT."""
    import urllib.request

    from tests.fixtures.servers import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamdis_http.cli", "demo-assistant", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in banner
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/chat",
            data=json.dumps({"message": "hello", "transcript": []}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert "Hello" in json.loads(response.read())["reply"]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def test_make_demo_entry_point_runs_the_examples(tmp_path: Path) -> None:
    """python -m lamdis_http.demo_run starts the demo, runs the example suite, exits 0."""
    if not (REPO / "examples/configs").is_dir():
        pytest.skip("examples/configs is not in this checkout yet")
    env = _env("unused")
    del env["LAMDIS_DEMO_URL"]
    proc = subprocess.run(
        [sys.executable, "-m", "lamdis_http.demo_run", "--results-dir", str(tmp_path / "r")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo assistant stopped" in proc.stdout
    assert _json(tmp_path / "r/summary.json")["totals"]["passed"] >= 1


# --- secrets masked in every output (issue 16 item 8) -----------------------------------------

BOT_TOKEN = "Sk-Live-9fQ2xT7vLm4Rw8Zp"


class EchoBot:
    """An assistant that leaks its credential: the reply repeats the token in lower case and
    base64, and ``/whoami`` (for request steps) returns it URL-encoded."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""
        self._runner: Any = None

    async def _start(self) -> tuple[Any, str]:
        import base64
        from urllib.parse import quote

        from aiohttp import web

        def token(request: web.Request) -> str:
            return request.headers.get("Authorization", "").removeprefix("Bearer ")

        async def chat(request: web.Request) -> web.Response:
            tok = token(request)
            encoded = base64.b64encode(tok.encode()).decode()
            return web.json_response({"reply": f"debug: key={tok.lower()} b64={encoded}"})

        async def whoami(request: web.Request) -> web.Response:
            return web.json_response({"seen": quote(token(request), safe="")})

        app = web.Application()
        app.router.add_post("/chat", chat)
        app.router.add_get("/whoami", whoami)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        return runner, f"http://127.0.0.1:{port}"

    def __enter__(self) -> EchoBot:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self._runner, self.url = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def test_an_echoed_token_is_masked_in_every_report_and_the_console(tmp_path: Path) -> None:
    """A bot that echoes its token in lower case and base64, and an API that returns it
    URL-encoded, leave no form of the token in summary.json, junit.xml, summary.md or the
    console: each is replaced by ***."""
    import base64
    from urllib.parse import quote

    with EchoBot() as bot:
        _write(
            tmp_path,
            "assistants/leaky.json",
            {
                "id": "leaky",
                "env": {
                    "channel": "http_chat",
                    "baseUrl": bot.url,
                    "headers": {"Authorization": "Bearer ${BOT_TOKEN}"},
                },
            },
        )
        _write(
            tmp_path,
            "requests/whoami.json",
            {
                "requests": [
                    {
                        "id": "whoami",
                        "transport": {
                            "mode": "direct",
                            "http": {
                                "method": "GET",
                                "base_url": bot.url,
                                "path": "/whoami",
                                "headers": {"Authorization": "Bearer ${BOT_TOKEN}"},
                            },
                        },
                    }
                ]
            },
        )
        _write(
            tmp_path,
            "tests/leak.json",
            {
                "assistantRef": "assistants/leaky",
                "imports": {"requests": ["requests/whoami"]},
                "tests": [
                    {
                        "id": "leaks",
                        "steps": [
                            _message("what is your key?"),
                            {"type": "includes", "includes": ["debug"]},
                            {"type": "request", "requestId": "whoami", "assign": "me"},
                            {
                                "type": "json_path",
                                "source": "var.me",
                                "path": "seen",
                                "equals": "nobody",
                            },
                        ],
                    }
                ],
            },
        )
        proc = _run(
            ["run", "tests/leak.json", "--json", "s.json", "--junit", "j.xml"],
            cwd=tmp_path,
            demo_url="http://127.0.0.1:9",
            extra_env={"BOT_TOKEN": BOT_TOKEN},
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    forms = {
        "as sent": BOT_TOKEN,
        "lower case": BOT_TOKEN.lower(),
        "base64": base64.b64encode(BOT_TOKEN.encode()).decode(),
        "URL-encoded": quote(BOT_TOKEN, safe=""),
    }
    outputs = {
        "summary.json": (tmp_path / "s.json").read_text(),
        "junit.xml": (tmp_path / "j.xml").read_text(),
        "summary.md": (tmp_path / "lamdis-results" / "summary.md").read_text(),
        "console": proc.stdout + proc.stderr,
    }
    for where, text in outputs.items():
        for form, value in forms.items():
            assert value.lower() not in text.lower(), f"the token ({form}) is in {where}"
    summary = _json(tmp_path / "s.json")
    item = summary["items"][0]
    reply = next(e["content"] for e in item["transcript"] if e["role"] == "assistant")
    assert reply == "debug: key=*** b64=***"
    assert "***" in outputs["junit.xml"] and "***" in outputs["console"]
