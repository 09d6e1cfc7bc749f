"""The runs list and a live run page in a real browser (Debian's Chromium, headless, through
Playwright; see test_ui_browser.py): filter and page the list; sign in, watch a running run
fill in without a reload, stop it with the Stop button. Screenshots go to each test's folder.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lamdis_core.domain.results import Run, RunStatus, Trigger
from lamdis_core.testing.memory import InMemoryRunStore

from tests.http._configs import _chat_test, _write, write_config_tree
from tests.http._helpers import start
from tests.http.conftest import TOKEN, MakeService
from tests.http.test_ui_browser import HOSTILE, browser, new_page  # noqa: F401  # the fixture
from tests.http.test_ui_live import write_live_suite

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def config_dir(tmp_path: Path, demo_url: str) -> Path:
    root = write_config_tree(tmp_path / "configs", demo_url)
    write_live_suite(root)
    # The live suite plus a reply that is markup: inserted live, it must stay text.
    _write(
        root,
        "tests/hostile.json",
        {
            "id": "hostile-tests",
            "assistantRef": "assistants/demo",
            "tests": [_chat_test("hostile", f"#echo {HOSTILE} #delay:200", ["never said"])],
        },
    )
    _write(
        root,
        "suites/live-hostile.json",
        {
            "id": "live-hostile",
            "assistants": {"include": ["assistants/demo"]},
            "tests": {"includeFiles": ["tests/live.json", "tests/hostile.json"]},
        },
    )
    return root


async def test_filter_and_page_the_runs_list(
    make_service: MakeService,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    for n in range(60):
        await store.create_run(
            Run(
                suite_id="checkout" if n % 2 else "search",
                status=RunStatus.FAILED if n % 4 == 1 else RunStatus.PASSED,
                trigger=Trigger.SCHEDULE if n % 10 == 0 else Trigger.CI,
                created_at=T0 + timedelta(minutes=n),
                git_context={"sha": f"{n:02d}" + "a" * 38, "branch": "main"},
            )
        )
    page, dialogs = await new_page(browser)
    await page.goto(str(service.client.make_url("/ui/")))
    rows = page.locator("#runs tbody tr")
    assert await rows.count() == 25
    await page.fill("input[name=suite]", "checkout")
    await page.select_option("select[name=status]", "failed")
    async with page.expect_navigation():
        await page.click("#run-filters button[type=submit]")
    assert "suite=checkout" in page.url and "status=failed" in page.url
    assert await rows.count() == 15
    texts = await rows.all_inner_texts()
    assert all("checkout" in t and "failed" in t for t in texts)
    assert "57aaaaaaaaaa" in texts[0]  # newest first: n = 57 is the last failed checkout run
    await page.screenshot(path=str(tmp_path / "runs-filtered.png"), full_page=True)

    # Paging keeps the filter: the 30 checkout runs over two pages, none twice.
    await page.goto(str(service.client.make_url("/ui/?suite=checkout")))
    first = await rows.all_inner_texts()
    assert await page.locator(".pager a", has_text="Newer").count() == 0
    async with page.expect_navigation():
        await page.click(".pager a:has-text('Older')")
    assert "suite=checkout" in page.url
    second = await rows.all_inner_texts()
    assert (len(first), len(second)) == (25, 5)
    assert not set(first) & set(second)
    assert all("checkout" in t for t in first + second)
    async with page.expect_navigation():
        await page.click(".pager a:has-text('Newer')")
    assert await rows.all_inner_texts() == first
    await page.screenshot(path=str(tmp_path / "runs-paged.png"), full_page=True)
    assert dialogs == []
    assert (tmp_path / "runs-filtered.png").stat().st_size > 0


async def test_watch_a_running_run_live_and_stop_it(
    make_service: MakeService,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    service = await make_service(token=TOKEN)
    client = service.client
    run_id = await start(
        client,
        {"suiteId": "live-hostile", "gitContext": {"sha": "abcdef1234567"}},
        headers={"x-api-token": TOKEN},
    )
    page, dialogs = await new_page(browser)
    await page.goto(str(client.make_url(f"/ui/runs/{run_id}")))
    assert page.url.endswith("/ui/login")
    await page.fill("input[name=token]", TOKEN)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    await page.goto(str(client.make_url(f"/ui/runs/{run_id}")))
    await page.wait_for_load_state("load")
    # Marks this document: a reload would lose it.
    await page.evaluate("window.lamdisTestMarker = 'same document'")
    status = page.locator("#run-status")
    rows = page.locator("#item-rows tr:not(.empty)")
    # The quick tests and the hostile one finish while the long one runs: rows come in live.
    await rows.nth(3).wait_for(timeout=30_000)
    assert (await status.inner_text()).startswith("running")
    assert await page.locator("#live-state").inner_text() == "live"
    assert await page.evaluate("window.lamdisTestMarker") == "same document"
    # The hostile reply arrived as HTML from the stream and is text in the page.
    echoed = page.locator(".turn-assistant .content", has_text="onerror=alert(1)")
    assert await echoed.count() == 1 and await echoed.is_visible()
    assert HOSTILE in await echoed.inner_text()
    assert dialogs == []
    assert await page.locator("img").count() == 0
    assert await page.locator("script:not([src])").count() == 0
    await page.screenshot(path=str(tmp_path / "run-live.png"), full_page=True)

    await page.click("#stop-button")
    # The form posts and the page comes back (a stopping or stopped run); then it stops live.
    await page.wait_for_load_state("load")
    await page.locator("#run-status", has_text="stopped").wait_for(timeout=30_000)
    assert await page.locator("#stop-form").count() == 0
    await page.screenshot(path=str(tmp_path / "run-stopped.png"), full_page=True)

    assert dialogs == []
    final = await service.store.get_run(run_id, include_items=False)
    assert final is not None and final.status is RunStatus.STOPPED
    assert (tmp_path / "run-live.png").stat().st_size > 0
