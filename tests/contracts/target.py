"""The Target port's contract: every TargetFactory adapter must pass these tests.

Subclass :class:`TargetContract` in the adapter's test module and provide two fixtures:

- ``target_factory``: a fresh factory (close it after the test);
- ``assistant``: an :class:`~lamdis_core.domain.config.Assistant` pointing at a working
  backend that understands these markers in the user message (the bundled demo assistant and
  the wire-format fake servers do):

  ===================== ==============================================================
  ``#echo``             reply text contains the message, transcript and persona received
  ``#delay:MS``         answer normally after MS milliseconds
  ``#fail:400``         HTTP 400 (also ``500``, ``503``)
  ``#fail:429``         HTTP 429 with ``Retry-After: 0``
  ``#fail:empty``       a well-formed answer whose reply is the empty string
  ``#fail:nonjson``     HTTP 200 with an HTML body
  ``#fail:hang``        never answers (until the server stops)
  ===================== ==============================================================

``unreachable_assistant`` (the same assistant on a closed loopback port) has a default that
suits every channel whose assistant has an ``env.baseUrl``.

Overriding a contract test in a subclass is refused at import time unless the override is
marked with :func:`contract_override` and a reason, so an adapter cannot quietly opt out.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import attrs
import pytest
from lamdis_core.domain.config import Assistant
from lamdis_core.domain.errors import TargetError
from lamdis_core.ports.target import Target, TargetFactory, TurnReply, TurnRequest

F = TypeVar("F", bound=Callable[..., Any])

PERSONA = "Retail investor, anxious about markets"
TRANSCRIPT = [
    {"role": "user", "content": "first question about bonds", "personaId": "retail"},
    {"role": "assistant", "content": "first answer about bonds"},
]


def contract_override(reason: str) -> Callable[[F], F]:
    """Mark a subclass method that deliberately replaces a contract test, saying why."""

    def mark(func: F) -> F:
        func.__contract_override__ = reason  # type: ignore[attr-defined]
        return func

    return mark


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _no_auth() -> Mapping[str, str]:
    return {}


class TargetContract:
    """Obligations of the Target and TargetFactory ports (see ``lamdis_core.ports.target``)."""

    _contract_tests: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in TargetContract._contract_tests:
            if name not in cls.__dict__:
                continue
            replacement = cls.__dict__[name]
            if replacement is None or not hasattr(replacement, "__contract_override__"):
                raise TypeError(
                    f"{cls.__qualname__} overrides or deletes the contract test {name}; mark the "
                    "override with @contract_override('why') if it is truly needed"
                )

    # --- fixtures the adapter's test module provides ------------------------------------

    @pytest.fixture
    def target_factory(self) -> TargetFactory:
        raise NotImplementedError("provide a target_factory fixture in the subclass")

    @pytest.fixture
    def assistant(self) -> Assistant:
        raise NotImplementedError("provide an assistant fixture pointing at a working backend")

    @pytest.fixture
    def unreachable_assistant(self, assistant: Assistant) -> Assistant:
        closed = f"http://127.0.0.1:{_closed_port()}"
        return attrs.evolve(assistant, env=attrs.evolve(assistant.env, base_url=closed))

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    async def _send(
        factory: TargetFactory,
        assistant: Assistant,
        message: str,
        *,
        transcript: list[dict[str, Any]] | None = None,
        persona: str | None = None,
    ) -> TurnReply:
        target: Target = factory.create(assistant, _no_auth, {})
        try:
            return await target.send(
                TurnRequest(message=message, transcript=transcript or [], persona=persona)
            )
        finally:
            await target.aclose()

    async def _error(
        self, factory: TargetFactory, assistant: Assistant, message: str
    ) -> TargetError:
        with pytest.raises(TargetError) as caught:
            await self._send(factory, assistant, message)
        return caught.value

    # --- the contract -------------------------------------------------------------------

    async def test_send_returns_the_reply_text(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """A working assistant's answer comes back as non-empty reply text with the raw payload."""
        reply = await self._send(target_factory, assistant, "Hello, what can you do?")
        assert isinstance(reply.text, str)
        assert reply.text.strip()
        assert reply.raw is not None

    async def test_latency_is_measured_around_the_request(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """latency_ms covers the backend's own delay and no more than the caller waited."""
        started = time.perf_counter()
        reply = await self._send(target_factory, assistant, "#delay:80 hello")
        waited_ms = (time.perf_counter() - started) * 1000
        assert 80 <= reply.latency_ms <= waited_ms

    async def test_transcript_and_persona_are_delivered(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """The message, every earlier turn and the persona text reach the backend."""
        reply = await self._send(
            target_factory, assistant, "#echo my question", transcript=TRANSCRIPT, persona=PERSONA
        )
        assert "#echo my question" in reply.text
        assert PERSONA in reply.text
        for turn in TRANSCRIPT:
            assert turn["content"] in reply.text

    async def test_rate_limit_is_retryable_with_retry_after(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """HTTP 429 is a retryable TargetError carrying the status and the Retry-After seconds."""
        error = await self._error(target_factory, assistant, "#fail:429")
        assert error.retryable
        assert error.status == 429
        assert error.retry_after == 0

    async def test_service_unavailable_is_retryable(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """HTTP 503 is a retryable TargetError."""
        error = await self._error(target_factory, assistant, "#fail:503")
        assert error.retryable
        assert error.status == 503

    async def test_timeout_is_retryable(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """A backend that does not answer within env.timeoutMs gives a retryable TargetError in time."""
        hasty = attrs.evolve(assistant, env=attrs.evolve(assistant.env, timeout_ms=300))
        started = time.perf_counter()
        error = await self._error(target_factory, hasty, "#fail:hang")
        elapsed = time.perf_counter() - started
        assert error.retryable
        # The hung reply lasts 30 s; the rest of the bound is the SDK's client set-up and
        # close around the call, which take seconds on a loaded machine.
        assert 0.3 <= elapsed < 10.0

    async def test_connection_refused_is_retryable(
        self, target_factory: TargetFactory, unreachable_assistant: Assistant
    ) -> None:
        """A backend that refuses the connection gives a retryable TargetError."""
        error = await self._error(target_factory, unreachable_assistant, "hello")
        assert error.retryable
        assert error.status is None

    async def test_server_error_is_not_retryable(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """HTTP 500 is a TargetError that is not retried, with the status."""
        error = await self._error(target_factory, assistant, "#fail:500")
        assert not error.retryable
        assert error.status == 500

    async def test_client_error_is_not_retryable(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """HTTP 400 is a TargetError that is not retried, with the status."""
        error = await self._error(target_factory, assistant, "#fail:400")
        assert not error.retryable
        assert error.status == 400

    async def test_empty_reply_is_an_error(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """An empty reply is a TargetError that says so, never a turn that could pass."""
        error = await self._error(target_factory, assistant, "#fail:empty")
        assert not error.retryable
        assert "empty" in str(error)

    async def test_non_json_body_is_an_error(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """A body that is not what the channel promises is a non-retryable TargetError."""
        error = await self._error(target_factory, assistant, "#fail:nonjson")
        assert not error.retryable
        assert "JSON" in str(error)

    async def test_closing_a_target_leaves_its_siblings_working(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """Targets of one factory share its pool: closing one does not break another."""
        first = target_factory.create(assistant, _no_auth, {})
        second = target_factory.create(assistant, _no_auth, {})
        await first.send(TurnRequest(message="hello", transcript=[]))
        await first.aclose()
        reply = await second.send(TurnRequest(message="hello again", transcript=[]))
        await second.aclose()
        assert reply.text.strip()

    async def test_factory_aclose_is_idempotent(
        self, target_factory: TargetFactory, assistant: Assistant
    ) -> None:
        """Closing a factory twice, after use, raises nothing."""
        await self._send(target_factory, assistant, "hello")
        await target_factory.aclose()
        await target_factory.aclose()
        assert target_factory.channel


TargetContract._contract_tests = frozenset(
    name for name in vars(TargetContract) if name.startswith("test_")
)
