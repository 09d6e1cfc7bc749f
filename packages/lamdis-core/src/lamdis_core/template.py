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

from lamdis_core.config.interpolation import MISSING, lookup, split_path, to_text

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


Compiled = Callable[[Mapping[str, Any]], Any]
"""A template worked out once: call it with a turn's values to fill it."""


def render(value: Any, values: Mapping[str, Any]) -> Any:
    """Fill every placeholder in ``value`` from ``values`` (keys as in the table above, with
    ``session`` and ``var`` as mappings). Text placed inside a longer string is never
    scanned again, so a user message holding ``{{...}}`` stays as written.

    Raises:
        TemplateError: a ``session.`` or ``var.`` placeholder has no value.
    """
    return compile_template(value)(values)


def compile_template(value: Any) -> Compiled:
    """:func:`render` with the template scanned once, for a template filled on every turn.
    Each call builds new containers, so a caller may change what it gets."""
    if isinstance(value, str):
        if "{{" not in value:
            return lambda _values: value
        whole = PLACEHOLDER.fullmatch(value)
        if whole:
            return _getter(whole.group(1))
        pieces = PLACEHOLDER.split(value)  # text, name, text, name, ..., text
        texts = pieces[0::2]
        getters = [_getter(name) for name in pieces[1::2]]

        def fill(values: Mapping[str, Any]) -> str:
            out = [texts[0]]
            for get, text in zip(getters, texts[1:], strict=True):
                out.append(to_text(get(values)))
                out.append(text)
            return "".join(out)

        return fill
    if isinstance(value, Mapping):
        members = [(key, compile_template(item)) for key, item in value.items()]
        return lambda values: {key: fill(values) for key, fill in members}
    if isinstance(value, list):
        items = [compile_template(item) for item in value]
        return lambda values: [fill(values) for fill in items]
    return lambda _values: value


def _getter(name: str) -> Compiled:
    if name in SIMPLE_NAMES:
        return lambda values: values.get(name)
    parts = split_path(name)
    root = name.split(".", 1)[0]

    def get(values: Mapping[str, Any]) -> Any:
        found = lookup(values, parts)
        if found is MISSING:
            held = values.get(root)
            known = ", ".join(sorted(held)) if isinstance(held, Mapping) and held else "none"
            raise TemplateError(f"{{{{{name}}}}} has no value (known {root} values: {known})")
        return found

    return get
