"""The in-memory store copies runs without deepcopy; the copies must still be independent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from lamdis_core.domain.results import (
    Check,
    Item,
    ItemStatus,
    Run,
    RunStatus,
    TranscriptEntry,
    Trigger,
)
from lamdis_core.testing.memory import _copy_run
from lamdis_core.testing.strategies import json_values


def _mutables(value: Any) -> list[Any]:
    """Every dict, list and attrs object inside ``value``, by identity."""
    import attrs

    found: list[Any] = []
    if isinstance(value, dict):
        found.append(value)
        for child in value.values():
            found += _mutables(child)
    elif isinstance(value, list):
        found.append(value)
        for child in value:
            found += _mutables(child)
    elif attrs.has(type(value)):
        found.append(value)
        for field in attrs.fields(type(value)):
            found += _mutables(getattr(value, field.name))
    return found


@given(git_context=json_values(), details=json_values())
def test_a_copied_run_is_equal_and_shares_nothing_mutable(git_context: Any, details: Any) -> None:
    run = Run(
        org_id="o",
        suite_id="s",
        trigger=Trigger.CI,
        status=RunStatus.RUNNING,
        git_context={"ctx": git_context},
        request={"kind": "suite", "tests": ["a"]},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        items=[
            Item(
                test_id="t",
                test_name="t",
                assistant="a",
                status=ItemStatus.PASSED,
                transcript=[TranscriptEntry(role="user", content="hi")],
                assertions=[Check(type="includes", passed=True, details={"d": details})],
            )
        ],
    )
    copied = _copy_run(run, include_items=True)
    assert copied == run
    originals = {id(m) for m in _mutables(run)}
    assert not originals & {id(m) for m in _mutables(copied)}
    assert copied.status is RunStatus.RUNNING
    without_items = _copy_run(run, include_items=False)
    assert without_items.items == [] and len(run.items) == 1
