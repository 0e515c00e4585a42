"""The shared hop-building core: one port's walk over one host's facts, whatever the backend.

Kernel devices (tap, linux bridge, veth), the OVS interface of a Neutron port (by
``external_ids:iface-id``, never by name or MAC), patch pairs, flows, the physical uplink and the
device that carries a tunnel endpoint. The backend strategies (``ovs_hybrid``, ``ovs_native``,
and what ML2/OVS adds in ``ml2_ovs``) are built from these. Pure: facts in, hops out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from osc_netpath.cloud.facts import AgentFacts, FloatingIP, PortFacts, Segment
from osc_netpath.host.facts import Domain, DomainInterface, Flow, HostFacts, Ovs, OvsInterface
from osc_netpath.path import model as m

PATCH = "patch"


TUNNEL_TYPES = ("vxlan", "gre", "geneve")


_NOT_NIC = {"internal", "patch", *TUNNEL_TYPES}


@dataclass
class Walk:
    """One port's walk over one host's facts: what it reads, the hops and findings so far."""

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
    guest_label: str = ""  # the libvirt domain (or Nova's name for it)
    # other hosts with a port on this port's network -> their OVN chassis name (None: unknown)
    peers: dict[str, str | None] = field(default_factory=dict)
    metadata_expected: bool = False  # the API shows an OVN metadata agent on this host
    datapath_key: int | None = None  # OVN: the port's logical datapath (its Geneve VNI)
    floating_ips: list[FloatingIP] = field(default_factory=list)  # its router's (--to external)
    # --to external, ML2/OVS tunnels: tunneling_ip -> the host (and router) the network's
    # centralized router interface is on: the server's traffic must have a tunnel there
    router_peers: dict[str, str] = field(default_factory=dict)

    def add(self, **kw: object) -> m.Hop:
        hop = m.Hop(index=len(self.hops), **kw)  # type: ignore[arg-type]
        self.hops.append(hop)
        return hop


def domain_interface(domain: Domain | None, port: PortFacts) -> DomainInterface | None:
    if domain is None:
        return None
    for vif in domain.interfaces:
        if vif.interface_id == port.id:
            return vif
    mac = port.mac_address.lower()
    return next((v for v in domain.interfaces if (v.mac or "").lower() == mac), None)


def tap_name(ctx: Walk, vif: DomainInterface | None) -> str:
    """The host-side device of the VIF: libvirt's target dev, else os-vif's tap<id>."""
    return (vif.target_dev if vif and vif.target_dev else None) or f"tap{ctx.port.short_id}"


def guest_hop(ctx: Walk) -> DomainInterface | None:
    """Hop 0: the guest NIC (libvirt's interface of this port when the domain was read)."""
    vif = domain_interface(ctx.domain, ctx.port)
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
        device=ctx.guest_label,
        kind=m.GUEST,
        mac=ctx.port.mac_address,
        mtu=vif.mtu if vif else None,
        state=ctx.guest_state or ctx.port.status,
        source=source,
        detail="; ".join(details) or None,
    )
    return vif


def link_hop(ctx: Walk, name: str, kind: str, bridge: str | None, **kw: object) -> m.Hop:
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
        bridge=bridge or bridge_of_link(ctx, name, link.master),
        mac=link.mac,
        mtu=link.mtu,
        state=link.operstate,
        source=m.SRC_KERNEL,
        **kw,
    )


def bridge_of_link(ctx: Walk, name: str, master: str | None) -> str | None:
    if master and master != "ovs-system":
        return master
    ovs = ctx.facts.ovs
    if ovs and name in ovs.ports:
        return ovs.ports[name].bridge
    return master


def check_member(ctx: Walk, dev: str, bridge: str) -> None:
    link, br = ctx.facts.link(dev), ctx.facts.link(bridge)
    if link and br and link.master != bridge:
        where = f"is on {link.master}" if link.master else "is on no bridge"
        ctx.problems.append(f"{dev} {where}, expected linux bridge {bridge}")


def veth_peer(ctx: Walk, name: str) -> str | None:
    link = ctx.facts.link(name)
    if link is None:
        return None
    if link.peer_name:
        return link.peer_name
    if link.peer_ifindex is not None and link.peer_netnsid is None:
        peer = ctx.facts.link_by_index(link.peer_ifindex)
        return peer.name if peer else None
    return None


def tap_hop(ctx: Walk, tap: str, ovs_if: OvsInterface | None) -> None:
    # With the native firewall the tap *is* the br-int port; its VLAN goes on the br-int hop.
    name = ovs_if.name if ovs_if is not None else tap
    link_hop(ctx, name, m.TAP, None)


def interfaces_of_port(ovs: Ovs, port_id: str) -> list[OvsInterface]:
    """Interfaces whose external_ids:iface-id is the port; the attached one (valid ofport) first."""
    found = [i for i in ovs.interfaces.values() if i.external_ids.get("iface-id") == port_id]
    return sorted(found, key=lambda i: (i.ofport is None or i.ofport < 0, i.name))


def ovs_interface_for_port(ctx: Walk) -> OvsInterface | None:
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


def ovs_state(iface: OvsInterface) -> str | None:
    return iface.link_state or iface.admin_state


def ids_detail(ctx: Walk, iface: OvsInterface) -> str | None:
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


def bridge_detail(ctx: Walk, name: str) -> str | None:
    ovs = ctx.facts.ovs
    br = ovs.bridges.get(name) if ovs else None
    if br is None:
        return None
    bits = [f"datapath {br.datapath_type}" if br.datapath_type else None,
            f"fail_mode {br.fail_mode}" if br.fail_mode else None]
    return "; ".join(b for b in bits if b) or None


def patch_pairs(ctx: Walk, bridge: str) -> list[tuple[OvsInterface, OvsInterface]]:
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


def patch_pair(ctx: Walk, from_bridge: str, to_bridge: str | None) -> tuple[OvsInterface, OvsInterface] | None:
    """The patch port on ``from_bridge`` whose peer sits on ``to_bridge`` (any bridge if None)."""
    ovs = ctx.facts.ovs
    assert ovs is not None or not patch_pairs(ctx, from_bridge)
    for iface, peer in patch_pairs(ctx, from_bridge):
        if to_bridge is None or (ovs and ovs.ports[peer.name].bridge == to_bridge):
            return iface, peer
    return None


def patch_hops(ctx: Walk, near: OvsInterface, far: OvsInterface, far_bridge: str,
                near_bridge: str | None = None) -> None:
    ovs = ctx.facts.ovs
    assert ovs is not None
    for iface, peer, bridge in ((near, far, near_bridge or ctx.int_br), (far, near, far_bridge)):
        ctx.add(device=iface.name, kind=m.PATCH, bridge=bridge, peer=peer.name,
                state=ovs_state(iface), source=m.SRC_OVSDB,
                detail=f"ofport {iface.ofport}" if iface.ofport is not None else None)


def flows_unknown(ctx: Walk, *bridges: str) -> str | None:
    """Why the flows of one of ``bridges`` could not be read (None: all were read)."""
    for bridge in bridges:
        if why := ctx.facts.unknown_why(f"flows:{bridge}"):
            return why
        partial = ctx.facts.unknown.get("partial")  # cut before this bridge's flows came
        if partial and not any(f.bridge == bridge for f in ctx.facts.flows):
            return partial
    return None


# OpenFlow carries a port name in 16 bytes: `ovs-ofctl --names` prints longer names (OVN's
# patch-br-int-to-provnet-<uuid>) cut to 15 characters.
OFP_NAME_LEN = 15


def names_port(ref: str, iface: OvsInterface) -> bool:
    """Whether a port reference in a flow (a name, maybe cut, or an OpenFlow number) is iface."""
    ref = ref.strip('"')
    if ref == iface.name or (iface.ofport is not None and ref == str(iface.ofport)):
        return True
    return len(ref) == OFP_NAME_LEN and len(iface.name) > OFP_NAME_LEN \
        and iface.name.startswith(ref)


def in_port_matches(flow: Flow, iface: OvsInterface) -> bool:
    return names_port(flow.match.get("in_port", ""), iface)


def vlan_of(flow: Flow) -> int | None:
    raw = flow.match.get("dl_vlan") or flow.match.get("vlan_vid")
    if raw is None:
        return None
    try:
        return int(raw, 0) & 0xFFF
    except ValueError:
        return None


_SET_VLAN = re.compile(r"^(?:mod_vlan_vid:|set_field:)(\d+)(?:->vlan_vid)?$")


def vlan_action(actions: list[str]) -> str | None:
    for action in actions:
        if action == "strip_vlan" or action == "pop_vlan":
            return "untagged"
        match = _SET_VLAN.match(action)
        if match:
            # set_field:4097->vlan_vid carries the OFPVID_PRESENT bit (0x1000)
            return str(int(match.group(1)) & 0xFFF)
    return None


def flows(ctx: Walk, bridge: str) -> list[Flow]:
    """The bridge's flows, highest priority first: the one OVS would apply wins."""
    return sorted((f for f in ctx.facts.flows if f.bridge == bridge), key=lambda f: -f.priority)


def uplink_hops(ctx: Walk, bridge: str) -> None:
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
                    state=(link.operstate if link else None) or ovs_state(iface),
                    source=m.SRC_KERNEL if link else m.SRC_OVSDB,
                    detail=nic_detail(ctx, pname, iname, iface.type))
    if not found:
        ctx.problems.append(f"{bridge} has no physical interface: traffic cannot leave the host")


def nic_detail(ctx: Walk, ovs_port: str, name: str, iface_type: str) -> str | None:
    """OVS bond (several interfaces on one Port) or a linux bond (members with master=name)."""
    if ovs_port != name:
        return f"OVS bond {ovs_port}"
    members = sorted(x.name for x in ctx.facts.links if x.master == name and x.namespace == "")
    if members:
        return f"bond members {', '.join(members)}"
    return iface_type or None


def underlay_hop(ctx: Walk, ip: str) -> None:
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
                uplink_hops(ctx, on_bridge)
            return
    ctx.problems.append(f"no interface on {ctx.facts.host} carries the tunnel endpoint {ip}")
