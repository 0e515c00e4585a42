"""JSON round-trip for the plain dataclasses that hold facts.

Facts are data, not behaviour: that is what makes captures, replay and the demo free. This module
turns a dataclass tree into JSON-ready dicts and back, driven by the type hints only. Reading back
checks every value against its hint, so code behind a capture only ever meets the types it was
written for; a mismatch is a :class:`SchemaError` naming the field path.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")
MAX_INT = 2**63  # no fact needs more; bigger ones only break int -> str later
MAX_DEPTH = 32  # nesting of free-form (Any) values: vif_details, agent configurations


class SchemaError(ValueError):
    """Data that does not fit the type hints: ``path`` is where, the message what."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'top level'}: {problem}")
        self.path, self.problem = path, problem


def to_data(obj: Any) -> Any:
    """Dataclass tree -> dicts/lists/scalars (JSON-ready)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    return obj


def from_data(cls: type[T], data: Any, path: str = "") -> T:
    """Dicts/lists/scalars -> an instance of ``cls`` (a dataclass or a typing form); raises
    :class:`SchemaError` when ``data`` does not fit."""
    return typing.cast(T, _convert(cls, data, path))


def describe(value: Any) -> str:
    """A value as an error message shows it: JSON spelling, short."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MAX_INT:
        return f"a {len(str(abs(value)))}-digit number"
    text = json.dumps(value)  # ASCII: lone surrogates come out escaped
    return text if len(text) <= 40 else text[:37] + "..."


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _scalar(tp: type, data: Any, path: str) -> Any:
    ok = isinstance(data, tp) and (tp is bool or not isinstance(data, bool))
    if tp is float and isinstance(data, int) and not isinstance(data, bool):
        ok, data = True, float(data) if abs(data) < MAX_INT else data
    if not ok:
        raise SchemaError(path, f"expected {_NAMES[tp]}, got {describe(data)}")
    if tp is int and abs(data) >= MAX_INT:
        raise SchemaError(path, f"number out of range, got {describe(data)}")
    if tp is float and not (isinstance(data, float) and math.isfinite(data)):
        raise SchemaError(path, f"expected a finite number, got {describe(data)}")
    return data


def _free(data: Any, path: str) -> Any:
    """A free-form (``Any``) value: plain JSON, bounded; walked without recursion."""
    stack = [(data, path, 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SchemaError(path, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise SchemaError(where, f"expected string keys, got {describe(key)}")
                stack.append((item, f"{where}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            _scalar(type(value), value, where)
        elif value is not None and not isinstance(value, (str, bool)):
            raise SchemaError(where, f"not a JSON value: {type(value).__name__}")
    return data


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    return typing.get_type_hints(tp)


def _convert(tp: Any, data: Any, path: str) -> Any:
    if tp is Any:
        return _free(data, path)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"serial: unions of several types are not supported: {tp}")
        return _convert(options[0], data, path)
    if data is None:
        raise SchemaError(path, f"expected {_expected(tp)}, got null")
    if origin in (list, tuple):
        if not isinstance(data, list):
            raise SchemaError(path, f"expected a list, got {describe(data)}")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        items = [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(data)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(data, dict):
            raise SchemaError(path, f"expected an object, got {describe(data)}")
        key_tp, val = typing.get_args(tp) or (Any, Any)
        if key_tp not in (str, Any):
            raise TypeError(f"serial: only string keys round-trip through JSON: {tp}")
        return {k: _convert(val, v, f"{path}.{k}" if path else k) for k, v in data.items()}
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, data, path)
    if tp in _NAMES:
        return _scalar(tp, data, path)
    raise TypeError(f"serial: no JSON form for {tp!r}")


def _dataclass(tp: Any, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise SchemaError(path, f"expected an object, got {describe(data)}")
    hints = _hints(tp)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(tp):
        where = f"{path}.{f.name}" if path else f.name
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SchemaError(where, "missing")
    return tp(**values)  # keys it does not know are left out: a newer writer's additions


def check_schema(tp: Any) -> None:
    """TypeError when a type reachable from ``tp`` has no JSON form here (a test calls this on
    the capture bundle, so a new field type fails in CI rather than on a user's load)."""
    seen: set[Any] = set()
    stack = [tp]
    while stack:
        current = stack.pop()
        if current is Any or current in _NAMES or current is type(None) or current in seen:
            continue
        seen.add(current)
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin in (typing.Union, types.UnionType):
            if len([a for a in args if a is not type(None)]) != 1:
                raise TypeError(f"serial: unions of several types are not supported: {current}")
            stack.extend(args)
        elif origin in (list, tuple, dict) and args:
            if origin is dict and args[0] not in (str, Any):
                raise TypeError(f"serial: only string keys round-trip through JSON: {current}")
            if origin is tuple and (len(args) != 2 or args[1] is not ...):
                raise TypeError(f"serial: only tuple[X, ...] is supported: {current}")
            stack.extend(a for a in args if a is not ...)
        elif dataclasses.is_dataclass(current):
            stack.extend(_hints(typing.cast(type, current)).values())
        else:
            raise TypeError(f"serial: no JSON form for {current!r}")


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "an object"
    return _NAMES.get(tp, "a value")
