"""Fixtures for the lamdis-http tests: the real demo assistant on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lamdis_http.demo import start_demo_server


@pytest.fixture
async def demo_url() -> AsyncIterator[str]:
    """Base URL of a freshly started demo assistant (stopped after the test)."""
    runner, url = await start_demo_server("127.0.0.1", 0, 0)
    try:
        yield url
    finally:
        await runner.cleanup()
