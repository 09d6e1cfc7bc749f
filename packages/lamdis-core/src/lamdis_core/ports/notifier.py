"""The Notifier port: delivers the completion webhook."""

from __future__ import annotations

from typing import Any, Protocol

from lamdis_core.domain.results import WebhookDelivery

WebhookPayload = dict[str, Any]


class Notifier(Protocol):
    """Delivers ``payload`` to ``url``, signing it when a secret is configured.

    Retries failed deliveries (3 attempts, backoff). Never raises for a failed delivery: the
    outcome is returned so the caller records it on the run; a webhook never fails a run.
    """

    async def deliver(self, url: str, payload: WebhookPayload) -> WebhookDelivery: ...
