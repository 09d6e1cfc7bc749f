"""No false passes: a rubric the judge cannot assess is ``skipped`` ("needs an LLM judge"),
never passed; every report counts such checks; ``require_llm_judge`` fails them. The keyword
heuristic recognises common conversational acts by their usual wording. A passing iterative
verdict needs no next message."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import attrs
import pytest
from lamdis_core.domain.results import ItemStatus, RunStatus
from lamdis_core.llm import LLMJudge
from lamdis_core.llm._parse import parse_verdict
from lamdis_core.offline_judge import NEEDS_LLM, OfflineJudge, read_rubric
from lamdis_core.ports.judge import ConversationTurn, JudgeRequest
from lamdis_core.reports import build_summary, render_junit, render_markdown
from lamdis_core.testing.fakes import ScriptedJudge

from tests.unit.engine.test_engine import engine_with, make_test, plan_of


def judged(rubric: str, reply: str, threshold: float = 0.75) -> JudgeRequest:
    return JudgeRequest(
        rubric=rubric,
        threshold=threshold,
        transcript=[
            ConversationTurn(role="user", content="Hi"),
            ConversationTurn(role="assistant", content=reply),
        ],
    )


async def test_greeting_and_offer_of_help_pass_without_the_rubrics_own_words() -> None:
    verdict = await OfflineJudge().evaluate(
        judged("Greets the user and offers help", "Hello! How can I help you today?")
    )
    assert verdict.passed and verdict.unassessed is None
    assert verdict.score == 1.0


async def test_greeting_rubric_fails_a_reply_that_does_not_greet() -> None:
    verdict = await OfflineJudge().evaluate(
        judged("Greets the user and offers help", "Your balance is 42 dollars.")
    )
    assert not verdict.passed and verdict.unassessed is None
    assert "a greeting" in verdict.reasoning and "an offer of help" in verdict.reasoning


@pytest.mark.parametrize(
    "rubric", ["polite", "Be polite.", "The tone is friendly and empathetic.", "Responds well."]
)
async def test_a_rubric_with_nothing_a_keyword_can_show_is_unassessed(rubric: str) -> None:
    verdict = await OfflineJudge().evaluate(judged(rubric, "Hello! How can I help you today?"))
    assert not verdict.passed
    assert verdict.unassessed is not None and verdict.unassessed.startswith(NEEDS_LLM)


async def test_a_judgement_word_beside_matching_terms_is_unassessed_not_passed() -> None:
    verdict = await OfflineJudge().evaluate(
        judged("Politely mentions the withdrawal fee.", "The withdrawal fee is 2%.")
    )
    assert not verdict.passed
    assert verdict.unassessed is not None and "'politely'" in verdict.unassessed


async def test_a_judgement_word_does_not_save_missing_terms_from_failing() -> None:
    verdict = await OfflineJudge().evaluate(
        judged("Politely mentions the withdrawal fee.", "Good morning.")
    )
    assert not verdict.passed and verdict.unassessed is None
    assert "missing: withdrawal, fee" in verdict.reasoning


async def test_what_the_reply_must_not_say_is_not_counted_as_a_term() -> None:
    """ "avoids legal advice" is not satisfied by a reply that gives legal advice."""
    reading = read_rubric("Explains the refund policy and avoids giving legal advice.")
    assert reading.absences == ("giving legal advice",)
    assert "legal" not in reading.terms and "refund" in reading.terms
    verdict = await OfflineJudge().evaluate(
        judged(
            "Explains the refund policy and avoids giving legal advice.",
            "Our refund policy: 30 days. My legal advice: sue them.",
        )
    )
    assert not verdict.passed and verdict.unassessed is not None


def polite_test(*extra_steps: dict[str, Any]) -> Any:
    return make_test(
        steps=[
            {"type": "message", "content": "Hello"},
            {"type": "assistant_check", "name": "manners", "rubric": "polite"},
            *extra_steps,
        ]
    )


async def test_an_unassessable_check_skips_the_test_when_nothing_else_failed() -> None:
    engine, _, _ = engine_with(judge=OfflineJudge())
    result = await engine.run(plan_of(polite_test()))
    (item,) = result.items
    assert item.status is ItemStatus.SKIPPED
    (check,) = item.assertions
    assert check.skipped and not check.passed and not check.fails_test
    assert check.details["needsLlmJudge"] is True
    assert item.error is not None and "manners: needs an LLM judge" in item.error
    assert item.judge_score is None  # an unassessed verdict is not a score
    assert result.status is RunStatus.PARTIAL
    assert result.totals.skipped == 1 and result.judge.unassessed == 1


async def test_another_failing_check_still_fails_the_test() -> None:
    engine, _, _ = engine_with(judge=OfflineJudge())
    test = polite_test({"type": "includes", "includes": ["not in the reply"]})
    (item,) = (await engine.run(plan_of(test))).items
    assert item.status is ItemStatus.FAILED


async def test_require_llm_judge_turns_the_skip_into_a_failure() -> None:
    engine, _, _ = engine_with(judge=OfflineJudge())
    engine.require_llm_judge = True
    result = await engine.run(plan_of(polite_test()))
    (item,) = result.items
    assert item.status is ItemStatus.FAILED
    (check,) = item.assertions
    assert check.fails_test and not check.skipped
    assert "--require-llm-judge" in check.details["reasoning"]
    assert result.status is RunStatus.FAILED


async def test_every_report_counts_the_unassessed_checks() -> None:
    engine, _, _ = engine_with(judge=OfflineJudge())
    result = await engine.run(plan_of(polite_test()))
    summary = build_summary(result)
    assert summary["judge"]["unassessed"] == 1
    assert any("1 rubric check skipped: needs an LLM judge" in w for w in summary["warnings"])
    assert summary["tests"][0]["status"] == "skipped"
    assert summary["items"][0]["assertions"][0]["skipped"] is True
    junit = ET.fromstring(render_junit(result))
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert props["unassessed-checks"] == "1"
    skipped = junit.find(".//testcase/skipped")
    assert skipped is not None and NEEDS_LLM in (skipped.get("message") or "")
    markdown = render_markdown(result)
    assert "1 rubric check skipped: needs an LLM judge" in markdown
    assert "skipped: manners: needs an LLM judge" in markdown


async def test_an_iterative_test_with_an_unassessable_rubric_stops_at_min_turns() -> None:
    engine, factory, _ = engine_with(judge=OfflineJudge())
    test = make_test(
        objective="Have a chat",
        judgeConfig={"rubric": "Be polite", "threshold": 0.5},
        maxTurns=6,
        minTurns=2,
    )
    (item,) = (await engine.run(plan_of(test))).items
    assert item.status is ItemStatus.SKIPPED
    assert len(factory.targets["bot"].requests) == 2


async def test_a_passing_iterative_verdict_without_next_message_ends_as_passed() -> None:
    """The model passes on turn 1 of minTurns 2 and proposes nothing: passed, not an error."""
    engine, factory, _ = engine_with(judge=ScriptedJudge([0.9], next_messages=[None]))
    test = make_test(
        script={"messages": [{"role": "user", "content": "hi"}]},
        judgeConfig={"rubric": "greets", "threshold": 0.5},
        minTurns=2,
        maxTurns=4,
    )
    (item,) = (await engine.run(plan_of(test))).items
    assert item.status is ItemStatus.PASSED
    assert len(factory.targets["bot"].requests) == 1


def test_a_passing_model_verdict_needs_no_next_message() -> None:
    request = JudgeRequest(rubric="r", threshold=0.7, transcript=[], propose_next=True)
    verdict = parse_verdict('{"score": 0.9, "reasoning": "fine"}', request, model="m")
    assert verdict.passed and verdict.next_message is None


def test_lamdis_runs_names_next_user_and_should_continue_are_read() -> None:
    request = JudgeRequest(rubric="r", threshold=0.7, transcript=[], propose_next=True)
    text = json.dumps({"score": 0.2, "reasoning": "not yet", "nextUser": "And fees?"})
    assert parse_verdict(text, request, model="m").next_message == "And fees?"
    stop = json.dumps({"score": 0.2, "reasoning": "hopeless", "shouldContinue": False})
    verdict = parse_verdict(stop, request, model="m")
    assert verdict.should_continue is False and verdict.next_message is None


async def test_should_continue_false_ends_the_conversation(openai_server: Any) -> None:
    """Through the real SDK and the wire-format fake: the model fails the rubric and says to
    stop (lamdis-runs' names), so the conversation ends there as a failure, not an error."""
    from lamdis_judge_openai import create_judge

    from tests.fakes._scripted import answer

    openai_server.script(
        answer(json.dumps({"score": 0.1, "reasoning": "refuses", "shouldContinue": False}))
    )
    judge = create_judge(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE": openai_server.api_base,
            "LAMDIS_JUDGE_MAX_RETRIES": "0",
        }
    )
    assert isinstance(judge, LLMJudge)
    engine, factory, _ = engine_with(judge=judge)
    test = make_test(
        script={"messages": [{"role": "user", "content": "hi"}]},
        judgeConfig={"rubric": "greets", "threshold": 0.5},
        maxTurns=4,
    )
    try:
        (item,) = (await engine.run(plan_of(test))).items
    finally:
        await judge.aclose()
    assert item.status is ItemStatus.FAILED
    assert len(factory.targets["bot"].requests) == 1
    assert "judge ended the conversation after turn 1" in item.artifacts.log


async def test_an_assistant_message_step_is_context_in_the_transcript_not_a_user_turn() -> None:
    engine, factory, _ = engine_with()
    test = make_test(
        steps=[
            {"type": "message", "content": "What is my balance?"},
            {"type": "message", "role": "assistant", "content": "Your balance is 42 dollars."},
            {"type": "message", "content": "And in euros?"},
            {"type": "includes", "scope": "transcript", "includes": ["42 dollars"]},
        ]
    )
    (item,) = (await engine.run(plan_of(test))).items
    requests = factory.targets["bot"].requests
    assert [r.message for r in requests] == ["What is my balance?", "And in euros?"]
    assert requests[1].transcript[-1] == {
        "role": "assistant",
        "content": "Your balance is 42 dollars.",
    }
    assert [t.role for t in item.transcript] == [
        "user",
        "assistant",
        "assistant",
        "user",
        "assistant",
    ]
    # The scripted line is context: a check of the assistant's replies does not find it there.
    assert item.status is ItemStatus.FAILED


async def test_script_messages_of_a_stepped_test_apply_in_the_files_order() -> None:
    """An assistant line written after the first user message is context for the second turn:
    the first turn must not see it, and the transcript keeps the file's order."""
    engine, factory, _ = engine_with()
    test = make_test(
        script={
            "messages": [
                {"role": "system", "content": "You are a bank assistant."},
                {"role": "user", "content": "What is my balance?"},
                {"role": "assistant", "content": "Your balance is 42 dollars."},
                {"role": "user", "content": "And in euros?"},
            ]
        },
        steps=[{"type": "includes", "scope": "last", "includes": ["euros"]}],
    )
    (item,) = (await engine.run(plan_of(test))).items
    requests = factory.targets["bot"].requests
    assert [r.message for r in requests] == ["What is my balance?", "And in euros?"]
    assert all(t["content"] != "Your balance is 42 dollars." for t in requests[0].transcript)
    assert requests[1].transcript[-1] == {
        "role": "assistant",
        "content": "Your balance is 42 dollars.",
    }
    assert [(t.role, t.content) for t in item.transcript] == [
        ("system", "You are a bank assistant."),
        ("user", "What is my balance?"),
        ("assistant", "You said: What is my balance?. Investing involves risk."),
        ("assistant", "Your balance is 42 dollars."),
        ("user", "And in euros?"),
        ("assistant", "You said: And in euros?. Investing involves risk."),
    ]
    assert item.status is ItemStatus.PASSED


async def test_a_plan_run_as_it_comes_names_the_real_unset_variable_before_any_turn() -> None:
    """The hosted worker runs plans without lamdis run's exit-2 check: the item is an error
    naming DEV1_BOT_API_KEY (what the pattern auth's BOT_API_KEY stands for), and no turn is
    sent."""
    from lamdis_core.domain import config as c

    from tests.unit.engine.test_engine import ASSISTANT

    auth = c.PatternAuth(
        id="auth/dev1",
        env={"BOT_API_KEY": "${DEV1_BOT_API_KEY}"},
        pattern=c.AuthPattern(template="Bearer ${BOT_API_KEY}"),
    )
    assistant = attrs.evolve(
        ASSISTANT,
        env=attrs.evolve(ASSISTANT.env, headers={"x-api-key": "${BOT_API_KEY}"}),
        auth_ref="auth/dev1",
    )
    engine, factory, _ = engine_with()
    test = make_test(steps=[{"type": "message", "content": "hi"}])
    (item,) = (
        await engine.run(plan_of(test, assistant=assistant, auths={"auth/dev1": auth}))
    ).items
    assert item.status is ItemStatus.ERROR
    assert item.error == "environment variable DEV1_BOT_API_KEY is not set (assistant bot needs it)"
    assert not factory.targets
