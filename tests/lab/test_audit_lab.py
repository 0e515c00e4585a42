"""`netpath audit` against the lab: real SSH into hv1/hv2 with real OVS. Each finding class is
made real on the hosts (or, where Neutron is the side that changed, in the API facts), the audit
finds it and nothing else, and the hosts are put back as they were.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager

from osc_netpath import capture, config, trace
from osc_netpath.audit import run
from osc_netpath.cloud.facts import PortFacts
from tests.lab.topology import LAB, NET_VLAN, PORT_DEAD, PORT_VLAN

GHOST = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"  # a port Neutron has never had
NEW = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"  # a port Neutron has, plugged to a missing device


def fleet() -> capture.Trace:
    bundle = capture.Bundle(traces=[capture.Trace(cloud=LAB.cloud_facts(s.name))
                                    for s in LAB.servers])
    merged = run.merged(bundle)
    merged.cloud.subject = run.SUBJECT  # the lab's port list is complete: orphans decidable
    merged.cloud.ports_unfiltered = True  # ...and unfiltered: stale namespaces decidable
    merged.cloud.hosts = [h.name for h in LAB.hosts]
    return merged


def audit(lab, cloud=None, **settings) -> set[tuple[str, str, str]]:
    fleet_trace = fleet()
    cloud = cloud or fleet_trace.cloud
    cfg = config.load(lab.netpath_settings(**settings))
    # the live path: each host audited as its output arrives over SSH, the output dropped
    report, kept, stats = run.probe_and_audit(None, cloud, run.Scope(), cfg)
    assert stats["ssh_execs"] == len([h for h in cloud.hosts if h in lab.hosts])
    assert kept.probes == {}
    assert [s.host for s in report.summaries] == sorted(cloud.hosts)
    assert all(s.seconds is not None for s in report.summaries if s.host in lab.hosts)
    # the same outputs kept and audited afterwards (a --record run) find the same
    probes, errors, _ = trace.probe_hosts(
        cloud.hosts, cloud.host_ips, lambda h, o: run.request_for(cloud, h, **o), cfg)
    after = [f for fs, _ in run.audit_trace(capture.Trace(cloud, probes, errors)) for f in fs]
    found = {(f.host, f.cls, f.port) for f in report.findings}
    assert found == {(f.host, f.cls, f.port) for f in after}
    return found


@contextmanager
def drift(host, do: list[str], undo: list[str]) -> Iterator[None]:
    host.vsctl(*do)
    try:
        yield
    finally:
        host.vsctl(*undo)


def test_clean_lab_has_no_findings(lab):
    assert audit(lab) == set()


def test_the_probe_reads_only_the_tables_the_checks_need(lab):
    """Real sh, real OVS: of the flows, hv1 dumps its provider bridge's table 0 and the VXLAN
    tun_id -> VLAN table (4) of the one bridge that can be its tunnel bridge; hv2 (no
    mappings) the latter only. Nothing of br-int, no GRE/Geneve tables."""
    cloud = fleet().cloud
    probes, errors, _ = trace.probe_hosts(
        cloud.hosts, cloud.host_ips, lambda h, o: run.request_for(cloud, h, **o),
        config.load(lab.netpath_settings()))
    assert errors == {}
    assert {h: set(run.flow_tables(out)) for h, out in probes.items()} == {
        "hv1": {("br-ex", 0), ("br-tun", 4)}, "hv2": {("br-tun", 4)}}


def test_orphan_and_error_interface(lab):
    hv1 = lab.hosts["hv1"]
    cloud = fleet().cloud
    new = dataclasses.replace(cloud.ports[0], id=NEW, binding_host_id="hv1")
    cloud.ports.append(new)
    with drift(hv1, ["add-port", "br-int", "orphan0", "--", "set", "Interface", "orphan0",
                     "type=internal", f"external_ids:iface-id={GHOST}", "--",
                     "add-port", "br-int", "tapnodev-00", "--", "set", "Interface",
                     "tapnodev-00", f"external_ids:iface-id={NEW}"],
               ["del-port", "br-int", "orphan0", "--", "del-port", "br-int", "tapnodev-00"]):
        assert audit(lab, cloud) == {("hv1", "orphan-port", GHOST),
                                     ("hv1", "interface-error", NEW)}


def test_missing_interface_and_dead_vlan(lab):
    """Neutron's side changed: a port bound to hv1 that hv1 never got, and the parked (4095)
    port now expected up."""
    cloud = fleet().cloud
    cloud.ports.append(PortFacts(id=GHOST, network_id=NET_VLAN.id, mac_address="fa:16:3e:0:0:9",
                                 status="ACTIVE", binding_host_id="hv1",
                                 binding_vif_type="ovs"))
    cloud.ports = [dataclasses.replace(p, admin_state_up=True, status="ACTIVE")
                   if p.id == PORT_DEAD.id else p for p in cloud.ports]
    assert audit(lab, cloud) == {("hv1", "interface-missing", GHOST),
                                 ("hv1", "dead-vlan", PORT_DEAD.id)}


def test_missing_translation_flow(lab):
    hv1 = lab.hosts["hv1"]
    flow = next(f for f in LAB.flows("hv1") if f.bridge == "br-ex"
                and f"dl_vlan={PORT_VLAN.local_vlan}" in f.match)
    hv1.ofctl("-O", "OpenFlow13", "del-flows", "br-ex", "--strict",
              f"table=0,priority={flow.priority},{flow.match}")
    try:
        assert audit(lab) == {("hv1", "translation-flow-missing", PORT_VLAN.id)}
    finally:
        hv1.ofctl("-O", "OpenFlow13", "add-flows", "br-ex", "-", input=flow.spec() + "\n")


def test_missing_tunnel(lab):
    hv2 = lab.hosts["hv2"]
    name, local_ip, remote_ip = LAB.tunnels("hv2")[0]
    ofport = hv2.vsctl("get", "Interface", name, "ofport").strip()  # the flows name it by number
    with drift(hv2, ["del-port", "br-tun", name],
               ["add-port", "br-tun", name, "--", "set", "Interface", name, "type=vxlan",
                f"ofport_request={ofport}",
                f"options:remote_ip={remote_ip}", f"options:local_ip={local_ip}",
                "options:key=flow", "options:in_key=flow", "options:out_key=flow",
                "options:df_default=true", "options:egress_pkt_mark=0"]):
        assert audit(lab) == {("hv2", "tunnel-missing", "")}


def test_nicless_provider_bridge(lab):
    hv1 = lab.hosts["hv1"]
    ofport = hv1.vsctl("get", "Interface", "eth1", "ofport").strip()
    with drift(hv1, ["del-port", "br-ex", "eth1"],
               ["add-port", "br-ex", "eth1", "--", "set", "Interface", "eth1",
                f"ofport_request={ofport}"]):
        assert audit(lab) == {("hv1", "bridge-without-nic", "")}


def test_unreachable_host_hides_nothing(lab):
    cloud = fleet().cloud
    cloud.hosts.append("hv9")
    cloud.host_ips["hv9"] = "198.19.201.99"  # nothing listens there
    hosts = {h.name: h.address for h in lab.hosts.values()} | {"hv9": "198.19.201.99"}
    assert audit(lab, cloud, hosts=hosts, connect_timeout=2) == {("hv9", "host-unprobed", "")}


def test_leftover_and_missing_namespaces_and_a_too_small_underlay(lab):
    """On hv1, for real: a qdhcp- of a network Neutron does not have (a leftover: an agent
    that died before cleaning up), a DHCP port Neutron binds to hv1 whose qdhcp- is not there,
    and the tunnel endpoint's device shrunk below the VXLAN network's MTU + 50. Each is found
    and nothing else; all undone."""
    hv1 = lab.hosts["hv1"]
    cloud = fleet().cloud
    gone = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a98"  # no such network
    vx = next(n for n in cloud.networks.values() if n.segments
              and n.segments[0].network_type == "vxlan")
    dhcp = PortFacts(id=NEW, network_id=vx.id, mac_address="fa:16:3e:0:0:8", status="ACTIVE",
                     device_owner="network:dhcp", device_id=f"dhcp-{vx.id}",
                     binding_host_id="hv1", binding_vif_type="ovs")
    endpoint, _, _ = LAB.tunnels("hv1")[0]
    local_ip = hv1.vsctl("get", "Interface", endpoint, "options:local_ip").strip().strip('"')
    (underlay,) = [ln["ifname"] for ln in json.loads(hv1.run("ip", "-j", "addr", "show"))
                   if any(a.get("local") == local_ip for a in ln.get("addr_info", []))]
    mtu = json.loads(hv1.run("ip", "-j", "link", "show", "dev", underlay))[0]["mtu"]
    hv1.run("ip", "netns", "add", f"qdhcp-{gone}")
    hv1.run("ip", "link", "set", "dev", underlay, "mtu", str(vx.mtu + 49))
    try:
        assert audit(lab) == {("hv1", "namespace-leftover", ""), ("hv1", "mtu-drift", "")}
        cloud.ports.append(dhcp)
        found = audit(lab, cloud)
        assert ("hv1", "namespace-missing", NEW) in found
        assert found - {("hv1", "interface-missing", NEW)} == {
            ("hv1", "namespace-leftover", ""), ("hv1", "mtu-drift", ""),
            ("hv1", "namespace-missing", NEW)}
    finally:
        hv1.run("ip", "link", "set", "dev", underlay, "mtu", str(mtu))
        hv1.run("ip", "netns", "delete", f"qdhcp-{gone}")
    assert audit(lab) == set()


def test_a_namespace_neutron_hosts_elsewhere_is_left_over(lab):
    """hv2 keeps a qdhcp- of the VXLAN network, which Neutron still has, while the network's
    DHCP port is bound to hv1 (the agent was rescheduled; hv2's died before cleaning up): a
    leftover on hv2; hv1's own qdhcp- of that network, with its port, is not."""
    hv1, hv2 = lab.hosts["hv1"], lab.hosts["hv2"]
    cloud = fleet().cloud
    vx = next(n for n in cloud.networks.values() if n.segments
              and n.segments[0].network_type == "vxlan")
    cloud.ports.append(PortFacts(
        id=NEW, network_id=vx.id, mac_address="fa:16:3e:0:0:8", status="ACTIVE",
        device_owner="network:dhcp", device_id=f"dhcp-{vx.id}", binding_host_id="hv1",
        binding_vif_type="ovs"))
    ns = f"qdhcp-{vx.id}"
    hv1.run("ip", "netns", "add", ns)
    hv2.run("ip", "netns", "add", ns)
    try:
        found = audit(lab, cloud) - {("hv1", "interface-missing", NEW)}  # no tap in it
        assert found == {("hv2", "namespace-leftover", "")}
        filtered = dataclasses.replace(cloud, ports_unfiltered=False)  # a --network list
        assert audit(lab, filtered) - {("hv1", "interface-missing", NEW)} == set()
    finally:
        hv1.run("ip", "netns", "delete", ns)
        hv2.run("ip", "netns", "delete", ns)
    assert audit(lab) == set()


def test_tunnel_endpoint_address_lost(lab):
    """hv1's VXLAN tunnel sources from an address no device has any more (a bond or bridge
    that lost it; in the lab the underlay is the management network, so the tunnel is first
    moved to an address of its own, which is then deleted): every tunnel of hv1 is dead. The
    audit says so on hv1, and nothing else."""
    hv1 = lab.hosts["hv1"]
    endpoint, local_ip, _ = LAB.tunnels("hv1")[0]
    lost = "198.19.209.11"
    hv1.run("ip", "link", "add", "npul0", "type", "veth", "peer", "name", "npul1")
    hv1.run("ip", "addr", "add", f"{lost}/32", "dev", "npul0")
    try:
        hv1.vsctl("set", "Interface", endpoint, f"options:local_ip={lost}")
        assert audit(lab) == set()  # the tunnel's own address is there: clean
        hv1.run("ip", "link", "delete", "npul0")
        found = audit(lab)
        assert found == {("hv1", "tunnel-endpoint-missing", "")}
    finally:
        hv1.run("ip", "link", "delete", "npul0", check=False)
        hv1.vsctl("set", "Interface", endpoint, f"options:local_ip={local_ip}")
    assert audit(lab) == set()
