"""The example assistants of examples/channels, loaded as the loader would, pointed at a
running bots server."""

from __future__ import annotations

from pathlib import Path

import attrs
from lamdis_core.config._parse import parse_file
from lamdis_core.config._schema import Checker
from lamdis_core.domain.config import Assistant
from lamdis_core.domain.convert import default_converter

CHANNELS = Path(__file__).resolve().parents[2] / "examples" / "channels"


def example_assistant(name: str, base_url: str, **env: object) -> Assistant:
    """``examples/channels/assistants/<name>.yaml`` with ``env.baseUrl`` set to ``base_url``."""
    parsed = parse_file(CHANNELS / "assistants" / f"{name}.yaml")
    checker = Checker()
    data = checker.object(parsed.data, Assistant)
    assert not checker.errors and not checker.warnings, (checker.errors, checker.warnings)
    assistant = default_converter().structure(data, Assistant)
    return attrs.evolve(
        assistant,
        env=attrs.evolve(assistant.env, base_url=base_url, **env),  # type: ignore[arg-type]
    )
