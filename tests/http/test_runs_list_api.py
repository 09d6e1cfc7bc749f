"""``GET /internal/runs`` through the real HTTP API on every store (in memory, PostgreSQL,
FerretDB): each filter, cursor paging over a few hundred runs that neither repeats nor skips
a run (forwards, backwards and by the ``Link`` header), ``offset``, and a 400 naming the
parameter for each bad value. ``lamdis runs list`` reads the same filters from a database."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_core.ports.store import RunCursor
from lamdis_core.service import encode_cursor
from lamdis_http.app import STORE_KEY
from lamdis_http.bootstrap import Settings, build_app
from lamdis_http.cli._runs import STATUSES, TRIGGERS

from tests.http.test_cli_runs_from_database import _cli as runs_cli

T0 = datetime(2026, 3, 1, 23, 40, tzinfo=UTC)
RUNS = 240
"""Enough for dozens of pages; three runs share each instant, so ties are paged too."""


@dataclass(frozen=True)
class Seeded:
    id: str
    created_at: datetime
    org: str
    suite: str
    env: str
    status: str
    trigger: str
    branch: str
    sha: str


@dataclass
class Listing:
    client: TestClient
    runs: list[Seeded]
    env: dict[str, str]
    """Where ``lamdis runs list`` reads: the database, or this server for the memory store."""

    async def get(self, **params: str) -> tuple[int, dict[str, Any], str | None]:
        resp = await self.client.get("/internal/runs", params=params)
        return resp.status, await resp.json(content_type=None), resp.headers.get("Link")

    async def ids(self, **params: str) -> list[str]:
        status, body, _ = await self.get(**params)
        assert status == 200, body
        return [r["id"] for r in body["runs"]]

    def expected(self, keep: Callable[[Seeded], bool]) -> list[str]:
        return [r.id for r in self.newest_first() if keep(r)]

    def newest_first(self) -> list[Seeded]:
        # the seeding order breaks ties, as every store's sequence does
        return [r for _, r in sorted(enumerate(self.runs), key=lambda p: (p[1].created_at, p[0]))][
            ::-1
        ]


def _seed_values(n: int) -> dict[str, Any]:
    return {
        # three runs per instant; the seeded hours cross midnight UTC (two days)
        "created_at": T0 + timedelta(seconds=30 * (n // 3)),
        "org": "o1" if n % 4 else "o2",
        "suite": f"suite-{n % 3}",
        "env": "staging" if n % 5 == 0 else "prod",
        "status": (RunStatus.FAILED if n % 7 == 0 else RunStatus.PASSED).value,
        "trigger": (Trigger.SCHEDULE if n % 6 == 0 else Trigger.CI).value,
        "branch": "main" if n % 2 else f"feature/{n % 4}",
        "sha": f"{n:04x}" + "ab" * 18,
    }


async def _seed(store: Any) -> list[Seeded]:
    seeded = []
    for n in range(RUNS):
        v = _seed_values(n)
        run = await store.create_run(
            Run(
                org_id=v["org"],
                suite_id=v["suite"],
                env_id=v["env"],
                status=RunStatus(v["status"]),
                trigger=Trigger(v["trigger"]),
                created_at=v["created_at"],
                git_context={"sha": v["sha"], "branch": v["branch"]},
            )
        )
        assert run.id is not None
        seeded.append(Seeded(id=run.id, **v))
    return seeded


@pytest.fixture(
    params=[
        pytest.param("memory"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mongo", marks=pytest.mark.mongo),
    ]
)
async def listing(request: pytest.FixtureRequest) -> AsyncIterator[Listing]:
    env: dict[str, str] = {}
    cluster = database = None
    # (the session fixtures by hand: an async fixture cannot ask for postgres_dsn by name)
    if request.param == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        database = await cluster.create_database(request.getfixturevalue("postgres_template"))
        env = {"DATABASE_URL": cluster.dsn(database)}
    elif request.param == "mongo":
        env = {"MONGO_URL": request.getfixturevalue("mongo_url")}
    app = build_app(Settings.from_env(env), start_worker=False)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    if not env:  # the command reads this server's API, as with --server
        env = {"LAMDIS_SERVER": str(client.make_url("")).rstrip("/")}
    try:
        yield Listing(client, await _seed(app[STORE_KEY]), env)
    finally:
        await client.close()
        if cluster is not None:
            await cluster.drop_database(database)


async def test_each_filter_alone_and_together(listing: Listing) -> None:
    everything = listing.expected(lambda r: True)
    assert await listing.ids(limit="200") == everything[:200]
    # the default page is the 20 newest, as before cursors existed
    assert await listing.ids() == everything[:20]
    cases: list[tuple[dict[str, str], Callable[[Seeded], bool]]] = [
        ({"orgId": "o2"}, lambda r: r.org == "o2"),
        ({"suiteId": "suite-1"}, lambda r: r.suite == "suite-1"),
        ({"envId": "staging"}, lambda r: r.env == "staging"),
        ({"status": "failed"}, lambda r: r.status == "failed"),
        ({"trigger": "schedule"}, lambda r: r.trigger == "schedule"),
        ({"branch": "feature/2"}, lambda r: r.branch == "feature/2"),
        # a commit prefix, in either case, as a short SHA is typed
        ({"commit": "00A"}, lambda r: r.sha.startswith("00a")),
        ({"commit": f"{37:04x}abab"}, lambda r: r.sha.startswith(f"{37:04x}")),
        # UTC days; "to" includes its whole day
        ({"from": "2026-03-02"}, lambda r: r.created_at >= datetime(2026, 3, 2, tzinfo=UTC)),
        ({"to": "2026-03-01"}, lambda r: r.created_at < datetime(2026, 3, 2, tzinfo=UTC)),
        ({"from": "2026-03-03"}, lambda r: False),
        (
            {"envId": "prod", "trigger": "ci", "status": "passed", "branch": "main"},
            lambda r: (r.env, r.trigger, r.status, r.branch) == ("prod", "ci", "passed", "main"),
        ),
        # empty ids meant "any" before the new filters, and still do
        ({"orgId": "", "suiteId": ""}, lambda r: True),
    ]
    for params, keep in cases:
        expected = listing.expected(keep)
        assert await listing.ids(limit="200", **params) == expected[:200], params
        assert expected or params == {"from": "2026-03-03"}, f"{params} selects no seeded run"


async def test_cursor_pages_neither_repeat_nor_skip(listing: Listing) -> None:
    everything = listing.expected(lambda r: True)
    pages: list[list[str]] = []
    cursors: list[str | None] = []
    status, body, link = await listing.get(limit="17")
    assert status == 200 and body["prevCursor"] is None
    while True:
        pages.append([r["id"] for r in body["runs"]])
        cursors.append(body["prevCursor"])
        if body["nextCursor"] is None:
            assert link is None or 'rel="next"' not in link
            break
        assert link is not None and 'rel="next"' in link
        status, body, link = await listing.get(limit="17", before=body["nextCursor"])
        assert status == 200, body
    assert [run_id for page in pages for run_id in page] == everything
    assert [len(p) for p in pages] == [17] * (RUNS // 17) + [RUNS % 17]

    # Walking back from the last page by prevCursor gives every page again, newest last.
    back = [pages[-1]]
    cursor = cursors[-1]
    while cursor is not None:
        status, body, _ = await listing.get(limit="17", after=cursor)
        assert status == 200, body
        back.append([r["id"] for r in body["runs"]])
        cursor = body["prevCursor"]
    assert back[::-1] == pages

    # The Link header carries the filters with the cursor; following it pages the same way.
    expected = listing.expected(lambda r: r.trigger == "ci" and r.env == "prod")
    walked: list[str] = []
    resp = await listing.client.get("/internal/runs?trigger=ci&envId=prod&limit=9")
    while True:
        body = await resp.json()
        walked += [r["id"] for r in body["runs"]]
        link = resp.headers.get("Link", "")
        nexts = [part for part in link.split(", ") if part.endswith('rel="next"')]
        if not nexts:
            break
        target = nexts[0].split(">")[0].lstrip("<")
        assert target.startswith("/internal/runs?") and "trigger=ci" in target
        resp = await listing.client.get(target)
        assert resp.status == 200
    assert walked == expected


async def test_offset_still_pages_and_says_where_the_next_page_starts(listing: Listing) -> None:
    everything = listing.expected(lambda r: True)
    status, body, _ = await listing.get(offset="30", limit="10")
    assert status == 200
    assert [r["id"] for r in body["runs"]] == everything[30:40]
    assert body["nextCursor"] and body["prevCursor"]
    assert await listing.ids(before=body["nextCursor"], limit="5") == everything[40:45]
    assert await listing.ids(after=body["prevCursor"], limit="5") == everything[25:30]
    assert await listing.ids(offset=str(RUNS), limit="5") == []


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _cursor_of(run: Seeded) -> str:
    return encode_cursor(RunCursor(run.created_at, run.id))


async def test_bad_values_are_a_400_naming_the_parameter(listing: Listing) -> None:
    good = _cursor_of(listing.runs[5])
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"status": "exploded"}, "status", "expected one of queued, running"),
        ({"status": ""}, "status", "expected one of"),
        ({"trigger": "cron"}, "trigger", "expected one of manual, schedule, ci"),
        ({"from": "2026-13-01"}, "from", "expected YYYY-MM-DD"),
        ({"to": "01/03/2026"}, "to", "expected YYYY-MM-DD"),
        ({"to": "20260301"}, "to", "expected YYYY-MM-DD"),
        ({"commit": "xyz"}, "commit", "expected a SHA or its start"),
        ({"commit": ""}, "commit", "not hexadecimal"),
        ({"before": "garbage!"}, "before", "expected a cursor the list returned"),
        ({"after": "cjEuMTIz"}, "after", "not a page position"),  # a cursor missing its id
        ({"before": _b64("r1.999999999999999999.x")}, "before", "not a page position"),
        ({"before": good, "after": good}, "after", "not both"),
        ({"before": good, "offset": "5"}, "offset", "a cursor already says"),
        ({"limit": "0"}, "limit", "expected an integer from 1 to 200"),
        ({"limit": "201"}, "limit", "expected an integer from 1 to 200"),
        ({"limit": "ten"}, "limit", "expected an integer from 1 to 200"),
        ({"offset": "-1"}, "offset", "expected an integer of 0 or more"),
        ({"sort": "asc"}, "sort", "expected orgId, suiteId, envId, status"),
    ]
    for params, field, expected in cases:
        resp = await listing.client.get("/internal/runs", params=params)
        assert resp.status == 400, params
        assert resp.content_type == "application/problem+json"
        problem = await resp.json()
        assert problem["field"] == field, (params, problem)
        assert expected in problem["detail"], (params, problem)
    # Several wrong values are named at once.
    resp = await listing.client.get("/internal/runs", params={"status": "x", "limit": "0"})
    problem = await resp.json()
    assert {e["field"] for e in problem["errors"]} == {"status", "limit"}
    # The web UI reads its query with the same code: the same messages, above an empty list.
    page = await listing.client.get(
        "/ui/", params={"before": _b64("r1.999999999999999999.x"), "env": "prod", "to": "x"}
    )
    assert page.status == 400
    text = await page.text()
    assert "before is not a page position from this list" in text
    assert "to &#39;x&#39; is not a date (expected YYYY-MM-DD)" in text


def test_the_commands_choices_are_the_models() -> None:
    assert tuple(s.value for s in RunStatus) == STATUSES
    assert tuple(t.value for t in Trigger) == TRIGGERS


async def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await runs_cli(env, "list", *args)


async def test_runs_list_command_takes_the_same_filters(listing: Listing) -> None:
    args = ["--env", "prod", "--trigger", "ci", "--branch", "main", "--commit", "0"]
    args += ["--from", "2026-03-01", "--to", "2026-03-02", "--status", "passed", "--limit", "4"]
    params = {"envId": "prod", "trigger": "ci", "branch": "main", "commit": "0"}
    params |= {"from": "2026-03-01", "to": "2026-03-02", "status": "passed", "limit": "4"}
    first = await _cli(listing.env, *args, "--json")
    assert first.returncode == 0, first.stderr
    status, api, _ = await listing.get(**params)
    assert status == 200 and json.loads(first.stdout) == api and len(api["runs"]) == 4
    table = await _cli(listing.env, *args, "--before", api["nextCursor"])
    assert table.returncode == 0, table.stderr
    _, older, _ = await listing.get(**params, before=api["nextCursor"])
    for run in older["runs"]:
        assert run["id"] in table.stdout
    assert f"older runs: --before {older['nextCursor']}" in table.stdout
    assert f"newer runs: --after {older['prevCursor']}" in table.stdout
    bad = await _cli(listing.env, "--from", "yesterday")
    assert bad.returncode == 2 and "from 'yesterday' is not a date" in bad.stderr
