"""``__repr__``, ``__eq__`` and ``__hash__`` for the domain's attrs classes, written once.

attrs writes these methods as source for every class and compiles them when the class is
made; for the domain's ~80 classes that is most of what importing them costs, and every
``lamdis`` command imports them at start-up (bench/RESULTS.md). A class declared with
``repr=False, eq=False`` and one of the bases below gets the same methods from here instead,
reading the class' attrs fields when called: the same text, the same equality, the same hash
equality (attrs' rules: fields with ``repr=False`` are left out of the repr, a ``repr``
callable formats its field, fields with ``eq=False`` are left out of equality and hash, and an
object met again while its own repr is being made reads ``...``, a field without ``init``
not set yet reads ``NOTHING``).

:class:`Value` is for ``@attrs.frozen`` classes (hashable), :class:`Record` for
``@attrs.define`` ones (mutable, so unhashable, as attrs makes them).
"""

from __future__ import annotations

from _thread import _local
from collections.abc import Callable
from typing import Any

import attrs

_Formatter = Callable[[Any], str]
_repr_fields: dict[type, tuple[tuple[str, _Formatter | None, bool], ...]] = {}
_eq_fields: dict[type, tuple[str, ...]] = {}
_hash_parts: dict[type, tuple[int, tuple[str, ...]]] = {}
_repring = _local()


def _fields_repr(self: Any) -> str:
    cls = self.__class__
    fields = _repr_fields.get(cls)
    if fields is None:
        fields = _repr_fields[cls] = tuple(
            (a.name, None if a.repr is True else a.repr, a.init)
            for a in attrs.fields(cls)
            if a.repr is not False
        )
    try:
        already: set[int] = _repring.ids
    except AttributeError:
        already = _repring.ids = set()
    if id(self) in already:
        return "..."
    already.add(id(self))
    try:
        parts = ", ".join(
            f"{name}={_shown(self, name, format, init)}" for name, format, init in fields
        )
        return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({parts})"
    finally:
        already.discard(id(self))


def _shown(self: Any, name: str, format: _Formatter | None, init: bool) -> str:
    # A field without ``init`` may not be set yet.
    value = getattr(self, name) if init else getattr(self, name, attrs.NOTHING)
    return repr(value) if format is None else format(value)


def _compared(cls: type) -> tuple[str, ...]:
    names = _eq_fields.get(cls)
    if names is None:
        names = _eq_fields[cls] = tuple(a.name for a in attrs.fields(cls) if a.eq)
    return names


def _fields_eq(self: Any, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    # Field by field, stopping at the first difference: attrs' ``a == a and b == b ...``.
    result: Any = True
    for name in _compared(self.__class__):
        result = getattr(self, name) == getattr(other, name)
        if not result:
            return result
    return result


def _fields_hash(self: Any) -> int:
    cls = self.__class__
    parts = _hash_parts.get(cls)
    if parts is None:
        names = tuple(
            a.name for a in attrs.fields(cls) if a.hash is True or (a.hash is None and a.eq)
        )
        parts = _hash_parts[cls] = (hash(f"{cls.__module__}.{cls.__qualname__}"), names)
    salt, names = parts
    return hash((salt, *[getattr(self, name) for name in names]))


class Value:
    """Base of frozen domain classes: attrs' repr, equality and hash, compiled once."""

    __slots__ = ()
    __repr__ = _fields_repr
    __eq__ = _fields_eq
    __hash__ = _fields_hash


class Record:
    """Base of mutable domain classes: attrs' repr and equality, compiled once; unhashable."""

    __slots__ = ()
    __repr__ = _fields_repr
    __eq__ = _fields_eq
    __hash__ = None  # type: ignore[assignment]
