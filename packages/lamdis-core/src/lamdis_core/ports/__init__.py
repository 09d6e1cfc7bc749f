"""Ports: the Protocols adapters implement. One module per port.

The names below are imported from their modules on first use: importing one port (as every
``from lamdis_core.ports.judge import ...`` does, through this package) does not load the
others, so a CLI run loads no store or catalog port.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULES = {
    "Catalog": "catalog",
    "CatalogKind": "catalog",
    "Clock": "clock",
    "IdFactory": "clock",
    "SystemClock": "clock",
    "UuidIdFactory": "clock",
    "ConversationTurn": "judge",
    "Extraction": "judge",
    "ExtractRequest": "judge",
    "Judge": "judge",
    "JudgeRequest": "judge",
    "OpeningRequest": "judge",
    "Verdict": "judge",
    "Notifier": "notifier",
    "WebhookPayload": "notifier",
    "HttpCall": "requester",
    "HttpResult": "requester",
    "Requester": "requester",
    "RunCursor": "store",
    "RunFilter": "store",
    "RunStore": "store",
    "Target": "target",
    "TargetFactory": "target",
    "TurnReply": "target",
    "TurnRequest": "target",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
