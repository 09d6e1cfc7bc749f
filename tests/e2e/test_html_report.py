"""``lamdis run --html`` and ``lamdis report SUMMARY.json --html`` as subprocesses against the
demo assistant: one self-contained page, replies shown as text, checks beside their turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import _message, _run, _tree, _write, demo_url
from tests.http._html import Element, parse

pytestmark = pytest.mark.e2e

__all__ = ["demo_url"]  # the module fixture, shared

HOSTILE = "<img src=x onerror=alert(1)> </script><script>alert(2)</script>"


def _hostile_tree(root: Path) -> None:
    _tree(root)
    _write(
        root,
        "tests/hostile.json",
        {
            "assistantRef": "assistants/demo",
            "tests": [
                {
                    "id": "hostile",
                    "name": "echoes markup",
                    "steps": [
                        _message("#echo " + HOSTILE),
                        {"type": "includes", "includes": ["not in the reply"]},
                    ],
                }
            ],
        },
    )


def _assert_inert(html: str, tree: Element) -> None:
    """No element the reply could have made, and no script or remote fetch at all."""
    assert not list(tree.iter("img")) and not list(tree.iter("script"))
    assert "<img" not in html and "<script" not in html and "</script" not in html
    for element in tree.iter():
        assert not any(name.startswith("on") for name in element.attrs), element
        assert not element.attrs.get("src") and element.tag != "link"


def test_run_html_writes_a_self_contained_page_with_replies_as_text(
    tmp_path: Path, demo_url: str
) -> None:
    _hostile_tree(tmp_path)
    proc = _run(
        ["run", "tests", "--json", "s.json", "--html", "out/report.html"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "out/report.html" in proc.stdout
    html = (tmp_path / "out/report.html").read_text(encoding="utf-8")
    tree = parse(html)
    _assert_inert(html, tree)
    csp = [m for m in tree.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].attrs["content"].startswith("default-src 'none'")

    assert tree.by_id("run-status").text() == "failed"
    assert tree.by_id("run-totals").text() == "3 passed, 1 failed, 0 errors, 0 skipped of 4"
    assert tree.by_id("run-pass-rate").text() == "75%"
    assert tree.by_id("run-usage").text() == "0 tokens, 0 calls"
    rows = list(tree.by_id("items").iter("tr"))[1:]
    cells = {next(r.iter("td")).text().strip(): r.text() for r in rows}
    assert sorted(cells) == [
        "echoes markup",
        "explains diversification",
        "greets the user",
        "warns about a single stock",
    ]
    assert "failed" in cells["echoes markup"] and "1 / 1" in cells["echoes markup"]

    summary = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    hostile = next(
        tree.by_id(f"item-{n + 1}")
        for n, item in enumerate(summary["items"])
        if item["testId"] == "hostile"
    )
    assert "open" in hostile.attrs  # a failed item is unfolded
    bubbles = [b.text() for b in hostile.by_class("turn-assistant")]
    assert len(bubbles) == 1 and HOSTILE in bubbles[0]  # the markup, as visible text
    failing = hostile.by_class("turn-assistant")[0].by_class("check-failed")
    assert len(failing) == 1 and "missing from the last reply" in failing[0].text()

    # Each check sits beside the reply it ran after: the second turn's check is not the first's.
    risky = next(
        tree.by_id(f"item-{n + 1}")
        for n, item in enumerate(summary["items"])
        if item["testId"] == "risky"
    )
    turns = risky.by_class("turn-assistant")
    assert len(turns) == 2
    first, second = (t.by_class("check") for t in turns)
    assert len(first) == 2 and len(second) == 1
    assert "concentrat" not in second[0].text() and "1 terms found" in second[0].text()
    latencies = [t.by_class("latency")[0].text() for t in turns]
    assert all(text.endswith(" ms") for text in latencies)


def test_report_renders_the_same_page_from_the_saved_summary(tmp_path: Path, demo_url: str) -> None:
    _hostile_tree(tmp_path)
    run = _run(
        # The README's commands, as shown.
        [
            "run",
            "tests",
            "--json",
            "lamdis-results/summary.json",
            "--html",
            "lamdis-results/report.html",
        ],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    proc = _run(
        ["report", "lamdis-results/summary.json", "--html", "report.html"],
        cwd=tmp_path,
        demo_url=demo_url,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "report.html (4 items, status failed)" in proc.stdout
    saved = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert saved == (tmp_path / "lamdis-results/report.html").read_text(encoding="utf-8")
    _assert_inert(saved, parse(saved))


def test_report_refuses_what_is_not_a_summary_and_writes_nothing(
    tmp_path: Path, demo_url: str
) -> None:
    _write(tmp_path, "other.json", {"items": []})
    proc = _run(["report", "other.json", "--html", "r.html"], cwd=tmp_path, demo_url=demo_url)
    assert proc.returncode == 2
    assert "other.json is not a lamdis summary (no schemaVersion and items[])" in proc.stderr
    missing = _run(["report", "nope.json", "--html", "r.html"], cwd=tmp_path, demo_url=demo_url)
    assert missing.returncode == 2 and "cannot read the summary nope.json" in missing.stderr
    assert not (tmp_path / "r.html").exists()
