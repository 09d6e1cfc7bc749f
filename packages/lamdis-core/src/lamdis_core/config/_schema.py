"""Checking plain data against the attrs config model before cattrs builds objects.

cattrs is lenient where a test file must not be (``str(5)`` is a fine string to it, and a
string is a fine list of characters), and its errors name Python types. This walk checks
every value against the field types of :mod:`lamdis_core.domain.config`, collects *every*
problem with its JSON path and what was expected, warns about unknown keys (with a
did-you-mean), and returns a normalised copy that the converter then structures without
surprises.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

import attrs

from lamdis_core.cron import schedule_problems
from lamdis_core.domain import config as c
from lamdis_core.domain.base import Record
from lamdis_core.domain.convert import camel
from lamdis_core.generators import expression_problems

PathPart = str | int
Path_ = tuple[PathPart, ...]


class _Bad:
    """Stands in for a value that failed its check."""

    def __repr__(self) -> str:
        return "BAD"


BAD: Any = _Bad()

# Spellings accepted besides the camelCase field name. lamdis-runs' requests files write the
# HTTP part in snake_case (``base_url``, ``full_url``); both forms are accepted.
_ALIASES: dict[type[Any], dict[str, str]] = {
    c.HttpSpec: {"base_url": "baseUrl", "full_url": "fullUrl", "timeout_ms": "timeoutMs"},
    # The names promptfoo's HTTP/WebSocket providers and the newer lamdis engine use.
    c.ChannelRequest: {"queryParams": "query"},
    c.ChannelResponse: {"responseFieldPath": "reply", "toolCallsPath": "toolCalls"},
    c.SseSpec: {"finishPath": "done"},
    c.WebSocketSpec: {
        "messageTemplate": "message",
        "messageField": "contentPath",
        "timeoutMs": "idleMs",
    },
}

# Channel options are read by code, not people skimming a lamdis-runs file: a misspelt one
# would silently change what is sent, so an unknown key there is an error, not a warning.
_STRICT: frozenset[type[Any]] = frozenset(
    {
        c.ChannelRequest,
        c.ChannelResponse,
        c.ChannelSession,
        c.SessionStart,
        c.KeepValue,
        c.Condition,
        c.SseSpec,
        c.WebSocketSpec,
    }
)
# Enum spellings other lamdis versions write: the newer lamdis says ``severity: warning``.
_LITERAL_ALIASES = {"warning": "warn"}

# Keys lamdis-runs files carry that lamdis has no use for: accepted without a warning.
# The field's own default, read once: the warning about long scripts must use the same number.
_DEFAULT_MAX_TURNS: int = c.TestCase(id="_").max_turns

_TOLERATED: dict[type[Any], frozenset[str]] = {
    c.Assistant: frozenset({"inputSchema", "outputSchema", "description"}),
    c.PersonasFile: frozenset({"id", "name", "description"}),
    c.RequestsFile: frozenset({"id", "name", "description"}),
    c.TestFile: frozenset({"description", "orgId", "suite"}),
    c.Suite: frozenset({"env", "name", "orgId"}),
    c.TestCase: frozenset({"description"}),
}

_NAMES: dict[type[Any], str] = {
    c.Assistant: "assistant",
    c.AssistantEnv: "assistant env",
    c.AuthRef: "auth reference",
    c.StaticAuth: "static auth",
    c.PatternAuth: "pattern auth",
    c.AuthPattern: "auth pattern",
    c.OAuthClientCredentials: "OAuth client-credentials auth",
    c.AuthApply: "auth apply",
    c.ChannelRequest: "request",
    c.ChannelResponse: "response",
    c.ChannelSession: "session",
    c.SessionStart: "session start",
    c.KeepValue: "keep",
    c.Condition: "condition",
    c.SseSpec: "sse",
    c.WebSocketSpec: "websocket",
    c.HttpSpec: "transport.http",
    c.Transport: "transport",
    c.RequestDef: "request",
    c.RequestsFile: "requests file",
    c.Persona: "persona",
    c.PersonasFile: "personas file",
    c.ScriptMessage: "script message",
    c.Script: "script",
    c.JudgeConfig: "judgeConfig",
    c.TestCase: "test",
    c.Imports: "imports",
    c.TestFile: "test file",
    c.SuiteAssistants: "suite assistants",
    c.SuiteTests: "suite tests",
    c.Suite: "suite",
    c.TestVariable: "test variable",
    c.Schedule: "schedule",
}
for _type_name, _cls in c.STEP_TYPES.items():
    _NAMES[_cls] = f"{_type_name} step"

_SUITE_TESTS = c.SuiteTests | list[c.TestCase]
_NONE = type(None)


_HINTS: dict[type[Any], dict[str, Any]] = {}
_FIELDS: dict[type[Any], dict[str, attrs.Attribute[Any]]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _fields(cls: type[Any]) -> dict[str, attrs.Attribute[Any]]:
    """Fields by the key a file uses (camelCase)."""
    if cls not in _FIELDS:
        _FIELDS[cls] = {camel(f.name): f for f in attrs.fields(cls)}
    return _FIELDS[cls]


def describe(tp: Any) -> str:
    """What a value of type ``tp`` looks like, in words."""
    if tp is Any:
        return "any value"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp == c.Step:
        return "a step object with a 'type'"
    if tp == c.AuthConfig:
        return "an auth object"
    if tp == _SUITE_TESTS:
        return "an object {includeFiles, includeIds} or a list of tests"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        parts = [describe(a) for a in args if a is not _NONE]
        return " or ".join(parts)
    if origin is list:
        inner = args[0] if args else Any
        if inner is str:
            return "a list of strings"
        if inner == c.Step:
            return "a list of steps"
        if attrs.has(inner):
            return f"a list of {_NAMES.get(inner, inner.__name__)} objects"
        return "a list"
    if origin is dict:
        if len(args) == 2 and args[1] is str:
            return "an object whose values are strings"
        return "an object"
    if isinstance(tp, type) and attrs.has(tp):
        return f"a {_NAMES.get(tp, tp.__name__)} object"
    return getattr(tp, "__name__", str(tp))


def got(value: Any) -> str:
    """How a value reads in a message: its kind and, when short, the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


MAX_JUDGE_SAMPLES = 25
"""The most samples a rubric check may ask for (each one is a judge call)."""


@attrs.define(repr=False, eq=False)
class Checker(Record):
    """One walk over one document. Problems land in ``errors`` and ``warnings``."""

    errors: list[tuple[Path_, str]] = attrs.Factory(list)
    warnings: list[tuple[Path_, str]] = attrs.Factory(list)
    tolerated_top: frozenset[str] = frozenset()

    def error(self, path: Path_, message: str) -> Any:
        self.errors.append((path, message))
        return BAD

    def check(self, value: Any, tp: Any, path: Path_ = ()) -> Any:
        """Check ``value`` against ``tp``; return a normalised copy, or :data:`BAD`."""
        if tp is Any:
            return value
        if tp == c.Step:
            return self._step(value, path)
        if tp == c.AuthConfig:
            return self._auth(value, path)
        if tp == _SUITE_TESTS:
            if isinstance(value, list):
                return self.check(value, list[c.TestCase], path)
            if isinstance(value, dict):
                return self.check(value, c.SuiteTests, path)
            return self.error(path, f"expected {describe(tp)}, got {got(value)}")
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Literal:
            if isinstance(value, str) and _LITERAL_ALIASES.get(value.lower()) in args:
                return _LITERAL_ALIASES[value.lower()]
            if isinstance(value, str) and value not in args and value.lower() in args:
                return value.lower()
            if value in args and type(value) is type(args[0]):
                return value
            return self.error(path, f"expected {describe(tp)}, got {got(value)}")
        if origin in (Union, types.UnionType):
            if value is None and _NONE in args:
                return None
            options = [a for a in args if a is not _NONE]
            if len(options) == 1:
                return self.check(value, options[0], path)
            for option in options:
                trial = Checker()
                result = trial.check(value, option, path)
                if not trial.errors:
                    self.warnings.extend(trial.warnings)
                    return result
            return self.error(path, f"expected {describe(tp)}, got {got(value)}")
        if origin is list:
            if not isinstance(value, list):
                hint = ""
                if isinstance(value, str) and args and args[0] is str:
                    hint = f' (write ["{value}"] for a single item)' if len(value) < 40 else ""
                return self.error(path, f"expected {describe(tp)}, got {got(value)}{hint}")
            inner = args[0] if args else Any
            return [self.check(item, inner, (*path, i)) for i, item in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                return self.error(path, f"expected {describe(tp)}, got {got(value)}")
            inner = args[1] if len(args) == 2 else Any
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    self.error(path, f"keys must be strings, got {got(key)}")
                    continue
                out[key] = self.check(item, inner, (*path, key))
            return out
        if tp is str:
            if isinstance(value, str):
                return value
            hint = " (quote it to make it a string)" if isinstance(value, int | float) else ""
            return self.error(path, f"expected a string, got {got(value)}{hint}")
        if tp is bool:
            if isinstance(value, bool):
                return value
            return self.error(path, f"expected true or false, got {got(value)}")
        if tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return self.error(path, f"expected an integer, got {got(value)}")
        if tp is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                if value != value or value in (float("inf"), float("-inf")):
                    return self.error(path, f"expected a finite number, got {value!r}")
                return value
            return self.error(path, f"expected a number, got {got(value)}")
        if isinstance(tp, type) and attrs.has(tp):
            return self.object(value, tp, path)
        return value

    def object(
        self,
        value: Any,
        cls: type[Any],
        path: Path_ = (),
        *,
        tolerated: frozenset[str] = frozenset(),
    ) -> Any:
        """Check one attrs object; unknown keys are warnings, missing required ones errors."""
        if cls is c.Script and isinstance(value, str):
            # lamdis-runs stores a script as YAML text in some places; accept that form.
            import yaml

            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                return self.error(path, "script is a string but not valid YAML; expected an object")
        if not isinstance(value, dict):
            return self.error(path, f"expected {describe(cls)}, got {got(value)}")
        fields = _fields(cls)
        hints = _hints(cls)
        aliases = _ALIASES.get(cls, {})
        allowed = tolerated | _TOLERATED.get(cls, frozenset())
        if not path:
            allowed = allowed | self.tolerated_top
        name = _NAMES.get(cls, cls.__name__)
        out: dict[str, Any] = {}
        for raw_key, item in value.items():
            if not isinstance(raw_key, str):
                self.error(path, f"keys must be strings, got {got(raw_key)}")
                continue
            key = aliases.get(raw_key, raw_key)
            field = fields.get(key)
            if field is None:
                if raw_key in allowed or raw_key.startswith(("$", "x-")):
                    continue
                if cls in _STRICT:
                    message = self._unknown(raw_key, name, fields)
                    self.error((*path, raw_key), message.replace(" (ignored)", "", 1))
                    continue
                self.warnings.append(((*path, raw_key), self._unknown(raw_key, name, fields)))
                continue
            if key in out:
                self.error((*path, raw_key), f"{key!r} is given twice (as {raw_key!r} too)")
                continue
            if item is None and field.default is not attrs.NOTHING:
                continue  # null means "not given": the default applies
            out[key] = self.check(item, hints[field.name], (*path, raw_key))
        for key, field in fields.items():
            if field.default is attrs.NOTHING and key not in out:
                self.error(
                    (*path, key),
                    f"{name}: missing required field {key!r} "
                    f"(expected {describe(hints[field.name])})",
                )
        self._semantics(cls, out, path)
        return out

    @staticmethod
    def _unknown(key: str, name: str, fields: Mapping[str, Any]) -> str:
        known = list(fields)
        message = f"unknown key {key!r} in {name} (ignored)"
        spelled = camel(key)
        if spelled in fields and spelled != key:
            suggestion: str | None = spelled
        else:
            import difflib  # only for a mistake's suggestion

            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            suggestion = close[0] if close else None
        if suggestion:
            return f"{message}; did you mean {suggestion!r}? Known keys: {', '.join(known)}"
        return f"{message}; known keys: {', '.join(known)}"

    def _step(self, value: Any, path: Path_) -> Any:
        known = ", ".join(c.STEP_TYPES)
        if not isinstance(value, dict):
            return self.error(path, f"expected a step object with a 'type', got {got(value)}")
        step_type = value.get("type")
        if step_type is None:
            return self.error((*path, "type"), f"step has no 'type'; expected one of: {known}")
        if not isinstance(step_type, str):
            return self.error((*path, "type"), f"step type must be a string, got {got(step_type)}")
        cls = c.STEP_TYPES.get(step_type) or c.STEP_TYPES.get(step_type.lower())
        if cls is None:
            import difflib

            close = difflib.get_close_matches(step_type, list(c.STEP_TYPES), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return self.error(
                (*path, "type"), f"unknown step type {step_type!r}{hint}; expected one of: {known}"
            )
        return self.object({**value, "type": step_type.lower()}, cls, path)

    def _auth(self, value: Any, path: Path_) -> Any:
        if not isinstance(value, dict):
            return self.error(path, f"expected an auth object, got {got(value)}")
        kind = value.get("kind")
        cls: type[Any]
        if kind is not None and kind != "oauth_client_credentials":
            return self.error(
                (*path, "kind"),
                f"unknown auth kind {kind!r}; expected 'oauth_client_credentials' "
                "(or no kind for the static and pattern forms)",
            )
        if kind == "oauth_client_credentials":
            cls = c.OAuthClientCredentials
        elif "pattern" in value:
            cls = c.PatternAuth
        elif "headers" in value:
            cls = c.StaticAuth
        else:
            return self.error(
                path,
                "cannot tell which auth form this is; expected static {id, headers}, "
                "pattern {id, env, pattern} or {id, kind: oauth_client_credentials, clientId, "
                "clientSecret, tokenUrl, ...}",
            )
        return self.object(value, cls, path)

    def _semantics(self, cls: type[Any], out: dict[str, Any], path: Path_) -> None:
        """Range and consistency rules the types alone cannot say."""
        threshold = out.get("threshold")
        if (
            cls in (c.AssistantCheckStep, c.JudgeConfig)
            and isinstance(threshold, int | float)
            and not 0 <= threshold <= 1
        ):
            self.error((*path, "threshold"), f"threshold must be between 0 and 1, got {threshold}")
        samples = out.get("samples")
        if (
            cls in (c.AssistantCheckStep, c.JudgeConfig)
            and isinstance(samples, int)
            and not isinstance(samples, bool)
            and not 1 <= samples <= MAX_JUDGE_SAMPLES
        ):
            self.error(
                (*path, "samples"),
                f"samples must be between 1 and {MAX_JUDGE_SAMPLES} (how many times the judge "
                f"is asked), got {samples}",
            )
        if cls is c.TestCase:
            rate = out.get("minPassRate")
            if isinstance(rate, int | float) and not isinstance(rate, bool) and not 0 <= rate <= 1:
                self.error(
                    (*path, "minPassRate"),
                    f"minPassRate must be between 0 and 1 (a share of the runs), got {rate}",
                )
            max_turns, min_turns = out.get("maxTurns"), out.get("minTurns")
            if isinstance(max_turns, int) and max_turns < 1:
                self.error((*path, "maxTurns"), f"maxTurns must be at least 1, got {max_turns}")
            if isinstance(min_turns, int) and min_turns < 1:
                self.error((*path, "minTurns"), f"minTurns must be at least 1, got {min_turns}")
            if (
                isinstance(max_turns, int)
                and isinstance(min_turns, int)
                and min_turns > max_turns >= 1
            ):
                self.error(
                    (*path, "minTurns"),
                    f"minTurns ({min_turns}) is larger than maxTurns ({max_turns})",
                )
            script = out.get("script")
            messages = script.get("messages") if isinstance(script, dict) else None
            limit = max_turns if isinstance(max_turns, int) else _DEFAULT_MAX_TURNS
            if not out.get("steps") and isinstance(messages, list) and limit >= 1:
                users = sum(
                    1 for m in messages if isinstance(m, dict) and m.get("role", "user") == "user"
                )
                if users > limit:
                    self.warnings.append(
                        (
                            (*path, "script", "messages"),
                            f"the script holds {users} user messages but maxTurns is {limit}: "
                            f"scripted messages count toward maxTurns, so only the first "
                            f"{limit} are sent; raise maxTurns or shorten the script",
                        )
                    )
        if cls is c.RegexStep:
            flags = out.get("flags", "")
            if isinstance(flags, str) and set(flags) - set("imsx"):
                self.error(
                    (*path, "flags"), f"regex flags may only use i, m, s and x, got {flags!r}"
                )
            pattern = out.get("pattern")
            if isinstance(pattern, str):
                try:
                    re.compile(pattern, re.VERBOSE if "x" in str(flags) else 0)
                except re.error as exc:
                    self.error((*path, "pattern"), f"invalid regular expression: {exc}")
        if cls is c.AssistantCheckStep:
            self._assistant_check(out, path)
        if cls is c.UserObjectiveStep:
            self._user_objective(out, path)
        if cls is c.Schedule:
            for key, problem in schedule_problems(out):
                self.error((*path, key), problem)
        if cls is c.TestVariable:
            for problem in expression_problems(out.get("value")):
                self.error((*path, "value"), problem)
        if cls is c.LatencyStep:
            for key in ("maxMs", "ttftMs"):
                bound = out.get(key)
                if isinstance(bound, int | float) and bound <= 0:
                    self.error((*path, key), f"{key} must be greater than 0, got {bound}")
            if "maxMs" not in out and "ttftMs" not in out:
                self.error(
                    path, "latency step: give maxMs (whole reply) and/or ttftMs (first token)"
                )
        _channel_semantics(self, cls, out, path)

    def _assistant_check(self, out: dict[str, Any], path: Path_) -> None:
        """What each mode needs: judge a rubric, includes keywords, variable_check a path."""
        mode = out.get("mode", "judge")
        if mode == "judge" and not (isinstance(out.get("rubric"), str) and out["rubric"].strip()):
            self.error((*path, "rubric"), "assistant_check (mode judge) needs a rubric")
        elif mode == "includes":
            raw = out.get("includes")
            items = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
            if raw is not BAD and not any(isinstance(k, str) and k.strip() for k in items):
                self.error(
                    (*path, "includes"),
                    "assistant_check (mode includes) needs includes: comma-separated keywords "
                    "or a list of them",
                )
        elif mode == "variable_check":
            variable = out.get("variablePath")
            if not (isinstance(variable, str) and variable.strip()):
                self.error(
                    (*path, "variablePath"),
                    "assistant_check (mode variable_check) needs variablePath "
                    "(a path such as var.order.items[0].id)",
                )
            operator = out.get("operator", "eq")
            right = out.get("rightValue", out.get("expectEquals"))
            if operator == "regex" and isinstance(right, str) and "${" not in right:
                try:
                    re.compile(right)
                except re.error as exc:
                    self.error(
                        (*path, "rightValue" if "rightValue" in out else "expectEquals"),
                        f"invalid regular expression for operator regex: {exc}",
                    )

    def _user_objective(self, out: dict[str, Any], path: Path_) -> None:
        goal = out.get("objective") or out.get("description")
        if not (isinstance(goal, str) and goal.strip()):
            self.error(
                (*path, "objective"),
                "user_objective needs an objective (or description): the goal the simulated "
                "user pursues",
            )
        max_turns, min_turns = out.get("maxTurns"), out.get("minTurns")
        if isinstance(max_turns, int) and max_turns < 1:
            self.error((*path, "maxTurns"), f"maxTurns must be at least 1, got {max_turns}")
        if isinstance(min_turns, int) and min_turns < 1:
            self.error((*path, "minTurns"), f"minTurns must be at least 1, got {min_turns}")
        if isinstance(max_turns, int) and isinstance(min_turns, int) and min_turns > max_turns >= 1:
            self.error(
                (*path, "minTurns"),
                f"minTurns ({min_turns}) is larger than maxTurns ({max_turns}); expected "
                "minTurns <= maxTurns",
            )


def _channel_semantics(checker: Checker, cls: type[Any], out: dict[str, Any], path: Path_) -> None:
    """JSONPaths compile, templates name known placeholders, sources name one place."""
    from lamdis_core.jsonpath import check_path
    from lamdis_core.template import template_problems

    def json_path(key: str) -> None:
        value = out.get(key)
        if isinstance(value, str) and (problem := check_path(value)):
            checker.error((*path, key), problem)

    if cls is c.Condition:
        json_path("path")
        matches = out.get("matches")
        if isinstance(matches, str):
            try:
                re.compile(matches)
            except re.error as exc:
                checker.error((*path, "matches"), f"invalid regular expression: {exc}")
    elif cls is c.KeepValue:
        given = [key for key in ("path", "header", "cookie") if isinstance(out.get(key), str)]
        if len(given) != 1:
            checker.error(
                path,
                "keep: give exactly one of path (a JSONPath on the body), header or cookie"
                + (f", got {', '.join(given)}" if given else ""),
            )
        json_path("path")
    elif cls in (c.ChannelResponse, c.SseSpec, c.WebSocketSpec):
        for key in ("reply", "toolCalls", "contentPath", "statusPath", "retryAfterPath"):
            json_path(key)
        if cls is c.SseSpec and isinstance(out.get("events"), dict):
            for event, event_path in out["events"].items():
                if isinstance(event_path, str) and (problem := check_path(event_path)):
                    checker.error((*path, "events", event), problem)
    if cls is c.ChannelRequest or cls is c.WebSocketSpec:
        for key in ("path", "url", "query", "headers", "body", "message"):
            if key in out:
                for where, problem in template_problems(out[key], (*path, key)):
                    checker.error(where, problem)
        method = out.get("method")
        if isinstance(method, str) and method.upper() not in _METHODS:
            checker.error(
                (*path, "method"),
                f"unknown HTTP method {method!r}; expected one of: {', '.join(sorted(_METHODS))}",
            )
        if out.get("bodyFormat") == "form" and "body" in out and not isinstance(out["body"], dict):
            checker.error((*path, "body"), "bodyFormat form needs an object body (name: value)")
        if out.get("bodyFormat") == "text" and "body" in out and not isinstance(out["body"], str):
            checker.error((*path, "body"), "bodyFormat text needs a string body")
        if isinstance(out.get("idleMs"), int) and out["idleMs"] <= 0:
            checker.error((*path, "idleMs"), f"idleMs must be greater than 0, got {out['idleMs']}")
    if cls is c.Assistant:
        _session_values_are_kept(checker, out, path)
        env = out.get("env")
        channel = env.get("channel", "http_chat") if isinstance(env, dict) else "http_chat"
        for key, wanted in (("sse", "sse"), ("websocket", "websocket")):
            if key in out and channel != wanted:
                checker.error(
                    (*path, key),
                    f"{key} options apply to the {wanted} channel, but env.channel is "
                    f"{channel!r}; set env.channel to {wanted!r} or remove {key}",
                )
    if cls is c.ToolCalledStep and isinstance(out.get("times"), int) and out["times"] < 0:
        checker.error((*path, "times"), f"times must be 0 or more, got {out['times']}")


def _session_values_are_kept(checker: Checker, out: dict[str, Any], path: Path_) -> None:
    """``{{session.NAME}}`` must name a value some ``keep`` stores; the session start request
    runs before anything is kept, so it may read none."""
    from lamdis_core.template import session_references

    def keys(value: Any) -> set[str]:
        return set(value) if isinstance(value, dict) else set()

    def mapping(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    session = mapping(out.get("session"))
    start = mapping(session.get("start"))
    response = mapping(out.get("response"))
    kept = keys(start.get("keep")) | keys(response.get("keep"))
    where = [
        (out.get("request"), ("request",), kept),
        (session.get("close"), ("session", "close"), kept),
        (out.get("websocket"), ("websocket",), kept),
        (start.get("request"), ("session", "start", "request"), set()),
    ]
    for value, prefix, known in where:
        for at, name in session_references(value, (*path, *prefix)):
            if name not in known:
                shown = ", ".join(sorted(known)) or "none"
                checker.error(
                    at,
                    f"{{{{session.{name}}}}} is never kept (kept: {shown}); add it to "
                    "session.start.keep or response.keep, e.g. "
                    f"{name}: {{path: $.{name}}}",
                )


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
