"""A Judge on top of any chat model: prompts, caching, the repair retry and verdict rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from lamdis_core.domain.errors import JudgeError
from lamdis_core.domain.results import Usage
from lamdis_core.llm._cache import CachedCompletion, ResponseCache, cache_key
from lamdis_core.llm._parse import (
    OutputParseError,
    parse_extraction,
    parse_opening,
    parse_verdict,
    with_usage,
)
from lamdis_core.llm._policy import CallPolicy
from lamdis_core.llm._prompts import (
    extract_messages,
    judge_messages,
    opening_messages,
    repair_message,
)
from lamdis_core.llm._types import ChatMessage, ChatModel, Completion
from lamdis_core.logs import get_logger
from lamdis_core.ports.judge import (
    Extraction,
    ExtractRequest,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)
from lamdis_core.pricing import PriceTable

logger = get_logger()

T = TypeVar("T")

_SNIPPET = 200  # characters of unparseable output quoted in an error: enough to see what went wrong


class LLMJudge:
    """The Judge port over a :class:`ChatModel`; provider adapters supply only the model.

    Every call asks for a JSON object. Output that cannot be read gets exactly one repair
    attempt (the model is shown its reply and told what was wrong); if that fails too, the
    method raises :class:`JudgeError`, so the check becomes an ``error``, never a pass.

    With ``temperature == 0`` and a ``cache``, an answer that parsed is stored under
    sha256(provider, model, temperature, messages) and reused; a cache hit costs no tokens
    and counts in ``usage.cached_calls``.

    Args:
        chat: the provider's chat endpoint.
        model: the model id sent to the provider.
        temperature: sampling temperature; 0 makes answers cacheable.
        policy: concurrency, timeout and retries.
        cache: where to keep answers, or None for no caching.
        prices: what calls cost (default: the packaged table); a composition root may
            replace ``prices`` with the user's table after construction.
    """

    offline = False

    def __init__(
        self,
        chat: ChatModel,
        *,
        model: str,
        temperature: float = 0.0,
        policy: CallPolicy | None = None,
        cache: ResponseCache | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.chat = chat
        self.prices = prices or PriceTable.default()
        self.model = model
        self.temperature = temperature
        self.policy = policy or CallPolicy()
        self.cache = cache if temperature == 0 else None
        self.name = f"{chat.provider}:{model}"

    async def evaluate(self, request: JudgeRequest) -> Verdict:
        if not 0.0 <= request.threshold <= 1.0:
            raise JudgeError(f"threshold must be between 0 and 1, got {request.threshold}")
        messages = judge_messages(request)
        verdict, usage, cached = await self._ask(
            messages,
            lambda text, model: parse_verdict(text, request, model=model),
            "verdict",
            sample=request.sample,
        )
        return with_usage(verdict, usage, cached=cached)

    async def open_conversation(self, request: OpeningRequest) -> tuple[str, Usage]:
        message, usage, _ = await self._ask(
            opening_messages(request), lambda text, _model: parse_opening(text), "opening message"
        )
        return message, usage

    async def extract(self, request: ExtractRequest) -> Extraction:
        extraction, usage, _ = await self._ask(
            extract_messages(request),
            lambda text, model: parse_extraction(text, model=model),
            "extraction",
        )
        return attrs.evolve(extraction, usage=usage)

    async def aclose(self) -> None:
        await self.chat.aclose()

    async def _complete(self, messages: Sequence[ChatMessage]) -> Completion:
        return await self.policy.call(
            self.name,
            lambda: self.chat.complete(
                messages,
                model=self.model,
                temperature=self.temperature,
                json_mode=True,
                request_timeout=self.policy.timeout,
            ),
        )

    async def _ask(
        self,
        messages: list[ChatMessage],
        parse: Callable[[str, str], T],
        what: str,
        *,
        sample: int = 0,
    ) -> tuple[T, Usage, bool]:
        """Asks, reads the answer (repairing once), and returns it with the usage and cache flag."""
        key = None
        if self.cache is not None:
            key = cache_key(
                provider=self.chat.provider,
                model=self.model,
                temperature=self.temperature,
                messages=messages,
                json_mode=True,
                sample=sample,
            )
            hit = await self.cache.get(key)
            if hit is not None:
                try:
                    return parse(hit.text, hit.model), Usage(cached_calls=1), True
                except OutputParseError:
                    logger.warning("llm_cache_entry_unusable", judge=self.name, key=key)

        usage = Usage()
        first = await self._complete(messages)
        usage.add(first.usage)
        try:
            value = parse(first.text, first.model or self.model)
            good = first
        except OutputParseError as problem:
            # The output may quote the conversation, so only its size goes to the log.
            logger.warning(
                "llm_output_unparseable",
                judge=self.name,
                what=what,
                problem=str(problem),
                chars=len(first.text),
            )
            repair = [
                *messages,
                ChatMessage(role="assistant", content=first.text),
                repair_message(str(problem)),
            ]
            second = await self._complete(repair)
            usage.add(second.usage)
            try:
                value = parse(second.text, second.model or self.model)
                good = second
            except OutputParseError as final:
                snippet = second.text.strip()[:_SNIPPET]
                raise JudgeError(
                    f"{self.name} did not return a usable {what} even after one repair "
                    f"attempt: {final} (reply began {snippet!r})"
                ) from final
        usage = self.prices.price(self.name, usage)
        if key is not None and self.cache is not None:
            await self.cache.set(
                key, CachedCompletion(text=good.text, model=good.model or self.model)
            )
        return value, usage, False
