"""What changed between two runs: ``lamdis diff`` and ``GET /internal/runs/{id}/diff``.

Per test x assistant the two runs share: a test **newly failing** (it met its gate in the
base and does not now) or **newly passing**; a judge score that **dropped** by more than a
margin (0.1 by default); a p95 latency that **grew** by more than a margin (20% by default);
and, for every test whose outcome or score changed, the **first turn where the conversations
diverged** (first repeat of each). Tests only one run has are listed as added or removed.
Runs of different suites are compared on the tests they share, and the diff says so.

A regression is a newly failing test, a score drop or a latency regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from lamdis_core.domain.results import Item, TranscriptEntry
from lamdis_core.reports.stats import PassRateGate
from lamdis_core.reports.summary import SummaryRow, one_line, summary_rows

DEFAULT_SCORE_MARGIN = 0.1
DEFAULT_LATENCY_MARGIN = 0.2


@attrs.frozen(kw_only=True)
class RunSide:
    """One of the two runs being compared."""

    label: str
    items: list[Item]
    suite_id: str | None = None
    status: str | None = None
    gate: PassRateGate = attrs.Factory(PassRateGate)


@attrs.frozen(kw_only=True)
class Divergence:
    """The first transcript entry where the two conversations differ."""

    index: int
    turn: int
    base: TranscriptEntry | None
    new: TranscriptEntry | None


@attrs.frozen(kw_only=True)
class TestChange:
    """One test x assistant in both runs, with what changed."""

    __test__ = False

    test_id: str
    test: str
    assistant: str
    base_status: str
    new_status: str
    base_ok: bool | None
    new_ok: bool | None
    base_score: float | None
    new_score: float | None
    base_p95_ms: float | None
    new_p95_ms: float | None
    newly_failing: bool
    newly_passing: bool
    score_drop: float | None
    latency_growth: float | None
    failure: str | None
    divergence: Divergence | None

    @property
    def regression(self) -> bool:
        return self.newly_failing or self.score_drop is not None or self.latency_growth is not None


@attrs.frozen(kw_only=True)
class RunDiff:
    """Everything :func:`diff_runs` found."""

    base: str
    new: str
    score_margin: float
    latency_margin: float
    changes: list[TestChange]
    added: list[str]
    removed: list[str]
    notes: list[str]

    @property
    def regressions(self) -> list[TestChange]:
        return [c for c in self.changes if c.regression]

    @property
    def newly_failing(self) -> list[TestChange]:
        return [c for c in self.changes if c.newly_failing]

    @property
    def newly_passing(self) -> list[TestChange]:
        return [c for c in self.changes if c.newly_passing]

    @property
    def score_drops(self) -> list[TestChange]:
        return [c for c in self.changes if c.score_drop is not None]

    @property
    def latency_regressions(self) -> list[TestChange]:
        return [c for c in self.changes if c.latency_growth is not None]


def _ok(row: SummaryRow) -> bool | None:
    """Whether the test met its gate; ``None`` when it was not judged (skipped)."""
    return row.gate_passed


def _first_repeats(items: Sequence[Item]) -> dict[tuple[str, str], Item]:
    """Each (test, assistant)'s item of the lowest repeat (the first listed of equals), found
    in one pass: looking each up in the whole list made a 500-test diff quadratic."""
    firsts: dict[tuple[str, str], Item] = {}
    for item in items:
        key = (item.test_id, item.assistant)
        known = firsts.get(key)
        if known is None or item.repeat < known.repeat:
            firsts[key] = item
    return firsts


def divergence(base: Item | None, new: Item | None) -> Divergence | None:
    """The first entry at which the two transcripts differ (role or text), if any."""
    if base is None or new is None:
        return None
    a, b = base.transcript, new.transcript
    for index in range(max(len(a), len(b))):
        left = a[index] if index < len(a) else None
        right = b[index] if index < len(b) else None
        if (
            left is None
            or right is None
            or (left.role, left.content) != (right.role, right.content)
        ):
            entries = a[: index + 1] if left is not None else b[: index + 1]
            turn = sum(1 for e in entries if e.role == "user") or 1
            return Divergence(index=index, turn=turn, base=left, new=right)
    return None


def diff_runs(
    base: RunSide,
    new: RunSide,
    *,
    score_margin: float = DEFAULT_SCORE_MARGIN,
    latency_margin: float = DEFAULT_LATENCY_MARGIN,
) -> RunDiff:
    """Compare two runs test by test (see the module docstring)."""
    base_rows = {(r.test_id, r.assistant): r for r in summary_rows(base.items, base.gate)}
    new_rows = {(r.test_id, r.assistant): r for r in summary_rows(new.items, new.gate)}
    notes: list[str] = []
    shared = [key for key in new_rows if key in base_rows]
    if base.suite_id != new.suite_id and (base.suite_id or new.suite_id):
        notes.append(
            f"the runs are of different suites ({base.suite_id or 'no suite'} and "
            f"{new.suite_id or 'no suite'}); comparing the {len(shared)} tests they share"
        )
    changes: list[TestChange] = []
    base_firsts, new_firsts = _first_repeats(base.items), _first_repeats(new.items)
    for key in shared:
        old, now = base_rows[key], new_rows[key]
        base_ok, new_ok = _ok(old), _ok(now)
        drop = None
        if old.judge_score is not None and now.judge_score is not None:
            delta = round(old.judge_score - now.judge_score, 4)
            drop = delta if delta > score_margin + 1e-9 else None
        growth = None
        if old.p95_ms and now.p95_ms is not None:
            ratio = now.p95_ms / old.p95_ms - 1
            growth = round(ratio, 4) if ratio > latency_margin + 1e-9 else None
        newly_failing = base_ok is True and new_ok is False
        newly_passing = base_ok is False and new_ok is True
        changed = (
            newly_failing
            or newly_passing
            or drop is not None
            or old.outcome != now.outcome
            or old.judge_score != now.judge_score
        )
        diverged = divergence(base_firsts.get(key), new_firsts.get(key)) if changed else None
        changes.append(
            TestChange(
                test_id=now.test_id,
                test=now.test,
                assistant=now.assistant,
                base_status=old.outcome,
                new_status=now.outcome,
                base_ok=base_ok,
                new_ok=new_ok,
                base_score=old.judge_score,
                new_score=now.judge_score,
                base_p95_ms=old.p95_ms,
                new_p95_ms=now.p95_ms,
                newly_failing=newly_failing,
                newly_passing=newly_passing,
                score_drop=drop,
                latency_growth=growth,
                failure=now.failure if not new_ok else None,
                divergence=diverged,
            )
        )
    return RunDiff(
        base=base.label,
        new=new.label,
        score_margin=score_margin,
        latency_margin=latency_margin,
        changes=changes,
        added=[f"{t}@{a}" for (t, a) in new_rows if (t, a) not in base_rows],
        removed=[f"{t}@{a}" for (t, a) in base_rows if (t, a) not in new_rows],
        notes=notes,
    )


def _entry(entry: TranscriptEntry | None) -> dict[str, Any] | None:
    return None if entry is None else {"role": entry.role, "content": entry.content}


def diff_to_json(diff: RunDiff) -> dict[str, Any]:
    """The diff as JSON (what the hosted route answers)."""

    def change(c: TestChange) -> dict[str, Any]:
        return {
            "testId": c.test_id,
            "testName": c.test,
            "assistant": c.assistant,
            "base": {"status": c.base_status, "judgeScore": c.base_score, "p95Ms": c.base_p95_ms},
            "new": {"status": c.new_status, "judgeScore": c.new_score, "p95Ms": c.new_p95_ms},
            "newlyFailing": c.newly_failing,
            "newlyPassing": c.newly_passing,
            "scoreDrop": c.score_drop,
            "latencyGrowth": c.latency_growth,
            "regression": c.regression,
            "failure": c.failure,
            "firstDivergence": None
            if c.divergence is None
            else {
                "index": c.divergence.index,
                "turn": c.divergence.turn,
                "base": _entry(c.divergence.base),
                "new": _entry(c.divergence.new),
            },
        }

    return {
        "base": diff.base,
        "new": diff.new,
        "margins": {"score": diff.score_margin, "latency": diff.latency_margin},
        "regression": bool(diff.regressions),
        "counts": {
            "shared": len(diff.changes),
            "newlyFailing": len(diff.newly_failing),
            "newlyPassing": len(diff.newly_passing),
            "scoreDrops": len(diff.score_drops),
            "latencyRegressions": len(diff.latency_regressions),
            "added": len(diff.added),
            "removed": len(diff.removed),
        },
        "notes": list(diff.notes),
        "added": list(diff.added),
        "removed": list(diff.removed),
        "tests": [change(c) for c in diff.changes if _interesting(c)],
    }


def _interesting(c: TestChange) -> bool:
    return (
        c.regression
        or c.newly_passing
        or c.base_status != c.new_status
        or c.base_score != c.new_score
    )


def _md(text: str | None, limit: int = 120) -> str:
    if not text:
        return ""
    return one_line(text, limit).replace("\\", "\\\\").replace("|", "\\|")


def render_diff_markdown(diff: RunDiff) -> str:
    """The diff for a pull request comment or a job summary."""
    verdict = "regressions" if diff.regressions else "no regressions"
    lines = [f"## lamdis diff: {verdict}", "", f"`{diff.base}` → `{diff.new}`", ""]
    for note in diff.notes:
        lines += [f"> [!NOTE]\n> {note}.", ""]
    lines.append(
        f"**{len(diff.newly_failing)}** newly failing, **{len(diff.newly_passing)}** newly "
        f"passing, **{len(diff.score_drops)}** judge score drops (> {diff.score_margin:g}), "
        f"**{len(diff.latency_regressions)}** p95 latency regressions "
        f"(> {diff.latency_margin:.0%}), {len(diff.added)} added, {len(diff.removed)} removed "
        f"— {len(diff.changes)} tests compared."
    )
    lines.append("")
    shown = [c for c in diff.changes if _interesting(c)]
    if shown:
        lines.append("| Test | Assistant | Status | Judge score | p95 latency | First divergence |")
        lines.append("|---|---|---|---|---|---|")
        for c in shown:
            status = f"{c.base_status} → {c.new_status}"
            if c.newly_failing:
                status = f"❌ {status}"
            elif c.newly_passing:
                status = f"✅ {status}"
            score = _pair(c.base_score, c.new_score, "{:.2f}")
            if c.score_drop is not None:
                score += f" (-{c.score_drop:.2f})"
            latency = _pair(c.base_p95_ms, c.new_p95_ms, "{:.0f} ms")
            if c.latency_growth is not None:
                latency += f" (+{c.latency_growth:.0%})"
            where = ""
            if c.divergence is not None:
                new = c.divergence.new
                where = f"turn {c.divergence.turn}: " + (
                    f"{new.role}: {new.content}" if new is not None else "(ends earlier)"
                )
            lines.append(
                f"| {_md(c.test)} | {_md(c.assistant)} | {status} | {score} | {latency} | "
                f"{_md(where)} |"
            )
        lines.append("")
    if diff.added:
        lines += ["**Added:** " + ", ".join(f"`{t}`" for t in diff.added), ""]
    if diff.removed:
        lines += ["**Removed:** " + ", ".join(f"`{t}`" for t in diff.removed), ""]
    return "\n".join(lines)


def _pair(base: float | None, new: float | None, fmt: str) -> str:
    def show(value: float | None) -> str:
        return "—" if value is None else fmt.format(value)

    return f"{show(base)} → {show(new)}"


def render_diff_text(diff: RunDiff) -> str:
    """The diff for a terminal: one line per change."""
    lines = [f"lamdis diff: {diff.base} -> {diff.new}"]
    lines += [f"note: {note}" for note in diff.notes]
    for c in diff.changes:
        if not _interesting(c):
            continue
        marks = []
        if c.newly_failing:
            marks.append("NEWLY FAILING")
        if c.newly_passing:
            marks.append("newly passing")
        if c.score_drop is not None:
            marks.append(f"score -{c.score_drop:.2f} ({c.base_score:.2f} -> {c.new_score:.2f})")
        if c.latency_growth is not None:
            marks.append(
                f"p95 +{c.latency_growth:.0%} ({c.base_p95_ms:.0f} -> {c.new_p95_ms:.0f} ms)"
            )
        if not marks:
            marks.append(f"{c.base_status} -> {c.new_status}")
        line = f"  {c.test} @ {c.assistant}: {'; '.join(marks)}"
        if c.divergence is not None:
            new = c.divergence.new
            text = "ends earlier" if new is None else f"{new.role}: {one_line(new.content, 80)}"
            line += f" — diverged at turn {c.divergence.turn} ({text})"
        lines.append(line)
    for test in diff.added:
        lines.append(f"  added: {test}")
    for test in diff.removed:
        lines.append(f"  removed: {test}")
    lines.append(
        f"{len(diff.newly_failing)} newly failing, {len(diff.newly_passing)} newly passing, "
        f"{len(diff.score_drops)} score drops, {len(diff.latency_regressions)} latency "
        f"regressions, {len(diff.changes)} tests compared"
        + ("" if diff.regressions else " — no regressions")
    )
    return "\n".join(lines) + "\n"


__all__ = [
    "DEFAULT_LATENCY_MARGIN",
    "DEFAULT_SCORE_MARGIN",
    "Divergence",
    "RunDiff",
    "RunSide",
    "TestChange",
    "diff_runs",
    "diff_to_json",
    "divergence",
    "render_diff_markdown",
    "render_diff_text",
]
