"""Path resolution for every ML2/OVS case in scope, on facts laid out as os-vif/the agent do."""
from __future__ import annotations

from osc_netpath import serial
from osc_netpath.path import model as m
from osc_netpath.path.model import ServerPath
from osc_netpath.path.resolve import resolve
from tests.unit import builders as b


def _devices(path: ServerPath) -> list[tuple[str, str]]:
    return [(h.device, h.kind) for h in path.ports[0].hops]


def _hop(path: ServerPath, device: str) -> m.Hop:
    return next(h for h in path.ports[0].hops if h.device == device)


def test_hybrid_vlan_full_path():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    b.vlan_flows(host, local=3, seg=101)
    host.domains.append(b.domain(hybrid=True))
    path = resolve(b.cloud("vlan", 101, hybrid=True), {"compute1": host.facts()})
    sid = b.SID
    assert _devices(path) == [
        ("instance-00000001", m.GUEST),
        (f"tap{sid}", m.TAP),
        (f"qbr{sid}", m.LINUX_BRIDGE),
        (f"qvb{sid}", m.VETH),
        (f"qvo{sid}", m.OVS_PORT),
        ("br-int", m.OVS_BRIDGE),
        ("int-br-ex", m.PATCH),
        ("phy-br-ex", m.PATCH),
        ("br-ex", m.OVS_BRIDGE),
        ("eth1", m.NIC),
    ]
    assert [h.index for h in path.ports[0].hops] == list(range(10))
    assert _hop(path, f"qvb{sid}").peer == f"qvo{sid}"
    assert _hop(path, f"qvo{sid}").vlan == "3"
    assert _hop(path, "br-int").vlan == "3"
    assert _hop(path, "br-ex").vlan == "3 → 101"
    assert _hop(path, "int-br-ex").peer == "phy-br-ex"
    assert _hop(path, f"tap{sid}").bridge == f"qbr{sid}"
    assert path.ports[0].backend == "ovs-hybrid"
    assert path.ports[0].segment == "vlan physnet1/101"
    assert path.ports[0].problems == []


def test_hybrid_flat_strips_vlan():
    host = b.base_host()
    b.plug_hybrid(host, tag=1)
    b.vlan_flows(host, local=1, seg=None)
    host.domains.append(b.domain(hybrid=True))
    path = resolve(b.cloud("flat", None), {"compute1": host.facts()})
    assert _hop(path, "br-ex").vlan == "1 → untagged"
    assert path.ports[0].problems == []


def test_native_vxlan_path_with_tunnel_and_underlay():
    host = b.base_host()
    b.plug_native(host, tag=2)
    b.vxlan(host, local=2, vni=1001, remote="192.0.2.12")
    host.domains.append(b.domain(hybrid=False))
    path = resolve(b.cloud("vxlan", 1001, hybrid=False), {"compute1": host.facts()})
    assert _devices(path) == [
        ("instance-00000001", m.GUEST),
        (f"tap{b.SID}", m.TAP),
        ("br-int", m.OVS_BRIDGE),
        ("patch-tun", m.PATCH),
        ("patch-int", m.PATCH),
        ("br-tun", m.OVS_BRIDGE),
        ("vxlan-c000020c", m.TUNNEL),
        ("eth0", m.NIC),
    ]
    tap = _hop(path, f"tap{b.SID}")
    assert (tap.bridge, tap.vlan) == ("br-int", "2")
    assert _hop(path, "br-tun").vlan == "2 → VNI 1001"
    assert _hop(path, "vxlan-c000020c").peer == "192.0.2.12"
    assert _hop(path, "eth0").detail == "tunnel endpoint 192.0.2.11"
    assert path.ports[0].backend == "ovs-native"
    assert path.ports[0].problems == []


def test_dead_vlan_is_flagged():
    host = b.base_host()
    b.plug_hybrid(host, tag=4095)
    b.vlan_flows(host)
    path = resolve(b.cloud(), {"compute1": host.facts()})
    assert any("dead VLAN 4095" in p for p in path.ports[0].problems)
    assert path.ports[0].hops[-1].device == "br-int"  # isolated: nothing leaves br-int


def test_shutoff_server_shows_what_exists_and_what_is_missing():
    host = b.base_host()
    b.plug_hybrid(host, tag=3, with_tap=False)  # libvirt removed the tap; qbr/qvb/qvo stay
    b.vlan_flows(host)
    path = resolve(b.cloud(status="SHUTOFF"), {"compute1": host.facts()})
    tap = _hop(path, f"tap{b.SID}")
    assert (tap.source, tap.state) == (m.SRC_MISSING, "absent")
    assert _hop(path, f"qvo{b.SID}").vlan == "3"
    assert _hop(path, "br-ex").vlan == "3 → 101"
    problems = " | ".join(path.ports[0].problems)
    assert f"tap{b.SID} (tap) does not exist" in problems
    assert path.notes == [
        "compute1: libvirt domain instance-00000001 not found (server is shutoff)"]


def test_port_bound_to_another_host_is_flagged():
    host = b.base_host("compute2")
    path = resolve(b.cloud(host="compute1", bound_host="compute2"), {"compute2": host.facts()})
    assert path.ports[0].host == "compute2"
    assert any("bound to compute2 but the server runs on compute1" in p
               for p in path.ports[0].problems)


def test_missing_translation_flow_is_flagged():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    path = resolve(b.cloud(), {"compute1": host.facts()})
    assert _hop(path, "br-ex").vlan == "3 → ?"
    assert any("no flow on br-ex rewrites local VLAN 3 → 101" in p
               for p in path.ports[0].problems)


def test_wrong_segmentation_id_in_flows_is_flagged():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    b.vlan_flows(host, local=3, seg=102)
    path = resolve(b.cloud(seg=101), {"compute1": host.facts()})
    assert any("rewrites local VLAN 3 → 102, Neutron says 101" in p
               for p in path.ports[0].problems)


def test_flows_with_ofport_numbers_and_set_field():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    phy = host.ovs.interfaces["phy-br-ex"]
    host.flow("br-ex", 0, {"in_port": str(phy.ofport), "dl_vlan": "3"},
              ["set_field:4197->vlan_vid", "NORMAL"])  # 4197 = 0x1000 | 101
    path = resolve(b.cloud(seg=101), {"compute1": host.facts()})
    assert _hop(path, "br-ex").vlan == "3 → 101"


def test_physnet_not_in_bridge_mappings():
    host = b.base_host()
    b.plug_hybrid(host)
    cloud = b.cloud()
    cloud.agents[0].bridge_mappings = {"physnet2": "br-prov"}
    path = resolve(cloud, {"compute1": host.facts()})
    assert any("no bridge_mappings entry for physical network 'physnet1'" in p
               for p in path.ports[0].problems)


def test_unplugged_vif_is_flagged_not_crashing():
    host = b.base_host()
    path = resolve(b.cloud(hybrid=False), {"compute1": host.facts()})
    assert any("external_ids:iface-id=" in p and "not plugged" in p
               for p in path.ports[0].problems)


def test_unreachable_host_keeps_api_facts():
    path = resolve(b.cloud(), {}, {"compute1": "compute1 (192.0.2.11): connection refused"})
    port = path.ports[0]
    assert port.host_error == "compute1 (192.0.2.11): connection refused"
    assert [(h.kind, h.mac) for h in port.hops] == [(m.GUEST, b.MAC)]


def test_binding_failed_is_flagged():
    path = resolve(b.cloud(vif_type="binding_failed"), {"compute1": b.base_host().facts()})
    assert any("binding is binding_failed" in p for p in path.ports[0].problems)


def test_hybrid_detected_from_host_when_binding_detail_absent():
    host = b.base_host()
    b.plug_hybrid(host)
    cloud = b.cloud()
    del cloud.ports[0].binding_vif_details["ovs_hybrid_plug"]
    path = resolve(cloud, {"compute1": host.facts()})
    assert path.ports[0].backend == "ovs-hybrid"


def test_paths_round_trip_through_json():
    host = b.base_host()
    b.plug_hybrid(host)
    facts = host.facts()
    again = serial.from_data(type(facts), serial.to_data(facts))
    assert again == facts
    cloud = b.cloud()
    assert serial.from_data(type(cloud), serial.to_data(cloud)) == cloud


def test_stale_external_ids_are_flagged():
    host = b.base_host()
    b.plug_native(host, tag=2)
    host.ovs.interfaces[f"tap{b.SID}"].external_ids["vm-uuid"] = "other-vm"
    host.ovs.interfaces[f"tap{b.SID}"].external_ids["attached-mac"] = "fa:16:3e:00:00:99"
    path = resolve(b.cloud("vxlan", 1001, hybrid=False), {"compute1": host.facts()})
    problems = " | ".join(path.ports[0].problems)
    assert "vm-uuid is other-vm, not this server" in problems
    assert "attached-mac is fa:16:3e:00:00:99, the port's MAC is fa:16:3e:21:1b:4b" in problems


def test_host_problems_are_said_once_per_host():
    from osc_netpath.host.facts import Problem

    host = b.base_host()
    b.plug_hybrid(host)
    host.domains.append(b.domain(hybrid=True))
    facts = host.facts()
    facts.problems.append(Problem("flows:br-ex", "ovs-ofctl: permission denied"))
    facts.problems.append(Problem("libvirt:instance-00000001", "libvirt: libvirtd is not running"))
    cloud = b.cloud()
    cloud.ports.append(type(cloud.ports[0])(**{**cloud.ports[0].__dict__, "id": "p2" * 10}))
    path = resolve(cloud, {"compute1": facts})
    # unreadable OVS facts leave the path incomplete (an error); a missing libvirt only a detail
    assert path.errors == ["compute1: flows:br-ex: ovs-ofctl: permission denied"]
    assert path.notes == ["compute1: libvirt: libvirtd is not running"]
    assert all("permission" not in p for port in path.ports for p in port.problems)


def test_first_bindable_segment_wins_like_ml2():
    from osc_netpath.cloud.facts import Segment

    host = b.base_host()
    b.plug_native(host, tag=2)
    b.vxlan(host, local=2, vni=1001)
    cloud = b.cloud("vxlan", 1001, hybrid=False)
    net = cloud.networks["net-1"]
    net.segments = [Segment("vxlan", None, 1001), Segment("vlan", "physnet1", 101)]
    path = resolve(cloud, {"compute1": host.facts()})
    assert path.ports[0].segment == "vxlan 1001"
    cloud.agents[0].tunnel_types = []  # this host cannot bind vxlan: ML2 takes the VLAN one
    path = resolve(cloud, {"compute1": host.facts()})
    assert path.ports[0].segment == "vlan physnet1/101"


def test_wiring_from_the_host_wins_over_the_binding():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    b.vlan_flows(host)
    path = resolve(b.cloud(hybrid=False), {"compute1": host.facts()})
    assert path.ports[0].backend == "ovs-hybrid"
    assert ("ovs-port" in [h.kind for h in path.ports[0].hops])
    assert any("binding says ovs_hybrid_plug=False but the host has the port plugged through "
               "a qbr bridge" in p for p in path.ports[0].problems)


def test_duplicate_iface_id_and_interface_errors():
    host = b.base_host()
    b.plug_native(host, tag=2)
    stale = host.port("br-int", f"qvo{b.SID}", tag=5, external_ids={"iface-id": b.PORT_ID})
    stale.ofport, stale.error = -1, "could not open network device qvoc3d70d5c-a9"
    b.vxlan(host, local=2)
    path = resolve(b.cloud("vxlan", 1001, hybrid=False), {"compute1": host.facts()})
    problems = " | ".join(path.ports[0].problems)
    assert f"2 OVS interfaces claim iface-id {b.PORT_ID}" in problems
    assert _hop(path, f"tap{b.SID}").vlan == "2"  # the live one, not the leftover


def test_interface_error_is_reported():
    host = b.base_host()
    b.plug_native(host, tag=2)
    host.ovs.interfaces[f"tap{b.SID}"].error = "could not open network device"
    path = resolve(b.cloud("vxlan", 1001, hybrid=False), {"compute1": host.facts()})
    assert any("OVS cannot use" in p and "could not open network device" in p
               for p in path.ports[0].problems)


def test_ingress_flow_to_the_wrong_vlan_is_flagged_and_priority_decides():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    b.vlan_flows(host, local=3, seg=101)
    host.flows[-1].match["dl_vlan"] = "102"  # br-int maps 102 (not 101) -> 3
    # a lower-priority flow with the right id must not hide the winning one
    low = type(host.flows[0])(bridge="br-ex", table=0, priority=1,
                              match={"in_port": "phy-br-ex", "dl_vlan": "3"},
                              actions=["mod_vlan_vid:999", "NORMAL"])
    host.flows.append(low)
    path = resolve(b.cloud(seg=101), {"compute1": host.facts()})
    problems = " | ".join(path.ports[0].problems)
    assert "br-int maps 102 from int-br-ex to local VLAN 3, Neutron says 101" in problems
    assert _hop(path, "br-ex").vlan == "3 → 101"


def test_mtu_smaller_than_the_network_is_flagged():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    b.vlan_flows(host)
    host.links[-2].mtu = 1400  # qvb
    path = resolve(b.cloud(), {"compute1": host.facts()})
    assert any(f"qvb{b.SID} has MTU 1400, smaller than the network's 1500" in p
               for p in path.ports[0].problems)


def test_admin_down_port_explains_dead_vlan():
    host = b.base_host()
    b.plug_hybrid(host, tag=4095)
    cloud = b.cloud()
    cloud.ports[0].admin_state_up = False
    path = resolve(cloud, {"compute1": host.facts()})
    assert any("administratively down" in p for p in path.ports[0].problems)


def test_host_error_without_ports_on_it_is_not_lost():
    host = b.base_host("compute2")
    cloud = b.cloud(host="compute1", bound_host="compute2")
    path = resolve(cloud, {"compute2": host.facts()},
                   {"compute1": "compute1 (192.0.2.11:22): host key CHANGED"})
    assert path.errors == ["compute1 (192.0.2.11:22): host key CHANGED"]


def test_ssh_to_the_wrong_machine_is_said():
    host = b.base_host()
    b.plug_hybrid(host)
    facts = host.facts()
    facts.hostname = "compute7.example.org"
    path = resolve(b.cloud(), {"compute1": facts})
    assert any("SSH reached a machine named 'compute7.example.org'" in n for n in path.notes)
    facts.hostname = "compute1.example.org"  # FQDN of the right host is fine
    assert not any("SSH reached" in n for n in resolve(b.cloud(), {"compute1": facts}).notes)


def test_tunnel_endpoint_on_br_ex_continues_to_its_uplink():
    host = b.base_host()
    b.plug_native(host, tag=2)
    b.vxlan(host, local=2, vni=1001)
    host.links = [x for x in host.links if x.name != "eth0"]
    next(x for x in host.links if x.name == "br-ex").addresses = ["192.0.2.11/24"]
    path = resolve(b.cloud("vxlan", 1001, hybrid=False), {"compute1": host.facts()})
    tail = [(h.device, h.kind, h.bridge) for h in path.ports[0].hops[-2:]]
    assert tail == [("br-ex", m.OVS_PORT, "br-ex"), ("eth1", m.NIC, "br-ex")]
    assert path.ports[0].problems == []


def test_linux_bond_uplink_lists_its_members():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    b.vlan_flows(host)
    next(x for x in host.links if x.name == "eth1").kind = "bond"
    host.link("ens1f0", master="eth1")
    host.link("ens1f1", master="eth1")
    path = resolve(b.cloud(), {"compute1": host.facts()})
    assert _hop(path, "eth1").detail == "bond members ens1f0, ens1f1"


def test_trunk_parent_port_goes_through_the_trunk_bridge():
    host = b.base_host()
    tbr = "tbr-5a1c2e3f-b7"
    host.bridge(tbr)
    host.link(f"tap{b.SID}", kind="tun", master="ovs-system")
    host.port(tbr, f"tap{b.SID}", external_ids={"iface-id": b.PORT_ID, "attached-mac": b.MAC})
    host.patch(tbr, f"tpt-{b.SID}", "br-int", f"tpi-{b.SID}")
    host.ovs.ports[f"tpi-{b.SID}"].tag = 5
    host.ovs.interfaces[f"tpi-{b.SID}"].external_ids = {"iface-id": b.PORT_ID}
    b.vlan_flows(host, local=5, seg=101)
    cloud = b.cloud(hybrid=False)
    cloud.ports[0].binding_vif_details["bridge_name"] = tbr
    path = resolve(cloud, {"compute1": host.facts()})
    assert [(h.device, h.kind, h.bridge, h.vlan) for h in path.ports[0].hops[1:6]] == [
        (f"tap{b.SID}", m.TAP, tbr, None),
        (tbr, m.OVS_BRIDGE, None, None),
        (f"tpt-{b.SID}", m.PATCH, tbr, None),
        (f"tpi-{b.SID}", m.PATCH, "br-int", None),
        ("br-int", m.OVS_BRIDGE, None, "5"),
    ]
    assert _hop(path, "br-ex").vlan == "5 → 101"
    assert path.ports[0].problems == []


def test_probe_request_reads_only_the_translating_tables():
    from osc_netpath import trace

    cloud = b.cloud("vlan", 101)
    req = trace.probe_request(cloud, "compute1")
    assert (req.domains, req.flows) == (["instance-00000001"], [("br-ex", 0), ("br-int", 0)])
    cloud = b.cloud("vxlan", 1001, hybrid=False)
    cloud.ports[0].binding_vif_details["bridge_name"] = "tbr-5a1c2e3f-b7"
    req = trace.probe_request(cloud, "compute1")
    # the tunnel bridge is the host's to name: its tables are read from every bridge
    assert (req.flows, req.tunnel_tables) == ([("br-int", 0)], [4, 22])
    assert trace.probe_request(cloud, "compute2").domains == []  # not where the server runs


def test_member_profile_with_host_traces_what_the_host_shows():
    """Non-admin + --host: binding, segments, agents and instance name are hidden by policy."""
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    b.vlan_flows(host)
    cloud = b.cloud()
    cloud.server.instance_name = None
    port = cloud.ports[0]
    port.binding_host_id, port.binding_vif_type, port.binding_vif_details = None, None, {}
    cloud.networks["net-1"].segments = []
    cloud.agents = []
    path = resolve(cloud, {"compute1": host.facts()})
    got = path.ports[0]
    assert got.backend == "ovs-hybrid" and got.host == "compute1"
    assert [h.device for h in got.hops][-2:] == [f"qvo{b.SID}", "br-int"]
    assert _hop(path, "br-int").vlan == "3"
    assert not any("could not bind" in p for p in got.problems)
    assert any("not visible to this cloud profile" in p for p in got.problems)
    # libvirt knows the domain by Nova's UUID as well: the guest hop still comes from libvirt
    host.domains.append(b.domain(hybrid=True))
    path = resolve(cloud, {"compute1": host.facts()})
    assert path.ports[0].hops[0].device == "instance-00000001"
    from osc_netpath import trace

    assert trace.probe_request(cloud, "compute1").domains == [b.SERVER_ID]


def test_an_odd_bridge_name_from_the_api_never_stops_the_probe():
    from osc_netpath import trace
    from osc_netpath.host import probe

    cloud = b.cloud("vlan", 101)
    cloud.ports[0].binding_vif_details["bridge_name"] = "br-int;id"
    req = trace.probe_request(cloud, "compute1")
    assert req.flows == [("br-ex", 0)] and req.domains == ["instance-00000001"]
    assert "br-int;id" not in probe.command_line(req)
    assert any("bridge name 'br-int;id' from the API is not a valid" in n for n in cloud.notes)


def test_a_host_override_resolves_ports_against_that_host():
    """--host naming another host than Nova's (admin): that host's wiring, both hosts said."""
    from osc_netpath import trace

    cloud = b.cloud("vlan", 101, hybrid=True)  # the server and its port on compute1
    cloud.host_override, cloud.hosts = "compute2", ["compute2"]
    cloud.agents[0].host = "compute2"  # gather reads the L2 agents of the probed host only
    other = b.base_host("compute2")  # bridges, patches; no VIF of this port
    path = resolve(cloud, {"compute2": other.facts()})
    got = path.ports[0]
    assert got.host == "compute2"
    assert path.errors == [(
        "--host compute2 is not the server's host: Nova places web-1 on compute1 and its ports "
        "are bound to compute1; only compute2 was probed, as asked")]
    assert got.problems[0] == ("traced on compute2 as --host asks; the port is bound to "
                               "compute1, where Nova places the server")
    assert any(p.startswith(f"no OVS interface on compute2 has external_ids:iface-id={b.PORT_ID}")
               for p in got.problems)
    assert not any("stale" in p for p in got.problems)
    assert path.notes == ["compute2: libvirt domain instance-00000001 not found (server is active)"]
    # a VIF (and the domain) that compute2 does have is followed there
    b.plug_hybrid(other, tag=7)
    other.domains.append(b.domain(hybrid=True))
    path = resolve(cloud, {"compute2": other.facts()})
    assert _hop(path, f"qvo{b.SID}").vlan == "7"
    assert path.ports[0].hops[0].source == f"{m.SRC_API}+{m.SRC_LIBVIRT}"
    assert path.notes == []
    # only compute2 is asked for the port's bridges and the domain
    asked = trace.probe_request(cloud, "compute2")
    assert (asked.flows, asked.domains) == ([("br-ex", 0), ("br-int", 0)], ["instance-00000001"])
    assert trace.probe_request(cloud, "compute1").domains == []


def _to_router_on(cloud, host: str, tunneling_ip: str) -> None:
    """--to external added the network's legacy router interface, bound to ``host``."""
    from osc_netpath.cloud.facts import AgentFacts, PortFacts

    qr = PortFacts(id="qr-port-1", network_id="net-1", mac_address="fa:16:3e:00:00:01",
                   status="ACTIVE",
                   device_owner="network:router_interface", device_id="router-1",
                   binding_host_id=host, binding_vif_type="ovs")
    cloud.ports.append(qr)
    cloud.agents.append(AgentFacts(id="agent-nn", host=host, agent_type="Open vSwitch agent",
                                   tunnel_types=["vxlan"], tunneling_ip=tunneling_ip))
    cloud.to, cloud.way_out = "external", [qr.id]


def test_to_external_names_the_tunnel_to_the_router():
    host = b.base_host()
    b.plug_native(host, tag=2)
    b.vxlan(host, local=2, vni=1001, remote="192.0.2.12")
    host.domains.append(b.domain(hybrid=False))
    cloud = b.cloud("vxlan", 1001, hybrid=False)
    _to_router_on(cloud, "network1", "192.0.2.12")
    path = resolve(cloud, {"compute1": host.facts()})  # network1 not probed: only the VM side
    vm = path.ports[0]
    assert vm.problems == []
    assert _hop(path, "vxlan-c000020c").detail.endswith("; to network1 (router router-1)")


def test_to_external_finds_no_tunnel_to_the_router():
    host = b.base_host()
    b.plug_native(host, tag=2)
    b.vxlan(host, local=2, vni=1001, remote="192.0.2.12")  # a tunnel, but to another host
    host.domains.append(b.domain(hybrid=False))
    cloud = b.cloud("vxlan", 1001, hybrid=False)
    _to_router_on(cloud, "network1", "192.0.2.99")
    vm = resolve(cloud, {"compute1": host.facts()}).ports[0]
    assert vm.problems == [(
        "no vxlan tunnel from compute1 to 192.0.2.99, the tunnel endpoint of network1 (router "
        "router-1): the server's traffic cannot reach its router")]


def test_dvr_agent_translates_on_the_physical_bridge_in_table_2():
    """Found on the stack's DVR phase: an OVS agent with enable_distributed_routing sends the
    physical bridge's traffic from br-int through table 0 → 1 → 2 and rewrites the local VLAN
    in table 2 (LOCAL_VLAN_TRANSLATION); reading table 0 alone gave "no flow on br-ex rewrites
    local VLAN" on every provider port of a DVR compute."""
    from osc_netpath import trace

    c = b.cloud("vlan", 101, hybrid=True)
    c.agents[0].configurations = {"enable_distributed_routing": True}
    assert ("br-ex", 2) in trace.probe_request(c, "compute1").flows
    plain = b.cloud("vlan", 101, hybrid=True)
    assert ("br-ex", 2) not in trace.probe_request(plain, "compute1").flows
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    host.flow("br-ex", 0, {"in_port": '"phy-br-ex"'}, ["resubmit(,1)"])
    host.flow("br-ex", 1, {}, ["resubmit(,2)"])
    host.flow("br-ex", 2, {"in_port": '"phy-br-ex"', "dl_vlan": "3"},
              ["mod_vlan_vid:101", "NORMAL"])
    host.flow("br-int", 0, {"in_port": '"int-br-ex"', "dl_vlan": "101"},
              ["mod_vlan_vid:3", "resubmit(,58)"])
    host.domains.append(b.domain(hybrid=True))
    path = resolve(c, {"compute1": host.facts()})
    assert _hop(path, "br-ex").vlan == "3 → 101"
    assert path.ports[0].problems == []
