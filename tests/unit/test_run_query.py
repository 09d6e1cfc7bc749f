"""The runs list's cursors and query reading (``lamdis_core.service.run_list``), property-based:
a cursor survives the trip through text for any instant and run id, and no text a client
sends makes decoding fail other than with ``ValueError`` (a 400, never a 500)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lamdis_core.ports.store import RunCursor
from lamdis_core.service import (
    API_NAMES,
    InvalidQueryError,
    RunQueryNames,
    decode_cursor,
    encode_cursor,
    parse_run_query,
)

INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(INSTANTS, st.text(min_size=1, max_size=80))
def test_a_cursor_comes_back_as_it_was_given(at: datetime, run_id: str) -> None:
    text = encode_cursor(RunCursor(at, run_id))
    assert text.replace("-", "").replace("_", "").isalnum()  # safe in a URL as it is
    assert decode_cursor(text) == RunCursor(at, run_id)


@given(st.text(max_size=600))
def test_any_text_is_a_cursor_or_a_value_error(text: str) -> None:
    try:
        cursor = decode_cursor(text)
    except ValueError:
        return
    assert encode_cursor(cursor) == text  # only the one spelling encode_cursor writes


def test_stray_characters_and_padding_are_not_read_past() -> None:
    text = encode_cursor(RunCursor(datetime(2026, 3, 1, tzinfo=UTC), "run-1"))
    assert decode_cursor(text).run_id == "run-1"
    for spoiled in (text + "=", text[:4] + " " + text[4:], text[:4] + "+" + text[4:], text + "."):
        with pytest.raises(ValueError):
            decode_cursor(spoiled)


def test_a_naive_instant_is_read_as_utc() -> None:
    naive = datetime(2026, 3, 1, 12, 30, 15, 123456)
    assert decode_cursor(encode_cursor(RunCursor(naive, "r"))).created_at == naive.replace(
        tzinfo=UTC
    )


def test_a_form_reads_empty_fields_as_any_and_an_api_does_not() -> None:
    form = RunQueryNames(org="org", lenient=True, limit=None, offset=None)
    blank = {"org": " ", "status": "", "from": "", "commit": " ", "limit": "999"}
    run_filter = parse_run_query(blank, form, default_limit=25)
    assert (run_filter.org_id, run_filter.status, run_filter.commit) == (None, None, None)
    assert run_filter.limit == 25  # a form without a limit parameter ignores one
    with pytest.raises(InvalidQueryError) as raised:
        parse_run_query({"status": "", "from": "", "orgId": ""}, API_NAMES)
    assert [i.name for i in raised.value.issues] == ["status", "from"]


def test_the_last_day_there_is_has_no_upper_bound() -> None:
    run_filter = parse_run_query({"from": "9999-12-31", "to": "9999-12-31"})
    assert run_filter.created_from == datetime(9999, 12, 31, tzinfo=UTC)
    assert run_filter.created_before is None
    assert parse_run_query({"to": "2026-03-01"}).created_before == datetime(
        2026, 3, 1, tzinfo=UTC
    ) + timedelta(days=1)
