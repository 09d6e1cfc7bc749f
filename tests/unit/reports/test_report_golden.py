"""Every report of a ``--repeat`` run is, byte for byte, what the writers produced before
they streamed (``golden_reports.json``: sha256 of each, rendered at aceb242 from
``_repeat_run.py``): from the items in a list, and from the same items spilled to disk in
the order they finished, as ``lamdis run`` keeps them."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from lamdis_core.engine.finished import SpilledItems

from tests.unit.reports._repeat_run import REPEAT, render_all, repeat_items, repeat_result

GOLDEN = json.loads((Path(__file__).parent / "golden_reports.json").read_text("utf-8"))


def _digests(items: object, stem: str, repeat: int) -> dict[str, str]:
    return {
        f"{stem}-{name}": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        for name, text in render_all(repeat_result(items), repeat).items()
    }


def _spilled(items: list, keep: int, tmp_path: Path) -> SpilledItems:  # type: ignore[type-arg]
    spilled = SpilledItems(keep=keep, directory=str(tmp_path))
    arrival = list(range(len(items)))
    random.Random(7).shuffle(arrival)  # items finish out of plan order
    for index in arrival:
        spilled.put(index, items[index])
    return spilled


@pytest.mark.parametrize("stem", ["repeat", "single"])
def test_reports_from_a_list_are_the_golden_bytes(stem: str) -> None:
    items = [i for i in repeat_items() if stem == "repeat" or i.repeat == 0]
    repeat = REPEAT if stem == "repeat" else 1
    expected = {k: v for k, v in GOLDEN.items() if k.startswith(f"{stem}-")}
    assert _digests(items, stem, repeat) == expected


@pytest.mark.parametrize("keep", [0, 10])
def test_reports_from_spilled_items_are_the_golden_bytes(keep: int, tmp_path: Path) -> None:
    items = repeat_items()
    with _spilled(items, keep, tmp_path) as spilled:
        assert spilled.spilled == len(items) - keep
        assert list(spilled) == items
        expected = {k: v for k, v in GOLDEN.items() if k.startswith("repeat-")}
        assert _digests(spilled, "repeat", REPEAT) == expected
    assert not list(tmp_path.iterdir()), "the spill file is anonymous: nothing is left behind"
