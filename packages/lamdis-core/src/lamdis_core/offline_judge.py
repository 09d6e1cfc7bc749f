"""The offline judge: a deterministic keyword heuristic used when no LLM is configured.

It cannot understand meaning. It scores a rubric by the share of the rubric's content words
that appear in the text judged, and every verdict's reasoning says so; reports warn that
semantic checks ran without an LLM. It lets ``make demo``, CI dry runs and the test suite
run with no network and no key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from lamdis_core.domain.results import Usage
from lamdis_core.ports.judge import (
    Extraction,
    ExtractRequest,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)

OFFLINE_NOTICE = "offline heuristic judge (no LLM): meaning was not assessed"

_WORD = re.compile(r"[a-z][a-z'-]*")
_STOPWORDS = frozenset(
    """a about above after again against all also an and any are as at be because been before
    being below between both but by can could did do does doing down during each either few for
    from further had has have having he her here hers him his how i if in into is it its itself
    just least less like may me might more most must my no nor not of off on once only or other
    our out over own per same she should so some such than that the their them then there these
    they this those through to too under until up upon very was we were what when where which
    while who whom why will with within without would you your yours whether every eg ie etc
    one two well way make makes made give gives given provide provides provided include includes
    including""".split()
)
# Words that describe the judging rather than the content being judged.
_META_WORDS = frozenset(
    """assistant assistants bot chatbot agent response responses reply replies answer answers
    answered user users customer customers explain explains explained explaining clearly clear
    state states stated stating mention mentions mentioned mentioning avoid avoids avoided
    avoiding ensure ensures ensuring appropriate appropriately properly correct correctly
    acknowledge acknowledges level high low message messages conversation tone politely polite
    helpful helpfully""".split()
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


def _key(word: str) -> str:
    """A crude stem: drop one common suffix, then keep at most six letters."""
    word = word.strip("'-")
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix) and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return word[:6]


def content_terms(text: str) -> list[str]:
    """The rubric's content words, in order, without repeats."""
    seen: dict[str, str] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in _STOPWORDS or word in _META_WORDS:
            continue
        seen.setdefault(_key(word), word)
    return list(seen.values())


def _keys(text: str) -> set[str]:
    return {_key(w) for w in _WORD.findall(text.lower())}


def _subject(request: JudgeRequest) -> tuple[str, str]:
    if request.scope == "last":
        return request.last_assistant, "the last reply"
    text = "\n".join(t.content for t in request.transcript if t.role == "assistant")
    return text, "the assistant's replies"


class OfflineJudge:
    """Deterministic, dependency-free judge. See the module docstring for what it can't do."""

    name = "offline"
    offline = True

    async def evaluate(self, request: JudgeRequest) -> Verdict:
        subject, label = _subject(request)
        terms = content_terms(request.rubric)
        present = _keys(subject)
        found = [t for t in terms if _key(t) in present]
        missing = [t for t in terms if _key(t) not in present]
        if not terms:
            score = 1.0 if subject.strip() else 0.0
            detail = "the rubric has no content words to look for; scored on a non-empty reply"
        else:
            score = round(len(found) / len(terms), 4)
            detail = f"{len(found)} of {len(terms)} rubric terms found in {label}"
            if missing:
                detail += f"; missing: {', '.join(missing[:8])}"
        if not subject.strip():
            score, detail = 0.0, f"{label} is empty"
        passed = score >= request.threshold
        next_message = None
        if request.propose_next:
            next_message = _next_message(missing, request.objective)
        return Verdict(
            score=score,
            threshold=request.threshold,
            passed=passed,
            model_pass=None,
            reasoning=f"{OFFLINE_NOTICE}. {detail}.",
            model="offline",
            next_message=next_message,
            usage=Usage(),
        )

    async def open_conversation(self, request: OpeningRequest) -> tuple[str, Usage]:
        objective = request.objective.strip().rstrip(".")
        return f"Hi, I need some help. {objective[:1].upper()}{objective[1:]}.", Usage()

    async def extract(self, request: ExtractRequest) -> Extraction:
        value = _extract(request.variable_name, request.description, request.transcript)
        if value is None:
            return Extraction(
                found=False,
                value=None,
                reasoning=f"{OFFLINE_NOTICE}. No value labelled like '{request.variable_name}' found.",
                model="offline",
            )
        return Extraction(
            found=True,
            value=value,
            reasoning=f"{OFFLINE_NOTICE}. Took the value written next to a label matching the request.",
            model="offline",
        )

    async def aclose(self) -> None:
        return None


def _next_message(missing: list[str], objective: str | None) -> str:
    if missing:
        return f"Could you say more about {' and '.join(missing[:2])}?"
    if objective:
        return "Thanks. Is there anything else I should know before I decide?"
    return "Could you summarise that in one sentence?"


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_NUMERIC_HINT = re.compile(
    r"\b(?:number|amount|id|count|percent(?:age)?|total|quantity)\b", re.IGNORECASE
)


def _labels(variable_name: str, description: str) -> list[str]:
    parts = re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", variable_name)
    words = [p.lower() for p in parts if len(p) > 1]
    words += [w for w in content_terms(description) if w not in words]
    return words


def _extract(variable_name: str, description: str, transcript: Iterable[object]) -> object | None:
    labels = _labels(variable_name, description)
    wants_number = bool(_NUMERIC_HINT.search(description))
    messages = [getattr(t, "content", "") for t in transcript]
    for text in reversed(messages):
        for label in labels:
            pattern = re.compile(
                rf"\b{re.escape(label)}\w*\b(?:\s+(?:is|was|of|number|id|=))?\s*[:#=]?\s*"
                r"([A-Za-z0-9][A-Za-z0-9_.\-]*)",
                re.IGNORECASE,
            )
            for match in pattern.finditer(text):
                value = match.group(1).rstrip(".")
                if wants_number and not _NUMBER.fullmatch(value):
                    continue
                return _as_number(value) if _NUMBER.fullmatch(value) else value
    return None


def _as_number(text: str) -> object:
    cleaned = text.replace(",", "")
    try:
        return int(cleaned)
    except ValueError:
        return float(cleaned)


def create_judge(env: Mapping[str, str], *, cache: object | None = None) -> OfflineJudge:
    """Entry point for ``lamdis.judges``: the offline judge takes no settings."""
    return OfflineJudge()
