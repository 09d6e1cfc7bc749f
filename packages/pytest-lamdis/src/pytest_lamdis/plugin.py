"""The pytest plugin (entry point ``pytest11: lamdis``).

Files under the configured lamdis paths (``--lamdis-path`` or the ``lamdis_paths`` ini
option) that pytest visits are loaded as lamdis plans; each test x assistant becomes an item
named ``<test id>[<assistant id>]``, so ``-k``, ``--lf`` and node ids work as for any test;
each test's tags become markers. An item runs the test through the lamdis engine (the
targets, judge and requester ``lamdis run`` would use) ``--lamdis-repeat`` times and fails
when its pass rate is below its minimum (the test's ``minPassRate``, else
``--lamdis-min-pass-rate``, else 1). Nothing happens unless lamdis paths are configured.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from lamdis_core.domain.plan import PlanEntry, RunPlan
    from lamdis_core.engine import RunResult

    from pytest_lamdis.convo import Convo

SUFFIXES = (".json", ".yaml", ".yml")
_PLANS = pytest.StashKey[dict[Path, "RunPlan | Exception"]]()
_REPORTED = pytest.StashKey[set[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lamdis", "lamdis test files")
    group.addoption(
        "--lamdis-path",
        action="append",
        default=[],
        metavar="PATH",
        help="collect lamdis test and suite files under PATH (repeatable; adds to lamdis_paths)",
    )
    group.addoption(
        "--lamdis-repeat",
        type=int,
        default=None,
        metavar="N",
        help="run each lamdis test N times; the item fails when its pass rate is below its minimum",
    )
    group.addoption(
        "--lamdis-min-pass-rate",
        type=float,
        default=None,
        metavar="R",
        help="the least share of a lamdis test's runs that must pass (0 to 1, default 1)",
    )
    group.addoption(
        "--lamdis-assistant",
        default=None,
        metavar="FILE",
        help="the assistant file the convo fixture talks to (adds to lamdis_assistant)",
    )
    parser.addini("lamdis_assistant", "the assistant file the convo fixture talks to")
    parser.addini("lamdis_paths", "folders or files holding lamdis tests", type="paths")
    parser.addini("lamdis_config_root", "root for lamdis references (assistantRef...)")
    parser.addini("lamdis_repeat", "default for --lamdis-repeat", default="1")
    parser.addini("lamdis_min_pass_rate", "default for --lamdis-min-pass-rate", default="1")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lamdis: a lamdis test x assistant (pytest-lamdis)")
    config.addinivalue_line(
        "markers", "lamdis_assistant(path): the assistant file the convo fixture talks to"
    )
    config.stash[_PLANS] = {}
    config.stash[_REPORTED] = set()


@pytest_asyncio.fixture
async def convo(request: pytest.FixtureRequest) -> AsyncIterator[Convo]:
    """A conversation with the configured assistant: ``await convo.user("...")``, then
    ``convo.includes(...)``, ``convo.regex(...)``, ``await convo.judge(...)``."""
    from pytest_lamdis.convo import assistant_path, open_convo

    marker = request.node.get_closest_marker("lamdis_assistant")
    path = assistant_path(request.config, marker.args[0] if marker and marker.args else None)
    if path is None:
        raise pytest.UsageError(
            "the convo fixture needs an assistant file: @pytest.mark.lamdis_assistant(PATH), "
            "--lamdis-assistant PATH or the lamdis_assistant ini option"
        )
    conversation = await open_convo(
        path,
        test_id=request.node.name,
        config_root=request.config.getini("lamdis_config_root") or None,
    )
    try:
        yield conversation
    finally:
        await conversation.aclose()


def _roots(config: pytest.Config) -> list[Path]:
    given = [Path(p) for p in config.getoption("lamdis_path")]
    roots = [
        *(Path(config.invocation_params.dir) / p for p in given),
        *config.getini("lamdis_paths"),
    ]
    return [Path(os.path.abspath(r)) for r in roots]


def _root_of(config: pytest.Config, path: Path) -> Path | None:
    for root in _roots(config):
        if path == root or root in path.parents:
            return root
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SUFFIXES:
        return None
    root = _root_of(parent.config, Path(os.path.abspath(file_path)))
    if root is None:
        return None
    plan = _plan(parent.config, root)
    if isinstance(plan, Exception):
        # The whole tree failed to load: report it once, on the first file of the tree.
        reported = parent.config.stash[_REPORTED]
        if root in reported:
            return None
        reported.add(root)
        return LamdisFile.from_parent(parent, path=file_path, root=root)
    if any(
        _source(parent.config, root, e) == Path(os.path.abspath(file_path)) for e in plan.entries
    ):
        return LamdisFile.from_parent(parent, path=file_path, root=root)
    return None


def _plan(config: pytest.Config, root: Path) -> RunPlan | Exception:
    plans = config.stash[_PLANS]
    if root not in plans:
        from lamdis_core.config.loader import load_plan
        from lamdis_core.domain.errors import ConfigError

        config_root = config.getini("lamdis_config_root") or None
        try:
            loaded = load_plan([str(root)], config_root=config_root, env=os.environ)
            plans[root] = loaded
        except ConfigError as exc:
            plans[root] = exc
    return plans[root]


def _source(config: pytest.Config, root: Path, entry: PlanEntry) -> Path:
    source = Path(entry.source)
    if not source.is_absolute():
        source = Path(config.invocation_params.dir) / source
    return Path(os.path.abspath(source))


class LamdisFile(pytest.File):
    """A lamdis test file: one item per test x assistant it holds."""

    def __init__(self, *, root: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = root

    def collect(self) -> Iterator[pytest.Item]:
        plan = _plan(self.config, self.root)
        if isinstance(plan, Exception):
            raise self.CollectError(f"lamdis configuration error under {self.root}:\n{plan}")
        here = Path(os.path.abspath(self.path))
        for entry in plan.entries:
            if _source(self.config, self.root, entry) != here:
                continue
            name = f"{entry.test.id}[{entry.assistant.id}]"
            # Given as a string so pytest parses the assistant as the parameter, as it does
            # for the ids --lf stores; a child name with brackets would not match them.
            item = LamdisItem.from_parent(
                self, name=name, nodeid=f"{self.nodeid}::{name}", entry=entry
            )
            item.add_marker("lamdis")
            for tag in entry.test.tags:
                self.config.addinivalue_line("markers", f"{tag}: lamdis tag")
                item.add_marker(tag)
            yield item


class LamdisFailure(Exception):
    """A lamdis test below its minimum pass rate (or in error)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class LamdisItem(pytest.Item):
    """One lamdis test against one assistant."""

    def __init__(self, *, entry: PlanEntry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry

    def _repeat(self) -> int:
        given = self.config.getoption("lamdis_repeat")
        return int(given if given is not None else self.config.getini("lamdis_repeat"))

    def _min_pass_rate(self) -> float:
        given = self.config.getoption("lamdis_min_pass_rate")
        return float(given if given is not None else self.config.getini("lamdis_min_pass_rate"))

    def runtest(self) -> None:
        from lamdis_core.domain.plan import RunPlan
        from lamdis_core.domain.results import RunStatus

        plan = RunPlan(entries=[self.entry])
        result = asyncio.run(
            run_plan(plan, repeat=self._repeat(), min_pass_rate=self._min_pass_rate())
        )
        self._record(result)
        if result.status is RunStatus.FAILED:
            raise LamdisFailure(describe(result))
        if result.totals.skipped == result.totals.total:
            from lamdis_core.reports.summary import failure_text

            pytest.skip(failure_text(result.items[0]) or "skipped")

    def _record(self, result: RunResult) -> None:
        """What lamdis' own JUnit carries, as JUnit properties of this test case."""
        from lamdis_core.pricing import format_cost
        from lamdis_core.reports.summary import summary_rows

        (row,) = summary_rows(result.items, result.gate)
        self.user_properties.append(("status", "flaky" if row.flaky else row.status.value))
        self.user_properties.append(("runs", str(row.runs)))
        if row.pass_rate is not None:
            self.user_properties.append(("passRate", f"{row.pass_rate}"))
        self.user_properties.append(("minPassRate", f"{row.min_pass_rate}"))
        if row.failure:
            self.user_properties.append(("failure", row.failure))
        if result.judge.provider:
            self.user_properties.append(("judge", result.judge.provider))
        self.user_properties.append(("cost", format_cost(result.usage)))
        if result.seed is not None:
            self.user_properties.append(("seed", str(result.seed)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, LamdisFailure):
            return excinfo.value.text
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"lamdis: {self.entry.test.label} x {self.entry.assistant.id}"


def describe(result: RunResult) -> str:
    """The failing check with its reason, and the last exchange, of the first failing run."""
    from lamdis_core.domain.results import ItemStatus
    from lamdis_core.reports.summary import failure_text, last_exchange, summary_rows

    (row,) = summary_rows(result.items, result.gate)
    lines = []
    if row.runs > 1:
        rate = "n/a" if row.pass_rate is None else f"{row.pass_rate:.0%}"
        lines.append(
            f"pass rate {rate} ({row.passed} of {row.runs} runs) is below {row.min_pass_rate:.0%}"
        )
    failing = next(
        (i for i in result.items if i.status in (ItemStatus.FAILED, ItemStatus.ERROR)), None
    )
    if failing is not None:
        lines.append(failure_text(failing) or failing.status.value)
        user, assistant = last_exchange(failing)
        if user is not None or assistant is not None:
            lines.append("last exchange:")
            lines.append(f"  user: {user or ''}")
            lines.append(f"  assistant: {assistant or ''}")
    return "\n".join(lines)


async def run_plan(
    plan: RunPlan,
    *,
    repeat: int = 1,
    min_pass_rate: float = 1.0,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run ``plan`` with the adapters ``lamdis run`` would use (judge and targets from the
    environment), and close them."""
    from lamdis_core.engine import Engine
    from lamdis_http import registry
    from lamdis_http.requests import AiohttpRequester

    environ = dict(os.environ if env is None else env)
    judge = registry.load_judge(environ)
    channels = {entry.assistant.env.channel for entry in plan.entries}
    targets = registry.load_target_factories(environ, channels=channels)
    requester = AiohttpRequester()
    try:
        engine = Engine(targets=targets, judge=judge, requester=requester, env=environ)
        return await engine.run(plan, repeat=repeat, min_pass_rate=min_pass_rate)
    finally:
        await requester.aclose()
        await judge.aclose()
        for factory in targets.values():
            await factory.aclose()
