"""Hosted mode: catalog documents as a source of the config pipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from lamdis_core.config._build import KIND_TYPES, Kind, Report, default_test_ids
from lamdis_core.config._parse import ParseIssue
from lamdis_core.config._pipeline import CATALOG_KEYS, Parts, Shaped
from lamdis_core.domain import config as c

# Accepted silently on top of a document's own fields: bookkeeping plus the seed's suite
# and persona fields lamdis has no use for.
HOSTED_KEYS = CATALOG_KEYS | frozenset(
    {
        "name",
        "tags",
        "defaultEnvId",
        "defaultConnectionKey",
        "thresholds",
        "labels",
        "createdBy",
        "yaml",
        "text",
        "description",
    }
)
# A single persona or request document: its own name and description are content.
_SINGLE_KEYS = HOSTED_KEYS - {"description", "name"}
_FLAT_ENV_KEYS = (
    "channel",
    "baseUrl",
    "path",
    "headers",
    "timeoutMs",
    "model",
    "systemPrompt",
    "temperature",
    "responseFieldPath",  # the newer lamdis engine's flat environments carry it
)
_FILE_KEYS = ("imports", "assistantRef", "env")
# The collection a reference of each role names, and how a miss is said.
_ROLES = {
    "authRef": ("auth", "authRef {!r} not found in the catalog's auth configs"),
    "assistantRef": ("environments", "environment {!r} not found"),
    "assistant": ("environments", "environment {!r} not found"),
    "personas import": ("personas", "personas {!r} not found"),
    "requests import": ("requests", "requests {!r} not found"),
    "test file": ("tests", "test {!r} not found"),
    "persona": ("personas", "persona {!r} not found"),
    "request": ("requests", "request {!r} not found"),
}


class DocumentSource(Protocol):
    """Where :func:`~lamdis_core.config.loader.plan_from_documents` reads documents.

    ``kind`` is a :class:`~lamdis_core.ports.catalog.CatalogKind` value (``"suites"``,
    ``"tests"``, ``"environments"``, ``"personas"``, ``"requests"``) or ``"auth"`` for the
    auth configs that ``authRef`` names.
    """

    async def get(self, kind: str, doc_id: str) -> Mapping[str, Any] | None:
        """The document with this id, or ``None``."""
        ...

    async def list(self, kind: str) -> Sequence[Mapping[str, Any]]:
        """Every document of this kind (used for ``includeFolders``, ``includeIds`` that
        name a test inside a document, and suites whose tests carry ``suiteId``)."""
        ...


def label(kind: str, doc_id: str) -> Path:
    """A document's location in the pipeline, as problems name it."""
    return Path(f"catalog:{kind}/{doc_id}")


def doc_id_of(doc: Mapping[str, Any]) -> str:
    value = doc.get("id", doc.get("_id"))
    return str(value) if value is not None else "?"


def _split(loc: Path) -> tuple[str, str]:
    kind, _, doc_id = str(loc).removeprefix("catalog:").partition("/")
    return kind, doc_id


class CatalogTree:
    """The documents a :class:`DocumentSource` serves, each fetched once; references are
    document ids."""

    noun = "document"
    assistant_word = "environment"
    finds_by_id = True

    def __init__(self, source: DocumentSource) -> None:
        self.source = source
        self._docs: dict[Path, Mapping[str, Any] | None] = {}
        self._lists: dict[str, Sequence[Mapping[str, Any]]] = {}

    def add(self, kind: str, doc: Mapping[str, Any]) -> Path:
        """Hold a document already in hand (the suite a run names, a listed document)."""
        loc = label(kind, doc_id_of(doc))
        self._docs.setdefault(loc, doc)
        return loc

    async def get(self, kind: str, doc_id: str) -> Mapping[str, Any] | None:
        loc = label(kind, doc_id)
        if loc not in self._docs:
            self._docs[loc] = await self.source.get(kind, doc_id)
        return self._docs[loc]

    async def all_of(self, kind: str) -> Sequence[Mapping[str, Any]]:
        if kind not in self._lists:
            self._lists[kind] = await self.source.list(kind)
        return self._lists[kind]

    # --- read -------------------------------------------------------------------------------

    async def read(self, loc: Path) -> tuple[Any, Sequence[ParseIssue]]:
        kind, doc_id = _split(loc)
        return await self.get(kind, doc_id), ()

    def line_of(self, loc: Path, parts: Parts) -> int | None:
        return None  # a stored document has no lines

    def default_id(self, loc: Path) -> str:
        return _split(loc)[1]

    # --- parse ------------------------------------------------------------------------------

    def shape(self, loc: Path, kind: Kind, data: Any, report: Report) -> Shaped | None:
        doc_id = self.default_id(loc)
        data = {"id": doc_id, **data}
        tp = KIND_TYPES[kind]
        tolerated = HOSTED_KEYS
        if kind == "assistant" and not isinstance(data.get("env"), dict):
            # The seed stores environments flat: {channel, baseUrl, headers, timeoutMs}.
            data["env"] = {k: data.pop(k) for k in _FLAT_ENV_KEYS if k in data}
        elif kind == "test":
            if not isinstance(data.get("tests"), list):
                # One test per document (the seed's layout), with a test file's own fields.
                file_part = {k: data.pop(k) for k in _FILE_KEYS if k in data}
                test = {k: v for k, v in data.items() if k not in CATALOG_KEYS}
                data = {"id": doc_id, "tests": [test], **file_part}
                if "name" in test:
                    data["name"] = test["name"]
            data = default_test_ids(data, doc_id)
        elif kind == "suite":
            data = default_test_ids(data, doc_id)
        elif kind == "personas" and not isinstance(data.get("personas"), list):
            if "description" not in data and isinstance(data.get("text") or data.get("yaml"), str):
                data["description"] = data.get("text") or data.get("yaml")
            tp, tolerated = c.Persona, _SINGLE_KEYS
        elif kind == "requests" and not isinstance(data.get("requests"), list):
            tp, tolerated = c.RequestDef, _SINGLE_KEYS
        return Shaped(data, tp, tolerated)

    # --- resolve ----------------------------------------------------------------------------

    async def resolve(self, ref: str, origin: Path, role: str) -> Path | str:
        kind, missing = _ROLES[role]
        if await self.get(kind, ref) is None:
            return missing.format(ref)
        return label(kind, ref)

    async def assistant_folder(
        self, ref: str, origin: Path, parts: Parts, report: Report
    ) -> list[Path]:
        prefix = ref.rstrip("/") + "/"
        found = [
            self.add("environments", d)
            for d in await self.all_of("environments")
            if doc_id_of(d).startswith(prefix)
        ]
        if not found:
            report(parts, f"no environment id starts with {prefix!r}", True)
        return found

    def excluded(
        self, loc: Path | None, assistant_id: str | None, exclude: Sequence[str], origin: Path
    ) -> bool:
        return loc is not None and self.default_id(loc) in exclude

    def default_assistant(self, raw: Mapping[str, Any]) -> tuple[str, Parts] | None:
        default = raw.get("defaultEnvId")
        return (default, ("defaultEnvId",)) if isinstance(default, str) and default else None

    async def test_by_id(self, wanted: str, skip: Sequence[Path]) -> Path | None:
        if label("tests", wanted) not in skip and await self.get("tests", wanted) is not None:
            return label("tests", wanted)
        for doc in await self.all_of("tests"):
            tests = doc.get("tests")
            if isinstance(tests, list) and any(
                isinstance(t, dict) and t.get("id") == wanted for t in tests
            ):
                return self.add("tests", doc)
        return None

    def unknown_test_id(self, wanted: str, searched: Sequence[Path]) -> str:
        return f"no test document and no test inside one has id {wanted!r}"

    async def suite_members(self, suite: c.Suite) -> list[Path]:
        return [
            self.add("tests", doc)
            for doc in await self.all_of("tests")
            if doc.get("suiteId") == suite.id
        ]

    def no_assistant_hint(self, suite: Path) -> str:
        return "give envId, the suite's assistants or defaultEnvId, or the test's assistantRef"
