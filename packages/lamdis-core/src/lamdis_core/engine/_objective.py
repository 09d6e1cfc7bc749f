"""The ``user_objective`` step: a goal-driven conversation inside one step.

The judge opens toward the objective; after every turn the attached checks run (a step
without any judges the objective itself over the transcript); the round after the last turn
decides the step, earlier rounds are kept as ``info``. The judge's proposal
becomes the next user message. When it proposes nothing, or only a message already sent in
this step, a neutral follow-up nobody has sent yet is used instead; when those run out the
loop ends. ``exitOnPass`` (after ``minTurns``) and ``exitOnFail`` end it early.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamdis_core.domain import config as c
from lamdis_core.domain.results import Check
from lamdis_core.ports.judge import OpeningRequest
from lamdis_core.sanitize import clean_text

if TYPE_CHECKING:
    from lamdis_core.engine._test_run import TestExecution

NEUTRAL_PROMPTS = (
    "Could you walk me through that step by step?",
    "Can you give me a concrete example?",
    "Is there anything I should watch out for?",
    "Where can I read more about this?",
    "What should I do next?",
)
"""Follow-ups sent when the judge proposes no new message (each at most once per step)."""


def _objective_check(step: c.UserObjectiveStep) -> c.AssistantCheckStep:
    return c.AssistantCheckStep(rubric=step.goal, scope="transcript", name=step.name or "objective")


async def run_user_objective(run: TestExecution, index: int, step: c.UserObjectiveStep) -> None:
    """Converse toward ``step``'s objective; every check result lands in ``run.checks``."""
    goal = step.goal
    limit = min(step.max_turns or run.test.max_turns, run.test.max_turns)
    checks = step.attached_checks or [_objective_check(step)]
    persona_id = step.persona_id or run.persona_id
    opening, usage = await run._judge_call(
        run.judge.open_conversation(
            OpeningRequest(objective=goal, persona=run.persona_text(persona_id))
        ),
        "open the conversation",
    )
    run.usage.add(usage)
    message = clean_text(opening)
    sent: set[str] = set()
    turns = 0
    outcome = "maxTurns reached"
    last_reply = None
    latest: list[Check] = []
    while True:
        run._check_stop()
        sent.add(_norm(message))
        last_reply = await run.turn(
            message,
            persona_id,
            template=False,
            inputs=step.assistant_input_mappings,
            reply_path=step.response_field_path,
        )
        turns += 1
        more = step.iterative_conversation and turns < limit
        proposal: str | None = None
        stop = False
        # Only the last round of checks decides the step: a check that fails at turn 1 and
        # passes at turn 3 has reached its objective. Earlier rounds stay visible as info.
        for earlier in latest:
            earlier.severity = "info"
            earlier.details["superseded"] = True
        latest = []
        for number, attached in enumerate(checks):
            check = await run.assistant_check(attached, propose_next=more)
            if check is None:  # the judge failed; its error check is recorded
                stop, outcome = True, "the judge could not evaluate a check"
                break
            check.details.update({"step": index, "turn": turns, "check": number})
            check.details.setdefault("objective", goal)
            run.checks.append(check)
            latest.append(check)
            proposal = proposal or run.proposed
            if check.passed and step.stops_on_pass and turns >= step.min_turns:
                stop, outcome = True, f"a check passed at turn {turns}"
                break
            if not check.passed and step.exit_on_fail:
                stop, outcome = True, f"a check failed at turn {turns} (exitOnFail)"
                break
        if stop or not more:
            break
        following = _next_message(proposal, sent)
        if following is None:
            outcome = "no new follow-up to send"
            break
        message = following
    run.log.append(f"user_objective {step.name or goal!r}: {turns} turns, {outcome}")
    key = step.name or step.id
    if key:
        passed = not any(ch.fails_test or ch.skips_test for ch in latest)
        run.steps[key] = {
            "output": last_reply.raw if last_reply and last_reply.raw is not None else None,
            "status": "passed" if passed else "failed",
            "turns": turns,
            "objective": goal,
        }


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _next_message(proposal: str | None, sent: set[str]) -> str | None:
    if proposal and proposal.strip() and _norm(proposal) not in sent:
        return clean_text(proposal)
    for prompt in NEUTRAL_PROMPTS:
        if _norm(prompt) not in sent:
            return prompt
    return None
