"""ML2/Open vSwitch: the hops from the guest NIC to the uplink, hybrid and native firewall.

What os-vif and the neutron-openvswitch-agent build (and what this module reads back):

- iptables_hybrid: tap<id> → qbr<id> (linux bridge) → qvb<id> ⇄ qvo<id> (veth) → br-int
- openvswitch (native) firewall: tap<id> directly on br-int (libvirt ``type='ethernet'`` or
  ``type='bridge'`` + ``<virtualport type='openvswitch'>``)
- br-int tags the port with a host-local VLAN; flat/VLAN traffic leaves through the
  ``int-<br>`` ⇄ ``phy-<br>`` patch pair to the bridge named by ``bridge_mappings``, where table 0
  rewrites the local VLAN to the segmentation id (``mod_vlan_vid``) or strips it (flat);
  tunnelled traffic leaves through ``patch-tun`` ⇄ ``patch-int`` to br-tun, where table 22 maps
  the local VLAN to the VNI and table 4 maps it back.

<id> is the first 11 characters of the Neutron port id (nova.network.model.NIC_NAME_LEN = 14).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from osc_netpath.cloud.facts import AgentFacts, PortFacts, Segment
from osc_netpath.host.facts import Domain, DomainInterface, Flow, HostFacts, Ovs, OvsInterface
from osc_netpath.path import model as m

TRUNK_BRIDGE_PREFIX = "tbr-"  # neutron.services.trunk.drivers.openvswitch.constants
DEAD_VLAN = 4095  # neutron.plugins.ml2.drivers.openvswitch.agent.common.constants.DEAD_VLAN_TAG
TUNNEL_TYPES = ("vxlan", "gre", "geneve")
PATCH = "patch"
_NOT_NIC = {"internal", "patch", *TUNNEL_TYPES}


@dataclass
class _Ctx:
    """Everything one port's resolution reads; built once by :func:`resolve_port_hops`."""

    port: PortFacts
    facts: HostFacts
    segment: Segment
    agent: AgentFacts | None
    domain: Domain | None
    int_br: str
    hops: list[m.Hop]
    problems: list[str]
    server_id: str | None = None
    net_mtu: int | None = None
    guest_state: str | None = None

    def add(self, **kw: object) -> m.Hop:
        hop = m.Hop(index=len(self.hops), **kw)  # type: ignore[arg-type]
        self.hops.append(hop)
        return hop


def resolve_port_hops(
    port: PortFacts,
    segment: Segment,
    facts: HostFacts,
    agent: AgentFacts | None,
    domain: Domain | None,
    hybrid: bool,
    int_br: str,
    guest_label: str,
    server_id: str | None = None,
    net_mtu: int | None = None,
    guest_state: str | None = None,
) -> tuple[list[m.Hop], list[str]]:
    """Walk one port from the guest to the uplink. Returns (hops, problems)."""
    ctx = _Ctx(port, facts, segment, agent, domain, int_br, [], [], server_id, net_mtu,
               guest_state)
    vif = _domain_interface(domain, port)
    _guest_hop(ctx, vif, guest_label)
    ovs_if = _ovs_interface_for_port(ctx)
    tap_name = (vif.target_dev if vif and vif.target_dev else None) or f"tap{port.short_id}"
    if int_br.startswith(TRUNK_BRIDGE_PREFIX):
        ctx.int_br = (agent.integration_bridge if agent else None) or "br-int"
        local_vlan = _trunk_hops(ctx, tap_name, ovs_if, int_br)
    else:
        if hybrid:
            _hybrid_hops(ctx, tap_name)
        else:
            _native_tap_hop(ctx, tap_name, ovs_if)
        local_vlan = _int_bridge_hop(ctx, ovs_if, hybrid)
    if local_vlan == DEAD_VLAN:  # isolated on br-int: nothing leaves, so the path ends here
        return ctx.hops, ctx.problems
    if segment.network_type in TUNNEL_TYPES:
        _tunnel_hops(ctx, local_vlan)
    elif segment.network_type in ("flat", "vlan"):
        _provider_hops(ctx, local_vlan)
    elif segment.network_type == "local":
        ctx.problems.append("network type 'local': traffic never leaves br-int on this host")
    elif segment.network_type == "unknown":
        ctx.problems.append("the network's segment is not visible to this cloud profile "
                            "(provider attributes are admin-only): the path stops at br-int")
    else:
        ctx.problems.append(f"network type {segment.network_type!r} is not traced yet")
    return ctx.hops, ctx.problems


# --- guest and host-side VIF -------------------------------------------------------------


def _domain_interface(domain: Domain | None, port: PortFacts) -> DomainInterface | None:
    if domain is None:
        return None
    for vif in domain.interfaces:
        if vif.interface_id == port.id:
            return vif
    mac = port.mac_address.lower()
    return next((v for v in domain.interfaces if (v.mac or "").lower() == mac), None)


def _guest_hop(ctx: _Ctx, vif: DomainInterface | None, guest_label: str) -> None:
    ips = ", ".join(ip.ip_address for ip in ctx.port.fixed_ips)
    details = [ips] if ips else []
    source = m.SRC_API
    if vif is not None:
        source = f"{m.SRC_API}+{m.SRC_LIBVIRT}"
        details.append(f"libvirt {vif.type}" + (f" {vif.model}" if vif.model else ""))
    elif ctx.domain is not None:
        ctx.problems.append(
            f"libvirt domain {ctx.domain.name} has no interface with MAC {ctx.port.mac_address}"
        )
    ctx.add(
        device=guest_label,
        kind=m.GUEST,
        mac=ctx.port.mac_address,
        mtu=vif.mtu if vif else None,
        state=ctx.guest_state or ctx.port.status,
        source=source,
        detail="; ".join(details) or None,
    )


def _link_hop(ctx: _Ctx, name: str, kind: str, bridge: str | None, **kw: object) -> m.Hop:
    """A hop for a kernel device; an absent device is shown as missing, never skipped."""
    link = ctx.facts.link(name)
    if link is None and (why := ctx.facts.unknown_why("links")):
        return ctx.add(device=name, kind=kind, bridge=bridge, state="unknown",
                       source=m.SRC_UNKNOWN, detail=f"kernel devices not readable: {why}", **kw)
    if link is None:
        ctx.problems.append(f"{name} ({kind}) does not exist on {ctx.facts.host}")
        return ctx.add(
            device=name, kind=kind, bridge=bridge, state="absent", source=m.SRC_MISSING, **kw
        )
    if ctx.net_mtu and link.mtu and link.mtu < ctx.net_mtu:
        ctx.problems.append(f"{name} has MTU {link.mtu}, smaller than the network's "
                            f"{ctx.net_mtu}: large packets are dropped here")
    return ctx.add(
        device=name,
        kind=kind,
        bridge=bridge or _bridge_of_link(ctx, name, link.master),
        mac=link.mac,
        mtu=link.mtu,
        state=link.operstate,
        source=m.SRC_KERNEL,
        **kw,
    )


def _bridge_of_link(ctx: _Ctx, name: str, master: str | None) -> str | None:
    if master and master != "ovs-system":
        return master
    ovs = ctx.facts.ovs
    if ovs and name in ovs.ports:
        return ovs.ports[name].bridge
    return master


def _hybrid_hops(ctx: _Ctx, tap: str) -> None:
    sid = ctx.port.short_id
    qbr, qvb, qvo = f"qbr{sid}", f"qvb{sid}", f"qvo{sid}"
    _link_hop(ctx, tap, m.TAP, None)
    _link_hop(ctx, qbr, m.LINUX_BRIDGE, None, detail="iptables_hybrid firewall bridge")
    _check_member(ctx, tap, qbr)
    _check_member(ctx, qvb, qbr)
    peer = _veth_peer(ctx, qvb)
    hop = _link_hop(ctx, qvb, m.VETH, None, peer=peer or qvo)
    if peer and peer != qvo:
        ctx.problems.append(f"{qvb} is paired with {peer}, expected {qvo}")
    if hop.source != m.SRC_MISSING and peer is None:
        hop.detail = "veth peer not resolved"


def _check_member(ctx: _Ctx, dev: str, bridge: str) -> None:
    link, br = ctx.facts.link(dev), ctx.facts.link(bridge)
    if link and br and link.master != bridge:
        where = f"is on {link.master}" if link.master else "is on no bridge"
        ctx.problems.append(f"{dev} {where}, expected linux bridge {bridge}")


def _veth_peer(ctx: _Ctx, name: str) -> str | None:
    link = ctx.facts.link(name)
    if link is None:
        return None
    if link.peer_name:
        return link.peer_name
    if link.peer_ifindex is not None and link.peer_netnsid is None:
        peer = ctx.facts.link_by_index(link.peer_ifindex)
        return peer.name if peer else None
    return None


def _native_tap_hop(ctx: _Ctx, tap: str, ovs_if: OvsInterface | None) -> None:
    # With the native firewall the tap *is* the br-int port; its VLAN goes on the br-int hop.
    name = ovs_if.name if ovs_if is not None else tap
    _link_hop(ctx, name, m.TAP, None)


# --- br-int --------------------------------------------------------------------------------


def interfaces_of_port(ovs: Ovs, port_id: str) -> list[OvsInterface]:
    """Interfaces whose external_ids:iface-id is the port; the attached one (valid ofport) first."""
    found = [i for i in ovs.interfaces.values() if i.external_ids.get("iface-id") == port_id]
    return sorted(found, key=lambda i: (i.ofport is None or i.ofport < 0, i.name))


def _ovs_interface_for_port(ctx: _Ctx) -> OvsInterface | None:
    """The br-int interface of the port: external_ids:iface-id is authoritative, not names/MACs."""
    ovs = ctx.facts.ovs
    if ovs is None:
        return None
    # a trunk's tpi- patch port on br-int carries the parent's iface-id too: not a competitor
    found = [i for i in interfaces_of_port(ovs, ctx.port.id) if i.type != PATCH]
    if len(found) > 1:
        names = ", ".join(sorted(i.name for i in found))
        ctx.problems.append(f"{len(found)} OVS interfaces claim iface-id {ctx.port.id} ({names}): "
                            "a stale plug competes with the live one")
    if found and (found[0].error or found[0].ofport == -1):
        ctx.problems.append(f"OVS cannot use {found[0].name}: "
                            f"{found[0].error or 'ofport -1 (device missing?)'}")
    return found[0] if found else None


def _int_bridge_hop(ctx: _Ctx, ovs_if: OvsInterface | None, hybrid: bool) -> int | None:
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
                mac=ovs_if.mac_in_use, mtu=ovs_if.mtu, state=_ovs_state(ovs_if),
                source=m.SRC_OVSDB, peer=f"qvb{ctx.port.short_id}",
                detail=_ids_detail(ctx, ovs_if))
    else:
        tap_hop = ctx.hops[-1]
        tap_hop.vlan, tap_hop.bridge = vlan, bridge
        tap_hop.detail = _ids_detail(ctx, ovs_if)
    ctx.add(device=bridge or ctx.int_br, kind=m.OVS_BRIDGE, vlan=vlan,
            source=m.SRC_OVSDB, detail=_bridge_detail(ctx, bridge or ctx.int_br))
    return tag


def _trunk_hops(ctx: _Ctx, tap: str, ovs_if: OvsInterface | None, tbr: str) -> int | None:
    """A trunk parent port: tap on tbr-<trunk>, tpt-<port> ⇄ tpi-<port> patches to br-int, where
    tpi carries the port's local VLAN (subports ride spt-/spi- pairs, VLAN-tagged in the guest)."""
    ovs = ctx.facts.ovs
    _native_tap_hop(ctx, tap, ovs_if)
    ctx.hops[-1].bridge = tbr
    if ovs_if is not None:
        ctx.hops[-1].detail = _ids_detail(ctx, ovs_if)
    ctx.add(device=tbr, kind=m.OVS_BRIDGE, source=m.SRC_OVSDB,
            state="present" if ovs and tbr in ovs.bridges else "absent",
            detail="trunk bridge")
    pair = _patch_pair(ctx, tbr, ctx.int_br) if ovs else None
    if ovs is None or pair is None:
        ctx.problems.append(f"no patch pair between trunk bridge {tbr} and {ctx.int_br}: the "
                            "OVS agent has not wired the trunk")
        return None
    near, far = pair
    _patch_hops(ctx, near, far, ctx.int_br, near_bridge=tbr)
    tag = ovs.ports[far.name].tag if far.name in ovs.ports else None
    if tag == DEAD_VLAN:
        ctx.problems.append(f"{far.name} is on dead VLAN {DEAD_VLAN}: the trunk parent is not "
                            "wired by the agent")
    ctx.add(device=ctx.int_br, kind=m.OVS_BRIDGE, vlan=None if tag is None else str(tag),
            source=m.SRC_OVSDB, detail=_bridge_detail(ctx, ctx.int_br))
    return tag


def _ovs_state(iface: OvsInterface) -> str | None:
    return iface.link_state or iface.admin_state


def _ids_detail(ctx: _Ctx, iface: OvsInterface) -> str | None:
    """os-vif writes attached-mac and vm-uuid next to iface-id; a mismatch is a stale plug."""
    ids = iface.external_ids
    mac = ids.get("attached-mac")
    if mac and mac.lower() != ctx.port.mac_address.lower():
        ctx.problems.append(f"{iface.name} external_ids:attached-mac is {mac}, "
                            f"the port's MAC is {ctx.port.mac_address}")
    vm = ids.get("vm-uuid")
    if vm and ctx.server_id and vm != ctx.server_id:
        ctx.problems.append(f"{iface.name} external_ids:vm-uuid is {vm}, not this server "
                            f"({ctx.server_id}): plugged for another instance")
    status = ids.get("iface-status")
    return f"iface-status {status}" if status else None


def _bridge_detail(ctx: _Ctx, name: str) -> str | None:
    ovs = ctx.facts.ovs
    br = ovs.bridges.get(name) if ovs else None
    if br is None:
        return None
    bits = [f"datapath {br.datapath_type}" if br.datapath_type else None,
            f"fail_mode {br.fail_mode}" if br.fail_mode else None]
    return "; ".join(b for b in bits if b) or None


# --- leaving br-int ----------------------------------------------------------------------


def _patch_pair(ctx: _Ctx, from_bridge: str, to_bridge: str | None) -> tuple[OvsInterface, OvsInterface] | None:
    """The patch port on ``from_bridge`` whose peer sits on ``to_bridge`` (any bridge if None)."""
    ovs = ctx.facts.ovs
    assert ovs is not None or not _patch_pairs(ctx, from_bridge)
    for iface, peer in _patch_pairs(ctx, from_bridge):
        if to_bridge is None or (ovs and ovs.ports[peer.name].bridge == to_bridge):
            return iface, peer
    return None


def _patch_hops(ctx: _Ctx, near: OvsInterface, far: OvsInterface, far_bridge: str,
                near_bridge: str | None = None) -> None:
    ovs = ctx.facts.ovs
    assert ovs is not None
    for iface, peer, bridge in ((near, far, near_bridge or ctx.int_br), (far, near, far_bridge)):
        ctx.add(device=iface.name, kind=m.PATCH, bridge=bridge, peer=peer.name,
                state=_ovs_state(iface), source=m.SRC_OVSDB,
                detail=f"ofport {iface.ofport}" if iface.ofport is not None else None)


def _provider_hops(ctx: _Ctx, local_vlan: int | None) -> None:
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
    pair = _patch_pair(ctx, ctx.int_br, phys_br)
    if pair is None:
        ctx.problems.append(f"no patch port pair between {ctx.int_br} and {phys_br}")
        ctx.add(device=phys_br, kind=m.OVS_BRIDGE, source=m.SRC_MISSING, state="unreachable",
                detail=f"bridge_mappings {physnet}:{phys_br}")
        return
    near, far = pair
    _patch_hops(ctx, near, far, phys_br)
    egress = _egress_vlan(ctx, phys_br, far, local_vlan)
    ingress = _ingress_vlan(ctx, near, local_vlan)
    want = "untagged" if seg.network_type == "flat" else str(seg.segmentation_id)
    vlan = None
    unread = _flows_unknown(ctx, phys_br, ctx.int_br)
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
    _uplink_hops(ctx, phys_br)


def _flows_unknown(ctx: _Ctx, *bridges: str) -> str | None:
    """Why the flows of one of ``bridges`` could not be read (None: all were read)."""
    return next((why for b in bridges if (why := ctx.facts.unknown_why(f"flows:{b}"))), None)


def _expect(ctx: _Ctx, got: str | None, want: str, missing: str, wrong: str) -> None:
    """One finding when a translation flow is missing, another when it disagrees with Neutron."""
    if got is None:
        ctx.problems.append(missing)
    elif got != want:
        ctx.problems.append(wrong)


def _in_port_matches(flow: Flow, iface: OvsInterface) -> bool:
    in_port = flow.match.get("in_port", "").strip('"')
    return in_port == iface.name or (iface.ofport is not None and in_port == str(iface.ofport))


def _vlan_of(flow: Flow) -> int | None:
    raw = flow.match.get("dl_vlan") or flow.match.get("vlan_vid")
    if raw is None:
        return None
    try:
        return int(raw, 0) & 0xFFF
    except ValueError:
        return None


def _egress_vlan(ctx: _Ctx, bridge: str, phy_patch: OvsInterface, local: int | None) -> str | None:
    """What the physical bridge does to the local VLAN: a segmentation id, or 'untagged'."""
    if local is None:
        return None
    for flow in _flows(ctx, bridge):
        if _in_port_matches(flow, phy_patch) and _vlan_of(flow) == local:
            return _vlan_action(flow.actions)
    return None


def _ingress_vlan(ctx: _Ctx, int_patch: OvsInterface, local: int | None) -> str | None:
    """The br-int flow that maps the provider VLAN (or untagged) coming in back to ``local``."""
    if local is None:
        return None
    for flow in _flows(ctx, ctx.int_br):
        if _in_port_matches(flow, int_patch) and _vlan_action(flow.actions) == str(local):
            return str(_vlan_of(flow)) if _vlan_of(flow) is not None else "untagged"
    return None


_SET_VLAN = re.compile(r"^(?:mod_vlan_vid:|set_field:)(\d+)(?:->vlan_vid)?$")


def _vlan_action(actions: list[str]) -> str | None:
    for action in actions:
        if action == "strip_vlan" or action == "pop_vlan":
            return "untagged"
        match = _SET_VLAN.match(action)
        if match:
            # set_field:4097->vlan_vid carries the OFPVID_PRESENT bit (0x1000)
            return str(int(match.group(1)) & 0xFFF)
    return None


def _flows(ctx: _Ctx, bridge: str) -> list[Flow]:
    """The bridge's flows, highest priority first: the one OVS would apply wins."""
    return sorted((f for f in ctx.facts.flows if f.bridge == bridge), key=lambda f: -f.priority)


def _uplink_hops(ctx: _Ctx, bridge: str) -> None:
    """The physical NIC(s) (or bond members) on a provider bridge."""
    ovs = ctx.facts.ovs
    assert ovs is not None
    found = False
    for pname in ovs.bridges[bridge].ports if bridge in ovs.bridges else []:
        port = ovs.ports.get(pname)
        for iname in port.interfaces if port else []:
            iface = ovs.interfaces.get(iname)
            if iface is None or iface.type in _NOT_NIC or iname == bridge:
                continue
            found = True
            link = ctx.facts.link(iname)
            ctx.add(device=iname, kind=m.NIC, bridge=bridge,
                    mac=(link.mac if link else None) or iface.mac_in_use,
                    mtu=(link.mtu if link else None) or iface.mtu,
                    state=(link.operstate if link else None) or _ovs_state(iface),
                    source=m.SRC_KERNEL if link else m.SRC_OVSDB,
                    detail=_nic_detail(ctx, pname, iname, iface.type))
    if not found:
        ctx.problems.append(f"{bridge} has no physical interface: traffic cannot leave the host")


def _nic_detail(ctx: _Ctx, ovs_port: str, name: str, iface_type: str) -> str | None:
    """OVS bond (several interfaces on one Port) or a linux bond (members with master=name)."""
    if ovs_port != name:
        return f"OVS bond {ovs_port}"
    members = sorted(x.name for x in ctx.facts.links if x.master == name and x.namespace == "")
    if members:
        return f"bond members {', '.join(members)}"
    return iface_type or None


def _tunnel_hops(ctx: _Ctx, local_vlan: int | None) -> None:
    ovs = ctx.facts.ovs
    kind = ctx.segment.network_type
    if ovs is None:  # the br-int hop already says OVS could not be read
        return
    tun_br, why_not = _tunnel_bridge(ctx, kind)
    pair = _patch_pair(ctx, ctx.int_br, tun_br) if tun_br else None
    if pair is None:
        ctx.problems.append(why_not or f"no patch port from {ctx.int_br} to {tun_br}")
        return
    near, far = pair
    assert tun_br is not None
    _patch_hops(ctx, near, far, tun_br)
    vni = ctx.segment.segmentation_id
    tunnels = [i for i in ovs.interfaces.values()
               if i.type == kind and ovs.ports.get(i.name) and ovs.ports[i.name].bridge == tun_br]
    unread = _flows_unknown(ctx, tun_br)
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
    for tun in sorted(tunnels, key=lambda t: t.name):
        remote = tun.options.get("remote_ip")
        local = tun.options.get("local_ip") or (ctx.agent.tunneling_ip if ctx.agent else None)
        if local:
            local_ips.add(local)
        ctx.add(device=tun.name, kind=m.TUNNEL, bridge=tun_br, vlan=f"VNI {vni}",
                state=_ovs_state(tun), source=m.SRC_OVSDB, peer=remote,
                detail=f"{kind} {local or '?'} → {remote or '?'}")
    for ip in sorted(local_ips):
        _underlay_hop(ctx, ip)


# neutron ...openvswitch.agent.common.constants: tun_id -> local VLAN tables of br-tun
_TUN_TO_LV = {"vxlan": 4, "gre": 3, "geneve": 6}


def _tunnel_bridge(ctx: _Ctx, kind: str) -> tuple[str | None, str | None]:
    """(the tunnel bridge of the integration bridge, why there is none).

    The OVS agent's ``[ovs] tunnel_bridge`` is configurable and not in the agents API: it is the
    bridge patched to the integration bridge that is not a provider bridge (bridge_mappings) nor
    a trunk bridge; one holding tunnel ports of the segment's type first.
    """
    ovs = ctx.facts.ovs
    assert ovs is not None
    mapped = set(ctx.agent.bridge_mappings.values()) if ctx.agent else set()
    candidates: list[tuple[int, str]] = []
    for iface, peer in _patch_pairs(ctx, ctx.int_br):
        bridge = ovs.ports[peer.name].bridge
        if bridge in mapped or bridge.startswith(TRUNK_BRIDGE_PREFIX) or bridge == ctx.int_br:
            continue
        types = {ovs.interfaces[i].type for p in ovs.bridges[bridge].ports if p in ovs.ports
                 for i in ovs.ports[p].interfaces if i in ovs.interfaces} \
            if bridge in ovs.bridges else set()
        rank = 0 if kind in types else 1 if types & set(TUNNEL_TYPES) else 2
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


def _patch_pairs(ctx: _Ctx, bridge: str) -> list[tuple[OvsInterface, OvsInterface]]:
    """Every (patch on ``bridge``, its peer) whose peer sits on a bridge."""
    ovs = ctx.facts.ovs
    if ovs is None or bridge not in ovs.bridges:
        return []
    pairs = []
    for pname in ovs.bridges[bridge].ports:
        iface = ovs.interfaces.get(pname)
        if iface is None or iface.type != PATCH:
            continue
        peer = ovs.interfaces.get(iface.options.get("peer", ""))
        if peer is not None and peer.name in ovs.ports:
            pairs.append((iface, peer))
    return pairs


def _tunnel_egress(ctx: _Ctx, bridge: str, local: int | None) -> tuple[int | None, set[str]]:
    if local is None:
        return None, set()
    for flow in _flows(ctx, bridge):
        if _vlan_of(flow) != local:
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


def _tunnel_ingress(ctx: _Ctx, bridge: str, vni: int | None) -> int | None:
    if vni is None:
        return None
    for flow in _flows(ctx, bridge):
        raw = flow.match.get("tun_id")
        if raw is None:
            continue
        try:
            tun_id = int(raw.split("/")[0], 0)
        except ValueError:
            continue
        if tun_id == vni:
            target = _vlan_action(flow.actions)
            return int(target) if target and target.isdigit() else None
    return None


def _underlay_hop(ctx: _Ctx, ip: str) -> None:
    """The device that carries the tunnel endpoint; when it is a bridge's internal port (local_ip
    on br-ex, a common layout), the way out continues through that bridge's uplink."""
    for link in ctx.facts.links:
        if link.namespace == "" and any(a.split("/")[0] == ip for a in link.addresses):
            ovs = ctx.facts.ovs
            on_bridge = ovs.ports[link.name].bridge if ovs and link.name in ovs.ports else None
            internal = on_bridge is not None and ovs is not None and (
                ovs.interfaces.get(link.name, OvsInterface(link.name)).type == "internal")
            ctx.add(device=link.name, kind=m.OVS_PORT if internal else m.NIC, mac=link.mac,
                    mtu=link.mtu, state=link.operstate, source=m.SRC_KERNEL,
                    bridge=on_bridge if internal else link.master,
                    detail=f"tunnel endpoint {ip}")
            if internal and on_bridge:
                _uplink_hops(ctx, on_bridge)
            return
    ctx.problems.append(f"no interface on {ctx.facts.host} carries the tunnel endpoint {ip}")
