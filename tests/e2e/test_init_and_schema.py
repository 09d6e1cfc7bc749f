"""`lamdis schema` and `lamdis init` as a user runs them (the CLI as a subprocess).

`lamdis init --demo` scaffolds a tree that validates, whose files name the schemas it writes
and validate against them, and whose suite passes against the real demo assistant.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from lamdis_core.config.json_schema import FILE_NAMES, all_schemas

from tests.fixtures.servers import free_port

pytestmark = pytest.mark.e2e

_SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)


def lamdis(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamdis_http.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def demo_assistant() -> Iterator[str]:
    """`lamdis demo-assistant` on a free loopback port, as its own process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lamdis_http.cli", "demo-assistant", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_schema_writes_every_kind(tmp_path: Path) -> None:
    done = lamdis("schema", "--out", str(tmp_path / "schemas"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = {Path(line).name for line in done.stdout.split()}
    assert written == set(FILE_NAMES.values())
    for name, schema in all_schemas().items():
        assert json.loads((tmp_path / "schemas" / name).read_text()) == schema


def test_schema_into_an_unwritable_place_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = lamdis("schema", "--out", str(blocker / "sub"), cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot write" in done.stderr and str(blocker) in done.stderr


def _check_against_named_schemas(root: Path) -> int:
    checked = 0
    for path in sorted(root.rglob("*.yaml")):
        if ".github" in path.parts:
            continue
        text = path.read_text()
        named = _SCHEMA_LINE.search(text)
        assert named, f"{path} names no schema"
        schema = json.loads((path.parent / named.group(1)).read_text())
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(text)))
        assert not errors, (path, errors)
        checked += 1
    return checked


@pytest.mark.parametrize("demo", [False, True], ids=["own-assistant", "demo"])
def test_init_scaffolds_a_tree_that_validates(tmp_path: Path, demo: bool) -> None:
    root = tmp_path / "repo"
    done = lamdis("init", str(root), *(["--demo"] if demo else []), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for rel in ("assistants/bot.yaml", "tests/smoke.yaml", "suites/smoke.yaml"):
        assert (root / rel).is_file(), rel
    assert (root / ".github" / "workflows" / "lamdis.yml").is_file()
    assert _check_against_named_schemas(root) == 3
    validated = lamdis("validate", str(root), cwd=tmp_path)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "ok: 3 files valid" in validated.stdout


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "smoke.yaml").write_text("mine")
    done = lamdis("init", str(root), cwd=tmp_path)
    assert done.returncode == 2
    assert "tests/smoke.yaml" in done.stderr and "--force" in done.stderr
    assert (root / "tests" / "smoke.yaml").read_text() == "mine"
    assert not (root / "assistants").exists(), "nothing is written when something exists"
    forced = lamdis("init", str(root), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (root / "tests" / "smoke.yaml").read_text() != "mine"


def test_init_demo_runs_against_the_demo_assistant(tmp_path: Path, demo_assistant: str) -> None:
    root = tmp_path / "repo"
    assert lamdis("init", str(root), "--demo", cwd=tmp_path).returncode == 0
    env = {**os.environ, "LAMDIS_DEMO_URL": demo_assistant}
    env.pop("OPENAI_API_KEY", None)
    ran = lamdis(
        "run", "suites/smoke.yaml", "--json", str(tmp_path / "summary.json"), cwd=root, env=env
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["totals"]["passed"] == 2 and summary["status"] == "passed", summary["totals"]
