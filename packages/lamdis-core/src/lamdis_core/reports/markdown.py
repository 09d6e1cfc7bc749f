"""The Markdown summary: what a person reads in a pull request or a GitHub job summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lamdis_core.domain.results import ItemStatus
from lamdis_core.pricing import format_cost
from lamdis_core.reports.facts import ReportFacts
from lamdis_core.reports.summary import (
    SummaryRow,
    gate_note,
    one_line,
    pass_rate_text,
    score_text,
    unassessed_note,
)
from lamdis_core.sanitize import clean_text

if TYPE_CHECKING:
    from lamdis_core.engine.runner import RunResult

_ICONS = {
    ItemStatus.PASSED: "✅ passed",
    ItemStatus.FAILED: "❌ failed",
    ItemStatus.ERROR: "💥 error",
    ItemStatus.SKIPPED: "⏭️ skipped",
}


def _cell(text: str | None) -> str:
    """A table cell: one line, pipes escaped, so a reply cannot break the table."""
    if not text:
        return ""
    return one_line(text, 160).replace("\\", "\\\\").replace("|", "\\|")


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def _status(row: SummaryRow, repeated: bool) -> str:
    text = "🔁 flaky" if row.flaky else _ICONS[row.status]
    if repeated and row.pass_rate is not None:
        text += f" ({row.passed}/{row.runs - row.skipped})"
    return text


def render_markdown(
    result: RunResult,
    *,
    title: str = "lamdis run",
    warnings: Sequence[str] = (),
    facts: ReportFacts | None = None,
) -> str:
    """The run as Markdown: headline, warnings, a table per test x assistant, totals, usage.

    Args:
        result: what the engine produced.
        title: the heading.
        warnings: configuration warnings to list under the headline.
        facts: the run's :class:`ReportFacts`, when the caller has them already.
    """
    if facts is None:
        facts = ReportFacts.of(result.items, result.gate)
    rows = facts.rows
    repeated = any(row.runs > 1 for row in rows)
    totals = result.totals
    lines = [f"## {title}: {result.status.value}", ""]

    offline = facts.offline_warning(judge_offline=result.judge.offline)
    if offline:
        lines += [
            f"> [!WARNING]\n> {offline}: scores are keyword heuristics, not an LLM's verdict.",
            "",
        ]
    unassessed = unassessed_note(result.judge.unassessed)
    if unassessed:
        lines += [f"> [!NOTE]\n> {unassessed}.", ""]
    gates = gate_note(rows)
    if gates:
        lines += [f"**Pass-rate gate:** {_cell(gates)}", ""]
    if result.stopped:
        lines += ["> [!NOTE]\n> The run was stopped before every test finished.", ""]
    if warnings:
        lines += ["**Warnings**", ""] + [f"- {_cell(w)}" for w in warnings] + [""]

    header = ["Test", "Assistant", "Status"]
    if repeated:
        header += ["Pass rate [95% CI]", "pass^k"]
    header += ["Turns", "p95 latency", "Judge score", "First failing check"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        cells = [_cell(row.test), _cell(row.assistant), _status(row, repeated)]
        if repeated:
            cells += [pass_rate_text(row), "" if row.pass_k is None else f"{row.pass_k:.2f}"]
        cells += [str(row.turns), _ms(row.p95_ms), score_text(row), _cell(row.failure)]
        lines.append("| " + " | ".join(cells) + " |")
    if not rows:
        lines.append("| " + " | ".join(["(no tests ran)"] + [""] * (len(header) - 1)) + " |")
    lines.append("")

    seconds = max(0.0, (result.finished_at - result.started_at).total_seconds())
    lines.append(
        f"**Totals:** {totals.passed} passed, {totals.failed} failed, {totals.errors} errors, "
        f"{totals.skipped} skipped — pass rate {totals.pass_rate:.0%} in {seconds:.2f} s"
    )
    judge = result.judge.provider or "unknown"
    avg = (
        f", average score {result.judge.avg_score:.2f}"
        if result.judge.avg_score is not None
        else ""
    )
    lines.append("")
    seed = f" · **Seed:** {result.seed}" if result.seed is not None else ""
    lines.append(
        f"**Judge:** {judge}{avg} · "
        f"**Usage:** {result.usage.tokens} tokens, {result.usage.calls} calls · "
        f"**Cost:** {format_cost(result.usage)}{seed}"
    )
    if result.stop_reason:
        lines.append("")
        lines.append(f"**Stopped early:** {result.stop_reason}")
    throttling = facts.throttling
    if throttling:
        lines.append("")
        lines.append(f"**Rate limits:** {throttling.describe()}")
    return clean_text("\n".join(lines) + "\n")
