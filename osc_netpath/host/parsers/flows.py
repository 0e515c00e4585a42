"""``ovs-ofctl --names dump-flows BRIDGE table=N`` -> :class:`Flow` list.

A line reads ``cookie=0x.., duration=1.2s, table=0, n_packets=0, n_bytes=0, priority=3,
in_port="int-br-ex",dl_vlan=101 actions=mod_vlan_vid:3,resubmit(,58)``: statistics separated by
", ", then the match, then ``actions=`` to the end of the line. Match values are unquoted
(``in_port`` is a port name with --names, a number without); actions are kept verbatim, split
on top-level commas only (``resubmit(,58)``, ``learn(...,load:..->..[],...)`` stay whole).
Whether a VLAN is set as ``mod_vlan_vid:2`` (OpenFlow 1.0) or ``set_field:4098->vlan_vid``
(OpenFlow 1.3) depends on the protocol the probe had to use; both forms are kept as printed.
"""
from __future__ import annotations

from osc_netpath.host.facts import Flow

DEFAULT_PRIORITY = 32768  # OFP_DEFAULT_PRIORITY; ovs-ofctl leaves it out of the line
# Fields of a flow entry that are not part of its match.
_NOT_MATCH = frozenset({
    "cookie", "duration", "table", "n_packets", "n_bytes", "idle_age", "hard_age",
    "idle_timeout", "hard_timeout", "priority", "importance", "reset_counts", "send_flow_rem",
    "check_overlap", "no_packet_counts", "no_byte_counts", "out_port", "out_group",
})


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses, brackets and double quotes."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def parse_flow(line: str, bridge: str) -> Flow | None:
    """One dump-flows line -> Flow; None for anything else (a reply header, a blank line)."""
    head, sep, actions = line.strip().partition(" actions=")
    if not sep:
        if not line.strip().startswith("actions="):
            return None
        head, actions = "", line.strip()[len("actions="):]
    fields: dict[str, str] = {}
    match: dict[str, str] = {}
    for token in split_top(head):
        key, _, value = token.partition("=")
        (fields if key in _NOT_MATCH else match)[key] = _unquote(value)
    n_packets = fields.get("n_packets", "")
    return Flow(
        bridge=bridge,
        table=int(fields.get("table", "0")),
        priority=int(fields.get("priority", DEFAULT_PRIORITY)),
        match=match,
        actions=split_top(actions),
        n_packets=int(n_packets) if n_packets.isdigit() else None,
        raw=line.strip(),
    )


def parse_flows(text: str, bridge: str) -> list[Flow]:
    """A whole ``dump-flows`` output -> flows in the order printed."""
    return [f for f in (parse_flow(line, bridge) for line in text.splitlines()) if f is not None]
