"""The suite page (trends over a suite's last 50 finished runs, flaky and slowest tests) and
the compare page (two runs of a suite side by side), under ``/ui/``.

The suite page asks :meth:`lamdis_core.service.RunService.suite_trends` (one run list and one
``trends`` read: the runs' figures kept at their finish and the per-test figures gathered
where the items are), never whole items. The compare page is
:func:`lamdis_core.diff.diff_runs` over the two stored runs, the same diff
``GET /internal/runs/{id}/diff`` answers.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from lamdis_core.diff import RunDiff, TestChange, diff_runs
from lamdis_core.logs import get_logger
from lamdis_core.ports.store import RunFilter
from lamdis_core.service import TREND_RUNS, UnknownSuiteError
from lamdis_core.service.errors import UnknownBaseRunError, UnknownRunError

from lamdis_http.app import SERVICE_KEY
from lamdis_http.routes.diff import run_side
from lamdis_http.ui import _trends, item_view
from lamdis_http.ui._items import ITEMS_PAGE
from lamdis_http.ui.web import _guarded, _not_found, _page, _row

logger = get_logger()

routes = web.RouteTableDef()

_PICKER_RUNS = 20
DELTA_ROWS = 100
"""Tests in the compare page's scores and latencies table, largest changes first."""
_ID_LIMIT = 256


@routes.get("/ui/suites/{suiteId}")
@_guarded
async def _suite(request: web.Request) -> web.StreamResponse:
    suite_id = request.match_info["suiteId"]
    env = request.query.get("env", "").strip() or None
    if len(suite_id) > _ID_LIMIT:
        return _not_found(request, f"suite {suite_id[:40]}…")
    try:
        found = await request.app[SERVICE_KEY].suite_trends(suite_id, env_id=env, runs=TREND_RUNS)
    except UnknownSuiteError:
        return _not_found(request, f"suite {suite_id}")
    runs = found.runs
    points = _trends.run_points(runs, found.trends)
    flaky, flaky_count = _trends.flaky_tests(found.trends)
    charts = [
        (
            "pass-rate",
            "Pass rate",
            _trends.chart(points, lambda p: p.pass_rate, label=lambda v: f"{v:.0%}", top=1.0),
        ),
        (
            "judge-average",
            "Judge average",
            _trends.chart(points, lambda p: p.judge_avg, label=lambda v: f"{v:.2f}", top=1.0),
        ),
        (
            "p95-latency",
            "p95 turn latency",
            _trends.chart(points, lambda p: p.p95_ms, label=lambda v: f"{v:.0f} ms"),
        ),
    ]
    return _page(
        request,
        "suite.html",
        title=f"Suite {suite_id}",
        suite_id=suite_id,
        env=env or "",
        points=points,
        charts=charts,
        flaky=flaky,
        flaky_count=flaky_count,
        slowest=_trends.slowest_tests(found.trends),
        unfinished=found.unfinished,
        errors=[{"id": run.id, "error": run.error} for run in runs if run.error],
        trend_runs=TREND_RUNS,
        flaky_runs=_trends.FLAKY_RUNS,
    )


@routes.get("/ui/runs/{runId}/compare")
@_guarded
async def _compare(request: web.Request) -> web.StreamResponse:
    runs = request.app[SERVICE_KEY]
    run_id = request.match_info["runId"]
    base_ref = request.query.get("base", "").strip()
    try:
        base, run = await runs.pair(run_id, base_ref or None)
    except UnknownBaseRunError:
        return _not_found(request, f"run {base_ref} to compare with")
    except UnknownRunError:
        return _not_found(request, f"run {run_id}")
    picker = await runs.list(
        RunFilter(org_id=run.org_id, suite_id=run.suite_id, limit=_PICKER_RUNS + 1)
    )
    context: dict[str, Any] = {
        "title": f"Compare run {run_id}",
        "run": _row(run),
        "base": _row(base) if base is not None else None,
        "choices": [_row(r) for r in picker if r.id != run.id][:_PICKER_RUNS],
        "problems": [f"run {r.id}: {r.error}" for r in (base, run) if r is not None and r.error],
        "diff": None,
    }
    if base is not None:
        try:
            context["diff"] = _diff_view(diff_runs(run_side(base), run_side(run)))
        except Exception as exc:  # damaged stored items: show both headers and say so
            logger.warning(
                "ui.compare_unreadable",
                run_id=run_id,
                base_id=base.id,
                error=f"{type(exc).__name__}: {exc}",
            )
            context["problems"].append(
                f"the two runs' items cannot be compared ({type(exc).__name__})"
            )
    return _page(request, "compare.html", **context)


def _diff_view(diff: RunDiff) -> dict[str, Any]:
    rows = [_change_view(change) for change in diff.changes]
    return {
        "notes": diff.notes,
        "added": diff.added,
        "removed": diff.removed,
        "changed": [row for row in rows if row["changed_status"]],
        "rows": _largest_changes(rows),
        "rows_hidden": max(len(rows) - DELTA_ROWS, 0),
        "counts": {
            "shared": len(diff.changes),
            "newly_failing": len(diff.newly_failing),
            "newly_passing": len(diff.newly_passing),
            "score_drops": len(diff.score_drops),
            "latency_regressions": len(diff.latency_regressions),
        },
        "score_margin": diff.score_margin,
        "latency_margin": diff.latency_margin,
    }


def _largest_changes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the deltas table shows: regressions first, then the largest score changes,
    then the largest relative latency changes; at most DELTA_ROWS, so two 500-test runs make
    a page of kilobytes, not hundreds."""

    def weight(row: dict[str, Any]) -> tuple[bool, float, float]:
        score = abs(row["score_delta"]) if row["score_delta"] is not None else 0.0
        base = row["base_p95_ms"]
        latency = (
            abs(row["latency_delta"]) / base if row["latency_delta"] is not None and base else 0.0
        )
        return (not row["regression"], -score, -latency)

    return sorted(rows, key=weight)[:DELTA_ROWS]


def _change_view(change: TestChange) -> dict[str, Any]:
    score_delta = (
        change.new_score - change.base_score
        if change.new_score is not None and change.base_score is not None
        else None
    )
    latency_delta = (
        change.new_p95_ms - change.base_p95_ms
        if change.new_p95_ms is not None and change.base_p95_ms is not None
        else None
    )
    divergence = None
    if change.divergence is not None:
        entry = change.divergence.new
        divergence = {
            "turn": change.divergence.turn,
            "text": f"{entry.role}: {entry.content}" if entry is not None else "ends earlier",
        }
    verdict = "newly failing" if change.newly_failing else ""
    verdict = "newly passing" if change.newly_passing else verdict
    return {
        "test_id": change.test_id,
        "name": change.test,
        "assistant": change.assistant,
        "base_status": change.base_status,
        "new_status": change.new_status,
        "changed_status": change.base_status != change.new_status,
        "verdict": verdict,
        "regression": change.regression,
        "base_score": change.base_score,
        "new_score": change.new_score,
        "score_delta": score_delta,
        "score_drop": change.score_drop is not None,
        "base_p95_ms": change.base_p95_ms,
        "new_p95_ms": change.new_p95_ms,
        "latency_delta": latency_delta,
        "latency_growth": change.latency_growth,
        "failure": change.failure,
        "divergence": divergence,
    }


@routes.get("/ui/runs/{runId}/items/{number}")
@_guarded
async def _item(request: web.Request) -> web.StreamResponse:
    run_id, number = request.match_info["runId"], request.match_info["number"]
    n = int(number) if number.isdigit() and len(number) < 8 else 0
    try:
        # Only the item shown is read; the page does not need the run's row.
        page = await request.app[SERVICE_KEY].items(run_id, offset=max(n - 1, 0), limit=1)
    except UnknownRunError:
        return _not_found(request, f"run {run_id}")
    if not 1 <= n <= page.total:
        return _not_found(request, f"item {number} in run {run_id}")
    damage = item = None
    (stored,) = page.items
    try:
        if stored is None:  # the store could not read it
            raise ValueError(f"stored item {n} of run {run_id} cannot be read")
        item = {**item_view(n - 1, stored), "open": True}
    except Exception as exc:  # a damaged stored item: say so rather than fail the page
        logger.warning("ui.item_unreadable", run_id=run_id, item=n, error=repr(exc))
        damage = f"this stored item cannot be shown ({type(exc).__name__})"
    return _page(
        request,
        "item.html",
        title=f"Item {n} of run {run_id}",
        run_id=run_id,
        item=item,
        number=n,
        total=page.total,
        run_page=(n - 1) // ITEMS_PAGE + 1,
        damage=damage,
    )
