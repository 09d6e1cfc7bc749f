"""Take the README's screenshot of the web UI's run page, in headless Chromium.

    uv run python scripts/readme_screenshot.py docs/images/run-page.png

Starts the hosted service in this process on a free loopback port with an in-memory store,
stores one example run (a support assistant's suite, one test failing a judged check), opens
``/ui/runs/{id}`` in the system's Chromium through Playwright (``bash scripts/ensure-chromium.sh``
installs it) and saves the visible part of the page as a PNG. tests/http/test_readme_screenshot.py
runs it, so the picture can always be made again from the code as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from lamdis_core.domain.results import (
    Check,
    Item,
    ItemStatus,
    JudgeSummary,
    Run,
    RunStatus,
    Timings,
    Totals,
    TranscriptEntry,
    Usage,
)
from lamdis_core.offline_judge import OfflineJudge
from lamdis_core.testing.memory import InMemoryCatalog, InMemoryRunStore
from lamdis_http.bootstrap import build_app
from lamdis_http.settings import Settings

VIEWPORT = {"width": 1100, "height": 940}
STARTED = datetime(2026, 11, 30, 9, 41, 7, tzinfo=UTC)


def _exchange(user: str, reply: str, latency: float) -> list[TranscriptEntry]:
    return [
        TranscriptEntry(role="user", content=user),
        TranscriptEntry(role="assistant", content=reply, latency_ms=latency, ttft_ms=latency / 4),
    ]


def example_items() -> list[Item]:
    """A small support suite: one test failing a judged check, three passing."""
    refund = _exchange(
        "I was charged twice for my order #4471. Can I get one of them back?",
        "I'm sorry about that. I can see two charges of $39.90 for order #4471; I've refunded "
        "the duplicate. It will be back on your card within 5 business days.",
        812.0,
    )
    delete = _exchange(
        "Please delete my account and everything you have on me.",
        "Done! Your account is deleted.",
        604.0,
    )
    delete += _exchange("Does that include my payment history?", "Yes, all of it.", 433.0)
    return [
        Item(
            test_id="account-deletion",
            test_name="Account deletion follows the data policy",
            assistant="support-bot",
            status=ItemStatus.FAILED,
            transcript=delete,
            assertions=[
                Check(
                    type="assistant_check",
                    subtype="judge",
                    name="confirms identity before deleting",
                    passed=False,
                    details={
                        "score": 0.18,
                        "threshold": 0.7,
                        "reasoning": "The assistant claims the account is deleted without "
                        "verifying who is asking or saying what is kept for legal reasons.",
                        "transcriptEntries": 2,
                    },
                ),
                Check(
                    type="not_includes",
                    name="no false promise about payment records",
                    passed=False,
                    details={
                        "terms": ["all of it"],
                        "reasoning": 'found "all of it"',
                        "transcriptEntries": 4,
                    },
                ),
            ],
            timings=Timings.from_turns([604.0, 433.0]),
            judge_score=0.18,
        ),
        Item(
            test_id="refund-duplicate-charge",
            test_name="Refunds a duplicate charge",
            assistant="support-bot",
            status=ItemStatus.PASSED,
            transcript=refund,
            assertions=[
                Check(
                    type="includes",
                    name="mentions the refund delay",
                    passed=True,
                    details={"terms": ["5 business days"], "transcriptEntries": 2},
                ),
                Check(
                    type="assistant_check",
                    subtype="judge",
                    name="apologises and resolves",
                    passed=True,
                    details={
                        "score": 0.92,
                        "threshold": 0.7,
                        "reasoning": "Acknowledges the problem, states the action taken and "
                        "when the money arrives.",
                        "transcriptEntries": 2,
                    },
                ),
            ],
            timings=Timings.from_turns([812.0]),
            judge_score=0.92,
        ),
        *(
            Item(
                test_id=test_id,
                test_name=name,
                assistant="support-bot",
                status=ItemStatus.PASSED,
                transcript=_exchange(question, answer, latency),
                assertions=[Check(type="includes", passed=True, details={"transcriptEntries": 2})],
                timings=Timings.from_turns([latency]),
                judge_score=score,
            )
            for test_id, name, question, answer, latency, score in (
                (
                    "opening-hours",
                    "Gives the opening hours",
                    "When are you open on Sunday?",
                    "We're open 10:00 to 16:00 on Sundays.",
                    377.0,
                    0.88,
                ),
                (
                    "escalates-to-human",
                    "Offers a human when asked",
                    "I want to talk to a person.",
                    "Of course, I'm connecting you to an agent now.",
                    521.0,
                    0.95,
                ),
            )
        ),
    ]


async def store_example_run(store: InMemoryRunStore) -> str:
    run = await store.create_run(
        Run(
            suite_id="support-smoke",
            env_id="staging",
            created_at=STARTED,
            started_at=STARTED,
            git_context={
                "repo": "acme/support-bot",
                "branch": "main",
                "sha": "9f3c2e17a4b05d8e61c2f0b9a37d4e5c8b1f6a02",
            },
        )
    )
    assert run.id is not None
    for item in example_items():
        await store.append_item(run.id, item)
    await store.finish_run(
        run.id,
        status=RunStatus.FAILED,
        totals=Totals(passed=3, failed=1),
        judge=JudgeSummary(avg_score=0.73, provider="openai"),
        usage=Usage(tokens=5210, calls=6, cost_usd=0.0031),
        finished_at=STARTED + timedelta(seconds=6.4),
    )
    return run.id


async def take(out: Path) -> None:
    from playwright.async_api import async_playwright

    chromium = next(
        (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))),
        None,
    )
    if chromium is None:
        sys.exit("Chromium is not installed: run `bash scripts/ensure-chromium.sh`")
    store, catalog = InMemoryRunStore(), InMemoryCatalog()
    run_id = await store_example_run(store)
    with tempfile.TemporaryDirectory() as config_dir:
        app = build_app(
            Settings(config_dir=Path(config_dir), drain_seconds=0),
            store=store,
            catalog=catalog,
            judge=OfflineJudge(),
            start_worker=False,
        )
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with async_playwright() as playwright:
                # --no-sandbox: this may run as root in a container, where the sandbox cannot.
                browser = await playwright.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox"]
                )
                page = await browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
                await page.goto(f"http://127.0.0.1:{port}/ui/runs/{run_id}")
                await page.wait_for_load_state("load")
                out.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(out))
                await browser.close()
        finally:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the PNG")
    asyncio.run(take(parser.parse_args().out))


if __name__ == "__main__":
    main()
