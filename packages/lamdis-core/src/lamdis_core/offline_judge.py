"""The offline judge: a deterministic keyword heuristic used when no LLM is configured.

It cannot understand meaning, so it only judges what words can show, and says when a
rubric asks for more:

- **It can judge presence.** A rubric's content words (stemmed crudely, stop words and words
  about the judging left out) must appear in the judged text; its score is the share found.
  A few conversational acts are recognised by their usual wording rather than by the
  rubric's own words (see :func:`known_concepts`): "greets the user" matches "Hello!", "offers
  help" matches "How can I help you today?".
- **It cannot judge manner, quality or absence.** Words such as "polite", "empathetic",
  "accurate" or "concise" (:data:`JUDGEMENT_WORDS`), and anything the rubric asks the reply
  *not* to do ("avoids X", "never X", "without X", "not X"), need an LLM. A rubric with such
  a part is never passed: if its assessable part holds, the verdict is *unassessed* (the
  check is ``skipped``, reason "needs an LLM judge"); if its assessable part fails, it fails.
  A rubric with nothing assessable at all is unassessed.

Every verdict's reasoning says it came from the offline judge; reports warn too. It lets
``make demo``, CI dry runs and the test suite run with no network and no key.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

import attrs

from lamdis_core.domain.base import Value
from lamdis_core.domain.results import Usage
from lamdis_core.ports.judge import (
    NEEDS_LLM,
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
    answered user users customer customers explain explains explained explaining state states
    stated stating mention mentions mentioned mentioning ensure ensures ensuring acknowledge
    acknowledges level high low message messages conversation talk talks talking says say
    said tell tells told describe describes described respond responds responded responding
    reacts act acts behave behaves""".split()
)
JUDGEMENT_WORDS = frozenset(
    """polite politely politeness courteous courteously rude rudely friendly warm warmly
    empathetic empathetically empathy empathise empathize empathises empathizes compassionate
    compassion kind kindly respectful respectfully professional professionally tone tactful
    helpful helpfully unhelpful accurate accurately accuracy correct correctly incorrect
    factual factually truthful truthfully honest honestly relevant relevance irrelevant concise
    concisely brief briefly clear clearly clarity understandable coherent coherently
    appropriate appropriately inappropriate natural naturally engaging confident confidently
    safe safely harmful harmless biased unbiased fair fairly reasonable sensible good quality
    better best supportive encouraging patient patiently calm calmly reassuring reassuringly
    persuasive creative detailed thorough thoroughly complete completely comprehensive
    consistent consistently faithful grounded hallucinate hallucinates hallucination plausible
    simple simply plain easy sympathetic sympathetically sincere genuine genuinely""".split()
)
"""Words that ask for a judgement of manner or quality, which keywords cannot show."""

# Words that turn the rest of their clause into something the reply must NOT do.
_NEGATION = re.compile(
    r"\b(?:not|no|never|without|nor|neither|avoid\w*|refrain\w*|refus\w* to|"
    r"(?:do|does|did|must|should|will)n'?t|free of|instead of|rather than)\b"
)
_CLAUSE = re.compile(r"[,.;:!?()]|\band\b|\bbut\b|\bor\b|\bwhile\b|\bthen\b")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


@attrs.frozen(repr=False, eq=False)
class Concept(Value):
    """A conversational act recognised by its usual wording, not the rubric's words.

    ``rubric`` finds the act in a rubric (the phrase is then not looked for word by word);
    ``evidence`` finds it in the judged text.
    """

    name: str
    rubric: re.Pattern[str]
    evidence: re.Pattern[str]


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@functools.cache
def known_concepts() -> tuple[Concept, ...]:
    """The conversational acts the offline judge recognises by their usual wording.

    Compiled on first use: a run without rubric checks never needs these patterns.
    """
    return (
        Concept(
            "a greeting",
            _rx(r"\bgreet\w*|\bwelcom\w*|\bsays? (?:hello|hi)\b"),
            _rx(r"\b(?:hello|hi|hey|greetings|welcome|good (?:morning|afternoon|evening|day))\b"),
        ),
        Concept(
            "an offer of help",
            _rx(
                r"\boffer\w*(?: (?:to|its|their|some|any|further|more|additional))? "
                r"(?:help|assist\w*|support)\b"
            ),
            _rx(
                r"\b(?:how (?:can|may|could) i (?:help|assist)|what can i do for you|"
                r"(?:can|could|may) i help|(?:happy|glad|here) to (?:help|assist)|"
                r"i can help|let me know (?:if|how|what))"
            ),
        ),
        Concept(
            "thanks",
            _rx(r"\bthank\w*|\bexpress\w* (?:gratitude|appreciation)"),
            _rx(r"\bthank|\bappreciate|\bgrateful"),
        ),
        Concept(
            "an apology",
            _rx(r"\bapologi[sz]\w*|\bsays? sorry|\bexpress\w* (?:regret|sorrow)"),
            _rx(r"\bsorry\b|\bapologi[sz]|\bregret"),
        ),
        Concept(
            "a question back",
            _rx(
                r"\basks? (?:the user )?(?:a |for |follow-up |clarifying |one )*"
                r"(?:questions?|clarification|details|more information)|\bclarifying questions?"
            ),
            _rx(r"\?"),
        ),
        Concept(
            "a referral to a professional",
            _rx(
                r"\b(?:refer\w*|recommend\w*|suggest\w*|direct\w*) (?:the user |them )?(?:to )?"
                r"(?:consult(?:ing)? )?(?:a |an )?(?:licensed |qualified |certified )?"
                r"(?:professional|advis[eo]r|expert|doctor|lawyer|attorney|specialist)s?"
            ),
            _rx(
                r"\b(?:professional|advis[eo]r|expert|doctor|physician|lawyer|attorney|"
                r"specialist)s?\b"
            ),
        ),
    )


def _key(word: str) -> str:
    """A crude stem: drop one common suffix, then keep at most six letters."""
    word = word.strip("'-")
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix) and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return word[:6]


def _content_words(text: str) -> list[str]:
    seen: dict[str, str] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in _STOPWORDS or word in _META_WORDS or word in JUDGEMENT_WORDS:
            continue
        seen.setdefault(_key(word), word)
    return list(seen.values())


def content_terms(text: str) -> list[str]:
    """The text's content words, in order, without repeats (used for labels and rubrics)."""
    return _content_words(text)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RubricReading(Value):
    """What the offline judge can look for in a rubric, and what it cannot assess.

    Attributes:
        concepts: conversational acts named by the rubric (:func:`known_concepts`).
        terms: content words that must appear.
        judgements: words asking for a judgement of manner or quality.
        absences: the parts the reply must not contain ("avoids X" gives "X").
    """

    concepts: tuple[Concept, ...]
    terms: tuple[str, ...]
    judgements: tuple[str, ...]
    absences: tuple[str, ...]

    @property
    def assessable(self) -> bool:
        return bool(self.concepts or self.terms)

    @property
    def fully_assessable(self) -> bool:
        return self.assessable and not self.judgements and not self.absences

    def unassessed_parts(self) -> list[str]:
        parts = [repr(w) for w in self.judgements]
        parts += [f"not {a!r}" for a in self.absences]
        return parts


def read_rubric(rubric: str) -> RubricReading:
    """Split a rubric into what keywords can show and what needs an LLM."""
    text = rubric.lower()
    concepts: list[Concept] = []
    for concept in known_concepts():
        if concept.rubric.search(text):
            concepts.append(concept)
            text = concept.rubric.sub(" ", text)
    absences: list[str] = []
    kept: list[str] = []
    for clause in _CLAUSE.split(text):
        match = _NEGATION.search(clause)
        if match is None:
            kept.append(clause)
            continue
        kept.append(clause[: match.start()])
        negated = " ".join(_WORD.findall(clause[match.end() :]))
        if negated.strip():
            absences.append(negated.strip())
    remainder = " ".join(kept)
    judgements: dict[str, None] = {}
    for word in _WORD.findall(rubric.lower()):
        if word in JUDGEMENT_WORDS:
            judgements.setdefault(word)
    return RubricReading(
        concepts=tuple(concepts),
        terms=tuple(_content_words(remainder)),
        judgements=tuple(judgements),
        absences=tuple(absences),
    )


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
        reading = read_rubric(request.rubric)
        present = _keys(subject)
        found = [t for t in reading.terms if _key(t) in present]
        missing = [t for t in reading.terms if _key(t) not in present]
        found += [c.name for c in reading.concepts if c.evidence.search(subject)]
        missing += [c.name for c in reading.concepts if not c.evidence.search(subject)]
        wanted = len(reading.terms) + len(reading.concepts)
        unassessed: str | None = None
        if not subject.strip():
            score, detail = 0.0, f"{label} is empty"
        elif not reading.assessable:
            score = 0.0
            detail = "the rubric names nothing a keyword search can find"
            if reading.unassessed_parts():
                detail += f" (it asks for {', '.join(reading.unassessed_parts())})"
            unassessed = f"{NEEDS_LLM}: {detail}"
        else:
            score = round(len(found) / wanted, 4)
            detail = f"{len(found)} of {wanted} rubric terms found in {label}"
            if missing:
                detail += f"; missing: {', '.join(missing[:8])}"
            if not reading.fully_assessable:
                parts = ", ".join(reading.unassessed_parts())
                detail += f"; not assessed: {parts}"
                if score >= request.threshold:
                    unassessed = f"{NEEDS_LLM}: keywords cannot judge {parts}"
                    score = 0.0
        passed = unassessed is None and score >= request.threshold
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
            unassessed=unassessed,
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
