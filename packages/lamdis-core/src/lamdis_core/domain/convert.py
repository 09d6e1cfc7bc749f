"""cattrs converters for the domain model.

Files and API bodies speak camelCase; Python speaks snake_case. ``make_converter()`` builds a
converter that maps every attrs field ``foo_bar`` to ``fooBar`` (``passed`` to ``pass``),
dispatches the ``Step`` and ``AuthConfig`` unions on their discriminators, and writes
datetimes as ISO-8601 strings. Stores that keep native datetimes add their own hooks on top,
in the manner of cattrs' ``preconf`` modules.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from lamdis_core.domain import config as c
from lamdis_core.domain.config import UNSET


def _wire_name(field: attrs.Attribute[Any]) -> str:
    """The field's name in files and bodies: camelCase, or its ``wire_name`` metadata (a
    check's ``passed`` is ``pass``, a Python keyword)."""
    wire: str | None = field.metadata.get("wire_name")
    return wire or camel(field.name)


@functools.cache
def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class UnknownDiscriminatorError(ValueError):
    """A tagged union got a tag it does not know."""


def _structure_step(converter: cattrs.Converter, value: Any, _: Any) -> c.Step:
    if not isinstance(value, dict):
        raise TypeError(f"expected a step object, got {type(value).__name__}")
    step_type = value.get("type")
    if step_type is None:
        raise UnknownDiscriminatorError(
            f"step has no 'type'; expected one of: {', '.join(c.STEP_TYPES)}"
        )
    cls = c.STEP_TYPES.get(step_type)
    if cls is None:
        raise UnknownDiscriminatorError(
            f"unknown step type {step_type!r}; expected one of: {', '.join(c.STEP_TYPES)}"
        )
    step: c.Step = converter.structure(value, cls)
    return step


def _structure_auth(converter: cattrs.Converter, value: Any, _: Any) -> c.AuthConfig:
    if not isinstance(value, dict):
        raise TypeError(f"expected an auth object, got {type(value).__name__}")
    cls: type[Any]
    if value.get("kind") == "oauth_client_credentials":
        cls = c.OAuthClientCredentials
    elif "pattern" in value:
        cls = c.PatternAuth
    elif "headers" in value:
        cls = c.StaticAuth
    else:
        raise UnknownDiscriminatorError(
            "auth file must be one of: static {id, headers}, pattern {id, env, pattern}, "
            "or {id, kind: oauth_client_credentials, clientId, clientSecret, tokenUrl, ...}"
        )
    auth: c.AuthConfig = converter.structure(value, cls)
    return auth


def _structure_suite_tests(converter: cattrs.Converter, value: Any, _: Any) -> Any:
    if isinstance(value, list):
        return converter.structure(value, list[c.TestCase])
    return converter.structure(value, c.SuiteTests)


def _structure_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(f"expected an ISO-8601 timestamp, got {type(value).__name__}")


def _unstructure_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _passthrough(value: Any, _: Any) -> Any:
    return value


def make_converter(*, omit_none: bool = True) -> cattrs.Converter:
    """A converter for every config and result type.

    Args:
        omit_none: leave out ``None`` fields when unstructuring (keeps files and reports lean).
    """
    converter = cattrs.Converter(forbid_extra_keys=False)

    def structure_factory(cls: type[Any]) -> Any:
        overrides = {
            a.name: override(rename=_wire_name(a))
            for a in attrs.fields(cls)
            if _wire_name(a) != a.name
        }
        return make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def unstructure_factory(cls: type[Any]) -> Any:
        overrides = {
            a.name: override(rename=_wire_name(a))
            for a in attrs.fields(cls)
            if _wire_name(a) != a.name
        }
        base = make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
        if not omit_none:
            return base

        # A field whose None means something ("cost unknown") is written out as null.
        kept = {_wire_name(a) for a in attrs.fields(cls) if a.metadata.get("keep_none")}

        def unstructure(obj: Any) -> dict[str, Any]:
            return {
                k: v
                for k, v in base(obj).items()
                if (v is not None or k in kept) and v is not UNSET
            }

        return unstructure

    converter.register_structure_hook_factory(attrs.has, structure_factory)
    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    converter.register_structure_hook(
        c.Step,
        lambda v, t: _structure_step(converter, v, t),
    )
    converter.register_structure_hook(
        c.AuthConfig,
        lambda v, t: _structure_auth(converter, v, t),
    )
    converter.register_structure_hook(
        c.SuiteTests | list[c.TestCase],
        lambda v, t: _structure_suite_tests(converter, v, t),
    )
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(datetime, _unstructure_datetime)
    converter.register_structure_hook(Any, _passthrough)
    # Checked by the config schema before structuring; either form is kept as written.
    converter.register_structure_hook(str | list[str] | None, _passthrough)
    return converter


_default: cattrs.Converter | None = None


def default_converter() -> cattrs.Converter:
    """A process-wide converter (building one is not free; reuse it)."""
    global _default
    if _default is None:
        _default = make_converter()
    return _default
