"""The Catalog port: the hosted mode's stored configuration."""

from __future__ import annotations

import enum
from typing import Any, Protocol


class CatalogKind(enum.StrEnum):
    """What a catalog document is. Documents are the file formats of docs/formats.md, as JSON."""

    ORGANIZATIONS = "organizations"
    SUITES = "suites"
    TESTS = "tests"
    ENVIRONMENTS = "environments"
    PERSONAS = "personas"
    REQUESTS = "requests"
    AUTH = "auth"
    """Auth configs (``authRef`` targets). They hold ``${NAME}`` references to secrets, never
    the values: each server resolves them from its own environment when a run needs them, under
    the catalog's exposure rules (:mod:`lamdis_core.config.env_policy`). The hosted API offers
    no route for them; ``lamdis import`` writes them."""


class Catalog(Protocol):
    """Organizations, suites, tests, environments, personas, requests and auth configs, per
    organization.

    A document is a JSON object with a string ``id``; the catalog adds ``orgId``,
    ``createdAt`` and ``updatedAt`` (ISO-8601 strings) and returns documents with them.
    For ``organizations`` the org id is the document id. Ids are unique per (kind, org).
    """

    async def upsert(self, kind: CatalogKind, org_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace the document with this id; keeps ``createdAt`` on replace.

        Raises ``ValueError`` when ``doc`` has no string ``id``.
        """
        ...

    async def get(
        self, kind: CatalogKind, org_id: str | None, doc_id: str
    ) -> dict[str, Any] | None:
        """The document, or ``None``. With ``org_id=None`` any organization's document with
        that id is returned (the seed's start request names a suite without its org)."""
        ...

    async def list(
        self, kind: CatalogKind, org_id: str | None, *, limit: int = 500
    ) -> list[dict[str, Any]]:
        """The organization's documents of this kind, ordered by id. With ``org_id=None``:
        the documents of no organization (another tool wrote them without ``orgId``); a
        catalog that records an organization for every document returns none."""
        ...

    async def delete(self, kind: CatalogKind, org_id: str, doc_id: str) -> bool:
        """Remove the document; ``False`` when there was none."""
        ...
