"""ML2/OVN path resolution, on facts laid out as os-vif and ovn-controller do."""
from __future__ import annotations

from osc_netpath.path import model as m
from osc_netpath.path.model import ServerPath
from osc_netpath.path.resolve import resolve
from tests.unit import builders as b


def _devices(path: ServerPath) -> list[tuple[str, str]]:
    return [(h.device, h.kind) for h in path.ports[0].hops]


def _hop(path: ServerPath, device: str) -> m.Hop:
    return next(h for h in path.ports[0].hops if h.device == device)


def _geneve_host(installed: bool = True) -> b.HostBuilder:
    host = b.ovn_host()
    b.plug_ovn(host, installed=installed)
    host.domains.append(b.domain(hybrid=False))
    return host


def test_geneve_path_to_the_chassis_of_the_other_port():
    host = _geneve_host()
    tunnel = b.ovn_tunnel(host, "compute2", "192.0.2.12")
    path = resolve(b.ovn_cloud(), {"compute1": host.facts()})
    port = path.ports[0]
    assert port.backend == "ovn"
    assert _devices(path) == [("instance-00000001", m.GUEST), (f"tap{b.SID}", m.TAP),
                              ("br-int", m.OVS_BRIDGE), (tunnel, m.TUNNEL), ("eth0", m.NIC)]
    tap = _hop(path, f"tap{b.SID}")
    assert tap.vlan is None and "ovn-installed true" in (tap.detail or "")
    tun = _hop(path, tunnel)
    assert tun.peer == "192.0.2.12" and f"compute2 (chassis {b.CHASSIS['compute2']})" in tun.detail
    assert _hop(path, "eth0").detail == "tunnel endpoint 192.0.2.11"
    assert port.problems == [] and path.notes == [] and path.errors == []


def test_vlan_path_through_the_localnet_patch():
    host = _geneve_host()
    path = resolve(b.ovn_cloud("vlan", 101), {"compute1": host.facts()})
    near = f"patch-br-int-to-provnet-{b.SEGMENT_ID}"
    far = f"patch-provnet-{b.SEGMENT_ID}-to-br-int"
    assert _devices(path)[2:] == [("br-int", m.OVS_BRIDGE), (near, m.PATCH), (far, m.PATCH),
                                  ("br-ex", m.OVS_BRIDGE), ("eth1", m.NIC)]
    br_ex = _hop(path, "br-ex")
    assert br_ex.vlan == "VLAN 101" and f"localnet provnet-{b.SEGMENT_ID}" in br_ex.detail
    assert path.ports[0].problems == []


def test_port_not_yet_programmed_is_said():
    host = _geneve_host(installed=False)
    b.ovn_tunnel(host, "compute2", "192.0.2.12")
    path = resolve(b.ovn_cloud(), {"compute1": host.facts()})
    assert path.ports[0].problems == [
        (f"tap{b.SID} has no external_ids:ovn-installed: ovn-controller has not finished "
        "programming this port (or has not claimed it)")]


def test_port_not_plugged_is_not_claimed():
    host = b.ovn_host()
    path = resolve(b.ovn_cloud(), {"compute1": host.facts()})
    assert any(p.startswith(
        f"port not claimed on compute1: no OVS interface has external_ids:iface-id={b.PORT_ID}")
        for p in path.ports[0].problems)


def test_physnet_missing_from_ovn_bridge_mappings():
    host = _geneve_host()
    host.ovs.external_ids["ovn-bridge-mappings"] = "physnet2:br-vlan"
    path = resolve(b.ovn_cloud("vlan", 101), {"compute1": host.facts()})
    assert path.ports[0].problems == [
        ("physical network 'physnet1' is not in the ovn-bridge-mappings of compute1 "
        "(physnet2:br-vlan): ovn-controller connects it to no bridge, "
            "traffic cannot leave")]


def test_no_tunnel_to_a_chassis_that_hosts_another_port():
    host = _geneve_host()
    path = resolve(b.ovn_cloud(), {"compute1": host.facts()})
    assert path.ports[0].problems == [
        (f"no geneve tunnel from compute1 to compute2 (chassis {b.CHASSIS['compute2']}), which "
        "hosts another port of this network: traffic to it is dropped")]
    assert "eth0" not in [h.device for h in path.ports[0].hops]  # nothing to carry


def test_underlay_mtu_too_small_for_geneve():
    host = _geneve_host()
    b.ovn_tunnel(host, "compute2", "192.0.2.12")
    eth0 = next(x for x in host.links if x.name == "eth0")
    eth0.mtu = 1480
    path = resolve(b.ovn_cloud(), {"compute1": host.facts()})
    assert path.ports[0].problems == [
        ("eth0 carries Geneve with MTU 1480: the network's MTU 1442 needs 1500 on the underlay "
        "(Geneve adds 58 bytes): large packets are dropped")]


def test_chassis_facts_are_said_once_per_host():
    host = _geneve_host()
    b.ovn_tunnel(host, "compute2", "192.0.2.12")
    host.ovs.external_ids["hostname"] = "compute1.example.org"  # the short name still matches
    facts = host.facts()
    facts.ovn_controller = "not connected"
    path = resolve(b.ovn_cloud(), {"compute1": facts})
    assert path.notes == [("compute1: ovn-controller is 'not connected' to the Southbound DB "
                          "(tcp:192.0.2.1:6642): new ports are not programmed")]
    host.ovs.external_ids["hostname"] = "compute9"
    path = resolve(b.ovn_cloud(), {"compute1": host.facts()})
    assert path.notes[0].startswith("compute1: this chassis calls itself 'compute9'")


def test_unreadable_ovs_on_an_ovn_host_is_unknown():
    host = _geneve_host()
    facts = host.facts()
    facts.ovs = None
    facts.unknown["ovs"] = "ovs: permission denied on /var/run/openvswitch/db.sock"
    path = resolve(b.ovn_cloud(), {"compute1": facts})
    assert path.ports[0].backend == "ovn"  # from the OVN Controller agent
    br_int = _hop(path, "br-int")
    assert (br_int.state, br_int.source) == ("unknown", m.SRC_UNKNOWN)
    assert path.ports[0].problems == []


def test_metadata_namespace_missing_where_the_metadata_agent_runs():
    from osc_netpath.cloud.facts import AgentFacts

    host = _geneve_host()
    b.ovn_tunnel(host, "compute2", "192.0.2.12")
    cloud = b.ovn_cloud()
    cloud.agents.append(AgentFacts(id="m1", host="compute1", agent_type="OVN Metadata agent"))
    cloud.metadata_networks = ["net-1"]
    path = resolve(cloud, {"compute1": host.facts()})
    assert path.ports[0].problems == [
        ("metadata namespace ovnmeta-net-1 is missing on compute1: the OVN metadata agent has "
        "not provisioned this network here (the guest gets no answer from 169.254.169.254)")]
    facts = host.facts()
    facts.namespaces = ["ovnmeta-net-1"]
    path = resolve(cloud, {"compute1": facts})
    assert path.ports[0].problems == []
    assert "metadata ovnmeta-net-1" in (_hop(path, "br-int").detail or "")


def test_probe_asks_ovn_controller_only_on_an_ovn_chassis():
    from osc_netpath import trace

    assert trace.probe_request(b.ovn_cloud(), "compute1").ovn is True
    assert trace.probe_request(b.cloud("vxlan", 1001), "compute1").ovn is False


def test_localnet_vlan_read_from_br_int_flows():
    host = _geneve_host()
    b.ovn_flows(host, datapath=2, seg=101)
    path = resolve(b.ovn_cloud("vlan", 101), {"compute1": host.facts()})
    br_ex = _hop(path, "br-ex")
    assert (br_ex.vlan, br_ex.source) == ("VLAN 101", m.SRC_FLOWS)
    assert path.ports[0].problems == []


def test_two_provider_networks_on_one_physnet_each_take_their_own_patch():
    # ovn-controller makes one patch pair per localnet port: the flat network's comes first on
    # br-int here, and its table-65 flow is for datapath 9 only; this port's (datapath 2) is
    # the other pair, found by the flow, not by the order
    other = "0a1b2c3d-0000-4000-8000-00000000f1a7"
    host = _geneve_host()
    near, far = f"patch-br-int-to-provnet-{other}", f"patch-provnet-{other}-to-br-int"
    host.patch("br-int", near, "br-ex", far)
    for name in (near, far):
        host.ovs.ports[name].external_ids = {"ovn-localnet-port": f"provnet-{other}"}
    host.ovs.bridges["br-int"].ports.insert(0, host.ovs.bridges["br-int"].ports.pop())
    host.flow("br-int", 65, {"reg15": "0x2", "metadata": "0x9"}, [f'output:"{near}"'])
    b.ovn_flows(host, datapath=2, seg=101)
    path = resolve(b.ovn_cloud("vlan", 101), {"compute1": host.facts()})
    assert [d for d, _ in _devices(path)][3:5] == [
        f"patch-br-int-to-provnet-{b.SEGMENT_ID}", f"patch-provnet-{b.SEGMENT_ID}-to-br-int"]
    assert _hop(path, "br-ex").vlan == "VLAN 101" and path.ports[0].problems == []


def test_localnet_vlan_that_disagrees_with_neutron():
    host = _geneve_host()
    b.ovn_flows(host, datapath=2, seg=202)
    path = resolve(b.ovn_cloud("vlan", 101), {"compute1": host.facts()})
    assert _hop(path, "br-ex").vlan == "VLAN 202"  # what is on the wire, not what is said
    assert path.ports[0].problems == [
        (f"br-int sends this network to patch-br-int-to-provnet-{b.SEGMENT_ID} as 202, "
        "Neutron says 101")]


def test_localnet_output_missing_for_the_datapath():
    host = _geneve_host()
    b.ovn_flows(host, datapath=2, seg=101)
    host.flows = [f for f in host.flows if f.table != 65]
    path = resolve(b.ovn_cloud("vlan", 101), {"compute1": host.facts()})
    assert path.ports[0].problems == [
        (f"no flow on br-int (table 65) sends this network's traffic (datapath 2) to "
        f"patch-br-int-to-provnet-{b.SEGMENT_ID}: it never leaves by the localnet port")]


def test_geneve_vni_is_the_datapath_key():
    host = _geneve_host()
    tunnel = b.ovn_tunnel(host, "compute2", "192.0.2.12")
    b.ovn_flows(host, datapath=5, seg=None)
    path = resolve(b.ovn_cloud(), {"compute1": host.facts()})
    assert _hop(path, tunnel).vlan == "VNI 5"


def test_diagram_says_the_wire_tag_not_a_local_vlan():
    from osc_netpath.render import tree

    host = _geneve_host()
    b.ovn_flows(host, datapath=2, seg=101)
    text = tree.diagram(resolve(b.ovn_cloud("vlan", 101), {"compute1": host.facts()}))
    line = next(x for x in text.splitlines() if "br-ex" in x and "ovs-bridge" in x)
    assert "VLAN 101" in line and "local VLAN" not in line


def test_chassis_summary_and_a_metadata_agent_down():
    from osc_netpath.cloud.facts import AgentFacts

    host = _geneve_host()
    b.ovn_tunnel(host, "compute2", "192.0.2.12")
    host.ovs.external_ids["ovn-cms-options"] = "enable-chassis-as-gw"
    cloud = b.ovn_cloud()
    cloud.agents.append(AgentFacts(id="m1", host="compute1", agent_type="OVN Metadata agent",
                                   alive=False))
    path = resolve(cloud, {"compute1": host.facts()})
    assert f"chassis {b.CHASSIS['compute1']} (geneve 192.0.2.11, gateway)" in (
        _hop(path, "br-int").detail or "")
    assert path.ports[0].problems == ["the OVN Metadata agent on compute1 is down (not reporting)"]


def _gateway_cloud(segment_id: str | None) -> object:
    """vm's router's gateway port on the external VLAN network, bound to compute1 (the
    gateway chassis ML2/OVN scheduled its cr-lrp on), as --to external adds it."""
    from osc_netpath.cloud.facts import FixedIP, FloatingIP, PortFacts

    cloud = b.ovn_cloud("vlan", 101)
    cloud.networks["net-1"].segments[0].id = segment_id
    gw = PortFacts(id="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", network_id="net-1",
                   mac_address="fa:16:3e:99:00:01", status="ACTIVE",
                   device_owner="network:router_gateway", device_id="router-1",
                   binding_host_id="compute1", binding_vif_type="ovs",
                   fixed_ips=[FixedIP("sub-1", "198.51.100.99")])
    cloud.ports = [gw]
    cloud.way_out = [gw.id]
    cloud.floating_ips = {"router-1": [FloatingIP("198.51.100.50", "10.0.0.5", b.PORT_ID,
                                                  "ACTIVE")]}
    return cloud


def _gateway_host(other_first: bool) -> b.HostBuilder:
    """A gateway chassis with the external network's localnet pair and another network's on
    the same physnet (listed first on br-int when ``other_first``), each with its flows."""
    other = "0a1b2c3d-0000-4000-8000-00000000f1a7"
    host = b.ovn_host()
    host.ovs.external_ids["ovn-cms-options"] = "enable-chassis-as-gw"
    near, far = f"patch-br-int-to-provnet-{other}", f"patch-provnet-{other}-to-br-int"
    host.patch("br-int", near, "br-ex", far)
    for name in (near, far):
        host.ovs.ports[name].external_ids = {"ovn-localnet-port": f"provnet-{other}"}
    if other_first:
        host.ovs.bridges["br-int"].ports.insert(0, host.ovs.bridges["br-int"].ports.pop())
    host.flow("br-int", 0, {"in_port": f'"{near}"', "vlan_tci": "0x0000/0x1000"},
              ["set_field:0x9->metadata", "resubmit(,8)"])
    host.flow("br-int", 65, {"reg15": "0x2", "metadata": "0x9"}, [f'output:"{near}"'])
    mine = f"patch-br-int-to-provnet-{b.SEGMENT_ID}"
    host.flow("br-int", 0, {"in_port": f'"{mine}"', "dl_vlan": "101"},
              ["pop_vlan", "set_field:0x2->metadata", "resubmit(,8)"])
    host.flow("br-int", 65, {"reg15": "0x1", "metadata": "0x2"},
              ["push_vlan:0x8100", "set_field:4197->vlan_vid", f'output:"{mine}"', "pop_vlan"])
    return host


def test_ovn_gateway_leaves_by_its_networks_localnet_patch():
    path = resolve(_gateway_cloud(b.SEGMENT_ID), {"compute1": _gateway_host(True).facts()})
    (port,) = path.ports
    assert [(h.device, h.kind) for h in port.hops] == [
        ("cr-lrp-9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", m.LOGICAL), ("br-int", m.OVS_BRIDGE),
        (f"patch-br-int-to-provnet-{b.SEGMENT_ID}", m.PATCH),
        (f"patch-provnet-{b.SEGMENT_ID}-to-br-int", m.PATCH),
        ("br-ex", m.OVS_BRIDGE), ("eth1", m.NIC)]
    assert "floating IPs 198.51.100.50 → 10.0.0.5 (ACTIVE)" in port.hops[0].detail
    br_ex = next(h for h in port.hops if h.device == "br-ex")
    assert (br_ex.vlan, br_ex.source) == ("VLAN 101", m.SRC_FLOWS)  # read via the patch
    assert port.problems == []


def test_ovn_gateway_without_segment_id_is_told_apart_by_the_wire_tag():
    # no segment id (no segments API): the pair whose network br-int tags with the external
    # network's VLAN (101) is its own; the other network on physnet1 is untagged
    path = resolve(_gateway_cloud(None), {"compute1": _gateway_host(True).facts()})
    (port,) = path.ports
    assert port.hops[2].device == f"patch-br-int-to-provnet-{b.SEGMENT_ID}"
    assert next(h for h in port.hops if h.device == "br-ex").vlan == "VLAN 101"
    assert port.problems == []


def test_ovn_gateway_bound_to_a_chassis_that_is_no_gateway():
    host = _gateway_host(False)
    del host.ovs.external_ids["ovn-cms-options"]
    path = resolve(_gateway_cloud(b.SEGMENT_ID), {"compute1": host.facts()})
    assert path.ports[0].problems == [(
        "compute1 is not a gateway chassis (no enable-chassis-as-gw in ovn-cms-options) but "
        "Neutron bound the router's gateway here")]
