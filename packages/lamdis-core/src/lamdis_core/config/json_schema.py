"""JSON Schemas (draft 2020-12) for every config file kind, generated from the domain model.

The schemas are derived, never written by hand: the field types of
:mod:`lamdis_core.domain.config` and the loader's own leniencies from
:mod:`lamdis_core.config._schema` (snake_case aliases, keys tolerated for lamdis-runs,
``$``/``x-`` keys, ``null`` for "not given", case-insensitive enum values and step types,
YAML text for ``script``). A field added to the model appears in the schemas with no other
change. They serve editors (``yaml-language-server``, VS Code's JSON support); the loader
remains the authority and additionally checks references, ids and regular expressions.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import attrs

from lamdis_core.config._build import KIND_TYPES
from lamdis_core.config._schema import _ALIASES, _NAMES, _SUITE_TESTS, _TOLERATED, _fields, _hints
from lamdis_core.domain import config as c

DIALECT = "https://json-schema.org/draft/2020-12/schema"

FILE_NAMES: dict[str, str] = {kind: f"{kind}.schema.json" for kind in KIND_TYPES}
"""The file each kind's schema is written to (``test.schema.json``...)."""

# Range rules the loader checks beyond the types (``Checker._semantics``), as schema keywords.
# tests/unit/config/test_json_schema.py holds each against the loader, so the two cannot drift.
RANGES: dict[tuple[type[Any], str], dict[str, Any]] = {
    (c.AssistantCheckStep, "threshold"): {"minimum": 0, "maximum": 1},
    (c.JudgeConfig, "threshold"): {"minimum": 0, "maximum": 1},
    (c.TestCase, "maxTurns"): {"minimum": 1},
    (c.TestCase, "minTurns"): {"minimum": 1},
    (c.RegexStep, "flags"): {"pattern": "^[imsx]*$"},
    (c.LatencyStep, "maxMs"): {"exclusiveMinimum": 0},
    (c.UserObjectiveStep, "maxTurns"): {"minimum": 1},
    (c.UserObjectiveStep, "minTurns"): {"minimum": 1},
    (c.Schedule, "periodMinutes"): {"minimum": 1},
}


def _mode_needs(mode: str, key: str, *, default: bool = False) -> dict[str, Any]:
    is_mode: dict[str, Any] = {"properties": {"mode": {"const": mode}}, "required": ["mode"]}
    if default:  # the mode that applies when none is written
        is_mode = {"anyOf": [is_mode, {"not": {"required": ["mode"]}}]}
    return {"if": is_mode, "then": {"required": [key]}}


# What each assistant_check mode needs (``Checker._assistant_check``), as schema conditions.
CONDITIONS: dict[type[Any], list[dict[str, Any]]] = {
    c.AssistantCheckStep: [
        _mode_needs("judge", "rubric", default=True),
        _mode_needs("includes", "includes"),
        _mode_needs("variable_check", "variablePath"),
    ],
}

# Ids the loader fills in when a file leaves them out (from the path, the file name, or
# ``<file>#<n>`` for tests), so the schema does not require them.
_DEFAULTED_IDS = frozenset({c.Assistant, c.Suite, c.TestCase, *typing.get_args(c.AuthConfig)})
_IGNORED = {"description": "accepted for lamdis-runs compatibility; ignored"}
_EXTENSION_KEYS: dict[str, Any] = {"^(\\$|x-)": {}}
_NONE = type(None)


def _case_insensitive(value: str) -> str:
    return "".join(f"[{ch.lower()}{ch.upper()}]" if ch.isalpha() else ch for ch in value)


def _literal(values: tuple[Any, ...]) -> dict[str, Any]:
    if all(isinstance(v, str) for v in values):
        # The loader lower-cases enum values, so `USER` is as good as `user`; the enum keeps
        # editors' completion, the pattern admits the other spellings.
        pattern = "^(?:" + "|".join(_case_insensitive(v) for v in values) + ")$"
        return {"type": "string", "anyOf": [{"enum": list(values)}, {"pattern": pattern}]}
    return {"enum": list(values)}


def _description(cls: type[Any]) -> str | None:
    doc = cls.__doc__
    if not doc or doc.startswith(cls.__name__ + "("):  # attrs' generated signature
        return None
    return " ".join(doc.strip().split("\n\n")[0].split())


class _Generator:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def ref(self, cls: type[Any]) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: recursion stops here
            self.defs[name] = self.object(cls)
        return {"$ref": f"#/$defs/{name}"}

    def type_(self, tp: Any) -> dict[str, Any]:
        if tp is Any:
            return {}
        if tp == c.Step:
            return {"anyOf": [self.ref(cls) for cls in c.STEP_TYPES.values()]}
        if tp == c.AuthConfig:
            return {"anyOf": [self.ref(cls) for cls in typing.get_args(c.AuthConfig)]}
        if tp == _SUITE_TESTS:
            return {"anyOf": [self.ref(c.SuiteTests), self.type_(list[c.TestCase])]}
        simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
        if tp in simple:
            return {"type": simple[tp]}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Literal:
            return _literal(args)
        if origin in (Union, types.UnionType):
            options = [self.type_(a) for a in args if a is not _NONE]
            if _NONE in args:
                options.append({"type": "null"})
            return options[0] if len(options) == 1 else {"anyOf": options}
        if origin is list:
            return {"type": "array", "items": self.type_(args[0]) if args else {}}
        if origin is dict:
            inner = self.type_(args[1]) if len(args) == 2 else {}
            return {"type": "object", "additionalProperties": inner}
        if isinstance(tp, type) and attrs.has(tp):
            if tp is c.Script:  # lamdis-runs stores a script as YAML text in places
                return {"anyOf": [self.ref(tp), {"type": "string"}]}
            return self.ref(tp)
        raise TypeError(f"no JSON Schema for {tp!r}")  # a new kind of field type: add it here

    def object(self, cls: type[Any]) -> dict[str, Any]:
        hints = _hints(cls)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for key, field in _fields(cls).items():
            schema = {**self.type_(hints[field.name]), **RANGES.get((cls, key), {})}
            is_step_type = key == "type" and cls in c.STEP_TYPES.values()
            if is_step_type:
                schema = _literal(typing.get_args(hints[field.name]))
            optional = field.default is not attrs.NOTHING
            if optional and not is_step_type:
                schema = {"anyOf": [schema, {"type": "null"}]}  # null means "not given"
                default: Any = field.default
                if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                    default = default.factory()
                if default is not None and isinstance(default, str | int | float | list | dict):
                    schema["default"] = default
            properties[key] = schema
            if is_step_type or (not optional and not (key == "id" and cls in _DEFAULTED_IDS)):
                required.append(key)
        for alias, key in _ALIASES.get(cls, {}).items():
            properties[alias] = {**properties[key], "description": f"the same as {key!r}"}
        for key in sorted(_TOLERATED.get(cls, frozenset())):
            properties.setdefault(key, dict(_IGNORED))
        out: dict[str, Any] = {"type": "object", "title": _NAMES.get(cls, cls.__name__)}
        description = _description(cls)
        if description:
            out["description"] = description
        out["properties"] = properties
        if required:
            out["required"] = required
        if cls in CONDITIONS:
            out["allOf"] = CONDITIONS[cls]
        out["patternProperties"] = _EXTENSION_KEYS
        # Unknown keys are only warnings to the loader; an editor flags them, which is the
        # point (a misspelt key is silently ignored otherwise).
        out["additionalProperties"] = False
        return out


def schema_for(kind: str) -> dict[str, Any]:
    """The JSON Schema of one file kind (``assistant``, ``auth``, ``test``, ``suite``,
    ``personas``, ``requests``)."""
    generator = _Generator()
    root = generator.type_(KIND_TYPES[kind])
    return {
        "$schema": DIALECT,
        "title": f"lamdis {kind} file",
        **root,
        "$defs": dict(sorted(generator.defs.items())),
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every kind's schema, keyed by :data:`FILE_NAMES`' file name."""
    return {FILE_NAMES[kind]: schema_for(kind) for kind in KIND_TYPES}


def schema_texts() -> dict[str, str]:
    """Every kind's schema as the text of its file, keyed by file name."""
    return {
        name: json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        for name, schema in all_schemas().items()
    }


def write_schemas(out_dir: Path) -> list[Path]:
    """Write every kind's schema into ``out_dir`` (created if needed); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_texts().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
