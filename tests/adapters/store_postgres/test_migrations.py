"""Migrations: idempotent, safe from two processes at once, and required by open_store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from importlib.metadata import entry_points
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from lamdis_core.domain.results import Run
from lamdis_store_postgres import (
    DatabaseNotMigratedError,
    MigrationError,
    PostgresCatalog,
    PostgresRunStore,
    StoreConfigError,
    StoreUnavailableError,
    migrate,
    open_store,
    shipped_migrations,
)

pytestmark = pytest.mark.postgres

VERSIONS = [m.version for m in shipped_migrations()]


async def _ledger(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()


def _with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc.replace("postgres@", f"postgres:{password}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def test_migrate_applies_everything_once_then_nothing(empty_postgres_dsn: str) -> None:
    assert VERSIONS[0] == "0001_initial"
    assert await migrate(empty_postgres_dsn) == VERSIONS
    assert await migrate(empty_postgres_dsn) == []
    assert await _ledger(empty_postgres_dsn) == VERSIONS


async def test_concurrent_migrations_apply_each_version_once(empty_postgres_dsn: str) -> None:
    results = await asyncio.gather(*(migrate(empty_postgres_dsn) for _ in range(4)))
    assert sorted(results, key=len) == [[], [], [], VERSIONS]
    assert await _ledger(empty_postgres_dsn) == VERSIONS


def test_migrations_from_two_processes_at_once(empty_postgres_dsn: str) -> None:
    script = (
        "import asyncio, sys\n"
        "from lamdis_store_postgres import migrate\n"
        "print(','.join(asyncio.run(migrate(sys.argv[1]))))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, empty_postgres_dsn],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.strip().splitlines()[-1] if out.strip() else "")  # after any log lines
    assert sorted(outputs) == ["", ",".join(VERSIONS)]
    assert asyncio.run(_ledger(empty_postgres_dsn)) == VERSIONS


async def test_open_store_refuses_an_unmigrated_database(empty_postgres_dsn: str) -> None:
    dsn = _with_password(empty_postgres_dsn, "s3cret-pw")  # trust auth ignores it
    with pytest.raises(DatabaseNotMigratedError) as caught:
        await open_store({"DATABASE_URL": dsn})
    message = str(caught.value)
    assert "run `lamdis db migrate`" in message
    assert "0001_initial" in message
    assert "s3cret-pw" not in message
    assert ":***@" in message


async def test_open_store_refuses_a_database_missing_a_later_migration(postgres_dsn: str) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute("DELETE FROM schema_migrations WHERE version = $1", VERSIONS[-1])
    finally:
        await conn.close()
    with pytest.raises(DatabaseNotMigratedError, match=f"missing: {VERSIONS[-1]}"):
        await open_store({"DATABASE_URL": postgres_dsn})


async def test_open_store_needs_database_url() -> None:
    with pytest.raises(StoreConfigError, match="needs DATABASE_URL"):
        await open_store({})
    with pytest.raises(StoreConfigError, match="must start with postgresql://"):
        await open_store({"DATABASE_URL": "mysql://localhost/lamdis"})
    with pytest.raises(StoreConfigError, match="LAMDIS_PG_POOL_SIZE"):
        await open_store(
            {"DATABASE_URL": "postgresql://x@127.0.0.1/db", "LAMDIS_PG_POOL_SIZE": "0"}
        )


async def test_open_store_says_when_postgres_is_unreachable(postgres_dsn: str) -> None:
    parts = urlsplit(postgres_dsn)
    from tests.fixtures.servers import free_port

    dead = urlunsplit(parts._replace(netloc=f"postgres:pw@127.0.0.1:{free_port()}"))
    with pytest.raises(StoreUnavailableError, match="cannot connect to PostgreSQL") as caught:
        await open_store({"DATABASE_URL": dead})
    assert "pw@" not in str(caught.value)


async def test_a_migration_edited_after_release_is_refused(postgres_dsn: str) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited'")
    finally:
        await conn.close()
    with pytest.raises(MigrationError, match="has changed since"):
        await migrate(postgres_dsn)


async def test_entry_point_opens_the_store(postgres_dsn: str) -> None:
    (entry,) = entry_points(group="lamdis.stores", name="postgres")
    opener = entry.load()
    assert opener is open_store
    store, catalog = await opener({"DATABASE_URL": postgres_dsn})
    try:
        assert isinstance(store, PostgresRunStore)
        assert isinstance(catalog, PostgresCatalog)
        run = await store.create_run(Run(org_id="o"))
        assert run.id is not None
        assert len(run.id) == 24
        assert int(run.id, 16) >= 0
    finally:
        await store.aclose()


async def test_prisma_schema_parameter_selects_the_schema(empty_postgres_dsn: str) -> None:
    conn = await asyncpg.connect(empty_postgres_dsn)
    try:
        await conn.execute("CREATE SCHEMA lamdis")
    finally:
        await conn.close()
    dsn = f"{empty_postgres_dsn}?schema=lamdis&connection_limit=3"
    assert await migrate(dsn) == VERSIONS
    store, _ = await open_store({"DATABASE_URL": dsn})
    try:
        run = await store.create_run(Run(org_id="o"))
    finally:
        await store.aclose()
    conn = await asyncpg.connect(empty_postgres_dsn)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM lamdis.test_runs WHERE id = $1", run.id) == 1
        )
        assert await conn.fetchval("SELECT to_regclass('public.test_runs')") is None
    finally:
        await conn.close()


async def test_tables_and_columns_follow_the_seed_layout(postgres_dsn: str) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    columns = {(r["table_name"], r["column_name"]): r["data_type"] for r in rows}
    tables = {t for t, _ in columns}
    assert {
        "organizations", "test_suites", "tests", "environments", "personas", "requests",
        "test_runs", "test_run_items", "usage", "schema_migrations",
    } <= tables  # fmt: skip
    for name in ("id", "orgId", "suiteId", "envId", "status", "startedAt", "finishedAt"):
        assert ("test_runs", name) in columns, name
    assert columns[("test_runs", "totals")] == "jsonb"
    assert columns[("test_runs", "judge")] == "jsonb"
    assert columns[("test_runs", "finishedAt")] == "timestamp with time zone"
