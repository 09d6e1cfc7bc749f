"""The Requester port: HTTP calls for ``request`` steps and OAuth token fetches."""

from __future__ import annotations

from typing import Any, Protocol

import attrs


@attrs.frozen(kw_only=True)
class HttpCall:
    method: str
    url: str
    headers: dict[str, str] = attrs.Factory(dict)
    query: dict[str, str] = attrs.Factory(dict)
    json: Any = None
    form: dict[str, str] | None = None
    timeout_s: float = 30.0


@attrs.frozen(kw_only=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any
    """Parsed JSON when the response was JSON, else the text."""
    latency_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Requester(Protocol):
    """Performs one HTTP call.

    Returns the response whatever its status (the caller decides what a 4xx means). Raises
    :class:`~lamdis_core.domain.errors.RequestError` only when there is no response at all
    (connection refused, DNS failure, timeout), with ``retryable`` set.
    """

    async def send(self, call: HttpCall) -> HttpResult: ...

    async def aclose(self) -> None: ...
