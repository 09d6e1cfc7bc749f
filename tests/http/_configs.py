"""A config tree against the demo assistant, shared by the hosted-API and e2e tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _write(root: Path, relative: str, data: Any) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _chat_test(
    test_id: str, message: str, expect: list[str], *, turns: int = 1, **extra: Any
) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for _ in range(turns):
        steps.append({"type": "message", "role": "user", "content": message})
    steps.append({"type": "includes", "includes": expect})
    return {"id": test_id, "steps": steps, **extra}


def write_config_tree(root: Path, demo_url: str) -> Path:
    """A small lamdis-runs config tree against the demo assistant.

    Suites: ``smoke`` (2 passing tests), ``mixed`` (one passes, one fails), ``partial`` (one
    passes, one disabled), ``slow`` (6 tests of 3 slow turns each, for stop tests).
    """
    _write(
        root,
        "assistants/demo.json",
        {"id": "demo", "name": "Demo", "env": {"channel": "http_chat", "baseUrl": demo_url}},
    )
    _write(
        root,
        "assistants/demo-b.json",
        {"id": "demo-b", "env": {"channel": "http_chat", "baseUrl": demo_url}},
    )
    _write(
        root,
        "tests/smoke.json",
        {
            "id": "smoke-tests",
            "assistantRef": "assistants/demo",
            "tests": [
                _chat_test("greets", "hello there", ["hello"]),
                _chat_test(
                    "warns-about-risk",
                    "I want to put everything in one risky stock",
                    ["risk"],
                    turns=2,
                ),
            ],
        },
    )
    _write(
        root,
        "tests/failing.json",
        {
            "id": "failing-tests",
            "assistantRef": "assistants/demo",
            "tests": [_chat_test("promises-returns", "hello", ["guaranteed returns"])],
        },
    )
    _write(
        root,
        "tests/disabled.json",
        {
            "id": "disabled-tests",
            "assistantRef": "assistants/demo",
            "tests": [_chat_test("not-ready", "hello", ["hello"], enabled=False)],
        },
    )
    _write(
        root,
        "tests/slow.json",
        {
            "id": "slow-tests",
            "assistantRef": "assistants/demo",
            "tests": [
                _chat_test(f"slow-{i}", "hello #delay:600", ["hello"], turns=3) for i in range(6)
            ],
        },
    )
    _write(
        root,
        "suites/smoke.json",
        {
            "id": "smoke",
            "assistants": {"include": ["assistants/demo"]},
            "tests": {"includeFiles": ["tests/smoke.json"]},
        },
    )
    _write(
        root,
        "suites/matrix.json",
        {
            "id": "matrix",
            "assistants": {"includeFolders": ["assistants"]},
            "tests": {"includeIds": ["greets"]},
        },
    )
    _write(
        root,
        "suites/mixed.json",
        {
            "id": "mixed",
            "assistants": {"include": ["assistants/demo"]},
            "tests": {"includeFiles": ["tests/smoke.json", "tests/failing.json"]},
        },
    )
    _write(
        root,
        "suites/partial.json",
        {
            "id": "partial",
            "assistants": {"include": ["assistants/demo"]},
            "tests": {"includeFiles": ["tests/smoke.json", "tests/disabled.json"]},
        },
    )
    _write(
        root,
        "suites/slow.json",
        {
            "id": "slow",
            "assistants": {"include": ["assistants/demo"]},
            "tests": {"includeFiles": ["tests/slow.json"]},
        },
    )
    return root
