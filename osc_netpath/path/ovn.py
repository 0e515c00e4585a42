"""ML2/OVN: the hops from the guest NIC to the uplink on a chassis run by ovn-controller.

What os-vif and ovn-controller build (and what this module reads back):

- the tap (``tap<id>``, libvirt ``type='ethernet'``) sits on br-int with
  ``external_ids:iface-id`` = the Neutron port id; ovn-controller claims it and sets
  ``external_ids:ovn-installed=true`` once its flows are in. There is no local VLAN.
- flat/VLAN: the localnet patch pair ``patch-br-int-to-provnet-<segment>`` ⇄
  ``patch-provnet-<segment>-to-br-int`` (Port ``external_ids:ovn-localnet-port``) to the bridge
  ``ovn-bridge-mappings`` names for the physical network; br-int's flows push the VLAN.
- Geneve (VXLAN): tunnel ports on br-int itself, one per remote chassis (``ovn-<chassis
  prefix>-N``, ``external_ids:ovn-chassis-id``), from ``ovn-encap-ip`` on the underlay. The VNI
  on the wire is the datapath's ``tunnel_key`` in the Southbound DB, not the segmentation id.

The chassis' own facts (Open_vSwitch ``external_ids``: system-id, hostname, ovn-encap-*,
ovn-bridge-mappings, ovn-cms-options) are the host's word; the API's agents only echo them.
"""
from __future__ import annotations

import re

from osc_netpath.host.facts import Flow, HostFacts, Ovs, OvsInterface
from osc_netpath.path import core
from osc_netpath.path import model as m

NAME = "ovn"
AGENT_TYPES = ("OVN Controller agent", "OVN Controller Gateway agent")
# Outer IPv4 (20) + UDP (8) + Geneve (8) + OVN's one 8-byte option + the inner Ethernet (14).
GENEVE_OVERHEAD = 58
# ovn/controller/lflow.h: table 0 (OFTABLE_PHY_TO_LOG) maps a port to its logical datapath
# (set_field:KEY->metadata, KEY = the datapath's tunnel_key, the Geneve VNI) and takes tagged
# traffic off a localnet patch; table 65 (OFTABLE_LOG_TO_PHY) outputs to ports, pushing the
# localnet VLAN on the way.
METADATA_IP = "169.254.169.254"
TABLE_PHY_TO_LOG = 0
TABLE_LOG_TO_PHY = 65
OVN_TUNNEL_TYPES = ("geneve", "vxlan", "stt")


def is_chassis(ovs: Ovs | None) -> bool:
    """The host's OVS is configured for ovn-controller (the host's word, not the API's)."""
    ids = ovs.external_ids if ovs else {}
    return bool(ids.get("ovn-remote") or ids.get("ovn-encap-type"))


def bridge_mappings(ovs: Ovs | None) -> dict[str, str]:
    """``ovn-bridge-mappings`` ("physnet1:br-ex,physnet2:br-vlan") of the chassis."""
    raw = (ovs.external_ids if ovs else {}).get("ovn-bridge-mappings", "")
    pairs = (p.split(":", 1) for p in raw.split(",") if ":" in p)
    return {k.strip(): v.strip() for k, v in pairs}


def chassis_summary(ovs: Ovs) -> str:
    """The chassis as the host configured it: "chassis ovn1 (geneve 198.19.206.11, gateway)"."""
    ids = ovs.external_ids
    bits = [f"{ids.get('ovn-encap-type', '?')} {ids.get('ovn-encap-ip', '?')}"]
    if "enable-chassis-as-gw" in ids.get("ovn-cms-options", ""):
        bits.append("gateway")
    return f"chassis {ids.get('system-id', '?')} ({', '.join(bits)})"


def chassis_notes(host: str, facts: HostFacts) -> list[str]:
    """Findings about the chassis itself, once per host."""
    ovs = facts.ovs
    if ovs is None:
        return []
    ids, notes = ovs.external_ids, []
    name = ids.get("hostname") or facts.hostname or ""
    if name and name.split(".")[0].lower() != host.split(".")[0].lower():
        notes.append(f"{host}: this chassis calls itself {name!r} (system-id "
                     f"{ids.get('system-id', '?')}): Neutron binds ports only to the chassis "
                     f"whose hostname is the port's binding:host_id ({host})")
    status = facts.ovn_controller
    if status is not None and status.strip().lower() != "connected":
        notes.append(f"{host}: ovn-controller is {status.strip()!r} to the Southbound DB "
                     f"({ids.get('ovn-remote', 'ovn-remote not set')}): new ports are not "
                     "programmed")
    elif status is None and (why := facts.unknown.get("ovn-controller")):
        notes.append(f"{host}: ovn-controller status unknown: {why}")
    if not ids.get("ovn-encap-ip"):
        notes.append(f"{host}: ovn-encap-ip is not set: this chassis has no tunnel endpoint")
    return notes


GATEWAY = "network:router_gateway"


def hops(ctx: core.Walk) -> None:
    if ctx.port.device_owner == GATEWAY:
        _gateway_hops(ctx)
        return
    vif = core.guest_hop(ctx)
    ovs_if = core.ovs_interface_for_port(ctx)
    core.tap_hop(ctx, core.tap_name(ctx, vif), ovs_if)
    ovs = ctx.facts.ovs
    if ovs is None:
        ctx.add(device=ctx.int_br, kind=m.OVS_BRIDGE, state="unknown", source=m.SRC_UNKNOWN,
                detail=f"Open vSwitch not readable: {ctx.facts.unknown_why('ovs') or '?'}")
        return
    if ovs_if is None:
        ctx.problems.append(
            f"port not claimed on {ctx.facts.host}: no OVS interface has "
            f"external_ids:iface-id={ctx.port.id} (Neutron binds it here, ovn-controller has "
            "nothing to claim: is the VIF plugged?)")
        ctx.add(device=ctx.int_br, kind=m.OVS_BRIDGE, source=m.SRC_OVSDB,
                state="present" if ctx.int_br in ovs.bridges else "absent")
        return
    oport = ovs.ports.get(ovs_if.name)
    bridge = oport.bridge if oport else ctx.int_br
    installed = ovs_if.external_ids.get("ovn-installed") == "true"
    tap = ctx.hops[-1]
    tap.bridge = bridge
    tap.detail = "; ".join(d for d in (core.ids_detail(ctx, ovs_if),
                                       f"ovn-installed {'true' if installed else 'missing'}") if d)
    if not installed:
        ctx.problems.append(f"{ovs_if.name} has no external_ids:ovn-installed: ovn-controller "
                            "has not finished programming this port (or has not claimed it)")
    if bridge != ctx.int_br:
        ctx.problems.append(f"{ovs_if.name} is on {bridge}, but the binding names {ctx.int_br}")
    ctx.add(device=bridge, kind=m.OVS_BRIDGE, source=m.SRC_OVSDB,
            detail="; ".join(d for d in (core.bridge_detail(ctx, bridge), "no local VLAN (OVN)",
                                         chassis_summary(ovs)) if d))
    ctx.int_br = bridge
    ctx.datapath_key = _datapath_key(ctx, ovs_if)
    _metadata(ctx)
    kind = ctx.segment.network_type
    if kind in ("flat", "vlan"):
        _localnet_hops(ctx)
    elif kind in OVN_TUNNEL_TYPES:
        _tunnel_hops(ctx, kind)
    elif kind == "unknown":
        ctx.problems.append("the network's segment is not visible to this cloud profile "
                            "(provider attributes are admin-only): the path stops at br-int")
    else:
        ctx.problems.append(f"network type {kind!r} is not traced yet")


def _gateway_hops(ctx: core.Walk) -> None:
    """A router's gateway port: ML2/OVN binds it to the chassis its chassisredirect port
    (cr-lrp-<port id>) is active on. It has no device there: the external network's traffic
    leaves through that chassis' localnet patch."""
    port, ovs = ctx.port, ctx.facts.ovs
    details = [(f"gateway of router {port.device_id}: its chassisredirect port is active on "
                "this chassis (Neutron's binding)"),
               ", ".join(ip.ip_address for ip in port.fixed_ips)]
    if ctx.floating_ips:
        details.append("floating IPs " + ", ".join(map(str, ctx.floating_ips)))
    ctx.add(device=f"cr-lrp-{port.id}", kind=m.LOGICAL, mac=port.mac_address, state=port.status,
            source=m.SRC_API, detail="; ".join(d for d in details if d))
    if ovs is None:
        ctx.add(device=ctx.int_br, kind=m.OVS_BRIDGE, state="unknown", source=m.SRC_UNKNOWN,
                detail=f"Open vSwitch not readable: {ctx.facts.unknown_why('ovs') or '?'}")
        return
    # no tap names the integration bridge: the chassis says it (ovn-bridge, br-int when unset)
    ctx.int_br = ovs.external_ids.get("ovn-bridge") or ctx.int_br
    if "enable-chassis-as-gw" not in ovs.external_ids.get("ovn-cms-options", ""):
        ctx.problems.append(f"{ctx.facts.host} is not a gateway chassis (no enable-chassis-as-gw "
                            "in ovn-cms-options) but Neutron bound the router's gateway here")
    ctx.add(device=ctx.int_br, kind=m.OVS_BRIDGE, source=m.SRC_OVSDB,
            state="present" if ctx.int_br in ovs.bridges else "absent",
            detail=chassis_summary(ovs))
    if ctx.segment.network_type in ("flat", "vlan"):
        _localnet_hops(ctx)
    else:
        ctx.problems.append(f"an external network of type {ctx.segment.network_type!r} is not "
                            "traced yet")


def _patch_datapath(ctx: core.Walk, near: OvsInterface) -> int | None:
    """The logical datapath br-int's table 0 puts traffic from a localnet patch in: the
    network's, when the patch is that network's (one key, or none said)."""
    keys = {_metadata_set(f.actions) for f in core.flows(ctx, ctx.int_br)
            if f.table == TABLE_PHY_TO_LOG and core.in_port_matches(f, near)} - {None}
    return keys.pop() if len(keys) == 1 else None


def _datapath_key(ctx: core.Walk, iface: OvsInterface) -> int | None:
    """The logical datapath of the port, from its table-0 flow (set_field:KEY->metadata)."""
    for flow in core.flows(ctx, ctx.int_br):
        if flow.table == TABLE_PHY_TO_LOG and core.in_port_matches(flow, iface):
            return _metadata_set(flow.actions)
    return None


# OpenFlow 1.3+ prints set_field:0x1->metadata, OpenFlow 1.0 load:0x1->OXM_OF_METADATA[]
_SET_METADATA = re.compile(r"^(?:set_field:|load:)(0x[0-9a-fA-F]+|\d+)->(?:metadata|OXM_OF_METADATA\[\])$")


def _metadata_set(actions: list[str]) -> int | None:
    """The logical datapath a flow puts the packet in."""
    for action in actions:
        if match := _SET_METADATA.match(action):
            return int(match.group(1), 0)
    return None


def _outputs_to(action: str, iface: OvsInterface) -> bool:
    return action.startswith("output:") and core.names_port(action[len("output:"):], iface)


def _localnet_vlan(ctx: core.Walk, near: OvsInterface,
                   key: int | None = None) -> tuple[str | None, bool]:
    """(what br-int puts on the wire to the localnet patch for this port's datapath, or
    ``key``'s, whether the way back is there): a VLAN id, "untagged", or None when no flow
    says."""
    key, egress, ingress = key if key is not None else ctx.datapath_key, None, False
    if key is None:
        return None, False
    for flow in core.flows(ctx, ctx.int_br):
        if flow.table == TABLE_LOG_TO_PHY and _metadata_of(flow) == key and \
                any(_outputs_to(a, near) for a in flow.actions):
            egress = egress or core.vlan_action(flow.actions) or "untagged"
        if flow.table == TABLE_PHY_TO_LOG and core.in_port_matches(flow, near) and \
                _metadata_set(flow.actions) == key:
            ingress = True
    return egress, ingress


def _metadata_of(flow: Flow) -> int | None:
    raw = flow.match.get("metadata")
    try:
        return int(raw.split("/")[0], 0) if raw else None
    except ValueError:
        return None


def metadata_namespace(network_id: str) -> str:
    return f"ovnmeta-{network_id}"


def _metadata(ctx: core.Walk) -> None:
    """neutron-ovn-metadata-agent gives each network with a metadata port and a VM port here an
    ovnmeta-<network> namespace: a veth tap<net>0 on br-int ⇄ tap<net>1 inside, holding
    169.254.169.254 (haproxy). Missing, the guest gets no metadata."""
    ns = metadata_namespace(ctx.port.network_id)
    if ns in ctx.facts.namespaces:
        inside = [x for x in ctx.facts.links if x.namespace == ns and x.kind == "veth"]
        meta = next((x for x in inside
                     if any(a.split("/")[0] == METADATA_IP for a in x.addresses)), None)
        what = f"metadata {ns}"
        if meta is not None:
            what += f" ({meta.peer_name or '?'} ⇄ {meta.name} {METADATA_IP})"
        elif inside and ctx.metadata_expected:
            ctx.problems.append(f"{ns} holds no {METADATA_IP}: the metadata proxy there cannot "
                                "answer the guest")
        ctx.hops[-1].detail = "; ".join(d for d in (ctx.hops[-1].detail, what) if d)
    elif ctx.metadata_expected and "namespaces" not in ctx.facts.unknown:
        ctx.problems.append(f"metadata namespace {ns} is missing on {ctx.facts.host}: the OVN "
                            "metadata agent has not provisioned this network here (the guest "
                            "gets no answer from 169.254.169.254)")


def _localnet_hops(ctx: core.Walk) -> None:
    seg, ovs = ctx.segment, ctx.facts.ovs
    assert ovs is not None
    physnet = seg.physical_network or ""
    mappings = bridge_mappings(ovs)
    phys_br = mappings.get(physnet)
    raw = ovs.external_ids.get("ovn-bridge-mappings")
    if phys_br is None:
        ctx.problems.append(
            f"physical network {physnet!r} is not in the ovn-bridge-mappings of "
            f"{ctx.facts.host} ({raw or 'not set'}): ovn-controller connects it to no bridge, "
            "traffic cannot leave")
        return
    pair = _localnet_pair(ctx, phys_br)
    if pair is None:
        ctx.problems.append(
            f"no localnet patch port between {ctx.int_br} and {phys_br}: ovn-controller creates "
            f"patch-{ctx.int_br}-to-provnet-… once it sees a localnet port for {physnet!r}")
        ctx.add(device=phys_br, kind=m.OVS_BRIDGE, source=m.SRC_MISSING, state="unreachable",
                detail=f"ovn-bridge-mappings {physnet}:{phys_br}")
        return
    near, far = pair
    if ctx.port.device_owner == GATEWAY and ctx.datapath_key is None:
        ctx.datapath_key = _patch_datapath(ctx, near)  # no tap: the patch's own network
    core.patch_hops(ctx, near, far, phys_br)
    localnet = ovs.ports[near.name].external_ids.get("ovn-localnet-port") \
        if near.name in ovs.ports else None
    want = "untagged" if seg.network_type == "flat" else str(seg.segmentation_id)
    details = [f"ovn-bridge-mappings {physnet}:{phys_br}"]
    if localnet:
        details.append(f"localnet {localnet}")
    unread = core.flows_unknown(ctx, ctx.int_br)
    got: str | None = None
    if unread or ctx.datapath_key is None:
        details.append("VLAN not checked: " + (
            unread or "no table-0 flow of the port (ovn-controller has not programmed it)"))
    else:
        got, back = _localnet_vlan(ctx, near)
        if got is None:
            ctx.problems.append(
                f"no flow on {ctx.int_br} (table {TABLE_LOG_TO_PHY}) sends this network's "
                f"traffic (datapath {ctx.datapath_key}) to {near.name}: it never leaves by the "
                "localnet port")
        elif got != want:
            ctx.problems.append(f"{ctx.int_br} sends this network to {near.name} as {got}, "
                                f"Neutron says {want}")
        if got is not None and not back:
            ctx.problems.append(f"no flow on {ctx.int_br} (table {TABLE_PHY_TO_LOG}) takes "
                                f"{want} traffic from {near.name} into this network")
    shown = got or want  # what br-int really sends, else what Neutron says it should
    ctx.add(device=phys_br, kind=m.OVS_BRIDGE,
            vlan=shown if shown == "untagged" else f"VLAN {shown}",
            source=m.SRC_FLOWS if got else m.SRC_API, detail="; ".join(details))
    core.uplink_hops(ctx, phys_br)


def _localnet_pair(ctx: core.Walk, phys_br: str) -> tuple[OvsInterface, OvsInterface] | None:
    """The patch from br-int to the provider bridge that carries this port's network.

    Each localnet port (one per provider network) gets its own pair, so two networks on one
    physnet give two pairs to the same bridge: the one br-int's table 65 sends this port's
    datapath to is the network's own; without flows, ovn-controller's localnet pairs first."""
    ovs = ctx.facts.ovs
    assert ovs is not None
    pairs = [(a, b) for a, b in core.patch_pairs(ctx, ctx.int_br)
             if ovs.ports[b.name].bridge == phys_br]
    # Neutron names the localnet port provnet-<segment id>: exact, when the API gave the id.
    # Else the tag br-int puts on the wire: networks sharing a physnet differ in it (one flat,
    # VLANs by id). A port with no tap (a gateway) is matched through the patch's own network.
    named = f"provnet-{ctx.segment.id}" if ctx.segment.id else None
    want = "untagged" if ctx.segment.network_type == "flat" else str(ctx.segment.segmentation_id)
    gateway = ctx.port.device_owner == GATEWAY and ctx.datapath_key is None

    def wire(near: OvsInterface) -> str | None:
        return _localnet_vlan(ctx, near, _patch_datapath(ctx, near) if gateway else None)[0]

    pairs.sort(key=lambda ab: (
        ovs.ports[ab[0].name].external_ids.get("ovn-localnet-port") != named,
        wire(ab[0]) != want, wire(ab[0]) is None,
        "ovn-localnet-port" not in ovs.ports[ab[0].name].external_ids))
    return pairs[0] if pairs else None


def _tunnel_hops(ctx: core.Walk, kind: str) -> None:
    ovs = ctx.facts.ovs
    assert ovs is not None
    tunnels = {i.name: i for i in ovs.interfaces.values()
               if i.type in OVN_TUNNEL_TYPES and i.name in ovs.ports
               and ovs.ports[i.name].bridge == ctx.int_br}
    by_chassis = {chassis_of(ovs, i): i for i in tunnels.values()}
    peers = ctx.peers  # other hosts with a port on this network -> their chassis name
    if not peers:
        ctx.hops[-1].detail = "; ".join(
            d for d in (ctx.hops[-1].detail, "no other chassis hosts a port of this network")
            if d)
    for host, chassis in sorted(peers.items()):
        tun = by_chassis.get(chassis) if chassis else None
        if tun is None:
            why = f"chassis {chassis}" if chassis else "its chassis name is not visible"
            ctx.problems.append(f"no {kind} tunnel from {ctx.facts.host} to {host} ({why}), "
                                "which hosts another port of this network: traffic to it is "
                                "dropped")
            continue
        remote = tun.options.get("remote_ip")
        key = ctx.datapath_key
        ctx.add(device=tun.name, kind=m.TUNNEL, bridge=ctx.int_br, state=core.ovs_state(tun),
                source=m.SRC_OVSDB, peer=remote, vlan=f"VNI {key}" if key is not None else None,
                detail=f"{tun.type} to {host} (chassis {chassis}); VNI = the datapath's "
                       "tunnel_key, not the segmentation id")
    if not any(h.kind == m.TUNNEL for h in ctx.hops):
        return
    for ip in encap_ips(ovs):
        before = len(ctx.hops)
        core.underlay_hop(ctx, ip)
        underlay = ctx.hops[before] if len(ctx.hops) > before else None
        if underlay and underlay.mtu and ctx.net_mtu \
                and underlay.mtu < ctx.net_mtu + GENEVE_OVERHEAD and kind == "geneve":
            ctx.problems.append(
                f"{underlay.device} carries Geneve with MTU {underlay.mtu}: the network's MTU "
                f"{ctx.net_mtu} needs {ctx.net_mtu + GENEVE_OVERHEAD} on the underlay (Geneve "
                f"adds {GENEVE_OVERHEAD} bytes): large packets are dropped")


def encap_ips(ovs: Ovs | None) -> list[str]:
    """The chassis' own tunnel endpoints (``ovn-encap-ip``: one, or a comma list since 23.09)."""
    raw = (ovs.external_ids if ovs else {}).get("ovn-encap-ip", "")
    return [ip.strip() for ip in raw.split(",") if ip.strip()]


def tunnel_chassis(ovs: Ovs) -> dict[str, OvsInterface]:
    """Remote chassis name -> its tunnel interface on the integration bridge."""
    int_br = ovs.external_ids.get("ovn-bridge") or "br-int"
    return {name: i for i in ovs.interfaces.values()
            if i.type in OVN_TUNNEL_TYPES and i.name in ovs.ports
            and ovs.ports[i.name].bridge == int_br and (name := chassis_of(ovs, i))}


def chassis_of(ovs: Ovs, iface: OvsInterface) -> str | None:
    """The remote chassis of a tunnel port: ``ovn-chassis-id`` is "NAME@ENCAP_IP" (23.03) or
    the bare name (older)."""
    port = ovs.ports.get(iface.name)
    raw = (port.external_ids.get("ovn-chassis-id") if port else None) \
        or iface.external_ids.get("ovn-chassis-id")
    return raw.split("@", 1)[0] if raw else None
