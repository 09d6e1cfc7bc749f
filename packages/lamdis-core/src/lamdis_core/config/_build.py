"""Checks the config pipeline (``_pipeline``) applies to documents of either source.

It turns plain data into config objects with :func:`structure`, checks a test's persona and
request ids with :func:`check_test_refs`, collects ``${NAME}`` environment references with
:func:`env_refs_in`, and filters with :func:`select`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs
import cattrs

from lamdis_core.config._parse import format_path
from lamdis_core.config._schema import Checker, PathPart
from lamdis_core.config.interpolation import env_references, split_path
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
    tp: type[Any] | None = None,
) -> Any:
    """Check ``data`` as a document of ``kind`` (built as ``tp``, by default the kind's
    type) and build it; ``None`` when it has errors."""
    checker = Checker(tolerated_top=tolerated_top)
    tp = tp or KIND_TYPES[kind]
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


def check_tests(
    tests: Sequence[c.TestCase],
    report: Report,
    prefix: tuple[PathPart, ...],
    *,
    raw: Any = None,
) -> None:
    """Rules across the tests of one file: unique ids, something to send, ``json_path``
    sources that an earlier step sets, and iterative fields on stepped tests (``raw``, the
    file's ``tests`` list as written, tells which fields were given)."""
    seen: dict[str, int] = {}
    raw_tests = raw if isinstance(raw, list) else []
    for i, test in enumerate(tests):
        check_json_sources(test, report, (*prefix, i))
        written = raw_tests[i] if i < len(raw_tests) and isinstance(raw_tests[i], dict) else None
        if written is not None and test.steps:
            check_stepped_iterative_fields(test, written, report, (*prefix, i))
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


_SOURCE_ROOTS = ("var", "steps", "preSteps", "last", "lastAssistant", "lastUser")


def check_json_sources(test: c.TestCase, report: Report, base: tuple[PathPart, ...]) -> None:
    """A ``json_path`` step's ``source`` must name something an earlier step sets: ``var.x``
    (a request's ``assign`` or an ``extract``), ``steps.<id>.output`` (a request step's
    ``id``, else its ``assign``), ``last.request`` (any earlier request step)."""
    variables: list[str] = [v.key for v in test.variables]
    variables += [s.variable for s in test.pre_steps if s.variable]
    step_keys: list[str] = []
    requests = len(test.pre_steps)
    for k, step in enumerate(test.steps):
        if isinstance(step, c.RequestStep):
            requests += 1
            if step.variable:
                variables.append(step.variable)
            step_keys.append(step.id or step.variable or f"step{k}")
        elif isinstance(step, c.ExtractStep):
            variables.append(step.variable_name)
        elif isinstance(step, c.JsonPathStep):
            problem = _source_problem(step.source, variables, step_keys, requests)
            if problem:
                report((*base, "steps", k, "source"), problem, False)


def _source_problem(
    source: str, variables: list[str], step_keys: list[str], requests: int
) -> str | None:
    parts = split_path(source)
    root = parts[0] if parts else ""
    if root not in _SOURCE_ROOTS:
        import difflib  # only for a mistake's suggestion

        close = difflib.get_close_matches(str(root), _SOURCE_ROOTS, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"json_path source {source!r} starts with {root!r}{hint}; expected var.<name>, "
            "steps.<id>.output or last.request"
        )
    name = str(parts[1]) if len(parts) > 1 else None
    if root == "var":
        if name is None:
            return (
                None
                if variables
                else (f"json_path source {source!r}: no earlier step sets a variable")
            )
        if name not in variables:
            known = ", ".join(variables) or "none"
            return (
                f"json_path source {source!r}: no earlier step sets var.{name} (an earlier "
                f"request step's assign or an extract's variableName; set so far: {known})"
            )
    elif root == "steps":
        if name is None or name not in step_keys:
            known = ", ".join(step_keys) or "none"
            return (
                f"json_path source {source!r}: no earlier request step has "
                f"{'an id' if name is None else f'id {name!r}'} (earlier: {known})"
            )
    elif root == "last" and name == "request" and not requests:
        return f"json_path source {source!r}: no request step runs before it"
    return None


# ``iterate`` is not here: lamdis-runs' own files write ``iterate: true`` beside steps, and
# the README documents that steps never iterate whatever it says.
_ITERATIVE_ONLY = ("continueAfterPass",)


def check_stepped_iterative_fields(
    test: c.TestCase, written: Mapping[str, Any], report: Report, base: tuple[PathPart, ...]
) -> None:
    """Iterative fields on a test with steps: ``maxTurns``/``minTurns`` bound the user turns
    it sends (checked here); ``continueAfterPass`` does nothing there (a warning); ``iterate``
    is accepted and documented as having no effect."""
    objectives = [s for s in test.steps if isinstance(s, c.UserObjectiveStep)]
    # A user_objective step sends at least its minTurns; how many more is the judge's call.
    sent = (
        sum(1 for m in test.script.messages if m.role == "user")
        + sum(1 for s in test.steps if isinstance(s, c.MessageStep) and s.role == "user")
        + sum(s.min_turns for s in objectives)
    )
    if "maxTurns" in written and sent > test.max_turns:
        report(
            (*base, "maxTurns"),
            f"maxTurns is {test.max_turns}, but this test's script and message steps send "
            f"{sent} user turns; on a test with steps maxTurns caps the turns it sends "
            "(raise it, or drop it)",
            False,
        )
    if "minTurns" in written and sent < test.min_turns and not objectives:
        report(
            (*base, "minTurns"),
            f"minTurns is {test.min_turns}, but this test's script and message steps send only "
            f"{sent} user turns; on a test with steps minTurns is the least it must send",
            False,
        )
    for field in _ITERATIVE_ONLY:
        if field in written:
            report(
                (*base, field),
                f"{field} has no effect on a test with steps (the steps decide every turn); it "
                "applies to iterative tests, which have no steps",
                True,
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
        located: list[tuple[tuple[str, int], c.Step]]
        located = [(("preSteps", k), s) for k, s in enumerate(test.pre_steps)]
        located += [(("steps", k), s) for k, s in enumerate(test.steps)]
        for place, step in located:
            where = (*base, *place)
            if isinstance(step, c.MessageStep | c.UserObjectiveStep):
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
