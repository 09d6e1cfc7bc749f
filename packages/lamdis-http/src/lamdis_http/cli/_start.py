"""``lamdis start``: start a hosted run from CI, with the git context the CI provides.

Replaces the seed's CI steps (curl ``/internal/runs/start``, parse the answer with node,
``npm run wait``) with one command. The git context is read from the CI's own variables:
GitHub Actions (``GITHUB_*``) or GitLab CI (``CI_*``); elsewhere none is sent. Prints the run
id on stdout (and, under GitHub Actions, writes ``run-id`` to ``$GITHUB_OUTPUT``); with
``--wait``, then waits like ``lamdis wait``.

Exit codes: 0 started (with ``--wait``: passed); 1 the run did not pass, a timeout, or the
server could not be reached; 2 nothing was started: no server or suite id given, credentials
refused, or the server rejected the request (an unknown suite or environment).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from lamdis_http.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "start",
        help="start a hosted run (suite, environment, git context from CI); --wait to wait",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--suite", default=None, help="suite id (default: $LAMDIS_SUITE_ID)")
    parser.add_argument(
        "--env", default=None, help="environment id (default: $LAMDIS_ENV_ID; optional)"
    )
    parser.add_argument(
        "--org", default=None, help="organization id (default: $LAMDIS_ORG_ID; optional)"
    )
    parser.add_argument(
        "--server", default=None, help="the lamdis service (default: $LAMDIS_SERVER)"
    )
    parser.add_argument(
        "--test", action="append", default=[], metavar="ID", help="run only this test (repeatable)"
    )
    parser.add_argument("--webhook-url", default=None, help="POST the result here when it finishes")
    parser.add_argument(
        "--trigger", default="ci", choices=["ci", "manual", "schedule"], help="default: ci"
    )
    parser.add_argument("--wait", action="store_true", help="wait for the run like `lamdis wait`")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="with --wait: seconds (default 900)"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="with --wait: seconds between polls"
    )
    parser.set_defaults(handler=_handle)


def git_context(env: Mapping[str, str]) -> dict[str, str]:
    """The git context of the CI job ``env`` describes: GitHub Actions, GitLab CI, or none.

    Keys follow the seed's start body (``repo``, ``sha``, ``runId``) plus ``provider``,
    ``ref``, ``branch``, ``pullRequest``, ``runUrl`` and ``actor``; empty values are left out.
    """

    def get(name: str) -> str:
        return env.get(name, "").strip()

    if get("GITHUB_ACTIONS") == "true":
        ref = get("GITHUB_REF")
        pull = ref.split("/")[2] if ref.startswith("refs/pull/") else ""
        server, repo, run_id = (
            get("GITHUB_SERVER_URL"),
            get("GITHUB_REPOSITORY"),
            get("GITHUB_RUN_ID"),
        )
        context = {
            "provider": "github",
            "repo": repo,
            "sha": get("GITHUB_SHA"),
            "runId": run_id,
            "ref": ref,
            "branch": get("GITHUB_HEAD_REF") or get("GITHUB_REF_NAME"),
            "pullRequest": pull,
            "runUrl": f"{server}/{repo}/actions/runs/{run_id}"
            if server and repo and run_id
            else "",
            "actor": get("GITHUB_ACTOR"),
        }
    elif get("GITLAB_CI") == "true":
        branch = get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or get("CI_COMMIT_REF_NAME")
        context = {
            "provider": "gitlab",
            "repo": get("CI_PROJECT_PATH"),
            "sha": get("CI_COMMIT_SHA"),
            "runId": get("CI_PIPELINE_ID"),
            "ref": get("CI_COMMIT_REF_NAME"),
            "branch": branch,
            "pullRequest": get("CI_MERGE_REQUEST_IID"),
            "runUrl": get("CI_PIPELINE_URL"),
            "actor": get("GITLAB_USER_LOGIN"),
        }
    else:
        return {}
    return {key: value for key, value in context.items() if value}


def _append_output(path: str, run_id: str) -> None:
    """``run-id`` as a step output for the later steps of a GitHub Actions job (a tiny append
    to a local file; not worth a thread)."""
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"run-id={run_id}\n")


def _handle(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_start(args))


def _missing(what: str, flag: str, variable: str) -> int:
    import sys

    print(f"lamdis start: no {what}; pass {flag} or set {variable}", file=sys.stderr)
    return EXIT_USAGE


async def _start(args: argparse.Namespace) -> int:
    import os
    import sys
    import time

    from lamdis_http.cli._client import ApiClient, ApiError
    from lamdis_http.cli._wait import _poll

    env = os.environ
    server = (args.server or env.get("LAMDIS_SERVER", "")).strip()
    suite = (args.suite or env.get("LAMDIS_SUITE_ID", "")).strip()
    if not server:
        return _missing("lamdis server", "--server URL", "LAMDIS_SERVER")
    if not suite:
        return _missing("suite id", "--suite ID", "LAMDIS_SUITE_ID")
    body: dict[str, Any] = {"suiteId": suite, "trigger": args.trigger}
    for key, value in (
        ("envId", args.env or env.get("LAMDIS_ENV_ID", "")),
        ("orgId", args.org or env.get("LAMDIS_ORG_ID", "")),
        ("webhookUrl", args.webhook_url or ""),
    ):
        if value.strip():
            body[key] = value.strip()
    context = git_context(env)
    if context:
        body["gitContext"] = context
    if args.test:
        body["tests"] = list(args.test)
    async with ApiClient(server) as client:
        try:
            answer = await client.request("POST", "/internal/runs/start", body=body)
        except ApiError as exc:
            if exc.status in (401, 403):
                print(
                    f"lamdis start: {exc}; the server refused the credentials: check "
                    "LAMDIS_API_TOKEN (and LAMDIS_HMAC_SECRET when the server signs requests)",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            if exc.status is not None and 400 <= exc.status < 500:
                print(f"lamdis start: {exc}", file=sys.stderr)
                return EXIT_USAGE
            print(f"lamdis start: {exc}", file=sys.stderr)
            return EXIT_FAILED
        run_id = answer.get("runId") if isinstance(answer, dict) else None
        if not isinstance(run_id, str) or not run_id:
            print(f"lamdis start: the server answered without a runId: {answer!r}", file=sys.stderr)
            return EXIT_FAILED
        print(run_id, flush=True)
        print(f"lamdis start: run {run_id} queued for suite {suite!r}", file=sys.stderr)
        github_output = env.get("GITHUB_OUTPUT", "").strip()
        if github_output:
            _append_output(github_output, run_id)
        if not args.wait:
            return EXIT_OK
        interval = max(1.0, args.interval)
        deadline = time.monotonic() + max(0.0, args.timeout)
        return int(await _poll(client, argparse.Namespace(run_id=run_id), interval, deadline, ""))
