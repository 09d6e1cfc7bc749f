"""Plans: suites as matrices, selection by ids, filters, disabled tests, YAML = JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lamdis_core.config.loader import load_plan
from lamdis_core.domain.errors import ConfigError

from tests.unit.config.conftest import ASSISTANT, SIMPLE_TEST, Tree, base_files


def suite(**fields: Any) -> dict[str, Any]:
    return {"id": "s1", **fields}


def two_assistant_tree(tree: Tree, suite_doc: dict[str, Any]) -> Path:
    files = base_files(
        [
            {**SIMPLE_TEST, "id": "a", "tags": ["smoke"]},
            {**SIMPLE_TEST, "id": "b", "name": "Billing question"},
        ]
    )
    return tree(
        {
            **files,
            "assistants/dev/v1.json": {**ASSISTANT, "id": "dev-v1"},
            "assistants/dev/v2.yaml": yaml.safe_dump({**ASSISTANT, "id": "dev-v2"}),
            "suites/s1.json": suite_doc,
        }
    )


def keys(path: Path, **kwargs: Any) -> list[str]:
    return [e.key for e in load_plan([path], env={}, **kwargs).entries]


def test_several_assistants_make_a_matrix(tree: Tree) -> None:
    root = two_assistant_tree(
        tree,
        suite(
            assistants={"includeFolders": ["assistants/dev"]}, tests={"includeFiles": ["tests/t"]}
        ),
    )
    assert keys(root / "suites/s1.json") == ["a@dev-v1", "a@dev-v2", "b@dev-v1", "b@dev-v2"]


def test_exclude_removes_assistants_by_ref_or_id(tree: Tree) -> None:
    spec = {
        "includeFolders": ["assistants/dev"],
        "include": ["assistants/bot"],
        "exclude": ["assistants/dev/v2", "bot"],
    }
    root = two_assistant_tree(
        tree, suite(assistants=spec, tests={"includeFiles": ["tests/t.json"]})
    )
    assert keys(root / "suites/s1.json") == ["a@dev-v1", "b@dev-v1"]


def test_include_ids_accepts_a_test_id(tree: Tree) -> None:
    root = two_assistant_tree(
        tree, suite(assistants={"include": ["assistants/bot"]}, tests={"includeIds": ["b"]})
    )
    assert keys(root / "suites/s1.json") == ["b@bot"]


def test_include_ids_naming_nothing_is_an_error(tree: Tree) -> None:
    root = two_assistant_tree(
        tree, suite(assistants={"include": ["assistants/bot"]}, tests={"includeIds": ["zzz"]})
    )
    with pytest.raises(ConfigError) as info:
        load_plan([root / "suites/s1.json"], env={})
    (problem,) = info.value.problems
    assert problem.json_path == "$.tests.includeIds[0]"
    assert "no test file or test has id 'zzz'" in problem.message


def test_suite_without_assistants_uses_each_files_assistant_ref(tree: Tree) -> None:
    root = two_assistant_tree(tree, suite(tests={"includeFiles": ["tests/t"]}))
    assert keys(root / "suites/s1.json") == ["a@bot", "b@bot"]


def test_suite_with_inline_tests(tree: Tree) -> None:
    doc = suite(
        assistants={"include": ["assistants/bot"]},
        imports={"personas": ["personas/p"]},
        tests=[{"id": "inline", "personaId": "p1", "objective": "open an account"}],
    )
    root = two_assistant_tree(tree, doc)
    plan = load_plan([root / "suites/s1.json"], env={})
    assert [e.key for e in plan.entries] == ["inline@bot"]
    assert set(plan.entries[0].personas) == {"p1"}


def test_disabled_tests_are_returned_as_skipped(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST, {**SIMPLE_TEST, "id": "off", "enabled": False}]))
    plan = load_plan([root / "tests/t.json"], env={})
    assert [e.key for e in plan.entries] == ["t1@bot"]
    assert [e.key for e in plan.skipped] == ["off@bot"]


def test_filter_is_a_glob_or_substring_on_id_or_name(tree: Tree) -> None:
    root = two_assistant_tree(tree, suite(tests={"includeFiles": ["tests/t"]}))
    path = root / "suites/s1.json"
    assert keys(path, name_filter="BILL") == ["b@bot"]  # a substring of the name, any case
    assert keys(path, name_filter="a") == ["a@bot"]
    assert keys(path, name_filter="billing*") == ["b@bot"]
    assert keys(path, name_filter="?") == ["a@bot", "b@bot"]
    assert keys(path, name_filter="[a]") == ["a@bot"]


def test_tags_keep_tests_with_any_of_them(tree: Tree) -> None:
    root = two_assistant_tree(tree, suite(tests={"includeFiles": ["tests/t"]}))
    assert keys(root / "suites/s1.json", tags=["smoke", "nightly"]) == ["a@bot"]
    assert keys(root / "suites/s1.json", tags=["nightly"]) == []


def test_folder_run_lets_a_suite_cover_its_test_files(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST])
    del files["tests/t.json"]["assistantRef"]  # only runnable through the suite
    root = tree(
        {
            **files,
            "assistants/dev/v1.json": {**ASSISTANT, "id": "dev-v1"},
            "suites/s1.json": suite(
                assistants={"include": ["assistants/dev/v1"]}, tests={"includeFiles": ["tests/t"]}
            ),
        }
    )
    plan = load_plan([root], env={})
    assert [e.key for e in plan.entries] == ["t1@dev-v1"]
    assert plan.suite_id is None  # a folder, not one suite


def test_inline_env_gives_the_test_file_its_assistant(tree: Tree) -> None:
    root = tree(
        {
            "tests/t.json": {
                "id": "f",
                "env": {"baseUrl": "http://127.0.0.1:9"},
                "tests": [SIMPLE_TEST],
            }
        }
    )
    plan = load_plan([root / "tests/t.json"], env={})
    assert plan.entries[0].assistant.env.base_url == "http://127.0.0.1:9"
    assert plan.entries[0].assistant.id == "f#env"


def test_requests_file_level_auth_ref_reaches_each_request(tree: Tree) -> None:
    files = base_files([{"id": "t1", "steps": [{"type": "request", "requestId": "accounts.get"}]}])
    files["requests/r.json"]["authRef"] = "auth/static"
    files["auth/static.json"] = {"id": "auth/static", "headers": {"x-key": "${KEY}"}}
    root = tree(files)
    plan = load_plan([root / "tests/t.json"], env={"KEY": "k"})
    entry = plan.entries[0]
    assert entry.requests["accounts.get"].effective_auth_ref == "auth/static"
    assert set(entry.auths) == {"auth/static"}


def to_yaml_tree(root: Path) -> None:
    """Rewrite every JSON file below root as YAML (references without extension still hit)."""
    for path in sorted(root.rglob("*.json")):
        path.with_suffix(".yaml").write_text(yaml.safe_dump(json.loads(path.read_text())))
        path.unlink()


def test_yaml_and_json_load_to_the_same_plan(tree: Tree) -> None:
    test = {
        "id": "t1",
        "personaId": "p1",
        "steps": [
            {"type": "request", "requestId": "accounts.get", "input": {"id": 7}, "assign": "acct"},
            {"type": "message", "content": "hi ${var.acct.id}", "personaId": "p1"},
            {"type": "includes", "includes": ["risk"]},
            {"type": "json_path", "source": "var.acct", "path": "$.id", "equals": 7},
        ],
        "judgeConfig": {"rubric": "helpful", "threshold": 0.6},
    }
    root = two_assistant_tree(
        tree,
        suite(
            assistants={"includeFolders": ["assistants/dev"]}, tests={"includeFiles": ["tests/t"]}
        ),
    )
    (root / "tests/t.json").write_text(json.dumps(base_files([test])["tests/t.json"]))
    from_json = load_plan([root / "suites/s1.json"], env={})

    to_yaml_tree(root)
    from_yaml = load_plan([root / "suites/s1.yaml"], env={})

    assert from_yaml.entries  # not vacuous
    for a, b in zip(from_json.entries, from_yaml.entries, strict=True):
        assert (a.test, a.assistant, a.personas, a.requests, a.auths, a.file_id) == (
            b.test,
            b.assistant,
            b.personas,
            b.requests,
            b.auths,
            b.file_id,
        )


def test_yaml_keeps_dates_as_strings(tree: Tree) -> None:
    files = base_files([])
    del files["tests/t.json"]
    text = "assistantRef: assistants/bot\ntests:\n  - id: 2024-01-01\n    objective: x\n"
    root = tree({**files, "tests/t.yaml": text})
    plan = load_plan([root / "tests/t.yaml"], env={})
    assert plan.entries[0].test.id == "2024-01-01"


def test_legacy_script_as_yaml_text_is_accepted(tree: Tree) -> None:
    test = {"id": "t1", "script": "messages:\n  - role: user\n    content: hello\n"}
    root = tree(base_files([test]))
    plan = load_plan([root / "tests/t.json"], env={})
    assert plan.entries[0].test.script.messages[0].content == "hello"


def test_lamdis_runs_json_suite_with_inline_tests_and_env(tree: Tree) -> None:
    # The shape lamdis-runs' run-json-suites reads: suites/<id>.json with tests and env.
    doc = {
        "env": {"channel": "http_chat", "baseUrl": "http://127.0.0.1:9"},
        "tests": [{"name": "first", "objective": "x"}, {"objective": "y"}],
    }
    root = tree({"suites/smoke.json": doc})
    plan = load_plan([root / "suites/smoke.json"], env={})
    assert [e.key for e in plan.entries] == ["smoke#1@smoke#env", "smoke#2@smoke#env"]
    assert plan.entries[0].test.label == "first"
    assert plan.warnings == []


def test_tests_without_ids_get_one_from_their_file(tree: Tree) -> None:
    files = base_files([{"steps": [{"type": "message", "content": "hi"}]}])
    del files["tests/t.json"]["id"]
    files["tests/t.json"]["orgId"] = "org"  # lamdis-runs' run-file accepts these
    files["tests/t.json"]["suite"] = "nightly"
    root = tree(files)
    plan = load_plan([root / "tests/t.json"], env={})
    assert [e.key for e in plan.entries] == ["tests/t#1@bot"]
    assert plan.warnings == []


def test_run_skips_unreferenced_config_files_that_validate_checks(tree: Tree) -> None:
    root = tree(
        {**base_files([SIMPLE_TEST]), "auth/broken.json": {"id": "broken", "headers": "nope"}}
    )

    plan = load_plan([root], env={})
    assert [e.key for e in plan.entries] == ["t1@bot"]
    assert sorted(Path(f).name for f in plan.files) == ["bot.json", "p.json", "r.json", "t.json"]

    from lamdis_core.config.loader import validate_paths

    with pytest.raises(ConfigError) as info:
        validate_paths([root], env={})
    (problem,) = info.value.problems
    assert (Path(problem.file or "").name, problem.json_path) == ("broken.json", "$.headers")
    assert problem.message == "expected an object whose values are strings, got the string 'nope'"


def test_include_ids_search_survives_odd_files_under_the_root(tree: Tree) -> None:
    root = two_assistant_tree(
        tree, suite(assistants={"include": ["assistants/bot"]}, tests={"includeIds": ["b"]})
    )
    (root / "tests" / "odd.json").write_text('{"tests": 5}')
    (root / "tests" / "broken.json").write_text("{")
    # Neither odd file is included, so neither is reported; the id is found in tests/t.json.
    assert keys(root / "suites/s1.json") == ["b@bot"]
