"""The engine: runs a :class:`~lamdis_core.domain.plan.RunPlan` and produces items.

Public API: :class:`Engine`, :class:`RunResult`, :class:`RunObserver`, :class:`RetryPolicy`.
"""

from lamdis_core.engine.observer import RunObserver
from lamdis_core.engine.runner import Engine, RunResult
from lamdis_core.retry import RetryPolicy

__all__ = ["Engine", "RetryPolicy", "RunObserver", "RunResult"]
