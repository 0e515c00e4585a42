"""`netpath show --to external` on the lab, over real SSH: a server's way out through its router.

hv1 plays the network node (it has br-ex on physnet1), as the L3 agent lays a router out with
``interface_driver = openvswitch``: OVS internal ports moved into the router's namespaces and
tagged on br-int with the local VLAN of their network.

- legacy: lab-vm-tun-b on hv2 (VXLAN) → its router's ``qr-`` in ``qrouter-R`` on hv1 (over the
  tunnel) and ``qg-`` there on the external (flat) network, holding the floating IP;
- DVR: lab-vm-tun-a on hv1 → the distributed ``qr-`` in ``qrouter-R`` on its own host, the veth
  ``rfp-`` ⇄ ``fpr-`` into ``fip-<external net>`` and ``fg-`` there, the gateway ``qg-`` in
  ``snat-R`` (hv1 is also the dvr_snat node).
The API side is built as Neutron answers it (``cloud/way_out.py`` is tested against the API
in tests/commands); what is compared here is the path with what the hosts really have.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from osc_netpath import config, trace
from osc_netpath.cloud.facts import FixedIP, FloatingIP, PortFacts
from osc_netpath.path import model as m
from tests.lab.topology import LAB, NET_FLAT, NET_VXLAN

ROUTER = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
QR = "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e"
QG = "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
FG = "8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a"
FIP = "203.0.113.151"
QR_IP, QG_IP, FG_IP = "203.0.113.1", "203.0.113.150", "203.0.113.152"
VM_IP = {"dvr": "203.0.113.10", "legacy": "203.0.113.11"}  # lab-vm-tun-a, lab-vm-tun-b


@dataclass
class Router:
    dvr: bool
    qrouter: str
    gateway_ns: str
    fip_ns: str


def _nat(host, ns: str, fixed: str, rfp: str | None) -> None:
    """The floating IP's rules as the L3 agent writes them in the router's namespace."""
    def ipt(*args: str) -> None:
        host.run("nsenter", f"--net=/run/netns/{ns}", "iptables", "-t", "nat", *args)

    for chain in ("PREROUTING", "float-snat"):
        ipt("-N", f"neutron-l3-agent-{chain}")
    ipt("-A", "PREROUTING", "-j", "neutron-l3-agent-PREROUTING")
    ipt("-A", "POSTROUTING", "-j", "neutron-l3-agent-float-snat")
    ipt("-A", "neutron-l3-agent-PREROUTING", "-d", f"{FIP}/32", *(["-i", rfp] if rfp else []),
        "-j", "DNAT", "--to-destination", fixed)
    ipt("-A", "neutron-l3-agent-float-snat", "-s", f"{fixed}/32", "-j", "SNAT",
        "--to-source", FIP)


def _ovs_internal(host, name: str, port_id: str, tag: int, ns: str, cidr: str, mtu: int) -> None:
    host.vsctl("--", "add-port", "br-int", name, f"tag={tag}", "--", "set", "Interface", name,
               "type=internal", f"external_ids:iface-id={port_id}",
               "external_ids:iface-status=active")
    host.run("ip", "link", "set", name, "netns", ns)
    host.run("ip", "-n", ns, "addr", "add", cidr, "dev", name)
    host.run("ip", "-n", ns, "link", "set", name, "mtu", str(mtu), "up")


@pytest.fixture(params=["legacy", "dvr"])
def router(lab, request) -> Iterator[Router]:
    dvr = request.param == "dvr"
    host = lab.hosts["hv1"]
    vlans = LAB.local_vlans("hv1")
    qrouter, snat, fip = f"qrouter-{ROUTER}", f"snat-{ROUTER}", f"fip-{NET_FLAT.id}"
    gateway_ns = snat if dvr else qrouter
    made = [qrouter, snat, fip] if dvr else [qrouter]
    devices = [f"qr-{QR[:11]}", f"qg-{QG[:11]}"] + ([f"fg-{FG[:11]}"] if dvr else [])
    try:
        for ns in made:
            host.run("ip", "netns", "add", ns)
        _ovs_internal(host, devices[0], QR, vlans[NET_VXLAN.id], qrouter, f"{QR_IP}/26",
                      NET_VXLAN.mtu)
        _ovs_internal(host, devices[1], QG, vlans[NET_FLAT.id], gateway_ns, f"{QG_IP}/26",
                      NET_FLAT.mtu)
        if dvr:
            _ovs_internal(host, devices[2], FG, vlans[NET_FLAT.id], fip, f"{FG_IP}/26",
                          NET_FLAT.mtu)
            rfp, fpr = f"rfp-{ROUTER[:10]}", f"fpr-{ROUTER[:10]}"
            host.run("ip", "-n", qrouter, "link", "add", rfp, "type", "veth", "peer", "name",
                     fpr, "netns", fip)
            host.run("ip", "-n", qrouter, "link", "set", rfp, "up")
            host.run("ip", "-n", fip, "link", "set", fpr, "up")
            _nat(host, qrouter, VM_IP["dvr"], rfp)
        else:  # legacy: the floating IP sits on qg- itself
            host.run("ip", "-n", qrouter, "addr", "add", f"{FIP}/32", "dev", devices[1])
            _nat(host, qrouter, VM_IP["legacy"], None)
        yield Router(dvr, qrouter, gateway_ns, fip)
    finally:
        args = ["ovs-vsctl", "--timeout=10"]
        for dev in devices:
            args += ["--", "--if-exists", "del-port", dev]
        host.run(*args, check=False)
        for ns in made:
            host.run("ip", "netns", "del", ns, check=False)


def _port(port_id: str, net, owner: str, device_id: str, host: str, ip: str) -> PortFacts:
    return PortFacts(id=port_id, network_id=net.id, mac_address="fa:16:3e:00:00:09",
                     status="ACTIVE", device_owner=owner, device_id=device_id,
                     binding_host_id=host, binding_vif_type="ovs",
                     fixed_ips=[FixedIP(net.subnet_id, ip)])


def _way_out_cloud(router: Router):
    """What cloud/way_out.py adds for the server, as Neutron answers it."""
    server = "lab-vm-tun-a" if router.dvr else "lab-vm-tun-b"
    cloud = LAB.cloud_facts(server)
    vm = cloud.ports[0]
    hv1 = LAB.cloud_facts("lab-vm-multi")  # hv1's agent, address and the flat network
    owner = "network:router_interface_distributed" if router.dvr else "network:router_interface"
    added = [_port(QR, NET_VXLAN, owner, ROUTER, "hv1", QR_IP),
             _port(QG, NET_FLAT, "network:router_gateway", ROUTER, "hv1", QG_IP)]
    if router.dvr:
        added.append(_port(FG, NET_FLAT, "network:floatingip_agent_gateway", "l3-agent-hv1",
                           "hv1", FG_IP))
    cloud.ports += added
    cloud.to, cloud.way_out = "external", [p.id for p in added]  # as fetch.gather sets them
    cloud.networks[NET_FLAT.id] = hv1.networks[NET_FLAT.id]
    cloud.agents += [a for a in hv1.agents if a.host == "hv1" and a not in cloud.agents]
    cloud.host_ips["hv1"] = hv1.host_ips["hv1"]
    cloud.hosts = sorted(set(cloud.hosts) | {"hv1"})
    cloud.floating_ips = {ROUTER: [FloatingIP(FIP, vm.fixed_ips[0].ip_address, vm.id, "ACTIVE")]}
    return cloud


def _row(path, port_id: str) -> list[tuple[str, str, str | None, str | None]]:
    port = next(p for p in path.ports if p.port_id == port_id)
    assert port.problems == [], port.problems
    return [(h.device, h.kind, h.bridge, h.vlan) for h in port.hops]


def test_way_out_through_the_router(lab, router):
    cloud = _way_out_cloud(router)
    outcome = trace.probe_and_resolve(cloud, config.load(lab.netpath_settings()))
    path = outcome.path
    assert path.errors == [], path.errors
    assert outcome.stats["ssh_connections"] == (1 if router.dvr else 2)  # one per host
    vlans = LAB.local_vlans("hv1")
    hv1 = lab.hosts["hv1"]

    qr = _row(path, QR)
    assert qr[:3] == [(router.qrouter, m.NAMESPACE, None, None),
                      (f"qr-{QR[:11]}", m.NS_DEVICE, "br-int", str(vlans[NET_VXLAN.id])),
                      ("br-int", m.OVS_BRIDGE, None, str(vlans[NET_VXLAN.id]))]
    kinds = [k for _, k, _, _ in qr]
    assert m.TUNNEL in kinds  # the router's own leg onto the tenant network's tunnels

    qg = _row(path, QG)
    tag = str(vlans[NET_FLAT.id])
    assert qg[:3] == [(router.gateway_ns, m.NAMESPACE, None, None),
                      (f"qg-{QG[:11]}", m.NS_DEVICE, "br-int", tag),
                      ("br-int", m.OVS_BRIDGE, None, tag)]
    assert [d for d, _, _, _ in qg][-2:] == ["br-ex", "eth1"]
    gateway = next(p for p in path.ports if p.port_id == QG).hops[0]
    assert f"floating IPs {FIP} → " in (gateway.detail or "")
    # the NAT of the floating IP, read in the namespace that holds it: legacy qg-'s qrouter-,
    # DVR the distributed qr-'s qrouter- on the server's host
    holder = next(p for p in path.ports if p.port_id == (QR if router.dvr else QG)).hops[0]
    fixed = VM_IP["dvr" if router.dvr else "legacy"]
    assert f"NAT DNAT {FIP} → {fixed}, SNAT {fixed} → {FIP}" in (holder.detail or "")
    inside = {x["ifname"]: x for x in json.loads(
        hv1.run("ip", "-n", router.gateway_ns, "-j", "addr"))}
    assert next(p for p in path.ports if p.port_id == QG).hops[1].mac == \
        inside[f"qg-{QG[:11]}"]["address"]

    assert path.ports[0].problems == []  # the server's own port, as without --to
    if not router.dvr:  # legacy: the server's tunnel that reaches the network node is named
        hv1_ip = LAB.host("hv1").mgmt_ip
        tun = next(h for h in path.ports[0].hops if h.kind == m.TUNNEL and h.peer == hv1_ip)
        assert (tun.detail or "").endswith(f"; to hv1 (router {ROUTER})")
    if router.dvr:
        head = next(p for p in path.ports if p.port_id == QR).hops[0]
        assert f"rfp-{ROUTER[:10]} ⇄ fpr-{ROUTER[:10]} in {router.fip_ns}" in (head.detail or "")
        fg = _row(path, FG)
        assert fg[:2] == [(router.fip_ns, m.NAMESPACE, None, None),
                          (f"fg-{FG[:11]}", m.NS_DEVICE, "br-int", tag)]


@pytest.mark.parametrize("router", ["dvr"], indirect=True)
def test_dvr_router_without_its_fip_veth_is_a_finding(lab, router):
    lab.hosts["hv1"].run("ip", "-n", router.qrouter, "link", "del", f"rfp-{ROUTER[:10]}")
    outcome = trace.probe_and_resolve(_way_out_cloud(router), config.load(lab.netpath_settings()))
    qr = next(p for p in outcome.path.ports if p.port_id == QR)
    assert qr.problems == [(
        f"no rfp-{ROUTER[:10]} in {router.qrouter} on hv1: the L3 agent (dvr) has not joined "
        f"this router to its fip- namespace, the floating IPs {FIP} → 203.0.113.10 (ACTIVE) do "
        "not leave from here")]


def test_floating_ip_without_its_dnat_rule_is_a_finding(lab, router):
    hv1 = lab.hosts["hv1"]
    fixed = VM_IP["dvr" if router.dvr else "legacy"]
    hv1.run("nsenter", f"--net=/run/netns/{router.qrouter}", "iptables", "-t", "nat", "-F",
            "neutron-l3-agent-PREROUTING")
    outcome = trace.probe_and_resolve(_way_out_cloud(router), config.load(lab.netpath_settings()))
    holder = next(p for p in outcome.path.ports if p.port_id == (QR if router.dvr else QG))
    assert holder.problems == [(
        f"floating IP {FIP} has no DNAT rule to {fixed} in {router.qrouter} on hv1: traffic to "
        "the floating IP does not reach the server")]
