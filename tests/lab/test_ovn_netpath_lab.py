"""`netpath show` on real OVN chassis (tests/lab/ovn.py), over real SSH. (Named to run after
test_ovn_lab.py: the faults made here are undone, but the lab's ping tests go first.)

The API side is what Neutron's OVN driver would answer for the OVN lab's topology (ports bound
to the chassis' hosts, the segments, the OVN Controller and Metadata agents with their
chassis_name, the hosts of the Geneve network's VM ports); everything below it is real:
ovn-controller claimed the taps, made the localnet patch and the Geneve tunnels and programmed
br-int. Every hop is compared with ground truth read independently from the chassis (ovsdb,
ip) and from the Southbound DB (datapath tunnel keys); then real faults are made and found.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from osc_netpath import config, trace
from osc_netpath.path import model as m
from tests.lab.ovn import cloud_facts


def _run(lab: Any, server: str) -> trace.Outcome:
    return trace.probe_and_resolve(cloud_facts(lab.ovn, server),
                                   config.load(lab.netpath_settings()))


def _port_row(host: Any, table: str, name: str) -> dict[str, Any]:
    return next(r for r in host.ovs_table(table) if r["name"] == name)


def _expected(lab: Any, port: Any) -> list[tuple[str, str, str | None, str | None]]:
    """(device, kind, bridge, vlan) per hop, from the chassis and the Southbound DB only."""
    topo = lab.ovn
    host = lab.chassis(topo.host_of(port))
    net = topo.network(port.network_id)
    server = topo.server(port.server_id)
    iface = host.vsctl("--bare", "--columns=name", "find", "Interface",
                       f"external_ids:iface-id={port.id}").strip()
    bridge = host.vsctl("port-to-br", iface).strip()
    hops: list[tuple[str, str, str | None, str | None]] = [
        (server.instance_name, m.GUEST, None, None), (iface, m.TAP, bridge, None),
        (bridge, m.OVS_BRIDGE, None, None)]
    system = host.ovs_table("Open_vSwitch")[0]["external_ids"]
    if net.physical_network:
        mappings = dict(p.split(":", 1) for p in system["ovn-bridge-mappings"].split(","))
        phys = mappings[net.physical_network]
        near = next(r["name"] for r in host.ovs_table("Port")
                    if r["external_ids"].get("ovn-localnet-port") == net.localnet
                    and host.vsctl("port-to-br", r["name"]).strip() == bridge)
        far = host.vsctl("get", "Interface", near, "options:peer").strip().strip('"')
        hops += [(near, m.PATCH, bridge, None), (far, m.PATCH, phys, None),
                 (phys, m.OVS_BRIDGE, None, f"VLAN {net.segmentation_id}")]
        for nic in host.vsctl("list-ifaces", phys).split():
            if host.vsctl("get", "Interface", nic, "type").strip() in ('""', ""):
                hops.append((nic, m.NIC, phys, None))
        return hops
    key = next(r["tunnel_key"] for r in lab.sb_table("Datapath_Binding")
               if r["external_ids"].get("name") == net.switch)
    others = {topo.host_of(p) for p in topo.vm_ports() if p.network_id == net.id} - {host.name}
    for other in sorted(others):
        tunnel = next(r["name"] for r in host.ovs_table("Port")
                      if str(r["external_ids"].get("ovn-chassis-id", "")).startswith(f"{other}@"))
        hops.append((tunnel, m.TUNNEL, bridge, f"VNI {key}"))
    encap = system["ovn-encap-ip"]
    dev = next(a["ifname"] for a in json.loads(host.run("ip", "-j", "addr"))
               if any(i.get("local") == encap for i in a.get("addr_info", [])))
    is_bridge = dev in host.vsctl("list-br").split()  # the bridge's own internal port
    dev_bridge = dev if is_bridge else host.vsctl("port-to-br", dev).strip()
    hops.append((dev, m.OVS_PORT, dev_bridge, None))  # the encap IP on br-phy's internal port
    for nic in host.vsctl("list-ifaces", dev_bridge).split():
        if host.vsctl("get", "Interface", nic, "type").strip() in ('""', ""):
            hops.append((nic, m.NIC, dev_bridge, None))
    return hops


@pytest.mark.parametrize("server", ["ovn-vm-a", "ovn-vm-b"])
def test_every_hop_matches_the_chassis(ovn_lab, server):
    outcome = _run(ovn_lab, server)
    path = outcome.path
    assert path.errors == [], path.errors
    # the lab runs no libvirt: said as unreadable, never as "domain not found"
    assert all(n.startswith(f"{path.host}: libvirt") and "not found" not in n
               for n in path.notes), path.notes
    for port_path in path.ports:
        port = next(p for p in ovn_lab.ovn.vm_ports() if p.id == port_path.port_id)
        assert port_path.backend == "ovn"
        got = [(h.device, h.kind, h.bridge, h.vlan) for h in port_path.hops]
        assert got == _expected(ovn_lab, port)
        assert port_path.problems == []
        tap = port_path.hops[1]
        assert "ovn-installed true" in (tap.detail or "")
        link = next(x for x in json.loads(ovn_lab.chassis(port_path.host).run(
            "ip", "-j", "link")) if x["ifname"] == tap.device)
        assert (tap.mac, tap.mtu) == (link["address"], link["mtu"])
    assert outcome.stats == {"ssh_connections": 1, "ssh_execs": 1}


def test_geneve_tunnel_names_the_remote_chassis_and_ip(ovn_lab):
    path = _run(ovn_lab, "ovn-vm-a").path
    geneve = next(p for p in path.ports if "geneve" in p.segment)
    (tunnel,) = [h for h in geneve.hops if h.kind == m.TUNNEL]
    assert tunnel.peer == ovn_lab.ovn.host("ovn2").encap_ip
    assert "to ovn2 (chassis ovn2)" in (tunnel.detail or "")


def _wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the chassis did not settle")
        time.sleep(0.3)


def test_physnet_dropped_from_ovn_bridge_mappings_is_found(ovn_lab):
    # ovn-controller 23.03 leaves the old localnet patch port in place: the mapping is what
    # decides, and the finding must not rest on the patch
    host = ovn_lab.chassis("ovn1")
    key = "external_ids:ovn-bridge-mappings"
    before = host.vsctl("get", "Open_vSwitch", ".", key).strip().strip('"')
    try:
        host.vsctl("set", "Open_vSwitch", ".", f'{key}="physnet9:br-ex"')
        path = _run(ovn_lab, "ovn-vm-a").path
        vlan = next(p for p in path.ports if "vlan" in p.segment)
        assert vlan.problems == [
            ("physical network 'physnet1' is not in the ovn-bridge-mappings of ovn1 "
            "(physnet9:br-ex): ovn-controller connects it to no bridge, traffic cannot leave")]
        assert [h.kind for h in vlan.hops] == [m.GUEST, m.TAP, m.OVS_BRIDGE]
    finally:
        host.vsctl("set", "Open_vSwitch", ".", f'{key}="{before}"')
        ovn_lab.nbctl("--wait=hv", "sync")  # every chassis caught up again: the lab is shared


def test_ovn_controller_cut_from_the_southbound_is_said(ovn_lab):
    host = ovn_lab.chassis("ovn1")
    key = "external_ids:ovn-remote"
    before = host.vsctl("get", "Open_vSwitch", ".", key).strip().strip('"')
    try:
        host.vsctl("set", "Open_vSwitch", ".", f'{key}="unix:/nonexistent/sb.sock"')
        _wait_for(lambda: host.appctl("connection-status").strip() != "connected")
        path = _run(ovn_lab, "ovn-vm-a").path
        assert any(n.startswith("ovn1: ovn-controller is 'not connected' to the Southbound DB")
                   for n in path.notes), path.notes
    finally:
        host.vsctl("set", "Open_vSwitch", ".", f'{key}="{before}"')
        _wait_for(lambda: host.appctl("connection-status").strip() == "connected")
        ovn_lab.nbctl("--wait=hv", "sync")  # every chassis caught up again: the lab is shared


def test_metadata_namespace_and_its_veth_are_shown(ovn_lab):
    path = _run(ovn_lab, "ovn-vm-a").path
    geneve = next(p for p in path.ports if "geneve" in p.segment)
    net = ovn_lab.ovn.network(next(
        p.network_id for p in ovn_lab.ovn.vm_ports() if p.id == geneve.port_id))
    outside, inside = net.metadata_veths
    br_int = next(h for h in geneve.hops if h.kind == m.OVS_BRIDGE)
    assert f"metadata {net.metadata_ns} ({outside} ⇄ {inside} 169.254.169.254)" in (
        br_int.detail or "")


def _network_trace(ovn_lab: Any, network_id: str) -> Any:
    """What cloud/network.py gathers for a network of the OVN lab: its bound VM ports, the
    chassis' agents, metadata served (the lab's metadata port), no DHCP/L3 agents (ML2/OVN)."""
    from osc_netpath.cloud.facts import CloudFacts, ServerFacts
    from osc_netpath.cloud.network import NetworkTrace

    topo = ovn_lab.ovn
    vm = next(s for s in topo.servers if any(p.server_id == s.id and p.network_id == network_id
                                             for p in topo.vm_ports()))
    base = cloud_facts(topo, vm.id)  # the agents, host_ips and the network as the API has them
    every = [cloud_facts(topo, s.id) for s in topo.servers]
    ports = [p for c in every for p in c.ports if p.network_id == network_id]
    net = base.networks[network_id]
    cloud = CloudFacts(server=ServerFacts(id=net.id, name=net.name, status="ACTIVE"),
                       ports=ports, networks={net.id: net}, agents=base.agents,
                       host_ips=base.host_ips, subject="network",
                       hosts=sorted({p.binding_host_id for p in ports if p.binding_host_id}),
                       metadata_networks=[network_id] if topo.metadata_port(network_id) else [])
    return NetworkTrace(network=net, cloud=cloud)


def test_network_show_on_ovn_chassis(ovn_lab):
    topo = ovn_lab.ovn
    net = next(n for n in topo.networks if n.network_type == "geneve")
    view, stats, _ = trace.probe_network(_network_trace(ovn_lab, net.id),
                                         config.load(ovn_lab.netpath_settings()))
    assert (view.errors, view.findings) == ([], [])
    assert stats["ssh_connections"] == len({topo.host_of(p) for p in topo.vm_ports()
                                            if p.network_id == net.id})
    rows = {(r.host, r.kind, r.name): r for r in view.rows}
    outside, inside = net.metadata_veths
    for port in (p for p in topo.vm_ports() if p.network_id == net.id):
        host = topo.host_of(port)
        chassis = ovn_lab.chassis(host)
        system = chassis.ovs_table("Open_vSwitch")[0]["external_ids"]
        head = rows[(host, "host", host)]
        assert f"chassis {system['system-id']} (geneve {system['ovn-encap-ip']}" in head.detail
        assert head.detail.endswith("ovn-controller connected") and head.vlan is None
        vm = rows[(host, "vm-port", port.id)]
        iface = chassis.vsctl("--bare", "--columns=name", "find", "Interface",
                              f"external_ids:iface-id={port.id}").strip()
        assert (vm.device, vm.vlan, vm.namespace) == (iface, None, None)
        meta = rows[(host, "metadata", net.metadata_ns)]
        assert (meta.state, meta.device, meta.detail) == (
            "present", inside, f"{outside} ⇄ {inside} 169.254.169.254")


def test_network_show_on_ovn_finds_a_missing_metadata_namespace(ovn_lab):
    """Neutron gives the VLAN network a metadata port too (as it does every network with a
    DHCP-enabled subnet), but no metadata agent made its ovnmeta- on ovn1: found there."""
    topo = ovn_lab.ovn
    net = next(n for n in topo.networks if n.network_type == "vlan")
    served = _network_trace(ovn_lab, net.id)
    served.cloud.metadata_networks = [net.id]
    hosts = {topo.host_of(p) for p in topo.vm_ports() if p.network_id == net.id}
    assert all(served.cloud.has_agent(h, "OVN Metadata agent") for h in hosts)  # it runs there
    view, _, _ = trace.probe_network(served, config.load(ovn_lab.netpath_settings()))
    assert view.findings == [
        f"{h}: {net.metadata_ns} is missing although the OVN metadata agent runs here: the "
        "network's VMs on this host get no metadata" for h in sorted(hosts)]
    assert {(r.host, r.state) for r in view.rows if r.kind == "metadata"} == {
        (h, "absent") for h in hosts}


ROUTER = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b"
GATEWAY_PORT = "e59fa1a2-b3c4-4d5e-8f6a-7b8c9d0e1f2a"


@pytest.fixture
def ovn_router(ovn_lab) -> Any:
    """A logical router as Neutron's OVN driver makes it: its gateway port (lrp-<port>) on the
    VLAN network's switch, scheduled on ovn1 (the gateway chassis) — ovn-northd then binds
    its chassisredirect port cr-lrp-<port> there. Removed afterwards."""
    net = next(n for n in ovn_lab.ovn.networks if n.network_type == "vlan")
    lr, lrp = f"neutron-{ROUTER}", f"lrp-{GATEWAY_PORT}"
    try:
        ovn_lab.nbctl("lr-add", lr)
        ovn_lab.nbctl("lrp-add", lr, lrp, "fa:16:3e:5a:09:01", "192.0.2.90/26")
        ovn_lab.nbctl("lrp-set-gateway-chassis", lrp, "ovn1", "1")
        ovn_lab.nbctl("lsp-add", net.switch, GATEWAY_PORT, "--", "lsp-set-type", GATEWAY_PORT,
                      "router", "--", "lsp-set-addresses", GATEWAY_PORT, "router", "--",
                      "lsp-set-options", GATEWAY_PORT, f"router-port={lrp}")
        ovn_lab.nbctl("--wait=hv", "sync")
        yield net
    finally:
        ovn_lab.nbctl("--if-exists", "lsp-del", GATEWAY_PORT)
        ovn_lab.nbctl("--if-exists", "lr-del", lr)
        ovn_lab.nbctl("--wait=hv", "sync")


def _gateway_trace(ovn_lab: Any, net: Any, segment_id: str | None) -> Any:
    from osc_netpath.cloud.facts import FixedIP, PortFacts

    cloud = cloud_facts(ovn_lab.ovn, "ovn-vm-a")
    cloud.networks[net.id].segments[0].id = segment_id
    gw = PortFacts(id=GATEWAY_PORT, network_id=net.id, mac_address="fa:16:3e:5a:09:01",
                   status="ACTIVE", device_owner="network:router_gateway", device_id=ROUTER,
                   binding_host_id="ovn1", binding_vif_type="ovs",
                   fixed_ips=[FixedIP(net.subnet_id, "192.0.2.90")])
    cloud.ports, cloud.way_out = [gw], [gw.id]
    return trace.probe_and_resolve(cloud, config.load(ovn_lab.netpath_settings()))


@pytest.mark.parametrize("segment_id", [True, False], ids=["segment-id", "no-segment-id"])
def test_router_gateway_traced_on_its_gateway_chassis(ovn_lab, ovn_router, segment_id):
    net = ovn_router
    binding = json.loads(ovn_lab.sbctl("--format=json", "--columns=chassis", "find",
                                       "Port_Binding", f"logical_port=cr-lrp-{GATEWAY_PORT}"))
    chassis = json.loads(ovn_lab.sbctl("--format=json", "--columns=_uuid", "find", "Chassis",
                                       "name=ovn1"))
    assert binding["data"][0][0] == chassis["data"][0][0]  # ground truth: cr-lrp on ovn1
    outcome = _gateway_trace(ovn_lab, net, net.segment_id if segment_id else None)
    (port,) = outcome.path.ports
    assert outcome.path.errors == [] and port.problems == [], port.problems
    host = ovn_lab.chassis("ovn1")
    near = next(r["name"] for r in host.ovs_table("Port")
                if r["external_ids"].get("ovn-localnet-port") == net.localnet
                and host.vsctl("port-to-br", r["name"]).strip() == "br-int")
    far = host.vsctl("get", "Interface", near, "options:peer").strip().strip('"')
    assert [(h.device, h.kind, h.vlan) for h in port.hops] == [
        (f"cr-lrp-{GATEWAY_PORT}", m.LOGICAL, None), ("br-int", m.OVS_BRIDGE, None),
        (near, m.PATCH, None), (far, m.PATCH, None),
        ("br-ex", m.OVS_BRIDGE, f"VLAN {net.segmentation_id}"), ("eth1", m.NIC, None)]
