"""Run lifecycle over the API: queued -> running -> passed / failed / partial / stopped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_core.ports.store import RunFilter

from tests.http._helpers import start, wait_status
from tests.http.conftest import ORG, MakeService, Service


async def test_start_answers_queued_and_the_run_passes(service: Service) -> None:
    run_id = await start(
        service.client,
        {"suiteId": "smoke", "trigger": "ci", "gitContext": {"repo": "o/r", "sha": "abc"}},
    )
    run = await wait_status(service.client, run_id)
    assert run["status"] == "passed"
    assert run["totals"] == {"passed": 2, "failed": 0, "skipped": 0, "errors": 0}
    assert run["orgId"] == ORG
    assert run["suiteId"] == "smoke"
    assert run["trigger"] == "ci"
    assert run["gitContext"] == {"repo": "o/r", "sha": "abc"}
    assert {item["testId"] for item in run["items"]} == {"greets", "warns-about-risk"}
    assert all(item["status"] == "passed" for item in run["items"])
    assert run["startedAt"] and run["finishedAt"]
    assert run["progress"] == {"done": 2, "total": 2}
    assert run["judge"]["provider"] == "offline"


async def test_a_run_is_queued_until_a_worker_claims_it(make_service: MakeService) -> None:
    svc = await make_service(start_worker=False)
    run_id = await start(svc.client, {"suiteId": "smoke"})
    resp = await svc.client.get(f"/internal/runs/{run_id}")
    assert (await resp.json())["status"] == "queued"
    # Another instance sharing the store executes it.
    other = await make_service(store=svc.store)
    run = await wait_status(other.client, run_id)
    assert run["status"] == "passed"


async def test_running_status_is_visible_while_tests_execute(service: Service) -> None:
    run_id = await start(service.client, {"suiteId": "slow"})
    running = await wait_status(service.client, run_id, {"running"})
    assert running["status"] == "running"
    assert running["startedAt"]
    # Progress reaches the store within about a second of the run starting.
    progressed = running
    for _ in range(150):
        progressed = await (await service.client.get(f"/internal/runs/{run_id}")).json()
        if progressed.get("progress", {}).get("total") == 6:
            break
        await asyncio.sleep(0.02)
    assert progressed["progress"]["total"] == 6
    if progressed["status"] == "running":
        assert progressed["progress"]["current"].startswith("slow-")
    final = await wait_status(service.client, run_id, within=30)
    assert final["status"] == "passed"
    assert len(final["items"]) == 6


async def test_a_failing_test_makes_the_run_failed(service: Service) -> None:
    run_id = await start(service.client, {"suiteId": "mixed"})
    run = await wait_status(service.client, run_id)
    assert run["status"] == "failed"
    assert run["totals"]["passed"] == 2 and run["totals"]["failed"] == 1
    failed = next(i for i in run["items"] if i["status"] == "failed")
    assert failed["testId"] == "promises-returns"
    assert any(a["pass"] is False for a in failed["assertions"])


async def test_a_disabled_test_makes_the_run_partial(service: Service) -> None:
    run_id = await start(service.client, {"suiteId": "partial"})
    run = await wait_status(service.client, run_id)
    assert run["status"] == "partial"
    assert run["totals"] == {"passed": 2, "failed": 0, "skipped": 1, "errors": 0}


async def test_an_assistant_that_is_down_makes_error_items_and_a_failed_run(
    service: Service,
) -> None:
    await service.catalog.upsert(
        __import__("lamdis_core.ports.catalog", fromlist=["CatalogKind"]).CatalogKind.ENVIRONMENTS,
        ORG,
        {
            "id": "dead",
            "env": {"channel": "http_chat", "baseUrl": "http://127.0.0.1:9", "timeoutMs": 2000},
        },
    )
    run_id = await start(service.client, {"suiteId": "smoke", "envId": "dead"})
    run = await wait_status(service.client, run_id, within=30)
    assert run["status"] == "failed"
    assert run["totals"]["errors"] == 2
    assert all(item["status"] == "error" and item["error"] for item in run["items"])


async def test_without_env_id_the_suites_assistants_are_used(service: Service) -> None:
    run_id = await start(service.client, {"suiteId": "matrix"})
    run = await wait_status(service.client, run_id)
    assert run["status"] == "passed"
    assert sorted(item["assistant"] for item in run["items"]) == ["demo", "demo-b"]


async def test_env_id_runs_against_that_environment_only(service: Service) -> None:
    run_id = await start(service.client, {"suiteId": "matrix", "envId": "demo-b"})
    run = await wait_status(service.client, run_id)
    assert [item["assistant"] for item in run["items"]] == ["demo-b"]
    assert run["envId"] == "demo-b"


async def test_tests_field_limits_the_run_to_those_tests(service: Service) -> None:
    run_id = await start(service.client, {"suiteId": "smoke", "tests": ["greets"]})
    run = await wait_status(service.client, run_id)
    assert [item["testId"] for item in run["items"]] == ["greets"]


async def test_stop_of_a_queued_run_stops_it_at_once(make_service: MakeService) -> None:
    svc = await make_service(start_worker=False)
    run_id = await start(svc.client, {"suiteId": "smoke"})
    resp = await svc.client.post(f"/internal/runs/{run_id}/stop")
    assert resp.status == 200
    body = await resp.json()
    assert body == {"runId": run_id, "status": "stopped", "stopRequested": True}
    run = await (await svc.client.get(f"/internal/runs/{run_id}")).json()
    assert run["status"] == "stopped" and run["finishedAt"]


async def test_stop_of_a_running_run_skips_the_remaining_tests(make_service: MakeService) -> None:
    svc = await make_service()
    run_id = await start(svc.client, {"suiteId": "slow"})
    await wait_status(svc.client, run_id, {"running"})
    await asyncio.sleep(0.3)  # inside the first turn of each test (600 ms per turn)
    resp = await svc.client.post(f"/internal/runs/{run_id}/stop")
    assert resp.status == 200
    assert (await resp.json())["stopRequested"] is True
    # Stopped within a turn: the skipped items below prove it (a stop honoured only between
    # tests would let all six, running at once, pass). The bound only keeps a hang short.
    run = await wait_status(svc.client, run_id, within=15)
    assert run["status"] == "stopped"
    assert len(run["items"]) == 6
    assert (
        run["totals"]["skipped"]
        == 6 - run["totals"]["passed"] - run["totals"]["failed"] - run["totals"]["errors"]
    )
    assert run["totals"]["skipped"] >= 1
    assert all(item["status"] == "skipped" for item in run["items"] if item["status"] != "passed")


async def test_a_stop_recorded_by_another_instance_is_polled_within_a_second(
    make_service: MakeService,
) -> None:
    svc = await make_service()
    run_id = await start(svc.client, {"suiteId": "slow"})
    await wait_status(svc.client, run_id, {"running"})
    # Straight to the shared store, as another instance's stop endpoint would.
    await svc.store.request_stop(run_id, now=datetime.now(UTC))
    # A poll slower than once a second would let the run (1.8 s in all) pass first: the
    # skipped items prove the poll. The bound only keeps a hang short on a loaded machine.
    run = await wait_status(svc.client, run_id, within=15)
    assert run["status"] == "stopped"
    assert run["totals"]["skipped"] >= 1


async def test_stop_of_a_finished_run_leaves_it_unchanged(service: Service) -> None:
    run_id = await start(service.client, {"suiteId": "smoke"})
    await wait_status(service.client, run_id)
    resp = await service.client.post(f"/internal/runs/{run_id}/stop")
    assert resp.status == 200
    assert (await resp.json())["status"] == "passed"


async def test_unknown_run_is_404_for_read_and_stop(service: Service) -> None:
    for resp in (
        await service.client.get("/internal/runs/nope"),
        await service.client.post("/internal/runs/nope/stop"),
    ):
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
        assert "nope" in (await resp.json())["detail"]


async def test_list_runs_filters_by_org_suite_and_status(service: Service) -> None:
    ids = [await start(service.client, {"suiteId": suite}) for suite in ("smoke", "mixed", "smoke")]
    for run_id in ids:
        await wait_status(service.client, run_id)
    data = await (await service.client.get("/internal/runs", params={"suiteId": "smoke"})).json()
    assert {r["id"] for r in data["runs"]} == {ids[0], ids[2]}
    assert all("items" not in r or r["items"] == [] for r in data["runs"])
    data = await (await service.client.get("/internal/runs", params={"status": "failed"})).json()
    assert [r["id"] for r in data["runs"]] == [ids[1]]
    data = await (await service.client.get("/internal/runs", params={"orgId": "other"})).json()
    assert data["runs"] == []
    data = await (await service.client.get("/internal/runs", params={"limit": "1"})).json()
    assert [r["id"] for r in data["runs"]] == [ids[2]]


async def test_list_runs_rejects_bad_query_values(service: Service) -> None:
    for params, field in (
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"sort": "asc"}, "sort"),
    ):
        resp = await service.client.get("/internal/runs", params=params)
        assert resp.status == 400
        assert (await resp.json())["field"] == field


async def test_expired_leases_are_requeued_once_then_failed_interrupted(
    make_service: MakeService,
) -> None:
    svc = await make_service(start_worker=False)
    past = datetime.now(UTC) - timedelta(minutes=5)
    # Two runs left behind by a crashed instance: one on its first attempt, one on its second.
    first = await svc.store.create_run(
        Run(org_id=ORG, suite_id="smoke", trigger=Trigger.CI, request={"kind": "suite"})
    )
    second = await svc.store.create_run(
        Run(org_id=ORG, suite_id="smoke", trigger=Trigger.CI, request={"kind": "suite"})
    )
    assert first.id and second.id
    await svc.store.claim_next("crashed", now=past, lease_seconds=1)
    await svc.store.claim_next("crashed", now=past, lease_seconds=1)
    for _ in range(1):  # the second run already had one attempt before this crash
        pass
    raw = svc.store._runs[second.id].run  # test-only: give it the history of a re-queued run
    raw.attempts = 2
    # A new instance starts: recovery runs before it claims anything.
    fresh = await make_service(store=svc.store)
    recovered = await wait_status(fresh.client, first.id)
    assert recovered["status"] == "passed"
    assert recovered["attempts"] == 2
    failed = await wait_status(fresh.client, second.id)
    assert failed["status"] == "failed"
    assert failed["error"] == "interrupted"


async def test_a_crashed_runs_lease_expiring_later_is_recovered_by_a_live_instance(
    make_service: MakeService,
) -> None:
    svc = await make_service(lease_seconds=0.6)
    stale = await svc.store.create_run(
        Run(org_id=ORG, suite_id="smoke", status=RunStatus.QUEUED, request={"kind": "suite"})
    )
    assert stale.id
    # Simulate a claim by an instance that then died (it never renews).
    svc.store._runs[stale.id].run.status = RunStatus.RUNNING
    svc.store._runs[stale.id].run.lease_owner = "dead-instance"
    svc.store._runs[stale.id].run.attempts = 1
    svc.store._runs[stale.id].run.lease_expires_at = datetime.now(UTC) + timedelta(seconds=0.3)
    run = await wait_status(svc.client, stale.id, within=20)
    assert run["status"] == "passed"
    assert run["attempts"] == 2


async def test_runs_are_written_in_the_store_with_items_appended(service: Service) -> None:
    run_id = await start(service.client, {"suiteId": "smoke"})
    await wait_status(service.client, run_id)
    stored = await service.store.get_run(run_id)
    assert stored is not None and len(stored.items) == 2
    listed = await service.store.list_runs(RunFilter(suite_id="smoke"))
    assert [r.id for r in listed] == [run_id]


class _CountingStore:
    """The in-memory store, counting each call by method name (what the worker writes)."""

    def __init__(self) -> None:
        from collections import Counter

        from lamdis_core.testing.memory import InMemoryRunStore

        self.inner = InMemoryRunStore()
        self.calls: Counter[str] = Counter()
        self._runs = self.inner._runs

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        target = getattr(self.inner, name)

        async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            result = await target(*args, **kwargs)
            empty = name in ("claim_next", "recover_expired") and not result
            self.calls[f"{name}{'(nothing)' if empty else ''}"] += 1
            return result

        return counted


async def test_store_writes_are_one_per_item_plus_throttled_progress(
    make_service: MakeService,
) -> None:
    import time

    counting = _CountingStore()
    svc = await make_service(store=counting)  # type: ignore[arg-type]
    t0 = time.monotonic()
    run_id = await start(svc.client, {"suiteId": "slow"})
    run = await wait_status(svc.client, run_id, within=30)
    elapsed = time.monotonic() - t0
    assert run["status"] == "passed"
    calls = counting.calls
    assert calls["create_run"] == 1 and calls["claim_next"] == 1 and calls["finish_run"] == 1
    assert calls["append_item"] == 6  # one per finished test, none per turn (18 turns)
    assert calls["update_progress"] <= int(elapsed) + 1  # at most once a second
    assert calls["is_stop_requested"] <= int(elapsed) + 1
    assert calls["renew_lease"] == 0  # 30 s lease, renewed every 10 s
    unexpected = set(calls) - {
        "create_run",
        "claim_next",
        "claim_next(nothing)",
        "append_item",
        "update_progress",
        "finish_run",
        "is_stop_requested",
        "get_run",
        "recover_expired(nothing)",
    }
    assert unexpected == set()


async def test_two_instances_share_one_store_and_never_run_a_run_twice(
    make_service: MakeService,
) -> None:
    first = await make_service(max_runs=2, worker_id="instance-a")
    second = await make_service(store=first.store, max_runs=2, worker_id="instance-b")
    ids = [await start(first.client, {"suiteId": "slow"}) for _ in range(4)]
    owners: dict[str, str] = {}
    for _ in range(200):
        for run_id in ids:
            raw = first.store._runs[run_id].run
            if raw.lease_owner:
                owners.setdefault(run_id, raw.lease_owner)
        if len(owners) == len(ids):
            break
        await asyncio.sleep(0.02)
    for run_id in ids:
        run = await wait_status(second.client, run_id, within=30)
        assert run["status"] == "passed" and run["attempts"] == 1 and len(run["items"]) == 6
    assert set(owners.values()) == {"instance-a", "instance-b"}


async def test_shutdown_drains_runs_in_flight(make_service: MakeService) -> None:
    from lamdis_http.app import WORKER_KEY

    svc = await make_service()
    run_id = await start(svc.client, {"suiteId": "slow"})
    await wait_status(svc.client, run_id, {"running"})
    await svc.app[WORKER_KEY].close(drain_seconds=10)
    run = await svc.store.get_run(run_id, include_items=False)
    assert run is not None and run.status is RunStatus.PASSED


async def test_shutdown_without_drain_leaves_the_run_for_immediate_recovery(
    make_service: MakeService,
) -> None:
    from lamdis_http.app import WORKER_KEY

    svc = await make_service(lease_seconds=30)
    run_id = await start(svc.client, {"suiteId": "slow"})
    await wait_status(svc.client, run_id, {"running"})
    await svc.app[WORKER_KEY].close(drain_seconds=0)
    stranded = await svc.store.get_run(run_id, include_items=False)
    assert stranded is not None and stranded.status is RunStatus.RUNNING
    # A new instance recovers it at startup, without waiting out the 30 s lease.
    fresh = await make_service(store=svc.store)
    run = await wait_status(fresh.client, run_id, within=15)
    assert run["status"] == "passed" and run["attempts"] == 2
