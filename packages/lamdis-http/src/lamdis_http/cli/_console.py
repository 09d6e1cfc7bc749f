"""What ``lamdis run`` prints: a live progress bar on a terminal, one line per finished test
otherwise (CI logs), then the summary table, totals, usage and warnings.

It is also the run's observer: the engine tells it about progress as it happens.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lamdis_core.domain.results import Item, ItemStatus, Throttling
from lamdis_core.pricing import format_cost
from lamdis_core.reports.summary import (
    failure_text,
    gate_note,
    offline_warning,
    one_line,
    pass_rate_text,
    percentile,
    score_text,
    summary_rows,
    turn_count,
    unassessed_note,
)
from rich.console import Console as RichConsole
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from lamdis_core.domain.plan import PlanEntry
    from lamdis_core.engine import RunResult
    from rich.progress import Progress

_STYLE = {
    ItemStatus.PASSED: ("PASS", "green"),
    ItemStatus.FAILED: ("FAIL", "red"),
    ItemStatus.ERROR: ("ERROR", "magenta"),
    ItemStatus.SKIPPED: ("SKIP", "yellow"),
}
# CI log viewers are wide; rich's 80-column default for non-terminals would wrap the table.
_CI_WIDTH = 160


class Console:
    """Prints progress and the summary; collects finished items (for an interrupted run).

    Args:
        quiet: no progress, and only tests that did not pass in the table.
        total: how many items the run will produce (tests x assistants x repeats).
        out: the console to print to (stdout by default).
    """

    def __init__(self, *, quiet: bool, total: int, out: RichConsole | None = None) -> None:
        self.quiet = quiet
        self.total = total
        self.finished: list[Item] = []
        self.out = out or RichConsole(
            file=sys.stdout, width=None if sys.stdout.isatty() else _CI_WIDTH
        )
        self.err = RichConsole(file=sys.stderr, width=None if sys.stderr.isatty() else _CI_WIDTH)
        self._progress: Progress | None = None
        self._task_id: int | None = None
        self._running: dict[str, str] = {}

    # --- before the run -----------------------------------------------------------------

    def announce_judge(self, name: str, *, offline: bool) -> None:
        """Say which judge scores rubric checks, and warn when it is not an LLM."""
        if offline:
            self.err.print(
                f"lamdis: judge: {name} (heuristic, no LLM) — [bold yellow]warning:[/] rubric "
                "checks and iterative tests will be scored without an LLM; set OPENAI_API_KEY, "
                "JUDGE_PROVIDER or JUDGE_BASE_URL for LLM scoring",
                highlight=False,
            )
        else:
            self.err.print(f"lamdis: judge: {name}", highlight=False)

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        """Show a progress bar while the body runs, when stdout is a terminal."""
        if self.quiet or not self.out.is_terminal:
            yield
            return
        # Imported here: CI runs (no terminal) never pay for the live display.
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]lamdis[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=self.out,
            transient=True,
        )
        self._task_id = self._progress.add_task("", total=self.total)
        with self._progress:
            yield
        self._progress = None

    def interrupted(self, *, terminated: bool = False) -> None:
        what, again = ("terminated", "SIGTERM") if terminated else ("interrupted", "Ctrl-C")
        self.err.print(
            f"\nlamdis: {what} — cancelling in-flight turns and reporting what finished "
            f"({again} again to quit at once)",
            highlight=False,
        )

    # --- RunObserver --------------------------------------------------------------------

    async def item_started(self, entry: PlanEntry, repeat: int) -> None:
        self._running[f"{entry.key}#{repeat}"] = entry.test.label
        self._describe()

    async def turn_finished(self, entry: PlanEntry, repeat: int, turn: int) -> None:
        return None

    async def item_finished(self, item: Item) -> None:
        self.finished.append(item)
        self._running.pop(f"{item.test_id}@{item.assistant}#{item.repeat}", None)
        if self._progress is not None and self._task_id is not None:
            self._progress.advance(self._task_id)  # type: ignore[arg-type]
            self._describe()
        elif not self.quiet:
            self.out.print(self._line(item), highlight=False, soft_wrap=True)

    def _describe(self) -> None:
        if self._progress is not None and self._task_id is not None:
            names = list(self._running.values())
            text = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
            self._progress.update(self._task_id, description=one_line(text, 60))  # type: ignore[arg-type]

    def _line(self, item: Item) -> Text:
        label, style = _STYLE[item.status]
        width = len(str(self.total))
        line = Text(f"[{len(self.finished):>{width}}/{self.total}] ")
        line.append(f"{label:<5}", style=f"bold {style}")
        name = item.test_name or item.test_id
        if item.repeat:
            name += f" (run {item.repeat + 1})"
        line.append(f" {name} @ {item.assistant}")
        turns = turn_count(item)
        facts = [f"{turns} turn{'' if turns == 1 else 's'}"]
        p95 = percentile(item.timings.per_turn_ms, 0.95)
        if p95 is not None:
            facts.append(f"p95 {p95:.0f} ms")
        if item.judge_score is not None:
            facts.append(f"score {item.judge_score:.2f}")
        line.append(f"  ({', '.join(facts)})", style="dim")
        failure = failure_text(item)
        if failure and item.status is not ItemStatus.PASSED:
            line.append(f" — {one_line(failure, 200)}", style=style)
        return line

    # --- after the run ------------------------------------------------------------------

    def summary(self, result: RunResult, *, interrupted: bool, written: list[str]) -> None:
        """The table, totals, usage, warnings and where the reports went."""
        rows = summary_rows(result.items, result.gate)
        repeated = any(row.runs > 1 for row in rows)
        shown = (
            [r for r in rows if r.status is not ItemStatus.PASSED or r.flaky]
            if self.quiet
            else rows
        )
        if shown:
            table = Table(title="lamdis summary", title_justify="left", expand=False)
            table.add_column("Test", overflow="fold")
            table.add_column("Assistant", overflow="fold")
            table.add_column("Status", no_wrap=True)
            if repeated:
                table.add_column("Pass rate [95% CI]", justify="right")
                table.add_column("pass^k", justify="right")
            table.add_column("Turns", justify="right")
            table.add_column("p95", justify="right", no_wrap=True)
            table.add_column("Score", justify="right")
            table.add_column("First failing check", overflow="fold", ratio=1, min_width=24)
            for row in shown:
                label, style = ("FLAKY", "yellow") if row.flaky else _STYLE[row.status]
                cells: list[str | Text] = [
                    row.test,
                    row.assistant,
                    Text(label, style=f"bold {style}"),
                ]
                if repeated:
                    cells.append(pass_rate_text(row))
                    cells.append("" if row.pass_k is None else f"{row.pass_k:.2f}")
                cells += [
                    str(row.turns),
                    "" if row.p95_ms is None else f"{row.p95_ms:.0f} ms",
                    score_text(row),
                    one_line(row.failure or "", 300),
                ]
                table.add_row(*cells)
            self.out.print(table)
        t = result.totals
        seconds = max(0.0, (result.finished_at - result.started_at).total_seconds())
        status_style = {"passed": "green", "partial": "yellow"}.get(result.status.value, "red")
        headline = Text()
        headline.append(f"{result.status.value.upper()}", style=f"bold {status_style}")
        headline.append(
            f"  {t.passed} passed, {t.failed} failed, {t.errors} errors, {t.skipped} skipped"
            f" — pass rate {t.pass_rate:.0%} in {seconds:.2f} s"
        )
        self.out.print(headline, highlight=False)
        avg = (
            ""
            if result.judge.avg_score is None
            else f", average score {result.judge.avg_score:.2f}"
        )
        self.out.print(
            f"judge: {result.judge.provider or 'unknown'}{avg} · usage: "
            f"{result.usage.tokens} tokens, {result.usage.calls} calls"
            + (f" ({result.usage.cached_calls} cached)" if result.usage.cached_calls else "")
            + f" · cost: {format_cost(result.usage)}",
            highlight=False,
        )
        if result.stop_reason:
            self.out.print(f"[yellow]stopped early:[/] {result.stop_reason}", highlight=False)
        throttling = Throttling.of(result.items)
        if throttling:
            self.out.print(f"rate limits: {throttling.describe()}", highlight=False)
        if interrupted:
            self.out.print(
                f"[yellow]interrupted:[/] {len(result.items)} of {self.total} finished; "
                "the reports hold those",
                highlight=False,
            )
        warning = offline_warning(result.items, judge_offline=result.judge.offline)
        if warning:
            self.out.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
        gates = gate_note(rows)
        if gates:
            self.out.print(f"gate: {gates}", highlight=False)
        unassessed = unassessed_note(result.judge.unassessed)
        if unassessed:
            self.out.print(f"[bold yellow]skipped:[/] {unassessed}", highlight=False)
        if written:
            self.out.print(f"reports: {', '.join(written)}", highlight=False, soft_wrap=True)
