"""The ``convo`` fixture of pytest-lamdis, run by ``pytester`` on a temporary project whose
Python conversations talk to the demo assistant on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.servers import free_port
from tests.plugin.test_pytest_lamdis import Demo

pytestmark = pytest.mark.e2e

BARE_INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
README = Path(__file__).parents[2] / "packages/pytest-lamdis/README.md"


def _readme_block(language: str) -> str:
    """The README's first ``language`` block after the convo fixture's heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Conversations in Python") :]
    # Fences pair up in order, so a closing fence is never taken for an opening one.
    for info, body in re.findall(r"^```(\w*)\n(.*?)^```$", section, re.DOTALL | re.MULTILINE):
        if info == language:
            return str(body)
    raise AssertionError(f"no {language!r} block in the README's convo section")


@pytest.fixture
def project(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    demo = Demo()
    url = demo.start()
    (pytester.path / "lamdis/assistants").mkdir(parents=True)
    (pytester.path / "lamdis/assistants/demo.json").write_text(
        json.dumps({"id": "demo", "env": {"channel": "http_chat", "baseUrl": url}})
    )
    pytester.makeini(_readme_block("ini"))
    try:
        yield pytester
    finally:
        demo.stop()


def test_the_readme_conversation_passes(project: pytest.Pytester) -> None:
    (project.path / "test_demo.py").write_text(_readme_block("python"))
    command = _readme_block("").split()
    assert command[0] == "pytest"
    project.runpytest_subprocess(*command[1:]).assert_outcomes(passed=1)


def test_a_failing_includes_shows_the_check_its_reason_and_the_last_exchange(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_promise="""
        async def test_promises(convo):
            await convo.user("What is diversification?")
            convo.includes("guaranteed")
            raise RuntimeError("not reached: a failing check raises")
        """
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: includes*missing from the last reply: 'guaranteed'*",
            "*last exchange:*",
            "*user: What is diversification?*",
            "*assistant: *diversif*",
        ]
    )
    assert "not reached" not in result.stdout.str()


def test_judge_checks_pass_fail_and_return_the_check(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_judged="""
        import pytest

        async def test_greeting_is_judged(convo):
            await convo.user("hello")
            check = await convo.judge("greets the user", threshold=0.5)
            assert check.passed and check.type == "assistant_check"
            assert check.details["score"] >= 0.5
            assert [c.type for c in convo.checks] == ["assistant_check"]

        async def test_missing_content_fails_the_judge(convo):
            await convo.user("hello")
            await convo.judge("quotes the refund policy deadline")

        async def test_an_unassessable_rubric_skips(convo):
            await convo.user("hello")
            await convo.judge("is polite")
        """
    )
    result = project.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*AssertionError: *judge*", "*last exchange:*", "*user: hello*", "*needs an LLM*"]
    )


def test_without_an_assistant_the_fixture_says_how_to_give_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(BARE_INI)
    pytester.makepyfile(
        """
        async def test_orphan(convo):
            await convo.user("hello")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lamdis_assistant*--lamdis-assistant*"])


def test_the_command_line_option_names_the_assistant(project: pytest.Pytester) -> None:
    project.makeini(BARE_INI)
    project.makepyfile(
        test_cli="""
        async def test_hello(convo):
            reply = await convo.user("hello")
            assert "Hello" in reply.text
            assert convo.transcript[-1].content == reply.text
        """
    )
    project.runpytest_subprocess(
        "--lamdis-assistant", "lamdis/assistants/demo.json"
    ).assert_outcomes(passed=1)


def test_a_judge_that_cannot_judge_fails_the_test(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The OpenAI judge pointed at a loopback port nobody listens on: an error, never a pass.
    monkeypatch.setenv("JUDGE_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    project.makepyfile(
        test_unjudged="""
        async def test_greeting(convo):
            await convo.user("hello")
            await convo.judge("greets the user")
        """
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*AssertionError: assistant_check/judge: *cannot reach OpenAI*", "*user: hello*"]
    )
