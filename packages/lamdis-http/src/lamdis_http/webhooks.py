"""Completion webhooks: the lamdis-runs summary, POSTed and signed.

The payload is the summary lamdis-runs sends (``mode, status, passRate, totals, suites[],
gitContext``) plus ``runId`` and ``trigger``. When a secret is configured the request carries
``x-timestamp`` and ``x-signature`` exactly as the hosted API expects from its own clients, so
a receiver can verify it with the same code.
"""

from __future__ import annotations

import json

import aiohttp
from lamdis_core.domain.results import WebhookDelivery
from lamdis_core.logs import get_logger
from lamdis_core.ports.clock import Clock, SystemClock
from lamdis_core.ports.notifier import WebhookPayload

# The payload and its recorded delivery are pure application logic and live in the core
# (lamdis_core.service.notifications); importable from here as before.
from lamdis_core.service.notifications import (
    SuiteSummary,
    deliver_and_record,
    summary_payload,
)
from yarl import URL

from lamdis_http._auth import signed_headers

logger = get_logger()

__all__ = ["AiohttpNotifier", "SuiteSummary", "deliver_and_record", "summary_payload"]


class AiohttpNotifier:
    """A :class:`~lamdis_core.ports.notifier.Notifier` over aiohttp.

    Args:
        secret: signs each delivery when set (``LAMDIS_HMAC_SECRET``).
        attempts: deliveries tried before giving up (3).
        backoff_s: wait before the second attempt; doubles after each failure.
        timeout_s: per-attempt timeout.
        clock: for the wait between attempts and the delivery time.
        session: a session to reuse (the caller closes it); by default one is opened lazily
            and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        attempts: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._secret = secret or None
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock or SystemClock()
        self._session = session
        self._owns_session = session is None

    async def deliver(self, url: str, payload: WebhookPayload) -> WebhookDelivery:
        body = json.dumps(payload, default=str).encode("utf-8")
        status: int | None = None
        error: str | None = None
        wait = self._backoff_s
        for attempt in range(1, self._attempts + 1):
            headers = {"content-type": "application/json", "user-agent": "lamdis-webhook"}
            if self._secret:
                headers.update(signed_headers(self._secret, body))
            try:
                session = self._ensure_session()
                async with session.post(
                    url, data=body, headers=headers, timeout=self._timeout
                ) as resp:
                    status = resp.status
                    await resp.read()
                if 200 <= status < 300:
                    logger.info(
                        "webhook.delivered", url=_safe_url(url), attempts=attempt, status=status
                    )
                    return WebhookDelivery(
                        url=url,
                        ok=True,
                        attempts=attempt,
                        status=status,
                        delivered_at=self._clock.now(),
                    )
                error = f"HTTP {status}"
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                status = None
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            logger.warning(
                "webhook.attempt_failed", url=_safe_url(url), attempt=attempt, error=error
            )
            if attempt < self._attempts:
                await self._clock.sleep(wait)
                wait *= 2
        return WebhookDelivery(
            url=url, ok=False, attempts=self._attempts, status=status, error=error
        )

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None


def _safe_url(url: str) -> str:
    # Webhook URLs carry credentials in the user info, the query (?token=) or the path itself
    # (chat webhooks: /services/T0/B0/<secret>): logs name the origin only, as the UI does.
    try:
        return str(URL(url).origin())
    except ValueError:
        return "<invalid url>"
