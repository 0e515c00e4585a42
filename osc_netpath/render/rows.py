"""Rows for cliff's formatters: one row per hop, so -f table|json|yaml|csv|value and -c work."""
from __future__ import annotations

from osc_netpath.path.model import ServerPath

COLUMNS = (
    "Port", "Hop", "Device", "Kind", "Bridge", "VLAN", "MAC", "MTU", "State", "Source", "Peer",
    "Detail",
)


def rows(path: ServerPath) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for port in path.ports:
        for hop in port.hops:
            out.append((
                port.port_id, hop.index, hop.device, hop.kind, hop.bridge, hop.vlan, hop.mac,
                hop.mtu, hop.state, hop.source, hop.peer, hop.detail,
            ))
    return out


def problems(path: ServerPath) -> list[str]:
    """Every finding, prefixed with the port it concerns, for stderr."""
    found = list(path.errors) + list(path.notes)
    for port in path.ports:
        found.extend(f"port {port.port_id[:11]}: {p}" for p in port.problems)
    return found
