"""The engine: runs a :class:`~lamdis_core.domain.plan.RunPlan` and produces items.

Public API: :class:`Engine`, :class:`RunResult`, :class:`RunObserver`, :class:`RetryPolicy`;
and, for driving one conversation step by step outside a plan (the pytest plugin's ``convo``
fixture), :class:`TestExecution` with the :class:`Targets` and :class:`AuthResolver` a run
gives it.
"""

from lamdis_core.engine._auth import AuthResolver
from lamdis_core.engine._test_run import TestExecution
from lamdis_core.engine.observer import RunObserver
from lamdis_core.engine.runner import Engine, RunResult, Targets
from lamdis_core.retry import RetryPolicy

__all__ = [
    "AuthResolver",
    "Engine",
    "RetryPolicy",
    "RunObserver",
    "RunResult",
    "Targets",
    "TestExecution",
]
