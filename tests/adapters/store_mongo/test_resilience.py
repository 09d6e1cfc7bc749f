"""What FerretDB and the network do to the store: several workers, concurrent writers on one
run, a server restart in the middle of a run, a server that is gone."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from typing import Any

import pytest
from bson import ObjectId
from lamdis_core.domain.results import Item, ItemStatus, Run, RunStatus
from lamdis_core.ports.store import RunFilter
from lamdis_store_mongo import MongoStoreError, open_store
from pymongo import AsyncMongoClient

from tests.fixtures.ferretdb import FerretDBServer
from tests.fixtures.servers import free_port

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _item(n: int) -> Item:
    return Item(test_id=f"t{n}", test_name=f"test {n}", assistant="bot", status=ItemStatus.PASSED)


async def test_two_workers_with_their_own_clients_never_claim_the_same_run(mongo_url: str) -> None:
    creator, _ = await open_store({"MONGO_URL": mongo_url})
    worker_a, _ = await open_store({"MONGO_URL": mongo_url})
    worker_b, _ = await open_store({"MONGO_URL": mongo_url})
    try:
        queued = {
            (await creator.create_run(Run(org_id="o", created_at=T0 + timedelta(seconds=n)))).id
            for n in range(30)
        }

        async def drain(store: Any, name: str) -> list[str]:
            won = []
            while (run := await store.claim_next(name, now=T0, lease_seconds=60)) is not None:
                won.append(run.id)
            return won

        results = await asyncio.gather(
            *(
                drain(w, f"{label}-{n}")
                for label, w in (("a", worker_a), ("b", worker_b))
                for n in range(3)
            )
        )
        claimed = [run_id for won in results for run_id in won]
        assert sorted(claimed) == sorted(queued)  # each run once, none left behind
        assert any(results[:3])
        assert any(results[3:])  # both clients really took part
        for run_id in claimed:
            stored = await creator.get_run(run_id)
            assert stored is not None
            assert stored.status is RunStatus.RUNNING
            assert stored.attempts == 1
    finally:
        for store in (creator, worker_a, worker_b):
            await store.aclose()


async def test_concurrent_appends_and_a_stop_from_another_client_lose_nothing(
    mongo_url: str,
) -> None:
    """FerretDB's updates are not atomic; the store's per-run locks keep every write."""
    worker, _ = await open_store({"MONGO_URL": mongo_url})
    api, _ = await open_store({"MONGO_URL": mongo_url})
    try:
        run = await worker.create_run(Run(org_id="o"))
        assert run.id is not None
        claimed = await worker.claim_next("w", now=T0, lease_seconds=60)
        assert claimed is not None
        appends = [worker.append_item(run.id, _item(n)) for n in range(40)]
        await asyncio.gather(*appends[:20], api.request_stop(run.id, now=T0), *appends[20:])
        stored = await api.get_run(run.id)
        assert stored is not None
        assert sorted(i.test_id for i in stored.items) == sorted(f"t{n}" for n in range(40))
        assert stored.stop_requested is True
        assert stored.status is RunStatus.RUNNING
    finally:
        await worker.aclose()
        await api.aclose()


async def test_a_server_restart_mid_run_loses_no_reported_item(
    private_ferretdb: FerretDBServer,
) -> None:
    url = private_ferretdb.url_for("restart") + "?serverSelectionTimeoutMS=8000"
    store, _ = await open_store({"MONGO_URL": url})
    try:
        run = await store.create_run(Run(org_id="o"))
        assert run.id is not None
        await store.claim_next("w", now=T0, lease_seconds=600)
        reported: list[str] = []
        failed: list[str] = []

        assert private_ferretdb.process is not None
        first_pid = private_ferretdb.process.pid
        killing = threading.Event()

        def restart_soon() -> None:
            time.sleep(0.3)
            killing.set()
            private_ferretdb.restart(pause=0.5)  # SIGKILL, then a new process on the same data

        restarter = threading.Thread(target=restart_soon)
        restarter.start()
        # Only a bound against hanging: a FerretDB restart on a loaded CI machine (load 10 on two
        # cores) has taken longer than 20 s, so the bound is generous.
        deadline = time.monotonic() + 60
        n = 0
        before_kill = after_restart = 0
        while restarter.is_alive() or n < 150:
            if not killing.is_set():
                before_kill += 1
            elif not restarter.is_alive():
                after_restart += 1
            try:
                await store.append_item(run.id, _item(n))
                reported.append(f"t{n}")
            except MongoStoreError:
                failed.append(f"t{n}")
            n += 1
            assert time.monotonic() < deadline, "appends did not recover after the restart"
        restarter.join()
        # The restart happened in the middle of the appends. Whether the store's own retry or
        # PyMongo's retryable write absorbed it depends on where the kill landed, so the test
        # asserts what users rely on, not which layer retried.
        assert private_ferretdb.process is not None
        assert private_ferretdb.process.pid != first_pid, "the server was not replaced"
        assert before_kill > 0 and after_restart > 0, (before_kill, after_restart)
        stored = await store.get_run(run.id)
        assert stored is not None
        stored_ids = [i.test_id for i in stored.items]
        assert len(stored_ids) == len(set(stored_ids)), "an item was stored twice"
        assert set(reported) <= set(stored_ids), "an item reported appended was lost"
        assert not failed, f"appends failed despite the retry: {failed}"
        assert stored_ids == reported  # and in order
    finally:
        await store.aclose()


async def test_a_server_restart_among_claims_hands_out_every_run_once(
    private_ferretdb: FerretDBServer,
) -> None:
    url = private_ferretdb.url_for("claims") + "?serverSelectionTimeoutMS=8000"
    store, _ = await open_store({"MONGO_URL": url})
    try:
        queued = set()
        for n in range(40):
            run = await store.create_run(Run(org_id="o", created_at=T0 + timedelta(seconds=n)))
            queued.add(run.id)
        assert private_ferretdb.process is not None
        first_pid = private_ferretdb.process.pid
        restarter = threading.Thread(target=private_ferretdb.restart, kwargs={"pause": 0.3})
        claimed: list[str] = []
        restarter.start()
        while (run := await store.claim_next("w", now=T0, lease_seconds=600)) is not None:
            assert run.id is not None
            claimed.append(run.id)
            await asyncio.sleep(0.02)  # spread the claims over the restart
        restarter.join()
        assert private_ferretdb.process is not None
        assert private_ferretdb.process.pid != first_pid  # the server really was replaced
        assert sorted(claimed) == sorted(queued)  # none twice, none stranded as running
        stored = await store.list_runs(RunFilter(status=RunStatus.RUNNING, limit=100))
        assert sorted(r.id for r in stored if r.id) == sorted(queued)
    finally:
        await store.aclose()


async def test_a_server_that_is_gone_gives_a_clear_error_after_one_retry(
    private_ferretdb: FerretDBServer,
) -> None:
    url = private_ferretdb.url_for("gone") + "?serverSelectionTimeoutMS=300"
    store, _ = await open_store({"MONGO_URL": url})
    try:
        run = await store.create_run(Run(org_id="o"))
        assert run.id is not None
        private_ferretdb.kill()
        with pytest.raises(
            MongoStoreError,
            match=r"append_item: MongoDB at 127\.0\.0\.1:\d+ did not answer, even after one retry",
        ):
            await store.append_item(run.id, _item(1))
    finally:
        await store.aclose()


async def test_open_store_fails_fast_and_clearly_when_nothing_listens() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(
        MongoStoreError,
        match=rf"cannot reach MongoDB at 127\.0\.0\.1:{port} \(from MONGO_URL\) within 0\.5s",
    ) as caught:
        await open_store(
            {
                "MONGO_URL": f"mongodb://lamdis:s3cret-pw@127.0.0.1:{port}/x?serverSelectionTimeoutMS=500"
            }
        )
    # PyMongo's default server selection waits 30 s; the 0.5 s asked for plus a loaded
    # machine's slack stays well below that.
    assert time.monotonic() - started < 15
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://localhost/lamdis", "mongodb://user:s3cret-pw@/nohost", "mongodb://h:notaport/x"]
)
async def test_open_store_rejects_a_malformed_url_without_echoing_it(url: str) -> None:
    with pytest.raises(MongoStoreError, match="MONGO_URL is not a valid MongoDB URL") as caught:
        await open_store({"MONGO_URL": url})
    assert "s3cret-pw" not in str(caught.value)


async def test_database_comes_from_the_url_path(ferretdb: FerretDBServer) -> None:
    name = f"lamdis_path_{ObjectId()}"
    store, _ = await open_store({"MONGO_URL": ferretdb.url_for(name)})
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ferretdb.url)
    try:
        run = await store.create_run(Run(org_id="o"))
        assert run.id is not None
        assert await client[name].testruns.count_documents({"_id": ObjectId(run.id)}) == 1
    finally:
        await client.drop_database(name)
        await client.aclose()
        await store.aclose()


def test_entry_point_names_open_store() -> None:
    (found,) = [ep for ep in entry_points(group="lamdis.stores") if ep.name == "mongo"]
    assert found.value == "lamdis_store_mongo:open_store"
    assert found.load() is open_store
