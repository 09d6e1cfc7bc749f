"""Every kind of bad input is a ConfigError naming the file, the place and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from lamdis_core.config.loader import load_plan, validate_paths
from lamdis_core.domain.errors import ConfigError, ConfigProblem

from tests.unit.config.conftest import SIMPLE_TEST, Tree, base_files


def problems_of(path: Path, **kwargs: object) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_plan([path], env={}, **kwargs)  # type: ignore[arg-type]
    return list(info.value.problems)


def only(problems: list[ConfigProblem]) -> ConfigProblem:
    assert len(problems) == 1, problems
    return problems[0]


def test_malformed_json_gives_line_and_column(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST]))
    (root / "tests" / "t.json").write_text('{\n  "tests": [\n    {"id": "a",}\n  ]\n}\n')

    problem = only(problems_of(root / "tests" / "t.json"))

    assert problem.file is not None and problem.file.endswith("t.json")
    assert problem.line == 3
    assert "invalid JSON" in problem.message and "line 3, column 16" in problem.message


def test_malformed_yaml_gives_line_and_column(tree: Tree) -> None:
    root = tree(
        {**base_files([SIMPLE_TEST]), "tests/y.yaml": "id: f\ntests:\n  - id: a\n    steps: [\n"}
    )

    problem = only(problems_of(root / "tests" / "y.yaml"))

    assert problem.file is not None and problem.file.endswith("y.yaml")
    assert "invalid YAML" in problem.message
    assert problem.line == 5 and "line 5" in problem.message


def test_unknown_step_type_lists_the_known_ones(tree: Tree) -> None:
    test = {
        "id": "t1",
        "steps": [{"type": "message", "content": "hi"}, {"type": "asistant_check", "rubric": "x"}],
    }
    root = tree(base_files([test]))

    problem = only(problems_of(root / "tests" / "t.json"))

    assert problem.json_path == "$.tests[0].steps[1].type"
    assert "unknown step type 'asistant_check'" in problem.message
    assert "did you mean 'assistant_check'" in problem.message
    assert "message, request, assistant_check, includes" in problem.message
    assert problem.line is not None


def test_missing_required_field_names_it_and_its_type(tree: Tree) -> None:
    test = {
        "id": "t1",
        "steps": [{"type": "message", "content": "hi"}, {"type": "includes", "scope": "last"}],
    }
    root = tree(base_files([test]))

    problem = only(problems_of(root / "tests" / "t.json"))

    assert problem.json_path == "$.tests[0].steps[1].includes"
    assert problem.message == (
        "includes step: missing required field 'includes' (expected a list of strings)"
    )


def test_wrong_type_gives_the_json_path_and_what_was_expected(tree: Tree) -> None:
    test = {
        "id": "t1",
        "steps": [{"type": "message", "content": "hi"}, {"type": "includes", "includes": "risk"}],
    }
    root = tree(base_files([test]))

    problem = only(problems_of(root / "tests" / "t.json"))

    assert problem.json_path == "$.tests[0].steps[1].includes"
    assert "expected a list of strings, got the string 'risk'" in problem.message
    assert '["risk"]' in problem.message


def test_wrong_scalar_types(tree: Tree) -> None:
    test = {
        "id": "t1",
        "maxTurns": "8",
        "enabled": "yes",
        "steps": [{"type": "message", "content": 5}],
    }
    root = tree(base_files([test]))

    problems = problems_of(root / "tests" / "t.json")

    by_path = {p.json_path: p.message for p in problems}
    assert by_path == {
        "$.tests[0].maxTurns": "expected an integer, got the string '8'",
        "$.tests[0].enabled": "expected true or false, got the string 'yes'",
        "$.tests[0].steps[0].content": "expected a string, got the number 5 (quote it to make it a string)",
    }


def test_missing_reference_lists_every_path_tried(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST])
    files["tests/t.json"]["assistantRef"] = "assistants/nope"
    root = tree({**files, "tests/deep/t.json": files.pop("tests/t.json")})

    problem = only(problems_of(root / "tests" / "deep" / "t.json"))

    assert problem.json_path == "$.assistantRef"
    assert "assistantRef 'assistants/nope' not found; tried: " in problem.message
    tried = problem.message.split("tried: ")[1].split(", ")
    expected = [
        root / "tests" / "deep" / "assistants" / "nope.json",
        root / "tests" / "deep" / "assistants" / "nope.yaml",
        root / "tests" / "deep" / "assistants" / "nope.yml",
        root / "tests" / "assistants" / "nope.json",
        root / "tests" / "assistants" / "nope.yaml",
        root / "tests" / "assistants" / "nope.yml",
        root / "assistants" / "nope.json",
        root / "assistants" / "nope.yaml",
        root / "assistants" / "nope.yml",
    ]
    assert [Path(t).resolve() for t in tried] == [p.resolve() for p in expected]


def test_undefined_persona_and_request_ids(tree: Tree) -> None:
    test = {
        "id": "t1",
        "personaId": "ghost",
        "steps": [
            {"type": "request", "requestId": "accounts.delete"},
            {"type": "message", "content": "hi", "personaId": "p1"},
        ],
    }
    root = tree(base_files([test]))

    problems = problems_of(root / "tests" / "t.json")

    by_path = {p.json_path: p.message for p in problems}
    assert set(by_path) == {"$.tests[0].personaId", "$.tests[0].steps[0].requestId"}
    assert by_path["$.tests[0].personaId"] == (
        "persona 'ghost' is not defined by the imported personas (personas/p); defined there: p1"
    )
    assert "request 'accounts.delete' is not defined" in by_path["$.tests[0].steps[0].requestId"]
    assert "accounts.get" in by_path["$.tests[0].steps[0].requestId"]


def test_persona_without_any_import(tree: Tree) -> None:
    root = tree(
        {
            "assistants/bot.json": base_files([])["assistants/bot.json"],
            "tests/t.json": {
                "assistantRef": "assistants/bot",
                "tests": [{**SIMPLE_TEST, "personaId": "p1"}],
            },
        }
    )
    problem = only(problems_of(root / "tests" / "t.json"))
    assert problem.json_path == "$.tests[0].personaId"
    assert "imports no personas (add imports.personas)" in problem.message


def test_test_whose_assistant_cannot_be_determined(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST])
    del files["tests/t.json"]["assistantRef"]
    root = tree(files)

    problem = only(problems_of(root / "tests" / "t.json"))

    assert problem.json_path == "$"
    assert "cannot tell which assistant" in problem.message
    assert "assistantRef" in problem.message


def test_duplicate_test_ids_in_one_file(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST, {**SIMPLE_TEST, "name": "again"}]))

    problem = only(problems_of(root / "tests" / "t.json"))

    assert problem.json_path == "$.tests[1].id"
    assert "duplicate test id 't1'" in problem.message and "$.tests[0]" in problem.message


def test_every_problem_in_every_file_is_reported_at_once(tree: Tree) -> None:
    files = base_files([{"id": "t1", "steps": [{"type": "nope"}]}])
    files["assistants/bot.json"] = {
        "id": "bot",
        "env": {"channel": "http_chat", "timeoutMs": "slow"},
    }
    files["personas/p.json"] = '{"personas": [}'
    root = tree(files)

    problems = problems_of(root / "tests" / "t.json")

    where = {(Path(p.file or "").name, p.json_path) for p in problems}
    assert ("t.json", "$.tests[0].steps[0].type") in where
    assert ("bot.json", "$.env.timeoutMs") in where
    assert ("p.json", None) in where  # the syntax error: a line, no JSON path
    assert len(problems) >= 3
    assert "t.json" in str(ConfigError(problems))


def test_structural_problem_in_yaml_carries_its_line(tree: Tree) -> None:
    text = "id: f\nassistantRef: assistants/bot\ntests:\n  - id: a\n    steps:\n      - type: includes\n        includes: risk\n"
    root = tree({**base_files([SIMPLE_TEST]), "tests/y.yaml": text})

    problem = only(problems_of(root / "tests" / "y.yaml"))

    assert problem.json_path == "$.tests[0].steps[0].includes"
    assert problem.line == 7


def test_structural_problem_in_json_carries_its_line_too(tree: Tree) -> None:
    root = tree(
        base_files([{"id": "t1", "maxTurns": 0, "steps": [{"type": "message", "content": "x"}]}])
    )
    problem = only(problems_of(root / "tests" / "t.json"))
    assert problem.json_path == "$.tests[0].maxTurns"
    assert problem.message == "maxTurns must be at least 1, got 0"
    text = (root / "tests" / "t.json").read_text().splitlines()
    assert problem.line is not None and '"maxTurns"' in text[problem.line - 1]


def test_wrong_file_kind_behind_a_reference(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST])
    files["tests/t.json"]["assistantRef"] = "personas/p"
    root = tree(files)
    problem = only(problems_of(root / "tests" / "t.json"))
    assert problem.file is not None and problem.file.endswith("p.json")
    assert problem.message == "expected an assistant file, but this is a personas file"


def test_validate_raises_the_same_errors(tree: Tree) -> None:
    root = tree(base_files([{"id": "t1", "steps": [{"type": "nope"}]}]))
    with pytest.raises(ConfigError) as info:
        validate_paths([root], env={})
    assert [p.json_path for p in info.value.problems] == ["$.tests[0].steps[0].type"]


def test_invalid_regex_and_threshold_range(tree: Tree) -> None:
    steps = [
        {"type": "message", "content": "x"},
        {"type": "regex", "pattern": "(unclosed"},
        {"type": "assistant_check", "rubric": "r", "threshold": 1.5},
    ]
    root = tree(base_files([{"id": "t1", "steps": steps}]))
    by_path = {p.json_path: p.message for p in problems_of(root / "tests" / "t.json")}
    assert by_path["$.tests[0].steps[1].pattern"].startswith("invalid regular expression")
    assert by_path["$.tests[0].steps[2].threshold"] == "threshold must be between 0 and 1, got 1.5"


def test_unknown_keys_are_warnings_with_a_suggestion(tree: Tree) -> None:
    steps = [
        {"type": "message", "content": "x"},
        {"type": "assistant_check", "rubric": "r", "treshold": 0.9},
    ]
    root = tree(base_files([{"id": "t1", "steps": steps, "max_turns": 3}]))

    plan = load_plan([root / "tests" / "t.json"], env={})

    messages = {w.json_path: w.message for w in plan.warnings}
    assert "did you mean 'threshold'?" in messages["$.tests[0].steps[1].treshold"]
    assert (
        "unknown key 'treshold' in assistant_check step (ignored)"
        in messages["$.tests[0].steps[1].treshold"]
    )
    assert "did you mean 'maxTurns'?" in messages["$.tests[0].max_turns"]
    assert (
        "Known keys: type, id, mode, rubric, threshold" in messages["$.tests[0].steps[1].treshold"]
    )
    assert plan.entries[0].test.steps[1].threshold == 0.75  # the typo did not silently apply


def test_lamdis_runs_extras_are_accepted_silently(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST], **{"$schema": "https://example.com/test-file.v2.json"})
    files["assistants/bot.json"] = {
        **files["assistants/bot.json"],
        "$schema": "x",
        "inputSchema": {},
        "outputSchema": {},
    }
    root = tree(files)
    plan = load_plan([root / "tests" / "t.json"], env={})
    assert plan.warnings == []


def test_missing_env_var_is_a_warning_not_an_error(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST])
    files["assistants/bot.json"]["env"]["headers"] = {"x-api-key": "${BOT_KEY}"}
    root = tree(files)

    plan = load_plan([root / "tests" / "t.json"], env={})
    warning = only(plan.warnings)
    assert warning.json_path == '$.env.headers["x-api-key"]'
    assert warning.message.startswith("environment variable BOT_KEY is not set")

    assert load_plan([root / "tests" / "t.json"], env={"BOT_KEY": "k"}).warnings == []


def test_missing_path_and_unknown_file(tree: Tree) -> None:
    root = tree({**base_files([SIMPLE_TEST]), "tests/odd.json": {"hello": "world"}})
    problems = problems_of(root / "tests" / "odd.json")
    assert "cannot tell what this file is" in only(problems).message
    problems = problems_of(root / "tests" / "missing.json", config_root=root)
    assert only(problems).message == "no such file or folder"


def test_running_an_assistant_file_is_refused(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST]))
    problem = only(problems_of(root / "assistants" / "bot.json"))
    assert problem.message.startswith("this is an assistant file; lamdis runs test files")


def test_a_config_error_keeps_the_warnings_that_explain_it(tree: Tree) -> None:
    typo = {"id": "a", "steps": [{"type": "assistant_check", "rubrik": "mentions risk"}]}
    root = tree(base_files([typo]))
    with pytest.raises(ConfigError) as info:
        load_plan([root / "tests" / "t.json"], env={})
    (problem,) = info.value.problems
    assert problem.json_path == "$.tests[0].steps[0].rubric"
    assert any("did you mean 'rubric'" in w.message for w in info.value.warnings)


def test_a_script_longer_than_max_turns_is_a_warning_naming_both(tree: Tree) -> None:
    def script(n: int) -> dict[str, object]:
        users = [{"role": "user", "content": f"m{i}"} for i in range(n)]
        return {"messages": [{"role": "system", "content": "be brief"}, *users]}

    tests = [
        {"id": "long", "objective": "o", "maxTurns": 2, "script": script(3)},
        {"id": "default", "objective": "o", "script": script(9)},  # maxTurns defaults to 8
        {"id": "fits", "objective": "o", "maxTurns": 3, "script": script(3)},
    ]
    root = tree(base_files(tests))

    report = validate_paths([root / "tests" / "t.json"], env={})

    messages = {w.json_path: w.message for w in report.warnings}
    assert set(messages) == {"$.tests[0].script.messages", "$.tests[1].script.messages"}
    assert messages["$.tests[0].script.messages"] == (
        "the script holds 3 user messages but maxTurns is 2: scripted messages count toward "
        "maxTurns, so only the first 2 are sent; raise maxTurns or shorten the script"
    )
    assert "holds 9 user messages but maxTurns is 8" in messages["$.tests[1].script.messages"]
