"""The network node of the ML2/OVS stack: `netpath port show` of the real agents' ports,
`netpath network show` of the routed network and `netpath show vm1 --to external`, compared
with what the hosts have.

network1 is a host namespace without a hypervisor running the real neutron-l3-agent and
neutron-dhcp-agent beside its OVS agent (tests/stack/up.sh); router1 (legacy) routes tenant-vx
to the external provider-flat and vm1's tenant-vx port has a floating IP (provision.py). Ground
truth comes from the hosts only (groundtruth.read_agent_port: the OVS interface with the port's
iface-id and its tag, the namespace that holds the device found by listing them, the device's
MAC/MTU/state/addresses read inside it, the way to the uplink as for a VM port; the NAT rules
by iptables-save inside qrouter-). Then faults made behind Neutron's back, each undone, and the
finding each gives, and no other."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

import pytest

from tests.stack import groundtruth

NODE = "network1"


@dataclass
class Node:
    """Neutron's word on the network node's router and DHCP server (ids to look for)."""
    router: str
    network: str  # the routed tenant network
    external: str
    dhcp: dict
    qr: dict
    qg: dict
    fip: str
    fixed: str
    vm_port: str

    def port(self, owner: str) -> dict:
        return {"network:dhcp": self.dhcp, "network:router_interface": self.qr,
                "network:router_gateway": self.qg}[owner]


Out = groundtruth.CliRun


def _run(stack, *args: str) -> Out:
    return Out(stack.openstack("netpath", *args, "-f", "json", check=False))


_wait = groundtruth.wait_until


@pytest.fixture(scope="module")
def node(stack, admin_sdk) -> Node:
    spec = stack.state.get("router")
    assert spec, "the ML2/OVS stack has no network node (stack.json: no router)"
    net = admin_sdk.network
    router = net.find_router(spec["name"], ignore_missing=False)
    routed = net.find_network(spec["routed"], ignore_missing=False)
    ext = net.find_network(spec["external"], ignore_missing=False)
    raw = {p.device_owner: p for p in net.ports(network_id=routed.id)
           if p.device_owner in ("network:dhcp", "network:router_interface")}
    raw["network:router_gateway"] = next(net.ports(device_id=router.id,
                                                   device_owner="network:router_gateway"))
    label, on = spec["floating_ip_on"]
    vm_port = next(p for p in stack.servers[label]["ports"] if p["network"] == on)
    (fip,) = list(net.ips(port_id=vm_port["id"]))
    ports = {o: {"id": p.id, "mac": p.mac_address, "status": p.status,
                 "host": p.binding_host_id, "ips": [i["ip_address"] for i in p.fixed_ips]}
             for o, p in raw.items()}
    return Node(router=router.id, network=routed.id, external=ext.id,
                dhcp=ports["network:dhcp"], qr=ports["network:router_interface"],
                qg=ports["network:router_gateway"], fip=fip.floating_ip_address,
                fixed=fip.fixed_ip_address, vm_port=vm_port["id"])


def _host(stack) -> dict:
    return stack.hosts[NODE]


# ------------------------------------------------------------------ the node itself

def test_network_node_runs_the_agents_and_no_hypervisor(stack, admin_sdk, node):
    """Neutron's word and the hosts' agree: network1 runs the OVS, L3 and DHCP agents and no
    nova-compute; the router and the DHCP server are there and only there (legacy L3)."""
    host = _host(stack)
    assert host["virt_driver"] == "none" and host["agents"] == ["l3", "dhcp"]
    agents = {(a.agent_type, a.host) for a in admin_sdk.network.agents() if a.is_alive}
    assert {("Open vSwitch agent", NODE), ("L3 agent", NODE), ("DHCP agent", NODE)} <= agents
    assert NODE not in {s.host for s in admin_sdk.compute.services(binary="nova-compute")}
    assert NODE not in {h.name for h in admin_sdk.compute.hypervisors()}
    l3 = list(admin_sdk.network.routers_hosting_l3_agents(node.router))
    assert [a.host for a in l3] == [NODE]
    dhcp = list(admin_sdk.network.network_hosting_dhcp_agents(node.network))
    assert [a.host for a in dhcp] == [NODE]
    for owner in ("network:dhcp", "network:router_interface", "network:router_gateway"):
        assert node.port(owner)["host"] == NODE and node.port(owner)["status"] == "ACTIVE"
    qrouter, qdhcp = f"qrouter-{node.router}", f"qdhcp-{node.network}"
    for name, h in stack.hosts.items():  # each host's own /run/netns
        have = set(groundtruth.host_namespaces(h))
        assert have == ({qrouter, qdhcp} if name == NODE else set()), (name, have)
    # the operator's clouds.yaml: Nova knows no hypervisor there, so netpath needs its address
    with open(stack.clouds_yaml) as f:
        assert f"        {NODE}: {host['address']}\n" in f.read()


# ------------------------------------------------------------------ port show, hop for hop

OWNERS = ("network:dhcp", "network:router_interface", "network:router_gateway")


@pytest.mark.parametrize("owner", OWNERS)
def test_port_show_matches_the_host(stack, node, owner):
    """The DHCP port (tap in qdhcp-), the router interface (qr- in qrouter-) and the gateway
    (qg- in qrouter-): the namespace the host has the device in, the device with the MAC, MTU
    and state read inside it, its local VLAN on br-int, then the way to the uplink (the VXLAN
    tunnels to both computes, or br-ex and eth1) as the host has it; no finding."""
    port = node.port(owner)
    truth = groundtruth.read_agent_port(stack.state, port["id"])
    assert truth.host == NODE
    want_ns = f"qdhcp-{node.network}" if owner == "network:dhcp" else f"qrouter-{node.router}"
    assert truth.namespace == want_ns and truth.device is not None
    assert truth.device.mac == port["mac"]  # the agent gave the device the port's MAC
    out = _run(stack, "port", "show", port["id"])
    assert out.rc == 0, out.stderr
    want = truth.hops()
    assert groundtruth.compare(out.rows, want) == []
    assert len(out.rows) == len(want) and {r["Port"] for r in out.rows} == {port["id"]}
    assert out.rows[0]["State"] == port["status"]  # the namespace row: the API's status
    detail = out.rows[1]["Detail"]
    for cidr in (a for a in truth.device.addresses if ":" not in a):  # IPv4, read inside
        assert cidr in detail, (cidr, detail)
    kinds = [r["Kind"] for r in out.rows]
    if owner == "network:router_gateway":
        assert [r["Device"] for r in out.rows][-2:] == ["br-ex", "eth1"]
        assert f"{node.fip}/32" in truth.device.addresses  # legacy: the floating IP on qg-
    else:
        peers = {r["Peer"] for r in out.rows if r["Kind"] == "tunnel"}
        assert peers == {stack.hosts[h]["address"] for h in ("compute1", "compute2")}
        assert "tunnel" in kinds
    assert out.warnings == []


# ------------------------------------------------------------------ network show

def _ovs_side(stack, network_id: str) -> dict[str, dict[str, dict]]:
    """host -> port id -> what the host wires for the network: its OVS interface (by the
    agent's other_config net_uuid), tag, link_state, and the namespace holding the device."""
    out: dict[str, dict[str, dict]] = {}
    for name, host in stack.hosts.items():
        snap = groundtruth.read_host(host)
        in_ns = {dev: ns for ns in groundtruth.host_namespaces(host)
                 for dev in groundtruth.namespace_devices(host, ns)}
        for pname, port in snap.ports.items():
            if (port.get("other_config") or {}).get("net_uuid") != network_id:
                continue
            iface = snap.interfaces[pname]
            pid = (iface.get("external_ids") or {}).get("iface-id")
            out.setdefault(name, {})[pid] = {
                "device": pname, "vlan": str(port["tag"]), "namespace": in_ns.get(pname),
                "link_state": iface.get("link_state")}
    return out


def test_network_show_matches_the_hosts(stack, admin_sdk, node):
    """tenant-vx everywhere it is wired: per host its local VLAN, each port's OVS device and tag
    (and for the agents' ports the namespace the host has the device in), the DHCP agent with
    its qdhcp- and the L3 agent of router1 with its qrouter- on network1; no finding."""
    out = _run(stack, "network", "show", node.network)
    assert out.rc == 0, out.stderr
    truth = _ovs_side(stack, node.network)
    assert set(truth) == {"compute1", "compute2", NODE}
    status = {p.id: p.status for p in admin_sdk.network.ports(network_id=node.network)}
    got = {(r["Host"], r["Name"]): r for r in out.rows
           if r["Kind"] not in ("host", "dhcp-agent", "l3-agent")}
    want = {(h, pid) for h, ports in truth.items() for pid in ports}
    assert set(got) == want
    for (h, pid), row in got.items():
        t = truth[h][pid]
        assert (row["Device"], row["VLAN"], row["Namespace"]) == (
            t["device"], t["vlan"], t["namespace"]), (h, pid)
        assert row["State"] == f"{status[pid]}/{t['link_state']}"
    kinds = {(r["Host"], r["Kind"]) for r in out.rows}
    assert {(NODE, "dhcp"), (NODE, "router_interface")} <= kinds
    heads = {r["Host"]: r for r in out.rows if r["Kind"] == "host"}
    for h, ports in truth.items():
        assert heads[h]["VLAN"] == ", ".join(sorted({p["vlan"] for p in ports.values()}, key=int))
    agents = [(r["Host"], r["Kind"], r["Name"], r["Namespace"], r["State"]) for r in out.rows
              if r["Kind"] in ("dhcp-agent", "l3-agent")]
    dhcp_agent = next(iter(admin_sdk.network.network_hosting_dhcp_agents(node.network)))
    assert agents == [(NODE, "dhcp-agent", dhcp_agent.id, f"qdhcp-{node.network}", "alive"),
                      (NODE, "l3-agent", node.router, f"qrouter-{node.router}", "alive")]
    assert set(groundtruth.host_namespaces(_host(stack))) >= {r[3] for r in agents}
    assert out.warnings == []


# ------------------------------------------------------------------ a server's way out

def _nat(stack, node) -> tuple[str | None, str | None]:
    """(DNAT destination of the floating IP, SNAT source of the fixed IP) in qrouter-."""
    rules = groundtruth.nat_rules(_host(stack), f"qrouter-{node.router}")
    dnat = re.search(rf"-d {re.escape(node.fip)}/32 .*-j DNAT --to-destination (\S+)", rules)
    snat = re.search(rf"-s {re.escape(node.fixed)}/32 .*-j SNAT --to-source (\S+)", rules)
    return (dnat.group(1) if dnat else None), (snat.group(1) if snat else None)


def test_show_to_external_matches_the_hosts(stack, node):
    """vm1's ports as without --to, then its router's qr- and qg- in qrouter- on network1
    (reached over the VXLAN tunnel between compute1 and network1) with the floating IP and the
    NAT rules the L3 agent wrote, hop for hop as the hosts have them; no finding."""
    out = _run(stack, "show", stack.servers["vm1"]["id"], "--to", "external")
    assert out.rc == 0, out.stderr
    vm = groundtruth.read_server(stack.state, "vm1")
    qr = groundtruth.read_agent_port(stack.state, node.qr["id"])
    qg = groundtruth.read_agent_port(stack.state, node.qg["id"])
    want = vm.hops() + qr.hops() + qg.hops()
    assert groundtruth.compare(out.rows, want) == []
    assert len(out.rows) == len(want)
    order = list(dict.fromkeys(r["Port"] for r in out.rows))
    assert set(order[:-2]) == {p.port_id for p in vm.ports}  # the server's ports, then its way
    assert order[-2:] == [node.qr["id"], node.qg["id"]]  # out: interface, gateway
    addr = {h: stack.hosts[h]["address"] for h in ("compute1", NODE)}
    tunnels = {(r["Port"], r["Peer"]) for r in out.rows if r["Kind"] == "tunnel"}
    assert {(node.vm_port, addr[NODE]), (node.qr["id"], addr["compute1"])} <= tunnels
    dnat, snat = _nat(stack, node)
    assert (dnat, snat) == (node.fixed, node.fip)  # ground truth: the agent wrote both
    head = next(r for r in out.rows if r["Port"] == node.qg["id"])
    assert f"floating IPs {node.fip} → {node.fixed} (ACTIVE)" in head["Detail"]
    assert f"NAT DNAT {node.fip} → {dnat}, SNAT {node.fixed} → {snat}" in head["Detail"]
    assert out.warnings == []


# ------------------------------------------------------------------ faults behind Neutron's back

def test_router_interface_retagged(stack, node):
    """qr- moved to another local VLAN on network1 (ovs-vsctl set Port … tag=999): network show
    says the network's ports there carry different VLANs; port show of qr- shows VLAN 999 and
    that br-tun has no flow for it either way."""
    host = _host(stack)
    truth = groundtruth.read_agent_port(stack.state, node.qr["id"])
    dhcp = groundtruth.read_agent_port(stack.state, node.dhcp["id"])
    qr, tag = truth.ovs_name, truth.local_vlan
    assert tag is not None and dhcp.local_vlan == tag
    groundtruth.host_run(host, ["ovs-vsctl", "set", "Port", qr, "tag=999"])
    try:
        assert groundtruth.read_agent_port(stack.state, node.qr["id"]).local_vlan == 999
        net = _run(stack, "network", "show", node.network)
        assert net.rc == 0, net.stderr
        assert net.warnings == [
            (f"{NODE}: the network's ports carry different local VLANs ({tag}: {dhcp.ovs_name}; "
            f"999: {qr}): they cannot reach each other on br-int")]
        port = _run(stack, "port", "show", node.qr["id"])
        assert port.rc == 0, port.stderr
        assert [r["VLAN"] for r in port.rows[1:3]] == ["999", "999"]
        vni = truth.base.segmentation_id
        assert port.warnings == [
            (f"port {node.qr['id'][:11]}: no flow on br-tun sends local VLAN 999 into a tunnel "
            "(table 22 drops it): no other host has a port on this network yet, or the agent "
            "has not wired it"),
            (f"port {node.qr['id'][:11]}: no flow on br-tun maps VNI {vni} back to local VLAN "
            "999 (table 4)")]
    finally:
        groundtruth.host_run(host, ["ovs-vsctl", "set", "Port", qr, f"tag={tag}"])
    assert groundtruth.read_agent_port(stack.state, node.qr["id"]).local_vlan == tag


def _dnsmasq_pid(stack, node) -> int:
    with open(os.path.join(_host(stack)["dir"], "neutron", "dhcp", node.network, "pid")) as f:
        pid = int(f.read())
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == "dnsmasq"
    return pid


def test_dhcp_namespace_deleted(stack, node):
    """`ip netns del qdhcp-<net>` on network1 (dnsmasq keeps the namespace alive, unnamed): port
    show says the namespace does not exist; network show says so for the DHCP agent and that
    the DHCP port's device is in no namespace. Undone with `ip netns attach` to dnsmasq."""
    host = _host(stack)
    qdhcp = f"qdhcp-{node.network}"
    pid = _dnsmasq_pid(stack, node)
    tap = groundtruth.read_agent_port(stack.state, node.dhcp["id"]).ovs_name
    groundtruth.host_run(host, ["ip", "netns", "del", qdhcp])
    try:
        assert qdhcp not in groundtruth.host_namespaces(host)
        port = _run(stack, "port", "show", node.dhcp["id"])
        assert port.rc == 0, port.stderr
        assert port.warnings == [
            (f"port {node.dhcp['id'][:11]}: namespace {qdhcp} does not exist on {NODE}: the DHCP "
            "agent has not set this port up here")]
        net = _run(stack, "network", "show", node.network)
        assert net.rc == 0, net.stderr
        assert net.warnings == [
            f"{NODE}: {tap} (dhcp) is in none, expected {qdhcp}",
            f"{NODE}: {qdhcp} does not exist although Neutron says the DHCP agent runs here"]
    finally:
        groundtruth.host_run(host, ["ip", "netns", "attach", qdhcp, str(pid)])
    assert groundtruth.read_agent_port(stack.state, node.dhcp["id"]).namespace == qdhcp


def test_floating_ip_dnat_removed(stack, node):
    """The floating IP's DNAT rules deleted from qrouter-'s nat table (iptables -D): --to
    external says traffic to the floating IP does not reach vm1, and nothing else. Undone with
    iptables-restore of the table as it was."""
    host = _host(stack)
    qrouter = f"qrouter-{node.router}"
    saved = groundtruth.nat_rules(host, qrouter)
    dnat = [ln for ln in saved.splitlines()
            if ln.startswith("-A ") and f"-d {node.fip}/32" in ln and "-j DNAT" in ln]
    assert dnat, saved
    try:
        for rule in dnat:
            groundtruth.host_run(host, ["nsenter", f"--net=/run/netns/{qrouter}", "iptables",
                                        "-t", "nat", "-D", *rule[3:].split()])
        assert _nat(stack, node) == (None, node.fip)
        out = _run(stack, "show", stack.servers["vm1"]["id"], "--to", "external")
        assert out.rc == 0, out.stderr
        assert out.warnings == [
            (f"port {node.qg['id'][:11]}: floating IP {node.fip} has no DNAT rule to "
            f"{node.fixed} in {qrouter} on {NODE}: traffic to the floating IP does not reach "
            "the server")]
    finally:
        subprocess.run(["nsenter", "-t", str(host["anchor_pid"]), "-m", "-u", "-n", "--",
                        "nsenter", f"--net=/run/netns/{qrouter}", "iptables-restore", "-T", "nat"],
                       input=saved, text=True, check=True, timeout=30)
    assert _nat(stack, node) == (node.fixed, node.fip)


def test_dhcp_device_deleted(stack, node):
    """The DHCP port's device deleted inside qdhcp- (ip link del; OVS keeps the port on br-int,
    the agent does not notice): port show shows the device absent and says it is gone (finding
    F2, fixed); network show says the DHCP port's device is in no namespace. Undone by
    restarting the DHCP agent, which plugs it again."""
    host = _host(stack)
    qdhcp = f"qdhcp-{node.network}"
    truth = groundtruth.read_agent_port(stack.state, node.dhcp["id"])
    tap = truth.ovs_name
    groundtruth.host_run(host, ["ip", "-n", qdhcp, "link", "del", tap])
    try:
        after = groundtruth.read_agent_port(stack.state, node.dhcp["id"])
        assert after.device is None and after.ovs_name == tap  # OVS still has it
        assert qdhcp in groundtruth.host_namespaces(host)
        port = _run(stack, "port", "show", node.dhcp["id"])
        assert port.rc == 0, port.stderr
        assert [(r["Device"], r["Kind"], r["State"]) for r in port.rows[:2]] == [
            (qdhcp, "namespace", node.dhcp["status"]), (tap, "ns-device", "absent")]
        assert port.warnings == [
            (f"port {node.dhcp['id'][:11]}: {tap} does not exist in {qdhcp} on {NODE} (nor in the "
            "host's own namespace), though Open vSwitch still has it on br-int: the DHCP "
            "agent's device is gone")]
        net = _run(stack, "network", "show", node.network)
        assert net.rc == 0, net.stderr
        assert net.warnings == [f"{NODE}: {tap} (dhcp) is in none, expected {qdhcp}"]
    finally:
        groundtruth.restart_agent(host, "dhcp")

        def back() -> bool:
            dev = groundtruth.namespace_devices(host, qdhcp).get(tap)
            return dev is not None and any(a.startswith(node.dhcp["ips"][0] + "/")
                                           for a in dev.addresses)
        _wait(f"{tap} back in {qdhcp}", back, 120)
    again = groundtruth.read_agent_port(stack.state, node.dhcp["id"])
    assert again.namespace == qdhcp and again.device is not None
    assert again.device.mac == node.dhcp["mac"]
