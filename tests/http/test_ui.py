"""The hosted UI at /ui/: the runs list with filters and paging, the run page, 404 pages, the
security headers, and the login with a signed session cookie when a token is set."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from lamdis_core.domain.results import (
    Check,
    Item,
    ItemStatus,
    JudgeSummary,
    Run,
    RunStatus,
    Totals,
    TranscriptEntry,
    Trigger,
    Usage,
)
from lamdis_core.testing.memory import InMemoryRunStore

from tests.http._helpers import start, wait_status
from tests.http._html import parse
from tests.http.conftest import TOKEN, MakeService

T0 = datetime(2026, 1, 1, tzinfo=UTC)
XSS = "<img src=x onerror=alert(1)></script><script>alert(1)</script>"


def _assert_secured(headers: Mapping[str, str]) -> None:
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert headers["X-Frame-Options"] == "DENY"


async def _seed(store: InMemoryRunStore) -> list[str]:
    """30 runs, one a minute: suites a/b alternate, env e1 for the first ten, status by n,
    trigger schedule for every fifth, branch main for the first twenty, orgs o1/o2 by halves."""
    ids = []
    for n in range(30):
        run = await store.create_run(
            Run(
                org_id="o1" if n < 15 else "o2",
                suite_id="suite-a" if n % 2 else "suite-b",
                env_id="e1" if n < 10 else "e2",
                status=RunStatus.FAILED if n % 3 == 0 else RunStatus.PASSED,
                trigger=Trigger.SCHEDULE if n % 5 == 0 else Trigger.CI,
                created_at=T0 + timedelta(minutes=n),
                git_context={
                    "sha": f"{n:02d}" + "f" * 38,
                    "branch": "main" if n < 20 else "feature/live",
                },
            )
        )
        assert run.id is not None
        ids.append(run.id)
    return ids


def _run_links(html: str) -> list[str]:
    table = parse(html).by_id("runs")
    hrefs = [a.attrs["href"] or "" for a in table.iter("a")]
    return [href for href in hrefs if href.startswith("/ui/runs/")]


def _pager(html: str) -> dict[str, str]:
    pager = parse(html).by_class("pager")[0]
    return {a.text(): a.attrs["href"] or "" for a in pager.iter("a")}


def _links(ids: list[str], numbers: Any) -> list[str]:
    return [f"/ui/runs/{ids[n]}" for n in numbers]


async def test_runs_list_pages_newest_first_by_position(make_service: MakeService) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    ids = await _seed(store)
    client = service.client

    first = await client.get("/ui/")
    assert first.status == 200
    _assert_secured(first.headers)
    html = await first.text()
    assert _run_links(html) == _links(ids, range(29, 4, -1))
    assert list(_pager(html)) == ["Older"]

    second = await (await client.get(_pager(html)["Older"])).text()
    assert _run_links(second) == _links(ids, range(4, -1, -1))
    assert list(_pager(second)) == ["Newest", "Newer"]

    back = await (await client.get(_pager(second)["Newer"])).text()
    assert _run_links(back) == _links(ids, range(29, 4, -1))

    # A page within a filter keeps the filter in its links.
    failed = await (await client.get("/ui/?status=failed&suite=suite-b")).text()
    assert _run_links(failed) == _links(ids, (24, 18, 12, 6, 0))
    assert _pager(failed) == {}

    bad = await client.get("/ui/?status=exploded&before=yesterday&commit=xyz&from=30/11/2026")
    assert bad.status == 400
    text = parse(await bad.text()).by_class("warnings")[0].text()
    assert "unknown status 'exploded'" in text
    assert "before is not a page position" in text
    assert "commit 'xyz' is not hexadecimal" in text
    assert "from '30/11/2026' is not a date" in text


async def test_runs_list_filters_by_every_field(make_service: MakeService) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    ids = await _seed(store)
    client = service.client

    async def listed(query: str) -> list[str]:
        page = await client.get("/ui/?" + query)
        assert page.status == 200, await page.text()
        return _run_links(await page.text())

    suite = await (await client.get("/ui/?suite=suite-a&env=e1&status=failed")).text()
    assert _run_links(suite) == _links(ids, (9, 3))
    row = list(parse(suite).by_id("runs").iter("tr"))[1].text()
    assert "suite-a" in row and "e1" in row and "09ffffffffff" in row and "main" in row
    assert await listed("org=o2&status=failed") == _links(ids, (27, 24, 21, 18, 15))
    assert await listed("trigger=schedule&org=o1") == _links(ids, (10, 5, 0))
    assert await listed("branch=feature/live&trigger=schedule") == _links(ids, (25, 20))
    assert await listed("commit=07") == _links(ids, (7,))
    assert await listed("commit=1") == _links(ids, range(19, 9, -1))
    # the dates are UTC days; "to" takes in its whole day
    assert len(await listed("from=2026-01-01&to=2026-01-01")) == 25
    assert await listed("from=2026-01-02") == []
    assert await listed("to=2025-12-31") == []
    assert await listed("commit=ABC") == []  # a SHA in capitals finds lower-case SHAs


async def test_run_page_shows_a_real_run_and_unknown_ids_are_404_pages(
    make_service: MakeService,
) -> None:
    service = await make_service()
    run_id = await start(
        service.client, {"suiteId": "smoke", "gitContext": {"repo": "o/r", "sha": "abc123"}}
    )
    await wait_status(service.client, run_id)
    page = await service.client.get(f"/ui/runs/{run_id}")
    assert page.status == 200
    _assert_secured(page.headers)
    tree = parse(await page.text())
    assert tree.by_id("run-status").text() == "passed"
    assert "abc123" in tree.by_id("run-git").text()
    replies = [t for t in tree.iter() if "turn-assistant" in (t.attrs.get("class") or "")]
    assert replies and all(r.by_class("latency") for r in replies)
    # The hosted page links its stylesheet; nothing inline the CSP would have to allow.
    assert [link.attrs["href"] for link in tree.iter("link")] == ["/ui/static/lamdis.css"]
    assert not list(tree.iter("style")) and not list(tree.iter("script"))
    css = await service.client.get("/ui/static/lamdis.css")
    assert css.status == 200 and css.content_type == "text/css"

    for path in ("/ui/runs/no-such-run", "/ui/nothing/here"):
        missing = await service.client.get(path)
        assert missing.status == 404 and missing.content_type == "text/html"
        _assert_secured(missing.headers)
        assert "There is no" in parse(await missing.text()).text()


async def test_run_page_shows_hostile_replies_and_errors_as_text(
    make_service: MakeService,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    run = await store.create_run(Run(suite_id="s", created_at=T0))
    assert run.id is not None
    await store.append_item(
        run.id,
        Item(
            test_id="t",
            test_name=XSS,
            assistant="a",
            status=ItemStatus.FAILED,
            transcript=[TranscriptEntry(role="assistant", content=XSS, latency_ms=5.0)],
            assertions=[
                Check(
                    type="assistant_check",
                    passed=False,
                    details={"reasoning": XSS, "transcriptEntries": 1},
                )
            ],
            error=XSS,
        ),
    )
    await store.finish_run(
        run.id,
        status=RunStatus.FAILED,
        totals=Totals(failed=1),
        judge=JudgeSummary(),
        usage=Usage(),
        finished_at=T0 + timedelta(seconds=2),
        error="worker said " + XSS,
    )
    html = await (await service.client.get(f"/ui/runs/{run.id}")).text()
    tree = parse(html)
    assert "<img" not in html and "<script" not in html
    assert tree.by_class("content")[0].text() == XSS
    assert XSS in tree.by_class("check-failed")[0].text()
    assert tree.by_class("error")[0].text() == XSS
    assert "worker said " + XSS in tree.by_class("warnings")[0].text()


async def test_with_a_token_the_ui_asks_for_it_once_and_keeps_a_signed_session(
    make_service: MakeService,
) -> None:
    service = await make_service(token=TOKEN, start_worker=False, import_tree=False)
    client = service.client
    redirect = await client.get("/ui/", allow_redirects=False)
    assert redirect.status == 303 and redirect.headers["Location"] == "/ui/login"
    assert (await client.get("/internal/runs")).status == 401  # the API still wants the token

    wrong = await client.post("/ui/login", data={"token": "nope"}, allow_redirects=False)
    assert wrong.status == 401 and "Wrong token." in await wrong.text()
    assert "lamdis_session" not in client.session.cookie_jar.filter_cookies(client.make_url("/ui/"))

    ok = await client.post("/ui/login", data={"token": TOKEN}, allow_redirects=False)
    assert ok.status == 303 and ok.headers["Location"] == "/ui/"
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
    assert TOKEN not in cookie and "Path=/ui" in cookie
    page = await client.get("/ui/", allow_redirects=False)
    assert page.status == 200
    tree = parse(await page.text())
    csrf = next(i for i in tree.iter("input") if i.attrs.get("name") == "csrf").attrs["value"]

    # A cookie whose signature does not match is no session.
    value = ok.cookies["lamdis_session"].value
    forged = value[:-1] + ("0" if value[-1] != "0" else "1")
    client.session.cookie_jar.update_cookies({"lamdis_session": forged}, client.make_url("/ui/"))
    assert (await client.get("/ui/", allow_redirects=False)).status == 303
    client.session.cookie_jar.update_cookies({"lamdis_session": value}, client.make_url("/ui/"))

    refused = await client.post("/ui/logout", data={"csrf": "x"}, allow_redirects=False)
    assert refused.status == 403
    out = await client.post("/ui/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and "Max-Age=0" in out.headers["Set-Cookie"]
    assert (await client.get("/ui/", allow_redirects=False)).status == 303
