"""The hosted service's use cases, with no web framework and no database library.

- :class:`RunService`: start a run (check it against the catalog, queue it), stop it, get it,
  list runs (:func:`parse_run_query` reads a runs list's parameters, :class:`RunPage` carries
  its opaque cursors), a suite's trends over its newest finished runs; misuse raises a
  :class:`ServiceError` (:class:`UnknownRunError`,
  :class:`UnknownSuiteError`, ...), never a silent no-op.
- :func:`import_config_tree`: load a config tree into a catalog, so its suites start by id;
  :class:`CatalogService`: list, create, get, replace, patch and delete catalog documents,
  checked against the domain model before they are stored.
- :class:`WorkerPool`: executes queued runs against any
  :class:`~lamdis_core.ports.store.RunStore` (claims with leases, heartbeat, throttled
  progress, cooperative stop, recovery of expired leases, drain on shutdown), planning them
  with :class:`CatalogPlanBuilder`, and sends completion notifications through the
  :class:`~lamdis_core.ports.notifier.Notifier` port.

An embedder with its own scheduler runs these in its own process with any store adapter;
``lamdis serve`` (lamdis-http) wires the same objects behind its HTTP API.
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
from lamdis_core.service.catalog import (
    CatalogService,
    DocumentExistsError,
    DocumentIssue,
    InvalidDocumentError,
    UnknownDocumentError,
)
from lamdis_core.service.errors import (
    InvalidQueryError,
    InvalidRequestError,
    NoBaselineError,
    NotClaimedError,
    NotFoundError,
    QueryIssue,
    ServiceError,
    UnknownBaseRunError,
    UnknownEnvironmentError,
    UnknownRunError,
    UnknownSuiteError,
    UnknownTestsError,
)
from lamdis_core.service.notifications import SuiteSummary, deliver_and_record, summary_payload
from lamdis_core.service.plans import CatalogPlanBuilder, import_config_tree
from lamdis_core.service.run_list import (
    API_NAMES,
    MAX_LIST_LIMIT,
    RunPage,
    RunQueryNames,
    decode_cursor,
    encode_cursor,
    parse_run_query,
)
from lamdis_core.service.runs import (
    LAST_PASSED,
    MAX_ITEMS_LIMIT,
    MAX_SEED,
    TREND_RUNS,
    RunService,
    StartRequest,
    SuiteTrends,
    previous_run,
    run_side,
)

__all__ = [
    "API_NAMES",
    "LAST_PASSED",
    "MAX_ATTEMPTS",
    "MAX_ITEMS_LIMIT",
    "MAX_LIST_LIMIT",
    "MAX_SEED",
    "TREND_RUNS",
    "CatalogPlanBuilder",
    "CatalogService",
    "DocumentExistsError",
    "DocumentIssue",
    "EngineFactory",
    "InvalidDocumentError",
    "InvalidQueryError",
    "InvalidRequestError",
    "NoBaselineError",
    "NotClaimedError",
    "NotFoundError",
    "PlanBuilder",
    "QueryIssue",
    "RunEngine",
    "RunPage",
    "RunQueryNames",
    "RunService",
    "ServiceError",
    "StartRequest",
    "SuitePlan",
    "SuiteSummary",
    "SuiteTrends",
    "UnknownBaseRunError",
    "UnknownDocumentError",
    "UnknownEnvironmentError",
    "UnknownRunError",
    "UnknownSuiteError",
    "UnknownTestsError",
    "WorkerPool",
    "decode_cursor",
    "default_worker_id",
    "deliver_and_record",
    "encode_cursor",
    "import_config_tree",
    "parse_run_query",
    "previous_run",
    "run_side",
    "summary_payload",
]
