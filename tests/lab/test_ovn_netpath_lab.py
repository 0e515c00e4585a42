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
