"""JSON round-trip for the plain dataclasses that hold facts.

Facts are data, not behaviour: that is what makes captures, replay and the demo free. This module
turns a dataclass tree into JSON-ready dicts and back, driven by the type hints only.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def to_data(obj: Any) -> Any:
    """Dataclass tree -> dicts/lists/scalars (JSON-ready)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    return obj


def from_data(cls: type[T], data: Any) -> T:
    """Dicts/lists/scalars -> an instance of ``cls`` (a dataclass or a typing form)."""
    return typing.cast(T, _convert(cls, data))


def _convert(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], data) if len(args) == 1 else data
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return [_convert(item, v) for v in data]
    if origin is dict:
        _, val = typing.get_args(tp) or (Any, Any)
        return {k: _convert(val, v) for k, v in data.items()}
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        return tp(**{k: _convert(hints[k], v) for k, v in data.items() if k in known})  # type: ignore[operator]
    return data
