"""``MongoRunStore``: the RunStore port on MongoDB through PyMongo's async API.

A run is one document in ``testruns`` with an ObjectId ``_id`` (returned as its hex string) and
the camelCase fields of docs/results.md, so the seed's shell queries read it as they are:
``db.testruns.findOne({_id: ObjectId(id)}, {items: 0})`` and the recent runs sorted by
``finishedAt``. Datetimes are BSON dates. Items are ``$push``-ed into ``items`` as they finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from lamdis_core.domain.results import (
    Item,
    ItemStatus,
    JudgeSummary,
    Progress,
    Run,
    RunStatus,
    Totals,
    Usage,
    WebhookDelivery,
)
from lamdis_core.logs import get_logger
from lamdis_core.ports.store import (
    INTERRUPTED,
    Claim,
    ItemOutline,
    ItemPage,
    LostClaimError,
    RunFilter,
    RunTrend,
    Trends,
)
from lamdis_core.sanitize import clean, clean_text
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from lamdis_store_mongo import _trim
from lamdis_store_mongo._convert import (
    MICROS_FIELD,
    make_mongo_converter,
    micro_remainders,
    restore_micros,
    with_micros,
)
from lamdis_store_mongo._errors import MongoStoreError
from lamdis_store_mongo._keys import escape_keys, unescape_keys
from lamdis_store_mongo._locks import LOCKS_COLLECTION, DocumentLocks, LockTimeoutError
from lamdis_store_mongo._retry import once_more

logger = get_logger()

RUNS = "testruns"
_ITEM_KEY = "_k"  # per-append key that makes a repeated $push (after a lost answer) a no-op
_FIGURES = ("itemCount", "turnCount", "p95TurnMs")
"""A finished run's trend figures, kept by finish_run (RunTrend's items, turns, p95_ms)."""
_INTERNAL = ("itemsBytes", "claimToken", *_FIGURES)

Doc = dict[str, Any]

RUN_INDEXES = [
    IndexModel([("createdAt", DESCENDING), ("_id", DESCENDING)], name="runs_recent"),
    IndexModel([("finishedAt", DESCENDING)], name="runs_recent_finished"),
    IndexModel([("orgId", ASCENDING), ("createdAt", DESCENDING)], name="runs_by_org"),
    IndexModel([("suiteId", ASCENDING), ("createdAt", DESCENDING)], name="runs_by_suite"),
    IndexModel([("status", ASCENDING), ("createdAt", ASCENDING)], name="runs_by_status"),
    IndexModel([("status", ASCENDING), ("leaseExpiresAt", ASCENDING)], name="runs_leases"),
    # the runs list's other filters, each in its newest-first order (cursor: createdAt, _id)
    IndexModel(
        [("envId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)], name="runs_by_env"
    ),
    IndexModel(
        [("gitContext.branch", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)],
        name="runs_by_branch",
    ),
    IndexModel([("gitContext.sha", ASCENDING)], name="runs_by_commit"),
]


def _list_query(f: RunFilter) -> Doc:
    """The ``find`` filter of ``list_runs``."""
    query: Doc = {}
    for field, value in (
        ("orgId", f.org_id),
        ("suiteId", f.suite_id),
        ("status", str(f.status) if f.status is not None else None),
        ("envId", f.env_id),
        ("trigger", str(f.trigger) if f.trigger is not None else None),
        ("gitContext.branch", f.branch),
    ):
        if value is not None:
            query[field] = value
    every: list[Doc] = []
    if f.commit is not None:
        prefix = {"$regex": "^" + re.escape(f.commit)}
        every.append(
            {
                "$or": [
                    {"gitContext.sha": prefix},
                    {"gitContext.sha": None, "gitContext.commit": prefix},
                ]
            }
        )
    created: Doc = {}
    if f.created_from is not None:
        created["$gte"] = f.created_from
    if f.created_before is not None:
        created["$lt"] = f.created_before
    if created:
        query["createdAt"] = created
    for cursor, sign in ((f.before, "$lt"), (f.after, "$gt")):
        if cursor is None:
            continue
        oid = _oid(cursor.run_id)
        # An id this store never issued: every run of the cursor's instant is outside it.
        ties = [] if oid is None else [{"createdAt": cursor.created_at, "_id": {sign: oid}}]
        every.append({"$or": [{"createdAt": {sign: cursor.created_at}}, *ties]})
    if every:
        query["$and"] = every
    return query


_OUTLINE_FIELDS = (
    "testId",
    "testName",
    "assistant",
    "status",
    "repeat",
    "judgeScore",
    "timings.perTurnMs",
)


def _outline(raw: Any) -> ItemOutline | None:
    """An item's outline from its projected fields; ``None`` when they cannot be read."""
    try:
        turns = raw.get("timings", {}).get("perTurnMs") or []
        score = raw.get("judgeScore")
        return ItemOutline(
            test_id=str(raw["testId"]),
            test_name=str(raw.get("testName", raw["testId"])),
            assistant=str(raw["assistant"]),
            status=ItemStatus(raw["status"]),
            repeat=int(raw.get("repeat") or 0),
            judge_score=float(score) if score is not None else None,
            per_turn_ms=tuple(float(ms) for ms in turns if ms is not None),
        )
    except (AttributeError, KeyError, TypeError, ValueError):  # a damaged stored item
        return None


def _kept_figures(run_id: str, doc: Doc) -> RunTrend | None:
    """The figures finish_run kept on a run document; ``None`` when there are none (a run
    finished before they were kept, or given an item since) or they cannot be read."""
    items, turns, p95 = (doc.get(name) for name in _FIGURES)
    if not isinstance(items, int) or not isinstance(turns, int):
        return None
    if p95 is not None and not isinstance(p95, float | int):
        return None
    return RunTrend(
        run_id=run_id, items=items, turns=turns, p95_ms=float(p95) if p95 is not None else None
    )


def _oid(run_id: str) -> ObjectId | None:
    """The ObjectId of ``run_id``, or ``None`` when it is not a 24-digit hex string."""
    if isinstance(run_id, str) and len(run_id) == 24 and ObjectId.is_valid(run_id):
        return ObjectId(run_id)
    return None


def _fence(claim: Claim | None) -> Doc:
    """The filter of a fenced write: the claim is still the run's (empty: unfenced)."""
    if claim is None:
        return {}
    return {
        "status": str(RunStatus.RUNNING),
        "leaseOwner": claim.owner,
        "attempts": claim.generation,
    }


def _set_fields(fields: Mapping[str, Any], unset: tuple[str, ...] = ()) -> Doc:
    """An update that ``$set``s top-level ``fields`` (keeping their microseconds in ``_us``)
    and ``$unset``s ``unset`` (and their microseconds)."""
    sets: Doc = {}
    unsets: Doc = {}
    for name, value in fields.items():
        sets[name] = escape_keys(value)
        tree = micro_remainders(value)
        if tree is None:
            unsets[f"{MICROS_FIELD}.{name}"] = ""
        else:
            sets[f"{MICROS_FIELD}.{name}"] = tree
    for name in unset:
        unsets[name] = ""
        unsets[f"{MICROS_FIELD}.{name}"] = ""
    update: Doc = {}
    if sets:
        update["$set"] = sets
    if unsets:
        update["$unset"] = unsets
    return update


class MongoRunStore:
    """RunStore on a MongoDB database (or FerretDB).

    Args:
        database: the database holding ``testruns``.
        client: closed by ``aclose()`` when given (``open_store`` passes its own).
        document_locks: serialise writes per run through ``lamdis_locks`` (needed on FerretDB,
            whose updates are not atomic; see ``_locks``). ``open_store`` decides from the
            server's ``buildInfo``.
        where: how to name the server in errors (hosts, never credentials).
        item_max_bytes, run_soft_bytes, run_hard_bytes: the size guard of ``_trim``.
    """

    def __init__(
        self,
        database: AsyncDatabase[Doc],
        *,
        client: AsyncMongoClient[Doc] | None = None,
        document_locks: bool = False,
        where: str = "the configured server",
        item_max_bytes: int = _trim.ITEM_MAX_BYTES,
        run_soft_bytes: int = _trim.RUN_SOFT_BYTES,
        run_hard_bytes: int = _trim.RUN_HARD_BYTES,
    ) -> None:
        self._db = database
        self._client = client
        self._runs: AsyncCollection[Doc] = database[RUNS]
        self._locks = DocumentLocks(database[LOCKS_COLLECTION]) if document_locks else None
        self._where = where
        self._converter = make_mongo_converter()
        self._item_max = item_max_bytes
        self._run_soft = run_soft_bytes
        self._run_hard = run_hard_bytes

    @property
    def database(self) -> AsyncDatabase[Doc]:
        """The database this store writes to."""
        return self._db

    @property
    def document_locks(self) -> bool:
        """Whether writes are serialised per run (FerretDB)."""
        return self._locks is not None

    async def create_indexes(self) -> None:
        """Create the indexes runs are listed and claimed by. Safe to call on every start."""
        # one index per command: FerretDB 1.24 drops the connection (a server-side panic) when
        # one createIndexes names two or more indexes that all exist already
        for index in RUN_INDEXES:
            await once_more(
                "create testruns indexes",
                self._where,
                lambda index=index: self._runs.create_indexes([index]),  # type: ignore[misc]
            )

    # -- documents <-> runs -----------------------------------------------------------------

    def _run_doc(self, run: Run, oid: ObjectId, created_at: datetime) -> Doc:
        doc: Doc = self._converter.unstructure(run)
        doc.pop("id", None)
        doc["_id"] = oid
        doc["createdAt"] = created_at
        doc["items"] = []
        doc["itemsBytes"] = 0
        stored: Doc = escape_keys(with_micros(doc))
        return stored

    def _to_run(self, doc: Doc) -> Run:
        doc = restore_micros(unescape_keys(doc))
        oid = doc.pop("_id")
        raw_items = doc.pop("items", None) or []
        for name in _INTERNAL:
            doc.pop(name, None)
        doc["id"] = str(oid)
        run: Run = self._converter.structure(doc, Run)
        run.items = [self._item(i) for i in raw_items]
        return run

    def _item(self, raw: Doc) -> Item:
        """A stored item (its keys already unescaped) as an ``Item``."""
        item: Item = self._converter.structure(restore_micros(raw), Item)
        return item

    def _item_or_none(self, raw: Any) -> Item | None:
        try:
            return self._item(unescape_keys(raw))
        # Whatever a damaged stored item makes structuring raise (cattrs' groups included).
        except Exception:
            return None

    @contextlib.asynccontextmanager
    async def _guard(self, oid: ObjectId, owner: str) -> AsyncIterator[None]:
        if self._locks is None:
            yield
        else:
            async with self._locks.hold(oid, owner):
                yield

    async def _summary(self, oid: ObjectId) -> Run | None:
        doc = await self._runs.find_one({"_id": oid}, {"items": 0})
        return None if doc is None else self._to_run(doc)

    # -- RunStore ---------------------------------------------------------------------------

    async def create_run(self, run: Run) -> Run:
        oid = ObjectId()
        created_at = run.created_at or datetime.now(UTC)
        doc = self._run_doc(run, oid, created_at)

        async def insert() -> None:
            # a DuplicateKeyError is our own insert, repeated after its answer was lost
            with contextlib.suppress(DuplicateKeyError):
                await self._runs.insert_one(doc)

        await once_more("create_run", self._where, insert)
        logger.debug("mongo_run_created", run_id=str(oid))
        return self._to_run(doc)

    async def get_run(self, run_id: str, *, include_items: bool = True) -> Run | None:
        oid = _oid(run_id)
        if oid is None:
            return None
        projection = None if include_items else {"items": 0}
        doc = await once_more(
            "get_run", self._where, lambda: self._runs.find_one({"_id": oid}, projection)
        )
        return None if doc is None else self._to_run(doc)

    async def get_items(self, run_id: str, *, offset: int, limit: int) -> ItemPage | None:
        oid = _oid(run_id)
        if oid is None:
            return None
        offset = max(offset, 0)
        # The items live in the run's document. FerretDB implements neither $slice nor $size
        # in a projection, so the array is read whole and only the window is converted (the
        # conversion, not the read, is what costs with hundreds of items).
        doc = await once_more(
            "get_items", self._where, lambda: self._runs.find_one({"_id": oid}, {"items": 1})
        )
        if doc is None:
            return None
        stored = doc.get("items")
        stored = stored if isinstance(stored, list) else []
        window = stored[offset : offset + max(limit, 0)]
        return ItemPage(
            offset=offset,
            total=len(stored),
            items=tuple(self._item_or_none(raw) for raw in window),
        )

    async def list_runs(self, run_filter: RunFilter) -> list[Run]:
        f = run_filter
        if f.limit < 1:
            return []
        query = _list_query(f)
        order = DESCENDING if f.after is None else ASCENDING

        async def fetch() -> list[Doc]:
            cursor = (
                self._runs.find(query, {"items": 0})
                .sort([("createdAt", order), ("_id", order)])
                .skip(max(f.offset, 0))
                .limit(f.limit)
            )
            return await cursor.to_list()

        docs = await once_more("list_runs", self._where, fetch)
        if f.after is not None:
            docs.reverse()  # read oldest first from the cursor; listed newest first
        return [self._to_run(doc) for doc in docs]

    async def item_outlines(self, run_ids: Sequence[str]) -> dict[str, list[ItemOutline]]:
        outlines, _ = await self._outlines_and_figures(run_ids)
        return outlines

    async def _outlines_and_figures(
        self, run_ids: Sequence[str]
    ) -> tuple[dict[str, list[ItemOutline]], dict[str, RunTrend]]:
        """The runs' item outlines and the figures finish_run kept for them."""
        answer: dict[str, list[ItemOutline]] = {run_id: [] for run_id in run_ids}
        kept: dict[str, RunTrend] = {}
        oids = {oid: run_id for run_id in answer if (oid := _oid(run_id)) is not None}
        if not oids:
            return answer, kept
        projection = {f"items.{field}": 1 for field in _OUTLINE_FIELDS}
        projection.update(dict.fromkeys(_FIGURES, 1))

        async def fetch() -> list[Doc]:
            return await self._runs.find({"_id": {"$in": list(oids)}}, projection).to_list()

        for doc in await once_more("item_outlines", self._where, fetch):
            run_id = oids[doc["_id"]]
            items = doc.get("items")
            outlines = answer[run_id]
            for raw in items if isinstance(items, list) else []:
                outline = _outline(raw)
                if outline is not None:
                    outlines.append(outline)
            figures = _kept_figures(run_id, doc)
            if figures is not None:
                kept[run_id] = figures
        return answer, kept

    async def trends(self, run_ids: Sequence[str]) -> Trends:
        outlines, kept = await self._outlines_and_figures(run_ids)
        return Trends.of(run_ids, outlines).with_kept(kept)

    async def claim_next(
        self, worker_id: str, *, now: datetime, lease_seconds: float
    ) -> Run | None:
        token = uuid.uuid4().hex
        expires = now + timedelta(seconds=lease_seconds)
        update = _set_fields(
            {
                "status": str(RunStatus.RUNNING),
                "leaseOwner": worker_id,
                "leaseExpiresAt": expires,
                "claimToken": token,
            }
        )
        update["$inc"] = {"attempts": 1}
        # sets startedAt only when it is missing (a missing field is below any date)
        update["$min"] = {"startedAt": now}
        tried = False

        async def claim() -> Run | None:
            nonlocal tried
            if tried:
                # the first attempt may have claimed a run before its answer was lost
                doc = await self._runs.find_one({"claimToken": token}, {"items": 0})
                if doc is not None:
                    if self._locks is not None:  # and may have left its lock behind
                        await self._locks.release(doc["_id"], token)
                    return self._to_run(doc)
            tried = True
            if self._locks is None:
                before = await self._runs.find_one_and_update(
                    {"status": str(RunStatus.QUEUED)},
                    update,
                    sort=[("createdAt", ASCENDING), ("_id", ASCENDING)],
                    return_document=ReturnDocument.BEFORE,
                )
                return None if before is None else await self._after_claim(before, now)
            return await self._claim_with_locks(update, now, token)

        claimed = await once_more("claim_next", self._where, claim)
        if claimed is not None:
            logger.info("mongo_run_claimed", run_id=claimed.id, worker=worker_id)
        return claimed

    async def _claim_with_locks(self, update: Doc, now: datetime, token: str) -> Run | None:
        assert self._locks is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        while True:
            cursor = (
                self._runs.find({"status": str(RunStatus.QUEUED)}, {"_id": 1})
                .sort([("createdAt", ASCENDING), ("_id", ASCENDING)])
                .limit(20)
            )
            candidates = [doc["_id"] for doc in await cursor.to_list()]
            if not candidates:
                return None
            for oid in candidates:
                async with self._locks.attempt(oid, token) as held:
                    if not held:
                        continue  # another claimer (or writer) has it; try the next run
                    before = await self._runs.find_one_and_update(
                        {"_id": oid, "status": str(RunStatus.QUEUED)},
                        update,
                        return_document=ReturnDocument.BEFORE,
                    )
                    if before is not None:
                        return await self._after_claim(before, now)
            if loop.time() > deadline:
                raise LockTimeoutError("every queued run stayed locked by other workers for 30s")
            await asyncio.sleep(0.005)

    async def _after_claim(self, before: Doc, now: datetime) -> Run | None:
        oid = before["_id"]
        if "startedAt" not in before and (remainder := micro_remainders(now)) is not None:
            await self._runs.update_one(
                {"_id": oid}, {"$set": {f"{MICROS_FIELD}.startedAt": remainder}}
            )
        return await self._summary(oid)

    async def renew_lease(
        self,
        run_id: str,
        worker_id: str,
        *,
        now: datetime,
        lease_seconds: float,
        claim: Claim | None = None,
    ) -> bool:
        oid = _oid(run_id)
        if oid is None or (claim is not None and claim.owner != worker_id):
            return False
        owner = uuid.uuid4().hex
        update = _set_fields({"leaseExpiresAt": now + timedelta(seconds=lease_seconds)})

        async def renew() -> bool:
            async with self._guard(oid, owner):
                query = {"_id": oid, "status": str(RunStatus.RUNNING), "leaseOwner": worker_id}
                result = await self._runs.update_one({**query, **_fence(claim)}, update)
                return result.matched_count == 1

        return await once_more("renew_lease", self._where, renew)

    async def _write(
        self,
        what: str,
        run_id: str,
        query: Doc,
        update: Doc,
        claim: Claim | None = None,
        done: Doc | None = None,
    ) -> None:
        """One update of a run; with ``claim``, fenced (``done``: what the document looks like
        once this very update landed, so a retry after a lost answer is not a refusal)."""
        oid = _oid(run_id)
        if oid is None:
            if claim is not None:
                raise LostClaimError(str(run_id), what, claim)
            return
        owner = uuid.uuid4().hex
        tried = False

        async def write() -> None:
            nonlocal tried
            retry, tried = tried, True
            async with self._guard(oid, owner):
                result = await self._runs.update_one({"_id": oid, **query, **_fence(claim)}, update)
                if claim is None or result.matched_count == 1:
                    return
                if (
                    retry
                    and done is not None
                    and await self._runs.count_documents({"_id": oid, **done})
                ):
                    return
                raise LostClaimError(run_id, what, claim)

        await once_more(what, self._where, write)

    async def update_progress(
        self, run_id: str, progress: Progress, *, claim: Claim | None = None
    ) -> None:
        update = _set_fields({"progress": self._converter.unstructure(progress)})
        await self._write("update_progress", run_id, {}, update, claim)

    async def append_item(
        self, run_id: str, item: Item, *, claim: Claim | None = None, key: str | None = None
    ) -> None:
        oid = _oid(run_id)
        if oid is None:
            if claim is not None:
                raise LostClaimError(str(run_id), "append_item", claim)
            return
        key = key if key is not None else uuid.uuid4().hex
        fence = _fence(claim)
        doc: Doc = escape_keys(with_micros(clean(self._converter.unstructure(item))))
        doc[_ITEM_KEY] = key
        fitted, size = _trim.fit_item(doc, max_bytes=self._item_max)
        if fitted is not doc:
            logger.warning("mongo_item_trimmed", run_id=run_id, test_id=item.test_id, bytes=size)

        async def push(entry: Doc, entry_size: int, budget: int) -> bool:
            result = await self._runs.update_one(
                {
                    "_id": oid,
                    **fence,
                    f"items.{_ITEM_KEY}": {"$ne": key},
                    "itemsBytes": {"$lte": budget - entry_size},
                },
                # Unsets the figures a finish kept: an item appended after it counts.
                {
                    "$push": {"items": entry},
                    "$inc": {"itemsBytes": entry_size},
                    "$unset": dict.fromkeys(_FIGURES, ""),
                },
            )
            return result.matched_count == 1

        async def append() -> None:
            async with self._guard(oid, key):
                if self._locks is not None and await self._runs.count_documents(
                    {"_id": oid, f"items.{_ITEM_KEY}": key}
                ):
                    # FerretDB 1.x can match the push's `$ne` on the key despite a stored
                    # item carrying it (seen with the claim in the filter); under the run's
                    # lock this check is exact.
                    return
                if await push(fitted, size, self._run_soft):
                    return
                if await self._runs.count_documents({"_id": oid, f"items.{_ITEM_KEY}": key}):
                    return  # this key is stored already (a retry after a lost answer)
                state = await self._runs.find_one({"_id": oid, **fence}, {"itemsBytes": 1})
                if state is None:
                    if claim is not None:
                        raise LostClaimError(run_id, "append_item", claim)
                    return  # unknown run: unfenced writers ignore it
                compact, compact_size = _trim.fit_item(
                    doc, max_bytes=_trim.COMPACT_MAX_BYTES, compact=True
                )
                if await push(compact, compact_size, self._run_hard):
                    logger.warning(
                        "mongo_item_compacted",
                        run_id=run_id,
                        test_id=item.test_id,
                        items_bytes=state.get("itemsBytes"),
                    )
                    return
                raise MongoStoreError(
                    f"append_item: run {run_id} holds {state.get('itemsBytes')} bytes of items, "
                    f"and one more would pass {self._run_hard} bytes; MongoDB documents are "
                    "limited to 16 MiB. Split the suite into smaller runs."
                )

        await once_more("append_item", self._where, append)

    async def finish_run(
        self,
        run_id: str,
        *,
        status: RunStatus,
        totals: Totals,
        judge: JudgeSummary,
        usage: Usage,
        finished_at: datetime,
        error: str | None = None,
        claim: Claim | None = None,
        seed: int | None = None,
    ) -> None:
        fields: Doc = {
            "status": str(status),
            "totals": self._converter.unstructure(totals),
            "judge": self._converter.unstructure(judge),
            "usage": self._converter.unstructure(usage),
            "finishedAt": finished_at,
        }
        if seed is not None:
            fields["seed"] = seed
        unset: tuple[str, ...] = ("leaseOwner", "leaseExpiresAt", "claimToken")
        if error is None:
            unset = (*unset, "error")
        else:
            fields["error"] = clean_text(error)
        done = None
        if claim is not None:
            done = {"status": str(status), "attempts": claim.generation, "leaseOwner": None}
            done["finishedAt"] = finished_at
        await self._write("finish_run", run_id, {}, _set_fields(fields, unset), claim, done)
        await self._keep_figures(run_id)

    async def _keep_figures(self, run_id: str) -> None:
        """Keep the finished run's trend figures on it. The write only lands while the run
        holds the items they were computed from: an item appended in between (which unsets
        them, as any later one does) leaves them to be computed when read."""
        oid = _oid(run_id)
        if oid is None:
            return
        projection = {f"items.{field}": 1 for field in _OUTLINE_FIELDS}
        owner = uuid.uuid4().hex

        async def keep() -> None:
            # Under the run's lock where the server's updates are not isolated (FerretDB),
            # as appends are: the count the filter checks is the count read.
            async with self._guard(oid, owner):
                doc = await self._runs.find_one({"_id": oid}, projection)
                items = doc.get("items") if doc is not None else None
                if not isinstance(items, list):
                    return
                outlines = [o for raw in items if (o := _outline(raw)) is not None]
                figures = RunTrend.of(run_id, outlines)
                await self._runs.update_one(
                    {"_id": oid, "items": {"$size": len(items)}},
                    {
                        "$set": {
                            "itemCount": figures.items,
                            "turnCount": figures.turns,
                            "p95TurnMs": figures.p95_ms,
                        }
                    },
                )

        await once_more("finish_run", self._where, keep)

    async def request_stop(self, run_id: str, *, now: datetime) -> Run | None:
        oid = _oid(run_id)
        if oid is None:
            return None
        owner = uuid.uuid4().hex
        stop_queued = _set_fields(
            {"status": str(RunStatus.STOPPED), "finishedAt": now, "stopRequested": True}
        )

        async def stop() -> Run | None:
            async with self._guard(oid, owner):
                result = await self._runs.update_one(
                    {"_id": oid, "status": str(RunStatus.QUEUED)}, stop_queued
                )
                if result.matched_count == 0:
                    await self._runs.update_one(
                        {"_id": oid, "status": str(RunStatus.RUNNING)},
                        {"$set": {"stopRequested": True}},
                    )
                return await self._summary(oid)

        return await once_more("request_stop", self._where, stop)

    async def is_stop_requested(self, run_id: str) -> bool:
        oid = _oid(run_id)
        if oid is None:
            return False
        doc = await once_more(
            "is_stop_requested",
            self._where,
            lambda: self._runs.find_one({"_id": oid}, {"stopRequested": 1}),
        )
        return bool(doc and doc.get("stopRequested"))

    async def recover_expired(self, *, now: datetime, max_attempts: int = 2) -> list[Run]:
        expired_query = {"status": str(RunStatus.RUNNING), "leaseExpiresAt": {"$lt": now}}
        lease = ("leaseOwner", "leaseExpiresAt")
        # Marks what this call changed, so a retry after a lost answer still reports the run
        # (the caller sends the `interrupted` webhook from the returned list).
        token = f"recovered:{uuid.uuid4().hex}"
        requeue = _set_fields(
            {
                "status": str(RunStatus.QUEUED),
                "items": [],
                "itemsBytes": 0,
                "progress": self._converter.unstructure(Progress()),
                "claimToken": token,
            },
            lease,
        )
        fail = _set_fields(
            {
                "status": str(RunStatus.FAILED),
                "error": INTERRUPTED,
                "finishedAt": now,
                "claimToken": token,
            },
            lease,
        )

        async def expired() -> list[ObjectId]:
            docs = await self._runs.find(expired_query, {"_id": 1}).to_list()
            return [doc["_id"] for doc in docs]

        changed: list[Run] = []
        for oid in await once_more("recover_expired", self._where, expired):
            owner = uuid.uuid4().hex

            async def recover(oid: ObjectId = oid, owner: str = owner) -> Run | None:
                async with self._guard(oid, owner):
                    base = {"_id": oid, **expired_query}
                    result = await self._runs.update_one(
                        {**base, "attempts": {"$lt": max_attempts}}, requeue
                    )
                    if result.matched_count == 0:
                        result = await self._runs.update_one(
                            {**base, "attempts": {"$gte": max_attempts}}, fail
                        )
                    if result.matched_count == 0:
                        # renewed or finished meanwhile, or changed by our own first attempt
                        doc = await self._runs.find_one(
                            {"_id": oid, "claimToken": token}, {"items": 0}
                        )
                        return None if doc is None else self._to_run(doc)
                    return await self._summary(oid)

            run = await once_more("recover_expired", self._where, recover)
            if run is not None:
                logger.warning("mongo_run_recovered", run_id=run.id, status=str(run.status))
                changed.append(run)
        return changed

    async def record_webhook(self, run_id: str, delivery: WebhookDelivery) -> None:
        update = _set_fields({"webhook": self._converter.unstructure(delivery)})
        await self._write("record_webhook", run_id, {}, update)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
