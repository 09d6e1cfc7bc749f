"""The suite trends and compare pages in a real browser (Debian's Chromium, headless, through
Playwright): the charts render under the page's CSP with nothing refused, a chart's point
leads to its run, the run page leads to the comparison, and a hostile reply shown there runs
nothing. Each test saves a screenshot of its pages in its temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lamdis_core.testing.memory import InMemoryRunStore

from tests.http import test_ui_browser
from tests.http.conftest import MakeService
from tests.http.test_ui import XSS
from tests.http.test_ui_browser import _open
from tests.http.test_ui_history import _suite_history, _two_runs

pytestmark = pytest.mark.e2e

browser = test_ui_browser.browser  # the fixture: headless Chromium


def _refusals(page: Any) -> list[str]:
    """Console messages of the page that say the CSP refused something (filled as it runs)."""
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security" in message.text else None
        ),
    )
    return refused


async def test_suite_trends_render_and_a_point_opens_its_run(
    make_service: MakeService,
    browser: Any,
    tmp_path: Path,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    ids = await _suite_history(store, 55)
    page, dialogs = await _open(
        browser, str(service.client.make_url("/ui/suites/checkout")), tmp_path / "suite.png"
    )
    refused = _refusals(page)
    await page.reload()
    await page.screenshot(path=str(tmp_path / "suite.png"), full_page=True)

    for chart in ("pass-rate", "judge-average", "p95-latency"):
        figure = page.locator(f"#chart-{chart}")
        assert await figure.locator("circle").count() == 50
        box = await figure.locator("svg").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 50
        line = figure.locator("path.line")
        # The stylesheet reached the SVG: the line is stroked, not filled black.
        assert await line.evaluate("e => getComputedStyle(e).fill") == "none"
    flaky = page.locator("#flaky tbody tr")
    assert await flaky.count() == 1
    assert "Test flip" in await flaky.first.inner_text()
    assert (await page.locator("#slowest tbody tr").first.inner_text()).startswith("Test slow")
    assert dialogs == [] and refused == []

    await page.locator("#chart-pass-rate a").last.click()
    await page.wait_for_url(f"**/ui/runs/{ids[-1]}")
    assert await page.locator("#run-status").inner_text() == "failed"
    assert (tmp_path / "suite.png").stat().st_size > 0


async def test_compare_page_from_the_run_page_shows_what_changed(
    make_service: MakeService,
    browser: Any,
    tmp_path: Path,
) -> None:
    store = InMemoryRunStore()
    service = await make_service(store=store, start_worker=False, import_tree=False)
    _, before, after = await _two_runs(store)
    page, dialogs = await _open(
        browser, str(service.client.make_url(f"/ui/runs/{after}")), tmp_path / "run.png"
    )
    refused = _refusals(page)
    await page.locator("#compare-link").click()
    await page.wait_for_url(f"**/ui/runs/{after}/compare")
    await page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)

    assert before in await page.locator(".side").first.inner_text()
    changed = page.locator("#changed tbody tr")
    assert await changed.count() == 2
    first = await changed.first.inner_text()
    assert "newly failing" in first and XSS in first
    assert "newly passing" in await changed.nth(1).inner_text()
    regression = page.locator("#deltas tr.regression", has_text="Test b")
    assert "+200 ms" in await regression.inner_text()
    assert dialogs == [] and refused == []
    assert await page.locator("img").count() == 0 and await page.locator("script").count() == 0

    # The picker compares with another run of the suite.
    await page.locator("select[name=base]").select_option(index=1)
    await page.locator("form.filters button").click()
    await page.wait_for_url("**/compare?base=*")
    assert await page.locator("#changed tbody tr").count() == 1
    assert (tmp_path / "compare.png").stat().st_size > 0
