"""The ScheduleClaims port on MongoDB: a suite's window is claimed by inserting
``{_id: "<org> <suite> <nextRunAt>"}`` into ``lamdis_schedule_claims`` — an insert whose
``_id`` exists fails on MongoDB and on FerretDB alike, while FerretDB 1.x applies a
conditional update as read-modify-write with nothing stopping a second writer. The winner
then moves the suite's ``schedule.nextRunAt`` (conditionally, so a schedule changed in
between is not overwritten). One small document is kept per started window."""

from __future__ import annotations

from typing import Any

from lamdis_core.ports.catalog import CatalogKind
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from lamdis_store_mongo._retry import once_more


class MongoScheduleClaims:
    """Mixed into ``MongoCatalog`` (which provides ``_collection``, ``_out``, ``_where``)."""

    _where: str
    _db: AsyncDatabase[dict[str, Any]]

    def _collection(self, kind: CatalogKind) -> Any:
        raise NotImplementedError  # MongoCatalog's

    def _out(self, doc: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError  # MongoCatalog's

    async def scheduled_suites(self) -> list[dict[str, Any]]:
        collection = self._collection(CatalogKind.SUITES)

        async def read() -> list[dict[str, Any]]:
            cursor = collection.find({"schedule": {"$type": "object"}}).sort(
                [("orgId", 1), ("id", 1)]
            )
            docs: list[dict[str, Any]] = await cursor.to_list()
            return docs

        docs = await once_more("list scheduled testsuites", self._where, read)
        return [self._out(doc) for doc in docs]

    async def claim_schedule(
        self,
        org_id: str,
        suite_id: str,
        *,
        expected_next_run_at: str | None,
        last_run_at: str | None,
        next_run_at: str,
    ) -> bool:
        collection = self._collection(CatalogKind.SUITES)
        changes: dict[str, Any] = {"schedule.nextRunAt": next_run_at}
        if last_run_at is not None:
            changes["schedule.lastRunAt"] = last_run_at
        query = {
            "orgId": org_id,
            "id": suite_id,
            "schedule": {"$type": "object"},
            "schedule.nextRunAt": expected_next_run_at,
        }
        claim_id = f"{org_id} {suite_id} {expected_next_run_at}"
        claims = self._db["lamdis_schedule_claims"]

        async def take() -> bool:
            try:
                await claims.insert_one({"_id": claim_id})
            except DuplicateKeyError:
                return False
            return True

        # once_more retries a lost connection: an insert that had applied then fails as a
        # duplicate, and that window has no run (at most once, never twice).
        if not await once_more("claim a schedule window", self._where, take):
            return False
        result = await once_more(
            "claim a testsuites schedule",
            self._where,
            lambda: collection.update_one(query, {"$set": changes}),
        )
        return bool(result.modified_count == 1)
