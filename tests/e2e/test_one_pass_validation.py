"""One pass reports every problem of a tree (issue 11, "one config pipeline"): a syntax error,
a type error and a missing reference in three files come back together from ``lamdis
validate``, the library, and ``lamdis import``; catalog documents, fed through the same
stages, report theirs together too — including a broken reference inside a document whose
checks failed, which a type error used to hide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lamdis_core.config.loader import CatalogDocuments, plan_from_documents, validate_paths
from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.ports.catalog import CatalogKind
from lamdis_core.testing import InMemoryCatalog

from tests.unit.config.conftest import write_tree

CLI = [sys.executable, "-m", "lamdis_http.cli"]
MESSAGES = {"messages": [{"role": "user", "content": "hi"}]}
ASSISTANT = {"id": "dev", "env": {"channel": "http_chat", "baseUrl": "http://127.0.0.1:9"}}


def three_broken_files(root: Path) -> Path:
    """A syntax error (a.json), a type error (b.yaml) and a missing reference (c.json)."""
    return write_tree(
        root,
        {
            "assistants/dev.json": ASSISTANT,
            "tests/a.json": '{\n  "assistantRef": "assistants/dev",\n  "tests": [\n    {"id": "a",}\n  ]\n}\n',
            "tests/b.yaml": (
                "assistantRef: assistants/dev\n"
                "tests:\n"
                "  - id: b\n"
                "    maxTurns: eight\n"
                "    objective: open an account\n"
            ),
            "tests/c.json": {
                "assistantRef": "assistants/nope",
                "tests": [{"id": "c", "script": MESSAGES}],
            },
        },
    )


def by_file(problems: list[ConfigProblem]) -> dict[str, list[ConfigProblem]]:
    out: dict[str, list[ConfigProblem]] = {}
    for problem in problems:
        out.setdefault(Path(problem.file or "").name, []).append(problem)
    return out


def assert_the_three(problems: list[ConfigProblem]) -> None:
    found = by_file(problems)
    assert set(found) == {"a.json", "b.yaml", "c.json"}, problems
    (syntax,) = found["a.json"]
    assert "invalid JSON" in syntax.message and syntax.line == 4
    (typed,) = found["b.yaml"]
    assert typed.json_path == "$.tests[0].maxTurns" and typed.line == 4
    assert "expected an integer" in typed.message
    (missing,) = found["c.json"]
    assert missing.json_path == "$.assistantRef" and missing.line == 2
    assert "assistantRef 'assistants/nope' not found; tried:" in missing.message


def test_the_library_reports_the_three_problems_in_one_pass(tmp_path: Path) -> None:
    root = three_broken_files(tmp_path / "configs")

    with pytest.raises(ConfigError) as info:
        validate_paths([root], env={})

    assert_the_three(list(info.value.problems))
    assert len(info.value.problems) == 3


def test_lamdis_validate_prints_the_three_problems_and_exits_2(tmp_path: Path) -> None:
    root = three_broken_files(tmp_path / "configs")

    done = subprocess.run(
        [*CLI, "validate", str(root)], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 2, done.stderr
    assert "validation failed (3 problems)" in done.stderr
    assert "a.json:4: invalid JSON" in done.stderr
    assert "b.yaml:4 at $.tests[0].maxTurns: expected an integer" in done.stderr
    assert "c.json:2 at $.assistantRef: assistantRef 'assistants/nope' not found" in done.stderr


@pytest.mark.postgres
def test_lamdis_import_refuses_the_tree_naming_the_three_problems(
    tmp_path: Path, postgres_dsn: str
) -> None:
    root = three_broken_files(tmp_path / "configs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAMDIS_", "MONGO"))}
    env["DATABASE_URL"] = postgres_dsn

    done = subprocess.run(
        [*CLI, "import", str(root), "--org", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    assert "(3 problems)" in done.stderr
    for expected in ("a.json:4: invalid JSON", "b.yaml:4 at $.tests[0].maxTurns", "c.json:2 at"):
        assert expected in done.stderr


def test_a_type_error_no_longer_hides_the_broken_references_of_its_file(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "configs",
        {
            "assistants/dev.json": {
                **ASSISTANT,
                "authRef": "auth/missing",
                "env": {**ASSISTANT["env"], "timeoutMs": "slow"},
            },
            "personas/p.json": {"personas": [{"id": "p1", "description": "a saver"}]},
            "tests/t.json": {
                "assistantRef": "assistants/dev",
                "imports": {"personas": ["personas/p"]},
                "tests": [
                    {"id": "typed", "maxTurns": "eight", "script": MESSAGES},
                    {"id": "unknown-persona", "personaId": "nobody", "script": MESSAGES},
                ],
            },
        },
    )

    with pytest.raises(ConfigError) as info:
        validate_paths([root], env={})

    found = {(Path(p.file or "").name, p.json_path): p.message for p in info.value.problems}
    assert "expected an integer" in found[("dev.json", "$.env.timeoutMs")]
    assert "authRef 'auth/missing' not found" in found[("dev.json", "$.authRef")]
    assert "expected an integer" in found[("t.json", "$.tests[0].maxTurns")]
    assert "persona 'nobody' is not defined" in found[("t.json", "$.tests[1].personaId")]
    assert len(found) == 4, info.value.problems


async def test_catalog_documents_report_every_problem_in_one_pass() -> None:
    catalog = InMemoryCatalog()
    docs: dict[CatalogKind, list[dict[str, Any]]] = {
        CatalogKind.ENVIRONMENTS: [
            {
                "id": "env-dev",
                "channel": "http_chat",
                "baseUrl": "http://127.0.0.1:9",
                "timeoutMs": "slow",
                "authRef": "auth-missing",
            },
        ],
        CatalogKind.PERSONAS: [{"id": "retail", "personas": [{"id": "p1", "description": "x"}]}],
        CatalogKind.TESTS: [
            {
                "id": "typed",
                "imports": {"personas": ["retail"]},
                "tests": [
                    {"id": "t1", "maxTurns": "eight", "script": MESSAGES},
                    {"id": "t2", "personaId": "nobody", "script": MESSAGES},
                ],
            },
            {"id": "dangling", "assistantRef": "env-gone", "script": MESSAGES},
        ],
    }
    for kind, items in docs.items():
        for doc in items:
            await catalog.upsert(kind, "acme", doc)
    suite = {
        "id": "s1",
        "assistants": {"include": ["env-dev"]},
        "tests": {"includeFiles": ["typed", "dangling", "absent"]},
    }

    with pytest.raises(ConfigError) as info:
        await plan_from_documents(suite, CatalogDocuments(catalog, "acme"), env={})

    found = {(p.file, p.json_path): p.message for p in info.value.problems}
    assert "expected an integer" in found[("catalog:environments/env-dev", "$.env.timeoutMs")]
    assert (
        "authRef 'auth-missing' not found" in found[("catalog:environments/env-dev", "$.authRef")]
    )
    assert "expected an integer" in found[("catalog:tests/typed", "$.tests[0].maxTurns")]
    assert (
        "persona 'nobody' is not defined" in found[("catalog:tests/typed", "$.tests[1].personaId")]
    )
    assert found[("catalog:tests/dangling", "$.assistantRef")] == "environment 'env-gone' not found"
    assert found[("catalog:suites/s1", "$.tests.includeFiles[2]")] == "test 'absent' not found"
    assert len(found) == 6, info.value.problems
