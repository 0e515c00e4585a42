"""What the neutron-openvswitch-agent adds to a port's path (both firewall drivers).

- br-int tags the port with a host-local VLAN (4095 = dead: isolated);
- flat/VLAN traffic leaves through the ``int-<br>`` ⇄ ``phy-<br>`` patch pair to the bridge named
  by ``bridge_mappings``, where table 0 rewrites the local VLAN to the segmentation id
  (``mod_vlan_vid``) or strips it (flat), and br-int's table 0 maps it back;
- tunnelled traffic leaves through a patch pair to the tunnel bridge (``[ovs] tunnel_bridge``,
  br-tun by default: the host names it), where table 22 maps the local VLAN to the VNI and table
  4/3/6 (VXLAN/GRE/Geneve) maps it back;
- a trunk parent port sits on its ``tbr-`` trunk bridge, patched to br-int by ``tpt-``/``tpi-``.
"""
from __future__ import annotations

import re

from osc_netpath.host.facts import OvsInterface
from osc_netpath.path import core
from osc_netpath.path import model as m

TRUNK_BRIDGE_PREFIX = "tbr-"  # neutron.services.trunk.drivers.openvswitch.constants


DEAD_VLAN = 4095  # neutron.plugins.ml2.drivers.openvswitch.agent.common.constants.DEAD_VLAN_TAG


def int_bridge_hop(ctx: core.Walk, ovs_if: OvsInterface | None, hybrid: bool) -> int | None:
    """The OVS port of the VIF (qvo for hybrid) and br-int; returns the local VLAN."""
    ovs = ctx.facts.ovs
    expected = f"qvo{ctx.port.short_id}" if hybrid else f"tap{ctx.port.short_id}"
    if ovs is None:
        ctx.add(device=ctx.int_br, kind=m.OVS_BRIDGE, state="unknown", source=m.SRC_UNKNOWN,
                detail=f"Open vSwitch not readable: {ctx.facts.unknown_why('ovs') or '?'}")
        return None
    if ovs_if is None:
        ctx.problems.append(
            f"no OVS interface on {ctx.facts.host} has external_ids:iface-id={ctx.port.id} "
            f"(expected {expected} on {ctx.int_br}): the VIF is not plugged"
        )
        if hybrid:
            ctx.add(device=expected, kind=m.OVS_PORT, bridge=ctx.int_br, state="absent",
                    source=m.SRC_MISSING, peer=f"qvb{ctx.port.short_id}")
        ctx.add(device=ctx.int_br, kind=m.OVS_BRIDGE, source=m.SRC_OVSDB,
                state="present" if ctx.int_br in ovs.bridges else "absent")
        return None
    oport = ovs.ports.get(ovs_if.name)
    bridge = oport.bridge if oport else None
    tag = oport.tag if oport else None
    vlan = str(tag) if tag is not None else None
    if bridge and bridge != ctx.int_br:
        ctx.problems.append(f"{ovs_if.name} is on {bridge}, but the binding names {ctx.int_br}")
    if tag == DEAD_VLAN:
        ctx.problems.append(
            f"{ovs_if.name} is on dead VLAN {DEAD_VLAN}: the OVS agent has isolated it "
            "(port not bound or agent out of sync; check the agent log on "
            f"{ctx.facts.host})"
        )
    elif tag is None:
        ctx.problems.append(f"{ovs_if.name} has no local VLAN tag on {bridge}: agent not wired")
    if hybrid:
        ctx.add(device=ovs_if.name, kind=m.OVS_PORT, bridge=bridge, vlan=vlan,
                mac=ovs_if.mac_in_use, mtu=ovs_if.mtu, state=core.ovs_state(ovs_if),
                source=m.SRC_OVSDB, peer=f"qvb{ctx.port.short_id}",
                detail=core.ids_detail(ctx, ovs_if))
    else:
        tap_hop = ctx.hops[-1]
        tap_hop.vlan, tap_hop.bridge = vlan, bridge
        tap_hop.detail = core.ids_detail(ctx, ovs_if)
    ctx.add(device=bridge or ctx.int_br, kind=m.OVS_BRIDGE, vlan=vlan,
            source=m.SRC_OVSDB, detail=core.bridge_detail(ctx, bridge or ctx.int_br))
    return tag


def trunk_hops(ctx: core.Walk, tap: str, ovs_if: OvsInterface | None, tbr: str) -> int | None:
    """A trunk parent port: tap on tbr-<trunk>, tpt-<port> ⇄ tpi-<port> patches to br-int, where
    tpi carries the port's local VLAN (subports ride spt-/spi- pairs, VLAN-tagged in the guest)."""
    ovs = ctx.facts.ovs
    core.tap_hop(ctx, tap, ovs_if)
    ctx.hops[-1].bridge = tbr
    if ovs_if is not None:
        ctx.hops[-1].detail = core.ids_detail(ctx, ovs_if)
    ctx.add(device=tbr, kind=m.OVS_BRIDGE, source=m.SRC_OVSDB,
            state="present" if ovs and tbr in ovs.bridges else "absent",
            detail="trunk bridge")
    pair = core.patch_pair(ctx, tbr, ctx.int_br) if ovs else None
    if ovs is None or pair is None:
        ctx.problems.append(f"no patch pair between trunk bridge {tbr} and {ctx.int_br}: the "
                            "OVS agent has not wired the trunk")
        return None
    near, far = pair
    core.patch_hops(ctx, near, far, ctx.int_br, near_bridge=tbr)
    tag = ovs.ports[far.name].tag if far.name in ovs.ports else None
    if tag == DEAD_VLAN:
        ctx.problems.append(f"{far.name} is on dead VLAN {DEAD_VLAN}: the trunk parent is not "
                            "wired by the agent")
    ctx.add(device=ctx.int_br, kind=m.OVS_BRIDGE, vlan=None if tag is None else str(tag),
            source=m.SRC_OVSDB, detail=core.bridge_detail(ctx, ctx.int_br))
    return tag


def _provider_hops(ctx: core.Walk, local_vlan: int | None) -> None:
    seg = ctx.segment
    physnet = seg.physical_network or ""
    mappings = ctx.agent.bridge_mappings if ctx.agent else {}
    phys_br = mappings.get(physnet)
    if phys_br is None:
        who = f"the L2 agent of {ctx.facts.host}" if ctx.agent else f"no L2 agent on {ctx.facts.host}"
        ctx.problems.append(
            f"{who} has no bridge_mappings entry for physical network {physnet!r}"
            if ctx.agent else f"{who} is known to Neutron: cannot tell which bridge carries {physnet!r}"
        )
        return
    if ctx.facts.ovs is None:  # unknown is not absent: say what the API maps, no finding
        ctx.add(device=phys_br, kind=m.OVS_BRIDGE, state="unknown", source=m.SRC_UNKNOWN,
                detail=f"bridge_mappings {physnet}:{phys_br}; Open vSwitch not readable")
        return
    pair = core.patch_pair(ctx, ctx.int_br, phys_br)
    if pair is None:
        ctx.problems.append(f"no patch port pair between {ctx.int_br} and {phys_br}")
        ctx.add(device=phys_br, kind=m.OVS_BRIDGE, source=m.SRC_MISSING, state="unreachable",
                detail=f"bridge_mappings {physnet}:{phys_br}")
        return
    near, far = pair
    core.patch_hops(ctx, near, far, phys_br)
    egress = _egress_vlan(ctx, phys_br, far, local_vlan)
    ingress = _ingress_vlan(ctx, near, local_vlan)
    want = "untagged" if seg.network_type == "flat" else str(seg.segmentation_id)
    vlan = None
    unread = core.flows_unknown(ctx, phys_br, ctx.int_br)
    detail = f"bridge_mappings {physnet}:{phys_br}"
    if local_vlan is not None and unread:
        vlan, detail = f"{local_vlan} → ?", f"{detail}; flows not readable: {unread}"
    elif local_vlan is not None:
        vlan = f"{local_vlan} → {egress or '?'}"
        _expect(ctx, egress, want,
                f"no flow on {phys_br} rewrites local VLAN {local_vlan} → {want} "
                f"(in_port={far.name}): the agent has not wired this network",
                f"{phys_br} rewrites local VLAN {local_vlan} → {egress}, Neutron says {want}")
        _expect(ctx, ingress, want,
                f"no flow on {ctx.int_br} maps {want} from {near.name} back to local VLAN "
                f"{local_vlan}",
                f"{ctx.int_br} maps {ingress} from {near.name} to local VLAN {local_vlan}, "
                f"Neutron says {want}")
    ctx.add(device=phys_br, kind=m.OVS_BRIDGE, vlan=vlan,
            source=m.SRC_UNKNOWN if unread else m.SRC_FLOWS, detail=detail)
    core.uplink_hops(ctx, phys_br)


def _expect(ctx: core.Walk, got: str | None, want: str, missing: str, wrong: str) -> None:
    """One finding when a translation flow is missing, another when it disagrees with Neutron."""
    if got is None:
        ctx.problems.append(missing)
    elif got != want:
        ctx.problems.append(wrong)


def _egress_vlan(ctx: core.Walk, bridge: str, phy_patch: OvsInterface, local: int | None) -> str | None:
    """What the physical bridge does to the local VLAN: a segmentation id, or 'untagged'."""
    if local is None:
        return None
    for flow in core.flows(ctx, bridge):
        if core.in_port_matches(flow, phy_patch) and core.vlan_of(flow) == local:
            return core.vlan_action(flow.actions)
    return None


def _ingress_vlan(ctx: core.Walk, int_patch: OvsInterface, local: int | None) -> str | None:
    """The br-int flow that maps the provider VLAN (or untagged) coming in back to ``local``."""
    if local is None:
        return None
    for flow in core.flows(ctx, ctx.int_br):
        if core.in_port_matches(flow, int_patch) and core.vlan_action(flow.actions) == str(local):
            return str(core.vlan_of(flow)) if core.vlan_of(flow) is not None else "untagged"
    return None


def _tunnel_hops(ctx: core.Walk, local_vlan: int | None) -> None:
    ovs = ctx.facts.ovs
    kind = ctx.segment.network_type
    if ovs is None:  # the br-int hop already says OVS could not be read
        return
    tun_br, why_not = _tunnel_bridge(ctx, kind)
    pair = core.patch_pair(ctx, ctx.int_br, tun_br) if tun_br else None
    if pair is None:
        ctx.problems.append(why_not or f"no patch port from {ctx.int_br} to {tun_br}")
        return
    near, far = pair
    assert tun_br is not None
    core.patch_hops(ctx, near, far, tun_br)
    vni = ctx.segment.segmentation_id
    tunnels = [i for i in ovs.interfaces.values()
               if i.type == kind and ovs.ports.get(i.name) and ovs.ports[i.name].bridge == tun_br]
    unread = core.flows_unknown(ctx, tun_br)
    vlan: str | None = None
    outputs: set[str] = set()
    detail = f"{kind} {vni}"
    if local_vlan is not None and unread:
        vlan, detail = f"{local_vlan} → VNI ?", f"{detail}; flows not readable: {unread}"
    elif local_vlan is not None:
        out_vni, outputs = _tunnel_egress(ctx, tun_br, local_vlan)
        vlan = f"{local_vlan} → VNI {out_vni if out_vni is not None else '?'}"
        if out_vni is None:
            ctx.problems.append(
                f"no flow on {tun_br} sends local VLAN {local_vlan} into a tunnel (table 22 "
                "drops it): " + ("no other host has a port on this network yet, or the agent "
                                 "has not wired it" if tunnels else f"{tun_br} has no tunnel"))
        elif out_vni != vni:
            ctx.problems.append(f"{tun_br} maps local VLAN {local_vlan} to VNI {out_vni}, "
                                f"Neutron says {vni}")
        if _tunnel_ingress(ctx, tun_br, vni) != local_vlan:
            ctx.problems.append(f"no flow on {tun_br} maps VNI {vni} back to local "
                                f"VLAN {local_vlan} (table {_TUN_TO_LV.get(kind, '?')})")
    ctx.add(device=tun_br, kind=m.OVS_BRIDGE, vlan=vlan,
            source=m.SRC_UNKNOWN if unread else m.SRC_FLOWS, detail=detail)
    if outputs:
        tunnels = [t for t in tunnels if t.name in outputs or str(t.ofport) in outputs] or tunnels
    if not tunnels:  # nothing leaves: no underlay hop to show
        ctx.problems.append(f"no {kind} tunnel port on {tun_br}: no tunnel to any other host "
                            "(no other host shares a network, or tunnels are not configured)")
        return
    local_ips: set[str] = set()
    every = [i for i in ovs.interfaces.values() if i.type == kind and ovs.ports.get(i.name)
             and ovs.ports[i.name].bridge == tun_br]  # not only the ones table 22 floods to
    for ip, where in sorted(ctx.router_peers.items()):
        if not any(t.options.get("remote_ip") == ip for t in every):
            ctx.problems.append(f"no {kind} tunnel from {ctx.facts.host} to {ip}, the tunnel "
                                f"endpoint of {where}: the server's traffic cannot reach its "
                                "router")
    for tun in sorted(tunnels, key=lambda t: t.name):
        remote = tun.options.get("remote_ip")
        local = tun.options.get("local_ip") or (ctx.agent.tunneling_ip if ctx.agent else None)
        if local:
            local_ips.add(local)
        to = f"; to {ctx.router_peers[remote]}" if remote in ctx.router_peers else ""
        ctx.add(device=tun.name, kind=m.TUNNEL, bridge=tun_br, vlan=f"VNI {vni}",
                state=core.ovs_state(tun), source=m.SRC_OVSDB, peer=remote,
                detail=f"{kind} {local or '?'} → {remote or '?'}{to}")
    for ip in sorted(local_ips):
        core.underlay_hop(ctx, ip)


# neutron ...openvswitch.agent.common.constants: tun_id -> local VLAN tables of br-tun
_TUN_TO_LV = {"vxlan": 4, "gre": 3, "geneve": 6}


def _tunnel_bridge(ctx: core.Walk, kind: str) -> tuple[str | None, str | None]:
    """(the tunnel bridge of the integration bridge, why there is none).

    The OVS agent's ``[ovs] tunnel_bridge`` is configurable and not in the agents API: it is the
    bridge patched to the integration bridge that is not a provider bridge (bridge_mappings) nor
    a trunk bridge; one holding tunnel ports of the segment's type first.
    """
    ovs = ctx.facts.ovs
    assert ovs is not None
    mapped = set(ctx.agent.bridge_mappings.values()) if ctx.agent else set()
    candidates: list[tuple[int, str]] = []
    for iface, peer in core.patch_pairs(ctx, ctx.int_br):
        bridge = ovs.ports[peer.name].bridge
        if bridge in mapped or bridge.startswith(TRUNK_BRIDGE_PREFIX) or bridge == ctx.int_br:
            continue
        types = {ovs.interfaces[i].type for p in ovs.bridges[bridge].ports if p in ovs.ports
                 for i in ovs.ports[p].interfaces if i in ovs.interfaces} \
            if bridge in ovs.bridges else set()
        rank = 0 if kind in types else 1 if types & set(core.TUNNEL_TYPES) else 2
        if rank == 2 and ctx.agent is None:
            continue  # without bridge_mappings a provider bridge looks the same
        candidates.append((rank, bridge))
    if not candidates:
        if ctx.agent is None:
            return None, (f"no bridge patched to {ctx.int_br} holds tunnel ports, and without "
                          "the L2 agent's bridge_mappings a tunnel bridge cannot be told from a "
                          "provider bridge")
        return None, (f"no patch port from {ctx.int_br} to a tunnel bridge (every bridge "
                      f"patched to it is a provider bridge in bridge_mappings): is "
                      f"{kind} in the agent's tunnel_types?")
    return min(candidates)[1], None


def _tunnel_egress(ctx: core.Walk, bridge: str, local: int | None) -> tuple[int | None, set[str]]:
    if local is None:
        return None, set()
    for flow in core.flows(ctx, bridge):
        if core.vlan_of(flow) != local:
            continue
        vni = _tun_id_action(flow.actions)
        if vni is not None:
            outs = {a.split(":", 1)[1].strip('"') for a in flow.actions if a.startswith("output:")}
            return vni, outs
    return None, set()


_LOAD_TUN = re.compile(r"^(?:load:|set_field:)(0x[0-9a-fA-F]+|\d+)->(?:NXM_NX_TUN_ID\[\]|tun_id)$")


def _tun_id_action(actions: list[str]) -> int | None:
    for action in actions:
        match = _LOAD_TUN.match(action)
        if match:
            return int(match.group(1), 0)
    return None


def _tunnel_ingress(ctx: core.Walk, bridge: str, vni: int | None) -> int | None:
    if vni is None:
        return None
    for flow in core.flows(ctx, bridge):
        raw = flow.match.get("tun_id")
        if raw is None:
            continue
        try:
            tun_id = int(raw.split("/")[0], 0)
        except ValueError:
            continue
        if tun_id == vni:
            target = core.vlan_action(flow.actions)
            return int(target) if target and target.isdigit() else None
    return None


def leave(ctx: core.Walk, local_vlan: int | None) -> None:
    """From br-int to the uplink, by the segment's type."""
    network_type = ctx.segment.network_type
    if local_vlan == DEAD_VLAN:  # isolated on br-int: nothing leaves, so the path ends here
        return
    if network_type in core.TUNNEL_TYPES:
        _tunnel_hops(ctx, local_vlan)
    elif network_type in ("flat", "vlan"):
        _provider_hops(ctx, local_vlan)
    elif network_type == "local":
        ctx.problems.append("network type 'local': traffic never leaves br-int on this host")
    elif network_type == "unknown":
        ctx.problems.append("the network's segment is not visible to this cloud profile "
                            "(provider attributes are admin-only): the path stops at br-int")
    else:
        ctx.problems.append(f"network type {network_type!r} is not traced yet")
