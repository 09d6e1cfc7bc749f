"""The service layer of :mod:`lamdis_core.service` runs queued runs on PostgreSQL in a process
that never imports lamdis_http: what an embedder with its own scheduler does, and what the
lamdis-core README shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contracts.embedder import run_embedder
from tests.http._configs import write_config_tree

README = Path(__file__).parents[3] / "packages" / "lamdis-core" / "README.md"

pytestmark = pytest.mark.postgres

_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")


def test_the_worker_runs_on_postgres_without_lamdis_http(postgres_dsn: str) -> None:
    result, imported = run_embedder(
        "lamdis_store_postgres", "DATABASE_URL", postgres_dsn, "postgres"
    )
    assert result == "failed 1 1 ['greets', 'refuses'] 1 True"
    assert imported == "[]"


def _service_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (example,) = [b for b in blocks if "RunService(" in b]
    return example


def test_the_readme_service_example_runs_without_lamdis_http(
    postgres_dsn: str, tmp_path: Path
) -> None:
    write_config_tree(tmp_path / "configs", "http://127.0.0.1:9")
    script = _service_example() + (
        "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'lamdis_http'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("LAMDIS_")},
            "DATABASE_URL": postgres_dsn,
        },
    )
    assert done.returncode == 0, done.stderr
    # structlog's console lines (the store opening, the worker starting) go to stdout too.
    lines = [x for x in done.stdout.strip().splitlines() if not _LOG_LINE.match(x)]
    assert lines[0] == "imported 5 suites", done.stdout
    assert "passed ['greets: passed', 'warns-about-risk: passed']" in lines
    assert "webhook passed" in lines
    assert "unknown run 'no-such-run'" in lines
    assert lines[-1] == "[]"
