"""The Judge port: scoring, simulating the user and extracting values."""

from __future__ import annotations

from typing import Literal, Protocol

import attrs

from lamdis_core.domain.base import Value
from lamdis_core.domain.results import Usage

NEEDS_LLM = "needs an LLM judge"
"""The reason a rubric the judge could not assess carries (see :attr:`Verdict.unassessed`)."""


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ConversationTurn(Value):
    role: str
    content: str


@attrs.frozen(kw_only=True, repr=False, eq=False)
class JudgeRequest(Value):
    """Score ``subject`` (the last reply or the whole transcript) against ``rubric``.

    With ``propose_next`` the judge also proposes the next user message (iterative mode).
    """

    rubric: str
    threshold: float
    transcript: list[ConversationTurn]
    scope: Literal["last", "transcript"] = "last"
    persona: str | None = None
    objective: str | None = None
    propose_next: bool = False
    org_id: str | None = None
    sample: int = 0  # which of several samples this is; a caching judge keeps one answer each

    @property
    def last_assistant(self) -> str:
        for turn in reversed(self.transcript):
            if turn.role == "assistant":
                return turn.content
        return ""


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Verdict(Value):
    """A judge's verdict. ``passed`` is ``score >= threshold`` unless the verdict is
    unassessed; ``model_pass`` is what the model itself said, kept for audit.

    ``unassessed`` is set, with the reason, when the judge could not assess the rubric at all
    (the offline judge and "polite"): such a verdict never passes and its check is
    ``skipped``, not failed. ``should_continue`` is the model's own "keep the conversation
    going" flag in iterative mode (lamdis-runs' ``shouldContinue``); ``False`` ends it.
    """

    score: float
    threshold: float
    passed: bool
    reasoning: str
    model: str
    model_pass: bool | None = None
    next_message: str | None = None
    usage: Usage = attrs.Factory(Usage)
    cached: bool = False
    unassessed: str | None = None
    should_continue: bool | None = None
    samples: tuple[float, ...] = ()  # every sample's score when several were asked for


@attrs.frozen(kw_only=True, repr=False, eq=False)
class OpeningRequest(Value):
    objective: str
    persona: str | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ExtractRequest(Value):
    variable_name: str
    description: str
    transcript: list[ConversationTurn]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Extraction(Value):
    """``found`` is false when the conversation holds no such value (``value`` is then None)."""

    found: bool
    value: object
    reasoning: str
    model: str
    usage: Usage = attrs.Factory(Usage)


class Judge(Protocol):
    """Scores conversations, plays the user, and extracts values.

    Every method raises :class:`~lamdis_core.domain.errors.JudgeError` when it cannot give an
    answer (service down, output it cannot parse after its repair attempt). It never returns a
    made-up verdict: a judge that could not judge is an ``error``, not a pass. A judge that
    ran but whose method cannot assess a rubric (a keyword heuristic asked about tone) returns
    a verdict with ``unassessed`` set and ``passed`` false.

    ``name`` identifies the judge and model for reports (``offline``, ``openai:gpt-4o-mini``);
    ``offline`` is true for heuristic judges, so reports can warn that no LLM was used.
    """

    name: str
    offline: bool

    async def evaluate(self, request: JudgeRequest) -> Verdict: ...

    async def open_conversation(self, request: OpeningRequest) -> tuple[str, Usage]: ...

    async def extract(self, request: ExtractRequest) -> Extraction: ...

    async def aclose(self) -> None: ...
