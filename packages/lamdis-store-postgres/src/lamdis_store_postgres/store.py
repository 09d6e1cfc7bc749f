"""RunStore and Catalog on PostgreSQL, through one asyncpg pool.

Layout (see ``migrations/0001_initial.sql``): runs in ``test_runs`` with the camelCase columns
of lamdis-runs; each finished item is one row of ``test_run_items``, so appending is an insert
whose cost does not grow with the run; catalog documents in ``organizations``,
``test_suites``, ``tests``, ``environments``, ``personas`` and ``requests``.

Run ids are 24 lowercase hex characters shaped like a MongoDB ObjectId: 4 bytes of Unix time
then 8 random bytes. They sort roughly by creation, and ids copied between the Mongo and the
PostgreSQL store look alike. Any other text id is simply unknown, never an error.

Connection loss (a server restart, a failover) is retried with backoff for up to
``retry_seconds``; every operation is made safe to repeat first (appends carry an idempotency
key, claims a claim token). When the budget runs out, ``StoreUnavailableError`` says so.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import math
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from lamdis_core.domain.convert import make_converter
from lamdis_core.domain.results import (
    Item,
    ItemStatus,
    JudgeSummary,
    Progress,
    Run,
    RunStatus,
    Totals,
    Trigger,
    Usage,
    WebhookDelivery,
)
from lamdis_core.logs import get_logger
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.ports.clock import Clock, SystemClock
from lamdis_core.ports.store import (
    INTERRUPTED,
    WORST_FIRST,
    Claim,
    ItemOutline,
    ItemPage,
    LostClaimError,
    RunFilter,
    RunTrend,
    TestTrend,
    Trends,
)
from lamdis_core.sanitize import clean, clean_text

from lamdis_store_postgres import _schedule
from lamdis_store_postgres._dsn import connect_options, redact
from lamdis_store_postgres._migrate import check_migrated
from lamdis_store_postgres.errors import StoreConfigError, StoreUnavailableError

__all__ = [
    "PostgresCatalog",
    "PostgresRunStore",
    "create_pool",
    "new_run_id",
    "open_store",
]

logger = get_logger()

_T = TypeVar("_T")

DEFAULT_RETRY_SECONDS = 15.0
"""How long an operation keeps retrying after the connection dropped (covers a restart)."""


_converter = make_converter()


def new_run_id() -> str:
    """A 24-hex-character run id: 4 bytes of Unix time, then 8 random bytes."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"


# -- JSON -----------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    """JSON for a jsonb parameter.

    jsonb cannot hold NUL characters, lone UTF-16 surrogates or non-finite numbers; an
    assistant's reply or a latency may contain them. They are replaced (NUL and surrogates by
    U+FFFD, NaN/inf by null) rather than failing the write and losing the item.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")  # lone surrogates (from a "\\ud83d" escape) cannot be sent
    except ValueError:  # NaN/inf, or a lone surrogate (UnicodeEncodeError)
        return json.dumps(_clean(value), ensure_ascii=False, allow_nan=False)
    if "\\u0000" in text:
        return json.dumps(_clean(value), ensure_ascii=False, allow_nan=False)
    return text


def _text(value: str | None) -> str | None:
    """A value for a text column (same replacements as in jsonb)."""
    return clean_text(value, nul=True) if value is not None else None


def _clean(value: Any) -> Any:
    # Surrogates and NaN as every store replaces them; NUL is PostgreSQL's own limit.
    return clean(value, nul=True)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, command_timeout: float = 60.0
) -> asyncpg.Pool:
    """An asyncpg pool whose connections encode and decode jsonb as Python objects.

    Raises:
        StoreConfigError: the URL is malformed.
        StoreUnavailableError: PostgreSQL could not be reached.
    """
    target, options = connect_options(dsn)
    max_size = options.pop("max_size", max_size)
    try:
        pool = await asyncpg.create_pool(
            target,
            min_size=min(min_size, max_size),
            max_size=max_size,
            init=_init_connection,
            # a query stuck on a half-open connection (a vanished host) counts as lost
            command_timeout=command_timeout,
            **options,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailableError(
            f"cannot connect to PostgreSQL at {redact(dsn)}: {exc}", operation="connect"
        ) from exc
    assert pool is not None  # create_pool only returns None when awaited un-initialised
    return pool


# -- retries --------------------------------------------------------------------------------


def _is_connection_loss(exc: BaseException) -> bool:
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError  # SQLSTATE class 08
        | asyncpg.AdminShutdownError  # server shutting down (pg_ctl stop/restart)
        | asyncpg.CrashShutdownError
        | asyncpg.CannotConnectNowError  # "the database system is starting up"
        | asyncpg.InternalClientError  # protocol state broken by a cut-off session
        | ConnectionError
        | TimeoutError,
    ):
        return True
    if isinstance(exc, OSError):  # connection refused while the server is down
        return True
    # asyncpg raises a bare InterfaceError for a connection that is already closed.
    return (
        isinstance(exc, asyncpg.InterfaceError)
        and not isinstance(exc, ValueError)  # argument errors are InterfaceErrors too
        and "closed" in str(exc)
    )


class _Database:
    """The pool plus the retry policy both ports share."""

    def __init__(self, pool: asyncpg.Pool, *, retry_seconds: float) -> None:
        self.pool = pool
        self.retry_seconds = retry_seconds

    async def run(
        self,
        operation: str,
        body: Callable[[asyncpg.Connection, int], Awaitable[_T]],
    ) -> _T:
        """Run ``body(connection, attempt)``, retrying on connection loss.

        ``body`` must be safe to run again after a failure whose outcome is unknown (its
        transaction may have committed before the connection dropped).
        """
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.05
        attempt = 1
        while True:
            try:
                async with self.pool.acquire() as conn:
                    try:
                        return await body(conn, attempt)
                    except Exception as exc:
                        # A connection the server cut off can be left in a confused protocol
                        # state (asyncpg issue #1069); make sure the pool never hands it out.
                        if _is_connection_loss(exc) and not conn.is_closed():
                            conn.terminate()
                        raise
            except Exception as exc:
                if not _is_connection_loss(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailableError(
                        f"PostgreSQL connection lost during {operation} and not back after "
                        f"{attempt} attempts over {self.retry_seconds:g}s: "
                        f"{type(exc).__name__}: {exc}",
                        operation=operation,
                    ) from exc
                logger.warning(
                    "postgres.retry", operation=operation, attempt=attempt, error=repr(exc)
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                attempt += 1

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.pool.close(), timeout=10)
        except TimeoutError:
            self.pool.terminate()


def _usable_id(value: object) -> bool:
    # PostgreSQL text cannot hold NUL; such an id was never issued, so it is unknown.
    return isinstance(value, str) and "\x00" not in value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- runs -----------------------------------------------------------------------------------

_RUN_COLUMNS = """
    id, "orgId", "suiteId", "envId", trigger, "gitContext", status, "createdAt", "startedAt",
    "finishedAt", totals, judge, usage, progress, error, "stopRequested", "webhookUrl",
    webhook, request, attempts, "leaseOwner", "leaseExpiresAt", seed
"""


def _fence(owner: int, generation: int) -> str:
    """A fenced write's condition: the claim (parameters $owner, $generation) is current."""
    return f"""status = 'running' AND "leaseOwner" = ${owner} AND attempts = ${generation}"""


_RUN_COLUMNS_R = ", ".join(f"r.{c.strip()}" for c in _RUN_COLUMNS.split(","))


class _Damage:
    """What of one stored run could not be read. A damaged jsonb value (edited by hand, a
    restore gone wrong) must not make the run, nor every listing holding it, fail: the part
    is read as its default and the run's ``error`` says which parts those are."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def read(self, what: str, convert: Callable[[], _T], default: Callable[[], _T]) -> _T:
        try:
            return convert()
        # Whatever the content makes structuring raise (cattrs' validation groups included);
        # the row was already fetched, so no database error can arrive here.
        except Exception as exc:
            self.parts.append(f"{what} ({type(exc).__name__})")
            return default()

    def note(self, error: str | None) -> str | None:
        if not self.parts:
            return error
        note = (
            "this stored run is damaged: "
            + ", ".join(self.parts)
            + " could not be read (shown empty, or left out)"
        )
        return f"{error}; {note}" if error else note


def _items_from_rows(records: list[Mapping[str, Any]], damage: _Damage) -> list[Item]:
    """The items that can be read; each one that cannot is named in the run's note."""

    def structure(value: Any) -> Callable[[], Item | None]:
        return lambda: _converter.structure(_mapping(value), Item)

    items = [
        damage.read(f"item {n}", structure(r["item"]), lambda: None) for n, r in enumerate(records)
    ]
    return [item for item in items if item is not None]


def _run_from_row(
    row: Mapping[str, Any], items: list[Item] | None = None, damage: _Damage | None = None
) -> Run:
    damage = damage or _Damage()

    def part(column: str, kind: type[_T]) -> _T:
        return damage.read(column, lambda: _converter.structure(_mapping(row[column]), kind), kind)

    webhook = row["webhook"]
    run = Run(
        id=row["id"],
        org_id=row["orgId"],
        suite_id=row["suiteId"],
        env_id=row["envId"],
        trigger=damage.read("trigger", lambda: Trigger(row["trigger"]), lambda: Trigger.MANUAL),
        git_context=damage.read("gitContext", lambda: _mapping(row["gitContext"]), dict),
        # The column's CHECK constraint keeps status readable.
        status=RunStatus(row["status"]),
        created_at=row["createdAt"],
        started_at=row["startedAt"],
        finished_at=row["finishedAt"],
        totals=part("totals", Totals),
        judge=part("judge", JudgeSummary),
        usage=part("usage", Usage),
        progress=part("progress", Progress),
        items=items or [],
        stop_requested=row["stopRequested"],
        webhook_url=row["webhookUrl"],
        webhook=damage.read(
            "webhook",
            lambda: (
                _converter.structure(_mapping(webhook), WebhookDelivery)
                if webhook is not None
                else None
            ),
            lambda: None,
        ),
        request=damage.read("request", lambda: _mapping(row["request"]), dict),
        attempts=row["attempts"],
        lease_owner=row["leaseOwner"],
        lease_expires_at=row["leaseExpiresAt"],
        seed=row["seed"],
    )
    run.error = damage.note(row["error"])  # after every part was read
    return run


_RANK = {str(status): n for n, status in enumerate(WORST_FIRST)}
_READABLE = "(" + ", ".join(f"'{status}'" for status in WORST_FIRST) + ")"
"""The item statuses a reader understands; a row with any other counts as absent."""
# The suite page's trends. Per run, the figures finish_run kept on the row; for a run without
# them (finished before migration 0006, still running, or given an item after its finish),
# the run's readable item rows with every turn latency joined into one array. The lateral
# subquery is gated on the missing figures, so a run that has them reads no item.
_RUN_TRENDS_SQL = f"""
    SELECT r.id, r."itemCount" AS items, r."turnCount" AS turns, r."p95TurnMs" AS p95,
           f.items AS counted, f.ms, f.legacy
    FROM test_runs AS r
    LEFT JOIN LATERAL (
        SELECT count(*) AS items, lamdis_concat_ms(i."perTurnMs") AS ms,
               COALESCE(bool_or(i."perTurnMs" IS NULL), false) AS legacy
        FROM test_run_items AS i
        WHERE r."itemCount" IS NULL AND i."runId" = r.id AND i.status IN {_READABLE}
    ) AS f ON true
    WHERE r.id = ANY($1::text[])
"""
# One statement, so one snapshot: the count and the window agree. No row: no such run; one
# row without seq: a window past the last item (or a run without items). The window walks the
# ("runId", seq) index from the run's first item, so its cost follows offset + limit.
_ITEM_PAGE_SQL = """
    SELECT n.total, w.seq, w.item
    FROM test_runs AS r
    CROSS JOIN LATERAL (SELECT count(*) AS total FROM test_run_items WHERE "runId" = r.id) AS n
    LEFT JOIN LATERAL (
        SELECT seq, item FROM test_run_items WHERE "runId" = r.id
        ORDER BY seq OFFSET $2 LIMIT $3
    ) AS w ON true
    WHERE r.id = $1
    ORDER BY w.seq
"""


def _item_or_none(value: Any) -> Item | None:
    try:
        return _converter.structure(_mapping(value), Item)
    # Whatever the content makes structuring raise, as _Damage.read: the row was fetched.
    except Exception:
        return None


# Per test x assistant, in one scan of the runs' item rows: the position (in the runs asked
# for) and status of each of its items, in one order, its turn latencies joined into one
# array, and its name in the first run asked for that has it (its first item there). Python
# takes the worst status per run and the nearest-rank p95 (TestTrend.of, as Trends.of does),
# from a row per test, not per item.
# The join alone gives positions; "runId" = ANY keeps the ("runId", seq) index in the plan even
# before the table has statistics (a fresh import), where the join alone scans every item.
_TEST_TRENDS_SQL = f"""
    SELECT i."testId", i.assistant,
           (array_agg(COALESCE(i."testName", i."testId") ORDER BY r.pos, i.seq))[1] AS name,
           array_agg(r.pos - 1) AS positions, array_agg(i.status) AS statuses,
           lamdis_concat_ms(i."perTurnMs") AS ms, bool_or(i."perTurnMs" IS NULL) AS legacy
    FROM test_run_items AS i
    JOIN unnest($1::text[]) WITH ORDINALITY AS r(id, pos) ON r.id = i."runId"
    WHERE i."runId" = ANY($1::text[]) AND i.status IN {_READABLE}
    GROUP BY i."testId", i.assistant
"""
# What finish_run keeps on the row: the figures of RunTrend.of over the run's readable items
# (percentile_disc is the nearest rank: the value at ceil(0.95 * n), the product in float8 as
# Python computes it); none when an item predates the outline columns (migration 0005).
_RUN_FIGURES_SQL = f"""
    SELECT CASE WHEN f.legacy THEN NULL ELSE f.items END,
           CASE WHEN f.legacy THEN NULL ELSE (SELECT count(ms) FROM unnest(f.ms) AS t(ms)) END,
           CASE WHEN f.legacy THEN NULL ELSE
               (SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY ms) FROM unnest(f.ms) AS t(ms))
           END
    FROM (
        SELECT count(*) AS items, lamdis_concat_ms("perTurnMs") AS ms,
               COALESCE(bool_or("perTurnMs" IS NULL), false) AS legacy
        FROM test_run_items WHERE "runId" = $1 AND status IN {_READABLE}
    ) AS f
"""


def _run_trend(row: Mapping[str, Any]) -> RunTrend:
    """A run's figures: those finish_run kept, else from its item rows."""
    if row["items"] is not None:
        return RunTrend(run_id=row["id"], items=row["items"], turns=row["turns"], p95_ms=row["p95"])
    return RunTrend.over(
        row["id"],
        items=row["counted"],
        latencies=[ms for ms in row["ms"] or () if ms is not None],
    )


def _outline_from_row(row: Mapping[str, Any]) -> ItemOutline | None:
    """The outline in a ``test_run_items`` row; ``None`` when it cannot be read."""
    try:
        if row["perTurnMs"] is None:  # stored before migration 0005
            return ItemOutline.of(_converter.structure(_mapping(row["legacy"]), Item))
        return ItemOutline(
            test_id=row["testId"],
            test_name=row["testName"] if row["testName"] is not None else row["testId"],
            assistant=row["assistant"],
            status=ItemStatus(row["status"]),
            repeat=row["repeat"] or 0,
            judge_score=row["judgeScore"],
            per_turn_ms=tuple(ms for ms in row["perTurnMs"] if ms is not None),
        )
    except Exception:  # a damaged row: get_run names it in the run's error
        return None


def _finite(value: float | None) -> float | None:
    # NaN/inf are stored as null in the document (see _dumps); the columns agree with it.
    return value if value is not None and math.isfinite(value) else None


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _json(value: Any) -> Any:
    return _converter.unstructure(value)


_COMMIT = 'COALESCE("gitContext" ->> \'sha\', "gitContext" ->> \'commit\') COLLATE "C"'
_LAST_CHARACTER = "\U0010ffff"
_NO_SEQ = (-1, 2**63 - 1)
"""The cursor's ``seq`` when its run is gone: below or above every run of its instant."""


def list_runs_query(run_filter: RunFilter) -> tuple[str, list[Any]] | None:
    """The SQL and arguments ``list_runs`` sends (``None``: nothing can match)."""
    f = run_filter
    if f.limit <= 0:
        return None
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    for column, value in (
        ('"orgId"', f.org_id),
        ('"suiteId"', f.suite_id),
        ("status", RunStatus(f.status).value if f.status else None),
        ('"envId"', f.env_id),
        ("trigger", Trigger(f.trigger).value if f.trigger else None),
        (""""gitContext" ->> 'branch'""", f.branch),
    ):
        if value is not None:
            if not _usable_id(value):
                return None
            clauses.append(f"{column} = {arg(value)}")
    if f.commit is not None:
        if not _usable_id(f.commit):
            return None
        # A range the index answers, then the exact prefix test.
        prefix, upper = arg(f.commit), arg(f.commit + _LAST_CHARACTER)
        clauses.append(
            f"{_COMMIT} >= {prefix} AND {_COMMIT} < {upper} AND starts_with({_COMMIT}, {prefix})"
        )
    if f.created_from is not None:
        clauses.append(f'"createdAt" >= {arg(_aware(f.created_from))}')
    if f.created_before is not None:
        clauses.append(f'"createdAt" < {arg(_aware(f.created_before))}')
    newest_first = f.after is None
    for cursor, sign, missing in ((f.before, "<", _NO_SEQ[0]), (f.after, ">", _NO_SEQ[1])):
        if cursor is None:
            continue
        if not _usable_id(cursor.run_id):
            return None
        at = arg(_aware(cursor.created_at))
        # The row comparison is an index range on ("createdAt", seq); the cursor's seq is one
        # primary-key lookup.
        clauses.append(
            f'("createdAt", seq) {sign} ({at}, COALESCE((SELECT seq FROM test_runs '
            f'WHERE id = {arg(cursor.run_id)} AND "createdAt" = {at}), {missing}))'
        )
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "DESC" if newest_first else "ASC"
    sql = (
        f"SELECT {_RUN_COLUMNS} FROM test_runs {where} "
        f'ORDER BY "createdAt" {order}, seq {order} '
        f"LIMIT {arg(f.limit)} OFFSET {arg(max(f.offset, 0))}"
    )
    return sql, args


class PostgresRunStore:
    """The RunStore port on PostgreSQL.

    Args:
        pool: an asyncpg pool made by ``create_pool`` (its connections decode jsonb).
        clock: supplies ``created_at`` for runs that arrive without one.
        retry_seconds: how long an operation retries after losing its connection.

    ``aclose`` closes the pool, which the catalog from ``open_store`` shares.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock | None = None,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        self._db = _Database(pool, retry_seconds=retry_seconds)
        self._clock = clock or SystemClock()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._db.pool

    async def create_run(self, run: Run) -> Run:
        run_id = new_run_id()
        created_at = _aware(run.created_at or self._clock.now())
        args = (
            run_id,
            run.org_id,
            run.suite_id,
            run.env_id,
            Trigger(run.trigger).value,
            run.git_context,
            RunStatus(run.status).value,
            created_at,
            _aware(run.started_at) if run.started_at else None,
            _aware(run.finished_at) if run.finished_at else None,
            _json(run.totals),
            _json(run.judge),
            _json(run.usage),
            _json(run.progress),
            _text(run.error),
            run.stop_requested,
            run.webhook_url,
            _json(run.webhook) if run.webhook is not None else None,
            run.request,
            run.attempts,
            run.lease_owner,
            _aware(run.lease_expires_at) if run.lease_expires_at else None,
            run.seed,
        )

        async def body(conn: asyncpg.Connection, attempt: int) -> Run:
            # ON CONFLICT: a retry after a commit whose answer was lost finds the row there.
            row = await conn.fetchrow(
                f"""
                INSERT INTO test_runs ({_RUN_COLUMNS})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                        $17, $18, $19, $20, $21, $22, $23)
                ON CONFLICT (id) DO NOTHING
                RETURNING {_RUN_COLUMNS}
                """,
                *args,
            )
            if row is None:
                row = await conn.fetchrow(
                    f"SELECT {_RUN_COLUMNS} FROM test_runs WHERE id = $1", run_id
                )
            return _run_from_row(row)

        return await self._db.run("create_run", body)

    async def get_run(self, run_id: str, *, include_items: bool = True) -> Run | None:
        if not _usable_id(run_id):
            return None

        async def body(conn: asyncpg.Connection, attempt: int) -> Run | None:
            # One snapshot, so a run and its items are never seen half-recovered.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                row = await conn.fetchrow(
                    f"SELECT {_RUN_COLUMNS} FROM test_runs WHERE id = $1", run_id
                )
                if row is None:
                    return None
                items: list[Item] = []
                damage = _Damage()
                if include_items:
                    records = await conn.fetch(
                        'SELECT item FROM test_run_items WHERE "runId" = $1 ORDER BY seq', run_id
                    )
                    items = _items_from_rows(records, damage)
                return _run_from_row(row, items, damage)

        return await self._db.run("get_run", body)

    async def get_items(self, run_id: str, *, offset: int, limit: int) -> ItemPage | None:
        if not _usable_id(run_id):
            return None
        offset = max(offset, 0)

        async def body(conn: asyncpg.Connection, attempt: int) -> list[Any]:
            return list(await conn.fetch(_ITEM_PAGE_SQL, run_id, offset, max(limit, 0)))

        rows = await self._db.run("get_items", body)
        if not rows:
            return None
        return ItemPage(
            offset=offset,
            total=rows[0]["total"],
            items=tuple(_item_or_none(r["item"]) for r in rows if r["seq"] is not None),
        )

    async def list_runs(self, run_filter: RunFilter) -> list[Run]:
        query = list_runs_query(run_filter)
        if query is None:
            return []
        sql, args = query

        async def body(conn: asyncpg.Connection, attempt: int) -> list[Run]:
            runs = [_run_from_row(r) for r in await conn.fetch(sql, *args)]
            if run_filter.after is not None:
                runs.reverse()  # read oldest first from the cursor; listed newest first
            return runs

        return await self._db.run("list_runs", body)

    async def item_outlines(self, run_ids: Sequence[str]) -> dict[str, list[ItemOutline]]:
        answer: dict[str, list[ItemOutline]] = {run_id: [] for run_id in run_ids}
        usable = [run_id for run_id in answer if _usable_id(run_id)]
        if not usable:
            return answer

        async def body(conn: asyncpg.Connection, attempt: int) -> list[Any]:
            # The document only for rows stored before the outline columns existed.
            return list(
                await conn.fetch(
                    """
                    SELECT "runId", "testId", assistant, status, "testName", repeat,
                           "judgeScore", "perTurnMs",
                           CASE WHEN "perTurnMs" IS NULL THEN item END AS legacy
                    FROM test_run_items WHERE "runId" = ANY($1::text[])
                    ORDER BY "runId", seq
                    """,
                    usable,
                )
            )

        for row in await self._db.run("item_outlines", body):
            outline = _outline_from_row(row)
            if outline is not None:
                answer[row["runId"]].append(outline)
        return answer

    async def trends(self, run_ids: Sequence[str]) -> Trends:
        asked = list(dict.fromkeys(run_ids))
        usable = [run_id for run_id in asked if _usable_id(run_id)]
        if not usable:
            return Trends.of(asked, {})

        async def body(conn: asyncpg.Connection, attempt: int) -> tuple[list[Any], list[Any]]:
            # One snapshot: the runs' figures and their items agree.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                runs = await conn.fetch(_RUN_TRENDS_SQL, usable)
                tests = await conn.fetch(_TEST_TRENDS_SQL, usable)
                return list(runs), list(tests)

        runs, tests = await self._db.run("trends", body)
        if any(r["legacy"] for r in runs) or any(t["legacy"] for t in tests):
            # Items stored before migration 0005 have no outline columns: the slow path.
            return Trends.of(asked, await self.item_outlines(asked))
        by_id = {r["id"]: _run_trend(r) for r in runs}
        position = {run_id: n for n, run_id in enumerate(usable)}
        order = [position.get(run_id) for run_id in asked]
        test_trends = []
        for test in sorted(tests, key=lambda t: (t["testId"], t["assistant"])):
            worst: dict[int, int] = {}  # position -> rank in WORST_FIRST of its worst item
            for pos, status in zip(test["positions"], test["statuses"], strict=True):
                rank = _RANK[status]
                if rank < worst.get(pos, len(WORST_FIRST)):
                    worst[pos] = rank
            test_trends.append(
                TestTrend.of(
                    (test["testId"], test["assistant"]),
                    test_name=test["name"],
                    outcomes=[
                        WORST_FIRST[worst[n]] if n is not None and n in worst else None
                        for n in order
                    ],
                    latencies=[ms for ms in test["ms"] or () if ms is not None],
                )
            )
        return Trends(
            runs=tuple(
                by_id.get(run_id) or RunTrend.over(run_id, items=0, latencies=())
                for run_id in asked
            ),
            tests=tuple(test_trends),
        )

    async def claim_next(
        self, worker_id: str, *, now: datetime, lease_seconds: float
    ) -> Run | None:
        now = _aware(now)
        expires = now + timedelta(seconds=lease_seconds)
        token = uuid.uuid4().hex

        async def body(conn: asyncpg.Connection, attempt: int) -> Run | None:
            if attempt > 1:
                # The previous attempt may have committed before the connection dropped.
                row = await conn.fetchrow(
                    f'SELECT {_RUN_COLUMNS} FROM test_runs WHERE "claimToken" = $1', token
                )
                if row is not None:
                    return _run_from_row(row)
            row = await conn.fetchrow(
                f"""
                WITH next AS (
                    SELECT id FROM test_runs WHERE status = 'queued'
                    ORDER BY "createdAt", seq LIMIT 1
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE test_runs AS r
                SET status = 'running', "leaseOwner" = $1, "leaseExpiresAt" = $2,
                    attempts = r.attempts + 1, "startedAt" = COALESCE(r."startedAt", $3),
                    "claimToken" = $4, "updatedAt" = now()
                FROM next WHERE r.id = next.id
                RETURNING {_RUN_COLUMNS_R}
                """,
                worker_id,
                expires,
                now,
                token,
            )
            return _run_from_row(row) if row is not None else None

        return await self._db.run("claim_next", body)

    async def renew_lease(
        self,
        run_id: str,
        worker_id: str,
        *,
        now: datetime,
        lease_seconds: float,
        claim: Claim | None = None,
    ) -> bool:
        if not _usable_id(run_id):
            return False
        expires = _aware(now) + timedelta(seconds=lease_seconds)
        generation = claim.generation if claim is not None else None
        if claim is not None and claim.owner != worker_id:
            return False

        async def body(conn: asyncpg.Connection, attempt: int) -> bool:
            status = await conn.execute(
                """
                UPDATE test_runs SET "leaseExpiresAt" = $3, "updatedAt" = now()
                WHERE id = $1 AND "leaseOwner" = $2 AND status = 'running'
                  AND ($4::integer IS NULL OR attempts = $4)
                """,
                run_id,
                worker_id,
                expires,
                generation,
            )
            return bool(status == "UPDATE 1")

        return await self._db.run("renew_lease", body)

    async def update_progress(
        self, run_id: str, progress: Progress, *, claim: Claim | None = None
    ) -> None:
        if claim is None:
            await self._set_json_column(run_id, "progress", progress, "update_progress")
            return
        if not _usable_id(run_id):
            raise LostClaimError(str(run_id), "update_progress", claim)
        encoded = _json(progress)

        async def body(conn: asyncpg.Connection, attempt: int) -> None:
            status = await conn.execute(
                f"""
                UPDATE test_runs SET progress = $2, "updatedAt" = now()
                WHERE id = $1 AND {_fence(3, 4)}
                """,
                run_id,
                encoded,
                claim.owner,
                claim.generation,
            )
            if status != "UPDATE 1":
                raise LostClaimError(run_id, "update_progress", claim)

        await self._db.run("update_progress", body)

    async def _set_json_column(self, run_id: str, column: str, value: Any, operation: str) -> None:
        """One single-row update of a jsonb column (``column`` is ours, never user input)."""
        if not _usable_id(run_id):
            return
        encoded = _json(value)
        sql = f'UPDATE test_runs SET {column} = $2, "updatedAt" = now() WHERE id = $1'

        async def body(conn: asyncpg.Connection, attempt: int) -> None:
            await conn.execute(sql, run_id, encoded)

        await self._db.run(operation, body)

    async def append_item(
        self, run_id: str, item: Item, *, claim: Claim | None = None, key: str | None = None
    ) -> None:
        if not _usable_id(run_id):
            if claim is not None:
                raise LostClaimError(str(run_id), "append_item", claim)
            return
        item_key = key if key is not None else uuid.uuid4().hex
        value = _json(item)
        # FOR KEY SHARE holds the run row until the insert commits, so recovery (which locks
        # it FOR UPDATE) cannot re-queue the run between the check and the insert.
        # ($3 NULL: an unfenced append.)
        # An item appended after the finish (unfenced) makes the figures finish_run kept
        # stale: they are dropped, and computed from the items when read.
        sql = f"""
            WITH run AS (
                SELECT id FROM test_runs
                WHERE id = $1 AND ($3::text IS NULL OR ({_fence(3, 4)}))
                FOR KEY SHARE
            ), stale AS (
                UPDATE test_runs SET "itemCount" = NULL, "turnCount" = NULL, "p95TurnMs" = NULL
                WHERE id = (SELECT id FROM run) AND "itemCount" IS NOT NULL
            )
            INSERT INTO test_run_items ("runId", "itemKey", "testId", assistant, status, item,
                                        "testName", repeat, "judgeScore", "perTurnMs")
            SELECT run.id, $2, $5, $6, $7, $8, $9, $10, $11, $12 FROM run
            ON CONFLICT ("runId", "itemKey") DO NOTHING
        """
        args = (
            run_id,
            item_key,
            claim.owner if claim is not None else None,
            claim.generation if claim is not None else None,
            _text(item.test_id),
            _text(item.assistant),
            str(item.status),
            value,
            _text(item.test_name),
            item.repeat,
            _finite(item.judge_score),
            [_finite(ms) for ms in item.timings.per_turn_ms],
        )

        async def body(conn: asyncpg.Connection, attempt: int) -> None:
            status = await conn.execute(sql, *args)
            if status != "INSERT 0 0":
                return
            stored = await conn.fetchval(
                'SELECT 1 FROM test_run_items WHERE "runId" = $1 AND "itemKey" = $2',
                run_id,
                item_key,
            )
            if stored:
                return  # this key is already stored: a retried append adds nothing
            if claim is not None:
                raise LostClaimError(run_id, "append_item", claim)
            if attempt == 1:
                logger.warning("store.append_item.unknown_run", run_id=run_id)

        try:
            await self._db.run("append_item", body)
        except asyncpg.ForeignKeyViolationError:
            # The run was deleted between the existence check and the insert.
            if claim is not None:
                raise LostClaimError(run_id, "append_item", claim) from None
            logger.warning("store.append_item.unknown_run", run_id=run_id)

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
        if not _usable_id(run_id):
            if claim is not None:
                raise LostClaimError(str(run_id), "finish_run", claim)
            return
        args: tuple[Any, ...] = (
            run_id,
            RunStatus(status).value,
            _json(totals),
            _json(judge),
            _json(usage),
            _aware(finished_at),
            _text(error),
            seed,
        )
        where = "WHERE id = $1"
        if claim is not None:
            where = f"WHERE id = $1 AND {_fence(9, 10)}"
            args = (*args, claim.owner, claim.generation)

        async def body(conn: asyncpg.Connection, attempt: int) -> None:
            async with conn.transaction():
                row = await conn.fetchrow(
                    f"""
                    UPDATE test_runs
                    SET status = $2, totals = $3, judge = $4, usage = $5, "finishedAt" = $6,
                        error = $7, seed = COALESCE($8::bigint, seed), "leaseOwner" = NULL,
                        "leaseExpiresAt" = NULL, "updatedAt" = now(),
                        ("itemCount", "turnCount", "p95TurnMs") = ({_RUN_FIGURES_SQL})
                    {where}
                    RETURNING "orgId", "suiteId"
                    """,
                    *args,
                )
                if row is None:
                    if claim is None:
                        return
                    if attempt > 1 and await conn.fetchval(
                        """
                        SELECT 1 FROM test_runs
                        WHERE id = $1 AND status = $2 AND "finishedAt" = $3 AND attempts = $4
                        """,
                        run_id,
                        args[1],
                        args[5],
                        claim.generation,
                    ):
                        return  # the first attempt committed; its answer was lost
                    raise LostClaimError(run_id, "finish_run", claim)
                await conn.execute(
                    """
                    INSERT INTO usage ("runId", "orgId", "suiteId", tokens, calls,
                                       "promptTokens", "completionTokens", "cachedCalls")
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT ("runId") DO UPDATE SET
                        tokens = EXCLUDED.tokens, calls = EXCLUDED.calls,
                        "promptTokens" = EXCLUDED."promptTokens",
                        "completionTokens" = EXCLUDED."completionTokens",
                        "cachedCalls" = EXCLUDED."cachedCalls", "recordedAt" = now()
                    """,
                    run_id,
                    row["orgId"],
                    row["suiteId"],
                    usage.tokens,
                    usage.calls,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.cached_calls,
                )

        await self._db.run("finish_run", body)

    async def request_stop(self, run_id: str, *, now: datetime) -> Run | None:
        if not _usable_id(run_id):
            return None
        now = _aware(now)

        async def body(conn: asyncpg.Connection, attempt: int) -> Run | None:
            row = await conn.fetchrow(
                f"""
                UPDATE test_runs
                SET "stopRequested" = true,
                    status = CASE WHEN status = 'queued' THEN 'stopped' ELSE status END,
                    "finishedAt" = CASE WHEN status = 'queued' THEN $2 ELSE "finishedAt" END,
                    "updatedAt" = now()
                WHERE id = $1 AND status IN ('queued', 'running')
                RETURNING {_RUN_COLUMNS}
                """,
                run_id,
                now,
            )
            if row is None:  # unknown, or already finished: report it as it is
                row = await conn.fetchrow(
                    f"SELECT {_RUN_COLUMNS} FROM test_runs WHERE id = $1", run_id
                )
            return _run_from_row(row) if row is not None else None

        return await self._db.run("request_stop", body)

    async def is_stop_requested(self, run_id: str) -> bool:
        if not _usable_id(run_id):
            return False

        async def body(conn: asyncpg.Connection, attempt: int) -> bool:
            value = await conn.fetchval(
                'SELECT "stopRequested" FROM test_runs WHERE id = $1', run_id
            )
            return bool(value)

        return await self._db.run("is_stop_requested", body)

    async def recover_expired(self, *, now: datetime, max_attempts: int = 2) -> list[Run]:
        now = _aware(now)
        cleared = _json(Progress())
        # Marks the runs this call changed, so a retry after a commit whose answer was lost
        # still returns them (the caller sends the `interrupted` webhooks from that list).
        token = f"recovered:{uuid.uuid4().hex}"

        async def body(conn: asyncpg.Connection, attempt: int) -> list[Run]:
            earlier: list[Any] = []
            if attempt > 1:
                earlier = await conn.fetch(
                    f'SELECT {_RUN_COLUMNS}, seq FROM test_runs WHERE "claimToken" = $1', token
                )
            async with conn.transaction():
                rows = await conn.fetch(
                    f"""
                    WITH expired AS (
                        SELECT id FROM test_runs
                        WHERE status = 'running' AND "leaseExpiresAt" < $1
                        FOR UPDATE SKIP LOCKED
                    )
                    UPDATE test_runs AS r SET
                        status = CASE WHEN r.attempts < $2 THEN 'queued' ELSE 'failed' END,
                        progress = CASE WHEN r.attempts < $2 THEN $3 ELSE r.progress END,
                        error = CASE WHEN r.attempts < $2 THEN r.error ELSE $4 END,
                        "finishedAt" = CASE WHEN r.attempts < $2 THEN r."finishedAt" ELSE $1 END,
                        "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "claimToken" = $5,
                        "updatedAt" = now()
                    FROM expired WHERE r.id = expired.id
                    RETURNING {_RUN_COLUMNS_R}, r.seq
                    """,
                    now,
                    max_attempts,
                    cleared,
                    INTERRUPTED,
                    token,
                )
                requeued = [r["id"] for r in rows if r["status"] == RunStatus.QUEUED.value]
                if requeued:
                    await conn.execute(
                        'DELETE FROM test_run_items WHERE "runId" = ANY($1::text[])', requeued
                    )
            rows = sorted([*earlier, *rows], key=lambda r: (r["createdAt"], r["seq"]))
            for r in rows:
                logger.warning(
                    "store.run_recovered",
                    run_id=r["id"],
                    status=r["status"],
                    attempts=r["attempts"],
                )
            return [_run_from_row(r) for r in rows]

        return await self._db.run("recover_expired", body)

    async def record_webhook(self, run_id: str, delivery: WebhookDelivery) -> None:
        await self._set_json_column(run_id, "webhook", delivery, "record_webhook")

    async def aclose(self) -> None:
        await self._db.close()


# -- catalog --------------------------------------------------------------------------------

_TABLES = {
    CatalogKind.ORGANIZATIONS: "organizations",
    CatalogKind.SUITES: "test_suites",
    CatalogKind.TESTS: "tests",
    CatalogKind.ENVIRONMENTS: "environments",
    CatalogKind.PERSONAS: "personas",
    CatalogKind.REQUESTS: "requests",
    CatalogKind.AUTH: "auth_configs",
}
_CATALOG_FIELDS = ("id", "orgId", "createdAt", "updatedAt")


def _doc_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    doc = dict(row["doc"])
    doc["id"] = row["id"]
    doc["orgId"] = row["orgId"]
    doc["createdAt"] = _iso(row["createdAt"])
    doc["updatedAt"] = _iso(row["updatedAt"])
    return doc


class PostgresCatalog:
    """The Catalog port on PostgreSQL: one table per kind, the document in a jsonb column.

    Args:
        pool: an asyncpg pool made by ``create_pool``.
        clock: supplies ``createdAt``/``updatedAt``.
        retry_seconds: how long an operation retries after losing its connection.

    A ``delete`` retried after a lost connection whose delete had committed reports
    ``False``; the document is gone either way.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Clock | None = None,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
    ) -> None:
        self._db = _Database(pool, retry_seconds=retry_seconds)
        self._clock = clock or SystemClock()

    async def upsert(self, kind: CatalogKind, org_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        table = _TABLES[CatalogKind(kind)]
        doc_id = doc.get("id") if isinstance(doc, Mapping) else None
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError(
                f"{CatalogKind(kind).value} document needs a non-empty string 'id', got {doc_id!r}"
            )
        if not _usable_id(doc_id):
            raise ValueError(f"{CatalogKind(kind).value} id {doc_id!r} contains a NUL character")
        if CatalogKind(kind) is CatalogKind.ORGANIZATIONS:
            org_id = doc_id
        if not _usable_id(org_id):
            raise ValueError(f"organization id {org_id!r} is not a usable string")
        body_doc = {k: v for k, v in doc.items() if k not in _CATALOG_FIELDS}
        now = self._clock.now()

        async def body(conn: asyncpg.Connection, attempt: int) -> dict[str, Any]:
            row = await conn.fetchrow(
                f"""
                INSERT INTO {table} ("orgId", id, doc, "createdAt", "updatedAt")
                VALUES ($1, $2, $3, $4, $4)
                ON CONFLICT ("orgId", id) DO UPDATE
                SET doc = EXCLUDED.doc, "updatedAt" = EXCLUDED."updatedAt"
                RETURNING "orgId", id, doc, "createdAt", "updatedAt"
                """,
                org_id,
                doc_id,
                body_doc,
                _aware(now),
            )
            return _doc_from_row(row)

        return await self._db.run("catalog.upsert", body)

    async def get(
        self, kind: CatalogKind, org_id: str | None, doc_id: str
    ) -> dict[str, Any] | None:
        table = _TABLES[CatalogKind(kind)]
        if not _usable_id(doc_id) or (org_id is not None and not _usable_id(org_id)):
            return None

        async def body(conn: asyncpg.Connection, attempt: int) -> dict[str, Any] | None:
            if org_id is None:
                row = await conn.fetchrow(
                    f'SELECT * FROM {table} WHERE id = $1 ORDER BY "orgId" LIMIT 1', doc_id
                )
            else:
                row = await conn.fetchrow(
                    f'SELECT * FROM {table} WHERE "orgId" = $1 AND id = $2', org_id, doc_id
                )
            return _doc_from_row(row) if row is not None else None

        return await self._db.run("catalog.get", body)

    async def list(
        self, kind: CatalogKind, org_id: str | None, *, limit: int = 500
    ) -> list[dict[str, Any]]:
        table = _TABLES[CatalogKind(kind)]
        if limit <= 0 or not _usable_id(org_id):
            return []

        async def body(conn: asyncpg.Connection, attempt: int) -> list[dict[str, Any]]:
            rows = await conn.fetch(
                f'SELECT * FROM {table} WHERE "orgId" = $1 ORDER BY id LIMIT $2', org_id, limit
            )
            return [_doc_from_row(r) for r in rows]

        return await self._db.run("catalog.list", body)

    async def delete(self, kind: CatalogKind, org_id: str, doc_id: str) -> bool:
        table = _TABLES[CatalogKind(kind)]
        if not _usable_id(doc_id) or not _usable_id(org_id):
            return False

        async def body(conn: asyncpg.Connection, attempt: int) -> bool:
            status = await conn.execute(
                f'DELETE FROM {table} WHERE "orgId" = $1 AND id = $2', org_id, doc_id
            )
            return bool(status == "DELETE 1")

        return await self._db.run("catalog.delete", body)

    # ScheduleClaims (the SQL is in _schedule.py)

    async def scheduled_suites(self) -> builtins.list[dict[str, Any]]:
        return await _schedule.scheduled_suites(self._db, _doc_from_row)

    async def claim_schedule(
        self,
        org_id: str,
        suite_id: str,
        *,
        expected_next_run_at: str | None,
        last_run_at: str | None,
        next_run_at: str,
    ) -> bool:
        if not (_usable_id(org_id) and _usable_id(suite_id)):
            return False
        return await _schedule.claim_schedule(
            self._db,
            org_id,
            suite_id,
            expected_next_run_at=expected_next_run_at,
            last_run_at=last_run_at,
            next_run_at=next_run_at,
        )


# -- composition ----------------------------------------------------------------------------


async def open_store(env: Mapping[str, str]) -> tuple[PostgresRunStore, PostgresCatalog]:
    """Open the store and catalog on the database named by ``DATABASE_URL``.

    The entry point ``lamdis.stores: postgres``. Both share one pool; ``store.aclose()``
    closes it.

    Args:
        env: the process environment (``DATABASE_URL``; optional ``LAMDIS_PG_POOL_SIZE``).

    Raises:
        StoreConfigError: ``DATABASE_URL`` is missing or malformed.
        StoreUnavailableError: PostgreSQL could not be reached.
        DatabaseNotMigratedError: the schema is missing or behind; run ``lamdis db migrate``.
    """
    dsn = env.get("DATABASE_URL", "")
    if not dsn.strip():
        raise StoreConfigError(
            "DB_PROVIDER=postgres needs DATABASE_URL, e.g. "
            "postgresql://user:password@localhost:5432/lamdis"
        )
    size_text = env.get("LAMDIS_PG_POOL_SIZE", "10")
    try:
        max_size = int(size_text)
        if max_size < 1:
            raise ValueError(size_text)
    except ValueError:
        raise StoreConfigError(
            f"LAMDIS_PG_POOL_SIZE must be a whole number of at least 1, got {size_text!r}"
        ) from None
    pool = await create_pool(dsn, max_size=max_size)
    try:
        async with pool.acquire() as conn:
            await check_migrated(conn, dsn)
    except BaseException:
        await pool.close()
        raise
    logger.info("postgres.store.opened", database=redact(dsn), pool_size=max_size, pid=os.getpid())
    return PostgresRunStore(pool), PostgresCatalog(pool)
