"""What the suite page shows, computed from runs and the store's :class:`Trends` of them: a point per run
(pass rate, judge average, p95 latency), the flaky tests, the slowest tests, and the charts'
geometry as inline SVG coordinates (no script, so the page keeps its strict CSP)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import attrs
from lamdis_core.domain.results import ItemStatus, Run
from lamdis_core.ports.store import Trends

FLAKY_RUNS = 20
FLAKY_CHANGES = 2
FLAKY_SHOWN = 25
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


@functools.lru_cache(maxsize=1024)
def run_href(run_id: str) -> str:
    """A run page's path, quoted as the templates' ``urlencode`` quotes it: computed once per
    run here, where the page links each run from up to 20 badges and 3 charts."""
    return "/ui/runs/" + quote(run_id, safe="/")


def run_points(runs: Sequence[Run], trends: Trends) -> list[RunPoint]:
    """A point per run, oldest first; the p95 is over every turn of every item of the run.

    ``runs`` is newest first, as ``list_runs`` answers, and ``trends`` is over their ids in
    that order.
    """
    points = []
    for run, trend in zip(reversed(runs), reversed(trends.runs), strict=True):
        assert run.id == trend.run_id
        points.append(
            RunPoint(
                run_id=trend.run_id,
                created_at=run.created_at.isoformat(timespec="seconds") if run.created_at else "",
                status=str(run.status),
                pass_rate=run.totals.pass_rate if run.totals.total else None,
                judge_avg=run.judge.avg_score,
                p95_ms=_rounded(trend.p95_ms),
                items=trend.items,
            )
        )
    return points


def flaky_tests(trends: Trends, *, limit: int = FLAKY_SHOWN) -> tuple[list[dict[str, Any]], int]:
    """Tests whose status changed at least twice over the newest 20 runs (skips ignored), most
    changes first, at most ``limit`` of them, and how many there are in all.

    A test's status in a run is the worst of its repeats there.
    """
    window = [run.run_id for run in trends.runs[:FLAKY_RUNS]][::-1]
    flaky: list[dict[str, Any]] = []
    for test in trends.tests:
        seen = [
            (run_id, status)
            for run_id, status in zip(window, test.outcomes[:FLAKY_RUNS][::-1], strict=True)
            if status is not None
        ]
        judged = [status for _, status in seen if status is not ItemStatus.SKIPPED]
        changes = sum(1 for a, b in itertools.pairwise(judged) if a != b)
        if changes >= FLAKY_CHANGES:
            flaky.append(
                {
                    "test_id": test.test_id,
                    "assistant": test.assistant,
                    "name": test.test_name or test.test_id,
                    "changes": changes,
                    "history": [{"href": run_href(r), "status": s.value} for r, s in seen],
                }
            )
    flaky.sort(key=lambda f: (-f["changes"], f["name"], f["assistant"]))
    return flaky[:limit], len(flaky)


def slowest_tests(trends: Trends) -> list[dict[str, Any]]:
    """The 10 tests with the highest p95 turn latency over the runs, with average and max."""
    timed = [test for test in trends.tests if test.p95_ms is not None]
    timed.sort(key=lambda t: (-(t.p95_ms or 0.0), t.test_name, t.assistant))
    return [
        {
            "test_id": test.test_id,
            "assistant": test.assistant,
            "name": test.test_name or test.test_id,
            "turns": test.turns,
            "p95_ms": _rounded(test.p95_ms),
            "avg_ms": test.avg_ms,
            "max_ms": test.max_ms,
        }
        for test in timed[:SLOWEST]
    ]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


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
                "href": run_href(point.run_id),
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
