"""Values made safe to print: whatever the host or a capture put in a fact, output never raises.

A lone surrogate (from bytes that were not UTF-8) cannot be encoded to a UTF-8 terminal, file or
pipe: it becomes U+FFFD. Anything that is not a plain scalar is shown as text.
"""
from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def text(value: Any) -> str:
    """Any value as printable text ("" for None)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = str(value)
        except (ValueError, RecursionError):  # a >4300-digit int, a self-nested list
            value = f"<{type(value).__name__}>"
    if value.isascii():
        return value
    return _SURROGATE.sub(REPLACEMENT, value)


def cell(value: Any) -> Any:
    """A value for a cliff row: None and plain numbers and booleans as they are (JSON keeps
    their type), everything else as printable text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and abs(value) < 2**63:
        return value
    return text(value)


def items(value: Any) -> list[Any]:
    """A list that may be None or something else in a damaged fact."""
    return list(value) if isinstance(value, (list, tuple)) else []
