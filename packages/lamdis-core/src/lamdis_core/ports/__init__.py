"""Ports: the Protocols adapters implement. One module per port."""

from lamdis_core.ports.catalog import Catalog, CatalogKind
from lamdis_core.ports.clock import Clock, IdFactory, SystemClock, UuidIdFactory
from lamdis_core.ports.judge import (
    ConversationTurn,
    Extraction,
    ExtractRequest,
    Judge,
    JudgeRequest,
    OpeningRequest,
    Verdict,
)
from lamdis_core.ports.notifier import Notifier, WebhookPayload
from lamdis_core.ports.requester import HttpCall, HttpResult, Requester
from lamdis_core.ports.store import RunCursor, RunFilter, RunStore
from lamdis_core.ports.target import Target, TargetFactory, TurnReply, TurnRequest

__all__ = [
    "Catalog",
    "CatalogKind",
    "Clock",
    "ConversationTurn",
    "ExtractRequest",
    "Extraction",
    "HttpCall",
    "HttpResult",
    "IdFactory",
    "Judge",
    "JudgeRequest",
    "Notifier",
    "OpeningRequest",
    "Requester",
    "RunCursor",
    "RunFilter",
    "RunStore",
    "SystemClock",
    "Target",
    "TargetFactory",
    "TurnReply",
    "TurnRequest",
    "UuidIdFactory",
    "Verdict",
    "WebhookPayload",
]
