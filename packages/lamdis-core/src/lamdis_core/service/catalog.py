"""Reading and writing catalog documents: the use cases behind ``/orgs/{orgId}/{kind}``.

Documents are the config file formats of docs/formats.md as JSON, each with a string ``id``;
:class:`CatalogService` checks them against the domain model before they are stored (the
loader's own checks, then structuring into the domain types), so a run never meets a
malformed document. Ids may contain ``/`` (``assistants/dev/v1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import cattrs

from lamdis_core.config.checks import check_document
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import camel, default_converter
from lamdis_core.ports.catalog import Catalog, CatalogKind
from lamdis_core.ports.clock import Clock, SystemClock
from lamdis_core.schedule import iso_time, next_run_after, read_schedule
from lamdis_core.service.errors import InvalidRequestError, NotFoundError, ServiceError

EDITABLE_KINDS = (
    CatalogKind.SUITES,
    CatalogKind.TESTS,
    CatalogKind.ENVIRONMENTS,
    CatalogKind.PERSONAS,
    CatalogKind.REQUESTS,
)
"""The kinds :class:`CatalogService` reads and writes. Organizations are made by the import;
auth configs only by the import too (they name secrets, so no API client writes them)."""

MAX_ID_LENGTH = 256
MAX_LIST_LIMIT = 5000
SYSTEM_FIELDS = ("orgId", "createdAt", "updatedAt", "_id")
"""Fields the catalog manages; a document sent with them has them ignored."""


@attrs.frozen
class DocumentIssue:
    """One thing wrong with a document: where (``tests[0].maxTurns``, ``$`` for the whole
    document) and what."""

    field: str
    message: str


class InvalidDocumentError(ServiceError):
    """A document does not fit its kind's format; carries every issue found."""

    def __init__(self, issues: Sequence[DocumentIssue]) -> None:
        self.issues = tuple(issues)
        self.field = self.issues[0].field
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in self.issues))


class DocumentExistsError(ServiceError):
    """``create`` of an id the organization already holds."""

    field = "id"

    def __init__(self, kind: CatalogKind, doc_id: str) -> None:
        self.kind = kind
        self.doc_id = doc_id
        super().__init__(f"{kind.value} {doc_id!r} already exists; PUT to replace it")


class UnknownDocumentError(NotFoundError):
    """The organization holds no document of this kind with this id."""

    def __init__(self, kind: CatalogKind, org_id: str, doc_id: str) -> None:
        self.kind = kind
        self.org_id = org_id
        self.doc_id = doc_id
        super().__init__(f"unknown {kind.value} {doc_id!r} in organization {org_id!r}")


def document_type(kind: CatalogKind, doc: dict[str, Any]) -> type[Any]:
    """The domain type a catalog document of ``kind`` must structure into."""
    if kind is CatalogKind.SUITES:
        return c.Suite
    if kind is CatalogKind.TESTS:
        return c.TestFile if isinstance(doc.get("tests"), list) else c.TestCase
    if kind is CatalogKind.ENVIRONMENTS:
        return c.Assistant
    if kind is CatalogKind.PERSONAS:
        return c.PersonasFile if isinstance(doc.get("personas"), list) else c.Persona
    return c.RequestsFile if isinstance(doc.get("requests"), list) else c.RequestDef


def document_issues(kind: CatalogKind, doc: dict[str, Any]) -> list[DocumentIssue]:
    """Every field of ``doc`` that does not fit the kind's format (empty when it fits)."""
    issues: list[DocumentIssue] = []
    if not isinstance(doc.get("id"), str) or not doc["id"].strip():
        issues.append(DocumentIssue("id", "a non-empty string id is required"))
    elif len(doc["id"]) > MAX_ID_LENGTH:
        issues.append(DocumentIssue("id", f"is longer than {MAX_ID_LENGTH} characters"))
    content = {k: v for k, v in doc.items() if k not in SYSTEM_FIELDS}
    if not set(content) - {"id"}:
        # An empty document would be stored and then fail every run that names it.
        issues.append(
            DocumentIssue("$", f"the document has no content; send the {kind.value[:-1]}'s fields")
        )
    cls = document_type(kind, content)
    # The loader's own checks first: the rules types cannot say (ranges, what an
    # assistant_check mode needs, generator arguments, minTurns <= maxTurns), and the
    # spellings it accepts (severity: warning).
    normalised, errors = check_document(content, cls)
    for where, message in errors:
        issues.append(DocumentIssue(where.removeprefix("$.") or "$", message))
    if not errors:  # structuring what the checks refused would only repeat them
        issues.extend(_structure_issues(normalised, cls))
    return issues


def _structure_issues(content: Any, cls: type[Any]) -> list[DocumentIssue]:
    try:
        default_converter().structure(content, cls)
    except cattrs.BaseValidationError as exc:
        issues = []
        for message in cattrs.transform_error(exc, path="$"):
            text, _, where = message.rpartition(" @ ")
            issues.append(
                DocumentIssue(_camel_path(where.removeprefix("$.")) or "$", text or message)
            )
        return issues
    except (ValueError, TypeError, RecursionError) as exc:
        return [DocumentIssue("$", str(exc) or type(exc).__name__)]
    return []


def _camel_path(path: str) -> str:
    """``tests[0].max_turns`` as the document spells it: ``tests[0].maxTurns``."""
    parts = []
    for part in path.split("."):
        name, bracket, rest = part.partition("[")
        parts.append(camel(name) + bracket + rest)
    return ".".join(parts)


def strip_system_fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in SYSTEM_FIELDS}


def merge_patch(target: Any, patch: Any) -> Any:
    """A JSON merge patch (RFC 7386): objects merge key by key, ``None`` removes a key."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


class CatalogService:
    """List, create, get, replace, patch and delete an organization's catalog documents.

    Args:
        catalog: where documents are stored.
        clock: the time a patched suite schedule restarts from.
    """

    def __init__(self, catalog: Catalog, *, clock: Clock | None = None) -> None:
        self.catalog = catalog
        self.clock = clock or SystemClock()

    async def list(
        self, kind: CatalogKind, org_id: str, *, limit: int = 500
    ) -> list[dict[str, Any]]:
        """The organization's documents of ``kind``, ordered by id.

        Raises:
            InvalidRequestError: ``limit`` is not from 1 to :data:`MAX_LIST_LIMIT`.
        """
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequestError("limit", f"expected an integer from 1 to {MAX_LIST_LIMIT}")
        return await self.catalog.list(kind, org_id, limit=limit)

    async def get(self, kind: CatalogKind, org_id: str, doc_id: str) -> dict[str, Any]:
        """Raises :class:`UnknownDocumentError` when there is no such document."""
        doc = await self.catalog.get(kind, org_id, doc_id)
        if doc is None:
            raise UnknownDocumentError(kind, org_id, doc_id)
        return doc

    async def create(self, kind: CatalogKind, org_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a new document (checked first) and return it as stored.

        Raises:
            InvalidDocumentError: it does not fit the kind's format.
            DocumentExistsError: the organization already holds its id.
        """
        _check(kind, doc)
        if await self.catalog.get(kind, org_id, doc["id"]) is not None:
            raise DocumentExistsError(kind, doc["id"])
        return await self.catalog.upsert(kind, org_id, strip_system_fields(doc))

    async def put(
        self, kind: CatalogKind, org_id: str, doc_id: str, doc: dict[str, Any]
    ) -> dict[str, Any]:
        """Create or replace the document ``doc_id`` (``doc``'s ``id`` may be left out).

        Raises:
            InvalidDocumentError: it does not fit the format, or its ``id`` is another.
        """
        if "id" in doc and doc["id"] != doc_id:
            raise InvalidDocumentError(
                [DocumentIssue("id", f"must match the id in the path ({doc_id!r}) or be left out")]
            )
        doc = {**doc, "id": doc_id}
        _check(kind, doc)
        return await self.catalog.upsert(kind, org_id, strip_system_fields(doc))

    async def patch(
        self, kind: CatalogKind, org_id: str, doc_id: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386) and store the result, checked like a new one.

        On a suite, a patch that sets ``schedule`` restarts its clock: ``nextRunAt`` becomes
        the next due time from now (unless the patch gives one); ``lastRunAt`` is kept.

        Raises:
            UnknownDocumentError: there is no such document.
            InvalidDocumentError: the patch changes the id, or the result does not fit.
        """
        if "id" in patch and patch["id"] != doc_id:
            raise InvalidDocumentError(
                [DocumentIssue("id", f"cannot be changed (the document is {doc_id!r})")]
            )
        current = await self.get(kind, org_id, doc_id)
        doc = merge_patch(strip_system_fields(current), patch)
        doc["id"] = doc_id
        _check(kind, doc)
        schedule = patch.get("schedule")
        if kind is CatalogKind.SUITES and isinstance(schedule, dict):
            read = read_schedule(doc)
            if read is not None and "nextRunAt" not in schedule:
                doc["schedule"]["nextRunAt"] = iso_time(next_run_after(read, self.clock.now()))
        stored: dict[str, Any] = await self.catalog.upsert(kind, org_id, doc)
        return stored

    async def delete(self, kind: CatalogKind, org_id: str, doc_id: str) -> None:
        """Raises :class:`UnknownDocumentError` when there was no such document."""
        if not await self.catalog.delete(kind, org_id, doc_id):
            raise UnknownDocumentError(kind, org_id, doc_id)


def _check(kind: CatalogKind, doc: dict[str, Any]) -> None:
    issues = document_issues(kind, doc)
    if issues:
        raise InvalidDocumentError(issues)
