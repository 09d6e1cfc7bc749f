"""Channel options in assistant files: what loads, and bad input reported with file, line,
JSON path and what was expected, before anything runs."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.config.loader import load_plan, validate_paths
from lamdis_core.domain.errors import ConfigError, ConfigProblem
from lamdis_core.jsonpath import JsonPathError, compile_path
from lamdis_core.template import TemplateError, compile_template, render

CHANNELS = Path(__file__).resolve().parents[3] / "examples" / "channels"

TEST_FILE = """\
id: t
assistantRef: assistants/bot
tests:
  - id: one
    steps:
      - {type: message, content: hi}
"""


def _problems(root: Path, assistant: str) -> list[ConfigProblem]:
    (root / "assistants").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "assistants" / "bot.yaml").write_text(assistant)
    (root / "tests" / "t.yaml").write_text(TEST_FILE)
    with pytest.raises(ConfigError) as caught:
        validate_paths([root], env={})
    with pytest.raises(ConfigError):
        load_plan([root / "tests" / "t.yaml"], env={})  # lamdis run stops before any turn
    return list(caught.value.problems)


BAD = """\
id: assistants/bot
env: {channel: http_chat, baseUrl: "http://127.0.0.1:9"}
request:
  path: /chat
  bodyFromat: json
  body:
    text: "{{mesage}}"
response:
  reply: "$.output[?(@.x)]"
"""


def test_unknown_placeholder_option_and_bad_jsonpath_are_errors_with_lines(tmp_path: Path) -> None:
    problems = {p.json_path: p for p in _problems(tmp_path, BAD)}
    option = problems["$.request.bodyFromat"]
    assert option.line == 5 and "did you mean 'bodyFormat'" in option.message
    placeholder = problems["$.request.body.text"]
    assert placeholder.line == 7 and "unknown placeholder {{mesage}}" in placeholder.message
    assert "message" in placeholder.message  # what was expected
    path = problems["$.response.reply"]
    assert path.line == 9 and "filters are not supported" in path.message
    assert all(p.file and p.file.endswith("bot.yaml") for p in problems.values())


def test_stream_options_on_the_wrong_channel_are_errors(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        'id: assistants/bot\nenv: {channel: http_chat, baseUrl: "http://x"}\n'
        "sse: {format: openai}\n",
    )
    assert [p.json_path for p in problems] == ["$.sse"]
    assert "env.channel" in problems[0].message


def test_a_keep_needs_exactly_one_source(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        'id: assistants/bot\nenv: {channel: http_chat, baseUrl: "http://x"}\n'
        "response:\n  keep:\n    id: {path: $.id, header: X-Id}\n",
    )
    assert [p.json_path for p in problems] == ["$.response.keep.id"]


def test_the_channel_examples_validate() -> None:
    report = validate_paths([CHANNELS], env={"CHANNEL_BOTS_URL": "http://127.0.0.1:1"})
    assert not report.warnings


@pytest.mark.parametrize(
    ("path", "document", "found"),
    [
        ("$.a.b", {"a": {"b": 1}}, [1]),
        ("a.b", {"a": {"b": 1}}, [1]),
        ("$['a b'][0]", {"a b": [5, 6]}, [5]),
        ("$.a[-1]", {"a": [5, 6]}, [6]),
        ("$.a[*].x", {"a": [{"x": 1}, {"y": 2}, {"x": 3}]}, [1, 3]),
        ("$..id", {"a": {"id": 1, "b": [{"id": 2}]}}, [1, 2]),
        ("$", {"a": 1}, [{"a": 1}]),
        ("$.missing", {"a": 1}, []),
        ("$.a", {"a": None}, [None]),
        ("$.a.b", {"a": None}, []),
        ("$.a.b", {"a": MappingProxyType({"b": 2})}, [2]),
        ("$.a[0].b", {"a": [{"c": 1}]}, []),
    ],
)
def test_jsonpath_subset_finds(path: str, document: object, found: list[object]) -> None:
    assert compile_path(path).find(document) == found


@pytest.mark.parametrize("path", ["", "$.", "$[", "$['a'", "$.a[?(@.b)]", "$.a[1:2]", "$ a"])
def test_jsonpath_outside_the_subset_is_refused_with_a_position(path: str) -> None:
    with pytest.raises(JsonPathError, match="expected"):
        compile_path(path)


@given(st.text(max_size=30))
def test_any_text_compiles_or_is_refused_with_a_position_inside_it(text: str) -> None:
    problem: JsonPathError | None = None
    try:
        compiled = compile_path(text)
    except JsonPathError as exc:
        problem = exc
    if problem is not None:
        assert 0 <= problem.position <= len(text)
    else:
        assert compiled.text == text.strip()
        assert compiled.find({}) in ([], [{}])


def test_a_template_string_that_is_one_placeholder_keeps_the_value_type() -> None:
    values = {"messages": [{"role": "user", "content": "hi"}], "turn": 2, "session": {"id": 7}}
    assert render({"m": "{{messages}}", "t": "{{ turn }}", "s": "id-{{session.id}}"}, values) == {
        "m": [{"role": "user", "content": "hi"}],
        "t": 2,
        "s": "id-7",
    }


def test_text_filled_into_a_template_is_not_scanned_again() -> None:
    assert render("say {{message}}", {"message": "{{turn}} ${HOME}", "turn": 3}) == (
        "say {{turn}} ${HOME}"
    )


def test_a_compiled_template_fills_each_turn_anew() -> None:
    fill = compile_template(
        {"q": "{{var.a}}-{{ message }}!{{turn}}", "l": ["{{var.a}}", 1, None], "k": "plain"}
    )
    first = fill({"message": "hi {{turn}}", "turn": 1, "var": {"a": {"b": 2}}})
    assert first == {"q": '{"b":2}-hi {{turn}}!1', "l": [{"b": 2}, 1, None], "k": "plain"}
    first["l"].append("changed")
    second = fill({"message": "yo", "turn": 2, "var": {"a": True}})
    assert second == {"q": "true-yo!2", "l": [True, 1, None], "k": "plain"}
    with pytest.raises(TemplateError, match=r"\{\{var.a\}\} has no value \(known var values: z\)"):
        fill({"message": "m", "turn": 3, "var": {"z": 1}})


def test_a_session_value_never_kept_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="known session values: none"):
        render("{{session.id}}", {"session": {}})


def test_a_session_value_no_keep_stores_is_an_error_at_the_reading_string(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        'id: assistants/bot\nenv: {channel: http_chat, baseUrl: "http://x"}\n'
        "session:\n  start:\n    request: {path: /start}\n    keep:\n      sid: {header: X-Id}\n"
        "request:\n  path: /chat\n  headers: {X-Session: '{{session.sessionId}}'}\n",
    )
    (problem,) = problems
    assert problem.json_path == '$.request.headers["X-Session"]'
    assert problem.line == 10
    assert "{{session.sessionId}} is never kept (kept: sid)" in problem.message
