"""Config loading in process (issue 11, "one config pipeline"): how long the loader takes to
validate or plan a tree, with no process start-up in the figure.

Workloads, each timed as the least CPU time (this process's, which the other work on a
shared machine disturbs less than wall time) of ``--repeat`` calls in one process: the least
a call needs when the machine lets it run, which is what a change to the loader moves:

- ``validate examples/configs``: :func:`validate_paths` on the repository's example tree.
- ``validate lamdis-runs-configs``: the same on the original project's example tree (when it is
  beside the checkout, at ``../shared/lamdis-runs-configs``).
- ``load W2 file``: :func:`load_plan` of bench/run.py's W2 file (200 tests in one file).
- ``load wide suite``: :func:`load_plan` of a suite including 60 test files of 5 tests, each
  importing a personas and a requests file, two assistants with an auth config.
- ``plan wide suite from documents``: :func:`plan_from_documents` of the same tree stored as
  catalog documents in the in-memory catalog.

The machine is shared, so each build runs in its own subprocess, the builds alternating
round by round, and a figure is the best of ``--rounds`` rounds. Beside the time, each
workload's count of Python function calls (under cProfile), which the load cannot move.

Usage: ``python bench/config_load.py [--rounds N] [--repeat N] [--baseline PYTHON]
[--record LABEL]`` (``--baseline`` times another build's interpreter, e.g. an older
checkout's ``.venv/bin/python``, in the same rounds; ``--record`` appends the table to
bench/RESULTS.md under LABEL).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import bench_env, machine, record, write_tree

REPO = Path(__file__).resolve().parents[1]
LAMDIS_RUNS = REPO.parent / "shared" / "lamdis-runs-configs"
WIDE_FILES = 60
WIDE_TESTS = 5


def write_wide_tree(root: Path) -> dict[str, dict[str, Any]]:
    """The wide tree below ``root``; returns its files as ``{relative path: content}``."""
    files: dict[str, dict[str, Any]] = {
        "auth/dev.json": {
            "id": "dev",
            "env": {"TOKEN": "${BENCH_TOKEN}"},
            "pattern": {"type": "bearer", "header": "Authorization", "template": "Bearer ${TOKEN}"},
        },
        "personas/retail.json": {
            "personas": [{"id": f"p{i}", "description": f"persona {i}"} for i in range(5)]
        },
        "requests/accounts.json": {
            "authRef": "auth/dev",
            "requests": [
                {
                    "id": f"r{i}",
                    "transport": {
                        "mode": "direct",
                        "http": {"method": "GET", "base_url": "http://127.0.0.1:9", "path": "/a"},
                    },
                }
                for i in range(5)
            ],
        },
    }
    for name in ("a", "b"):
        files[f"assistants/{name}.json"] = {
            "id": name,
            "authRef": "auth/dev",
            "env": {"channel": "http_chat", "baseUrl": "http://127.0.0.1:9"},
        }
    for n in range(WIDE_FILES):
        tests = [
            {
                "id": f"f{n}-t{k}",
                "personaId": f"p{k}",
                "steps": [
                    {"type": "request", "requestId": f"r{k}", "assign": "acct"},
                    {"type": "message", "content": "hello"},
                    {"type": "includes", "includes": ["hi"]},
                    {"type": "json_path", "source": "var.acct", "path": "$.id", "equals": 1},
                ],
            }
            for k in range(WIDE_TESTS)
        ]
        files[f"tests/f{n}.json"] = {
            "id": f"file-{n}",
            "imports": {"personas": ["personas/retail"], "requests": ["requests/accounts"]},
            "tests": tests,
        }
    files["suites/wide.json"] = {
        "id": "wide",
        "assistants": {"include": ["assistants/a", "assistants/b"]},
        "tests": {"includeFiles": [f"tests/f{n}" for n in range(WIDE_FILES)]},
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2))
    return files


def catalog_documents(files: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The wide tree as catalog documents, references rewritten to document ids."""
    docs: dict[str, list[dict[str, Any]]] = {
        "environments": [],
        "tests": [],
        "personas": [],
        "requests": [],
        "auth": [],
        "suites": [],
    }
    for rel, content in files.items():
        stem = rel.removesuffix(".json")
        doc = {**json.loads(json.dumps(content)), "id": content.get("id", stem)}
        folder = rel.split("/")[0]
        if folder == "assistants":
            doc["authRef"] = "dev"
            docs["environments"].append(doc)
        elif folder == "auth":
            docs["auth"].append(doc)
        elif folder == "personas":
            docs["personas"].append({**doc, "id": "retail"})
        elif folder == "requests":
            docs["requests"].append({**doc, "id": "accounts", "authRef": "dev"})
        elif folder == "tests":
            doc["imports"] = {"personas": ["retail"], "requests": ["accounts"]}
            docs["tests"].append(doc)
        else:
            doc["assistants"] = {"include": ["a", "b"]}
            doc["tests"] = {"includeFiles": [f"file-{n}" for n in range(WIDE_FILES)]}
            docs["suites"].append(doc)
    return docs


def worker(work: Path, repeat: int) -> dict[str, tuple[float, int]]:
    """Least CPU milliseconds per call of each workload, in this process, and how many
    Python function calls one call makes (counted under cProfile: a figure the machine's
    load cannot move)."""
    from lamdis_core.config.loader import (
        CatalogDocuments,
        load_plan,
        plan_from_documents,
        validate_paths,
    )
    from lamdis_core.ports.catalog import CatalogKind
    from lamdis_core.testing import InMemoryCatalog

    env = {"LAMDIS_DEMO_URL": "http://127.0.0.1:9", "BENCH_TOKEN": "x"}
    examples = REPO / "examples" / "configs"
    w2 = work / "w2" / "tests" / "bench.json"
    wide = work / "wide"
    docs = json.loads((work / "docs.json").read_text())
    catalog = InMemoryCatalog()
    loop = asyncio.new_event_loop()
    for kind, items in docs.items():
        for doc in items:
            loop.run_until_complete(catalog.upsert(CatalogKind(kind), "org", doc))
    suite = docs["suites"][0]
    source = CatalogDocuments(catalog, "org")

    def from_documents() -> Any:
        return loop.run_until_complete(plan_from_documents(suite, source, env=env))

    workloads: dict[str, Callable[[], Any]] = {
        "validate examples/configs": lambda: validate_paths([examples], env=env),
        "load W2 file": lambda: load_plan([w2], env=env),
        "load wide suite": lambda: load_plan([wide / "suites" / "wide.json"], env=env),
        "plan wide suite from documents": from_documents,
    }
    if LAMDIS_RUNS.is_dir():
        workloads["validate lamdis-runs-configs"] = lambda: validate_paths(
            [LAMDIS_RUNS], config_root=LAMDIS_RUNS, env=env
        )
    out: dict[str, tuple[float, int]] = {}
    for name, call in workloads.items():
        call()  # warm-up: imports, PyYAML's loader class
        samples = []
        for _ in range(repeat):
            started = time.process_time()
            call()
            samples.append((time.process_time() - started) * 1000)
        profile = cProfile.Profile()
        profile.runcall(call)
        calls = pstats.Stats(profile, stream=io.StringIO()).total_calls  # type: ignore[attr-defined]
        out[name] = (min(samples), calls)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--baseline", metavar="PYTHON")
    parser.add_argument("--record", metavar="LABEL")
    parser.add_argument("--worker", metavar="DIR", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        print(json.dumps(worker(Path(opts.worker), opts.repeat)))
        return
    load_before = os.getloadavg()[0]
    builds = [sys.executable] + ([opts.baseline] if opts.baseline else [])
    best: list[dict[str, float]] = [{} for _ in builds]
    calls: list[dict[str, int]] = [{} for _ in builds]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_tree(work / "w2", tests=200)
        files = write_wide_tree(work / "wide")
        (work / "docs.json").write_text(json.dumps(catalog_documents(files)))
        for _ in range(opts.rounds):
            for index, python in enumerate(builds):
                args = [python, __file__, "--worker", str(work), "--repeat", str(opts.repeat)]
                proc = subprocess.run(
                    args, env=bench_env(), cwd=REPO, capture_output=True, text=True, check=True
                )
                for name, (ms, count) in json.loads(proc.stdout).items():
                    best[index][name] = min(ms, best[index].get(name, ms))
                    calls[index][name] = count
    load_after = os.getloadavg()[0]
    if opts.baseline:
        lines = [
            "| workload | baseline CPU / calls | this build CPU / calls | change CPU / calls |",
            "|---|---|---|---|",
        ]
        for name, ms in best[0].items():
            before, before_calls = best[1][name], calls[1][name]
            lines.append(
                f"| {name} | {before:.2f} ms / {before_calls} | {ms:.2f} ms / {calls[0][name]} "
                f"| {(ms / before - 1) * 100:+.1f} % / "
                f"{(calls[0][name] / before_calls - 1) * 100:+.1f} % |"
            )
    else:
        lines = ["| workload | CPU per call | function calls |", "|---|---|---|"]
        lines += [f"| {name} | {ms:.2f} ms | {calls[0][name]} |" for name, ms in best[0].items()]
    table = "\n".join(lines)
    print(table)
    if opts.record:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = (
            f"\n### Config loading in process (`bench/config_load.py`), {opts.record} — {when}\n\n"
            f"Machine: {machine()}; 1-minute load average before/after {load_before:.2f} / "
            f"{load_after:.2f} (shared with other developers). Least CPU time of {opts.repeat} calls, best "
            f"of {opts.rounds} rounds, builds alternating.\n\n{table}\n"
        )
        record(text)


if __name__ == "__main__":
    main()
