"""The seed's shell queries (README.hosted.md, "MongoDB"), written with PyMongo, find the
documents that real engine runs wrote through MongoRunStore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import make_converter
from lamdis_core.domain.plan import PlanEntry, RunPlan
from lamdis_core.domain.results import Run, RunStatus
from lamdis_store_mongo import MongoRunStore, open_store
from pymongo import AsyncMongoClient

from tests.adapters._store_runs import run_through_store

CONVERTER = make_converter()
BOT = c.Assistant(id="bot", env=c.AssistantEnv(base_url="http://bot.invalid"))


def _suite(*tests: dict[str, Any]) -> RunPlan:
    entries = [PlanEntry(test=CONVERTER.structure(t, c.TestCase), assistant=BOT) for t in tests]
    return RunPlan(suite_id="legal-tests", entries=entries)


async def _run(store: MongoRunStore, plan: RunPlan, at: datetime) -> str:
    return await run_through_store(store, plan, at, score=0.8, tokens_per_call=7, duration_s=45)


async def test_seed_shell_queries_read_runs_written_by_the_store(mongo_url: str) -> None:
    store, _ = await open_store({"MONGO_URL": mongo_url})
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        t0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
        passing = _suite(
            {"id": "risk", "steps": [{"type": "message", "content": "bonds"},
                                     {"type": "includes", "includes": ["risk"]}]},
            {"id": "judged", "steps": [{"type": "message", "content": "stocks"},
                                       {"type": "assistant_check", "mode": "judge",
                                        "rubric": "mentions risk", "threshold": 0.5}]},
        )  # fmt: skip
        failing = _suite(
            {"id": "promise", "steps": [{"type": "message", "content": "crypto"},
                                        {"type": "includes", "includes": ["guaranteed"]}]},
        )  # fmt: skip
        run_ids = [await _run(store, passing, t0 + timedelta(hours=h)) for h in range(5)]
        failed_id = await _run(store, failing, t0 + timedelta(hours=9))
        pending = await store.create_run(Run(org_id="acme", suite_id="legal-tests"))
        db = client.get_default_database()

        # db.testruns.findOne({ _id: ObjectId("<runId>") }, { items: 0 })
        summary = await db.testruns.find_one({"_id": ObjectId(failed_id)}, {"items": 0})
        assert summary is not None
        assert "items" not in summary
        assert summary["status"] == "failed"
        assert (summary["orgId"], summary["suiteId"], summary["trigger"]) == (
            "acme",
            "legal-tests",
            "ci",
        )
        assert summary["totals"] == {"passed": 0, "failed": 1, "skipped": 0, "errors": 0}
        assert summary["startedAt"] == t0 + timedelta(hours=9)
        assert summary["finishedAt"] == t0 + timedelta(hours=9, seconds=45)
        assert "leaseOwner" not in summary

        # const run = db.testruns.findOne({ _id: ObjectId("<runId>") })
        full = await db.testruns.find_one({"_id": ObjectId(run_ids[0])})
        assert full is not None
        assert full["judge"]["avgScore"] == 0.8
        assert [i["testId"] for i in full["items"]] == ["risk", "judged"]
        judged = full["items"][1]
        assert judged["status"] == "passed"
        assert judged["assertions"][0]["pass"] is True
        assert judged["assertions"][0]["details"]["score"] == 0.8
        assert [t["role"] for t in judged["transcript"]] == ["user", "assistant"]
        assert judged["transcript"][1]["content"].startswith("You asked about stocks")
        assert {"perTurnMs", "avgMs", "p50Ms", "p95Ms", "maxMs"} <= set(judged["timings"])

        # dates are BSON dates, not strings: the shell can compare and sort them
        assert await db.testruns.count_documents({"startedAt": {"$gte": t0}}) == 6

        # db.testruns.find({}, { status: 1, finishedAt: 1, totals: 1 })
        #   .sort({ finishedAt: -1 }).limit(5)
        cursor = (
            db.testruns.find({}, {"status": 1, "finishedAt": 1, "totals": 1})
            .sort({"finishedAt": -1})
            .limit(5)
        )
        recent = await cursor.to_list()
        assert [str(r["_id"]) for r in recent] == [failed_id, *reversed(run_ids[1:])]
        assert [r["status"] for r in recent] == ["failed"] + ["passed"] * 4
        assert all(set(r) == {"_id", "status", "finishedAt", "totals"} for r in recent)
        assert recent[1]["totals"]["passed"] == 2
        assert pending.id not in {str(r["_id"]) for r in recent}  # unfinished runs sort last

        # the store reads back what the shell sees
        listed = await store.get_run(failed_id)
        assert listed is not None
        assert listed.status is RunStatus.FAILED
        assert [i.test_id for i in listed.items] == ["promise"]
    finally:
        await client.aclose()
        await store.aclose()


async def test_indexes_exist_after_open_and_reopening_is_harmless(mongo_url: str) -> None:
    first, _ = await open_store({"MONGO_URL": mongo_url})
    await first.aclose()
    store, _ = await open_store({"MONGO_URL": mongo_url})
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        db = client.get_default_database()
        runs = await db.testruns.index_information()
        assert runs["runs_recent_finished"]["key"] == [("finishedAt", -1)]
        assert {"runs_recent", "runs_by_org", "runs_by_suite", "runs_by_status"} <= set(runs)
        for name in (
            "organizations",
            "testsuites",
            "tests",
            "environments",
            "personas",
            "requests",
        ):
            info = await db[name].index_information()
            assert info["org_id"]["unique"] is True, name
    finally:
        await client.aclose()
        await store.aclose()
