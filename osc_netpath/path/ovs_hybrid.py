"""ML2/OVS with the iptables_hybrid firewall: tap<id> → qbr<id> (linux bridge, where iptables
filters) → qvb<id> ⇄ qvo<id> (veth) → br-int, then what the OVS agent adds (``ml2_ovs``).

<id> is the first 11 characters of the Neutron port id (nova.network.model.NIC_NAME_LEN = 14).
"""
from __future__ import annotations

from osc_netpath.path import core, ml2_ovs, ovs_native
from osc_netpath.path import model as m

NAME = "ovs-hybrid"


def hops(ctx: core.Walk) -> None:
    if ctx.int_br.startswith(ml2_ovs.TRUNK_BRIDGE_PREFIX):  # os-vif plugs trunks natively
        ovs_native.hops(ctx)
        return
    vif = core.guest_hop(ctx)
    ovs_if = core.ovs_interface_for_port(ctx)
    _hybrid_hops(ctx, core.tap_name(ctx, vif))
    ml2_ovs.leave(ctx, ml2_ovs.int_bridge_hop(ctx, ovs_if, hybrid=True))


def _hybrid_hops(ctx: core.Walk, tap: str) -> None:
    sid = ctx.port.short_id
    qbr, qvb, qvo = f"qbr{sid}", f"qvb{sid}", f"qvo{sid}"
    core.link_hop(ctx, tap, m.TAP, None)
    core.link_hop(ctx, qbr, m.LINUX_BRIDGE, None, detail="iptables_hybrid firewall bridge")
    core.check_member(ctx, tap, qbr)
    core.check_member(ctx, qvb, qbr)
    peer = core.veth_peer(ctx, qvb)
    hop = core.link_hop(ctx, qvb, m.VETH, None, peer=peer or qvo)
    if peer and peer != qvo:
        ctx.problems.append(f"{qvb} is paired with {peer}, expected {qvo}")
    if hop.source != m.SRC_MISSING and peer is None:
        hop.detail = "veth peer not resolved"
