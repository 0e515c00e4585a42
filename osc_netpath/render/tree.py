"""The terminal diagram of a path: the picture an operator would draw on a whiteboard."""
from __future__ import annotations

from osc_netpath.path import model as m

_PAIRED = (m.VETH, m.PATCH)


def diagram(path: m.ServerPath) -> str:
    lines = [f"{path.server_name} ({path.server_id})  {path.status}  on {path.host or '?'}"]
    lines.extend(f"  ! {e}" for e in path.errors + path.notes)
    for port in path.ports:
        lines.append("")
        lines.append(
            f"port {port.port_id}  net {port.network} ({port.segment})  "
            f"host {port.host or '?'}  [{port.backend}]"
        )
        lines.extend(_hop_lines(port.hops))
        lines.extend(f"  ! {p}" for p in port.problems)
    return "\n".join(lines) + "\n"


def _hop_lines(hops: list[m.Hop]) -> list[str]:
    out: list[str] = []
    skip = set()
    for i, hop in enumerate(hops):
        if i in skip:
            continue
        label = hop.device
        nxt = hops[i + 1] if i + 1 < len(hops) else None
        if hop.kind in _PAIRED and nxt is not None and nxt.device == hop.peer:
            label = f"{hop.device} ⇄ {nxt.device}"
            skip.add(i + 1)
        facts = [hop.kind]
        if hop.vlan:
            facts.append(_vlan_label(hop))
        if hop.mac and hop.kind in (m.GUEST, m.TAP, m.NIC):
            facts.append(hop.mac)
        if hop.mtu:
            facts.append(f"mtu {hop.mtu}")
        if hop.state:
            facts.append(hop.state)
        if hop.kind in (m.TUNNEL, m.GUEST, m.NIC) and hop.detail:
            facts.append(hop.detail)
        marker = "✗" if hop.source == m.SRC_MISSING else ("└" if i == len(hops) - 1 else "├")
        arrow = "  " if i == 0 else "→ "
        out.append(f"  {marker}─{arrow}{label:<34} {'  '.join(str(f) for f in facts)}")
    return out


def _vlan_label(hop: m.Hop) -> str:
    vlan = hop.vlan or ""
    if hop.kind == m.TUNNEL:
        return vlan
    if "→" in vlan:
        return f"VLAN {vlan}"
    if hop.kind == m.OVS_BRIDGE:
        return f"local VLAN {hop.vlan}"
    return f"tag {hop.vlan}"
