"""The worker pool moved to :mod:`lamdis_core.service` (it needs no aiohttp); this module keeps
the old import path for :mod:`lamdis_http.bootstrap`, ``_plans`` and embedders."""

from __future__ import annotations

from lamdis_core.service._worker import (
    MAX_ATTEMPTS,
    WEBHOOK_GRACE_S,
    EngineFactory,
    PlanBuilder,
    RunEngine,
    SuitePlan,
    WorkerPool,
    default_worker_id,
)

__all__ = [
    "MAX_ATTEMPTS",
    "WEBHOOK_GRACE_S",
    "EngineFactory",
    "PlanBuilder",
    "RunEngine",
    "SuitePlan",
    "WorkerPool",
    "default_worker_id",
]
