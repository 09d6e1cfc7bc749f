"""The hosted service's use cases that need no web framework and no database library: the
worker pool that executes queued runs against any :class:`~lamdis_core.ports.store.RunStore`
(claims with leases, heartbeat, throttled progress, cooperative stop, recovery of expired
leases, drain on shutdown) and completion notifications through the
:class:`~lamdis_core.ports.notifier.Notifier` port.

An embedder with its own scheduler runs :class:`WorkerPool` in its own process with any store
adapter; ``lamdis serve`` (lamdis-http) wires the same pool behind its HTTP API.
"""

from __future__ import annotations

from lamdis_core.service._worker import (
    MAX_ATTEMPTS,
    EngineFactory,
    PlanBuilder,
    RunEngine,
    SuitePlan,
    WorkerPool,
    default_worker_id,
)
from lamdis_core.service.notifications import SuiteSummary, deliver_and_record, summary_payload

__all__ = [
    "MAX_ATTEMPTS",
    "EngineFactory",
    "PlanBuilder",
    "RunEngine",
    "SuitePlan",
    "SuiteSummary",
    "WorkerPool",
    "default_worker_id",
    "deliver_and_record",
    "summary_payload",
]
