"""pytest-lamdis, run by pytest's own ``pytester`` on a temporary project whose lamdis tests
talk to the demo assistant on loopback (a passing, a failing and a flaky assistant)."""

from __future__ import annotations

import asyncio
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lamdis_http.demo import start_demo_server

pytestmark = pytest.mark.e2e


class Demo:
    """Demo assistants served from a background event loop: one correct, one flaky."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[Any] = []

    def start(self, **kwargs: Any) -> str:
        if not self.thread.is_alive():
            self.thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_demo_server("127.0.0.1", 0, 0, **kwargs), self.loop
        )
        runner, url = future.result(timeout=10)
        self.runners.append(runner)
        return str(url)

    def stop(self) -> None:
        for runner in self.runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def project(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    demo = Demo()
    url = demo.start()
    flaky_url = demo.start(correct_rate=0.5, seed=3)
    root = pytester.path / "lamdis"
    (root / "assistants").mkdir(parents=True)
    (root / "tests").mkdir()
    for name, where in (("demo", url), ("flaky", flaky_url)):
        (root / f"assistants/{name}.json").write_text(
            json.dumps({"id": name, "env": {"channel": "http_chat", "baseUrl": where}})
        )
    message = {"type": "message", "role": "user", "content": "What is diversification?"}
    (root / "tests/basics.json").write_text(
        json.dumps(
            {
                "id": "basics",
                "assistantRef": "assistants/demo",
                "tests": [
                    {
                        "id": "greets",
                        "tags": ["smoke"],
                        "steps": [
                            {"type": "message", "role": "user", "content": "hello"},
                            {"type": "includes", "includes": ["Hello"]},
                        ],
                    },
                    {
                        "id": "promises",
                        "steps": [message, {"type": "includes", "includes": ["guaranteed"]}],
                    },
                ],
            }
        )
    )
    (root / "tests/flaky.json").write_text(
        json.dumps(
            {
                "id": "flaky",
                "assistantRef": "assistants/flaky",
                "tests": [
                    {
                        "id": "explains",
                        "steps": [message, {"type": "includes", "includes": ["risk"]}],
                    }
                ],
            }
        )
    )
    pytester.makeini("[pytest]\n")
    try:
        yield pytester
    finally:
        demo.stop()


def _cases(path: Path) -> dict[str, dict[str, str]]:
    root = ET.parse(path).getroot()
    return {
        case.get("name", ""): {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        for case in root.iter("testcase")
    }


def test_each_test_x_assistant_is_an_item_and_a_failure_says_why(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "--lamdis-path", "lamdis", "--junitxml", "junit.xml", "-k", "not flaky"
    )
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*includes*guaranteed*",
            "*last exchange:*",
            "*user: What is diversification?*",
            "*assistant: *diversified*",
        ]
    )
    cases = _cases(project.path / "junit.xml")
    assert cases["greets[demo]"]["status"] == "passed"
    assert cases["promises[demo]"]["status"] == "failed"
    assert "guaranteed" in cases["promises[demo]"]["failure"]
    assert cases["promises[demo]"]["cost"] == "$0.0000"  # the offline judge costs nothing


def test_k_and_tag_markers_select_and_lf_reruns_the_failure(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--lamdis-path", "lamdis", "-k", "greets").assert_outcomes(
        passed=1, deselected=2
    )
    project.runpytest_subprocess("--lamdis-path", "lamdis", "-m", "smoke").assert_outcomes(
        passed=1, deselected=2
    )
    project.runpytest_subprocess(
        "--lamdis-path", "lamdis", "-k", "not flaky", "-p", "cacheprovider"
    )
    again = project.runpytest_subprocess("--lamdis-path", "lamdis", "--lf", "-p", "cacheprovider")
    again.assert_outcomes(failed=1, passed=0)
    again.stdout.fnmatch_lines(["*rerun previous 1 failure*", "*promises?demo?*"])


def test_repeat_reports_a_flaky_test_and_the_gate_decides(project: pytest.Pytester) -> None:
    strict = project.runpytest_subprocess(
        "--lamdis-path", "lamdis", "-k", "flaky", "--lamdis-repeat", "8", "--junitxml", "s.xml"
    )
    strict.assert_outcomes(failed=1, deselected=2)
    strict.stdout.fnmatch_lines(["*pass rate * of 8 runs) is below 100%*"])
    props = _cases(project.path / "s.xml")["explains[flaky]"]
    assert props["status"] == "flaky" and props["runs"] == "8"
    rate = float(props["passRate"])
    assert 0 < rate < 1
    lenient = project.runpytest_subprocess(
        "--lamdis-path",
        "lamdis",
        "-k",
        "flaky",
        "--lamdis-repeat",
        "8",
        "--lamdis-min-pass-rate",
        str(rate),
    )
    lenient.assert_outcomes(passed=1, deselected=2)


def test_nothing_is_collected_without_lamdis_paths(project: pytest.Pytester) -> None:
    project.runpytest_subprocess().assert_outcomes()


def test_a_configuration_error_is_a_collection_error(project: pytest.Pytester) -> None:
    (project.path / "lamdis/tests/broken.json").write_text(
        json.dumps({"id": "broken", "assistantRef": "assistants/nowhere", "tests": []})
    )
    result = project.runpytest_subprocess("--lamdis-path", "lamdis")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lamdis configuration error*", "*nowhere*"])
