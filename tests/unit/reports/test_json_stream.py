"""The JSON summary written item by item is the very text of one ``json.dumps`` of the
whole summary (issue 16 item 4: a large --repeat run is no longer built as one string)."""

from __future__ import annotations

import io
import json

import pytest
from lamdis_core.domain.results import ItemStatus
from lamdis_core.engine import RunResult
from lamdis_core.reports import build_summary, render_json, write_json
from lamdis_core.sanitize import clean

from tests.unit.reports.test_reports import _item, _result


def _whole(result: RunResult, indent: int | None, **kwargs: object) -> str:
    summary = build_summary(result, **kwargs)  # type: ignore[arg-type]
    text = json.dumps(clean(summary), indent=indent, ensure_ascii=False, allow_nan=False)
    return text + "\n"


@pytest.mark.parametrize("indent", [2, None, 4])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_streamed_json_is_the_same_text_as_one_dump(indent: int | None, count: int) -> None:
    items = [_item(f"t{n}", ItemStatus.PASSED) for n in range(count)]
    for item in items:
        item.transcript[-1].content = 'multi\nline "quoted" \ud83d reply'  # escaped by JSON
    result = _result(items)
    kwargs = {"files": ["a.json"], "warnings": ["w"], "repeat": 1, "suite_id": "s"}
    out = io.StringIO()
    write_json(out, result, indent=indent, **kwargs)  # type: ignore[arg-type]
    assert out.getvalue() == _whole(result, indent, **kwargs)
    assert render_json(result, indent=indent, **kwargs) == out.getvalue()  # type: ignore[arg-type]
    assert len(json.loads(out.getvalue())["items"]) == count
