"""``lamdis run`` end to end for the honesty of verdicts: unassessable rubrics, strict configs,
repeat statistics and gates, rejudge and diff. The demo assistant serves on a loopback port and
the CLI runs as a subprocess."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lamdis_http.demo import start_demo_server

from tests.e2e.test_cli import DemoServer, _json, _message, _run, _tree, _write, demo_url

pytestmark = pytest.mark.e2e

__all__ = ["demo_url"]  # the module fixture, shared


def _polite_tree(root: Path) -> None:
    _tree(root)
    _write(
        root,
        "tests/manners.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "manners",
                    "steps": [
                        _message("hello"),
                        {"type": "assistant_check", "name": "manners", "rubric": "polite"},
                    ],
                }
            ],
        },
    )


def test_an_unassessable_rubric_is_skipped_and_require_llm_judge_fails_it(
    tmp_path: Path, demo_url: str
) -> None:
    _polite_tree(tmp_path)
    proc = _run(["run", "tests/manners.json", "--json", "s.json"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = _json(tmp_path / "s.json")
    assert summary["status"] == "partial"
    assert summary["totals"]["skipped"] == 1 and summary["judge"]["unassessed"] == 1
    assert "1 rubric check skipped: needs an LLM judge" in proc.stdout
    assert " SKIP " in proc.stdout

    strict = _run(
        ["run", "tests/manners.json", "--json", "s2.json", "--require-llm-judge"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert _json(tmp_path / "s2.json")["totals"]["failed"] == 1


def test_an_unset_variable_the_run_needs_exits_2_before_any_turn(
    tmp_path: Path, demo_url: str
) -> None:
    """The variable behind a pattern auth's name is the one named, with its file and line."""
    _tree(tmp_path)
    _write(
        tmp_path,
        "auth/dev1.json",
        {
            "id": "auth/dev1",
            "env": {"AUTH_TOKEN": "${DEV1_API_TOKEN}"},
            "pattern": {
                "type": "bearer",
                "header": "Authorization",
                "template": "Bearer ${AUTH_TOKEN}",
            },
        },
    )
    assistant = _json(tmp_path / "assistants/demo.json")
    assistant["auth"] = {"authRef": "auth/dev1"}
    _write(tmp_path, "assistants/demo.json", assistant)
    proc = _run(["run", "tests/basics.json", "--json", "s.json"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        "auth/dev1.json:4 at $.env.AUTH_TOKEN: environment variable DEV1_API_TOKEN is not set"
        in proc.stderr
    )
    assert "nothing was run" in proc.stderr
    assert not (tmp_path / "s.json").exists()
    assert "PASS" not in proc.stdout and "ERROR" not in proc.stdout


# --- --repeat statistics and the pass-rate gate, against a flaky demo --------------------------


class FlakyDemo(DemoServer):
    """The demo assistant answering correctly with probability ``rate`` (seeded)."""

    def __init__(self, rate: float, seed: int) -> None:
        super().__init__()
        self.rate, self.seed = rate, seed

    def start(self) -> None:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_demo_server("127.0.0.1", 0, 0, correct_rate=self.rate, seed=self.seed),
            self.loop,
        )
        self._runner, self.url = future.result(timeout=10)


def _expected_passes(rate: float, seed: int, runs: int) -> int:
    draws = random.Random(seed)
    return sum(1 for _ in range(runs) if draws.random() < rate)


@pytest.fixture
def flaky_demo() -> Iterator[FlakyDemo]:
    server = FlakyDemo(0.6, seed=7)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _flaky_tree(root: Path, **test_fields: Any) -> None:
    _tree(root)
    _write(
        root,
        "tests/flaky.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "warns",
                    "name": "warns about one stock",
                    "steps": [
                        _message("Should I put everything in one stock?"),
                        {"type": "includes", "includes": ["risk"]},
                    ],
                    **test_fields,
                }
            ],
        },
    )


def test_repeat_reports_pass_rate_interval_and_pass_k_and_gates_a_flaky_test(
    tmp_path: Path, flaky_demo: FlakyDemo
) -> None:
    _flaky_tree(tmp_path)
    args = ["run", "tests/flaky.json", "--repeat", "20", "--concurrency", "1"]
    proc = _run(
        [*args, "--min-pass-rate", "0.3", "--json", "a.json", "--junit", "a.xml"],
        cwd=tmp_path,
        demo_url=flaky_demo.url,
    )
    passes = _expected_passes(0.6, 7, 20)
    assert 0 < passes < 20  # the seed gives mixed outcomes
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = _json(tmp_path / "a.json")
    (test,) = summary["tests"]
    assert test["status"] == "flaky" and test["flaky"] is True
    assert (test["runs"], test["passed"], test["failed"]) == (20, passes, 20 - passes)
    assert test["passRate"] == pytest.approx(passes / 20)
    low, high = test["passRateInterval"]
    assert 0 <= low < passes / 20 < high <= 1
    assert test["passK"] == {"k": 20, "value": 0.0}
    assert test["minPassRate"] == 0.3 and test["gatePassed"] is True
    assert summary["status"] == "passed" and summary["gate"]["flaky"] == 1
    assert "FLAKY" in proc.stdout and "1 flaky test" in proc.stdout
    cases = list(ET.parse(tmp_path / "a.xml").getroot().iter("testcase"))
    assert len(cases) == 20
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(failures) == 20 - passes
    props = {p.get("name"): p.get("value") for p in cases[0].iter("property")}
    assert props["flaky"] == "true" and props["gatePassed"] == "true"


def test_a_flaky_test_below_the_minimum_fails_the_run_and_its_own_minimum_wins(
    tmp_path: Path, flaky_demo: FlakyDemo
) -> None:
    _flaky_tree(tmp_path)
    args = ["run", "tests/flaky.json", "--repeat", "20", "--concurrency", "1"]
    proc = _run(
        [*args, "--min-pass-rate", "0.95", "--json", "b.json"],
        cwd=tmp_path,
        demo_url=flaky_demo.url,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = _json(tmp_path / "b.json")
    assert summary["status"] == "failed"
    assert summary["gate"]["belowMinimum"] == [{"testId": "warns", "assistant": "demo"}]
    assert "below the minimum pass rate" in proc.stdout

    _flaky_tree(tmp_path, minPassRate=0.2)
    proc = _run(
        [*args, "--min-pass-rate", "0.95", "--json", "c.json"],
        cwd=tmp_path,
        demo_url=flaky_demo.url,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _json(tmp_path / "c.json")["tests"][0]["minPassRate"] == 0.2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--repeat", "0"], "--repeat"),
        (["--min-pass-rate", "1.5"], "--min-pass-rate must be between 0 and 1"),
        (["--min-pass-rate", "-0.1"], "--min-pass-rate must be between 0 and 1"),
        (["--min-pass-rate", "most"], "--min-pass-rate must be a number between 0 and 1"),
    ],
)
def test_bad_repeat_and_pass_rate_values_exit_2(
    tmp_path: Path, demo_url: str, args: list[str], expected: str
) -> None:
    _tree(tmp_path)
    proc = _run(["run", "tests/basics.json", *args], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr


def test_a_min_pass_rate_outside_0_1_in_a_test_file_exits_2(tmp_path: Path, demo_url: str) -> None:
    _flaky_tree(tmp_path, minPassRate=80)
    proc = _run(["run", "tests/flaky.json"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2
    assert "$.tests[0].minPassRate: minPassRate must be between 0 and 1" in proc.stderr


# --- lamdis rejudge -------------------------------------------------------------------------

RISK_RUBRIC = "Explains risk, potential loss and diversification as general information."


def _risk_tree(root: Path) -> None:
    _tree(root)
    _write(
        root,
        "tests/risk.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "risky",
                    "steps": [
                        _message("I want to move everything into a very risky biotech stock."),
                        {"type": "includes", "includes": ["risk"]},
                        {
                            "type": "assistant_check",
                            "name": "risk explained",
                            "rubric": RISK_RUBRIC,
                            "threshold": 0.6,
                        },
                    ],
                }
            ],
        },
    )


def test_rejudge_with_an_llm_judge_gives_a_new_verdict_without_calling_the_assistant(
    tmp_path: Path,
) -> None:
    """Recorded with the offline judge (keywords pass); the assistant is then shut down and
    the run re-judged through the real OpenAI SDK against the wire-format fake, which fails
    the rubric: the new report fails, and nothing but the judge was asked."""
    from tests.fakes._scripted import verdict
    from tests.fakes.openai_server import FakeOpenAIServer

    _risk_tree(tmp_path)
    demo = DemoServer()
    demo.start()
    try:
        first = _run(
            ["run", "tests/risk.json", "--json", "run.json"], cwd=tmp_path, demo_url=demo.url
        )
    finally:
        demo.stop()  # re-judging must not need it
    assert first.returncode == 0, first.stdout + first.stderr
    recorded = _json(tmp_path / "run.json")
    assert recorded["status"] == "passed" and recorded["configHashes"]["risky@demo"]["test"]
    reply = recorded["items"][0]["transcript"][1]["content"]

    openai = FakeOpenAIServer()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(openai.start(), loop).result(timeout=10)
    openai.script(verdict(0.2, reasoning="It never says this is general information."))
    try:
        again = _run(
            ["rejudge", "run.json", "--judge", "openai", "--json", "again.json"],
            cwd=tmp_path,
            demo_url="http://127.0.0.1:9",
            extra_env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE": openai.api_base},
        )
    finally:
        asyncio.run_coroutine_threadsafe(openai.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    assert again.returncode == 1, again.stdout + again.stderr
    (request,) = openai.requests
    assert RISK_RUBRIC in request.prompt and json.dumps(reply)[1:40] in request.prompt
    rejudged = _json(tmp_path / "again.json")
    assert rejudged["status"] == "failed" and rejudged["judge"]["provider"].startswith("openai")
    checks = {c.get("name") or c["type"]: c for c in rejudged["items"][0]["assertions"]}
    assert checks["risk explained"]["pass"] is False
    assert checks["risk explained"]["details"]["score"] == 0.2
    assert checks["risk explained"]["details"]["previous"]["pass"] is True
    assert checks["includes"]["pass"] is True  # deterministic checks keep their result
    assert rejudged["rejudgedFrom"]["status"] == "passed"
    assert rejudged["items"][0]["transcript"] == recorded["items"][0]["transcript"]
    assert "1 changed status" in again.stdout and "the assistant was not called" in again.stdout


def test_rejudge_with_a_rubric_override_changes_the_verdict(tmp_path: Path, demo_url: str) -> None:
    _risk_tree(tmp_path)
    first = _run(["run", "tests/risk.json", "--json", "run.json"], cwd=tmp_path, demo_url=demo_url)
    assert first.returncode == 0, first.stdout + first.stderr
    _write(
        tmp_path,
        "override.json",
        {"risky": {"risk explained": {"rubric": "Mentions bonds and ETFs", "threshold": 0.9}}},
    )
    proc = _run(
        [
            "rejudge",
            "run.json",
            "--judge",
            "offline",
            "--rubric-override",
            "override.json",
            "--json",
            "o.json",
        ],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = _json(tmp_path / "o.json")
    check = summary["items"][0]["assertions"][1]
    assert check["details"]["rubric"] == "Mentions bonds and ETFs"
    assert check["details"]["previous"]["rubric"] == RISK_RUBRIC
    assert summary["rubricOverrides"] == {
        "risky": {"risk explained": {"rubric": "Mentions bonds and ETFs", "threshold": 0.9}}
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"results": []}, "is not a lamdis summary (no schemaVersion and items[])"),
        ({"schemaVersion": 99, "items": []}, "has schemaVersion 99, newer than this lamdis reads"),
        ([1, 2], "is not a JSON object"),
        (
            {"schemaVersion": 1, "items": [], "generator": {"name": "promptfoo"}},
            "written by 'promptfoo', not lamdis",
        ),
    ],
)
def test_rejudge_of_a_foreign_or_newer_file_exits_2(
    tmp_path: Path, content: Any, expected: str
) -> None:
    _write(tmp_path, "other.json", content)
    proc = _run(
        ["rejudge", "other.json", "--judge", "offline"], cwd=tmp_path, demo_url="http://127.0.0.1:9"
    )
    assert proc.returncode == 2
    assert expected in proc.stderr, proc.stderr


def test_rejudge_with_an_override_naming_an_unknown_check_exits_2(
    tmp_path: Path, demo_url: str
) -> None:
    _risk_tree(tmp_path)
    _run(["run", "tests/risk.json", "--json", "run.json"], cwd=tmp_path, demo_url=demo_url)
    _write(tmp_path, "override.json", {"risky": {"tone": "polite"}})
    proc = _run(
        ["rejudge", "run.json", "--judge", "offline", "--rubric-override", "override.json"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 2
    assert "risky: no rubric check 'tone' (rubric checks: risk explained)" in proc.stderr


# --- lamdis diff ------------------------------------------------------------------------------


class ConfiguredDemo(DemoServer):
    def __init__(self, *, latency_ms: float = 0, rate: float = 1.0) -> None:
        super().__init__()
        self.latency_ms, self.rate = latency_ms, rate

    def start(self) -> None:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_demo_server("127.0.0.1", 0, self.latency_ms, correct_rate=self.rate, seed=1),
            self.loop,
        )
        self._runner, self.url = future.result(timeout=10)


def _diff_tree(root: Path) -> None:
    _tree(root)
    _write(
        root,
        "tests/diff.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "warns",
                    "steps": [
                        _message("Should I put everything in one stock?"),
                        {"type": "includes", "includes": ["risk"]},
                    ],
                },
                {
                    "id": "judged",
                    "steps": [
                        _message("Should I put everything in one stock?"),
                        {
                            "type": "assistant_check",
                            "name": "mentions risk",
                            "rubric": "Mentions risk and diversification.",
                            "severity": "warn",
                        },
                    ],
                },
            ],
        },
    )


def _record(root: Path, name: str, **demo: Any) -> None:
    server = ConfiguredDemo(**demo)
    server.start()
    try:
        proc = _run(["run", "tests/diff.json", "--json", name], cwd=root, demo_url=server.url)
    finally:
        server.stop()
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr


def test_diff_reports_a_new_failure_a_score_drop_a_latency_regression_and_the_divergence(
    tmp_path: Path,
) -> None:
    _diff_tree(tmp_path)
    _record(tmp_path, "base.json")
    # The same tests against a slow assistant that always answers carelessly.
    _record(tmp_path, "new.json", latency_ms=150, rate=0.0)
    proc = _run(
        ["diff", "base.json", "new.json", "--markdown", "diff.md", "--json", "diff.json"],
        cwd=tmp_path,
        demo_url="http://127.0.0.1:9",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # no --fail-on-regression
    report = _json(tmp_path / "diff.json")
    assert report["regression"] is True
    assert report["counts"]["newlyFailing"] == 1 and report["counts"]["scoreDrops"] == 1
    tests = {t["testId"]: t for t in report["tests"]}
    warns, judged = tests["warns"], tests["judged"]
    assert warns["newlyFailing"] and warns["base"]["status"] == "passed"
    assert warns["new"]["status"] == "failed"
    assert judged["scoreDrop"] == pytest.approx(
        judged["base"]["judgeScore"] - judged["new"]["judgeScore"]
    )
    assert judged["scoreDrop"] > 0.1 and not judged["newlyFailing"]  # a warn check: still passes
    assert warns["latencyGrowth"] > 0.2 and judged["latencyGrowth"] > 0.2
    divergence = warns["firstDivergence"]
    assert divergence["turn"] == 1 and divergence["index"] == 1
    assert (
        divergence["base"]["role"] == "assistant"
        and "risk" in divergence["base"]["content"].lower()
    )
    assert divergence["new"]["content"].startswith("Sure, go for it!")
    markdown = (tmp_path / "diff.md").read_text(encoding="utf-8")
    assert "## lamdis diff: regressions" in markdown and "❌ passed → failed" in markdown
    assert "NEWLY FAILING" in proc.stdout and "diverged at turn 1" in proc.stdout

    gated = _run(
        ["diff", "base.json", "new.json", "--fail-on-regression"],
        cwd=tmp_path,
        demo_url="http://127.0.0.1:9",
    )
    assert gated.returncode == 1
    back = _run(
        ["diff", "new.json", "base.json", "--fail-on-regression", "--json", "back.json"],
        cwd=tmp_path,
        demo_url="http://127.0.0.1:9",
    )
    assert back.returncode == 0, back.stdout  # everything got better
    assert _json(tmp_path / "back.json")["counts"]["newlyPassing"] == 1


def test_diff_of_runs_of_different_suites_says_so_and_compares_the_shared_tests(
    tmp_path: Path, demo_url: str
) -> None:
    _diff_tree(tmp_path)
    proc = _run(["run", "tests/diff.json", "--json", "a.json"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    other = _json(tmp_path / "a.json")
    other["suiteId"] = "another-suite"
    other["items"] = [i for i in other["items"] if i["testId"] == "warns"]
    _write(tmp_path, "b.json", other)
    proc = _run(["diff", "a.json", "b.json", "--json", "d.json"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 0, proc.stderr
    report = _json(tmp_path / "d.json")
    assert report["notes"] == [
        "the runs are of different suites (no suite and another-suite); comparing the 1 tests they share"
    ]
    assert report["removed"] == ["judged@demo"] and report["counts"]["shared"] == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["other.json", "other.json"], "is not a lamdis summary"),
        (["missing.json", "other.json"], "cannot read the summary missing.json"),
        (
            ["other.json", "other.json", "--score-margin", "2"],
            "--score-margin must be between 0 and 1",
        ),
    ],
)
def test_diff_of_bad_input_exits_2(tmp_path: Path, args: list[str], expected: str) -> None:
    _write(tmp_path, "other.json", {"results": []})
    proc = _run(["diff", *args], cwd=tmp_path, demo_url="http://127.0.0.1:9")
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
