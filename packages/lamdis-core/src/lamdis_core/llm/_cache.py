"""Caching of deterministic LLM calls (temperature 0): same model and prompt, same answer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import attrs

from lamdis_core.llm._types import ChatMessage
from lamdis_core.logs import get_logger

logger = get_logger()

_CACHE_FORMAT = 1  # bump when the key material or the stored shape changes


@attrs.frozen(kw_only=True)
class CachedCompletion:
    """What a cache keeps: the model's text (already known to parse) and the model id."""

    text: str
    model: str


class ResponseCache(Protocol):
    """Stores completions by key. ``get`` returns None on a miss; neither method raises on an
    unreadable or unwritable entry (a cache that fails is a miss, never a failed run)."""

    async def get(self, key: str) -> CachedCompletion | None: ...

    async def set(self, key: str, value: CachedCompletion) -> None: ...


def cache_key(
    *,
    provider: str,
    model: str,
    temperature: float | None,
    messages: Sequence[ChatMessage],
    json_mode: bool,
    sample: int = 0,
) -> str:
    """sha256 over everything that decides the answer, in a canonical JSON form.

    ``sample`` tells apart the answers to one question asked several times (judge samples);
    the first sample has the key it always had.
    """
    material: dict[str, object] = {
        "v": _CACHE_FORMAT,
        "provider": provider,
        "model": model,
        "temperature": temperature,
        "json": json_mode,
        "messages": [[m.role, m.content] for m in messages],
    }
    if sample:
        material["sample"] = sample
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class MemoryResponseCache:
    """An in-process LRU cache (the hosted service's choice): ``max_entries`` most recent keys."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, CachedCompletion] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> CachedCompletion | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: CachedCompletion) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class DiskResponseCache:
    """One JSON file per key under ``directory`` (the CLI keeps it beside its results).

    Writes go to a temporary file and are renamed into place, so concurrent runs sharing the
    folder never read a half-written entry.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        if len(key) < 3 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"cache keys are lowercase sha256 hex digests, got {key!r}")
        return self.directory / key[:2] / f"{key}.json"

    async def get(self, key: str) -> CachedCompletion | None:
        return await asyncio.to_thread(self._read, self._path(key))

    async def set(self, key: str, value: CachedCompletion) -> None:
        await asyncio.to_thread(self._write, self._path(key), value)

    def _read(self, path: Path) -> CachedCompletion | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return CachedCompletion(text=str(data["text"]), model=str(data["model"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("llm_cache_unreadable", path=str(path), error=str(exc))
            return None

    def _write(self, path: Path, value: CachedCompletion) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(
                        {"text": value.text, "model": value.model}, handle, ensure_ascii=False
                    )
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            logger.warning("llm_cache_unwritable", path=str(path), error=str(exc))
