"""The channel guide names every channel option, every placeholder and every recipe's
example file; a field added to the model without a line in docs/connecting.md fails here."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest
from lamdis_core.domain import config as c
from lamdis_core.domain.convert import camel
from lamdis_core.template import SIMPLE_NAMES

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "connecting.md"


@pytest.mark.parametrize(
    "cls",
    [
        c.ChannelRequest,
        c.ChannelResponse,
        c.ChannelSession,
        c.SessionStart,
        c.KeepValue,
        c.Condition,
        c.SseSpec,
        c.WebSocketSpec,
    ],
    ids=lambda cls: cls.__name__,
)
def test_every_channel_option_is_in_the_guide(cls: type) -> None:
    text = GUIDE.read_text()
    missing = [
        camel(f.name)
        for f in attrs.fields(cls)
        if not re.search(rf"\b{re.escape(camel(f.name))}\b", text)
    ]
    assert not missing, f"docs/connecting.md does not mention {cls.__name__} fields {missing}"


def test_every_placeholder_is_in_the_guide() -> None:
    text = GUIDE.read_text()
    for name in [*SIMPLE_NAMES, "session.NAME", "var.PATH"]:
        assert f"{{{{{name}}}}}" in text, name


def test_every_recipe_assistant_is_an_example_file() -> None:
    text = GUIDE.read_text()
    for assistant_id in re.findall(r"^id: (assistants/[\w-]+)$", text, re.M):
        assert (REPO / "examples" / "channels" / f"{assistant_id}.yaml").exists(), assistant_id
