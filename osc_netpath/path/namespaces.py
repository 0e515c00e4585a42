"""ML2/OVS ports the Neutron agents own: their device lives in a network namespace.

What the DHCP and L3 agents build (``interface_driver = openvswitch``) and this module reads:

- an OVS internal port named for the port (``tap<id>`` DHCP, ``qr-`` router interface, ``qg-``
  gateway, ``sg-`` DVR SNAT, ``ha-`` L3-HA, ``fg-`` DVR floating IP gateway) with
  ``external_ids:iface-id`` = the port id, moved into its namespace (``qdhcp-<network>``,
  ``qrouter-<router>``, ``snat-<router>``, ``fip-<external network>``), tagged on br-int with the
  network's local VLAN;
- or, with ``ovs_use_veth = True``, a veth: ``tap<id>`` on br-int ⇄ ``ns-<id>`` (``qr-``…) inside.

The namespace that holds the device is found on the host (its links), never assumed; the
expected one (from the device owner) is only what to ask the probe for and what to compare with.
"""
from __future__ import annotations

from osc_netpath.cloud.facts import FloatingIP, PortFacts
from osc_netpath.host.facts import Link
from osc_netpath.path import core, ml2_ovs
from osc_netpath.path import model as m

NAME = "ovs-namespace"
# device_owner -> (namespace prefix, whose id names it: "network" or "router")
OWNERS = {
    "network:dhcp": ("qdhcp-", "network"),
    "network:router_interface": ("qrouter-", "router"),
    "network:router_interface_distributed": ("qrouter-", "router"),
    "network:ha_router_replicated_interface": ("qrouter-", "router"),
    "network:router_gateway": ("qrouter-", "router"),
    "network:router_ha_interface": ("qrouter-", "router"),
    "network:router_centralized_snat": ("snat-", "router"),
    "network:floatingip_agent_gateway": ("fip-", "network"),
}


def owned_by_agent(port: PortFacts) -> bool:
    return (port.device_owner or "") in OWNERS


def expected_namespace(port: PortFacts) -> str | None:
    """The namespace the agents put this port's device in (for DVR gateways it may be snat-)."""
    prefix, by = OWNERS.get(port.device_owner or "", (None, None))
    if prefix is None:
        return None
    ref = port.network_id if by == "network" else port.device_id
    return f"{prefix}{ref}" if ref else None


def namespaces_to_read(port: PortFacts) -> list[str]:
    """What the probe reads for this port: its namespace; a gateway's snat- too (DVR puts it
    there), a distributed interface's fip- peers are read through the fg- port's own."""
    want = expected_namespace(port)
    if want is None:
        return []
    if port.device_owner == "network:router_gateway" and port.device_id:
        return [want, f"snat-{port.device_id}"]
    return [want]


# the router ports whose namespace holds the floating IPs' DNAT/SNAT: legacy, the gateway's
# qrouter- on the network node; DVR, the distributed interface's qrouter- on the compute
NAT_OWNERS = ("network:router_gateway", "network:router_interface_distributed")


def nat_namespace(port: PortFacts, floating_ips: dict[str, list[FloatingIP]]) -> str | None:
    """The qrouter- whose NAT rules to read for this port, when its router has floating IPs."""
    if port.device_owner in NAT_OWNERS and port.device_id and floating_ips.get(port.device_id):
        return f"qrouter-{port.device_id}"
    return None


def hops(ctx: core.Walk) -> None:
    port, facts = ctx.port, ctx.facts
    ovs_if = core.ovs_interface_for_port(ctx)
    inside = _device_inside(ctx, ovs_if.name if ovs_if else None)
    want = expected_namespace(port)
    ns = inside.namespace if inside else want
    ips = ", ".join(ip.ip_address for ip in port.fixed_ips)
    fips = "floating IPs " + ", ".join(map(str, ctx.floating_ips)) if ctx.floating_ips else None
    ctx.add(device=ns or "?", kind=m.NAMESPACE, state=port.status, source=m.SRC_API,
            mac=port.mac_address,
            detail="; ".join(d for d in (port.device_owner, ips, fips) if d) or None)
    if ns and ns not in facts.namespaces and "namespaces" not in facts.unknown:
        ctx.problems.append(f"namespace {ns} does not exist on {facts.host}: the "
                            f"{_agent(port)} has not set this port up here")
    elif inside and want and inside.namespace != want and not (
            port.device_owner == "network:router_gateway"
            and inside.namespace == f"snat-{port.device_id}"):  # DVR: the gateway is in snat-
        ctx.problems.append(f"{inside.name} is in {inside.namespace}, the agents put "
                            f"{port.device_owner} ports in {want}")
    if port.device_owner == "network:router_interface_distributed" and inside is not None:
        _dvr_fip_link(ctx, inside.namespace or "")
    if ctx.floating_ips and ns == f"qrouter-{port.device_id}":
        _nat(ctx, ns)
    if inside is not None:
        ctx.add(device=inside.name, kind=m.NS_DEVICE, mac=inside.mac, mtu=inside.mtu,
                state=inside.operstate, source=m.SRC_KERNEL,
                peer=inside.peer_name if inside.kind == "veth" else None,
                detail="; ".join(d for d in (f"in {inside.namespace}",
                                             ", ".join(inside.addresses)) if d))
        _check_addresses(ctx, inside)
        if ctx.net_mtu and inside.mtu and inside.mtu != ctx.net_mtu:
            ctx.problems.append(f"{inside.name} has MTU {inside.mtu} in {inside.namespace}, the "
                                f"network's is {ctx.net_mtu}")
    elif ovs_if is not None and (why := facts.unknown_why(f"netns:{ns}") or
                                 facts.unknown_why("links")):
        ctx.add(device=ovs_if.name, kind=m.NS_DEVICE, state="unknown", source=m.SRC_UNKNOWN,
                detail=f"namespace not readable: {why}")
    elif ovs_if is not None and ns in facts.namespaces:
        _device_missing(ctx, ovs_if.name, ns)
    if ovs_if is not None and inside is not None and inside.kind == "veth":
        core.link_hop(ctx, ovs_if.name, m.VETH, None, peer=inside.name)  # ovs_use_veth
    on_br_int = ctx.hops[-1]
    said = on_br_int.detail
    local_vlan = ml2_ovs.int_bridge_hop(ctx, ovs_if, hybrid=False)  # tags the hop on br-int
    if ovs_if is not None and said and on_br_int.detail != said:
        on_br_int.detail = "; ".join(d for d in (said, on_br_int.detail) if d)
    ml2_ovs.leave(ctx, local_vlan)


def _device_missing(ctx: core.Walk, name: str, ns: str) -> None:
    """The namespace was read and OVS still has the port, but the device is not in it: deleted
    (or moved out) behind the agent's back; the agent does not notice."""
    oport = ctx.facts.ovs.ports.get(name) if ctx.facts.ovs else None
    bridge = (oport.bridge if oport else None) or ctx.int_br
    ctx.add(device=name, kind=m.NS_DEVICE, state="absent", source=m.SRC_MISSING,
            detail=f"not in {ns}")
    if ctx.facts.link(name) is not None:
        ctx.problems.append(f"{name} is in the host's own namespace on {ctx.facts.host}, not "
                            f"in {ns}: the {_agent(ctx.port)}'s port does not serve the "
                            "network from there")
    else:
        ctx.problems.append(f"{name} does not exist in {ns} on {ctx.facts.host} (nor in the "
                            f"host's own namespace), though Open vSwitch still has it on "
                            f"{bridge}: the {_agent(ctx.port)}'s device is gone")


def dvr_fip_link_name(router_id: str, prefix: str = "rfp-") -> str:
    """The L3 agent's (dvr_fip_ns) veth names: prefix + router id, cut to 14 characters
    (rfp-5a6b7c8d-9; not the 11-character ids of qr-/qg- port devices)."""
    return (prefix + router_id)[:14]


def _dvr_fip_link(ctx: core.Walk, qrouter: str) -> None:
    """DVR: a router with floating IPs on this host has the veth rfp-<router> (in qrouter-) ⇄
    fpr-<router> (in fip-<external network>); the floating IP traffic leaves through it."""
    rfp = dvr_fip_link_name(ctx.port.device_id or "")
    link = ctx.facts.link(rfp, qrouter)
    hop = ctx.hops[-1]
    if link is not None:
        peer = f"{link.peer_name or '?'} in {link.peer_namespace or '?'}"
        hop.detail = "; ".join(d for d in (hop.detail, f"{rfp} ⇄ {peer}") if d)
    elif ctx.floating_ips and f"netns:{qrouter}" not in ctx.facts.unknown:
        ctx.problems.append(f"no {rfp} in {qrouter} on {ctx.facts.host}: the L3 agent (dvr) has "
                            "not joined this router to its fip- namespace, the floating IPs "
                            f"{', '.join(map(str, ctx.floating_ips))} do not leave from here")


def _nat(ctx: core.Walk, ns: str) -> None:
    """Each floating IP needs its DNAT (in) and SNAT (out) rule in the router's namespace."""
    hop = ctx.hops[-1]
    rules = ctx.facts.nat.get(ns)
    if rules is None:
        why = ctx.facts.unknown_why(f"nat:{ns}") or "not read"
        hop.detail = "; ".join(d for d in (hop.detail, f"NAT rules unknown: {why}") if d)
        return
    seen = []
    for fip in ctx.floating_ips:
        dnat, snat = rules.dnat.get(fip.floating_ip), rules.snat.get(fip.fixed_ip or "")
        seen.append(f"DNAT {fip.floating_ip} → {dnat or '-'}, SNAT {fip.fixed_ip} → {snat or '-'}")
        if dnat != fip.fixed_ip:
            ctx.problems.append(
                f"floating IP {fip.floating_ip} has no DNAT rule to {fip.fixed_ip} in {ns} on "
                f"{ctx.facts.host}" + (f" (it goes to {dnat})" if dnat else "") +
                ": traffic to the floating IP does not reach the server")
        if snat != fip.floating_ip:
            ctx.problems.append(
                f"no SNAT rule from {fip.fixed_ip} to floating IP {fip.floating_ip} in {ns} on "
                f"{ctx.facts.host}" + (f" (it leaves as {snat})" if snat else "") +
                ": the server's own traffic leaves with another address")
    hop.detail = "; ".join(d for d in (hop.detail, "NAT " + "; ".join(seen)) if d)


def _device_inside(ctx: core.Walk, ovs_name: str | None) -> Link | None:
    """The port's device in a namespace: the OVS internal port itself (moved there), or the
    veth peer of the OVS port (ovs_use_veth)."""
    if ovs_name is None:
        return None
    for link in ctx.facts.links:
        if link.namespace and link.name == ovs_name:
            return link
    root = ctx.facts.link(ovs_name)
    if root is not None and root.kind == "veth" and root.peer_namespace and root.peer_name:
        return ctx.facts.link(root.peer_name, root.peer_namespace)
    return None


def _check_addresses(ctx: core.Walk, inside: Link) -> None:
    have = {a.split("/")[0] for a in inside.addresses}
    missing = [ip.ip_address for ip in ctx.port.fixed_ips if ip.ip_address not in have]
    if missing and inside.operstate is not None:
        ctx.problems.append(f"{inside.name} in {inside.namespace} lacks the port's address "
                            f"{', '.join(missing)}: the {_agent(ctx.port)} has not configured it")


def _agent(port: PortFacts) -> str:
    return "DHCP agent" if port.device_owner == "network:dhcp" else "L3 agent"
