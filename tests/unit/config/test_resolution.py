"""Reference resolution: nearest folder first, extensions in order, never outside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lamdis_core.config.loader import default_config_root, load_plan, validate_paths
from lamdis_core.domain.errors import ConfigError

from tests.unit.config.conftest import ASSISTANT, SIMPLE_TEST, Tree, base_files, write_tree


def assistant(name: str) -> dict[str, object]:
    return {**ASSISTANT, "id": name}


def plan_assistant(root: Path, test_path: str) -> str:
    plan = load_plan([root / test_path], config_root=root, env={})
    return plan.entries[0].assistant.id


def test_the_referencing_files_folder_wins_over_ancestors_and_root(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST])
    test = files.pop("tests/t.json")
    root = tree(
        {
            **files,
            "tests/a/b/t.json": test,
            "tests/a/b/assistants/bot.json": assistant("nearest"),
            "tests/a/assistants/bot.json": assistant("parent"),
            "assistants/bot.json": assistant("root"),
        }
    )
    assert plan_assistant(root, "tests/a/b/t.json") == "nearest"
    (root / "tests/a/b/assistants/bot.json").unlink()
    assert plan_assistant(root, "tests/a/b/t.json") == "parent"
    (root / "tests/a/assistants/bot.json").unlink()
    assert plan_assistant(root, "tests/a/b/t.json") == "root"


def test_json_is_tried_before_yaml_and_yml(tree: Tree) -> None:
    root = tree(
        {
            **base_files([SIMPLE_TEST]),
            "assistants/bot.yaml": "id: from-yaml\nenv: {channel: http_chat, baseUrl: 'http://127.0.0.1:9'}\n",
            "assistants/bot.yml": "id: from-yml\nenv: {channel: http_chat, baseUrl: 'http://127.0.0.1:9'}\n",
        }
    )
    assert plan_assistant(root, "tests/t.json") == "bot"
    (root / "assistants/bot.json").unlink()
    assert plan_assistant(root, "tests/t.json") == "from-yaml"
    (root / "assistants/bot.yaml").unlink()
    assert plan_assistant(root, "tests/t.json") == "from-yml"


def test_a_reference_with_its_extension_is_taken_as_written(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST])
    files["tests/t.json"]["assistantRef"] = "assistants/bot.json"
    root = tree(files)
    assert plan_assistant(root, "tests/t.json") == "bot"


def test_dotdot_reference_leaving_the_root_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "configs", base_files([SIMPLE_TEST]))
    write_tree(tmp_path, {"secret/bot.json": ASSISTANT})
    (root / "tests/t.json").write_text(
        (root / "tests/t.json").read_text().replace('"assistants/bot"', '"../../secret/bot"')
    )

    with pytest.raises(ConfigError) as info:
        load_plan([root / "tests/t.json"], config_root=root, env={})

    (problem,) = info.value.problems
    assert problem.json_path == "$.assistantRef"
    assert "points outside the config root" in problem.message


def test_dotdot_reference_partly_outside_lists_tried_and_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "configs", base_files([SIMPLE_TEST]))
    write_tree(tmp_path, {"bot.json": ASSISTANT})
    (root / "tests/t.json").write_text(
        (root / "tests/t.json").read_text().replace('"assistants/bot"', '"../bot"')
    )

    with pytest.raises(ConfigError) as info:
        load_plan([root / "tests/t.json"], config_root=root, env={})

    (problem,) = info.value.problems
    assert "not found; tried: " in problem.message
    assert "refused (outside the config root): " + str(tmp_path / "bot.json") in problem.message


def test_symlink_leading_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "configs", base_files([SIMPLE_TEST]))
    write_tree(tmp_path, {"outside/bot.json": assistant("outside")})
    (root / "assistants/bot.json").unlink()
    os.symlink(tmp_path / "outside/bot.json", root / "assistants/bot.json")

    with pytest.raises(ConfigError) as info:
        load_plan([root / "tests/t.json"], config_root=root, env={})

    (problem,) = info.value.problems
    assert problem.json_path == "$.assistantRef"
    assert "outside the config root" in problem.message and "symlink" in problem.message


def test_symlinked_folder_leading_outside_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "configs", base_files([SIMPLE_TEST]))
    write_tree(tmp_path, {"elsewhere/bot.json": assistant("outside")})
    (root / "assistants/bot.json").unlink()
    (root / "assistants").rmdir()
    os.symlink(tmp_path / "elsewhere", root / "assistants")

    with pytest.raises(ConfigError) as info:
        load_plan([root / "tests/t.json"], config_root=root, env={})
    assert "outside the config root" in info.value.problems[0].message


def test_symlink_inside_the_root_is_followed(tree: Tree) -> None:
    root = tree(base_files([SIMPLE_TEST]))
    (root / "assistants/bot.json").rename(root / "assistants/real.json")
    os.symlink(root / "assistants/real.json", root / "assistants/bot.json")
    assert plan_assistant(root, "tests/t.json") == "bot"


def test_a_path_outside_the_config_root_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "configs", base_files([SIMPLE_TEST]))
    other = write_tree(tmp_path / "other", {"t.json": {"tests": [SIMPLE_TEST]}})
    with pytest.raises(ConfigError) as info:
        validate_paths([other / "t.json"], config_root=root, env={})
    assert "outside the config root" in info.value.problems[0].message


def test_a_folder_walk_refuses_symlinks_out_of_the_root(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "configs", base_files([SIMPLE_TEST]))
    write_tree(tmp_path, {"x.json": {"tests": [SIMPLE_TEST]}})
    os.symlink(tmp_path / "x.json", root / "tests" / "x.json")
    with pytest.raises(ConfigError) as info:
        validate_paths([root], env={})
    assert info.value.problems[0].message == "a symlink leading outside the config root; refused"


def test_default_config_root_is_the_nearest_folder_with_config_dirs(tree: Tree) -> None:
    files = base_files([SIMPLE_TEST])
    root = tree({**files, "tests/a/b/t.json": files["tests/t.json"]})
    assert default_config_root(root / "tests/a/b/t.json") == root
    assert default_config_root(root) == root
    assert default_config_root(root / "tests") == root


def test_each_file_is_parsed_once_per_load(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    import lamdis_core.config._files as files_module

    files = base_files([SIMPLE_TEST])
    root = tree({**files, "tests/u.json": {**files["tests/t.json"], "id": "file-2"}})
    calls: list[Path] = []
    real_parse = files_module.parse_file

    def counting(path: Path):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real_parse(path)

    monkeypatch.setattr(files_module, "parse_file", counting)
    plan = load_plan([root / "tests"], config_root=root, env={})

    assert len(plan.entries) == 2
    assert len(calls) == len(set(calls))
