"""Interpolation of ``${path}``, ``$path``, ``${ENV}`` and ``{name}`` in configuration values.

Three kinds of reference, as in lamdis-runs:

- ``${var.acct.id}`` / ``$var.acct.id`` — a path into the run context (``var``, ``steps``,
  ``last``, ``lastAssistant``, ``lastUser``, ``input``). Segments are separated by dots;
  ``[n]`` or a numeric segment indexes a list. A string that is *exactly* one ``${...}``
  reference keeps the referenced value's type (a number stays a number).
- ``${NAME}`` — an environment variable, in auth files and assistant/request headers.
- ``{name}`` — in request paths, headers and bodies, ``input.name``.

A reference that resolves to nothing is an :class:`InterpolationError` when ``strict`` (auth,
URLs) and empty text otherwise.

Every template is read once: what a reference resolves to is pasted in as data and never
scanned again. A reply, a judge's message or a request result that contains ``${NAME}`` is
therefore sent as those characters, never replaced by the environment variable ``NAME``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from lamdis_core.config.env_policy import RestrictedEnv
from lamdis_core.domain.errors import InterpolationError

CONTEXT_ROOTS = ("var", "steps", "preSteps", "last", "lastAssistant", "lastUser", "input")

_BRACED = re.compile(r"\$\{\s*([^{}]+?)\s*\}")
_BARE = re.compile(
    r"\$(" + "|".join(CONTEXT_ROOTS) + r")((?:\.[A-Za-z0-9_\-]+|\[\d+\])*)(?![A-Za-z0-9_])"
)
_PLACEHOLDER = re.compile(r"(?<![$\w{])\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEGMENT = re.compile(r"[^.\[\]]+|\[\d+\]")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def split_path(path: str) -> list[str | int]:
    """``a.b[0].c`` -> ``["a", "b", 0, "c"]``. A leading ``$.`` (JSON path root) is dropped."""
    path = path.strip()
    if path.startswith("$"):
        path = path[1:]
    parts: list[str | int] = []
    for token in _SEGMENT.findall(path):
        if token.startswith("["):
            parts.append(int(token[1:-1]))
        else:
            parts.append(int(token) if token.isdigit() else token)
    return parts


@functools.lru_cache(maxsize=1024)
def _split_cached(path: str) -> tuple[str | int, ...]:
    # Templates look the same few paths up on every turn; splitting is a regex scan.
    return tuple(split_path(path))


def lookup(value: Any, path: str | list[str | int]) -> Any:
    """Follow ``path`` into nested mappings and lists; :data:`MISSING` when it leads nowhere."""
    parts = _split_cached(path) if isinstance(path, str) else path
    current = value
    for part in parts:
        # dict first: parsed JSON and template values are dicts, and the Mapping ABC check is
        # slow next to it (templates look values up on every turn).
        if type(current) is dict or isinstance(current, Mapping):
            key: Any = str(part) if isinstance(part, int) and str(part) in current else part
            if key not in current:
                return MISSING
            current = current[key]
        elif isinstance(current, list | tuple) and isinstance(part, int):
            if not -len(current) <= part < len(current):
                return MISSING
            current = current[part]
        else:
            return MISSING
    return current


def to_text(value: Any) -> str:
    """How a referenced value reads inside a longer string."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _substitute(
    value: Any, resolve: Callable[[str], Any], pattern: re.Pattern[str], *, keep_type: bool
) -> Any:
    if isinstance(value, str):
        if keep_type:
            whole = pattern.fullmatch(value)
            if whole:
                return resolve(whole.group(0))
        if "$" not in value and "{" not in value:
            return value
        return pattern.sub(lambda m: to_text(resolve(m.group(0))), value)
    if isinstance(value, Mapping):
        return {k: _substitute(v, resolve, pattern, keep_type=keep_type) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute(v, resolve, pattern, keep_type=keep_type) for v in value]
    return value


_REFERENCE = re.compile(_BRACED.pattern + "|" + _BARE.pattern)
_REFERENCE_OR_PLACEHOLDER = re.compile(_REFERENCE.pattern + "|" + _PLACEHOLDER.pattern)


def interpolate(
    value: Any,
    context: Mapping[str, Any],
    *,
    strict: bool = False,
    env: Mapping[str, str] | None = None,
    where: str = "",
    placeholders: Mapping[str, Any] | None = None,
    as_text: bool = False,
) -> Any:
    """Replace ``${path}`` and ``$path`` references in every string inside ``value``.

    A braced name that is not a context path (``${BOT_API_KEY}``) is looked up in ``env``
    when one is given, so one call serves headers that mix both. With ``placeholders``,
    ``{name}`` is replaced by ``placeholders[name]`` in the same single pass (unknown names
    are left as written), so a value pasted in is never read as a template.

    A string that is exactly one reference keeps the value's type, unless ``as_text``: then
    it reads as it would inside longer text (``true``, ``{"id":1}``).

    Raises:
        InterpolationError: when ``strict`` and a reference resolves to nothing.
    """

    def resolve(token: str) -> Any:
        if token.startswith("{"):
            assert placeholders is not None
            return placeholders.get(token[1:-1], token)
        expr = token[2:-1].strip() if token.startswith("${") else token[1:]
        found = lookup(context, expr)
        if found is MISSING and env is not None and _ENV_NAME.match(expr):
            found = read_env(env, expr, where)
        if found is MISSING:
            if strict:
                place = f" in {where}" if where else ""
                raise InterpolationError(f"{token}{place} resolves to nothing")
            return ""
        return found

    pattern = _REFERENCE if placeholders is None else _REFERENCE_OR_PLACEHOLDER
    return _substitute(value, resolve, pattern, keep_type=not as_text)


def interpolate_text(text: str, context: Mapping[str, Any]) -> str:
    """``text`` with its references replaced, always as text (messages, rubrics)."""
    rendered: str = interpolate(text, context, as_text=True)
    return rendered


def read_env(env: Mapping[str, str], name: str, where: str = "") -> Any:
    """``env[name]``, or :data:`MISSING` when unset.

    Raises:
        InterpolationError: ``env`` is a :class:`RestrictedEnv` whose policy refuses ``name``
            (a refused read is an error even where an unset one would be empty text).
    """
    if isinstance(env, RestrictedEnv):
        refusal = env.refusal(name)
        if refusal is not None:
            place = f" (in {where})" if where else ""
            raise InterpolationError(f"{refusal}{place}")
    return env.get(name, MISSING)


def interpolate_env(
    value: Any, env: Mapping[str, str], *, strict: bool = True, where: str = ""
) -> Any:
    """Replace ``${NAME}`` with environment values in every string inside ``value``."""

    def resolve(token: str) -> Any:
        name = token[2:-1].strip()
        found = read_env(env, name, where)
        if found is not MISSING:
            return found
        if strict:
            place = f" in {where}" if where else ""
            raise InterpolationError(f"environment variable {name} is not set{place}")
        return ""

    return _substitute(value, resolve, _BRACED, keep_type=False)


def env_references(value: Any) -> set[str]:
    """Names of the ``${NAME}`` environment references inside ``value`` (for validation)."""
    names: set[str] = set()
    if isinstance(value, str):
        for match in _BRACED.finditer(value):
            expr = match.group(1).strip()
            if _ENV_NAME.match(expr) and expr not in CONTEXT_ROOTS:
                names.add(expr)
    elif isinstance(value, Mapping):
        for item in value.values():
            names |= env_references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            names |= env_references(item)
    return names


def fill_placeholders(value: Any, inputs: Mapping[str, Any]) -> Any:
    """Replace ``{name}`` with ``inputs[name]`` in strings; unknown names are left as written.

    A string that is exactly ``{name}`` keeps the input's type.
    """

    def resolve(token: str) -> Any:
        name = token[1:-1]
        return inputs.get(name, token)

    if not inputs:
        return value
    return _substitute(value, resolve, _PLACEHOLDER, keep_type=True)
