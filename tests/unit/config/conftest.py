"""Helpers for the loader tests: config trees written to a temporary folder."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

LAMDIS_RUNS_CONFIGS = Path(__file__).resolve().parents[3] / ".." / "shared" / "lamdis-runs-configs"

Tree = Callable[[Mapping[str, Any]], Path]


def write_tree(root: Path, files: Mapping[str, Any]) -> Path:
    """Write ``{relative path: text or JSON-able object}`` below ``root``; return ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """``tree({...})`` writes a config tree below a fresh folder and returns that folder."""
    root = tmp_path / "configs"
    root.mkdir()
    return lambda files: write_tree(root, files)


ASSISTANT = {
    "id": "bot",
    "name": "Bot",
    "env": {"channel": "http_chat", "baseUrl": "http://127.0.0.1:9"},
}
PERSONAS = {"personas": [{"id": "p1", "description": "a retail customer"}]}
REQUESTS = {
    "requests": [
        {
            "id": "accounts.get",
            "transport": {
                "mode": "direct",
                "http": {"method": "GET", "base_url": "http://127.0.0.1:9", "path": "/a/{id}"},
            },
        }
    ]
}


def make_test_file(tests: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A test file naming ``assistants/bot`` and importing the personas and requests above."""
    return {
        "id": "file-1",
        "imports": {"personas": ["personas/p"], "requests": ["requests/r"]},
        "assistantRef": "assistants/bot",
        "tests": tests,
        **extra,
    }


def base_files(tests: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A small valid tree (a fresh deep copy: tests may edit it)."""
    return copy.deepcopy(
        {
            "assistants/bot.json": ASSISTANT,
            "personas/p.json": PERSONAS,
            "requests/r.json": REQUESTS,
            "tests/t.json": make_test_file(tests, **extra),
        }
    )


SIMPLE_TEST = {"id": "t1", "steps": [{"type": "message", "content": "hi"}]}
