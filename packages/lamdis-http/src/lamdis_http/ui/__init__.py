"""The run page in HTML: the self-contained report of ``lamdis run --html`` and
``lamdis report``, and the same partials for the hosted UI.

Rendered with Jinja2 with autoescaping on: every string an assistant, a request step or a
judge produced is text in the page, never markup. The view is built from a run's JSON summary
(the shape ``lamdis run --json`` writes), so a live run and a saved one render identically.

It lives in lamdis-http rather than lamdis-core's reports because it needs Jinja2, and the
core stays free of web libraries; the core's plain-text reports (JSON, JUnit, Markdown) stay
there.
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any, TextIO
from urllib.parse import urlsplit

import jinja2
from lamdis_core.domain.results import Check, Item, ItemStatus
from lamdis_core.reports.summary import percentile

__all__ = [
    "commit_link",
    "environment",
    "item_view",
    "render_report",
    "run_view",
    "stylesheet",
    "write_report",
]

_OUTPUT_LIMIT = 4000
"""Characters of a request step's output shown; the JSON summary keeps all of it."""


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment: package templates, autoescaping on for every template.

    One per process, so each template is compiled once, not on every page.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lamdis_http.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ms"] = _ms
    env.filters["pct"] = _pct
    env.filters["score"] = _score
    return env


def stylesheet() -> str:
    """The UI's CSS, as shipped in the wheel."""
    return resources.files("lamdis_http.ui").joinpath("static/lamdis.css").read_text("utf-8")


def render_report(
    summary: Mapping[str, Any], items: Sequence[Item], *, title: str = "lamdis run"
) -> str:
    """One self-contained HTML page for a run: inline CSS, no script, nothing fetched."""
    page = io.StringIO()
    write_report(page, summary, items, title=title)
    return page.getvalue()


def write_report(
    out: TextIO, summary: Mapping[str, Any], items: Iterable[Item], *, title: str = "lamdis run"
) -> None:
    """:func:`render_report`'s page written to ``out`` as the template produces it.

    ``items`` is gone through twice (the table, then a section per item) and each item's
    view is made as the page reaches it, so neither the page nor the views of every item
    are held at once.
    """
    template = environment().get_template("report.html")
    run = run_view(summary, ())
    run["items"] = _ItemViews(items)
    for piece in template.generate(run=run, title=title, css=stylesheet()):
        out.write(piece)


class _ItemViews:
    def __init__(self, items: Iterable[Item]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (item_view(n, item) for n, item in enumerate(self._items))


def run_view(
    summary: Mapping[str, Any], items: Sequence[Item], *, first_index: int = 0
) -> dict[str, Any]:
    """What the run page shows, from a JSON summary's top-level keys and its items.

    ``items`` may be a slice of the run's items starting at ``first_index`` (a page of them):
    anchors and numbers follow the item's place in the whole run.
    """
    totals = _mapping(summary.get("totals"))
    judge = _mapping(summary.get("judge"))
    usage = _mapping(summary.get("usage"))
    git = _mapping(summary.get("gitContext"))
    progress = _mapping(summary.get("progress"))
    webhook = _mapping(summary.get("webhook"))
    webhook_wait = _mapping(summary.get("webhookWait"))
    return {
        "status": str(summary.get("status") or "unknown"),
        "stopped": bool(summary.get("stopped")),
        "file": summary.get("file") or "",
        "suite_id": summary.get("suiteId"),
        "totals": {
            key: _int(totals.get(key)) for key in ("passed", "failed", "errors", "skipped", "total")
        },
        "pass_rate": _number(summary.get("passRate")),
        "judge_avg": _number(judge.get("avgScore")),
        "judge_provider": judge.get("provider"),
        "judge_offline": bool(judge.get("offline")),
        "duration_ms": _number(summary.get("durationMs")),
        "started_at": summary.get("startedAt"),
        "finished_at": summary.get("finishedAt"),
        "usage_tokens": _int(usage.get("tokens")),
        "usage_calls": _int(usage.get("calls")),
        "usage_cost": _number(usage.get("costUsd")),
        # ``null`` in a summary: some call's price was unknown, so the sum is too.
        "usage_cost_unknown": "costUsd" in usage and usage["costUsd"] is None,
        "seed": summary.get("seed"),
        "git": {str(k): _text(v) for k, v in git.items()},
        "commit_url": commit_link(git),
        "progress": {
            "done": _int(progress.get("done")),
            "total": _int(progress.get("total")),
            "current": _text(progress["current"]) if progress.get("current") else None,
        }
        if progress
        else None,
        "stop_requested": bool(summary.get("stopRequested")),
        "webhook": {
            "ok": bool(webhook.get("ok")),
            "status": _int(webhook.get("status")) or None,
            "attempts": _int(webhook.get("attempts")),
            "error": _text(webhook["error"]) if webhook.get("error") else None,
            "host": _host(webhook.get("url")),
            "at": _text(webhook["deliveredAt"]) if webhook.get("deliveredAt") else None,
        }
        if webhook
        else None,
        # A live page's finished run whose webhook outcome is not recorded (yet).
        "webhook_wait": {
            "state": _text(webhook_wait.get("state")),
            "host": _host(webhook_wait.get("url")),
        }
        if webhook_wait and not webhook
        else None,
        "attempt": _int(summary.get("attempts")),
        "warnings": [_text(w) for w in summary.get("warnings") or [] if w],
        "items": [item_view(first_index + n, item) for n, item in enumerate(items)],
        "items_pager": None,
    }


_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
_OWNER_NAME = re.compile(r"[\w.-]+/[\w.-]+")


def commit_link(git: Mapping[str, Any]) -> str | None:
    """The web page of the run's commit, when the repository's address is known.

    From ``repoUrl``/``repositoryUrl``, a CI ``runUrl`` (GitHub's ``…/actions/runs/N``,
    GitLab's ``…/-/pipelines/N``), or ``repo`` as a full address or, with ``provider:
    github``, as ``owner/name`` on github.com. Only https/http addresses and hexadecimal
    SHAs make a link: the page never links anything a starter could make a script of.
    """
    sha = git.get("sha") if git.get("sha") is not None else git.get("commit")
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        return None
    base: str | None = None
    for key in ("repoUrl", "repositoryUrl", "repo"):
        value = git.get(key)
        if isinstance(value, str) and _web_address(value):
            base = value.removesuffix(".git").rstrip("/")
            break
    run_url = git.get("runUrl")
    if base is None and isinstance(run_url, str) and _web_address(run_url):
        for marker in ("/-/pipelines/", "/actions/runs/"):
            if marker in run_url:
                base = run_url.split(marker, 1)[0]
                break
    repo = git.get("repo")
    github = git.get("provider") == "github"
    if base is None and github and isinstance(repo, str) and _OWNER_NAME.fullmatch(repo):
        base = f"https://github.com/{repo}"
    if base is None:
        return None
    gitlab = git.get("provider") == "gitlab" or "gitlab" in urlsplit(base).netloc
    return f"{base}/-/commit/{sha}" if gitlab else f"{base}/commit/{sha}"


def _web_address(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.netloc)


def _host(url: Any) -> str | None:
    """Where a webhook went, without its path or query (they may carry a secret)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    return parts.hostname or None


def item_view(index: int, item: Item) -> dict[str, Any]:
    """One item as the run page shows it; ``index`` is its place in the run (its anchor)."""
    transcript = item.transcript
    beside: dict[int, list[dict[str, Any]]] = {}
    unplaced: list[dict[str, Any]] = []
    for check in item.assertions:
        view = _check_view(check)
        position = _judged_entry(check, len(transcript))
        if position is None:
            unplaced.append(view)
        else:
            beside.setdefault(position, []).append(view)
    turns = [
        {
            "role": entry.role,
            "content": entry.content,
            "latency_ms": entry.latency_ms,
            "ttft_ms": entry.ttft_ms,
            "tool_calls": [_pretty(call) for call in entry.tool_calls or []],
            "checks": beside.get(n, []),
        }
        for n, entry in enumerate(transcript)
    ]
    requests = [
        {
            "name": str(name),
            "status": _mapping(record).get("status"),
            "latency_ms": _number(_mapping(record).get("latencyMs")),
            "output": _pretty(_mapping(record).get("output"), limit=_OUTPUT_LIMIT),
        }
        for name, record in item.artifacts.requests.items()
    ]
    failed = [c for c in item.assertions if not c.passed and not c.skipped]
    return {
        "anchor": f"item-{index + 1}",
        "number": index + 1,
        "link": f"#item-{index + 1}",
        "inline": True,
        "test_id": item.test_id,
        "name": item.test_name or item.test_id,
        "assistant": item.assistant,
        "file": item.file,
        "repeat": item.repeat,
        "status": item.status.value,
        "open": item.status in (ItemStatus.FAILED, ItemStatus.ERROR),
        "turns": turns,
        "replies": sum(1 for e in transcript if e.role == "assistant"),
        "p95_ms": percentile(item.timings.per_turn_ms, 0.95),
        "judge_score": item.judge_score,
        "error": item.error,
        "checks": unplaced,
        "check_count": len(item.assertions),
        "failed_checks": len(failed),
        "requests": requests,
        "log": list(item.artifacts.log),
    }


def _judged_entry(check: Check, entries: int) -> int | None:
    """The transcript entry that was the conversation's last when the check ran (the engine
    records ``transcriptEntries``); ``None`` for summaries written before it did, whose checks
    are shown together after the transcript."""
    count = check.details.get("transcriptEntries")
    if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= entries:
        return count - 1
    return None


def _check_view(check: Check) -> dict[str, Any]:
    details = check.details
    reasoning = details.get("reasoning")
    judge_reasoning = details.get("judgeReasoning")
    label = check.name or check.type
    if check.subtype and check.subtype != check.type and not check.name:
        label = f"{check.type} ({check.subtype})"
    outcome = "skipped" if check.skipped else ("passed" if check.passed else "failed")
    if not check.passed and not check.skipped and check.severity != "error":
        outcome = "warned"
    return {
        "label": label,
        "type": check.type,
        "outcome": outcome,
        "reason": _text(reasoning) if reasoning is not None else None,
        "judge_reasoning": _text(judge_reasoning)
        if judge_reasoning is not None and judge_reasoning != reasoning
        else None,
        "score": _number(details.get("score")),
        "threshold": _number(details.get("threshold")),
        "error": check.error,
        "rubric": _text(details["rubric"]) if details.get("rubric") is not None else None,
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _pretty(value: Any, *, limit: int | None = None) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    )
    if limit is not None and len(text) > limit:
        return text[:limit] + f"\n… ({len(text) - limit} more characters in the JSON summary)"
    return text


def _ms(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:.0f} ms"


def _pct(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:.0%}"


def _score(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:.2f}"
