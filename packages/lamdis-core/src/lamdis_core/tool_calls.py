"""Reading tool calls out of a model's or an assistant's answer."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from lamdis_core.ports.target import ToolCall
from lamdis_core.sanitize import loads_bounded


def to_tool_call(item: Any) -> ToolCall | None:
    """One call from OpenAI's ``{function: {name, arguments}}``, or ``{name, arguments}``
    (also ``args``/``input``/``parameters``). Arguments given as JSON text are decoded."""
    if not isinstance(item, Mapping):
        return None
    function = item.get("function")
    inner: Mapping[str, Any] = function if isinstance(function, Mapping) else item
    name = inner.get("name")
    if not isinstance(name, str):
        return None
    arguments: Any = None
    for key in ("arguments", "args", "input", "parameters"):
        if key in inner:
            arguments = inner[key]
            break
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):  # not JSON, or nested too deep: kept as text
            arguments = loads_bounded(arguments) if arguments.strip() else {}
    call_id = item.get("id")
    return ToolCall(
        name=name, arguments=arguments, id=call_id if isinstance(call_id, str) else None
    )
