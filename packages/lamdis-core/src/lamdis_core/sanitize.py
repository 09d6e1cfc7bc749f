"""Text and JSON that can leave the process: no lone surrogates, no NaN, no absurd nesting.

An assistant's JSON reply may hold ``"\\ud83d"`` (half an emoji), a lenient parser accepts
``NaN``, and a hostile reply can nest arrays 100,000 deep. None of these can be written as
UTF-8, as strict JSON, or walked by recursive code, so every place where text leaves lamdis
(reports, stores, logs) and every place where JSON comes in (targets, requests, judges)
goes through here, and every store and report treats them the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from lamdis_core.domain.convert import default_converter

if TYPE_CHECKING:
    from lamdis_core.domain.results import Item

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects lamdis reads from an assistant or an API."""

REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")
# A string (skipped whole, escapes included) or one bracket; the unrolled loop keeps long
# strings linear.
_scan_once: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009
_DEPTH_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class TooDeepError(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH` (or the limit given)."""

    def __init__(self, limit: int, offset: int | None = None) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit
        self.offset = offset  # where in the text the limit was crossed


def clean_text(text: str, *, nul: bool = False) -> str:
    """``text`` with every lone UTF-16 surrogate replaced by U+FFFD (and NUL too, with ``nul``:
    for a store that cannot hold it).

    A surrogate pair split over two escapes (``"\\ud83d\\ude00"`` read by a parser that does
    not join them) becomes the character it encodes.
    """
    if nul and "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean(value: Any, *, nul: bool = False) -> Any:
    """A JSON-like value made writable anywhere: strings (keys too) pass :func:`clean_text`,
    non-finite floats (NaN, Infinity) become ``None``. Other values are returned as they are.
    """
    if isinstance(value, str):
        return clean_text(value, nul=nul)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {
            clean_text(k, nul=nul) if isinstance(k, str) else k: clean(v, nul=nul)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [clean(v, nul=nul) for v in value]
    return value


def check_depth(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`TooDeepError` when the JSON ``text`` nests deeper than ``max_depth``.

    Linear in the text and recursion-free, so it is safe on input that would make
    ``json.loads`` raise ``RecursionError``.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot be deeper than the number of openers
    depth = 0
    for match in _DEPTH_TOKEN.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > max_depth:
                raise TooDeepError(max_depth, match.start())
        elif token == "]" or token == "}":
            depth -= 1


def loads_bounded(raw: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` before parsing.

    Raises:
        TooDeepError: the document nests too deep.
        ValueError: it is not JSON (``json.JSONDecodeError``, ``UnicodeDecodeError``).
    """
    text = raw.decode(json.detect_encoding(raw), "surrogatepass") if isinstance(raw, bytes) else raw
    check_depth(text, max_depth=max_depth)
    # The scanner json.loads ends in, without its wrapper (two regex scans for whitespace):
    # this runs once per streamed chunk. Anything but one bare value goes the usual way, so
    # errors read exactly as json.loads words them.
    try:
        value, end = _scan_once(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def clean_log_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """A structlog processor: strings in the event pass :func:`clean_text`."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = clean_text(value)
    return event


def clean_item(item: Item) -> Item:
    """A copy of ``item`` passed through :func:`clean` (what every store writes)."""
    # Imported here: validating files cleans text but has no results to load.
    from lamdis_core.domain import results

    converter = default_converter()
    return converter.structure(clean(converter.unstructure(item)), results.Item)
