"""Pieces shared by the file loader and the document (hosted) loader.

Both turn plain data into config objects with :func:`structure`, check a test's persona and
request ids with :func:`check_test_refs`, collect ``${NAME}`` environment references with
:func:`env_refs_in`, and filter with :func:`select`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs
import cattrs

from lamdis_core.config._parse import format_path
from lamdis_core.config._schema import Checker, PathPart
from lamdis_core.config.interpolation import env_references
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import default_converter

Kind = Literal["suite", "test", "assistant", "auth", "personas", "requests"]
Report = Callable[[tuple[PathPart, ...], str, bool], None]
"""``report(json_path_parts, message, is_warning)``."""

KIND_TYPES: dict[str, Any] = {
    "suite": c.Suite,
    "test": c.TestFile,
    "assistant": c.Assistant,
    "auth": c.AuthConfig,
    "personas": c.PersonasFile,
    "requests": c.RequestsFile,
}
KIND_WORDS: dict[str, str] = {
    "suite": "a suite",
    "test": "a test file",
    "assistant": "an assistant file",
    "auth": "an auth file",
    "personas": "a personas file",
    "requests": "a requests file",
}


def detect_kind(data: Any, *, in_suites_folder: bool = False) -> Kind | None:
    """What a document is, judged by its keys (``None`` when it is no config document).

    Key presence, not value types, decides, so a broken file is still checked as what it
    was meant to be (and its problems reported) rather than skipped.
    """
    if not isinstance(data, dict):
        return None
    if "assistants" in data or isinstance(data.get("tests"), dict):
        return "suite"
    if "tests" in data:
        return "suite" if in_suites_folder else "test"
    if (
        data.get("kind") == "oauth_client_credentials"
        or "pattern" in data
        or "tokenUrl" in data
        or "clientId" in data
    ):
        return "auth"
    for key in ("personas", "requests"):
        if key in data:
            return key  # the key is the kind's name
    if "env" in data:
        return "assistant"
    if "headers" in data:
        return "auth"
    return None


def structure(
    data: Any,
    kind: str,
    report: Report,
    *,
    tolerated_top: frozenset[str] = frozenset({"$schema"}),
) -> Any:
    """Check ``data`` as a document of ``kind`` and build it; ``None`` when it has errors."""
    checker = Checker(tolerated_top=tolerated_top)
    tp = KIND_TYPES[kind]
    try:
        normalised = checker.check(data, tp) if kind == "auth" else checker.object(data, tp)
    except RecursionError:
        report((), "the document is nested too deeply", False)
        return None
    for path, message in checker.warnings:
        report(path, message, True)
    for path, message in checker.errors:
        report(path, message, False)
    if checker.errors:
        return None
    try:
        return default_converter().structure(normalised, tp)
    except Exception as exc:  # the check above should make this unreachable
        messages = cattrs.transform_error(exc, path="$")
        report((), "; ".join(messages) or f"cannot build {KIND_WORDS[kind]}: {exc}", False)
        return None


def default_test_ids(data: dict[str, Any], label: str) -> dict[str, Any]:
    """Give tests without an ``id`` one (``<file id or path>#<n>``), as lamdis-runs does."""
    tests = data.get("tests")
    if not isinstance(tests, list) or all(not isinstance(t, dict) or "id" in t for t in tests):
        return data
    named = [
        {"id": f"{label}#{i + 1}", **t} if isinstance(t, dict) and "id" not in t else t
        for i, t in enumerate(tests)
    ]
    return {**data, "tests": named}


def check_tests(tests: Sequence[c.TestCase], report: Report, prefix: tuple[PathPart, ...]) -> None:
    """Rules across the tests of one file: unique ids, something to send."""
    seen: dict[str, int] = {}
    for i, test in enumerate(tests):
        if test.id in seen:
            report(
                (*prefix, i, "id"),
                f"duplicate test id {test.id!r} in this file (first at "
                f"{format_path((*prefix, seen[test.id]))}); test ids must be unique within a file",
                False,
            )
        else:
            seen[test.id] = i
        if not test.steps and not test.script.messages and not test.objective:
            report(
                (*prefix, i),
                f"test {test.id!r} has nothing to send: give it steps, script.messages or an "
                "objective",
                False,
            )


def check_test_refs(
    tests: Sequence[c.TestCase],
    personas: Mapping[str, c.Persona],
    requests: Mapping[str, c.RequestDef],
    report: Report,
    prefix: tuple[PathPart, ...],
    *,
    persona_sources: Sequence[str] = (),
    request_sources: Sequence[str] = (),
) -> None:
    """Every ``personaId`` and ``requestId`` a test names must be defined by an import."""

    def persona(pid: str | None, where: tuple[PathPart, ...]) -> None:
        if pid is None or pid in personas:
            return
        report(where, _undefined("persona", pid, personas, persona_sources, "personas"), False)

    for i, test in enumerate(tests):
        base = (*prefix, i)
        persona(test.persona_id, (*base, "personaId"))
        for j, message in enumerate(test.script.messages):
            persona(message.persona_id, (*base, "script", "messages", j, "personaId"))
        for k, step in enumerate(test.steps):
            where = (*base, "steps", k)
            if isinstance(step, c.MessageStep):
                persona(step.persona_id, (*where, "personaId"))
            elif isinstance(step, c.RequestStep) and step.request_id not in requests:
                report(
                    (*where, "requestId"),
                    _undefined("request", step.request_id, requests, request_sources, "requests"),
                    False,
                )


def _undefined(
    what: str, name: str, known: Mapping[str, Any], sources: Sequence[str], field: str
) -> str:
    if not sources:
        return f"{what} {name!r} is not defined: this file imports no {field} (add imports.{field})"
    listed = ", ".join(sorted(known)) or "none"
    return (
        f"{what} {name!r} is not defined by the imported {field} "
        f"({', '.join(sources)}); defined there: {listed}"
    )


def env_refs_in(
    data: Any, path: tuple[PathPart, ...] = ()
) -> Iterator[tuple[str, tuple[PathPart, ...]]]:
    """``(NAME, json path)`` for every ``${NAME}`` environment reference inside ``data``."""
    if isinstance(data, str):
        for name in sorted(env_references(data)):
            yield name, path
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from env_refs_in(value, (*path, str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from env_refs_in(value, (*path, i))


def auth_provided_names(auth: c.AuthConfig | None) -> frozenset[str]:
    """Names a pattern auth defines in its ``env`` map; they are not environment variables."""
    if isinstance(auth, c.PatternAuth):
        return frozenset(auth.env)
    return frozenset()


def matches(test: c.TestCase, pattern: str) -> bool:
    """``--filter``: a glob (``*``, ``?``, ``[..]``) on the test id or name, else a substring;
    case-insensitive either way."""
    pat = pattern.lower()
    candidates = [test.id.lower(), (test.name or "").lower()]
    if any(ch in pat for ch in "*?["):
        return any(fnmatch.fnmatchcase(cand, pat) for cand in candidates)
    return any(pat in cand for cand in candidates)


def select(test: c.TestCase, name_filter: str | None, tags: Sequence[str]) -> bool:
    """Whether ``--filter`` and ``--tag`` keep ``test``."""
    if name_filter and not matches(test, name_filter):
        return False
    return not tags or bool(set(tags) & set(test.tags))


def with_file_auth(requests_file: c.RequestsFile) -> list[c.RequestDef]:
    """The file's requests, each carrying the file-level ``authRef`` when it names none."""
    if not requests_file.auth_ref:
        return list(requests_file.requests)
    return [
        r if r.effective_auth_ref else attrs.evolve(r, auth_ref=requests_file.auth_ref)
        for r in requests_file.requests
    ]
