"""The TargetContract refuses subclasses that quietly replace or delete its tests."""

from __future__ import annotations

import pytest
from lamdis_core.domain.config import Assistant
from lamdis_core.ports.target import TargetFactory

from tests.contracts.target import TargetContract, contract_override


def test_overriding_a_contract_test_is_refused() -> None:
    with pytest.raises(TypeError, match="overrides or deletes the contract test"):

        class Sneaky(TargetContract):
            async def test_empty_reply_is_an_error(
                self, target_factory: TargetFactory, assistant: Assistant
            ) -> None:
                pass


def test_deleting_a_contract_test_is_refused() -> None:
    with pytest.raises(TypeError, match="test_timeout_is_retryable"):

        class Deleting(TargetContract):
            test_timeout_is_retryable = None  # type: ignore[assignment]


def test_a_marked_override_is_allowed_and_keeps_its_reason() -> None:
    class Honest(TargetContract):
        @contract_override("this channel has no HTTP status codes")
        async def test_client_error_is_not_retryable(
            self, target_factory: TargetFactory, assistant: Assistant
        ) -> None:
            pass

    assert Honest.test_client_error_is_not_retryable.__contract_override__ == (  # type: ignore[attr-defined]
        "this channel has no HTTP status codes"
    )


def test_the_contract_lists_every_obligation() -> None:
    assert {
        "test_send_returns_the_reply_text",
        "test_latency_is_measured_around_the_request",
        "test_transcript_and_persona_are_delivered",
        "test_rate_limit_is_retryable_with_retry_after",
        "test_timeout_is_retryable",
        "test_connection_refused_is_retryable",
        "test_server_error_is_not_retryable",
        "test_empty_reply_is_an_error",
        "test_non_json_body_is_an_error",
    } <= TargetContract._contract_tests
