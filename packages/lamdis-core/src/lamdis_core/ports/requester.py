"""The Requester port: HTTP calls for ``request`` steps and OAuth token fetches."""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from lamdis_core.domain.base import Value


@attrs.frozen(kw_only=True, repr=False, eq=False)
class HttpCall(Value):
    method: str
    url: str
    headers: dict[str, str] = attrs.Factory(dict)
    query: dict[str, str] = attrs.Factory(dict)
    json: Any = None
    form: dict[str, str] | None = None
    timeout_s: float = 30.0


@attrs.frozen(kw_only=True, repr=False, eq=False)
class HttpResult(Value):
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
