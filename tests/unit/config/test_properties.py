"""Properties: config objects round-trip, and no input crashes the loader with anything but
ConfigError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lamdis_core.config._build import structure
from lamdis_core.config.loader import load_plan, validate_paths
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import make_converter
from lamdis_core.domain.errors import ConfigError
from lamdis_core.testing import strategies as s

from tests.unit.config.conftest import SIMPLE_TEST, base_files, write_tree

converter = make_converter()
EVERY_OBJECT = (
    s.assistants()
    | s.auth_configs()
    | s.request_defs()
    | s.personas()
    | s.steps()
    | s.cases()
    | s.case_files()
    | s.suites()
)


@given(EVERY_OBJECT)
def test_structure_of_unstructure_is_identity(obj: Any) -> None:
    data = converter.unstructure(obj)
    tp = c.Step if type(obj) in c.STEP_TYPES.values() else type(obj)
    if isinstance(obj, c.StaticAuth | c.PatternAuth | c.OAuthClientCredentials):
        tp = c.AuthConfig
    assert converter.structure(data, tp) == obj


KINDS = {
    c.Assistant: "assistant",
    c.TestFile: "test",
    c.Suite: "suite",
    c.StaticAuth: "auth",
    c.PatternAuth: "auth",
    c.OAuthClientCredentials: "auth",
}


@given(s.assistants() | s.auth_configs() | s.case_files() | s.suites())
def test_the_loader_accepts_everything_the_converter_writes(obj: Any) -> None:
    data = json.loads(json.dumps(converter.unstructure(obj)))
    problems: list[tuple[Any, str, bool]] = []
    built = structure(data, KINDS[type(obj)], lambda *p: problems.append(p))
    assert problems == []
    assert built == obj


@given(s.case_files())
def test_yaml_text_loads_like_json_text(obj: c.TestFile) -> None:
    data = converter.unstructure(obj)
    from lamdis_core.config._parse import parse_text

    from_json = parse_text(json.dumps(data), "json")
    from_yaml = parse_text(yaml.dump(data, Dumper=yaml.CSafeDumper), "yaml")
    assert from_json.ok and from_yaml.ok
    assert from_yaml.data == from_json.data


def _run_loader(root: Path, target: Path) -> None:
    for call in (
        lambda: load_plan([target], config_root=root, env={}),
        lambda: validate_paths([root], config_root=root, env={}),
    ):
        problems: tuple[Any, ...] | None = None
        try:
            call()
        except ConfigError as exc:
            problems = exc.problems
        if problems is not None:
            assert problems, "a ConfigError must carry at least one problem"
            assert all(p.message for p in problems)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(s.json_values(max_leaves=30))
def test_arbitrary_json_as_a_test_file_never_crashes(value: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_tree(Path(tmp), base_files([SIMPLE_TEST]))
        (root / "tests" / "t.json").write_text(json.dumps(value))
        _run_loader(root, root / "tests" / "t.json")


def _replace_at(doc: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(doc, dict) and head in doc:
        return {**doc, head: _replace_at(doc[head], rest, value)}
    if isinstance(doc, list) and isinstance(head, int) and head < len(doc):
        return [*doc[:head], _replace_at(doc[head], rest, value), *doc[head + 1 :]]
    return doc


def _paths(doc: Any, prefix: list[Any] | None = None) -> list[list[Any]]:
    prefix = prefix or []
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, [*prefix, key])
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, [*prefix, i])
    return out


FULL_TEST = {
    "id": "t1",
    "personaId": "p1",
    "script": {"messages": [{"role": "user", "content": "hi", "personaId": "p1"}]},
    "steps": [
        {"type": "request", "requestId": "accounts.get", "input": {"id": 1}, "assign": "a"},
        {"type": "includes", "includes": ["x"]},
        {"type": "regex", "pattern": "a+", "flags": "i"},
        {"type": "latency", "maxMs": 100},
    ],
    "judgeConfig": {"rubric": "r", "threshold": 0.5},
}


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_subtree_of_a_valid_tree_replaced_by_arbitrary_json_never_crashes(
    data: st.DataObject,
) -> None:
    files = base_files([FULL_TEST])
    files["suites/s.json"] = {
        "id": "s",
        "assistants": {
            "include": ["assistants/bot"],
            "includeFolders": ["assistants"],
            "exclude": [],
        },
        "tests": {"includeFiles": ["tests/t"], "includeIds": ["t1", "file-1"]},
    }
    files["auth/a.json"] = {"id": "a", "env": {"T": "${X}"}, "pattern": {"template": "Bearer ${T}"}}
    files["assistants/bot.json"]["authRef"] = "auth/a"
    name = data.draw(st.sampled_from(sorted(files)))
    path = data.draw(st.sampled_from(_paths(files[name])))
    files[name] = _replace_at(files[name], path, data.draw(s.json_values(max_leaves=10)))
    with tempfile.TemporaryDirectory() as tmp:
        root = write_tree(Path(tmp), files)
        _run_loader(root, root / "tests" / "t.json")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text_as_yaml_never_crashes(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_tree(Path(tmp), base_files([SIMPLE_TEST]))
        (root / "tests" / "t.json").unlink()
        (root / "tests" / "t.yaml").write_text(text, encoding="utf-8")
        _run_loader(root, root / "tests" / "t.yaml")


@pytest.mark.parametrize(
    "text",
    ["&a [*a, *a]", "a: &x {b: *x}", "!!python/object:os.system {}", "[" * 2000, "? [a]\n: b"],
)
def test_hostile_yaml_is_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_tree(Path(tmp), base_files([SIMPLE_TEST]))
        (root / "tests" / "t.yaml").write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError):
            load_plan([root / "tests" / "t.yaml"], config_root=root, env={})


def test_yaml_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with tempfile.TemporaryDirectory() as tmp:
        root = write_tree(Path(tmp), base_files([SIMPLE_TEST]))
        (root / "tests" / "t.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_plan([root / "tests" / "t.yaml"], config_root=root, env={})
    assert "expands to more than 1,000,000 values" in info.value.problems[0].message


def test_recursive_yaml_is_refused_with_a_reason() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_tree(Path(tmp), base_files([SIMPLE_TEST]))
        (root / "tests" / "t.yaml").write_text("tests: &t [*t]\n", encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_plan([root / "tests" / "t.yaml"], config_root=root, env={})
    assert "contains itself" in info.value.problems[0].message


def _all_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _all_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _all_paths(item, (*prefix, i))
    return out


@given(s.json_values(max_leaves=30), st.sampled_from([None, 2, "\t"]))
def test_json_line_scan_finds_every_path_on_its_line(value: Any, indent: Any) -> None:
    from lamdis_core.config._parse import _json_lines

    text = json.dumps(value, indent=indent)
    lines = _json_lines(text)
    assert lines is not None
    assert set(_all_paths(value)) <= set(lines)
    rows = text.split("\n")
    for path, line in lines.items():
        if path and isinstance(path[-1], str):
            assert json.dumps(path[-1]) in rows[line - 1]


class _DictSource:
    """A DocumentSource over plain dicts: {kind: {id: doc}}."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs

    async def get(self, kind: str, doc_id: str) -> Any:
        return self.docs.get(kind, {}).get(doc_id)

    async def list(self, kind: str) -> list[Any]:
        return list(self.docs.get(kind, {}).values())


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_subtree_of_valid_documents_replaced_never_crashes(data: st.DataObject) -> None:
    import asyncio

    from lamdis_core.config.loader import plan_from_documents

    files = base_files([FULL_TEST])
    docs: dict[str, dict[str, Any]] = {
        "suites": {
            "s": {
                "id": "s",
                "assistants": {"include": ["bot"]},
                "tests": {"includeIds": ["f", "t1"]},
            }
        },
        "environments": {"bot": files["assistants/bot.json"]},
        "tests": {
            "f": {**files["tests/t.json"], "imports": {"personas": ["p"], "requests": ["r"]}}
        },
        "personas": {"p": files["personas/p.json"]},
        "requests": {"r": files["requests/r.json"]},
    }
    kind = data.draw(st.sampled_from(sorted(docs)))
    (doc_id,) = docs[kind]
    path = data.draw(st.sampled_from(_paths(docs[kind][doc_id])))
    replaced = _replace_at(docs[kind][doc_id], path, data.draw(s.json_values(max_leaves=10)))
    if not isinstance(replaced, dict):
        replaced = {"value": replaced}
    docs[kind][doc_id] = replaced
    problems: tuple[Any, ...] | None = None
    try:
        asyncio.run(plan_from_documents(docs["suites"]["s"], _DictSource(docs), env={}))
    except ConfigError as exc:
        problems = exc.problems
    if problems is not None:
        assert problems and all(p.message for p in problems)
