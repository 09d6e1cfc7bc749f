"""Config errors that once had no line (or the wrong one) point at the place to fix
(issue 16 item 11): NaN, nesting too deep, alias bombs, non-UTF-8 bytes, duplicated keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from lamdis_core.config.loader import load_plan
from lamdis_core.domain.errors import ConfigError, ConfigProblem

from tests.unit.config.conftest import SIMPLE_TEST, Tree, base_files


def problem_of(path: Path) -> ConfigProblem:
    with pytest.raises(ConfigError) as info:
        load_plan([path], env={})
    problems = list(info.value.problems)
    assert len(problems) == 1, problems
    return problems[0]


def test_nan_in_json_names_its_line_and_column(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST]))
    path = root / "tests" / "t.json"
    path.write_text(
        '{\n  "id": "NaN inside a string is fine",\n  "tests": [\n    {"x": NaN}\n  ]\n}\n'
    )
    problem = problem_of(path)
    assert problem.line == 4
    assert "NaN is not valid JSON" in problem.message and "line 4, column 11" in problem.message


def test_json_nested_too_deep_names_the_line_where_it_goes_too_deep(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST]))
    path = root / "tests" / "t.json"
    path.write_text('{\n  "id": "f",\n  "tests": [\n' + "[" * 5000 + "]" * 5000 + "\n  ]\n}\n")
    problem = problem_of(path)
    assert problem.line == 4
    assert "nested too deeply (more than 64 levels from line 4" in problem.message


def test_a_yaml_alias_bomb_names_the_line_of_the_value_that_explodes(tree: Tree) -> None:
    lines = ["id: f", 'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    root = tree(base_files([SIMPLE_TEST]))
    path = root / "tests" / "t.yaml"
    path.write_text("\n".join(lines) + "\n")
    problem = problem_of(path)
    # a5 expands to 10^6 + ... values: the first one past the limit, on line 7.
    assert problem.line == 7
    assert "expands to more than 1,000,000 values" in problem.message
    assert "the value at line 7" in problem.message


def test_a_recursive_yaml_alias_names_its_line(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST]))
    path = root / "tests" / "t.yaml"
    path.write_text("id: f\n\nloop: &l\n  self: *l\n")
    problem = problem_of(path)
    assert problem.line == 3 and "contains itself" in problem.message


def test_a_file_that_is_not_utf8_names_the_byte_line_and_column(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST]))
    path = root / "tests" / "t.yaml"
    path.write_bytes("id: f\ntests:\n  - id: t\n    name: caf\xe9\n".encode("latin-1"))
    problem = problem_of(path)
    assert problem.line == 4
    assert "not UTF-8" in problem.message and "byte 0xE9 at line 4, column 14" in problem.message


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        (
            "t.yaml",
            "id: f\ntests:\n  - id: t1\n    maxTurns: 3\n    steps:\n"
            "      - type: message\n        content: hi\n    maxTurns: lots\n",
            8,
        ),
        (
            "t.json",
            '{\n "id": "f",\n "tests": [\n  {\n   "id": "t1",\n   "maxTurns": 3,\n'
            '   "steps": [{"type": "message", "content": "hi"}],\n   "maxTurns": "lots"\n'
            "  }\n ]\n}\n",
            8,
        ),
    ],
)
def test_a_duplicated_key_is_reported_where_the_winning_value_is(
    tree: Tree, name: str, text: str, line: int
) -> None:
    """The last occurrence of a key wins, so both the error about its value and the
    duplicate warning point at that line (the error used to point at the first one)."""
    root = tree(base_files([SIMPLE_TEST]))
    path = root / "tests" / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_plan([path], env={})
    errors = [p for p in info.value.problems if p.json_path == "$.tests[0].maxTurns"]
    assert [p.line for p in errors] == [line], info.value.problems
    duplicate = [w for w in info.value.warnings if "duplicate key 'maxTurns'" in w.message]
    assert [w.line for w in duplicate] == [line]
