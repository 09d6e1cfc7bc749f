"""``open_store``: the ``lamdis.stores`` entry point for ``DB_PROVIDER=mongo``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamdis_core.logs import get_logger
from pymongo import AsyncMongoClient
from pymongo.errors import ConfigurationError, ConnectionFailure, InvalidURI, OperationFailure
from pymongo.uri_parser import parse_uri

from lamdis_store_mongo._errors import MongoStoreError
from lamdis_store_mongo.catalog import MongoCatalog
from lamdis_store_mongo.store import MongoRunStore

logger = get_logger()

DEFAULT_URL = "mongodb://localhost:27017/lamdis"
DEFAULT_DATABASE = "lamdis"
DEFAULT_SERVER_SELECTION_MS = 5000


def _hosts(parsed: Mapping[str, Any]) -> str:
    return ", ".join(f"{host}:{port}" for host, port in parsed.get("nodelist") or []) or "?"


async def open_store(env: Mapping[str, str]) -> tuple[MongoRunStore, MongoCatalog]:
    """Connect to ``MONGO_URL``, create the indexes, and return the run store and catalog.

    ``MONGO_URL`` defaults to ``mongodb://localhost:27017/lamdis``; the database is the URL's
    path (``lamdis`` when it has none). URL options are honoured; unless the URL sets
    ``serverSelectionTimeoutMS`` an unreachable server is reported after 5 seconds. Both
    objects share one client, which ``store.aclose()`` closes.

    Raises:
        MongoStoreError: the URL is malformed, or the server cannot be reached or refuses us.
    """
    url = env.get("MONGO_URL") or DEFAULT_URL
    try:
        parsed = parse_uri(url)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        # the URL may hold a password, so it is not echoed back
        raise MongoStoreError(
            f"MONGO_URL is not a valid MongoDB URL: {exc}. "
            "Expected mongodb://[user:password@]host[:port]/database[?options]"
        ) from exc
    database_name = parsed.get("database") or DEFAULT_DATABASE
    where = _hosts(parsed)
    options: dict[str, Any] = {"tz_aware": True, "retryWrites": True, "appname": "lamdis"}
    if "serverselectiontimeoutms" not in {k.lower() for k in parsed.get("options", {})}:
        options["serverSelectionTimeoutMS"] = DEFAULT_SERVER_SELECTION_MS
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, **options)
    try:
        try:
            build = await client.admin.command("buildInfo")
        except ConnectionFailure as exc:
            seconds = client.options.server_selection_timeout
            raise MongoStoreError(
                f"cannot reach MongoDB at {where} (from MONGO_URL) within {seconds:g}s: {exc}. "
                "Is the server running, and does MONGO_URL point at it?"
            ) from exc
        except OperationFailure as exc:
            raise MongoStoreError(
                f"MongoDB at {where} refused us: {exc.details.get('errmsg') if exc.details else exc}"
                ". Check the user and password in MONGO_URL."
            ) from exc
        ferretdb = "ferretdbVersion" in build
        database = client[database_name]
        store = MongoRunStore(database, client=client, document_locks=ferretdb, where=where)
        catalog = MongoCatalog(database, where=where)
        await store.create_indexes()
        await catalog.create_indexes()
    except BaseException:
        await client.aclose()
        raise
    logger.info(
        "mongo_store_opened",
        hosts=where,
        database=database_name,
        server=build.get("ferretdbVersion") or build.get("version"),
        document_locks=ferretdb,
    )
    return store, catalog
