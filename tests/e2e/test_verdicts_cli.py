"""``lamdis run`` end to end for the honesty of verdicts: unassessable rubrics, strict configs,
repeat statistics and gates, rejudge and diff. The demo assistant serves on a loopback port and
the CLI runs as a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import _json, _message, _run, _tree, _write, demo_url

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
