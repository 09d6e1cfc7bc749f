"""What ``lamdis run`` prints: a live progress bar on a terminal, one line per finished test
otherwise (CI logs), then the summary table, totals, usage and warnings.

It is also the run's observer: the engine tells it about progress as it happens.

On a terminal (or with ``FORCE_COLOR``) everything goes through rich, in colour. Elsewhere
(CI logs, pipes) the lines are plain text, unwrapped, and rich is imported only to lay out
the summary table when there is one: rich's import is a tenth of a short run's start-up.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, TextIO

from lamdis_core.domain.results import Item, ItemStatus
from lamdis_core.pricing import format_cost
from lamdis_core.reports.facts import ReportFacts
from lamdis_core.reports.summary import (
    failure_text,
    gate_note,
    one_line,
    pass_rate_text,
    percentile,
    score_text,
    turn_count,
    unassessed_note,
)

if TYPE_CHECKING:
    from lamdis_core.domain.plan import PlanEntry
    from lamdis_core.engine import RunResult
    from rich.console import Console as RichConsole
    from rich.progress import Progress
    from rich.text import Text

_STYLE = {
    ItemStatus.PASSED: ("PASS", "green"),
    ItemStatus.FAILED: ("FAIL", "red"),
    ItemStatus.ERROR: ("ERROR", "magenta"),
    ItemStatus.SKIPPED: ("SKIP", "yellow"),
}
# CI log viewers are wide; rich's 80-column default for non-terminals would wrap the table.
_CI_WIDTH = 160

Part = str | tuple[str, str]
"""A piece of a printed line: plain text, or ``(text, rich style)``."""


class Stream:
    """One output stream (stdout or stderr): styled lines through rich on a terminal, plain
    text elsewhere.

    Args:
        file: where to write.
        styled: use rich (colours, a terminal's width); by default when ``file`` is a
            terminal or ``FORCE_COLOR`` is set, as rich itself decides.
    """

    def __init__(self, file: TextIO, *, styled: bool | None = None) -> None:
        self.file = file
        self.is_terminal = file.isatty()
        self.styled = (
            (self.is_terminal or bool(os.environ.get("FORCE_COLOR"))) if styled is None else styled
        )
        self._rich: RichConsole | None = None

    @property
    def rich(self) -> RichConsole:
        """The rich console on this stream (imported and made on first use)."""
        if self._rich is None:
            from rich.console import Console as RichConsole

            self._rich = RichConsole(file=self.file, width=None if self.is_terminal else _CI_WIDTH)
        return self._rich

    def line(self, *parts: Part, soft_wrap: bool = False) -> None:
        """Print one line made of ``parts``."""
        if self.styled:
            self.rich.print(text_of(parts), highlight=False, soft_wrap=soft_wrap)
        else:
            self.file.write("".join(p if isinstance(p, str) else p[0] for p in parts) + "\n")
            self.file.flush()  # CI shows each line as it comes, as rich's print does


def text_of(parts: tuple[Part, ...] | list[Part]) -> Text:
    """The parts as one rich ``Text``."""
    from rich.text import Text

    text = Text()
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        else:
            text.append(*part)
    return text


class Console:
    """Prints progress and the summary; counts finished items (the engine keeps them).

    Args:
        quiet: no progress, and only tests that did not pass in the table.
        total: how many items the run will produce (tests x assistants x repeats).
        out: the console to print to (stdout by default).
    """

    def __init__(self, *, quiet: bool, total: int, out: Stream | None = None) -> None:
        self.quiet = quiet
        self.total = total
        self.done = 0
        self.out = out or Stream(sys.stdout)
        self.err = Stream(sys.stderr)
        self._progress: Progress | None = None
        self._task_id: int | None = None
        self._running: dict[str, str] = {}

    # --- before the run -----------------------------------------------------------------

    def announce_judge(self, name: str, *, offline: bool) -> None:
        """Say which judge scores rubric checks, and warn when it is not an LLM."""
        if offline:
            self.err.line(
                f"lamdis: judge: {name} (heuristic, no LLM) — ",
                ("warning:", "bold yellow"),
                " rubric checks and iterative tests will be scored without an LLM; set "
                "OPENAI_API_KEY, JUDGE_PROVIDER or JUDGE_BASE_URL for LLM scoring",
            )
        else:
            self.err.line(f"lamdis: judge: {name}")

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
            console=self.out.rich,
            transient=True,
        )
        self._task_id = self._progress.add_task("", total=self.total)
        with self._progress:
            yield
        self._progress = None

    def interrupted(self, *, terminated: bool = False) -> None:
        what, again = ("terminated", "SIGTERM") if terminated else ("interrupted", "Ctrl-C")
        self.err.line(
            f"\nlamdis: {what} — cancelling in-flight turns and reporting what finished "
            f"({again} again to quit at once)"
        )

    # --- RunObserver --------------------------------------------------------------------

    async def item_started(self, entry: PlanEntry, repeat: int) -> None:
        self._running[f"{entry.key}#{repeat}"] = entry.test.label
        self._describe()

    async def turn_finished(self, entry: PlanEntry, repeat: int, turn: int) -> None:
        return None

    async def item_finished(self, item: Item) -> None:
        self.done += 1
        self._running.pop(f"{item.test_id}@{item.assistant}#{item.repeat}", None)
        if self._progress is not None and self._task_id is not None:
            self._progress.advance(self._task_id)  # type: ignore[arg-type]
            self._describe()
        elif not self.quiet:
            self.out.line(*self._line(item), soft_wrap=True)

    def _describe(self) -> None:
        if self._progress is not None and self._task_id is not None:
            names = list(self._running.values())
            text = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
            self._progress.update(self._task_id, description=one_line(text, 60))  # type: ignore[arg-type]

    def _line(self, item: Item) -> list[Part]:
        label, style = _STYLE[item.status]
        width = len(str(self.total))
        line: list[Part] = [f"[{self.done:>{width}}/{self.total}] "]
        line.append((f"{label:<5}", f"bold {style}"))
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
        line.append((f"  ({', '.join(facts)})", "dim"))
        failure = failure_text(item)
        if failure and item.status is not ItemStatus.PASSED:
            line.append((f" — {one_line(failure, 200)}", style))
        return line

    # --- after the run ------------------------------------------------------------------

    def summary(
        self,
        result: RunResult,
        *,
        interrupted: bool,
        written: list[str],
        facts: ReportFacts | None = None,
    ) -> None:
        """The table, totals, usage, warnings and where the reports went (``facts``: the
        run's :class:`ReportFacts`, when the caller has them already)."""
        if facts is None:
            facts = ReportFacts.of(result.items, result.gate)
        rows = facts.rows
        repeated = any(row.runs > 1 for row in rows)
        shown = (
            [r for r in rows if r.status is not ItemStatus.PASSED or r.flaky]
            if self.quiet
            else rows
        )
        if shown:
            from rich.table import Table
            from rich.text import Text

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
            self.out.rich.print(table)
        t = result.totals
        seconds = max(0.0, (result.finished_at - result.started_at).total_seconds())
        status_style = {"passed": "green", "partial": "yellow"}.get(result.status.value, "red")
        self.out.line(
            (f"{result.status.value.upper()}", f"bold {status_style}"),
            f"  {t.passed} passed, {t.failed} failed, {t.errors} errors, {t.skipped} skipped"
            f" — pass rate {t.pass_rate:.0%} in {seconds:.2f} s",
        )
        avg = (
            ""
            if result.judge.avg_score is None
            else f", average score {result.judge.avg_score:.2f}"
        )
        self.out.line(
            f"judge: {result.judge.provider or 'unknown'}{avg} · usage: "
            f"{result.usage.tokens} tokens, {result.usage.calls} calls"
            + (f" ({result.usage.cached_calls} cached)" if result.usage.cached_calls else "")
            + f" · cost: {format_cost(result.usage)}"
        )
        if result.stop_reason:
            self.out.line(("stopped early:", "yellow"), f" {result.stop_reason}")
        throttling = facts.throttling
        if throttling:
            self.out.line(f"rate limits: {throttling.describe()}")
        if interrupted:
            self.out.line(
                ("interrupted:", "yellow"),
                f" {len(result.items)} of {self.total} finished; the reports hold those",
            )
        warning = facts.offline_warning(judge_offline=result.judge.offline)
        if warning:
            self.out.line(("warning:", "bold yellow"), f" {warning}")
        gates = gate_note(rows)
        if gates:
            self.out.line(f"gate: {gates}")
        unassessed = unassessed_note(result.judge.unassessed)
        if unassessed:
            self.out.line(("skipped:", "bold yellow"), f" {unassessed}")
        if written:
            self.out.line(f"reports: {', '.join(written)}", soft_wrap=True)
