"""``{{placeholder}}`` templates for what a channel sends: URL paths, headers, bodies, frames.

A template is any JSON value; every string in it may hold placeholders. A string that is
*exactly* one placeholder takes the value's own type (``"{{messages}}"`` becomes a list), so a
body template can put the conversation anywhere a bot wants it. Placeholders:

==================== ==================================================================
``message``          the user message of this turn
``transcript``       the conversation so far, lamdis form ``[{role, content, personaId?}]``
``messages``         OpenAI form ``[{role, content}]``: system prompts, the conversation and
                     this turn's message last
``persona``          the persona text (empty when the test has none)
``personaId``        the persona id
``turn``             the 1-based index of this user turn in the conversation
``conversationId``   an id lamdis makes per conversation (also the W3C trace id)
``session.NAME``     a value kept from the session request or an earlier reply
``var.PATH``         a run variable (``var.account.id``), set by request and extract steps
``inputs.NAME``      a field a message step's ``assistantInputMappings`` gives this turn
==================== ==================================================================

``${NAME}`` environment references are separate: channels resolve them once, when the run
starts, so a missing variable stops the run before any turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from lamdis_core.config.interpolation import MISSING, lookup, to_text

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
SIMPLE_NAMES = frozenset(
    {"message", "transcript", "messages", "persona", "personaId", "turn", "conversationId"}
)
PREFIXES = ("session.", "var.", "inputs.")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+|\[\d+\])*")


class TemplateError(LookupError):
    """A placeholder with no value at render time (a session value never kept, say)."""


def placeholder_problem(name: str) -> str | None:
    """Why ``name`` is not a valid placeholder, or ``None`` when it is."""
    if name in SIMPLE_NAMES:
        return None
    for prefix in PREFIXES:
        if name.startswith(prefix) and _PATH.fullmatch(name[len(prefix) :]):
            return None
    known = ", ".join(sorted(SIMPLE_NAMES)) + ", session.NAME, var.PATH, inputs.NAME"
    return f"unknown placeholder {{{{{name}}}}}; expected one of: {known}"


def template_problems(
    value: Any, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every unknown placeholder inside ``value``, with the path of the string holding it."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            problem = placeholder_problem(match.group(1))
            if problem:
                problems.append((path, problem))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            problems.extend(template_problems(item, (*path, str(key))))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.extend(template_problems(item, (*path, index)))
    return problems


def session_references(
    value: Any, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every ``session.NAME`` a template reads, with the path of the string that reads it."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            if match.group(1).startswith("session."):
                name = match.group(1)[len("session.") :].split(".")[0].split("[")[0]
                found.append((path, name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(session_references(item, (*path, str(key))))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(session_references(item, (*path, index)))
    return found


def render(value: Any, values: Mapping[str, Any]) -> Any:
    """Fill every placeholder in ``value`` from ``values`` (keys as in the table above, with
    ``session`` and ``var`` as mappings). Text placed inside a longer string is never
    scanned again, so a user message holding ``{{...}}`` stays as written.

    Raises:
        TemplateError: a ``session.`` or ``var.`` placeholder has no value.
    """

    def resolve(name: str) -> Any:
        if name in SIMPLE_NAMES:
            return values.get(name)
        found = lookup(values, name)
        if found is MISSING:
            root = name.split(".", 1)[0]
            held = values.get(root)
            known = ", ".join(sorted(held)) if isinstance(held, Mapping) and held else "none"
            raise TemplateError(f"{{{{{name}}}}} has no value (known {root} values: {known})")
        return found

    return _render(value, resolve)


def _render(value: Any, resolve: Callable[[str], Any]) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return resolve(whole.group(1))
        return PLACEHOLDER.sub(lambda m: to_text(resolve(m.group(1))), value)
    if isinstance(value, Mapping):
        return {k: _render(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, resolve) for v in value]
    return value
