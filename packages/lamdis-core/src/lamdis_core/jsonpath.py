"""A small JSONPath subset: where a reply, a tool call or a session value sits in a response.

Supported (RFC 9535 syntax, the subset chat payloads need)::

    $                      the whole document
    $.a.b   a.b            member access (the leading ``$.`` may be left out)
    $['a b']  $["a"]       member access by quoted name
    $.a[0]  $.a[-1]        list index (negative counts from the end)
    $.a[*]  $.a.*          every element or member
    $..name                every ``name`` member at any depth

Filters (``[?...]``), slices and unions are not supported; :func:`compile_path` says so with
the position, so a configuration that needs them fails at ``lamdis validate``, not mid-run.
The subset lives in the core (no dependency) because every channel and the config checker
share it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import attrs

from lamdis_core.domain.base import Value

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_INDEX = re.compile(r"-?\d+")


class JsonPathError(ValueError):
    """A path outside the supported subset, with the 0-based position of the problem."""

    def __init__(self, path: str, position: int, expected: str) -> None:
        super().__init__(
            f"malformed JSONPath {path!r} at character {position + 1}: expected {expected}"
        )
        self.path = path
        self.position = position


@attrs.frozen(repr=False, eq=False)
class _Step(Value):
    kind: str  # "name", "index", "wild", "deep"
    value: Any = None


_NOTHING: Any = object()


@attrs.frozen(cache_hash=True)
class JsonPath:
    """A compiled path. ``find`` returns every match in document order (empty: no match)."""

    text: str
    steps: tuple[_Step, ...]

    def find(self, document: Any) -> list[Any]:
        if self._simple:
            found = self._walk(document)
            return [] if found is _NOTHING else [found]
        current = [document]
        for step in self.steps:
            following: list[Any] = []
            for value in current:
                following.extend(_apply(step, value))
            current = following
            if not current:
                break
        return current

    def first(self, document: Any, default: Any = None) -> Any:
        """The first match, or ``default``."""
        if self._simple:
            found = self._walk(document)
            return default if found is _NOTHING else found
        matches = self.find(document)
        return matches[0] if matches else default

    @functools.cached_property
    def _simple(self) -> bool:
        # Only names and indexes (what almost every reply path is): one value or none, found
        # by walking, without building a list per step (this runs once per streamed chunk).
        return all(step.kind in ("name", "index") for step in self.steps)

    @functools.cached_property
    def _plan(self) -> tuple[tuple[bool, Any], ...]:
        return tuple((step.kind == "name", step.value) for step in self.steps)

    def _walk(self, value: Any) -> Any:
        for is_name, key in self._plan:
            if is_name:
                # Parsed JSON is plain dicts: a dict lookup first, the Mapping ABC check (slow
                # next to it, and this runs per streamed chunk) only for other mappings.
                if type(value) is dict:
                    value = value.get(key, _NOTHING)
                    if value is _NOTHING:
                        return _NOTHING
                    continue
                if not isinstance(value, Mapping) or key not in value:
                    return _NOTHING
                value = value[key]
            else:
                if not isinstance(value, list) or not -len(value) <= key < len(value):
                    return _NOTHING
                value = value[key]
        return value

    def __str__(self) -> str:
        return self.text


def _apply(step: _Step, value: Any) -> list[Any]:
    if step.kind == "name":
        if isinstance(value, Mapping) and step.value in value:
            return [value[step.value]]
        return []
    if step.kind == "index":
        if isinstance(value, list) and -len(value) <= step.value < len(value):
            return [value[step.value]]
        return []
    if step.kind == "wild":
        if isinstance(value, Mapping):
            return list(value.values())
        if isinstance(value, list):
            return list(value)
        return []
    # "deep": the named member of this value and of every value below it
    found: list[Any] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if step.value in node:
                found.append(node[step.value])
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return found


@functools.lru_cache(maxsize=512)
def compile_path(text: str) -> JsonPath:
    """Compile ``text``.

    Raises:
        JsonPathError: the text is not in the supported subset (the message says where and
            what was expected).
    """
    if not isinstance(text, str) or not text.strip():
        raise JsonPathError(str(text), 0, "a path such as $.reply")
    source = text.strip()
    i = 0
    steps: list[_Step] = []
    if source.startswith("$"):
        i = 1
    else:
        # ``reply.text`` reads as ``$.reply.text`` (lamdis-runs' replyPath is written so).
        match = _NAME.match(source)
        if match is None:
            raise JsonPathError(source, 0, "'$' or a member name")
        steps.append(_Step("name", match.group(0)))
        i = match.end()
    while i < len(source):
        ch = source[i]
        if source.startswith("..", i):
            i += 2
            match = _NAME.match(source, i)
            if match is None:
                raise JsonPathError(source, i, "a member name after '..'")
            steps.append(_Step("deep", match.group(0)))
            i = match.end()
        elif ch == ".":
            i += 1
            if source.startswith("*", i):
                steps.append(_Step("wild"))
                i += 1
                continue
            match = _NAME.match(source, i)
            if match is None:
                raise JsonPathError(source, i, "a member name or '*' after '.'")
            steps.append(_Step("name", match.group(0)))
            i = match.end()
        elif ch == "[":
            i += 1
            if source.startswith("*]", i):
                steps.append(_Step("wild"))
                i += 2
                continue
            if i < len(source) and source[i] in "'\"":
                quote = source[i]
                end = source.find(quote, i + 1)
                if end < 0:
                    raise JsonPathError(source, i, f"a closing {quote}")
                name = source[i + 1 : end]
                if not source.startswith("]", end + 1):
                    raise JsonPathError(source, end + 1, "']'")
                steps.append(_Step("name", name))
                i = end + 2
                continue
            match = _INDEX.match(source, i)
            if match is None or not source.startswith("]", match.end()):
                if i < len(source) and source[i] == "?":
                    raise JsonPathError(
                        source, i, "an index, '*' or a quoted name (filters are not supported)"
                    )
                raise JsonPathError(source, i, "an index, '*' or a quoted name, then ']'")
            steps.append(_Step("index", int(match.group(0))))
            i = match.end() + 1
        else:
            raise JsonPathError(source, i, "'.', '..' or '['")
    return JsonPath(source, tuple(steps))


def check_path(text: Any) -> str | None:
    """The problem with ``text`` as a JSONPath, or ``None`` when it compiles."""
    try:
        compile_path(text)
    except JsonPathError as exc:
        return str(exc)
    return None
