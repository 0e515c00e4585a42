"""``ovs-ofctl --names dump-flows BRIDGE table=N`` -> :class:`Flow` list.

A line reads ``cookie=0x.., duration=1.2s, table=0, n_packets=0, n_bytes=0, priority=3,
in_port="int-br-ex",dl_vlan=101 actions=mod_vlan_vid:3,resubmit(,58)``: statistics separated by
", ", then the match, then ``actions=`` to the end of the line. Match values are unquoted
(``in_port`` is a port name with --names, a number without); actions are kept verbatim, split
on top-level commas only (``resubmit(,58)``, ``learn(...,load:..->..[],...)`` stay whole).
Whether a VLAN is set as ``mod_vlan_vid:2`` (OpenFlow 1.0) or ``set_field:4098->vlan_vid``
(OpenFlow 1.3) depends on the protocol the probe had to use; both forms are kept as printed.

A big host dumps 100k lines: the parser looks only at the characters that matter (commas,
brackets, quotes) and interns the short strings that repeat from line to line.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterator

from osc_netpath.host.facts import Flow

DEFAULT_PRIORITY = 32768  # OFP_DEFAULT_PRIORITY; ovs-ofctl leaves it out of the line
# Fields of a flow entry that are not part of its match.
_NOT_MATCH = frozenset({
    "cookie", "duration", "table", "n_packets", "n_bytes", "idle_age", "hard_age",
    "idle_timeout", "hard_timeout", "priority", "importance", "reset_counts", "send_flow_rem",
    "check_overlap", "no_packet_counts", "no_byte_counts", "out_port", "out_group",
})
_SIGNIFICANT = re.compile(r'[(\[)\],"]')
# A top-level piece: plain text, "quoted", [bracketed] or (parenthesised with brackets or quotes
# inside): one C-level pass for what ovs-ofctl prints; deeper nesting takes the slow path.
_BRACKETED = r'\[[^\[\]()"]*\]'
_PIECE = re.compile(rf'(?:[^,"(\[)\]]|"[^"]*"|{_BRACKETED}'
                    rf'|\((?:[^()"\[\]]|"[^"]*"|{_BRACKETED})*\))+')  # one way to match: linear
_INTERN_MAX = 48  # action and match strings up to this long repeat across lines


def split_top(text: str) -> list[str]:
    """Split on commas outside parentheses, brackets and double quotes."""
    quoted = text.split('"')[1::2]  # the quoted stretches, when the quotes pair up
    if "(" not in text and "[" not in text and text.count('"') % 2 == 0 \
            and not any("," in q for q in quoted):  # a match, most action lists: plain commas
        parts = text.split(",")
    else:
        parts = _PIECE.findall(text)
        if ",".join(parts) != text:  # empty pieces, nesting, stray brackets: one by one
            parts = _split_slow(text)
    return [p for p in map(str.strip, parts) if p]


def _split_slow(text: str) -> list[str]:
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for m in _SIGNIFICANT.finditer(text):
        ch = m.group()
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif depth == 0:  # a separating comma
            parts.append(text[start:m.start()])
            start = m.end()
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _intern(text: str) -> str:
    return sys.intern(text) if len(text) <= _INTERN_MAX else text


def _number(fields: dict[str, str], key: str) -> int | None:
    """A decimal field, None when absent; ValueError when it is not a number (never a guess)."""
    text = fields.get(key)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 20):  # 20 digits: any uint64
        raise ValueError(f"{key}={text[:40]!r} is not a number")
    return int(text)


def parse_flow(line: str, bridge: str, _actions: dict[str, list[str]] | None = None) -> Flow | None:
    """One dump-flows line -> Flow; None for anything else (a reply header, a blank line).
    ValueError for a flow line whose table or priority is not a number. ``_actions``: the
    action lists already split (neutron repeats a few over thousands of lines)."""
    text = line.strip()
    head, sep, actions = text.partition(" actions=")
    if not sep:
        if not text.startswith("actions="):
            return None
        head, actions = "", text[len("actions="):]
    pairs = [token.partition("=") for token in split_top(head)]
    fields = {k: v for k, _, v in pairs if k in _NOT_MATCH}
    table, priority = _number(fields, "table"), _number(fields, "priority")
    try:
        n_packets = _number(fields, "n_packets")
    except ValueError:
        n_packets = None  # a statistic: never a reason to lose the flow
    return Flow(
        bridge=bridge,
        table=0 if table is None else table,
        priority=DEFAULT_PRIORITY if priority is None else priority,
        match={_intern(k): _intern(_unquote(v)) for k, _, v in pairs if k not in _NOT_MATCH},
        actions=list(_split_actions(actions, {} if _actions is None else _actions)),
        n_packets=n_packets,
        raw=text,
    )


def _split_actions(text: str, seen: dict[str, list[str]]) -> list[str]:
    split = seen.get(text)
    if split is None:
        split = seen[text] = [_intern(a) for a in split_top(text)]
    return split


def _lines(text: str) -> Iterator[str]:
    """The lines one at a time: a list of 100k of them would double the memory needed."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        yield text[start:end]
        start = end + 1


def parse_flows(text: str, bridge: str) -> list[Flow]:
    """A whole ``dump-flows`` output -> flows in the order printed."""
    flows = []
    seen: dict[str, list[str]] = {}
    for number, line in enumerate(_lines(text), 1):
        try:
            flow = parse_flow(line, bridge, seen)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if flow is not None:
            flows.append(flow)
    return flows
