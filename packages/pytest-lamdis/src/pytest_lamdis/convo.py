"""The ``convo`` fixture: a conversation with an assistant written in Python.

The assistant file comes from ``@pytest.mark.lamdis_assistant(PATH)``, else
``--lamdis-assistant``, else the ``lamdis_assistant`` ini option. It is loaded by lamdis'
own loader and reached through the target, judge and requester ``lamdis run`` would use;
each turn and check goes through the same engine code as a YAML step.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    from lamdis_core.domain.config import Scope
    from lamdis_core.domain.plan import PlanEntry
    from lamdis_core.domain.results import Check, TranscriptEntry
    from lamdis_core.engine import TestExecution
    from lamdis_core.ports.judge import Judge
    from lamdis_core.ports.requester import Requester
    from lamdis_core.ports.target import TargetFactory


@attrs.frozen
class Reply:
    """What the assistant answered to one turn."""

    text: str
    latency_ms: float
    tool_calls: list[dict[str, Any]] = attrs.Factory(list)

    def __str__(self) -> str:
        return self.text


class Convo:
    """One conversation with one assistant; create it through the ``convo`` fixture."""

    def __init__(
        self,
        execution: TestExecution,
        *,
        closers: list[Any],
    ) -> None:
        self._execution = execution
        self._closers = closers
        self.checks: list[Check] = []

    @property
    def transcript(self) -> list[TranscriptEntry]:
        return list(self._execution.transcript)

    @property
    def last(self) -> str:
        """The last reply (empty before the first turn)."""
        return str(self._execution.last["assistant"])

    async def user(self, text: str) -> Reply:
        """Send ``text`` as the user's next message and return the reply."""
        reply = await self._execution.turn(text, None, template=False)
        return Reply(
            text=self._execution.last["assistant"],
            latency_ms=reply.latency_ms,
            tool_calls=list(self._execution.tool_calls[-1]),
        )

    def includes(self, *terms: str, scope: Scope = "last", name: str | None = None) -> Check:
        """Every term appears (case-insensitive) in the last reply or the transcript."""
        from lamdis_core.domain.config import IncludesStep

        __tracebackhide__ = True
        step = IncludesStep(includes=list(terms), scope=scope, name=name)
        return self._settle(self._execution.text_check(step))

    def not_includes(self, *terms: str, scope: Scope = "last", name: str | None = None) -> Check:
        """None of the terms appears (case-insensitive)."""
        from lamdis_core.domain.config import NotIncludesStep

        __tracebackhide__ = True
        step = NotIncludesStep(terms=list(terms), scope=scope, name=name)
        return self._settle(self._execution.text_check(step))

    def regex(
        self,
        pattern: str,
        *,
        flags: str = "",
        negate: bool = False,
        scope: Scope = "last",
        name: str | None = None,
    ) -> Check:
        """``pattern`` matches (or, with ``negate``, does not)."""
        from lamdis_core.domain.config import RegexStep

        __tracebackhide__ = True
        step = RegexStep(pattern=pattern, flags=flags, negate=negate, scope=scope, name=name)
        return self._settle(self._execution.text_check(step))

    async def judge(
        self,
        rubric: str,
        *,
        threshold: float | None = None,
        scope: Scope = "last",
        name: str | None = None,
    ) -> Check:
        """The configured judge (offline unless ``JUDGE_PROVIDER`` says otherwise) scores
        ``rubric``; a judge that could not judge is an error, never a pass, and a rubric the
        offline judge cannot assess skips the test."""
        from lamdis_core.domain.config import AssistantCheckStep

        __tracebackhide__ = True
        step = AssistantCheckStep(mode="judge", rubric=rubric, scope=scope, name=name)
        if threshold is not None:
            step = attrs.evolve(step, threshold=threshold)
        before = len(self._execution.checks)
        check = await self._execution.assistant_check(step)
        if check is None:  # the judge failed; the engine recorded an error check
            check = self._execution.checks[before]
        return self._settle(check)

    def _settle(self, check: Check) -> Check:
        __tracebackhide__ = True  # the failure points at the test's line, not at this one
        from lamdis_core.reports.summary import check_label, check_reason

        self.checks.append(check)
        if check.skipped:
            pytest.skip(f"{check_label(check)}: {check_reason(check)}")
        if not check.passed and check.severity == "error":
            raise AssertionError(self._describe(f"{check_label(check)}: {check_reason(check)}"))
        return check

    def _describe(self, failure: str) -> str:
        user = self._execution.last["user"]
        lines = [failure, "last exchange:", f"  user: {user}", f"  assistant: {self.last}"]
        return "\n".join(lines)

    async def aclose(self) -> None:
        for close in self._closers:
            await close()


def assistant_path(config: pytest.Config, marker_arg: str | None) -> Path | None:
    """The assistant file: the marker's (relative to the rootdir), else the option's
    (relative to where pytest was started), else the ini option's (relative to the rootdir)."""
    if marker_arg:
        return Path(config.rootpath) / marker_arg
    given = config.getoption("lamdis_assistant")
    if given:
        return Path(config.invocation_params.dir) / str(given)
    ini = str(config.getini("lamdis_assistant") or "")
    return Path(config.rootpath) / ini if ini else None


def assistant_entry(
    path: Path, *, test_id: str, config_root: str | Path | None, env: Mapping[str, str]
) -> PlanEntry:
    """A plan entry for the assistant of ``path``, loaded as ``lamdis run`` loads it.
    Raises :class:`ConfigError` when the file is not a valid assistant."""
    from lamdis_core.config.loader import load_assistant
    from lamdis_core.domain.config import TestCase
    from lamdis_core.domain.plan import PlanEntry

    info = load_assistant(path, config_root=config_root or None, env=env)
    return PlanEntry(
        test=TestCase(id=test_id),
        assistant=info.assistant,
        auths=dict(info.auths),
        source=str(info.path or path),
    )


async def open_convo(
    path: Path,
    *,
    test_id: str,
    config_root: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Convo:
    """A conversation with the assistant of ``path``, through the adapters ``lamdis run``
    would use. Raises :class:`ConfigError` when the file is not a valid assistant."""
    from lamdis_core.engine import AuthResolver, Targets, TestExecution
    from lamdis_core.ports.clock import SystemClock
    from lamdis_core.retry import RetryPolicy
    from lamdis_http import registry
    from lamdis_http.requests import AiohttpRequester

    environ = dict(os.environ if env is None else env)
    entry = assistant_entry(path, test_id=test_id, config_root=config_root, env=environ)
    channel = entry.assistant.env.channel
    clock = SystemClock()
    judge: Judge = registry.load_judge(environ)
    factories: Mapping[str, TargetFactory] = registry.load_target_factories(
        environ, channels={channel}
    )
    requester: Requester = AiohttpRequester()
    auth = AuthResolver(requester, environ, clock)
    targets = Targets(factories, auth, environ)
    closers = [
        targets.aclose,
        *(factory.aclose for factory in factories.values()),
        requester.aclose,
        judge.aclose,
    ]

    async def on_turn(turn: int) -> None:
        return None

    try:
        target = await targets.get(entry)
    except BaseException:
        for close in closers:
            await close()
        raise
    execution = TestExecution(
        entry=entry,
        repeat=0,
        target=target,
        judge=judge,
        requester=requester,
        auth=auth,
        env=environ,
        clock=clock,
        retry=RetryPolicy(),
        stop=asyncio.Event(),
        on_turn=on_turn,
    )
    return Convo(execution, closers=closers)
