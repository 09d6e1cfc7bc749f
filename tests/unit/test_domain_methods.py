"""The domain classes' shared ``__repr__``/``__eq__``/``__hash__`` (lamdis_core.domain.base)
behave as the methods attrs would have generated for each class: every class is compared
with a twin that attrs builds from the same fields."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any

import attrs
import pytest
from lamdis_core.domain.base import Record, Value

MODULES = (
    "lamdis_core.domain.config",
    "lamdis_core.domain.results",
    "lamdis_core.domain.plan",
    "lamdis_core.domain.errors",
    "lamdis_core.ports.judge",
    "lamdis_core.ports.target",
    "lamdis_core.ports.requester",
    "lamdis_core.config._parse",
    "lamdis_core.config._pipeline",
    "lamdis_core.config._resolve",
    "lamdis_core.config._schema",
    "lamdis_core.config.env_policy",
    "lamdis_core.config.loader",
    "lamdis_core.cron",
    "lamdis_core.engine._auth",
    "lamdis_core.engine.runner",
    "lamdis_core.generators",
    "lamdis_core.jsonpath",
    "lamdis_core.pricing",
    "lamdis_core.ratelimit",
    "lamdis_core.reports.stats",
    "lamdis_core.reports.summary",
    "lamdis_core.retry",
    "lamdis_core.offline_judge",
    "lamdis_http.targets._channel",
)


def _classes() -> list[type]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == name
                and attrs.has(value)
                and issubclass(value, Value | Record)
            ):
                found.append(value)
    return found


CLASSES = _classes()


def _twin(cls: type) -> type:
    """``cls``'s fields in a class whose methods attrs generates itself."""
    fields = {
        a.name: attrs.field(repr=a.repr, eq=a.eq, hash=a.hash, kw_only=a.kw_only)
        for a in attrs.fields(cls)
    }
    twin = attrs.make_class(cls.__name__, fields, frozen=issubclass(cls, Value), slots=True)
    twin.__qualname__ = cls.__qualname__
    return twin


def _values(cls: type, tag: str) -> dict[str, Any]:
    return {a.alias: f"{tag}-{a.name}" for a in attrs.fields(cls)}


def test_every_domain_class_uses_the_shared_methods() -> None:
    """The bases only save the compile when attrs does not generate its own methods."""
    assert len(CLASSES) > 90
    for cls in CLASSES:
        base = Value if issubclass(cls, Value) else Record
        assert (cls.__repr__, cls.__eq__, cls.__hash__) == (
            base.__repr__,
            base.__eq__,
            base.__hash__,
        ), cls


def _as_twin(twin: type, obj: object) -> object:
    """``obj``'s field values (after any ``__attrs_post_init__``) in ``twin``."""
    return twin(**{a.alias: getattr(obj, a.name) for a in attrs.fields(type(obj))})


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_repr_equality_and_hash_are_those_attrs_generates(cls: type) -> None:
    twin = _twin(cls)
    values = _values(cls, "a")
    one, same = cls(**values), cls(**values)
    assert repr(one) == repr(_as_twin(twin, one))
    assert one == same
    assert (one != same) is False  # __ne__ inverts __eq__, as attrs has it
    assert one != _as_twin(twin, one) and one != object()
    if issubclass(cls, Value):
        assert hash(one) == hash(same)
    else:
        with pytest.raises(TypeError):
            hash(one)
    for a in attrs.fields(cls):
        other = cls(**{**values, a.alias: "b"})
        assert (one == other) is (_as_twin(twin, one) == _as_twin(twin, other)), a.name
        assert repr(other) == repr(_as_twin(twin, other))


def test_fields_left_out_and_objects_met_again_read_as_attrs_has_them() -> None:
    from lamdis_core.domain.plan import RunPlan
    from lamdis_core.domain.results import Check

    # RunPlan.env is repr=False, eq=False: not shown, not compared.
    assert repr(RunPlan(env={"K": "v"})) == (
        "RunPlan(entries=[], warnings=[], suite_id=None, files=[], skipped=[])"
    )
    assert RunPlan(env={"K": "v"}) == RunPlan(env=None)
    assert hash(RunPlan(entries=(), warnings=(), files=(), skipped=())) == hash(  # type: ignore[arg-type]
        RunPlan(entries=(), warnings=(), files=(), skipped=(), env={"K": "v"})  # type: ignore[arg-type]
    )
    check = Check(type="t", passed=True)
    check.details["self"] = check
    assert repr(check) == (
        "Check(type='t', subtype=None, name=None, passed=True, severity='error', "
        "details={'self': ...}, error=None, skipped=False)"
    )
    assert repr(check) == repr(check)  # the guard is cleared after each repr


def test_the_domain_package_still_re_exports_its_modules_names() -> None:
    """``lamdis_core.domain`` imports a module when one of its names is first asked for."""
    code = (
        "import sys\n"
        "import lamdis_core.domain.config\n"
        "print('lamdis_core.domain.results' in sys.modules)\n"
        "import lamdis_core.domain as domain\n"
        "from lamdis_core.domain import results, errors, config\n"
        "print(domain.Check is results.Check, domain.ConfigError is errors.ConfigError,\n"
        "      domain.TestCase is config.TestCase)\n"
        "namespace = {}\n"
        "exec('from lamdis_core.domain import *', namespace)\n"
        "print(namespace['Item'] is results.Item, namespace['UNSET'] is config.UNSET)\n"
        "print(hasattr(domain, 'no_such_name'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split() == ["False", "True", "True", "True", "True", "True", "False"]
