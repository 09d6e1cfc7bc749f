"""The generated JSON Schemas agree with the loader.

Every example and every file of the lamdis-runs tree validates against the schema of its
kind; everything the model can hold (hypothesis strategies) validates; each range rule the
schema states is one the loader enforces too, at the same boundary; and documents the loader
rejects for their types are rejected by the schema as well.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lamdis_core.config._build import KIND_TYPES, detect_kind, structure
from lamdis_core.config._schema import Checker
from lamdis_core.config.json_schema import FILE_NAMES, RANGES, all_schemas, schema_for
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import make_converter
from lamdis_core.testing import strategies as s

from tests.unit.config.conftest import LAMDIS_RUNS_CONFIGS

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = all_schemas()
VALIDATORS = {
    name: jsonschema.Draft202012Validator(schema, format_checker=None)
    for name, schema in SCHEMAS.items()
}
_YAML_SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)


def _errors(kind: str, document: Any) -> list[str]:
    validator = VALIDATORS[FILE_NAMES[kind]]
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def _read(path: Path) -> tuple[Any, str | None]:
    """The document and the schema file its `$schema` key or yaml-language-server line names."""
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
        return data, data.get("$schema")
    found = _YAML_SCHEMA_LINE.search(text)
    return yaml.safe_load(text), found.group(1) if found else None


def test_every_kind_has_a_valid_schema() -> None:
    assert set(FILE_NAMES) == set(KIND_TYPES)
    for name, schema in SCHEMAS.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name


EXAMPLES = sorted(
    p
    for pattern in ("*.json", "*.yaml", "*.yml")
    for p in (REPO / "examples").rglob(pattern)
    if ".schemas" not in p.parts
)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_names_its_schema_and_validates(path: Path) -> None:
    data, named = _read(path)
    kind = detect_kind(data, in_suites_folder="suites" in path.parts)
    assert kind is not None, path
    assert named is not None, f"{path} names no schema ($schema key / yaml-language-server line)"
    schema_file = (path.parent / named).resolve()
    assert schema_file.name == FILE_NAMES[kind], f"{path} is {kind} but names {named}"
    assert schema_file.parent == (REPO / "examples" / "configs" / ".schemas"), named
    assert not _errors(kind, data), _errors(kind, data)


LAMDIS_RUNS_FILES = (
    sorted(p for p in LAMDIS_RUNS_CONFIGS.resolve().rglob("*.json"))
    if LAMDIS_RUNS_CONFIGS.is_dir()
    else []
)


@pytest.mark.skipif(
    not LAMDIS_RUNS_FILES, reason="shared/lamdis-runs-configs is not beside the checkout"
)
@pytest.mark.parametrize("path", LAMDIS_RUNS_FILES, ids=lambda p: p.name)
def test_every_lamdis_runs_file_validates(path: Path) -> None:
    data = json.loads(path.read_text())
    root = LAMDIS_RUNS_CONFIGS.resolve()
    kind = detect_kind(data, in_suites_folder="suites" in path.relative_to(root).parts)
    assert kind is not None, path
    assert not _errors(kind, data), _errors(kind, data)


converter = make_converter()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.tuples(st.just("assistant"), s.assistants()),
        st.tuples(st.just("auth"), s.auth_configs()),
        st.tuples(st.just("test"), s.case_files()),
        st.tuples(st.just("suite"), s.suites()),
        st.tuples(st.just("personas"), st.builds(c.PersonasFile, personas=st.lists(s.personas()))),
        st.tuples(
            st.just("requests"), st.builds(c.RequestsFile, requests=st.lists(s.request_defs()))
        ),
    )
)
def test_everything_the_model_holds_validates(kind_and_obj: tuple[str, Any]) -> None:
    kind, obj = kind_and_obj
    document = converter.unstructure(obj)
    assert not _errors(kind, document), (document, _errors(kind, document))


# Each range rule of the schema, with a minimal valid object of its class, values the loader
# accepts at the boundary and values it rejects just past it.
_RANGE_CASES: dict[tuple[type[Any], str], tuple[dict[str, Any], list[Any], list[Any]]] = {
    (c.AssistantCheckStep, "threshold"): (
        {"type": "assistant_check", "rubric": "r"},
        [0, 1, 0.5],
        [-0.01, 1.01],
    ),
    (c.JudgeConfig, "threshold"): ({}, [0, 1], [-0.5, 2]),
    (c.TestCase, "maxTurns"): ({"id": "t", "objective": "o"}, [1, 3], [0, -1]),
    (c.TestCase, "minTurns"): ({"id": "t", "objective": "o"}, [1], [0]),
    (c.RegexStep, "flags"): ({"type": "regex", "pattern": "a"}, ["", "imsx", "i"], ["g", "iq"]),
    (c.LatencyStep, "maxMs"): ({"type": "latency", "maxMs": 1}, [0.5, 3000], [0, -5]),
    (c.UserObjectiveStep, "maxTurns"): (
        {"type": "user_objective", "objective": "o"},
        [1, 4],
        [0, -2],
    ),
    (c.UserObjectiveStep, "minTurns"): ({"type": "user_objective", "objective": "o"}, [1], [0]),
    (c.Schedule, "periodMinutes"): ({}, [1, 1440, 2.5], [0.5, 0, -1]),
}


def _def_schema(cls: type[Any]) -> jsonschema.Draft202012Validator:
    defs = schema_for("suite" if cls is c.Schedule else "test")["$defs"]
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{cls.__name__}", "$defs": defs})


def test_every_range_rule_has_a_case() -> None:
    assert set(_RANGE_CASES) == set(RANGES)


@pytest.mark.parametrize(
    "rule",
    list(_RANGE_CASES),
    ids=lambda r: f"{r[0].__name__}.{r[1]}" if isinstance(r, tuple) else "",
)
def test_range_rules_match_the_loader(rule: tuple[type[Any], str]) -> None:
    cls, key = rule
    base, good, bad = _RANGE_CASES[rule]
    validator = _def_schema(cls)
    tp = c.Step if cls in c.STEP_TYPES.values() else cls
    for value in [*good, *bad]:
        document = {**base, key: value}
        checker = Checker()
        checker.check(document, tp)
        loader_ok = not checker.errors
        schema_ok = validator.is_valid(document)
        assert loader_ok == (value in good), (document, checker.errors)
        assert schema_ok == loader_ok, (document, list(validator.iter_errors(document)))


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("test", {"tests": [{"id": "t", "steps": [{"type": "includes", "includes": "x"}]}]}),
        ("test", {"tests": [{"id": "t", "steps": [{"type": "not_include", "terms": ["x"]}]}]}),
        ("test", {"tests": [{"id": "t", "steps": [{"type": "assistant_check"}]}]}),
        (
            "test",
            {"tests": [{"id": "t", "steps": [{"type": "assistant_check", "mode": "includes"}]}]},
        ),
        (
            "test",
            {
                "tests": [
                    {
                        "id": "t",
                        "steps": [
                            {"type": "assistant_check", "mode": "variable_check", "rubric": "r"}
                        ],
                    }
                ]
            },
        ),
        (
            "test",
            {
                "tests": [
                    {
                        "id": "t",
                        "steps": [
                            {
                                "type": "assistant_check",
                                "mode": "variable_check",
                                "variablePath": "var.x",
                                "operator": "equals",
                            }
                        ],
                    }
                ]
            },
        ),
        ("test", {"tests": [{"id": "t", "objective": "o", "maxTurns": "8"}]}),
        ("test", {"tests": [{"id": "t", "steps": [{"content": "no type"}]}]}),
        ("assistant", {"env": {"timeoutMs": "fast"}}),
        ("personas", {"personas": [{"description": "no id"}]}),
        ("requests", {"requests": [{"id": "r", "transport": {"http": {"headers": {"a": 1}}}}]}),
        ("suite", {"assistants": {"include": "assistants/a"}}),
    ],
)
def test_documents_the_loader_rejects_are_rejected_by_the_schema(
    kind: str, document: dict[str, Any]
) -> None:
    problems: list[str] = []
    structure(
        document, kind, lambda _p, message, warning: None if warning else problems.append(message)
    )
    assert problems, "the loader accepted it"
    assert _errors(kind, document), "the schema accepted it"


def test_loader_leniencies_are_in_the_schema() -> None:
    """What the loader accepts beyond the camelCase model: aliases, case-insensitive enums and
    step types, null for not given, YAML-text scripts, `$`/`x-` keys, tolerated keys."""
    document = {
        "$schema": "../.schemas/test.schema.json",
        "x-owner": "team-a",
        "orgId": "acme",
        "tests": [
            {
                "id": "t",
                "name": None,
                "script": "messages:\n  - {role: user, content: hi}\n",
                "steps": [
                    {"type": "MESSAGE", "role": "User", "content": "hi"},
                    {"type": "includes", "includes": ["x"], "scope": "Transcript"},
                ],
            }
        ],
    }
    assert not _errors("test", document), _errors("test", document)
    requests = {
        "requests": [{"id": "r", "transport": {"http": {"base_url": "http://h", "timeout_ms": 5}}}]
    }
    assert not _errors("requests", requests), _errors("requests", requests)
    assert _errors("test", {"tests": [], "tset": 1}), "an unknown key is flagged for editors"
