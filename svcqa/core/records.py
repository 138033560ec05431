"""Dataclass records to and from JSON-ready dicts: the one ``to_dict`` / ``from_dict`` pair.

A record class inherits :class:`Record` and gets both; a class whose JSON differs from its
fields (a renamed or computed key) overrides ``to_dict`` and calls :func:`to_dict` for the rest.

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Take(Record):
...     name: str
...     notes: tuple[int, ...] = ()
...     path: Path | None = None
>>> Take("a", (60, 62), Path("x/a.wav")).to_dict()
{'name': 'a', 'notes': [60, 62], 'path': 'x/a.wav'}
>>> Take.from_dict({"name": "a", "notes": [60], "unknown": 1})
Take(name='a', notes=(60,), path=None)
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

T = TypeVar("T")


def to_dict(record: Any) -> dict[str, Any]:
    """Return the fields of dataclass ``record`` as JSON-ready values (tuples as lists, paths as str)."""
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


def from_dict(cls: type[T], data: Mapping[str, Any] | None) -> T:
    """Return ``cls`` built from ``data``: unknown keys are ignored, missing ones take their defaults,
    lists become tuples, strings become paths and nested dicts become nested records, as the
    field types say."""
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if data is not None and f.name in data:
            values[f.name] = _typed(data[f.name], hints[f.name])
    return cls(**values)


class Record:
    """Mixin for frozen dataclasses: ``to_dict()`` and ``from_dict(data)``."""

    def to_dict(self) -> dict[str, Any]:
        """Return this record as a JSON-ready dict."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Self:
        """Return the record ``data`` describes (see :func:`from_dict`)."""
        return from_dict(cls, data)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if hasattr(value, "to_dict") else to_dict(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return value.as_posix()
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _typed(value: Any, hint: Any) -> Any:
    """Return ``value`` converted to what ``hint`` asks for, where it can tell."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _typed(value, options[0]) if len(options) == 1 else value
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        return tuple(_typed(v, item) if item is not None else v for v in value)
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return hint.from_dict(value) if hasattr(hint, "from_dict") else from_dict(hint, value)
    if hint is Path and isinstance(value, str):
        return Path(value)
    return value
