"""Every audit finding class on host facts laid out as os-vif and the OVS agent lay them out
(builders), plus a clean audit of a recorded real probe output."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from osc_netpath.audit import checks, run
from osc_netpath.cloud.facts import AgentFacts, PortFacts
from osc_netpath.host.facts import HostFacts
from tests.unit import builders as b

OTHER = "0f1e2d3c-4b5a-4968-8776-655443322110"
FLOWS_ALL = {("br-int", 0), ("br-ex", 0), ("br-tun", 4)}


def host_input(hb: b.HostBuilder, network_type: str = "vlan", seg: int | None = 101,
               **kw) -> checks.HostInput:
    cloud = b.cloud(network_type=network_type, seg=seg)
    known = {p.id: p.binding_host_id for p in cloud.ports}
    return checks.HostInput(host="compute1", ports=cloud.ports, networks=cloud.networks,
                            agent=cloud.agents[0], facts=hb.facts(), known_ports=known,
                            flows_read=set(FLOWS_ALL), **kw)


def wired_vlan(tag: int = 3) -> b.HostBuilder:
    hb = b.base_host()
    b.plug_hybrid(hb, tag=tag)
    b.vlan_flows(hb, local=tag)
    return hb


def classes(hi: checks.HostInput) -> list[str]:
    return [f.cls for f in checks.audit_host(hi)]


def test_clean_vlan_host_has_no_findings():
    assert classes(host_input(wired_vlan())) == []


def test_every_class_has_a_severity():
    assert set(checks.CLASSES.values()) == {checks.ERROR, checks.WARNING}


def test_unprobed_host_is_one_finding_never_per_port():
    hi = host_input(wired_vlan(), error="compute1: ssh: connection refused")
    hi.facts = None
    found = checks.audit_host(hi)
    assert [f.cls for f in found] == ["host-unprobed"]
    assert found[0].seen == "compute1: ssh: connection refused"
    assert checks.exit_status(found, strict=False) == 1


def test_ovs_unreadable_gives_no_missing_interfaces():
    hi = host_input(wired_vlan())
    hi.facts = HostFacts(host="compute1", ovs=None, unknown={"ovs": "permission denied"})
    assert classes(hi) == ["ovs-unreadable"]


def test_agent_down():
    hi = host_input(wired_vlan())
    hi.agent = dataclasses.replace(hi.agent, alive=False)
    assert classes(hi) == ["agent-down"]


def test_interface_missing():
    hb = b.base_host()
    b.vlan_flows(hb)
    found = checks.audit_host(host_input(hb))
    assert [(f.cls, f.port) for f in found] == [("interface-missing", b.PORT_ID)]


def test_port_down_by_design_is_not_missing():
    hi = host_input(b.base_host())
    hi.ports = [dataclasses.replace(hi.ports[0], status="DOWN", admin_state_up=False)]
    assert classes(hi) == []


def test_interface_error_and_ofport_minus_one():
    hb = wired_vlan()
    hb.ovs.interfaces[f"qvo{b.SID}"].ofport = -1
    hb.ovs.interfaces[f"qvo{b.SID}"].error = "could not open network device qvo (No such device)"
    found = checks.audit_host(host_input(hb))
    assert [f.cls for f in found] == ["interface-error"]
    assert "could not open network device" in found[0].seen


def test_orphan_port_only_when_neutron_was_asked():
    hb = wired_vlan()
    hb.port("br-int", "tapdeadbeef-00", tag=3, external_ids={"iface-id": OTHER})
    assert classes(host_input(hb)) == ["orphan-port"]
    assert classes(host_input(hb, ports_complete=False)) == []  # not asked: no guess


def test_duplicate_port_bound_elsewhere_and_twice_here():
    hb = wired_vlan()
    hb.port("br-int", "tapdeadbeef-00", tag=3, external_ids={"iface-id": OTHER})
    hi = host_input(hb)
    hi.known_ports[OTHER] = "compute2"
    found = checks.audit_host(hi)
    assert [(f.cls, f.expected) for f in found] == [
        ("duplicate-port", "on compute2 only (its binding:host_id)")]
    hb2 = wired_vlan()
    hb2.port("br-int", "qvoextra", tag=3, external_ids={"iface-id": b.PORT_ID})
    assert classes(host_input(hb2)) == ["duplicate-port"]


def test_dead_vlan():
    hb = wired_vlan(tag=4095)
    assert classes(host_input(hb)) == ["dead-vlan"]


def test_translation_flow_missing_vlan_and_unread_flows_prove_nothing():
    hb = b.base_host()
    b.plug_hybrid(hb, tag=3)  # no flows at all
    found = checks.audit_host(host_input(hb))
    assert [(f.cls, f.expected) for f in found] == [("translation-flow-missing", "VLAN 3 ⇄ 101")]
    hi = host_input(hb)
    hi.flows_read = {("br-int", 0)}  # br-ex was not read: unknown, not absent
    assert classes(hi) == []


def test_translation_flow_missing_flat_wrong_action():
    hb = wired_vlan()  # rewrites to 101, the network is flat
    assert classes(host_input(hb, network_type="flat", seg=None)) == ["translation-flow-missing"]


def vxlan_host(tunnel: bool = True, flows: bool = True, underlay_mtu: int = 1550
               ) -> b.HostBuilder:
    hb = b.base_host()
    (eth0,) = [x for x in hb.links if x.name == "eth0"]
    eth0.mtu = underlay_mtu  # the 1500 network + 50 of VXLAN
    b.plug_hybrid(hb, tag=2)
    if flows:
        b.vxlan(hb, local=2, vni=1001, remote="192.0.2.12", port=tunnel)
    return hb


def vxlan_input(hb: b.HostBuilder) -> checks.HostInput:
    return host_input(hb, network_type="vxlan", seg=1001, peers={"compute2": "192.0.2.12"},
                      peer_networks={"compute2": {"net-1"}})


def test_vxlan_clean_then_tunnel_missing_then_flow_missing():
    assert classes(vxlan_input(vxlan_host())) == []
    found = checks.audit_host(vxlan_input(vxlan_host(tunnel=False)))
    assert [(f.cls, f.seen) for f in found] == [("tunnel-missing", "no tunnel to 192.0.2.12")]
    assert classes(vxlan_input(vxlan_host(flows=False))) == ["translation-flow-missing",
                                                             "tunnel-missing"]


def test_no_tunnel_needed_to_a_host_without_shared_networks():
    hi = vxlan_input(vxlan_host(tunnel=False))
    hi.peer_networks = {"compute2": {"net-other"}}
    assert classes(hi) == []


def test_bridge_mapping_missing():
    hi = host_input(wired_vlan())
    hi.agent = dataclasses.replace(hi.agent, bridge_mappings={})
    assert [f.seen for f in checks.audit_host(hi)] == ["no bridge_mappings entry for physnet1"]


def test_bridge_without_nic():
    hb = wired_vlan()
    hb.ovs.bridges["br-ex"].ports.remove("eth1")
    found = checks.audit_host(host_input(hb))
    assert [(f.cls, f.seen) for f in found] == [
        ("bridge-without-nic", "br-ex: no physical interface")]


def test_mtu_drift_and_hostname_mismatch_are_warnings():
    hb = wired_vlan()
    hb.link(f"tap{b.SID}", kind="tun", mtu=9000)
    hb.links = [x for x in hb.links if not (x.name == f"tap{b.SID}" and x.mtu == 1500)]
    hi = host_input(hb)
    hi.facts.hostname = "node-17.example.org"
    found = checks.audit_host(hi)
    assert [(f.cls, f.severity) for f in found] == [("mtu-drift", "warning"),
                                                   ("hostname-mismatch", "warning")]
    assert checks.exit_status(found, strict=False) == 0
    assert checks.exit_status(found, strict=True) == 1


def test_recorded_probe_output_of_a_real_host_audits_clean_of_missing():
    """probe-compute1.txt was recorded from a lab host: every iface-id it has is a known port,
    so nothing is missing, orphaned or errored; the flows it read are honoured."""
    out = (Path(__file__).parents[1] / "fixtures/probe/probe-compute1.txt").read_text()
    from osc_netpath.host import probe

    facts = probe.parse_output("compute1", out)
    ids = checks.iface_ids(facts)
    assert ids, "the recorded host has Neutron-plugged interfaces"
    ports = [PortFacts(id=pid, network_id="n", mac_address="", status="ACTIVE",
                       binding_host_id="compute1", binding_vif_type="ovs") for pid in ids]
    agent = AgentFacts(id="a", host="compute1", agent_type="Open vSwitch agent")
    hi = checks.HostInput(host="compute1", ports=ports, networks={}, agent=agent,
                          known_ports={p.id: "compute1" for p in ports})
    found, summary = run.audit_one(hi, out, None)
    assert [f.cls for f in found if f.cls in ("interface-missing", "orphan-port",
                                              "interface-error")] == []
    assert (summary.expected, summary.found, summary.probed) == (len(ids), len(ids), True)
    assert set(run.flow_tables(out)) >= {("br-int", 0)}


def test_underlay_mtu_too_small_for_the_overlay():
    """The 1500 VXLAN network needs 1550 of the device holding the agent's tunneling_ip."""
    assert classes(vxlan_input(vxlan_host(underlay_mtu=1550))) == []
    (found,) = checks.audit_host(vxlan_input(vxlan_host(underlay_mtu=1500)))
    assert (found.cls, found.severity, found.network) == ("mtu-drift", "warning", "net-1")
    assert found.seen == "underlay eth0 (192.0.2.11) MTU 1500"
    assert found.expected == "≥ 1550: network MTU 1500 + 50 of vxlan"


def test_router_and_dhcp_namespaces_missing_and_left_over():
    """A DHCP port and a router gateway bound here want qdhcp-/qrouter- (or snat-); a qdhcp-
    of a network and a qrouter- of a router Neutron no longer has are leftovers. Unknown
    router list: no qrouter- is called a leftover; unreadable namespaces: nothing at all."""
    from osc_netpath.cloud.facts import PortFacts

    gone_net, gone_router, router = "0" * 8 + "-0000-4000-8000-" + "0" * 12, \
        "1" * 8 + "-1111-4111-8111-" + "1" * 12, "2" * 8 + "-2222-4222-8222-" + "2" * 12
    hb = wired_vlan()
    hi = host_input(hb)
    dhcp = PortFacts(id="dhcp-1", network_id="net-1", mac_address="fa:16:3e:00:00:02",
                     status="ACTIVE", device_owner="network:dhcp", device_id="dhcp",
                     binding_host_id="compute1", binding_vif_type="ovs")
    gw = PortFacts(id="gw-1", network_id="net-1", mac_address="fa:16:3e:00:00:03",
                   status="ACTIVE", device_owner="network:router_gateway", device_id=router,
                   binding_host_id="compute1", binding_vif_type="ovs")
    hi.ports += [dhcp, gw]
    hi.known_ports.update({"dhcp-1": "compute1", "gw-1": "compute1"})
    hi.routers = {router}
    assert hi.facts is not None
    hi.facts.namespaces = [f"snat-{router}", f"qdhcp-{gone_net}", f"qrouter-{gone_router}"]
    found = {(f.cls, f.seen, f.port) for f in checks.audit_host(hi)
             if f.cls.startswith("namespace-")}  # (no OVS interface here either: not this test's)
    assert found == {
        ("namespace-missing", "no namespace qdhcp-net-1", "dhcp-1"),  # the gateway: in snat-
        ("namespace-leftover", f"namespace qdhcp-{gone_net}", ""),
        ("namespace-leftover", f"namespace qrouter-{gone_router}", "")}
    hi.routers = None
    assert {f.seen for f in checks.audit_host(hi) if f.cls == "namespace-leftover"} == {
        f"namespace qdhcp-{gone_net}"}
    hi.facts.unknown["namespaces"] = "ip netns list: permission denied"
    assert not [f for f in checks.audit_host(hi) if f.cls.startswith("namespace-")]


def uid(c: str) -> str:
    return c * 8 + f"-{c * 4}-4{c * 3}-8{c * 3}-" + c * 12


def agent_port(pid: str, owner: str, device: str, host: str, net: str) -> PortFacts:
    return PortFacts(id=pid, network_id=net, mac_address="fa:16:3e:00:00:09", status="ACTIVE",
                     device_owner=owner, device_id=device, binding_host_id=host,
                     binding_vif_type="ovs" if host else "unbound")


def test_the_namespaces_each_hosts_ports_account_for():
    """Neutron's placement of agent namespaces: a legacy router where its ports are bound,
    an HA router on every host with its HA port, a DVR router on each host with a
    DVR-serviced port (VM, DHCP) on its networks and on the SNAT node (gateway: qrouter- and
    snat-), fip- where its gateway port is; a reserved DHCP port (released by its agent)
    accounts for nothing; ovnmeta- of every network with a port bound to the host."""
    dvr, legacy, ha, ext, ha_net = uid("1"), uid("2"), uid("3"), uid("4"), uid("5")
    ports = [
        agent_port("vm", "compute:nova", "server-1", "compute1", "net-1"),
        agent_port("dvr-if", "network:router_interface_distributed", dvr, "", "net-1"),
        agent_port("dvr-gw", "network:router_gateway", dvr, "network1", ext),
        agent_port("dvr-sg", "network:router_centralized_snat", dvr, "network1", "net-1"),
        agent_port("fg", "network:floatingip_agent_gateway", "agent-c1", "compute1", ext),
        agent_port("leg-if", "network:router_interface", legacy, "network1", "net-2"),
        agent_port("vm2", "compute:nova", "server-2", "compute2", "net-2"),
        agent_port("ha-a", "network:router_ha_interface", ha, "network1", ha_net),
        agent_port("ha-b", "network:router_ha_interface", ha, "network2", ha_net),
        agent_port("ha-if", "network:ha_router_replicated_interface", ha, "network1", "net-3"),
        agent_port("dhcp", "network:dhcp", "dhcp-a", "network2", "net-1"),
        agent_port("dhcp-old", "network:dhcp", checks.RESERVED_DHCP, "compute2", "net-3"),
    ]

    def meta(*nets: str) -> set[str]:
        return {f"ovnmeta-{n}" for n in nets}

    assert checks.hosted_namespaces(ports) == {
        "compute1": {f"qrouter-{dvr}", f"fip-{ext}"} | meta("net-1", ext),
        "compute2": meta("net-2", "net-3"),  # legacy router: no qrouter- beside its VM
        "network1": {f"qrouter-{dvr}", f"snat-{dvr}", f"qrouter-{legacy}", f"qrouter-{ha}",
                     f"snat-{ha}"}  # (an HA router under DVR keeps keepalived in snat-)
        | meta(ext, "net-1", "net-2", ha_net, "net-3"),
        "network2": {f"qrouter-{ha}", f"snat-{ha}", "qdhcp-net-1", f"qrouter-{dvr}"}
        | meta(ha_net, "net-1")}
    assert checks.routers_with_ports(ports) == {dvr, legacy, ha}


def test_what_else_neutron_places_namespaces_for():
    """A trunk subport is DVR-serviced; a distributed router comes along with one it shares
    a network with (and so on down the chain); a dvr_snat host may hold any distributed
    router (one without a gateway is scheduled there too); an OVN gateway chassis claims the
    external (SR-IOV, baremetal) ports, so their network's ovnmeta- is due there; a port in
    live migration accounts on its destination too."""
    r1, r2, r3, lone = uid("a"), uid("b"), uid("c"), uid("d")
    sub = agent_port("sub", "trunk:subport", "trunk-1", "compute1", "net-1")
    sriov = dataclasses.replace(agent_port("vf", "compute:nova", "server-3", "compute2",
                                           "net-4"), binding_vnic_type="direct")
    moving = dataclasses.replace(agent_port("mv", "compute:nova", "server-4", "compute2",
                                            "net-5"), binding_profile={"migrating_to": "compute3"})
    ports = [sub, sriov, moving,
             agent_port("i1", checks.DVR_INTERFACE, r1, "", "net-1"),
             agent_port("i2a", checks.DVR_INTERFACE, r2, "", "net-2"),
             agent_port("i2b", checks.DVR_INTERFACE, r2, "", "net-1"),  # r2 shares net-1
             agent_port("i3", checks.DVR_INTERFACE, r3, "", "net-2"),  # r3 shares r2's net-2
             agent_port("i4", checks.DVR_INTERFACE, lone, "", "net-5")]
    chain = {f"qrouter-{r}" for r in (r1, r2, r3)}
    got = checks.hosted_namespaces(ports, snat_hosts={"network1"}, gateway_hosts={"gw1"})
    assert got["compute1"] == chain | {"ovnmeta-net-1"}
    assert got["network1"] == chain | {f"qrouter-{lone}"}  # no port there: dvr_snat
    assert got["gw1"] == {"ovnmeta-net-4"}
    assert got["compute3"] == got["compute2"] - {"ovnmeta-net-4"} == {
        f"qrouter-{lone}", "ovnmeta-net-5"}
    assert checks.hosted_namespaces([dataclasses.replace(sub, device_owner="compute:nova",
                                                         binding_host_id="")] + ports[3:]) == {}


def test_a_namespace_neutron_still_has_but_hosts_elsewhere_is_left_over():
    """A qdhcp- whose DHCP port went to another agent, a qrouter- of a router rescheduled:
    leftovers, said from the fleet's whole port list only. A router with no port at all may
    be scheduled here or not: its namespace proves nothing. A --host/--network/--project
    list lacks the ports bound nowhere: no such finding then."""
    moved_net, here_net, moved, bare = uid("6"), uid("7"), uid("8"), uid("9")
    cloud = b.cloud()
    for net in (moved_net, here_net):
        cloud.networks[net] = dataclasses.replace(cloud.networks["net-1"], id=net)
    cloud.ports += [
        agent_port("dhcp-a", "network:dhcp", "dhcp-a", "network2", moved_net),
        agent_port("dhcp-b", "network:dhcp", "dhcp-b", "compute1", here_net),
        agent_port("ri", "network:router_interface", moved, "network2", here_net),
        # released by its agent, still bound here: accounts for no qdhcp-, wants none
        agent_port("dhcp-r", "network:dhcp", checks.RESERVED_DHCP, "compute1", moved_net)]
    cloud.routers = [moved, bare]
    cloud.hosts = ["compute1", "network2"]
    cloud.ports_unfiltered = True
    namespaces = [f"qdhcp-{moved_net}", f"qdhcp-{here_net}", f"qrouter-{moved}",
                  f"qrouter-{bare}"]

    def leftovers(cloud) -> list[tuple[str, str]]:
        hi = run.host_inputs(cloud, complete=True)["compute1"]
        hi.facts = wired_vlan().facts()
        hi.facts.namespaces = list(namespaces)
        assert checks.namespace_missing(hi) == []
        return [(f.seen, f.expected) for f in checks.namespace_leftover(hi)]

    assert leftovers(cloud) == [
        (f"namespace qdhcp-{moved_net}",
         f"none: no port of network {moved_net} bound to compute1 puts it here"),
        (f"namespace qrouter-{moved}",
         f"none: no port of router {moved} bound to compute1 puts it here")]
    assert leftovers(dataclasses.replace(cloud, ports_unfiltered=False)) == []


def test_a_dvr_agent_rewrites_provider_vlans_in_table_2():
    """Under DVR the physical bridge rewrites the local VLAN in table 2 (0 → 1 → 2): found
    there, it is no finding; with table 2 not read, nothing is called missing; a rewrite in
    neither read table is one."""
    hb = b.base_host()
    b.plug_hybrid(hb, tag=3)
    hb.flow("br-ex", 2, {"in_port": '"phy-br-ex"', "dl_vlan": "3"}, ["mod_vlan_vid:101", "NORMAL"])
    hi = host_input(hb)
    hi.flows_read.add(("br-ex", 2))
    assert hi.agent is not None
    assert classes(hi) == ["translation-flow-missing"]  # a non-DVR agent: table 0 only
    hi.agent = dataclasses.replace(hi.agent, configurations={"enable_distributed_routing": True})
    assert checks.provider_tables(hi.agent) == [0, 2]
    assert classes(hi) == []  # table 2 read (FLOWS_ALL + 2 below) and the rewrite is there
    hi.flows_read.discard(("br-ex", 2))
    assert classes(hi) == []  # table 2 never read: unknown, not missing
    hi.flows_read.add(("br-ex", 2))
    assert hi.facts is not None
    hi.facts.flows = [f for f in hi.facts.flows if not (f.bridge == "br-ex" and f.table == 2)]
    assert classes(hi) == ["translation-flow-missing"]


# --- OVN chassis: ovn-controller's layout (builders.ovn_host), the API's OVN agents ---

def ovn_input(hb: b.HostBuilder, network_type: str = "geneve", seg: int | None = 7,
              **kw) -> checks.HostInput:
    cloud = b.ovn_cloud(network_type, seg)
    cloud.ports[0].device_owner = "compute:nova"
    agent = next(a for a in cloud.agents if a.host == "compute1")
    hi = checks.HostInput(
        host="compute1", ports=cloud.ports, networks=cloud.networks, agent=agent,
        facts=hb.facts(), known_ports={p.id: p.binding_host_id for p in cloud.ports},
        peer_chassis={"compute2": b.CHASSIS["compute2"]},
        peer_networks={"compute2": {"net-1"}}, **kw)
    assert hi.facts is not None
    hi.facts.ovn_controller = "connected"
    return hi


def chassis(tunnel: bool = True, installed: bool = True) -> b.HostBuilder:
    hb = b.ovn_host()
    b.plug_ovn(hb, installed=installed)
    next(x for x in hb.links if x.name == f"tap{b.SID}").mtu = 1442  # os-vif: the net's MTU
    if tunnel:
        b.ovn_tunnel(hb, "compute2", "192.0.2.12")
    return hb


def test_ovn_chassis_clean_then_its_tunnel_to_a_peer_chassis_missing():
    assert classes(ovn_input(chassis())) == []
    (found,) = checks.audit_host(ovn_input(chassis(tunnel=False)))
    assert (found.cls, found.network) == ("tunnel-missing", "net-1")
    assert found.seen == f"no tunnel to chassis {b.CHASSIS['compute2']}"
    hi = ovn_input(chassis(tunnel=False))
    hi.peer_networks["compute2"] = {"net-other"}  # no network shared: no tunnel due
    assert classes(hi) == []


def test_ovn_tunnel_due_to_the_gateway_chassis_of_a_router():
    """A router's interface on the Geneve network is bound nowhere; its gateway port is
    bound to compute2: a chassis with a VM on that network needs a tunnel to compute2."""
    cloud = b.ovn_cloud()
    cloud.ports[0].device_owner = "compute:nova"
    router = "2" * 8 + "-2222-4222-8222-" + "2" * 12
    cloud.networks["ext"] = dataclasses.replace(cloud.networks["net-1"], id="ext",
                                                segments=[b.Segment("flat", "physnet1", None)])
    cloud.ports += [
        PortFacts(id="ri-1", network_id="net-1", mac_address="fa:16:3e:00:00:05",
                  status="ACTIVE", device_owner="network:router_interface", device_id=router),
        PortFacts(id="gw-1", network_id="ext", mac_address="fa:16:3e:00:00:06",
                  status="ACTIVE", device_owner="network:router_gateway", device_id=router,
                  binding_host_id="compute2", binding_vif_type="ovs")]
    cloud.hosts = ["compute1", "compute2"]
    inputs = run.host_inputs(cloud, complete=True)
    assert run.routed_networks(cloud) == {"compute2": {"net-1"}}
    hi = inputs["compute1"]
    hi.facts = chassis(tunnel=False).facts()
    assert [f.seen for f in checks.audit_host(hi) if f.cls == "tunnel-missing"] == [
        f"no tunnel to chassis {b.CHASSIS['compute2']}"]
    gateway = inputs["compute2"]  # no VM on net-1 there, but it routes it: the same rule
    gateway.facts = b.ovn_host("compute2", "192.0.2.12").facts()
    assert [(f.cls, f.seen) for f in checks.audit_host(gateway)] == [
        ("tunnel-missing", f"no tunnel to chassis {b.CHASSIS['compute1']}")]  # no interface
    # is due for the gateway port: it lives in the logical router


def test_ovn_interface_not_installed_and_router_ports_want_no_interface():
    (found,) = checks.audit_host(ovn_input(chassis(installed=False)))
    assert (found.cls, found.severity, found.port) == ("interface-not-installed", "error",
                                                       b.PORT_ID)
    hi = ovn_input(chassis())
    hi.ports.append(PortFacts(id="gw-1", network_id="net-1", mac_address="fa:16:3e:00:00:03",
                              status="ACTIVE", device_owner="network:router_gateway",
                              binding_host_id="compute1", binding_vif_type="ovs"))
    assert classes(hi) == []
    hi.ports[0].device_owner = "network:dhcp"  # a DHCP agent's tap is plugged even on OVN
    hi.ports[0].id = "dhcp-1"
    assert "interface-missing" in classes(hi)


def test_ovn_controller_not_connected_is_agent_down_unknown_is_not():
    hi = ovn_input(chassis())
    hi.facts.ovn_controller = "not connected"
    assert [(f.cls, f.seen) for f in checks.audit_host(hi)] == [
        ("agent-down", "ovn-controller not connected to the Southbound DB")]
    hi.facts.ovn_controller = None
    hi.facts.unknown["ovn-controller"] = "ovn-appctl: cannot connect to ovn-controller"
    assert classes(hi) == []


def test_tunnel_endpoint_carried_by_no_device():
    """OVN: the chassis' ovn-encap-ip on no interface (or not set); OVS agent: its local_ip."""
    hb = chassis()
    hb.links = [x for x in hb.links if x.name != "eth0"]
    (found,) = checks.audit_host(ovn_input(hb))
    assert (found.cls, found.seen) == ("tunnel-endpoint-missing", "no device carries 192.0.2.11")
    assert found.expected == "192.0.2.11 on an interface (ovn-encap-ip)"
    hb = chassis()
    del hb.ovs.external_ids["ovn-encap-ip"]
    assert [f.seen for f in checks.audit_host(ovn_input(hb))] == ["ovn-encap-ip not set"]
    hb = vxlan_host()
    hb.links = [x for x in hb.links if "192.0.2.11/24" not in x.addresses]
    assert [(f.cls, f.expected) for f in checks.audit_host(vxlan_input(hb))] == [
        ("tunnel-endpoint-missing", "192.0.2.11 on an interface (the tunnels' local_ip)")]
    hb = vxlan_host(tunnel=False)  # no tunnel port to ask: the agent's reported local_ip
    hb.links = [x for x in hb.links if "192.0.2.11/24" not in x.addresses]
    assert {(f.cls, f.expected) for f in checks.audit_host(vxlan_input(hb))} >= {
        ("tunnel-endpoint-missing", "192.0.2.11 on an interface (the agent's local_ip)")}
    hi = ovn_input(chassis())
    hi.facts.unknown["links"] = "ip -j link: not found"  # unknown is not absent
    hi.facts.links = []
    assert classes(hi) == []


def test_ovn_underlay_mtu_against_geneve():
    """A 1442 Geneve network needs 1500 of the device with ovn-encap-ip."""
    hb = chassis()
    next(x for x in hb.links if x.name == "eth0").mtu = 1500
    assert classes(ovn_input(hb)) == []
    next(x for x in hb.links if x.name == "eth0").mtu = 1450
    (found,) = checks.audit_host(ovn_input(hb))
    assert (found.cls, found.expected) == ("mtu-drift", "≥ 1500: network MTU 1442 + 58 of geneve")


def test_ovn_metadata_namespace_where_the_metadata_agent_serves_a_vm():
    hi = ovn_input(chassis(), metadata_networks={"net-1"}, metadata_agent=True)
    (found,) = checks.audit_host(hi)
    assert (found.cls, found.seen, found.port) == ("namespace-missing",
                                                   "no namespace ovnmeta-net-1", b.PORT_ID)
    hi.facts.namespaces = ["ovnmeta-net-1"]
    assert classes(hi) == []
    hi = ovn_input(chassis(), metadata_networks={"net-1"}, metadata_agent=False)
    assert classes(hi) == []  # no metadata agent here: nobody makes it


def test_ovn_bridge_mappings_are_the_chassis_own():
    """The API echoes the chassis' mappings; the chassis' ovn-bridge-mappings are the truth."""
    hb = b.ovn_host()
    b.plug_ovn(hb)
    hi = ovn_input(hb, network_type="vlan", seg=101)  # (tap MTU 1500 = the network's)
    assert classes(hi) == []
    hb.ovs.external_ids["ovn-bridge-mappings"] = "physnet2:br-ex"
    assert [f.seen for f in checks.audit_host(ovn_input(hb, "vlan", 101))] == [
        "no bridge_mappings entry for physnet1"]


def test_a_scoped_run_audits_its_ports_and_only_knows_their_neighbours():
    """--network/--project: the host's other ports, looked up by the iface-ids it has, are
    known (no orphan) but not audited, nor counted as expected; the scope's ports are."""
    cloud = b.cloud()
    cloud.hosts = ["compute1"]
    other = PortFacts(id="other-1", network_id="net-1", mac_address="fa:16:3e:00:00:09",
                      status="ACTIVE", binding_host_id="compute1", binding_vif_type="ovs")
    cloud.ports.append(other)

    def audited(known_only: list[str]) -> tuple[list[str], list[str]]:
        cloud.known_only = known_only
        hi = run.host_inputs(cloud, complete=False)["compute1"]
        assert set(hi.known_ports) == {b.PORT_ID, "other-1"}
        hi.facts = wired_vlan().facts()
        hi.flows_read = set(FLOWS_ALL)
        return [p.id for p in hi.ports], [f"{f.cls} {f.port}" for f in checks.audit_host(hi)]

    assert audited([]) == ([b.PORT_ID, "other-1"], ["interface-missing other-1"])
    assert audited(["other-1"]) == ([b.PORT_ID], [])
