"""`netpath audit` on the real OVN chassis of tests/lab/ovn.py, over real SSH (named to run
after test_ovn_lab.py's ping tests; every fault made here is undone and waited out).

The API side is what Neutron's OVN driver would list for the lab (tests.lab.ovn.fleet_facts);
the host side is real: ovn-controller's tunnels, claims and ``ovn-installed`` marks. Each fault
is made on a chassis the way it happens in production, and the audit finds it and nothing else:
transport zones that split the chassis (ovn-controller drops the Geneve tunnels itself), a VIF
plugged for a port the Northbound DB has no logical port for (never claimed), the tunnel
endpoint's address lost, an underlay too small for Geneve, a metadata namespace not there.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from osc_netpath import config
from osc_netpath.audit import run
from tests.lab.ovn import NET_PROVIDER, OVN, PORT_VLAN_A, fleet_facts

NEW = "e59fa1b2-cdb0-42df-b471-8092a3b4c5d6"  # a port Neutron has; the NB has no logical port


def audit(lab: Any, cloud: Any = None) -> set[tuple[str, str, str]]:
    cloud = cloud or fleet_facts(lab.ovn)
    report, _, stats = run.probe_and_audit(None, cloud, run.Scope(),
                                           config.load(lab.netpath_settings()))
    assert stats["ssh_execs"] == len(cloud.hosts)
    assert [(s.host, s.probed) for s in report.summaries] == [("ovn1", True), ("ovn2", True)]
    return {(f.host, f.cls, f.port) for f in report.findings}


def tunnels(host: Any) -> list[str]:
    return [r["name"] for r in host.ovs_table("Interface") if r["type"] == "geneve"]


def wait(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_clean_ovn_fleet(ovn_lab):
    """Both chassis: every VM port claimed, the Geneve mesh whole, ovnmeta- where due."""
    assert audit(ovn_lab) == set()


def test_transport_zones_split_the_mesh(ovn_lab):
    """Chassis in disjoint ovn-transport-zones: ovn-controller removes the tunnels between
    them, and a Geneve network with a VM on each side is cut: both sides say so."""
    hosts = [ovn_lab.chassis(h.name) for h in OVN.hosts]
    for host, zone in zip(hosts, ("tz-a", "tz-b")):
        host.vsctl("set", "Open_vSwitch", ".", f"external_ids:ovn-transport-zones={zone}")
    try:
        wait(lambda: not any(tunnels(h) for h in hosts), "the Geneve tunnels to go")
        assert audit(ovn_lab) == {("ovn1", "tunnel-missing", ""), ("ovn2", "tunnel-missing", "")}
    finally:
        for host in hosts:
            host.vsctl("remove", "Open_vSwitch", ".", "external_ids", "ovn-transport-zones")
        wait(lambda: all(tunnels(h) for h in hosts), "the Geneve tunnels to come back")
    assert audit(ovn_lab) == set()


def test_vif_without_a_logical_port_is_not_installed(ovn_lab):
    """Neutron binds a port to ovn1 and os-vif plugs its tap, but the NB has no logical port
    for it (a failed sync): ovn-controller never claims it, no ovn-installed."""
    ovn1 = ovn_lab.chassis("ovn1")
    cloud = fleet_facts(OVN)
    vm = next(p for p in cloud.ports if p.id == PORT_VLAN_A.id)
    cloud.ports.append(dataclasses.replace(vm, id=NEW, mac_address="fa:16:3e:5a:02:0e"))
    tap = f"tap{NEW[:11]}"
    ovn1.run("ip", "tuntap", "add", "dev", tap, "mode", "tap")
    try:
        ovn1.vsctl("add-port", "br-int", tap, "--", "set", "Interface", tap,
                   f"external_ids:iface-id={NEW}", "external_ids:iface-status=active",
                   "external_ids:attached-mac=fa:16:3e:5a:02:0e")
        assert audit(ovn_lab, cloud) == {("ovn1", "interface-not-installed", NEW)}
    finally:
        ovn1.vsctl("--if-exists", "del-port", "br-int", tap)
        ovn1.run("ip", "link", "delete", tap)
    assert audit(ovn_lab) == set()


def test_tunnel_endpoint_lost_then_underlay_too_small(ovn_lab):
    """ovn2's ovn-encap-ip gone from br-phy: tunnel-endpoint-missing on ovn2 (ovn1 still has
    its tunnel: the chassis has not changed its encap). Back, but br-phy's MTU below the
    Geneve network's 1442 + 58: mtu-drift on ovn2."""
    ovn2 = ovn_lab.chassis("ovn2")
    spec = ovn2.chassis
    (prefix,) = [a["prefixlen"] for link in json.loads(ovn2.run("ip", "-j", "addr", "show",
                                                                 "dev", "br-phy"))
                 for a in link["addr_info"] if a.get("local") == spec.encap_ip]
    ovn2.run("ip", "addr", "del", f"{spec.encap_ip}/{prefix}", "dev", "br-phy")
    try:
        assert audit(ovn_lab) == {("ovn2", "tunnel-endpoint-missing", "")}
    finally:
        ovn2.run("ip", "addr", "add", f"{spec.encap_ip}/{prefix}", "dev", "br-phy")
    mtu = json.loads(ovn2.run("ip", "-j", "link", "show", "dev", "br-phy"))[0]["mtu"]
    ovn2.run("ip", "link", "set", "dev", "br-phy", "mtu", "1480")
    try:
        assert audit(ovn_lab) == {("ovn2", "mtu-drift", "")}
    finally:
        ovn2.run("ip", "link", "set", "dev", "br-phy", "mtu", str(mtu))
    assert audit(ovn_lab) == set()


def test_metadata_namespace_missing(ovn_lab):
    """Neutron gives the VLAN network a metadata port too: ovn1 (a VM on it, a metadata agent)
    is missing its ovnmeta- namespace; ovn2 (no VM on it) is not."""
    cloud = fleet_facts(OVN)
    cloud.metadata_networks.append(NET_PROVIDER.id)
    assert audit(ovn_lab, cloud) == {("ovn1", "namespace-missing", PORT_VLAN_A.id)}
