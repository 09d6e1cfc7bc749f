"""Size guard for items pushed into a run document.

A MongoDB document may not exceed 16 MiB, and a run keeps its items inside its document (the
seed's ``findOne`` shows them). The engine already trims transcripts; this guard makes sure no
single item, and no run of items, can break the limit whatever the engine hands over:

1. An item is stored untouched when its BSON is at most ``item_max_bytes`` (10 KiB by default).
2. Otherwise it is trimmed in steps, stopping at the first that fits: each transcript entry's
   text capped (2,000 -> 1,000 -> 500 -> 200 characters), the transcript cut to its first and
   last entries around a marker entry (40 -> 20 -> 10 -> 4 entries), log lines and the
   strings in assertion details capped the same way.
3. Once a run's items reach ``run_soft_bytes`` (12 MiB by default), further items are stored
   compact (no transcript, no log, short details, at most 1 KiB).

So a run of 1,000 items is at most about 10 MiB, and the document stays under 16 MiB.
"""

from __future__ import annotations

from typing import Any

import bson

ITEM_MAX_BYTES = 10 * 1024
RUN_SOFT_BYTES = 12 * 1024 * 1024
RUN_HARD_BYTES = 15 * 1024 * 1024
COMPACT_MAX_BYTES = 1024

# (characters per text, transcript entries, log lines, characters per detail string)
_STEPS = [(2000, 40, 40, 2000), (1000, 20, 20, 1000), (500, 10, 10, 500), (200, 4, 4, 200)]
_COMPACT = (120, 0, 0, 120)


def bson_size(doc: dict[str, Any]) -> int:
    return len(bson.encode(doc))


def fit_item(
    item: dict[str, Any], *, max_bytes: int, compact: bool = False
) -> tuple[dict[str, Any], int]:
    """The item (camelCase dict) trimmed to fit ``max_bytes``, and its BSON size.

    Returns the item itself when it already fits (and ``compact`` is false).
    """
    size = bson_size(item)
    if not compact and size <= max_bytes:
        return item, size
    steps = [_COMPACT] if compact else [*_STEPS, _COMPACT]
    trimmed = item
    for step in steps:
        trimmed = _trim(item, *step)
        new_size = bson_size(trimmed)
        if new_size <= max_bytes:
            break
    note = f"lamdis-store-mongo: item trimmed from {size} to at most {max_bytes} bytes"
    artifacts = dict(trimmed.get("artifacts") or {})
    artifacts["log"] = [*artifacts.get("log", []), note]
    trimmed["artifacts"] = artifacts
    return trimmed, bson_size(trimmed)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} characters trimmed]"


def _cap_value(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return _cap(value, limit)
    if isinstance(value, dict):
        return {k: _cap_value(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        kept = [_cap_value(v, limit) for v in value[:50]]
        if len(value) > 50:
            kept.append(f"[{len(value) - 50} entries trimmed]")
        return kept
    return value


def _trim(item: dict[str, Any], text: int, entries: int, logs: int, detail: int) -> dict[str, Any]:
    out = dict(item)
    transcript = list(item.get("transcript") or [])
    if entries == 0:
        out.pop("transcript", None)
    else:
        if len(transcript) > entries:
            head = max(1, entries // 4)
            tail = entries - head - 1
            marker = {
                "role": "system",
                "content": f"[{len(transcript) - head - tail} transcript entries trimmed]",
            }
            transcript = [*transcript[:head], marker, *transcript[-tail:]]
        out["transcript"] = [
            {**entry, "content": _cap(str(entry.get("content", "")), text)} for entry in transcript
        ]
    log = list((item.get("artifacts") or {}).get("log") or [])
    out["artifacts"] = {
        **(item.get("artifacts") or {}),
        "log": [_cap(line, text) for line in log[-logs:]] if logs else [],
    }
    out["assertions"] = [
        {**check, "details": _cap_value(check.get("details") or {}, detail)}
        | ({"error": _cap(check["error"], detail)} if isinstance(check.get("error"), str) else {})
        for check in item.get("assertions") or []
    ]
    if isinstance(item.get("error"), str):
        out["error"] = _cap(item["error"], max(detail, 200))
    for key in ("testName", "file", "assistant", "testId"):
        if isinstance(item.get(key), str):
            out[key] = _cap(item[key], max(text, 200))
    timings = item.get("timings")
    if isinstance(timings, dict) and len(timings.get("perTurnMs") or []) > 200:
        out["timings"] = {**timings, "perTurnMs": timings["perTurnMs"][:200]}
    return out
