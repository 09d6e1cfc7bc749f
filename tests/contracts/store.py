"""Shared contract suites for the RunStore and Catalog ports.

Every store adapter subclasses ``RunStoreContract`` and ``CatalogContract`` and provides the
``store`` / ``catalog`` fixture: a fresh, empty instance per test. The tests state the
obligations of ``lamdis_core.ports.store`` and ``lamdis_core.ports.catalog``, one rule each.

A subclass may not quietly weaken the contract: ``test_no_silent_overrides_DO_NOT_OVERRIDE``
fails when a subclass replaces a contract test with a different body or deletes one. A
deliberate override must say why with ``@contract_override("reason")`` (or carry a
``pytest.mark.xfail`` with a reason), so the deviation is visible in the test file.
"""

from __future__ import annotations

import asyncio
import math
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lamdis_core.domain.results import (
    Artifacts,
    Check,
    Item,
    ItemStatus,
    JudgeSummary,
    MessageCounts,
    Progress,
    Run,
    RunStatus,
    Timings,
    Totals,
    TranscriptEntry,
    Trigger,
    Usage,
    WebhookDelivery,
)
from lamdis_core.ports.catalog import Catalog, CatalogKind
from lamdis_core.ports.store import (
    INTERRUPTED,
    Claim,
    ItemOutline,
    LostClaimError,
    RunCursor,
    RunFilter,
    RunStore,
    RunTrend,
    Trends,
)

_F = TypeVar("_F", bound=Callable[..., Any])

_GUARD = "test_no_silent_overrides_DO_NOT_OVERRIDE"
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def contract_override(reason: str) -> Callable[[_F], _F]:
    """Mark a subclass's replacement of a contract test as deliberate, with the reason."""
    if not reason.strip():
        raise ValueError("contract_override needs a reason saying why the contract differs")

    def mark(fn: _F) -> _F:
        fn.__contract_override__ = reason  # type: ignore[attr-defined]
        return fn

    return mark


def _same_body(a: Any, b: Any) -> bool:
    code_a, code_b = getattr(a, "__code__", None), getattr(b, "__code__", None)
    if not isinstance(code_a, types.CodeType) or not isinstance(code_b, types.CodeType):
        return False
    return (code_a.co_code, code_a.co_consts, code_a.co_names) == (
        code_b.co_code,
        code_b.co_consts,
        code_b.co_names,
    )


def _declared(fn: Any) -> bool:
    if getattr(fn, "__contract_override__", None):
        return True
    return any(
        mark.name == "xfail" and mark.kwargs.get("reason") for mark in getattr(fn, "pytestmark", [])
    )


def contract_violations(cls: type, contract: type) -> list[str]:
    """What ``cls`` changed of ``contract``'s tests without saying so (empty when nothing)."""
    problems = []
    for name, original in vars(contract).items():
        if not name.startswith("test_"):
            continue
        current = getattr(cls, name, None)
        if current is None or not callable(current):
            problems.append(f"{name} was deleted; every contract test must run")
        elif current is original or _same_body(current, original) or _declared(current):
            continue
        else:
            problems.append(
                f"{name} is overridden with a different body; mark it "
                '@contract_override("why") or pytest.mark.xfail(reason=...)'
            )
    return problems


class _Contract:
    """Base of the contract suites: protects the guard test itself at class creation."""

    _contract: ClassVar[type]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _GUARD in vars(cls):
            raise TypeError(f"{cls.__name__} may not override {_GUARD}")

    def test_no_silent_overrides_DO_NOT_OVERRIDE(self) -> None:
        """A subclass keeps every contract test, or marks its deviation with a reason."""
        problems = contract_violations(type(self), self._contract)
        assert not problems, "\n".join(problems)


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def make_run(**overrides: Any) -> Run:
    """A queued run with every optional run field populated."""
    fields: dict[str, Any] = {
        "org_id": "org-1",
        "suite_id": "suite-1",
        "env_id": "env-1",
        "trigger": Trigger.CI,
        "git_context": {"repo": "acme/bot", "sha": "abc123", "runId": "42"},
        "webhook_url": "https://hooks.example.test/lamdis",
        "request": {"suiteId": "suite-1", "envId": "env-1", "tags": ["smoke"]},
        "seed": 20261130,
    }
    fields.update(overrides)
    return Run(**fields)


async def finish(store: RunStore, run_id: str, status: RunStatus = RunStatus.PASSED) -> None:
    """Finish a run unfenced, with empty totals, judge and usage."""
    await store.finish_run(
        run_id,
        status=status,
        totals=Totals(),
        judge=JudgeSummary(),
        usage=Usage(),
        finished_at=T0,
    )


def make_item(n: int = 0, **overrides: Any) -> Item:
    """A fully populated item: transcript, assertions with details, timings, usage, datetimes."""
    fields: dict[str, Any] = {
        "test_id": f"test-{n}",
        "test_name": f"Test number {n}",
        "assistant": "dev/v1",
        "status": ItemStatus.FAILED,
        "file": "tests/finra/p1.json",
        "repeat": 1,
        "transcript": [
            TranscriptEntry(
                role="user", content="Hi — can I buy Ünicode stocks? 💸", persona_id="retail"
            ),
            TranscriptEntry(role="assistant", content='He said "no".\nNew line', latency_ms=812.5),
        ],
        "message_counts": MessageCounts(user=1, assistant=1, total=2),
        "assertions": [
            Check(
                type="assistant_check",
                subtype="judge",
                name="suitability",
                passed=False,
                severity="error",
                details={
                    "score": 0.42,
                    "threshold": 0.75,
                    "reasoning": "too vague",
                    "nested": {"a": [1, 2]},
                },
            ),
            Check(type="includes", passed=True, severity="warn", details={"terms": ["risk"]}),
            Check(type="assistant_check", passed=False, severity="info", error="judge down"),
        ],
        "timings": Timings.from_turns([812.5, 1200.25, 90.0]),
        "judge_score": 0.42,
        "usage": Usage(
            tokens=1234, calls=3, prompt_tokens=1000, completion_tokens=234, cached_calls=1
        ),
        "error": None,
        "artifacts": Artifacts(log=["turn 1 sent", "turn 1 judged"]),
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=2, microseconds=5),
    }
    fields.update(overrides)
    return Item(**fields)


# Text every store must keep exactly. PostgreSQL's text and jsonb cannot hold NUL or lone
# surrogates; stores replace those (tested per adapter), so they stay out of the contract.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
# Floats the way results hold them. jsonb keeps numbers as decimals, so a float like 1e308
# comes back as the integer it denotes; scores, thresholds and latencies are far below that.
_FLOATS = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
# Keys of check details are names the engine and adapters choose (score, threshold, missing,
# ...), and FerretDB (our stand-in for MongoDB) refuses keys holding "." and arrays directly
# inside arrays. The contract keeps to what every store here can hold: name-like keys, and
# lists of scalars or objects. (Noted for the Mongo store: a json_path check's details may
# carry a nested array from an API response.)
_KEYS = st.text(
    st.characters(whitelist_categories=("L", "N"), whitelist_characters="_- "), max_size=12
)
_SCALARS = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _FLOATS | _TEXT
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.dictionaries(_KEYS, inner, max_size=3)
        | st.lists(_SCALARS | st.dictionaries(_KEYS, inner, max_size=3), max_size=3)
    ),
    max_leaves=8,
)
_DATETIMES = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


def items() -> st.SearchStrategy[Item]:
    """Any item a run can produce (within the text and numbers above)."""
    return st.builds(
        Item,
        test_id=_TEXT,
        test_name=_TEXT,
        assistant=_TEXT,
        status=st.sampled_from(ItemStatus),
        file=st.none() | _TEXT,
        repeat=st.integers(0, 100),
        transcript=st.lists(
            st.builds(
                TranscriptEntry,
                role=st.sampled_from(["user", "assistant", "system"]),
                content=_TEXT,
                persona_id=st.none() | _TEXT,
                latency_ms=st.none() | _FLOATS,
            ),
            max_size=4,
        ),
        message_counts=st.builds(
            MessageCounts, user=st.integers(0, 50), assistant=st.integers(0, 50)
        ),
        assertions=st.lists(
            st.builds(
                Check,
                type=_TEXT,
                subtype=st.none() | _TEXT,
                name=st.none() | _TEXT,
                passed=st.booleans(),
                severity=st.sampled_from(["error", "warn", "info"]),
                details=st.dictionaries(_KEYS, _JSON, max_size=4),
                error=st.none() | _TEXT,
            ),
            max_size=3,
        ),
        timings=st.lists(_FLOATS.map(abs), max_size=5).map(Timings.from_turns),
        judge_score=st.none() | st.floats(0, 1),
        usage=st.builds(
            Usage,
            tokens=st.integers(0, 10**9),
            calls=st.integers(0, 10**6),
            prompt_tokens=st.integers(0, 10**9),
            completion_tokens=st.integers(0, 10**9),
            cached_calls=st.integers(0, 10**6),
        ),
        error=st.none() | _TEXT,
        artifacts=st.builds(Artifacts, log=st.lists(_TEXT, max_size=3)),
        started_at=st.none() | _DATETIMES,
        finished_at=st.none() | _DATETIMES,
    )


class RunStoreContract(_Contract):
    """The obligations of ``lamdis_core.ports.store.RunStore``."""

    _contract = None  # set below, once the class exists

    @pytest.fixture
    def store(self) -> RunStore:
        """A fresh, empty store for one test. Subclasses must provide it."""
        raise NotImplementedError("subclass RunStoreContract and provide a `store` fixture")

    # -- create / get ---------------------------------------------------------------------

    async def test_create_run_assigns_id_and_created_at(self, store: RunStore) -> None:
        """create_run returns the run with a string id and created_at set."""
        created = await store.create_run(make_run())
        assert isinstance(created.id, str)
        assert created.id
        assert isinstance(created.created_at, datetime)
        assert created.status is RunStatus.QUEUED

    async def test_create_run_gives_each_run_its_own_id(self, store: RunStore) -> None:
        """Two created runs never share an id."""
        ids = {(await store.create_run(make_run())).id for _ in range(5)}
        assert len(ids) == 5

    async def test_create_run_ignores_items(self, store: RunStore) -> None:
        """Items passed to create_run are not stored."""
        created = await store.create_run(make_run(items=[make_item()]))
        assert created.id is not None
        fetched = await store.get_run(created.id)
        assert fetched is not None
        assert fetched.items == []

    async def test_get_run_returns_every_field_as_created(self, store: RunStore) -> None:
        """get_run returns the run exactly as create_run returned it."""
        created = await store.create_run(make_run())
        assert created.id is not None
        assert await store.get_run(created.id) == created

    async def test_get_run_unknown_id_returns_none(self, store: RunStore) -> None:
        """get_run of an id the store never issued is None."""
        await store.create_run(make_run())
        assert await store.get_run("5f1d7c0e9b1e8a3d2c4b6a01") is None
        assert await store.get_run("0123456789abcdef0123456789abcdef") is None

    @pytest.mark.parametrize(
        "bad_id",
        ["", "not-an-id", "'; DROP TABLE test_runs; --", "x" * 500, "\u00e9\u4e2d", "a\x00b"],
    )
    async def test_get_run_malformed_id_returns_none(self, store: RunStore, bad_id: str) -> None:
        """get_run of a malformed id is None, never an exception."""
        assert await store.get_run(bad_id) is None
        assert await store.get_run(bad_id, include_items=False) is None

    # -- items ----------------------------------------------------------------------------

    async def test_items_come_back_in_append_order(self, store: RunStore) -> None:
        """get_run returns items in the order they were appended."""
        run = await store.create_run(make_run())
        assert run.id is not None
        for n in range(12):
            await store.append_item(run.id, make_item(n))
        fetched = await store.get_run(run.id)
        assert fetched is not None
        assert [i.test_id for i in fetched.items] == [f"test-{n}" for n in range(12)]

    async def test_get_run_without_items_omits_them(self, store: RunStore) -> None:
        """get_run(include_items=False) returns the run with an empty item list."""
        run = await store.create_run(make_run())
        assert run.id is not None
        await store.append_item(run.id, make_item())
        fetched = await store.get_run(run.id, include_items=False)
        assert fetched is not None
        assert fetched.id == run.id
        assert fetched.items == []

    async def test_fully_populated_item_round_trips(self, store: RunStore) -> None:
        """An item with transcript, checks, timings, usage and datetimes comes back equal."""
        run = await store.create_run(make_run())
        assert run.id is not None
        item = make_item(7)
        errored = make_item(8, status=ItemStatus.ERROR, error="target down: 502", judge_score=None)
        await store.append_item(run.id, item)
        await store.append_item(run.id, errored)
        fetched = await store.get_run(run.id)
        assert fetched is not None
        assert fetched.items == [item, errored]
        assert fetched.items[0].finished_at == T0 + timedelta(seconds=2, microseconds=5)

    @settings(
        max_examples=25,
        deadline=None,
        # The store is reused across examples on purpose (each example makes its own run),
        # and every adapter's subclass runs this same method: both are what a contract is.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(appended=st.lists(items(), min_size=1, max_size=3))
    async def test_any_item_round_trips(self, store: RunStore, appended: list[Item]) -> None:
        """Whatever an item holds (text, JSON details, floats, datetimes) comes back equal."""
        run = await store.create_run(make_run())
        assert run.id is not None
        for item in appended:
            await store.append_item(run.id, item)
        fetched = await store.get_run(run.id)
        assert fetched is not None
        assert fetched.items == appended

    async def test_text_no_encoding_can_hold_is_replaced_and_the_item_kept(
        self, store: RunStore
    ) -> None:
        """A lone surrogate reads U+FFFD and NaN reads null, in every store alike."""
        run = await store.create_run(make_run())
        assert run.id is not None
        item = make_item(3)
        item.transcript.append(
            TranscriptEntry(role="assistant", content="half \ud83d emoji", latency_ms=math.nan)
        )
        item.assertions[0].details["actual"] = ["x\udc00y", math.inf]
        item.error = "bad \ud83d"
        await store.append_item(run.id, item)
        await store.finish_run(
            run.id, status=RunStatus.FAILED, totals=Totals(errors=1), judge=JudgeSummary(),
            usage=Usage(), finished_at=T0, error="reply was \ud83d",
        )  # fmt: skip
        fetched = await store.get_run(run.id)
        assert fetched is not None
        (got,) = fetched.items
        assert got.transcript[-1].content == "half \ufffd emoji"
        assert got.transcript[-1].latency_ms is None
        assert got.assertions[0].details["actual"] == ["x\ufffdy", None]
        assert got.error == "bad \ufffd"
        assert got.transcript[:-1] == item.transcript[:-1]
        assert fetched.error == "reply was \ufffd"

    async def test_items_of_runs_are_kept_apart(self, store: RunStore) -> None:
        """Items appended to one run never show up on another."""
        a = await store.create_run(make_run())
        b = await store.create_run(make_run())
        assert a.id is not None
        assert b.id is not None
        await store.append_item(a.id, make_item(1))
        await store.append_item(b.id, make_item(2))
        got_a, got_b = await store.get_run(a.id), await store.get_run(b.id)
        assert got_a is not None
        assert got_b is not None
        assert [i.test_id for i in got_a.items] == ["test-1"]
        assert [i.test_id for i in got_b.items] == ["test-2"]

    async def test_item_outlines_match_the_items_of_each_run_in_append_order(
        self, store: RunStore
    ) -> None:
        """item_outlines gives, per run asked for, the outline of each of its items in order."""
        a = await store.create_run(make_run())
        b = await store.create_run(make_run())
        assert a.id is not None
        assert b.id is not None
        appended = [
            make_item(1),
            make_item(2, status=ItemStatus.PASSED, judge_score=None, repeat=0),
            make_item(3, status=ItemStatus.ERROR, timings=Timings(), test_name=""),
        ]
        for item in appended:
            await store.append_item(a.id, item)
        await store.append_item(b.id, make_item(9, status=ItemStatus.SKIPPED))
        outlines = await store.item_outlines([b.id, a.id])
        assert list(outlines) == [b.id, a.id]
        assert outlines[a.id] == [ItemOutline.of(i) for i in appended]
        assert outlines[a.id][0].per_turn_ms == (812.5, 1200.2, 90.0)
        assert outlines[a.id][0].judge_score == 0.42
        assert [o.test_id for o in outlines[b.id]] == ["test-9"]

    async def test_item_outlines_of_unknown_or_malformed_ids_are_empty(
        self, store: RunStore
    ) -> None:
        """An id the store never issued, or a malformed one, maps to an empty list."""
        run = await store.create_run(make_run())
        assert run.id is not None
        asked = [run.id, "5f1d7c0e9b1e8a3d2c4b6a01", "", "a\x00b", "'; DROP TABLE test_runs; --"]
        assert await store.item_outlines(asked) == {run_id: [] for run_id in asked}
        assert await store.item_outlines([]) == {}

    async def test_item_outlines_read_a_nan_judge_score_as_missing(self, store: RunStore) -> None:
        """A NaN judge score reads None in the outline, as it does through get_run."""
        run = await store.create_run(make_run())
        assert run.id is not None
        await store.append_item(run.id, make_item(4, judge_score=math.nan))
        (outline,) = (await store.item_outlines([run.id]))[run.id]
        fetched = await store.get_run(run.id)
        assert fetched is not None
        assert outline == ItemOutline.of(fetched.items[0])
        assert outline.judge_score is None

    async def test_get_items_reads_a_window_of_the_items_in_append_order(
        self, store: RunStore
    ) -> None:
        """get_items gives the items at offset..offset+limit-1, the last page partial, and
        the run's item count; the windows together are get_run's items."""
        run = await store.create_run(make_run())
        other = await store.create_run(make_run())
        assert run.id is not None
        assert other.id is not None
        for n in range(12):
            await store.append_item(run.id, make_item(n))
        await store.append_item(other.id, make_item(99))
        whole = await store.get_run(run.id)
        assert whole is not None
        windows = []
        for offset, expected in ((0, 5), (5, 5), (10, 2)):
            page = await store.get_items(run.id, offset=offset, limit=5)
            assert page is not None
            assert (page.offset, page.total, len(page.items)) == (offset, 12, expected)
            assert [n for n, _ in page.numbered()] == list(range(offset, offset + expected))
            assert page.unreadable == ()
            windows.extend(page.items)
        assert windows == whole.items
        assert [i.test_id for i in windows if i is not None] == [f"test-{n}" for n in range(12)]
        middle = await store.get_items(run.id, offset=3, limit=1)
        assert middle is not None
        assert middle.items == (whole.items[3],)

    async def test_get_items_past_the_end_or_of_no_items_is_empty_with_the_count(
        self, store: RunStore
    ) -> None:
        """A window past the last item is empty and still counts the items; a negative
        offset counts as 0; a limit below 1 reads only the count."""
        run = await store.create_run(make_run())
        empty = await store.create_run(make_run())
        assert run.id is not None
        assert empty.id is not None
        for n in range(3):
            await store.append_item(run.id, make_item(n))
        for offset in (3, 4, 1000):
            page = await store.get_items(run.id, offset=offset, limit=10)
            assert page is not None
            assert (page.offset, page.total, page.items) == (offset, 3, ())
        only_count = await store.get_items(run.id, offset=0, limit=0)
        assert only_count is not None
        assert (only_count.total, only_count.items) == (3, ())
        negative = await store.get_items(run.id, offset=-5, limit=2)
        assert negative is not None
        assert negative.offset == 0
        assert [i.test_id for i in negative.items if i is not None] == ["test-0", "test-1"]
        none_yet = await store.get_items(empty.id, offset=0, limit=10)
        assert none_yet is not None
        assert (none_yet.total, none_yet.items) == (0, ())

    async def test_get_items_of_unknown_or_malformed_ids_is_none(self, store: RunStore) -> None:
        """get_items of an id the store never issued, or a malformed one, is None."""
        run = await store.create_run(make_run())
        assert run.id is not None
        await store.append_item(run.id, make_item(1))
        for bad_id in (
            "5f1d7c0e9b1e8a3d2c4b6a01",
            "0123456789abcdef0123456789abcdef",
            "",
            "a\x00b",
            "\u00e9\u4e2d",
            "x" * 500,
            "'; DROP TABLE test_runs; --",
        ):
            assert await store.get_items(bad_id, offset=0, limit=10) is None

    async def test_trends_per_run_and_per_test_over_the_runs_asked_for(
        self, store: RunStore
    ) -> None:
        """trends gives each run's item count and p95 turn latency, and per test x assistant
        the worst status of its repeats in each run, its name in the first run asked for that
        has it, and its latencies over every run — what Trends.of computes from outlines."""
        older = await store.create_run(make_run())
        newer = await store.create_run(make_run())
        empty = await store.create_run(make_run())
        assert older.id is not None and newer.id is not None and empty.id is not None

        def item(test: str, status: ItemStatus, turns: list[float], **more: Any) -> Item:
            return make_item(
                0, test_id=test, status=status, timings=Timings.from_turns(turns), **more
            )

        for appended in (
            item("a", ItemStatus.PASSED, [100.5, 300.0], test_name="A old"),
            item("a", ItemStatus.FAILED, [200.0], repeat=1, test_name="A old"),
            item("b", ItemStatus.SKIPPED, []),
            item("c", ItemStatus.PASSED, [50.0], assistant="other/v2"),
        ):
            await store.append_item(older.id, appended)
        for appended in (
            item("a", ItemStatus.PASSED, [1000.0, 20.0], test_name="A new"),
            item("b", ItemStatus.ERROR, [10.0]),
        ):
            await store.append_item(newer.id, appended)
        unknown = "5f1d7c0e9b1e8a3d2c4b6a01"
        asked = [newer.id, older.id, empty.id, unknown, newer.id]

        got = await store.trends(asked)
        reference = Trends.of(asked, await store.item_outlines(asked))
        assert got == reference, (got, reference)
        assert got.runs == (
            RunTrend(run_id=newer.id, items=2, turns=3, p95_ms=1000.0),
            RunTrend(run_id=older.id, items=4, turns=4, p95_ms=300.0),
            RunTrend(run_id=empty.id, items=0, turns=0, p95_ms=None),
            RunTrend(run_id=unknown, items=0, turns=0, p95_ms=None),
        )
        by_test = {(t.test_id, t.assistant): t for t in got.tests}
        assert list(by_test) == [("a", "dev/v1"), ("b", "dev/v1"), ("c", "other/v2")]
        a = by_test["a", "dev/v1"]
        assert a.test_name == "A new"
        assert a.outcomes == (ItemStatus.PASSED, ItemStatus.FAILED, None, None)
        assert (a.turns, a.p95_ms, a.avg_ms, a.max_ms) == (5, 1000.0, 324.1, 1000.0)
        b = by_test["b", "dev/v1"]
        assert b.outcomes == (ItemStatus.ERROR, ItemStatus.SKIPPED, None, None)
        assert (b.turns, b.p95_ms, b.avg_ms, b.max_ms) == (1, 10.0, 10.0, 10.0)
        assert by_test["c", "other/v2"].outcomes == (None, ItemStatus.PASSED, None, None)
        assert await store.trends([]) == Trends(runs=(), tests=())

    async def test_trends_of_finished_runs_match_the_reference(self, store: RunStore) -> None:
        """A finished run's figures are kept when it finishes, and read back equal to what
        Trends.of computes from its items: a passed run, a stopped one cut short, a partial
        one, one whose items have no turns, one with no items, and a queued run stopped
        before it started (never finished through finish_run)."""

        def item(test: str, status: ItemStatus, turns: list[float], **more: Any) -> Item:
            return make_item(
                0, test_id=test, status=status, timings=Timings.from_turns(turns), **more
            )

        plans = [
            (RunStatus.PASSED, [item("a", ItemStatus.PASSED, [120.0, 80.5, 3000.5])]),
            (RunStatus.STOPPED, [item("a", ItemStatus.FAILED, [700.0])]),
            (
                RunStatus.PARTIAL,
                [
                    item("a", ItemStatus.ERROR, []),
                    item("b", ItemStatus.PASSED, [5.0, 6.0], repeat=1),
                    item("b", ItemStatus.SKIPPED, [], repeat=2),
                ],
            ),
            (
                RunStatus.FAILED,
                [
                    item("a", ItemStatus.FAILED, [], test_name="A renamed"),
                    item("b", ItemStatus.SKIPPED, []),
                ],
            ),
            (RunStatus.FAILED, []),
        ]
        asked = []
        for status, items in plans:
            run = await store.create_run(make_run())
            assert run.id is not None
            for appended in items:
                await store.append_item(run.id, appended)
            await finish(store, run.id, status)
            asked.insert(0, run.id)  # newest first, as the suite page asks
        queued = await store.create_run(make_run())
        assert queued.id is not None
        await store.request_stop(queued.id, now=T0)
        asked.insert(0, queued.id)

        got = await store.trends(asked)
        assert got == Trends.of(asked, await store.item_outlines(asked)), got
        assert [(r.items, r.turns, r.p95_ms) for r in got.runs] == [
            (0, 0, None),
            (0, 0, None),
            (2, 0, None),
            (3, 2, 6.0),
            (1, 1, 700.0),
            (1, 3, 3000.5),
        ]
        a = got.tests[0]
        assert a.test_name == "A renamed"  # the name in the newest run that has the test
        assert a.outcomes == (
            None,
            None,
            ItemStatus.FAILED,
            ItemStatus.ERROR,
            ItemStatus.FAILED,
            ItemStatus.PASSED,
        )
        assert (a.turns, a.p95_ms, a.max_ms) == (4, 3000.5, 3000.5)

    async def test_trends_after_an_item_appended_to_a_finished_run(self, store: RunStore) -> None:
        """An item appended after the finish (unfenced) counts: the kept figures do not hide
        it."""
        run = await store.create_run(make_run())
        assert run.id is not None
        await store.append_item(run.id, make_item(1, timings=Timings.from_turns([10.0])))
        await finish(store, run.id)
        assert (await store.trends([run.id])).runs == (
            RunTrend(run_id=run.id, items=1, turns=1, p95_ms=10.0),
        )
        await store.append_item(run.id, make_item(2, timings=Timings.from_turns([90.0, 30.0])))
        got = await store.trends([run.id])
        assert got == Trends.of([run.id], await store.item_outlines([run.id]))
        assert got.runs == (RunTrend(run_id=run.id, items=2, turns=3, p95_ms=90.0),)

    async def test_writers_ignore_unknown_run(self, store: RunStore) -> None:
        """Writers given an unknown id do nothing and do not raise."""
        unknown = "5f1d7c0e9b1e8a3d2c4b6a01"
        await store.append_item(unknown, make_item())
        await store.update_progress(unknown, Progress(done=1, total=2))
        await store.finish_run(
            unknown,
            status=RunStatus.PASSED,
            totals=Totals(),
            judge=JudgeSummary(),
            usage=Usage(),
            finished_at=T0,
        )
        await store.record_webhook(
            unknown, WebhookDelivery(url="https://x.test", ok=True, attempts=1)
        )
        assert await store.renew_lease(unknown, "w", now=T0, lease_seconds=30) is False
        assert await store.get_run(unknown) is None
        assert await store.list_runs(RunFilter()) == []

    async def test_stored_state_cannot_be_mutated_through_arguments_or_results(
        self, store: RunStore
    ) -> None:
        """Mutating a run or item given to, or returned by, the store changes nothing stored."""
        given = make_run()
        run = await store.create_run(given)
        assert run.id is not None
        given.git_context["sha"] = "tampered"
        run.request["tags"].append("tampered")
        item = make_item()
        await store.append_item(run.id, item)
        item.transcript.append(TranscriptEntry(role="user", content="tampered"))
        item.assertions[0].details["score"] = 1.0
        fetched = await store.get_run(run.id)
        assert fetched is not None
        fetched.items[0].assertions[0].details["nested"]["a"].append(3)
        again = await store.get_run(run.id)
        assert again is not None
        assert again.git_context["sha"] == "abc123"
        assert again.request["tags"] == ["smoke"]
        assert again.items == [make_item()]

    # -- fencing (a claim that is no longer current writes nothing) -------------------------

    async def test_fenced_writes_of_the_current_claim_are_stored(self, store: RunStore) -> None:
        """Writes carrying the claim claim_next handed out are stored as unfenced ones are."""
        await store.create_run(make_run())
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None and claimed.id is not None
        claim = Claim.of(claimed)
        assert claim == Claim(owner="w", generation=1)
        assert await store.renew_lease(
            claimed.id, "w", now=T0 + timedelta(seconds=10), lease_seconds=30, claim=claim
        )
        await store.append_item(claimed.id, make_item(1), claim=claim)
        await store.update_progress(claimed.id, Progress(done=1, total=1), claim=claim)
        await store.finish_run(
            claimed.id,
            status=RunStatus.PASSED,
            totals=Totals(passed=1),
            judge=JudgeSummary(),
            usage=Usage(),
            finished_at=T0 + timedelta(seconds=20),
            claim=claim,
        )
        stored = await store.get_run(claimed.id)
        assert stored is not None
        assert [i.test_id for i in stored.items] == ["test-1"]
        assert stored.progress == Progress(done=1, total=1)
        assert stored.status is RunStatus.PASSED and stored.totals == Totals(passed=1)

    async def test_the_seed_is_kept_from_creation_and_recorded_at_finish(
        self, store: RunStore
    ) -> None:
        """A seed given at creation is stored; finish_run records the seed the worker used,
        and a finish without one keeps what is stored."""
        given = await store.create_run(make_run(seed=2**63 - 1))
        assert given.id is not None
        fetched = await store.get_run(given.id)
        assert fetched is not None and fetched.seed == 2**63 - 1
        await store.finish_run(
            given.id,
            status=RunStatus.PASSED,
            totals=Totals(passed=1),
            judge=JudgeSummary(),
            usage=Usage(),
            finished_at=T0,
        )
        kept = await store.get_run(given.id)
        assert kept is not None and kept.seed == 2**63 - 1
        picked = await store.create_run(make_run(seed=None))
        assert picked.id is not None and picked.seed is None
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None and claimed.id == picked.id
        await store.finish_run(
            picked.id,
            status=RunStatus.PASSED,
            totals=Totals(passed=1),
            judge=JudgeSummary(),
            usage=Usage(),
            finished_at=T0 + timedelta(seconds=5),
            claim=Claim.of(claimed),
            seed=12345,
        )
        recorded = await store.get_run(picked.id)
        assert recorded is not None and recorded.seed == 12345

    async def test_a_superseded_claim_is_refused_and_writes_nothing(self, store: RunStore) -> None:
        """After recovery re-queued a run and another worker claimed it, every fenced write of
        the first claim raises LostClaimError and changes nothing; the new claim writes."""
        await store.create_run(make_run())
        first = await store.claim_next("stalled", now=T0, lease_seconds=30)
        assert first is not None and first.id is not None
        old = Claim.of(first)
        await store.append_item(first.id, make_item(1), claim=old)
        await store.recover_expired(now=T0 + timedelta(seconds=31))
        # Re-queued, not yet claimed again: the old claim is already over.
        with pytest.raises(LostClaimError) as refused:
            await store.append_item(first.id, make_item(2), claim=old)
        assert refused.value.run_id == first.id and refused.value.claim == old
        second = await store.claim_next("rescuer", now=T0 + timedelta(seconds=32), lease_seconds=30)
        assert second is not None and second.id == first.id
        new = Claim.of(second)
        await store.append_item(first.id, make_item(3), claim=new)
        await store.update_progress(first.id, Progress(done=1, total=5), claim=new)
        with pytest.raises(LostClaimError):
            await store.append_item(first.id, make_item(4), claim=old)
        with pytest.raises(LostClaimError):
            await store.update_progress(first.id, Progress(done=9, total=9), claim=old)
        with pytest.raises(LostClaimError):
            await store.finish_run(
                first.id,
                status=RunStatus.PASSED,
                totals=Totals(passed=9),
                judge=JudgeSummary(),
                usage=Usage(),
                finished_at=T0 + timedelta(seconds=33),
                claim=old,
            )
        later = T0 + timedelta(seconds=34)
        assert not await store.renew_lease(
            first.id, "stalled", now=later, lease_seconds=300, claim=old
        )
        stored = await store.get_run(first.id)
        assert stored is not None
        assert [i.test_id for i in stored.items] == ["test-3"]
        assert stored.progress == Progress(done=1, total=5)
        assert stored.status is RunStatus.RUNNING
        assert stored.lease_owner == "rescuer"
        assert stored.lease_expires_at == T0 + timedelta(seconds=62)

    async def test_a_claim_of_the_same_worker_is_superseded_by_its_next_claim(
        self, store: RunStore
    ) -> None:
        """The generation, not only the owner, fences: one worker re-claiming its own expired
        run holds the new claim only."""
        await store.create_run(make_run())
        first = await store.claim_next("w", now=T0, lease_seconds=30)
        assert first is not None and first.id is not None
        await store.recover_expired(now=T0 + timedelta(seconds=31))
        again = await store.claim_next("w", now=T0 + timedelta(seconds=32), lease_seconds=30)
        assert again is not None and again.id == first.id
        assert Claim.of(again) == Claim(owner="w", generation=2)
        with pytest.raises(LostClaimError):
            await store.append_item(first.id, make_item(1), claim=Claim.of(first))
        assert not await store.renew_lease(
            first.id, "w", now=T0, lease_seconds=30, claim=Claim.of(first)
        )
        await store.append_item(first.id, make_item(2), claim=Claim.of(again))
        stored = await store.get_run(first.id)
        assert stored is not None and [i.test_id for i in stored.items] == ["test-2"]

    async def test_fenced_writes_are_refused_once_the_run_is_final(self, store: RunStore) -> None:
        """A claim ends with the run: after a stop, a failure by recovery, or its own finish."""
        await store.create_run(make_run())
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None and claimed.id is not None
        claim = Claim.of(claimed)
        changed = await store.recover_expired(now=T0 + timedelta(seconds=31), max_attempts=1)
        assert [r.status for r in changed] == [RunStatus.FAILED]
        with pytest.raises(LostClaimError):
            await store.append_item(claimed.id, make_item(), claim=claim)
        with pytest.raises(LostClaimError):
            await store.finish_run(
                claimed.id,
                status=RunStatus.PASSED,
                totals=Totals(passed=1),
                judge=JudgeSummary(),
                usage=Usage(),
                finished_at=T0,
                claim=claim,
            )
        stored = await store.get_run(claimed.id)
        assert stored is not None
        assert stored.status is RunStatus.FAILED and stored.error == INTERRUPTED
        assert stored.items == [] and stored.totals == Totals()

    async def test_fenced_writes_to_an_unknown_run_are_refused(self, store: RunStore) -> None:
        """A claim on a run that does not exist is not current either."""
        unknown = "5f1d7c0e9b1e8a3d2c4b6a01"
        claim = Claim(owner="w", generation=1)
        with pytest.raises(LostClaimError):
            await store.append_item(unknown, make_item(), claim=claim)
        with pytest.raises(LostClaimError):
            await store.update_progress(unknown, Progress(done=1, total=1), claim=claim)
        assert await store.get_run(unknown) is None

    async def test_append_with_a_key_already_stored_adds_nothing(self, store: RunStore) -> None:
        """A repeated append with the same key (a retry after a lost answer) is a no-op; the
        same key in another run, or another key, appends."""
        a = await store.create_run(make_run())
        b = await store.create_run(make_run())
        assert a.id is not None and b.id is not None
        await store.append_item(a.id, make_item(1), key="k-1")
        await store.append_item(a.id, make_item(1), key="k-1")
        await store.append_item(a.id, make_item(2), key="k-2")
        await store.append_item(b.id, make_item(1), key="k-1")
        got_a, got_b = await store.get_run(a.id), await store.get_run(b.id)
        assert got_a is not None and got_b is not None
        assert [i.test_id for i in got_a.items] == ["test-1", "test-2"]
        assert [i.test_id for i in got_b.items] == ["test-1"]

    async def test_a_fenced_append_with_a_key_already_stored_adds_nothing(
        self, store: RunStore
    ) -> None:
        """The key guard holds for fenced appends too (the worker's retries are fenced)."""
        await store.create_run(make_run())
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None and claimed.id is not None
        claim = Claim.of(claimed)
        for _ in range(3):
            await store.append_item(claimed.id, make_item(1), claim=claim, key="k-1")
        stored = await store.get_run(claimed.id)
        assert stored is not None and [i.test_id for i in stored.items] == ["test-1"]

    # -- list -----------------------------------------------------------------------------

    async def test_list_runs_newest_first_without_items(self, store: RunStore) -> None:
        """list_runs returns runs newest created_at first, each without items."""
        ids = []
        for _ in range(3):
            run = await store.create_run(make_run())
            assert run.id is not None
            await store.append_item(run.id, make_item())
            ids.append(run.id)
        listed = await store.list_runs(RunFilter())
        assert [r.id for r in listed] == list(reversed(ids))
        assert all(r.items == [] for r in listed)

    async def test_list_runs_orders_by_created_at(self, store: RunStore) -> None:
        """list_runs orders by created_at, not by when the run was stored."""
        old = await store.create_run(make_run(created_at=T0 - timedelta(days=2)))
        new = await store.create_run(make_run(created_at=T0))
        middle = await store.create_run(make_run(created_at=T0 - timedelta(days=1)))
        listed = await store.list_runs(RunFilter())
        assert [r.id for r in listed] == [new.id, middle.id, old.id]

    async def test_list_runs_filters_by_org(self, store: RunStore) -> None:
        """list_runs with org_id returns only that organization's runs."""
        a = await store.create_run(make_run(org_id="org-a"))
        await store.create_run(make_run(org_id="org-b"))
        assert [r.id for r in await store.list_runs(RunFilter(org_id="org-a"))] == [a.id]
        assert await store.list_runs(RunFilter(org_id="org-none")) == []

    async def test_list_runs_filters_by_suite(self, store: RunStore) -> None:
        """list_runs with suite_id returns only that suite's runs."""
        a = await store.create_run(make_run(suite_id="suite-a"))
        await store.create_run(make_run(suite_id="suite-b"))
        assert [r.id for r in await store.list_runs(RunFilter(suite_id="suite-a"))] == [a.id]

    async def test_list_runs_filters_by_environment(self, store: RunStore) -> None:
        """list_runs with env_id returns only runs against that environment."""
        a = await store.create_run(make_run(env_id="env-a"))
        await store.create_run(make_run(env_id="env-b"))
        assert [r.id for r in await store.list_runs(RunFilter(env_id="env-a"))] == [a.id]
        assert await store.list_runs(RunFilter(env_id="env-none")) == []

    async def test_list_runs_pages_with_offset_in_the_same_order(self, store: RunStore) -> None:
        """offset skips that many runs of the newest-first order; pages neither overlap nor
        leave a run out."""
        ids = []
        for n in range(5):
            run = await store.create_run(make_run(created_at=T0 + timedelta(minutes=n)))
            ids.append(run.id)
        pages = [
            [r.id for r in await store.list_runs(RunFilter(limit=2, offset=start))]
            for start in (0, 2, 4, 6)
        ]
        assert pages == [ids[4:2:-1], ids[2:0:-1], ids[0:1], []]

    async def test_list_runs_filters_by_trigger(self, store: RunStore) -> None:
        """list_runs with trigger returns only runs started that way."""
        ci = await store.create_run(make_run(trigger=Trigger.CI))
        cron = await store.create_run(make_run(trigger=Trigger.SCHEDULE))
        assert [r.id for r in await store.list_runs(RunFilter(trigger=Trigger.CI))] == [ci.id]
        assert [r.id for r in await store.list_runs(RunFilter(trigger=Trigger.SCHEDULE))] == [
            cron.id
        ]
        assert await store.list_runs(RunFilter(trigger=Trigger.MANUAL)) == []

    async def test_list_runs_filters_by_branch_and_commit_prefix(self, store: RunStore) -> None:
        """branch matches gitContext.branch exactly; commit is a prefix of gitContext.sha, or
        of gitContext.commit when the run has no sha."""
        main = await store.create_run(
            make_run(git_context={"sha": "a1b2c3d4e5", "branch": "main"}, created_at=T0)
        )
        feature = await store.create_run(
            make_run(
                git_context={"sha": "a1b2ffff00", "branch": "feature/x"},
                created_at=T0 + timedelta(seconds=1),
            )
        )
        legacy = await store.create_run(
            make_run(git_context={"commit": "c0ffee"}, created_at=T0 + timedelta(seconds=2))
        )
        await store.create_run(make_run(git_context={}, created_at=T0 + timedelta(seconds=3)))

        async def ids(**fields: Any) -> list[str | None]:
            return [r.id for r in await store.list_runs(RunFilter(**fields))]

        assert await ids(branch="main") == [main.id]
        assert await ids(branch="feature/x") == [feature.id]
        assert await ids(branch="mai") == []
        assert await ids(commit="a1b2") == [feature.id, main.id]
        assert await ids(commit="a1b2c") == [main.id]
        assert await ids(commit="a1b2c3d4e5") == [main.id]
        assert await ids(commit="a1b2c3d4e5f") == []
        assert await ids(commit="c0f") == [legacy.id]
        assert await ids(commit="a1b2", branch="feature/x") == [feature.id]
        # regular-expression and LIKE characters are text, not patterns
        assert await ids(commit="a.b") == []
        assert await ids(commit="a%") == []
        assert await ids(commit="a_b2") == []

    async def test_list_runs_filters_by_creation_range(self, store: RunStore) -> None:
        """created_from is inclusive, created_before exclusive."""
        runs = [
            await store.create_run(make_run(created_at=T0 + timedelta(hours=n))) for n in range(4)
        ]
        ids = [r.id for r in runs]
        window = RunFilter(
            created_from=T0 + timedelta(hours=1), created_before=T0 + timedelta(hours=3)
        )
        assert [r.id for r in await store.list_runs(window)] == [ids[2], ids[1]]
        later = RunFilter(created_from=T0 + timedelta(hours=3))
        assert [r.id for r in await store.list_runs(later)] == [ids[3]]
        earlier = RunFilter(created_before=T0 + timedelta(hours=1))
        assert [r.id for r in await store.list_runs(earlier)] == [ids[0]]

    async def test_list_runs_pages_by_cursor_both_ways(self, store: RunStore) -> None:
        """Following ``before`` from the last run of each page walks every run once, in the
        newest-first order, also through runs created at the same instant; ``after`` from
        the first run of a page walks back to the same pages."""
        instants = [T0, T0, T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=1), T0]
        for at in [*instants, T0 - timedelta(days=1)]:
            await store.create_run(make_run(created_at=at))
        everything = [r.id for r in await store.list_runs(RunFilter(limit=100))]
        assert len(set(everything)) == 7
        pages: list[list[Run]] = []
        cursor: RunCursor | None = None
        while True:
            page = await store.list_runs(RunFilter(limit=2, before=cursor))
            if not page:
                break
            pages.append(page)
            cursor = RunCursor.of(page[-1])
        assert [r.id for page in pages for r in page] == everything
        assert [len(page) for page in pages] == [2, 2, 2, 1]
        back = [
            [r.id for r in await store.list_runs(RunFilter(limit=2, after=RunCursor.of(p[0])))]
            for p in pages[1:]
        ]
        assert back == [[r.id for r in p] for p in pages[:-1]]
        newest = RunCursor.of(pages[0][0])
        assert await store.list_runs(RunFilter(after=newest)) == []

    async def test_list_runs_cursor_combines_with_filters(self, store: RunStore) -> None:
        """A cursor pages within a filter: the next page of a suite holds only that suite."""
        runs = [
            await store.create_run(
                make_run(suite_id=f"suite-{n % 2}", created_at=T0 + timedelta(minutes=n))
            )
            for n in range(6)
        ]
        first = await store.list_runs(RunFilter(suite_id="suite-0", limit=2))
        rest = await store.list_runs(
            RunFilter(suite_id="suite-0", limit=2, before=RunCursor.of(first[-1]))
        )
        assert [r.id for r in first + rest] == [runs[n].id for n in (4, 2, 0)]

    async def test_list_runs_filters_by_status(self, store: RunStore) -> None:
        """list_runs with status returns only runs in that status."""
        queued = await store.create_run(make_run())
        claimed = await store.create_run(make_run())
        assert claimed.id is not None
        # claim_next takes the oldest, so stop that one first to claim the other
        assert queued.id is not None
        await store.request_stop(queued.id, now=T0)
        await store.claim_next("w", now=T0, lease_seconds=30)
        assert [r.id for r in await store.list_runs(RunFilter(status=RunStatus.RUNNING))] == [
            claimed.id
        ]
        assert [r.id for r in await store.list_runs(RunFilter(status=RunStatus.STOPPED))] == [
            queued.id
        ]
        assert await store.list_runs(RunFilter(status=RunStatus.PASSED)) == []

    async def test_list_runs_combines_filters(self, store: RunStore) -> None:
        """list_runs applies org, suite and status together."""
        want = await store.create_run(make_run(org_id="o", suite_id="s"))
        await store.create_run(make_run(org_id="o", suite_id="other"))
        await store.create_run(make_run(org_id="other", suite_id="s"))
        listed = await store.list_runs(RunFilter(org_id="o", suite_id="s", status=RunStatus.QUEUED))
        assert [r.id for r in listed] == [want.id]

    async def test_list_runs_honours_limit(self, store: RunStore) -> None:
        """list_runs returns at most ``limit`` runs, the newest ones."""
        ids = [(await store.create_run(make_run())).id for _ in range(5)]
        listed = await store.list_runs(RunFilter(limit=2))
        assert [r.id for r in listed] == [ids[4], ids[3]]

    # -- claim / lease --------------------------------------------------------------------

    async def test_claim_next_returns_none_when_nothing_is_queued(self, store: RunStore) -> None:
        """claim_next on an empty queue returns None."""
        assert await store.claim_next("w", now=T0, lease_seconds=30) is None
        run = await store.create_run(make_run())
        assert run.id is not None
        await store.request_stop(run.id, now=T0)
        assert await store.claim_next("w", now=T0, lease_seconds=30) is None

    async def test_claim_next_takes_oldest_queued(self, store: RunStore) -> None:
        """claim_next hands out queued runs oldest created_at first."""
        newer = await store.create_run(make_run(created_at=T0))
        older = await store.create_run(make_run(created_at=T0 - timedelta(hours=1)))
        third = await store.create_run(make_run(created_at=T0 + timedelta(hours=1)))
        got = [await store.claim_next("w", now=T0, lease_seconds=30) for _ in range(4)]
        assert [r.id if r else None for r in got] == [older.id, newer.id, third.id, None]

    async def test_claim_next_sets_running_lease_attempts_and_started_at(
        self, store: RunStore
    ) -> None:
        """A claimed run is running, leased until now + lease, attempts + 1, started_at = now."""
        run = await store.create_run(make_run())
        claimed = await store.claim_next("worker-a", now=T0, lease_seconds=90)
        assert claimed is not None
        assert claimed.id == run.id
        assert claimed.status is RunStatus.RUNNING
        assert claimed.lease_owner == "worker-a"
        assert claimed.lease_expires_at == T0 + timedelta(seconds=90)
        assert claimed.attempts == 1
        assert claimed.started_at == T0
        assert run.id is not None
        assert await store.get_run(run.id) == claimed

    async def test_claim_next_keeps_an_existing_started_at(self, store: RunStore) -> None:
        """claim_next sets started_at only when it is unset."""
        earlier = T0 - timedelta(minutes=5)
        await store.create_run(make_run(started_at=earlier))
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.started_at == earlier

    async def test_concurrent_claims_never_share_a_run(self, store: RunStore) -> None:
        """Many concurrent claim_next calls hand each queued run to exactly one caller."""
        ids = {(await store.create_run(make_run())).id for _ in range(8)}
        claims = await asyncio.gather(
            *(store.claim_next(f"worker-{n}", now=T0, lease_seconds=30) for n in range(20))
        )
        won = [c for c in claims if c is not None]
        assert sorted(c.id for c in won if c.id) == sorted(i for i in ids if i)
        assert len(won) == 8
        for claim in won:
            assert claim.id is not None
            stored = await store.get_run(claim.id)
            assert stored is not None
            assert stored.lease_owner == claim.lease_owner
            assert stored.attempts == 1

    async def test_renew_lease_extends_it_for_the_owner(self, store: RunStore) -> None:
        """renew_lease by the owner moves the expiry to now + lease_seconds and returns True."""
        await store.create_run(make_run())
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.id is not None
        later = T0 + timedelta(seconds=20)
        assert await store.renew_lease(claimed.id, "w", now=later, lease_seconds=30) is True
        stored = await store.get_run(claimed.id)
        assert stored is not None
        assert stored.lease_expires_at == later + timedelta(seconds=30)

    async def test_renew_lease_is_false_for_a_non_owner(self, store: RunStore) -> None:
        """renew_lease by a worker not holding the lease returns False and changes nothing."""
        await store.create_run(make_run())
        claimed = await store.claim_next("owner", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.id is not None
        assert await store.renew_lease(claimed.id, "intruder", now=T0, lease_seconds=999) is False
        stored = await store.get_run(claimed.id)
        assert stored is not None
        assert stored.lease_owner == "owner"
        assert stored.lease_expires_at == T0 + timedelta(seconds=30)

    async def test_renew_lease_is_false_after_finish(self, store: RunStore) -> None:
        """Once a run is finished its former owner cannot renew the lease."""
        await store.create_run(make_run())
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.id is not None
        await store.finish_run(
            claimed.id,
            status=RunStatus.PASSED,
            totals=Totals(passed=1),
            judge=JudgeSummary(),
            usage=Usage(),
            finished_at=T0,
        )
        assert await store.renew_lease(claimed.id, "w", now=T0, lease_seconds=30) is False

    # -- progress / finish / webhook ------------------------------------------------------

    async def test_update_progress_overwrites_progress(self, store: RunStore) -> None:
        """update_progress replaces the stored progress."""
        run = await store.create_run(make_run())
        assert run.id is not None
        await store.update_progress(run.id, Progress(done=1, total=10, current="test-1"))
        await store.update_progress(run.id, Progress(done=2, total=10))
        stored = await store.get_run(run.id, include_items=False)
        assert stored is not None
        assert stored.progress == Progress(done=2, total=10, current=None)

    async def test_finish_run_records_summary_and_releases_lease(self, store: RunStore) -> None:
        """finish_run stores status, totals, judge, usage, finished_at, error; clears the lease."""
        await store.create_run(make_run())
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.id is not None
        await store.append_item(claimed.id, make_item())
        done = T0 + timedelta(minutes=3)
        totals = Totals(passed=3, failed=1, skipped=2, errors=1)
        judge = JudgeSummary(avg_score=0.8125, provider="openai", offline=False)
        usage = Usage(
            tokens=5000, calls=12, prompt_tokens=4000, completion_tokens=1000, cached_calls=2
        )
        await store.finish_run(
            claimed.id,
            status=RunStatus.FAILED,
            totals=totals,
            judge=judge,
            usage=usage,
            finished_at=done,
            error="1 test errored",
        )
        stored = await store.get_run(claimed.id)
        assert stored is not None
        assert stored.status is RunStatus.FAILED
        assert (stored.totals, stored.judge, stored.usage) == (totals, judge, usage)
        assert stored.finished_at == done
        assert stored.error == "1 test errored"
        assert stored.lease_owner is None
        assert stored.lease_expires_at is None
        assert stored.started_at == T0
        assert len(stored.items) == 1

    async def test_record_webhook_stores_the_delivery(self, store: RunStore) -> None:
        """record_webhook stores the delivery outcome on the run."""
        run = await store.create_run(make_run())
        assert run.id is not None
        delivery = WebhookDelivery(
            url="https://hooks.example.test/lamdis",
            ok=False,
            attempts=3,
            status=503,
            error="503 Service Unavailable",
            delivered_at=T0,
        )
        await store.record_webhook(run.id, delivery)
        stored = await store.get_run(run.id)
        assert stored is not None
        assert stored.webhook == delivery

    # -- stop -----------------------------------------------------------------------------

    async def test_request_stop_on_queued_run_stops_it(self, store: RunStore) -> None:
        """A queued run asked to stop becomes stopped with finished_at = now."""
        run = await store.create_run(make_run())
        assert run.id is not None
        stopped = await store.request_stop(run.id, now=T0)
        assert stopped is not None
        assert stopped.id == run.id
        assert stopped.status is RunStatus.STOPPED
        assert stopped.finished_at == T0
        stored = await store.get_run(run.id)
        assert stored is not None
        assert stored.status is RunStatus.STOPPED
        assert stored.finished_at == T0

    async def test_a_repeated_stop_of_a_queued_run_keeps_the_first_stops_instant(
        self, store: RunStore
    ) -> None:
        """Only the stop that ended a queued run gets it back with finished_at == its now."""
        run = await store.create_run(make_run())
        assert run.id is not None
        first = await store.request_stop(run.id, now=T0)
        again = await store.request_stop(run.id, now=T0 + timedelta(milliseconds=1))
        assert first is not None and again is not None
        assert first.finished_at == T0 and again.finished_at == T0
        assert again.status is RunStatus.STOPPED

    async def test_request_stop_on_running_run_sets_stop_requested(self, store: RunStore) -> None:
        """A running run asked to stop keeps running with stop_requested set."""
        await store.create_run(make_run())
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.id is not None
        assert await store.is_stop_requested(claimed.id) is False
        await store.append_item(claimed.id, make_item())
        answer = await store.request_stop(claimed.id, now=T0)
        assert answer is not None
        assert answer.status is RunStatus.RUNNING
        assert answer.stop_requested is True
        assert answer.finished_at is None
        assert answer.items == []
        assert await store.is_stop_requested(claimed.id) is True

    async def test_request_stop_on_finished_run_changes_nothing(self, store: RunStore) -> None:
        """A finished run asked to stop is returned unchanged."""
        await store.create_run(make_run())
        claimed = await store.claim_next("w", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.id is not None
        await store.finish_run(
            claimed.id,
            status=RunStatus.PASSED,
            totals=Totals(passed=2),
            judge=JudgeSummary(avg_score=1.0),
            usage=Usage(),
            finished_at=T0,
        )
        before = await store.get_run(claimed.id, include_items=False)
        answer = await store.request_stop(claimed.id, now=T0 + timedelta(hours=1))
        assert answer == before
        assert await store.get_run(claimed.id, include_items=False) == before

    async def test_request_stop_unknown_run_returns_none(self, store: RunStore) -> None:
        """request_stop of an unknown id returns None; is_stop_requested is False for it."""
        assert await store.request_stop("5f1d7c0e9b1e8a3d2c4b6a01", now=T0) is None
        assert await store.request_stop("not an id", now=T0) is None
        assert await store.is_stop_requested("5f1d7c0e9b1e8a3d2c4b6a01") is False

    # -- recovery -------------------------------------------------------------------------

    async def test_recover_expired_requeues_below_max_attempts(self, store: RunStore) -> None:
        """An expired run below max_attempts is re-queued with items, progress and lease cleared."""
        await store.create_run(make_run())
        claimed = await store.claim_next("dead", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.id is not None
        await store.append_item(claimed.id, make_item())
        await store.update_progress(claimed.id, Progress(done=1, total=4, current="test-1"))
        changed = await store.recover_expired(now=T0 + timedelta(seconds=31), max_attempts=2)
        assert [r.id for r in changed] == [claimed.id]
        stored = await store.get_run(claimed.id)
        assert stored is not None
        assert changed[0] == stored
        assert stored.status is RunStatus.QUEUED
        assert stored.items == []
        assert stored.progress == Progress()
        assert stored.lease_owner is None
        assert stored.lease_expires_at is None
        assert stored.attempts == 1
        again = await store.claim_next("alive", now=T0 + timedelta(minutes=1), lease_seconds=30)
        assert again is not None
        assert again.id == claimed.id
        assert again.attempts == 2

    async def test_recover_expired_fails_at_max_attempts(self, store: RunStore) -> None:
        """An expired run out of attempts fails with error "interrupted" and finished_at = now."""
        await store.create_run(make_run())
        claimed = await store.claim_next("dead", now=T0, lease_seconds=30)
        assert claimed is not None
        assert claimed.id is not None
        await store.append_item(claimed.id, make_item())
        later = T0 + timedelta(minutes=5)
        changed = await store.recover_expired(now=later, max_attempts=1)
        assert len(changed) == 1
        stored = await store.get_run(claimed.id, include_items=False)
        assert stored is not None
        assert changed[0] == stored
        assert stored.status is RunStatus.FAILED
        assert stored.error == INTERRUPTED
        assert stored.finished_at == later
        assert stored.lease_owner is None

    async def test_recover_expired_leaves_live_leases_and_other_runs(self, store: RunStore) -> None:
        """recover_expired touches only running runs whose lease expired before now."""
        queued = await store.create_run(make_run(created_at=T0 + timedelta(hours=1)))
        await store.create_run(make_run(created_at=T0))
        live = await store.claim_next("alive", now=T0, lease_seconds=600)
        assert live is not None
        assert live.id is not None
        assert queued.id is not None
        assert await store.recover_expired(now=T0 + timedelta(seconds=599)) == []
        assert (await store.get_run(live.id)) == live
        stored_queued = await store.get_run(queued.id)
        assert stored_queued is not None
        assert stored_queued.status is RunStatus.QUEUED


class CatalogContract(_Contract):
    """The obligations of ``lamdis_core.ports.catalog.Catalog``."""

    _contract = None  # set below, once the class exists

    @pytest.fixture
    def catalog(self) -> Catalog:
        """A fresh, empty catalog for one test. Subclasses must provide it."""
        raise NotImplementedError("subclass CatalogContract and provide a `catalog` fixture")

    async def test_upsert_adds_org_id_and_timestamps(self, catalog: Catalog) -> None:
        """upsert returns the document with orgId, createdAt and updatedAt (ISO-8601) added."""
        doc = {"id": "suite-1", "description": "Legal", "tests": {"includeIds": ["a", "b"]}}
        stored = await catalog.upsert(CatalogKind.SUITES, "org-1", doc)
        assert stored["id"] == "suite-1"
        assert stored["orgId"] == "org-1"
        assert stored["tests"] == {"includeIds": ["a", "b"]}
        assert stored["description"] == "Legal"
        created = _instant(stored["createdAt"])
        updated = _instant(stored["updatedAt"])
        assert created.tzinfo is not None
        assert updated >= created
        assert await catalog.get(CatalogKind.SUITES, "org-1", "suite-1") == stored

    async def test_list_of_no_organization_holds_no_upserted_document(
        self, catalog: Catalog
    ) -> None:
        """``list(kind, None)`` lists documents of no organization; every upsert names one."""
        await catalog.upsert(CatalogKind.SUITES, "org-a", {"id": "s1", "name": "one"})
        assert await catalog.list(CatalogKind.SUITES, None) == []
        assert [d["id"] for d in await catalog.list(CatalogKind.SUITES, "org-a")] == ["s1"]

    async def test_upsert_replaces_and_keeps_created_at(self, catalog: Catalog) -> None:
        """upsert of an existing id replaces the document but keeps its createdAt."""
        first = await catalog.upsert(
            CatalogKind.TESTS, "org-1", {"id": "t1", "name": "old", "tags": ["x"]}
        )
        second = await catalog.upsert(CatalogKind.TESTS, "org-1", {"id": "t1", "name": "new"})
        assert second["createdAt"] == first["createdAt"]
        assert _instant(second["updatedAt"]) >= _instant(first["updatedAt"])
        got = await catalog.get(CatalogKind.TESTS, "org-1", "t1")
        assert got == second
        assert got is not None
        assert got["name"] == "new"
        assert "tags" not in got

    @pytest.mark.parametrize("doc", [{}, {"name": "x"}, {"id": 7}, {"id": None}, {"id": ""}])
    async def test_upsert_without_string_id_raises_value_error(
        self, catalog: Catalog, doc: dict[str, Any]
    ) -> None:
        """upsert of a document without a string id raises ValueError."""
        with pytest.raises(ValueError, match="id"):
            await catalog.upsert(CatalogKind.PERSONAS, "org-1", doc)
        assert await catalog.list(CatalogKind.PERSONAS, "org-1") == []

    async def test_get_unknown_returns_none(self, catalog: Catalog) -> None:
        """get of an unknown id, or of another organization's id, returns None."""
        await catalog.upsert(CatalogKind.ENVIRONMENTS, "org-1", {"id": "env-1"})
        assert await catalog.get(CatalogKind.ENVIRONMENTS, "org-1", "nope") is None
        assert await catalog.get(CatalogKind.ENVIRONMENTS, "org-2", "env-1") is None
        assert await catalog.get(CatalogKind.ENVIRONMENTS, None, "nope") is None

    async def test_get_without_org_finds_any_organization(self, catalog: Catalog) -> None:
        """get with org_id None returns the document with that id from whichever org holds it."""
        stored = await catalog.upsert(
            CatalogKind.SUITES, "org-7", {"id": "suite-x", "description": "d"}
        )
        assert await catalog.get(CatalogKind.SUITES, None, "suite-x") == stored

    async def test_ids_are_unique_per_kind_and_org(self, catalog: Catalog) -> None:
        """The same id in another kind or another organization is another document."""
        a = await catalog.upsert(CatalogKind.SUITES, "org-1", {"id": "same", "v": 1})
        b = await catalog.upsert(CatalogKind.SUITES, "org-2", {"id": "same", "v": 2})
        c = await catalog.upsert(CatalogKind.TESTS, "org-1", {"id": "same", "v": 3})
        assert await catalog.get(CatalogKind.SUITES, "org-1", "same") == a
        assert await catalog.get(CatalogKind.SUITES, "org-2", "same") == b
        assert await catalog.get(CatalogKind.TESTS, "org-1", "same") == c

    async def test_organization_org_id_is_its_id(self, catalog: Catalog) -> None:
        """An organization document's orgId is its own id."""
        org = await catalog.upsert(
            CatalogKind.ORGANIZATIONS, "acme", {"id": "acme", "name": "Acme"}
        )
        assert org["orgId"] == "acme"
        assert await catalog.get(CatalogKind.ORGANIZATIONS, None, "acme") == org
        assert await catalog.get(CatalogKind.ORGANIZATIONS, "acme", "acme") == org

    async def test_list_is_ordered_by_id_and_scoped(self, catalog: Catalog) -> None:
        """list returns one organization's documents of one kind, ordered by id."""
        for doc_id in ["c", "a", "b"]:
            await catalog.upsert(CatalogKind.REQUESTS, "org-1", {"id": doc_id})
        await catalog.upsert(CatalogKind.REQUESTS, "org-2", {"id": "0"})
        await catalog.upsert(CatalogKind.PERSONAS, "org-1", {"id": "0"})
        listed = await catalog.list(CatalogKind.REQUESTS, "org-1")
        assert [d["id"] for d in listed] == ["a", "b", "c"]
        assert all(d["orgId"] == "org-1" for d in listed)

    async def test_list_honours_limit(self, catalog: Catalog) -> None:
        """list returns at most ``limit`` documents, the first by id."""
        for n in range(5):
            await catalog.upsert(CatalogKind.TESTS, "org-1", {"id": f"t{n}"})
        assert [d["id"] for d in await catalog.list(CatalogKind.TESTS, "org-1", limit=2)] == [
            "t0",
            "t1",
        ]

    async def test_delete_reports_whether_there_was_a_document(self, catalog: Catalog) -> None:
        """delete returns True when it removed a document and False when there was none."""
        await catalog.upsert(CatalogKind.PERSONAS, "org-1", {"id": "p1"})
        assert await catalog.delete(CatalogKind.PERSONAS, "org-2", "p1") is False
        assert await catalog.delete(CatalogKind.PERSONAS, "org-1", "p1") is True
        assert await catalog.get(CatalogKind.PERSONAS, "org-1", "p1") is None
        assert await catalog.delete(CatalogKind.PERSONAS, "org-1", "p1") is False

    async def test_documents_cannot_be_mutated_through_arguments_or_results(
        self, catalog: Catalog
    ) -> None:
        """Mutating a document given to, or returned by, the catalog changes nothing stored."""
        doc: dict[str, Any] = {"id": "p1", "userProfile": {"age": 40, "goals": ["save"]}}
        stored = await catalog.upsert(CatalogKind.PERSONAS, "org-1", doc)
        doc["userProfile"]["goals"].append("tampered")
        stored["userProfile"]["age"] = 1
        got = await catalog.get(CatalogKind.PERSONAS, "org-1", "p1")
        assert got is not None
        got["userProfile"]["goals"].clear()
        again = await catalog.get(CatalogKind.PERSONAS, "org-1", "p1")
        assert again is not None
        assert again["userProfile"] == {"age": 40, "goals": ["save"]}


RunStoreContract._contract = RunStoreContract
CatalogContract._contract = CatalogContract
