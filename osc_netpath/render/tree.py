"""The terminal diagram of a path: the picture an operator would draw on a whiteboard."""
from __future__ import annotations

from osc_netpath.path import model as m
from osc_netpath.path.network import NetworkView
from osc_netpath.render.text import items, text

_PAIRED = (m.VETH, m.PATCH)


def diagram(path: m.ServerPath) -> str:
    head = f"{text(path.server_name)} ({text(path.server_id)})  {text(path.status)}"
    lines = [f"{head}  on {text(path.host) or '?'}"]
    lines.extend(f"  ! {text(e)}" for e in items(path.errors) + items(path.notes))
    for port in items(path.ports):
        lines.append("")
        lines.append(
            f"port {text(port.port_id)}  net {text(port.network)} ({text(port.segment)})  "
            f"host {text(port.host) or '?'}  [{text(port.backend)}]"
        )
        lines.extend(_hop_lines(items(port.hops)))
        lines.extend(f"  ! {text(p)}" for p in items(port.problems))
    return "\n".join(lines) + "\n"


def _hop_lines(hops: list[m.Hop]) -> list[str]:
    out: list[str] = []
    skip = set()
    for i, hop in enumerate(hops):
        if i in skip:
            continue
        label = text(hop.device)
        nxt = hops[i + 1] if i + 1 < len(hops) else None
        if hop.kind in _PAIRED and nxt is not None and text(nxt.device) == text(hop.peer):
            label = f"{label} ⇄ {text(nxt.device)}"
            skip.add(i + 1)
        facts = [text(hop.kind)]
        if hop.vlan:
            facts.append(_vlan_label(hop))
        if hop.mac and hop.kind in (m.GUEST, m.TAP, m.NIC):
            facts.append(text(hop.mac))
        if hop.mtu:
            facts.append(f"mtu {text(hop.mtu)}")
        if hop.state:
            facts.append(text(hop.state))
        if hop.kind in (m.TUNNEL, m.GUEST, m.NIC) and hop.detail:
            facts.append(text(hop.detail))
        marker = "✗" if hop.source == m.SRC_MISSING else ("└" if i == len(hops) - 1 else "├")
        arrow = "  " if i == 0 else "→ "
        out.append(f"  {marker}─{arrow}{label:<34} {'  '.join(facts)}")
    return out


def _vlan_label(hop: m.Hop) -> str:
    vlan = text(hop.vlan)
    if hop.kind == m.TUNNEL or vlan.startswith(("VLAN ", "VNI ")) or vlan == "untagged":
        return vlan  # says what it is (OVN: the tag on the wire, there is no local VLAN)
    if "→" in vlan:
        return f"VLAN {vlan}"
    if hop.kind == m.OVS_BRIDGE:
        return f"local VLAN {vlan}"
    return f"tag {vlan}"


def network_diagram(view: NetworkView, title: str) -> str:
    """``netpath network show --diagram``: one block per host, its ports and agents under it,
    namespaces and local VLANs beside them; findings at the end."""
    lines = [text(title)]
    lines.extend(f"  ! {text(e)}" for e in items(view.errors))
    for row in items(view.rows):
        facts = [f for f in (text(row.device), f"in {text(row.namespace)}" if row.namespace
                             else "", f"local VLAN {text(row.vlan)}" if row.vlan else "",
                             text(row.state)) if f]
        if row.kind == "host":  # the host's name is the row's; its facts beside it
            lines += ["", "  ".join([text(row.host), *facts])]
        else:
            lines.append(f"  {text(row.kind):<18} {text(row.name)}  " + "  ".join(facts))
        if row.detail:
            lines.append(f"  {'':<18} {text(row.detail)}")
    if view.findings:
        lines.append("")
        lines.extend(f"! {text(f)}" for f in items(view.findings))
    return "\n".join(lines) + "\n"
