"""The original lamdis-runs example tree must load unchanged (DESIGN §3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lamdis_core.config.loader import load_plan, validate_paths
from lamdis_core.domain import config as c

from tests.unit.config.conftest import LAMDIS_RUNS_CONFIGS

ROOT = LAMDIS_RUNS_CONFIGS.resolve()
pytestmark = pytest.mark.skipif(
    not ROOT.is_dir(), reason=f"the lamdis-runs example tree is not beside the checkout ({ROOT})"
)


def test_whole_tree_validates_with_only_env_warnings() -> None:
    report = validate_paths([ROOT], config_root=ROOT, env={})

    files = {Path(f).resolve().relative_to(ROOT).as_posix() for f in report.files}
    on_disk = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.json")}
    assert files == on_disk
    assert {(Path(w.file or "").name, w.json_path) for w in report.warnings} == {
        ("dev1.json", "$.env.AUTH_TOKEN"),
        ("dev1.json", "$.env.BOT_API_KEY"),
    }
    assert all("environment variable" in w.message for w in report.warnings)
    assert {w.message.split()[2] for w in report.warnings} == {"DEV1_API_TOKEN", "DEV1_BOT_API_KEY"}


def test_no_warnings_when_the_environment_has_the_variables() -> None:
    report = validate_paths(
        [ROOT], config_root=ROOT, env={"DEV1_API_TOKEN": "t", "DEV1_BOT_API_KEY": "k"}
    )
    assert report.warnings == []


def test_suite_plans_one_test_against_one_assistant() -> None:
    plan = load_plan([ROOT / "suites" / "legal-tests.json"], env={})

    assert plan.suite_id == "legal-tests"
    assert [e.key for e in plan.entries] == ["finra-suitability-basic@assistants/dev/v1"]
    entry = plan.entries[0]
    assert entry.file_id == "finra-suitability-p1"
    assert entry.assistant.env.base_url == "https://dev-bot.example.com"
    assert entry.assistant.env.timeout_ms == 20000
    assert entry.assistant.effective_path == "/chat"
    assert set(entry.personas) == {"retail-us-low-literacy", "vip-high-net-worth"}
    assert set(entry.requests) == {"accounts.create_test", "accounts.get", "accounts.update_risk"}
    http = entry.requests["accounts.get"].transport.http
    assert (http.method, http.base_url, http.path) == (
        "GET",
        "https://api.example.com",
        "/accounts/{id}",
    )
    assert isinstance(entry.auths["auth/dev1"], c.PatternAuth)
    assert [type(s).__name__ for s in entry.test.steps] == [
        "RequestStep",
        "MessageStep",
        "RequestStep",
        "MessageStep",
        "RequestStep",
        "MessageStep",
        "IncludesStep",
        "AssistantCheckStep",
    ]
    assert entry.test.steps[6] == c.IncludesStep(
        includes=["risk", "diversified", "not personalized"]
    )


def test_default_config_root_is_found_from_a_test_file() -> None:
    plan = load_plan([ROOT / "tests" / "finra-checks" / "p1-tests.json"], env={})
    assert [e.key for e in plan.entries] == ["finra-suitability-basic@assistants/dev/v1"]


def test_folder_run_plans_the_suite_test_once() -> None:
    plan = load_plan([ROOT], env={})
    assert [e.key for e in plan.entries] == ["finra-suitability-basic@assistants/dev/v1"]


def test_include_ids_naming_the_file_id_selects_its_tests(tmp_path: Path) -> None:
    # Only includeIds, no includeFiles: the file is found by its id under the root.
    root = tmp_path / "configs"
    shutil.copytree(ROOT, root)
    suite = json.loads((root / "suites" / "legal-tests.json").read_text())
    suite["tests"] = {"includeIds": ["finra-suitability-p1"]}
    (root / "suites" / "legal-tests.json").write_text(json.dumps(suite))

    plan = load_plan([root / "suites" / "legal-tests.json"], env={})

    assert [e.key for e in plan.entries] == ["finra-suitability-basic@assistants/dev/v1"]
