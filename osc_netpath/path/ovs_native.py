"""ML2/OVS with the native openvswitch firewall: tap<id> straight on br-int (libvirt
``type='ethernet'``, or ``type='bridge'`` + ``<virtualport type='openvswitch'>``), or on a
``tbr-`` trunk bridge for a trunk parent port; then what the OVS agent adds (``ml2_ovs``)."""
from __future__ import annotations

from osc_netpath.path import core, ml2_ovs

NAME = "ovs-native"


def hops(ctx: core.Walk) -> None:
    vif = core.guest_hop(ctx)
    ovs_if = core.ovs_interface_for_port(ctx)
    tap = core.tap_name(ctx, vif)
    if ctx.int_br.startswith(ml2_ovs.TRUNK_BRIDGE_PREFIX):
        trunk_bridge = ctx.int_br
        ctx.int_br = (ctx.agent.integration_bridge if ctx.agent else None) or "br-int"
        local_vlan = ml2_ovs.trunk_hops(ctx, tap, ovs_if, trunk_bridge)
    else:
        core.tap_hop(ctx, tap, ovs_if)
        local_vlan = ml2_ovs.int_bridge_hop(ctx, ovs_if, hybrid=False)
    ml2_ovs.leave(ctx, local_vlan)
