"""Settings that point the Bedrock adapters at the fake server with throwaway credentials."""

from __future__ import annotations

from tests.fakes.bedrock_server import FakeBedrockServer


def bedrock_env(server: FakeBedrockServer, **extra: str) -> dict[str, str]:
    """An environment for the fake: its endpoint, a region and obviously fake keys (SigV4
    signing needs some; the fake does not verify them)."""
    return {
        "BEDROCK_ENDPOINT_URL": server.base_url,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAFAKEFORTESTS0000",
        "AWS_SECRET_ACCESS_KEY": "fake-secret-for-tests",
        **extra,
    }
