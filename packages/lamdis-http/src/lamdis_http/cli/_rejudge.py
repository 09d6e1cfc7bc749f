"""``lamdis rejudge SUMMARY.json``: ask a judge again about a recorded run, without calling the
assistant, and write a new report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lamdis_http.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    int_in_range,
)

DEFAULT_RESULTS_DIR = "lamdis-results/rejudge"
JUDGES = ("offline", "openai", "bedrock", "external")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rejudge",
        help="re-judge a recorded run (new rubric, threshold or judge) without the assistant",
        description="Re-evaluate every rubric check of a run's JSON summary against the "
        "recorded conversations — with another judge, or new rubrics and thresholds — without "
        "calling the assistant, and write a new report. Deterministic checks keep their "
        "recorded results. Exit 0 when every test passes its gate, 1 when one does not, 2 for "
        "bad input (not a lamdis summary, a newer one, a bad override file).",
    )
    parser.add_argument("summary", metavar="SUMMARY.json", help="the JSON summary of a run")
    parser.add_argument(
        "--judge",
        choices=JUDGES,
        help="the judge to ask (default: as `lamdis run` picks it, from JUDGE_PROVIDER, "
        "JUDGE_BASE_URL or OPENAI_API_KEY)",
    )
    parser.add_argument(
        "--rubric-override",
        metavar="FILE",
        help='JSON or YAML: {"<test id or *>": {"<check name, judgeConfig or steps[i]>": '
        '"new rubric" or {"rubric": ..., "threshold": ...}}}',
    )
    parser.add_argument(
        "--judge-samples",
        metavar="K",
        help="ask the judge K times per check (default: as many as the run did)",
    )
    parser.add_argument("--require-llm-judge", action="store_true", help="as for lamdis run")
    parser.add_argument("--json", metavar="FILE", help="write the new JSON summary to FILE")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML to FILE")
    parser.add_argument("--markdown", metavar="FILE", help="write the Markdown summary to FILE")
    parser.add_argument(
        "--results-dir",
        metavar="DIR",
        default=DEFAULT_RESULTS_DIR,
        help=f"where reports not given explicitly go (default {DEFAULT_RESULTS_DIR}/)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not reuse cached LLM judge answers"
    )
    parser.add_argument("--quiet", action="store_true", help="list only tests that did not pass")
    parser.set_defaults(handler=handle)


def _read(path: str, what: str) -> Any:
    import json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if path.endswith((".yaml", ".yml")):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{path} is not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None


def handle(args: argparse.Namespace) -> int:
    import asyncio

    try:
        return asyncio.run(rejudge_command(args, dict(os.environ)))
    except UsageError as exc:
        print(f"lamdis rejudge: {exc}", file=sys.stderr)
        return EXIT_USAGE


async def rejudge_command(args: argparse.Namespace, env: dict[str, str]) -> int:
    """Read, re-judge, report; the exit code. Raises :class:`UsageError` for bad input."""
    from lamdis_core.domain.errors import AdapterNotInstalledError, ConfigError
    from lamdis_core.domain.results import RunStatus
    from lamdis_core.rejudge import (
        SummaryFormatError,
        parse_overrides,
        read_summary,
        rejudge,
        unknown_override_targets,
    )

    from lamdis_http.cli._console import Console
    from lamdis_http.cli._run import RunOptions, _close, _make_judge, write_reports

    samples = (
        None
        if args.judge_samples is None
        else int_in_range(args.judge_samples, what="--judge-samples", low=1, high=25)
    )
    try:
        items, summary = read_summary(_read(args.summary, "the summary"), source=args.summary)
        overrides = (
            parse_overrides(
                _read(args.rubric_override, "the rubric override file"),
                source=args.rubric_override,
            )
            if args.rubric_override
            else {}
        )
    except SummaryFormatError as exc:
        raise UsageError(str(exc)) from None
    unknown = unknown_override_targets(items, overrides)
    if unknown:
        raise UsageError(
            f"{args.rubric_override} names checks the summary does not have: " + "; ".join(unknown)
        )
    if args.judge:
        env["JUDGE_PROVIDER"] = args.judge
    options = RunOptions(
        paths=[args.summary],
        json_path=args.json,
        junit_path=args.junit,
        markdown_path=args.markdown,
        results_dir=args.results_dir,
        quiet=args.quiet,
        no_cache=args.no_cache,
        title="lamdis rejudge",
    )
    try:
        judge = _make_judge(options, env)
    except (ConfigError, AdapterNotInstalledError) as exc:
        raise UsageError(str(exc)) from None
    gate = _gate(summary.get("gate"))
    console = Console(quiet=args.quiet, total=len(items))
    console.announce_judge(judge.name, offline=judge.offline)
    try:
        result = await rejudge(
            items,
            judge,
            overrides=overrides,
            samples=samples,
            require_llm_judge=args.require_llm_judge,
            gate=gate,
        )
    finally:
        await _close(judge, {})
    changed = sum(
        1 for old, new in zip(items, result.items, strict=True) if old.status is not new.status
    )
    try:
        written = write_reports(
            result,
            options,
            warnings=[],
            suite_id=summary.get("suiteId"),
            env=env,
            config_hashes=summary.get("configHashes") or {},
            extra={
                "rejudgedFrom": {
                    "file": args.summary,
                    "status": summary.get("status"),
                    "judge": (summary.get("judge") or {}).get("provider"),
                    "finishedAt": summary.get("finishedAt"),
                },
                **({"rubricOverrides": _plain(overrides)} if overrides else {}),
            },
        )
    except OSError as exc:
        print(f"lamdis rejudge: cannot write a report: {exc}", file=sys.stderr)
        return EXIT_FAILED
    console.summary(result, interrupted=False, written=written)
    print(
        f"rejudged {len(items)} items with {judge.name}: {changed} changed status "
        f"(was {summary.get('status')}, now {result.status.value}); the assistant was not called",
        flush=True,
    )
    return EXIT_FAILED if result.status is RunStatus.FAILED else EXIT_OK


def _gate(raw: Any) -> Any:
    """The pass-rate gate a summary recorded (the default one for older summaries)."""
    from lamdis_core.reports.stats import PassRateGate

    if not isinstance(raw, dict):
        return PassRateGate()
    default = raw.get("minPassRate")
    per_test = raw.get("perTest")
    return PassRateGate(
        default=float(default) if isinstance(default, int | float) else 1.0,
        per_test={str(k): float(v) for k, v in per_test.items()}
        if isinstance(per_test, Mapping)
        else {},
    )


def _plain(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        test: {
            key: {
                k: v for k, v in (("rubric", o.rubric), ("threshold", o.threshold)) if v is not None
            }
            for key, o in checks.items()
        }
        for test, checks in overrides.items()
    }
