"""The core's reference fake ``FakeTargetFactory`` held to the Target contract, so engine
tests that use it rely only on behaviour real targets share.

The fake has no wire: the responder below plays the contract's backend, turning each marker
into what a real backend's answer becomes at the port (a TargetError with the status and
retryability an HTTP target derives). What is left to the fake itself — relaying the turn,
measuring latency, the turn timeout, refusing an empty reply, pooled siblings — is what the
contract checks.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from lamdis_core.domain.config import Assistant, AssistantEnv
from lamdis_core.domain.errors import TargetError
from lamdis_core.ports.target import TargetFactory, TurnRequest
from lamdis_core.testing.fakes import FakeTargetFactory

from tests.contracts.target import TargetContract, contract_override

_STATUS_RETRYABLE = {400: False, 429: True, 500: False, 503: True}


async def contract_backend(turn: TurnRequest) -> str | Exception:
    message = turn.message
    if delay := re.search(r"#delay:(\d+)", message):
        await asyncio.sleep(int(delay.group(1)) / 1000)
    if "#fail:hang" in message:
        await asyncio.Event().wait()
    if status := re.search(r"#fail:(\d{3})", message):
        code = int(status.group(1))
        return TargetError(
            f"HTTP {code}",
            status=code,
            retryable=_STATUS_RETRYABLE[code],
            retry_after=0 if code == 429 else None,
        )
    if "#fail:empty" in message:
        return ""
    if "#fail:nonjson" in message:
        return TargetError("the reply is not JSON")
    if "#fail:refused" in message:
        return TargetError("connection refused", retryable=True)
    if "#echo" in message:
        earlier = " | ".join(str(entry["content"]) for entry in turn.transcript)
        return f"{message} || {earlier} || {turn.persona}"
    return "Hello. This is general information, not personalized investment advice."


class TestFakeTargetContract(TargetContract):
    @pytest.fixture
    def target_factory(self) -> TargetFactory:
        return FakeTargetFactory(contract_backend, latency_ms=0.0)

    @pytest.fixture
    def assistant(self) -> Assistant:
        return Assistant(id="fake", env=AssistantEnv(base_url="fake://assistant"))

    @contract_override("the fake has no network to refuse a connection; the backend reports it")
    async def test_connection_refused_is_retryable(
        self, target_factory: TargetFactory, unreachable_assistant: Assistant
    ) -> None:
        error = await self._error(target_factory, unreachable_assistant, "#fail:refused")
        assert error.retryable
        assert error.status is None
