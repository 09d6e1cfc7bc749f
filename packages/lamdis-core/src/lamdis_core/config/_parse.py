"""Reading one configuration file: JSON or YAML text to plain data, with positions on demand.

JSON is parsed with :mod:`json` (fast, exact); YAML with PyYAML's safe loader minus the
timestamp resolver (``2024-01-01`` stays a string, as it would in JSON). Line numbers for
structural problems are looked up lazily, only when a problem is reported: a YAML text is
composed into nodes and the JSON path followed through them; a JSON text is scanned once
for the line of every path.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from lamdis_core.domain.base import Record
from lamdis_core.sanitize import MAX_JSON_DEPTH, TooDeepError, check_depth

PathPart = str | int
Format = Literal["json", "yaml"]

_loader_class: Any = None


def _yaml_loader() -> Any:
    """PyYAML's safe loader (the C one when built), minus timestamps, noting duplicate keys.

    Built on first use: a run of JSON files never imports PyYAML (it costs ~50 ms)."""
    global _loader_class
    if _loader_class is not None:
        return _loader_class
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc]  # PyYAML's classes are untyped
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.duplicates: list[tuple[str, int]] = []

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value
                    if key in seen:
                        self.duplicates.append((str(key), key_node.start_mark.line + 1))
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    _loader_class = StrictLoader
    return StrictLoader


@attrs.define(repr=False, eq=False)
class ParseIssue(Record):
    """A problem found while parsing (``line``/``column`` 1-based when known)."""

    message: str
    line: int | None = None
    column: int | None = None
    path: tuple[PathPart, ...] = ()
    warning: bool = False


@attrs.define(repr=False, eq=False)
class Parsed(Record):
    """The outcome of parsing one text: ``data`` is ``None`` when it could not be parsed."""

    data: Any
    format: Format
    text: str
    issues: list[ParseIssue] = attrs.Factory(list)
    _nodes: Any = None
    _composed: bool = False

    @property
    def ok(self) -> bool:
        return self.data is not None and not any(not i.warning for i in self.issues)

    def line_of(self, path: Sequence[PathPart]) -> int | None:
        """1-based line of the deepest node ``path`` reaches, or ``None`` when unknown."""
        if self.format == "json":
            if not self._composed:
                self._composed = True
                self._nodes = _json_lines(self.text)
            if self._nodes is None:
                return None
            for end in range(len(path), -1, -1):
                found = self._nodes.get(tuple(path[:end]))
                if found is not None:
                    return int(found)
            return None
        import yaml

        if not self._composed:
            self._composed = True
            try:
                self._nodes = yaml.compose(self.text, Loader=_yaml_loader())
            except (yaml.YAMLError, RecursionError, ValueError):
                self._nodes = None
        node = self._nodes
        if node is None:
            return None
        line: int = node.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                # The last occurrence of a duplicated key is the one whose value is used.
                for key_node, value_node in reversed(node.value):
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                        line = key_node.start_mark.line + 1
                        node = value_node
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    return line
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line


# typeshed omits json.decoder.scanstring, a public name of the stdlib module.
scanstring: Any = getattr(json.decoder, "scanstring")  # noqa: B009
_JSON_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
_JSON_SPACE = " \t\r\n"


def _json_lines(
    text: str, duplicates: list[tuple[str, int]] | None = None
) -> dict[tuple[PathPart, ...], int] | None:
    """Line of every path in a JSON text that :func:`json.loads` accepted (a key's line for
    an object member, the value's line for a list item); ``None`` if the scan fails.

    A key repeated in one object maps to its last occurrence (the value ``json.loads``
    keeps); each repetition is appended to ``duplicates`` as (key, line).
    """
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    lines: dict[tuple[PathPart, ...], int] = {}

    def forget(prefix: tuple[PathPart, ...]) -> None:
        for known in [k for k in lines if k[: len(prefix)] == prefix]:
            del lines[known]

    def line_at(i: int) -> int:
        return bisect.bisect_right(newlines, i) + 1

    def space(i: int) -> int:
        while i < len(text) and text[i] in _JSON_SPACE:
            i += 1
        return i

    def value(i: int, path: tuple[PathPart, ...]) -> int:
        i = space(i)
        lines.setdefault(path, line_at(i))
        ch = text[i]
        if ch == "{":
            i = space(i + 1)
            if text[i] == "}":
                return i + 1
            keys: set[str] = set()
            while True:
                i = space(i)
                key, end = scanstring(text, i + 1)
                child = (*path, key)
                if key in keys:
                    forget(child)
                    if duplicates is not None:
                        duplicates.append((key, line_at(i)))
                keys.add(key)
                lines.setdefault(child, line_at(i))
                i = space(end) + 1  # past the colon
                i = space(value(i, child))
                if text[i] == "}":
                    return i + 1
                i += 1  # past the comma
        if ch == "[":
            i = space(i + 1)
            if text[i] == "]":
                return i + 1
            index = 0
            while True:
                i = space(value(i, (*path, index)))
                index += 1
                if text[i] == "]":
                    return i + 1
                i += 1
        if ch == '"':
            return int(scanstring(text, i + 1)[1])
        match = _JSON_SCALAR.match(text, i)
        if match is None:
            raise ValueError(f"unexpected {ch!r}")
        return match.end()

    try:
        value(0, ())
    except (ValueError, IndexError, RecursionError):
        return None
    return lines


def format_for(path: Path | str) -> Format:
    """YAML for ``.yaml``/``.yml``, JSON otherwise."""
    return "yaml" if str(path).lower().endswith((".yaml", ".yml")) else "json"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (use a number or a string)")


def parse_text(text: str, fmt: Format) -> Parsed:
    """Parse ``text``; problems become :class:`ParseIssue`s, never exceptions."""
    if text.startswith("\ufeff"):
        text = text[1:]
    parsed = Parsed(data=None, format=fmt, text=text)
    if not text.strip():
        parsed.issues.append(ParseIssue("the file is empty; expected an object", line=1))
        return parsed
    if fmt == "json":
        _parse_json(parsed)
    else:
        _parse_yaml(parsed)
    return parsed


def _parse_json(parsed: Parsed) -> None:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        parsed.data = json.loads(
            parsed.text, object_pairs_hook=pairs, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        parsed.issues.append(
            ParseIssue(
                f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                line=exc.lineno,
                column=exc.colno,
            )
        )
        return
    except ValueError as exc:
        line, column = _position(parsed.text, _constant_offset(parsed.text))
        parsed.issues.append(
            ParseIssue(
                f"invalid JSON: {exc}{_at(line, column, lead=' at')}", line=line, column=column
            )
        )
        return
    except RecursionError:
        line, column = _position(parsed.text, _too_deep_offset(parsed.text))
        parsed.issues.append(
            ParseIssue(
                f"invalid JSON: nested too deeply (more than {MAX_JSON_DEPTH} levels"
                f"{_at(line, column, lead=' from')})",
                line=line,
                column=column,
            )
        )
        return
    if duplicates:
        found: list[tuple[str, int]] = []
        parsed._nodes, parsed._composed = _json_lines(parsed.text, found), True
        for key, line in found:
            parsed.issues.append(
                ParseIssue(f"duplicate key {key!r}; the last one wins", line=line, warning=True)
            )


def _position(text: str, offset: int | None) -> tuple[int | None, int | None]:
    """1-based (line, column) of ``offset`` in ``text``; (None, None) when unknown."""
    if offset is None:
        return None, None
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _at(line: int | None, column: int | None, *, lead: str = "") -> str:
    return f"{lead} line {line}, column {column}" if line is not None else ""


_CONSTANT = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|(-?Infinity|NaN)', re.DOTALL)


def _constant_offset(text: str) -> int | None:
    """Where the first bare ``NaN``/``Infinity`` (outside strings) is."""
    for match in _CONSTANT.finditer(text):
        if match.group(1):
            return match.start(1)
    return None


def _too_deep_offset(text: str) -> int | None:
    try:
        check_depth(text, max_depth=MAX_JSON_DEPTH)
    except TooDeepError as exc:
        return exc.offset
    return None


def _yaml_too_deep_line(text: str) -> int | None:
    """The line where a YAML text nests deeper than :data:`MAX_JSON_DEPTH` (read as events:
    no recursion, so safe where composing the document is not)."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    try:
        for event in yaml.parse(text, Loader=base):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_JSON_DEPTH and event.start_mark is not None:
                    return int(event.start_mark.line) + 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


def _parse_yaml(parsed: Parsed) -> None:
    import yaml

    loader = _yaml_loader()(parsed.text)
    try:
        parsed.data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        where = f" (line {line}, column {column})" if line is not None else ""
        parsed.issues.append(ParseIssue(f"invalid YAML: {what}{where}", line=line, column=column))
        parsed.data = None
        return
    except yaml.YAMLError as exc:
        parsed.issues.append(ParseIssue(f"invalid YAML: {exc}"))
        parsed.data = None
        return
    except RecursionError:
        line = _yaml_too_deep_line(parsed.text)
        where = f" from line {line}" if line is not None else ""
        parsed.issues.append(
            ParseIssue(
                f"invalid YAML: nested too deeply (more than {MAX_JSON_DEPTH} levels{where})",
                line=line,
            )
        )
        parsed.data = None
        return
    finally:
        loader.dispose()
    if parsed.data is None:
        parsed.issues.append(ParseIssue("the file holds no document; expected an object", line=1))
    elif problem := _alias_problem(parsed.data):
        line = _alias_problem_line(parsed.text)
        where = f" (the value at line {line})" if line is not None else ""
        parsed.issues.append(ParseIssue(f"invalid YAML: {problem}{where}", line=line))
        parsed.data = None
        return
    for key, line in loader.duplicates:
        parsed.issues.append(
            ParseIssue(f"duplicate key {key!r}; the last one wins", line=line, warning=True)
        )


MAX_VALUES = 1_000_000


def _alias_problem(data: Any) -> str | None:
    """YAML aliases can make a document recursive, or exponentially large once expanded
    ("billion laughs"); both would hang whoever walks it."""

    def children(value: Any) -> Iterable[Any] | None:
        if isinstance(value, dict):
            return value.values()
        return value if isinstance(value, list) else None

    try:
        total, _ = _expanded_size(data, children)
    except _Recursive:
        return "a value contains itself through an alias (*name); recursive documents are not supported"
    except RecursionError:
        return "nested too deeply"
    if total > MAX_VALUES:
        return f"the document expands to more than {MAX_VALUES:,} values (through aliases)"
    return None


class _Recursive(Exception):
    def __init__(self, culprit: Any) -> None:
        super().__init__()
        self.culprit = culprit


def _expanded_size(root: Any, children: Callable[[Any], Iterable[Any] | None]) -> tuple[int, Any]:
    """How many values ``root`` holds once every alias is expanded (counting stops past
    :data:`MAX_VALUES`), and the innermost value that went past it (``None`` if none did).
    Sizes are memoised per object, so this costs one pass over the distinct values.

    Raises:
        _Recursive: a value contains itself; ``culprit`` is that value.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    culprit: list[Any] = []

    def size(value: Any) -> int:
        kids = children(value)
        if kids is None:
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise _Recursive(value)
        open_.add(key)
        total = 1
        for child in kids:
            total += size(child)
            if total > MAX_VALUES:
                break
        open_.discard(key)
        sizes[key] = total
        if total > MAX_VALUES and not culprit:
            culprit.append(value)
        return total

    total = size(root)
    return total, culprit[0] if culprit else None


def _alias_problem_line(text: str) -> int | None:
    """The line of the innermost value that is recursive or expands beyond
    :data:`MAX_VALUES` — where an alias bomb is built, not the top of the document. Works on
    the composed nodes, which share aliased nodes instead of expanding them."""
    import yaml

    try:
        root = yaml.compose(text, Loader=_yaml_loader())
    except (yaml.YAMLError, RecursionError, ValueError):
        return None

    def children(node: Any) -> Iterable[Any] | None:
        if isinstance(node, yaml.MappingNode):
            return [value for _, value in node.value]
        return node.value if isinstance(node, yaml.SequenceNode) else None

    try:
        _, culprit = _expanded_size(root, children)
    except _Recursive as exc:
        culprit = exc.culprit
    except RecursionError:
        return None
    return int(culprit.start_mark.line) + 1 if culprit is not None else None


def parse_file(path: Path) -> Parsed:
    """Read and parse ``path`` (UTF-8). Unreadable files become issues too."""
    fmt = format_for(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        parsed = Parsed(data=None, format=fmt, text="")
        parsed.issues.append(ParseIssue(f"cannot read the file: {exc.strerror or exc}"))
        return parsed
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        parsed = Parsed(data=None, format=fmt, text="")
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        parsed.issues.append(
            ParseIssue(
                f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02X} at line {line}, "
                f"column {column} (offset {exc.start}); save it as UTF-8",
                line=line,
                column=column,
            )
        )
        return parsed
    return parse_text(text, fmt)


def format_path(path: Sequence[PathPart]) -> str:
    """``("tests", 0, "steps")`` -> ``$.tests[0].steps``."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)
