"""The run page in a real browser: Debian's Chromium, headless, driven by Playwright's Python
client with the system executable (scripts/ensure-chromium.sh installs it; `make test` runs
that). A hostile reply must show as text and run nothing — no dialog, no element it made —
in the hosted page and in the HTML report file alike. Each test saves a screenshot of its page
in its temporary folder."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lamdis_core.domain.results import Check, Item, ItemStatus, Run, RunStatus, TranscriptEntry
from lamdis_core.testing.memory import InMemoryRunStore

from tests.http.conftest import MakeService

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: run `bash scripts/ensure-chromium.sh` (make test does)")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # --no-sandbox: the tests may run as root in a container, where the sandbox cannot start.
        launched = await playwright.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(browser: Any) -> tuple[Any, list[str]]:
    """A page whose dialogs are dismissed and recorded (a hostile reply must raise none)."""
    page = await browser.new_page()
    dialogs: list[str] = []

    async def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    return page, dialogs


async def _open(browser: Any, url: str, shot: Path) -> tuple[Any, list[str]]:
    page, dialogs = await new_page(browser)
    await page.goto(url)
    await page.wait_for_load_state("load")
    await page.screenshot(path=str(shot), full_page=True)
    return page, dialogs


async def _assert_inert(page: Any, dialogs: list[str]) -> None:
    assert dialogs == []
    assert await page.locator("img").count() == 0
    assert await page.locator("script").count() == 0
    reply = page.locator(".turn-assistant .content").first
    assert HOSTILE in await reply.inner_text()
    assert await reply.is_visible()


async def test_hosted_run_page_shows_a_hostile_reply_as_text(
    make_service: MakeService, browser: Any, tmp_path: Path
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    # A finished run: its page has no live script (test_ui_browser_runs covers a live one).
    run = await store.create_run(
        Run(suite_id="s", status=RunStatus.FAILED, created_at=datetime.now(UTC))
    )
    assert run.id is not None
    await store.append_item(
        run.id,
        Item(
            test_id="t",
            test_name=HOSTILE,
            assistant="a",
            status=ItemStatus.FAILED,
            transcript=[
                TranscriptEntry(role="user", content="hi"),
                TranscriptEntry(role="assistant", content=HOSTILE, latency_ms=5.0),
            ],
            assertions=[
                Check(
                    type="includes",
                    passed=False,
                    details={"reasoning": HOSTILE, "transcriptEntries": 2},
                )
            ],
            error=HOSTILE,
        ),
    )
    url = str(service.client.make_url(f"/ui/runs/{run.id}"))
    page, dialogs = await _open(browser, url, tmp_path / "run-page.png")
    await _assert_inert(page, dialogs)
    assert await page.locator("pre.error").first.inner_text() == HOSTILE
    assert (tmp_path / "run-page.png").stat().st_size > 0


async def test_html_report_file_shows_a_hostile_reply_as_text(
    demo_url: str, browser: Any, tmp_path: Path
) -> None:
    (tmp_path / "assistants").mkdir()
    (tmp_path / "assistants/demo.json").write_text(
        json.dumps({"id": "demo", "env": {"channel": "http_chat", "baseUrl": demo_url}})
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/hostile.json").write_text(
        json.dumps(
            {
                "assistantRef": "assistants/demo",
                "tests": [
                    {
                        "id": "hostile",
                        "steps": [
                            {"type": "message", "role": "user", "content": "#echo " + HOSTILE},
                            {"type": "includes", "includes": ["absent"]},
                        ],
                    }
                ],
            }
        )
    )
    # Started without blocking: the demo assistant answers on this test's event loop.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "lamdis_http.cli", "run", "tests", "--html", "report.html"),
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 1, output.decode()
    assert "FAIL" in output.decode()
    page, dialogs = await _open(
        browser, (tmp_path / "report.html").as_uri(), tmp_path / "report.png"
    )
    await _assert_inert(page, dialogs)
