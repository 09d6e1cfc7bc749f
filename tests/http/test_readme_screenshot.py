"""The README's screenshot of the run page comes from scripts/readme_screenshot.py, in the real
browser: the script still makes a PNG of the page, and the committed one is such a PNG."""

from __future__ import annotations

import asyncio
import struct
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs/images/run-page.png"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_script_makes_the_readmes_screenshot_of_the_run_page(tmp_path: Path) -> None:
    out = tmp_path / "run-page.png"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts/readme_screenshot.py"),
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, output.decode()
    assert "GET" in output.decode() and "/ui/runs/" in output.decode()
    assert _png_size(out) == (1100, 940)
    assert _png_size(COMMITTED) == (1100, 940)
    assert COMMITTED.stat().st_size < 200_000  # small enough to keep in the repository
    assert "](docs/images/run-page.png)" in (ROOT / "README.md").read_text("utf-8")
