"""Strict configs: the environment a run needs, ``json_path`` sources, and iterative fields
on a test with steps."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lamdis_core.config.environment import missing_environment
from lamdis_core.config.loader import load_plan, validate_paths
from lamdis_core.domain.errors import ConfigError

from tests.unit.config.conftest import ASSISTANT, PERSONAS, REQUESTS, Tree, make_test_file

PATTERN_AUTH = {
    "id": "auth/dev1",
    "env": {"AUTH_TOKEN": "${DEV1_API_TOKEN}", "BOT_API_KEY": "${DEV1_BOT_API_KEY}"},
    "pattern": {"type": "bearer", "header": "Authorization", "template": "Bearer ${AUTH_TOKEN}"},
}


def _authed_tree(tree: Tree, *, steps: list[dict[str, Any]] | None = None) -> Any:
    assistant = {
        **ASSISTANT,
        "env": {**ASSISTANT["env"], "headers": {"x-api-key": "${BOT_API_KEY}"}},
        "auth": {"authRef": "auth/dev1"},
    }
    return tree(
        {
            "assistants/bot.json": assistant,
            "auth/dev1.json": PATTERN_AUTH,
            "personas/p.json": PERSONAS,
            "requests/r.json": REQUESTS,
            "tests/t.json": make_test_file(
                [{"id": "t1", "steps": steps or [{"type": "message", "content": "hi"}]}]
            ),
        }
    )


def test_a_variable_behind_a_pattern_auth_name_is_reported_by_its_real_name(tree: Tree) -> None:
    """``${BOT_API_KEY}`` in the assistant stands for DEV1_BOT_API_KEY: that is what is named,
    at the auth file's line that maps it."""
    root = _authed_tree(tree)
    plan = load_plan([root / "tests/t.json"], env={})
    problems = missing_environment(plan, {})
    by_name = {p.variable: p for p in problems}
    assert set(by_name) == {"DEV1_API_TOKEN", "DEV1_BOT_API_KEY"}
    key = by_name["DEV1_BOT_API_KEY"]
    assert key.file is not None and key.file.endswith("auth/dev1.json")
    assert key.line == 5 and key.json_path == "$.env.BOT_API_KEY"
    assert "environment variable DEV1_BOT_API_KEY is not set" in str(key)
    assert "BOT_API_KEY is not set" not in str(key).replace("DEV1_BOT_API_KEY", "")


def test_nothing_is_missing_when_the_real_variables_are_set(tree: Tree) -> None:
    root = _authed_tree(tree)
    env = {"DEV1_API_TOKEN": "t", "DEV1_BOT_API_KEY": "k"}
    assert missing_environment(load_plan([root / "tests/t.json"], env=env), env) == []


def test_a_request_url_variable_counts_only_when_a_step_calls_the_request(tree: Tree) -> None:
    requests = {
        "requests": [
            {
                "id": "accounts.get",
                "transport": {"http": {"method": "GET", "base_url": "${ACCOUNTS_URL}"}},
            }
        ]
    }
    env = {"DEV1_API_TOKEN": "t", "DEV1_BOT_API_KEY": "k"}
    root = _authed_tree(tree)
    (root / "requests/r.json").write_text(json.dumps(requests))
    assert missing_environment(load_plan([root / "tests/t.json"], env=env), env) == []
    root = _authed_tree(tree, steps=[{"type": "request", "requestId": "accounts.get"}])
    (root / "requests/r.json").write_text(json.dumps(requests))
    (problem,) = missing_environment(load_plan([root / "tests/t.json"], env=env), env)
    assert problem.variable == "ACCOUNTS_URL" and "request accounts.get" in problem.message


def _problems(tree: Tree, test: dict[str, Any]) -> list[str]:
    root = tree(
        {
            "assistants/bot.json": ASSISTANT,
            "personas/p.json": PERSONAS,
            "requests/r.json": REQUESTS,
            "tests/t.json": make_test_file([test]),
        }
    )
    with pytest.raises(ConfigError) as caught:
        validate_paths([root / "tests/t.json"])
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("acct", "starts with 'acct'; expected var.<name>, steps.<id>.output or last.request"),
        ("vars.acct", "(did you mean 'var'?)"),
        ("var.acct", "no earlier step sets var.acct"),
        ("steps.fetch.output", "no earlier request step has id 'fetch'"),
        ("last.request", "no request step runs before it"),
    ],
)
def test_validate_rejects_a_json_path_source_no_earlier_step_sets(
    tree: Tree, source: str, expected: str
) -> None:
    test = {
        "id": "t1",
        "steps": [
            {"type": "message", "content": "hi"},
            {"type": "json_path", "source": source, "path": "id"},
        ],
    }
    (problem,) = _problems(tree, test)
    assert "$.tests[0].steps[1].source" in problem and expected in problem


def test_json_path_sources_set_by_earlier_steps_are_valid(tree: Tree) -> None:
    root = tree(
        {
            "assistants/bot.json": ASSISTANT,
            "personas/p.json": PERSONAS,
            "requests/r.json": REQUESTS,
            "tests/t.json": make_test_file(
                [
                    {
                        "id": "t1",
                        "steps": [
                            {"type": "request", "requestId": "accounts.get", "assign": "acct"},
                            {"type": "request", "id": "fetch", "requestId": "accounts.get"},
                            {"type": "message", "content": "hi"},
                            {"type": "extract", "variableName": "ref", "description": "ref"},
                            {"type": "json_path", "source": "var.acct", "path": "id"},
                            {"type": "json_path", "source": "steps.fetch.output", "path": "id"},
                            {"type": "json_path", "source": "steps.acct", "path": "status"},
                            {"type": "json_path", "source": "last.request", "path": "id"},
                            {"type": "json_path", "source": "var", "path": "ref"},
                        ],
                    }
                ]
            ),
        }
    )
    validate_paths([root / "tests/t.json"])


def test_max_turns_on_a_stepped_test_caps_the_turns_it_sends(tree: Tree) -> None:
    test = {
        "id": "t1",
        "maxTurns": 1,
        "steps": [{"type": "message", "content": "one"}, {"type": "message", "content": "two"}],
    }
    (problem,) = _problems(tree, test)
    assert "$.tests[0].maxTurns" in problem and "send 2 user turns" in problem


def test_continue_after_pass_on_a_stepped_test_is_a_warning_not_dropped_silently(
    tree: Tree,
) -> None:
    root = tree(
        {
            "assistants/bot.json": ASSISTANT,
            "personas/p.json": PERSONAS,
            "requests/r.json": REQUESTS,
            "tests/t.json": make_test_file(
                [
                    {
                        "id": "t1",
                        "iterate": True,
                        "continueAfterPass": True,
                        "maxTurns": 3,
                        "steps": [{"type": "message", "content": "one"}],
                    }
                ]
            ),
        }
    )
    report = validate_paths([root / "tests/t.json"])
    warnings = [str(w) for w in report.warnings]
    assert any(
        "$.tests[0].continueAfterPass: continueAfterPass has no effect on a test with steps" in w
        for w in warnings
    )
    # iterate: true beside steps is what lamdis-runs' own files write; documented, accepted.
    assert not any("iterate" in w or "maxTurns" in w for w in warnings)


@pytest.mark.parametrize("samples", [0, 26])
def test_samples_outside_1_to_25_is_a_load_error(tree: Tree, samples: int) -> None:
    root = tree(
        {
            "assistants/bot.json": ASSISTANT,
            "personas/p.json": PERSONAS,
            "requests/r.json": REQUESTS,
            "tests/t.json": make_test_file(
                [
                    {
                        "id": "t1",
                        "steps": [
                            {"type": "message", "content": "hi"},
                            {"type": "assistant_check", "rubric": "r", "samples": samples},
                        ],
                    }
                ]
            ),
        }
    )
    with pytest.raises(ConfigError) as caught:
        validate_paths([root / "tests/t.json"])
    (problem,) = caught.value.problems
    assert "$.tests[0].steps[1].samples: samples must be between 1 and 25" in str(problem)
