"""Rows for cliff's formatters: one row per hop, so -f table|json|yaml|csv|value and -c work."""
from __future__ import annotations

from osc_netpath.path.model import ServerPath
from osc_netpath.render.text import cell, items, text

COLUMNS = (
    "Port", "Hop", "Device", "Kind", "Bridge", "VLAN", "MAC", "MTU", "State", "Source", "Peer",
    "Detail",
)


def rows(path: ServerPath) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for port in items(path.ports):
        for hop in items(port.hops):
            out.append(tuple(cell(v) for v in (
                port.port_id, hop.index, hop.device, hop.kind, hop.bridge, hop.vlan, hop.mac,
                hop.mtu, hop.state, hop.source, hop.peer, hop.detail,
            )))
    return out


def problems(path: ServerPath) -> list[str]:
    """Every finding, prefixed with the port it concerns, for stderr."""
    found = [text(p) for p in items(path.errors) + items(path.notes)]
    for port in items(path.ports):
        found.extend(f"port {text(port.port_id)[:11]}: {text(p)}" for p in items(port.problems))
    return found
