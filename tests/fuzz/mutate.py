"""Hypothesis strategies that damage real recorded outputs: JSON trees, text, probe sections.

Inputs start from the fixtures recorded from real tools (tests/fixtures/probe/) and the demo
capture, so the fuzzer spends its budget near the shapes the parsers really meet.
"""
from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.unit.probe_fixtures import read

# Strings a host or a hand edit can produce: markers' words, separators, lone surrogates,
# control characters, other line ends, very long runs.
NASTY_TEXT = st.sampled_from([
    "", " ", "\n", "\r\n", "\r", "\x00", "\x0b", "\x85", "\u2028", "\ud800", "\udcff", "\ufeff",
    '"', "\\", ",", "=", ":", "(", ")", "[", "]", "{", "}", "@@", "@@netpath", "actions=",
    "table=", "priority=", " actions=drop", "-1", "99999999999999999999999", "1e400", "NaN",
    "Infinity", "é", "☃", "x" * 5000, "(" * 2000, "[" * 2000, "9" * 5000,
])
TEXT = st.one_of(st.text(max_size=40), NASTY_TEXT)

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
OVSDB_VALUES = st.one_of(  # values shaped like --data=json's, damaged inside
    JSON_VALUES,
    st.tuples(st.sampled_from(["set", "map", "uuid", "named-uuid"]), JSON_VALUES).map(list),
    st.lists(st.lists(JSON_VALUES, max_size=3), max_size=3).map(lambda v: ["map", v]),
)


def nodes(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every node below ``doc``, depth first, without recursion."""
    found: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        keys = range(len(node)) if isinstance(node, list) else list(node) \
            if isinstance(node, dict) else []
        for key in keys:
            found.append((node, key))
            stack.append(node[key])
    return found


@st.composite
def mutated_json(draw: st.DrawFn, doc: Any, values: st.SearchStrategy[Any] = JSON_VALUES,
                 max_edits: int = 4) -> Any:
    """``doc`` (a fresh copy) with a few nodes replaced, deleted, duplicated or wrapped."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, max_edits))):
        places = nodes(doc)
        if not places:
            return draw(values)
        parent, key = places[draw(st.integers(0, len(places) - 1))]
        op = draw(st.sampled_from(["replace", "replace", "delete", "wrap", "duplicate", "deep"]))
        if op == "replace":
            parent[key] = draw(values)
        elif op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, parent[key])
        elif op == "deep":
            parent[key] = draw(st.sampled_from(list(_DEEP)))
    return doc


# Nesting too deep to build here: placeholders that dumps() expands. 500 levels parse, then
# break whatever recurses over them; 100k levels break the parser itself.
_DEEP = {f"\x00deep{n}\x00": "[" * n + "]" * n for n in (500, 100_000)}


def dumps(doc: Any) -> str:
    """``doc`` as one line of JSON, deep placeholders expanded."""
    text = json.dumps(doc)
    for mark, deep in _DEEP.items():
        text = text.replace(json.dumps(mark), deep)
    return text


@st.composite
def mutated_text(draw: st.DrawFn, text: str, max_edits: int = 4) -> str:
    """``text`` with a few splices: cut, insert, replace a line, swap two lines, re-encode."""
    for _ in range(draw(st.integers(1, max_edits))):
        op = draw(st.sampled_from(["cut", "insert", "line", "swap", "truncate", "crlf",
                                   "surrogates"]))
        at = draw(st.integers(0, len(text)))
        if op == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 200)):]
        elif op == "insert":
            text = text[:at] + draw(TEXT) + text[at:]
        elif op == "truncate":
            text = text[:at]
        elif op == "crlf":
            text = text.replace("\n", "\r\n")
        elif op == "surrogates":  # what bytes that were not UTF-8 become, decoded leniently
            text = text[:at] + "\udcff\ud800" + text[at:]
        else:
            lines = text.split("\n")
            i, j = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
            if op == "line":
                lines[i] = draw(TEXT)
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def json_lines(name: str) -> list[Any]:
    return [json.loads(line) for line in read(name).splitlines() if line.strip()]
