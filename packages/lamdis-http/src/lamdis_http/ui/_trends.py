"""What the suite page shows, computed from runs and their item outlines: a point per run
(pass rate, judge average, p95 latency), the flaky tests, the slowest tests, and the charts'
geometry as inline SVG coordinates (no script, so the page keeps its strict CSP)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from lamdis_core.domain.results import ItemStatus, Run
from lamdis_core.ports.store import ItemOutline
from lamdis_core.reports.summary import percentile

TREND_RUNS = 50
FLAKY_RUNS = 20
FLAKY_CHANGES = 2
SLOWEST = 10

_CHART_WIDTH = 640
_CHART_HEIGHT = 150
_PAD_LEFT = 56
_PAD_RIGHT = 12
_PAD_Y = 12


@attrs.frozen(kw_only=True)
class RunPoint:
    """One run on the trend charts."""

    run_id: str
    created_at: str
    status: str
    pass_rate: float | None
    judge_avg: float | None
    p95_ms: float | None
    items: int


def run_points(
    runs: Sequence[Run], outlines: Mapping[str, Sequence[ItemOutline]]
) -> list[RunPoint]:
    """A point per run, oldest first; the p95 is over every turn of every item of the run."""
    points = []
    for run in reversed(runs):
        assert run.id is not None
        items = outlines.get(run.id, ())
        turns = [ms for outline in items for ms in outline.per_turn_ms]
        points.append(
            RunPoint(
                run_id=run.id,
                created_at=run.created_at.isoformat(timespec="seconds") if run.created_at else "",
                status=str(run.status),
                pass_rate=run.totals.pass_rate if run.totals.total else None,
                judge_avg=run.judge.avg_score,
                p95_ms=percentile(turns, 0.95),
                items=len(items),
            )
        )
    return points


def _run_outcome(statuses: Sequence[ItemStatus]) -> ItemStatus:
    """One status for a test in one run, over its repeats: the worst of them."""
    for worst in (ItemStatus.ERROR, ItemStatus.FAILED, ItemStatus.PASSED):
        if worst in statuses:
            return worst
    return ItemStatus.SKIPPED


def _key(outline: ItemOutline) -> tuple[str, str]:
    return (outline.test_id, outline.assistant)


def flaky_tests(
    runs: Sequence[Run], outlines: Mapping[str, Sequence[ItemOutline]]
) -> list[dict[str, Any]]:
    """Tests whose status changed at least twice over the newest 20 runs (skips ignored).

    ``runs`` is newest first, as ``list_runs`` answers. A test's status in a run is the worst
    of its repeats there. Most changes first.
    """
    window = list(reversed(runs[:FLAKY_RUNS]))
    history: dict[tuple[str, str], list[tuple[str, str]]] = {}
    names: dict[tuple[str, str], str] = {}
    for run in window:
        assert run.id is not None
        per_test: dict[tuple[str, str], list[ItemStatus]] = {}
        for outline in outlines.get(run.id, ()):
            per_test.setdefault(_key(outline), []).append(outline.status)
            names.setdefault(_key(outline), outline.test_name or outline.test_id)
        for key, statuses in per_test.items():
            history.setdefault(key, []).append((run.id, _run_outcome(statuses).value))
    flaky: list[dict[str, Any]] = []
    for key, seen in history.items():
        judged = [status for _, status in seen if status != ItemStatus.SKIPPED]
        changes = sum(1 for a, b in itertools.pairwise(judged) if a != b)
        if changes >= FLAKY_CHANGES:
            flaky.append(
                {
                    "test_id": key[0],
                    "assistant": key[1],
                    "name": names[key],
                    "changes": changes,
                    "history": [{"run_id": r, "status": s} for r, s in seen],
                }
            )
    flaky.sort(key=lambda f: (-f["changes"], f["name"], f["assistant"]))
    return flaky


def slowest_tests(
    runs: Sequence[Run], outlines: Mapping[str, Sequence[ItemOutline]]
) -> list[dict[str, Any]]:
    """The 10 tests with the highest p95 turn latency over the runs, with their average."""
    turns: dict[tuple[str, str], list[float]] = {}
    names: dict[tuple[str, str], str] = {}
    for run in runs:
        assert run.id is not None
        for outline in outlines.get(run.id, ()):
            turns.setdefault(_key(outline), []).extend(outline.per_turn_ms)
            names.setdefault(_key(outline), outline.test_name or outline.test_id)
    rows: list[dict[str, Any]] = [
        {
            "test_id": key[0],
            "assistant": key[1],
            "name": names[key],
            "turns": len(values),
            "p95_ms": percentile(values, 0.95),
            "avg_ms": sum(values) / len(values),
            "max_ms": max(values),
        }
        for key, values in turns.items()
        if values
    ]
    rows.sort(key=lambda r: (-r["p95_ms"], r["name"], r["assistant"]))
    return rows[:SLOWEST]


def chart(
    points: Sequence[RunPoint],
    value: Callable[[RunPoint], float | None],
    *,
    label: Callable[[float], str],
    top: float | None = None,
) -> dict[str, Any]:
    """A line chart's geometry: ``path`` (an SVG path, broken where a run has no value),
    ``dots`` (each a link to its run, titled with its value) and three ``ticks``.

    ``top`` fixes the scale (1.0 for rates); otherwise it is the largest value.
    """
    values = [value(p) for p in points]
    known = [v for v in values if v is not None]
    scale = top if top is not None else max(known, default=0.0)
    scale = scale or 1.0
    inner_w = _CHART_WIDTH - _PAD_LEFT - _PAD_RIGHT
    inner_h = _CHART_HEIGHT - 2 * _PAD_Y
    step = inner_w / max(len(points) - 1, 1)

    def y_of(v: float) -> float:
        return round(_PAD_Y + inner_h * (1 - min(max(v / scale, 0.0), 1.0)), 1)

    path: list[str] = []
    dots = []
    pen_down = False
    for n, (point, v) in enumerate(zip(points, values, strict=True)):
        if v is None:
            pen_down = False
            continue
        x = round(_PAD_LEFT + (step * n if len(points) > 1 else inner_w / 2), 1)
        y = y_of(v)
        path.append(f"{'L' if pen_down else 'M'}{x} {y}")
        pen_down = True
        dots.append(
            {
                "x": x,
                "y": y,
                "run_id": point.run_id,
                "title": f"{point.created_at or point.run_id}: {label(v)} ({point.status})",
            }
        )
    ticks = [{"y": y_of(scale * f), "label": label(scale * f)} for f in (1.0, 0.5, 0.0)]
    return {
        "width": _CHART_WIDTH,
        "height": _CHART_HEIGHT,
        "left": _PAD_LEFT,
        "right": _CHART_WIDTH - _PAD_RIGHT,
        "path": " ".join(path),
        "dots": dots,
        "ticks": ticks,
        "empty": not known,
    }
