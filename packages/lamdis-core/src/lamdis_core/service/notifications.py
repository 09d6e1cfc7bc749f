"""Completion notifications: the webhook body of a finished run and its delivery through the
:class:`~lamdis_core.ports.notifier.Notifier` port, recorded on the run (never raising)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from lamdis_core.domain.results import Item, Run, Totals, WebhookDelivery, average_score
from lamdis_core.logs import get_logger
from lamdis_core.ports.notifier import WebhookPayload

logger = get_logger()


class SuiteSummary:
    """Per-suite figures for the webhook's ``suites[]`` (JSON mode runs several suites)."""

    def __init__(self, suite_id: str, items: Sequence[Item], *, status: str | None = None) -> None:
        self.suite_id = suite_id
        self.totals = Totals.of(list(items))
        self.avg_score = average_score(list(items))
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        totals = self.totals
        status = self.status or _lamdis_runs_status(totals)
        return {
            "id": self.suite_id,
            "status": status,
            "totals": _totals_dict(totals),
            "passRate": totals.pass_rate,
            "judge": {"avgScore": self.avg_score},
        }


def _lamdis_runs_status(totals: Totals) -> str:
    if totals.failed or totals.errors:
        return "failed"
    if totals.skipped:
        return "partial"
    return "passed"


def _totals_dict(totals: Totals) -> dict[str, int]:
    return {
        "passed": totals.passed,
        "failed": totals.failed,
        "skipped": totals.skipped,
        "errors": totals.errors,
    }


def summary_payload(run: Run, *, mode: str, suites: Sequence[SuiteSummary]) -> WebhookPayload:
    """The webhook body for a finished run."""
    return {
        "runId": run.id,
        "mode": mode,
        "trigger": str(run.trigger),
        "status": str(run.status),
        "passRate": run.totals.pass_rate,
        "totals": _totals_dict(run.totals),
        "suites": [s.as_dict() for s in suites],
        "gitContext": run.git_context or None,
        "error": run.error,
    }


async def deliver_and_record(
    notifier: Any, store: Any, run: Run, payload: WebhookPayload
) -> WebhookDelivery | None:
    """Deliver the webhook for ``run`` and record the outcome; never raises."""
    if not run.webhook_url or run.id is None:
        return None
    try:
        delivery: WebhookDelivery = await notifier.deliver(run.webhook_url, payload)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a Notifier must not raise, but a run must never fail for it
        logger.exception("webhook.notifier_raised", run_id=run.id)
        delivery = WebhookDelivery(url=run.webhook_url, ok=False, attempts=0, error=str(exc))
    try:
        await store.record_webhook(run.id, delivery)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("webhook.record_failed", run_id=run.id)
    return delivery
