"""`netpath show` where a real host differs from our defaults, over real SSH into the lab.

- a second agent's bridges on one OVS: an integration bridge br-int2 whose tunnel bridge is
  br-ov2 (``[ovs] tunnel_bridge`` is configurable and not in the agents API), with real patch
  ports, a real VXLAN port and the agent's VNI flows;
- a host whose iproute2 has no JSON output: ``ip`` answers ``-j`` as iproute2 before 4.13 does
  (a wrapper bind-mounted over it in that host's own mount namespace only); the path must be the
  one the JSON run gives, device facts included.
Each test changes its host and puts it back, whatever happens.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from osc_netpath import config, trace
from osc_netpath.path import model as m
from tests.lab.topology import LAB

PORT_ID = "f1d0e1a2-3344-4556-8778-99aabbccddee"
TAP = f"tap{PORT_ID[:11]}"
VNI, LOCAL_VLAN, REMOTE = 1011, 7, "198.19.202.99"  # nobody at REMOTE: only the wiring counts
VXLAN = "vxlan-c613ca63"


@pytest.fixture
def second_agent(lab) -> Iterator[object]:
    """hv2 gains br-int2 + br-ov2 as a second OVS agent would wire them, and one VM tap."""
    host = lab.hosts["hv2"]
    local_ip = LAB.tunnels("hv2")[0][1]  # the agent's tunneling_ip
    try:
        host.run("ip", "tuntap", "add", "dev", TAP, "mode", "tap")
        host.run("ip", "link", "set", TAP, "mtu", "1450", "up")
        host.vsctl(
            "--", "add-br", "br-int2", "--", "set", "Bridge", "br-int2", "datapath_type=netdev",
            "fail_mode=secure",
            "--", "add-br", "br-ov2", "--", "set", "Bridge", "br-ov2", "datapath_type=netdev",
            "fail_mode=secure", "protocols=OpenFlow10,OpenFlow13",
            "--", "add-port", "br-int2", "p-int2-tun", "--", "set", "Interface", "p-int2-tun",
            "type=patch", "options:peer=p-tun-int2",
            "--", "add-port", "br-ov2", "p-tun-int2", "--", "set", "Interface", "p-tun-int2",
            "type=patch", "options:peer=p-int2-tun",
            "--", "add-port", "br-ov2", VXLAN, "--", "set", "Interface", VXLAN, "type=vxlan",
            f"options:remote_ip={REMOTE}", f"options:local_ip={local_ip}", "options:key=flow",
            "--", "add-port", "br-int2", TAP, "--", "set", "Port", TAP, f"tag={LOCAL_VLAN}",
            "--", "set", "Interface", TAP, f"external_ids:iface-id={PORT_ID}",
            "external_ids:iface-status=active")
        host.ofctl("add-flows", "br-ov2", "-", input=(
            f"table=4,priority=1,tun_id={hex(VNI)} actions=mod_vlan_vid:{LOCAL_VLAN},"
            "resubmit(,10)\n"
            f"table=22,priority=1,dl_vlan={LOCAL_VLAN} actions=strip_vlan,"
            f"load:{hex(VNI)}->NXM_NX_TUN_ID[],output:{VXLAN}\n"))
        yield host
    finally:
        host.run("ovs-vsctl", "--timeout=10", "--if-exists", "del-br", "br-int2", "--",
                 "--if-exists", "del-br", "br-ov2", check=False)
        host.run("ip", "link", "del", TAP, check=False)


def _second_agent_cloud():
    cloud = LAB.cloud_facts("lab-vm-tun-b")
    port = cloud.ports[0]
    cloud.ports = [dataclasses.replace(
        port, id=PORT_ID, mac_address="fa:16:3e:11:22:99",
        binding_vif_details={**port.binding_vif_details, "bridge_name": "br-int2"})]
    net = cloud.networks[port.network_id]
    net.segments = [dataclasses.replace(net.segments[0], segmentation_id=VNI)]
    return cloud


def test_tunnel_bridge_is_the_one_the_host_patches(lab, second_agent):
    host = second_agent
    outcome = trace.probe_and_resolve(_second_agent_cloud(), config.load(lab.netpath_settings()))
    (port,) = outcome.path.ports
    assert port.problems == [] and outcome.path.errors == []
    # ground truth, read from the host: the patch peer of br-int2 and the tunnel port on it
    near = next(p for p in host.vsctl("list-ports", "br-int2").split()
                if host.vsctl("get", "Interface", p, "type").strip() == "patch")
    far = host.vsctl("get", "Interface", near, "options:peer").strip().strip('"')
    tun_br = host.vsctl("port-to-br", far).strip()
    tunnel = next(p for p in host.vsctl("list-ports", tun_br).split()
                  if host.vsctl("get", "Interface", p, "type").strip() == "vxlan")
    assert "br-tun" != tun_br
    got = [(h.device, h.kind, h.bridge, h.vlan) for h in port.hops[1:]]
    assert got[:6] == [
        (TAP, m.TAP, "br-int2", str(LOCAL_VLAN)),
        ("br-int2", m.OVS_BRIDGE, None, str(LOCAL_VLAN)),
        (near, m.PATCH, "br-int2", None), (far, m.PATCH, tun_br, None),
        (tun_br, m.OVS_BRIDGE, None, f"{LOCAL_VLAN} → VNI {VNI}"),
        (tunnel, m.TUNNEL, tun_br, f"VNI {VNI}"),
    ]
    assert port.hops[6].peer == REMOTE
    assert port.hops[7].kind == m.NIC  # the underlay device carrying local_ip


# --------------------------------------------------------------------------- ip without -j

_NO_JSON_IP = """#!/bin/sh
# iproute2 before 4.13: no -j
for a in "$@"; do
    case $a in -j | -json | --json) echo 'Option "-j" is unknown, try "ip -help".' >&2; exit 255 ;;
    esac
done
exec {real} "$@"
"""


@pytest.fixture
def ip_without_json(lab, tmp_path: Path) -> Iterator[object]:
    host = lab.hosts["hv1"]
    real = tmp_path / "ip.real"
    shutil.copy2("/usr/bin/ip", real)
    wrapper = tmp_path / "ip"
    wrapper.write_text(_NO_JSON_IP.format(real=real))
    os.chmod(wrapper, 0o755)
    targets = [p for p in ("/usr/bin/ip", "/bin/ip")
               if os.path.exists(p) and not os.path.islink(p)]
    mounted: list[str] = []
    try:
        for target in dict.fromkeys(os.path.realpath(t) for t in targets):
            host.run("mount", "--bind", str(wrapper), target)
            mounted.append(target)
        assert "unknown" in host.run("sh", "-c", "ip -j link 2>&1 || true")
        yield host
    finally:
        for target in reversed(mounted):
            host.run("umount", target, check=False)


def test_host_without_ip_json_gives_the_same_path(lab, ip_without_json):
    cfg = config.load(lab.netpath_settings())
    cloud = LAB.cloud_facts("lab-vm-multi")
    text_run = trace.probe_and_resolve(cloud, cfg)
    for target in ("/usr/bin/ip", "/bin/ip"):  # back to the real ip for the JSON run
        ip_without_json.run("umount", target, check=False)
    json_run = trace.probe_and_resolve(LAB.cloud_facts("lab-vm-multi"), cfg)
    assert json_run.path.errors == [] and text_run.path.errors == []
    assert any("ip has no JSON output (-j)" in n for n in text_run.path.notes)

    def facts(outcome):
        return [[(h.device, h.kind, h.bridge, h.vlan, h.mac, h.mtu, h.state, h.peer, h.source)
                 for h in p.hops] for p in outcome.path.ports]

    assert facts(text_run) == facts(json_run)
    assert [p.problems for p in text_run.path.ports] == [p.problems for p in json_run.path.ports]
    # and the kernel facts are the host's own
    links = {x["ifname"]: x for x in json.loads(ip_without_json.run("ip", "-j", "-d", "link"))}
    for hop in (h for p in text_run.path.ports for h in p.hops if h.source == m.SRC_KERNEL):
        if hop.device in links:
            assert (hop.mac, hop.mtu) == (links[hop.device]["address"], links[hop.device]["mtu"])


# --------------------------------------------------------------------------- hosts not readable

@pytest.fixture
def lab_user(lab) -> Iterator[object]:
    """Accounts on this machine the lab's sshds accept the client key for (one authorized_keys
    file serves every user there): one with a nologin shell, one plain non-root user. sshd reads
    that file as the user: the lab's state dir is made traversable for the test's duration."""
    import subprocess

    state = lab.state_dir
    mode = state.stat().st_mode & 0o777
    state.chmod(mode | 0o011)
    made: list[str] = []
    for name, shell in (("npnologin", "/usr/sbin/nologin"), ("npplain", "/bin/sh")):
        subprocess.run(["userdel", name], capture_output=True, check=False)
        # -p '*': no password, but not "locked" ('!'), which sshd without PAM refuses
        subprocess.run(["useradd", "-r", "-M", "-d", "/nonexistent", "-p", "*", "-s", shell,
                        name], check=True)
        made.append(name)
    try:
        yield made
    finally:
        for name in made:
            subprocess.run(["userdel", name], capture_output=True, check=False)
        state.chmod(mode)


def test_login_refused_by_nologin_shows_the_hosts_words_and_claims_nothing(lab, lab_user):
    cfg = config.load(lab.netpath_settings(ssh_user="npnologin"))
    outcome = trace.probe_and_resolve(LAB.cloud_facts("lab-vm-multi"), cfg)
    said = "This account is currently not available."
    assert any(said in e for e in outcome.path.errors), outcome.path.errors
    for port in outcome.path.ports:
        assert [h.device for h in port.hops] == ["instance-00000001"]  # Nova's domain name
        assert said in (port.hops[0].detail or "")
        assert not any("does not exist" in p or "not plugged" in p for p in port.problems)


def test_non_root_user_sees_unknown_ovs_never_absent(lab, lab_user):
    host = lab.hosts["hv1"]
    mode = host.run("stat", "-c", "%a", "/var/run/openvswitch/db.sock").strip()
    cfg = config.load(lab.netpath_settings(ssh_user="npplain"))
    outcome = trace.probe_and_resolve(LAB.cloud_facts("lab-vm-multi"), cfg)
    errors = " | ".join(outcome.path.errors)
    assert "permission denied" in errors or mode.endswith("7"), errors
    for port in outcome.path.ports:
        problems = " | ".join(port.problems)
        for false_claim in ("not plugged", "no patch port pair", "does not exist"):
            assert false_claim not in problems, problems
        kernel = [h for h in port.hops if h.source == m.SRC_KERNEL]
        assert kernel  # the kernel side was read as that user: kept
        br_int = next(h for h in port.hops if h.device == "br-int")
        assert (br_int.state, br_int.source) == ("unknown", m.SRC_UNKNOWN)


# --------------------------------------------------------------------------- agent namespaces

ROUTER_ID = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
QR_PORT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
DHCP_PORT = "1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"


@pytest.fixture
def agent_ports(lab) -> Iterator[object]:
    """On hv1, what the L3 and DHCP agents make for the VLAN network: qr- (an OVS internal port
    moved into qrouter-ROUTER) and, with ovs_use_veth, tap ⇄ ns- into qdhcp-NETWORK."""
    host = lab.hosts["hv1"]
    net = next(n for n in LAB.networks if n.network_type == "vlan")
    tag = LAB.local_vlans("hv1")[net.id]
    qrouter, qdhcp = f"qrouter-{ROUTER_ID}", f"qdhcp-{net.id}"
    qr, tap, ns_dev = f"qr-{QR_PORT[:11]}", f"tap{DHCP_PORT[:11]}", f"ns-{DHCP_PORT[:11]}"
    try:
        for ns in (qrouter, qdhcp):
            host.run("ip", "netns", "add", ns)
        host.vsctl("--", "add-port", "br-int", qr, f"tag={tag}", "--", "set", "Interface", qr,
                   "type=internal", f"external_ids:iface-id={QR_PORT}",
                   "external_ids:iface-status=active")
        host.run("ip", "link", "set", qr, "netns", qrouter)
        host.run("ip", "-n", qrouter, "addr", "add", "203.0.113.65/26", "dev", qr)
        host.run("ip", "-n", qrouter, "link", "set", qr, "mtu", str(net.mtu), "up")
        host.run("ip", "link", "add", tap, "type", "veth", "peer", "name", ns_dev,
                 "netns", qdhcp)
        host.run("ip", "link", "set", tap, "up")
        host.run("ip", "-n", qdhcp, "addr", "add", "203.0.113.66/26", "dev", ns_dev)
        host.run("ip", "-n", qdhcp, "link", "set", ns_dev, "up")
        host.vsctl("--", "add-port", "br-int", tap, f"tag={tag}", "--", "set", "Interface", tap,
                   f"external_ids:iface-id={DHCP_PORT}", "external_ids:iface-status=active")
        yield host, net, tag
    finally:
        host.run("ovs-vsctl", "--timeout=10", "--if-exists", "del-port", qr, "--",
                 "--if-exists", "del-port", tap, check=False)
        # the veth pair now: a deleted netns takes its end away only later (the kernel's
        # cleanup_net workqueue), and the next test would find tap… still there
        host.run("ip", "link", "del", tap, check=False)
        for ns in (qrouter, qdhcp):
            host.run("ip", "netns", "del", ns, check=False)


def _port_cloud(net, port_id: str, owner: str, device_id: str, ip: str):
    from osc_netpath.cloud.facts import FixedIP, PortFacts, ServerFacts

    cloud = LAB.cloud_facts("lab-vm-multi")
    port = PortFacts(id=port_id, network_id=net.id, mac_address="fa:16:3e:00:00:01",
                     status="ACTIVE", device_owner=owner, device_id=device_id,
                     binding_host_id="hv1", binding_vif_type="ovs",
                     fixed_ips=[FixedIP(net.subnet_id, ip)])
    cloud.ports, cloud.subject, cloud.hosts = [port], "port", ["hv1"]
    cloud.server = ServerFacts(id=device_id, name=owner, status="ACTIVE", host="hv1")
    return cloud


@pytest.mark.parametrize("which", ["router", "dhcp"])
def test_agent_port_traced_from_its_namespace(lab, agent_ports, which):
    host, net, tag = agent_ports
    if which == "router":
        cloud = _port_cloud(net, QR_PORT, "network:router_interface", ROUTER_ID, "203.0.113.65")
        ns, first = f"qrouter-{ROUTER_ID}", f"qr-{QR_PORT[:11]}"
    else:
        cloud = _port_cloud(net, DHCP_PORT, "network:dhcp", "dhcp-agent-id", "203.0.113.66")
        ns, first = f"qdhcp-{net.id}", f"ns-{DHCP_PORT[:11]}"
    outcome = trace.probe_and_resolve(cloud, config.load(lab.netpath_settings()))
    (port,) = outcome.path.ports
    assert outcome.path.errors == [] and port.problems == [], (outcome.path.errors, port.problems)
    inside = {x["ifname"]: x for x in json.loads(host.run("ip", "-n", ns, "-j", "link"))}
    got = [(h.device, h.kind, h.bridge, h.vlan) for h in port.hops]
    want_head = [(ns, m.NAMESPACE, None, None)]
    if which == "router":
        want_head.append((first, m.NS_DEVICE, "br-int", str(tag)))
    else:
        tap = f"tap{DHCP_PORT[:11]}"
        want_head += [(first, m.NS_DEVICE, None, None), (tap, m.VETH, "br-int", str(tag))]
    assert got[:len(want_head)] == want_head
    assert got[len(want_head)] == ("br-int", m.OVS_BRIDGE, None, str(tag))
    assert got[-2][1] == m.OVS_BRIDGE and got[-2][3] == f"{tag} → {net.segmentation_id}"
    assert port.hops[1].mac == inside[first]["address"]


def _network_trace(net, tag_ports):
    from osc_netpath.cloud.facts import AgentFacts, ServerFacts
    from osc_netpath.cloud.network import HostedBy, NetworkTrace

    cloud = LAB.cloud_facts("lab-vm-multi")
    vm = [p for p in cloud.ports if p.network_id == net.id]
    qr = _port_cloud(net, QR_PORT, "network:router_interface", ROUTER_ID, "203.0.113.65")
    dhcp = _port_cloud(net, DHCP_PORT, "network:dhcp", "dhcp-agent-id", "203.0.113.66")
    cloud.ports = vm + qr.ports + dhcp.ports
    cloud.subject, cloud.hosts = "network", ["hv1"]
    cloud.server = ServerFacts(id=net.id, name=net.name, status="ACTIVE")  # as gather() does
    agent = AgentFacts(id="dhcp-1", host="hv1", agent_type="DHCP agent")
    l3 = AgentFacts(id="l3-1", host="hv1", agent_type="L3 agent")
    return NetworkTrace(network=cloud.networks[net.id], cloud=cloud,
                        dhcp_agents=[HostedBy(agent)], l3_agents=[HostedBy(l3, ROUTER_ID)])


def test_network_show_on_the_lab(lab, agent_ports):
    host, net, tag = agent_ports
    cfg = config.load(lab.netpath_settings())
    view, stats, recorded = trace.probe_network(_network_trace(net, None), cfg)
    assert (view.errors, view.findings) == ([], [])
    assert stats == {"ssh_connections": 1, "ssh_execs": 1}
    # --record then --capture: the saved run replays to the same view, with no host
    from osc_netpath import capture

    saved = capture.parse("lab", capture.dump(capture.Bundle(traces=[recorded])).encode())
    assert trace.replay_network(capture.find(saved, net.id, subject="network")) == view
    rows = {(r.kind, r.name): r for r in view.rows}
    assert rows[("host", "hv1")].vlan.split(", ")[0] == str(tag)
    qr = rows[("router_interface", QR_PORT)]
    assert (qr.device, qr.namespace, qr.vlan) == (f"qr-{QR_PORT[:11]}", f"qrouter-{ROUTER_ID}",
                                                  str(tag))
    dhcp = rows[("dhcp", DHCP_PORT)]
    assert (dhcp.device, dhcp.namespace) == (f"tap{DHCP_PORT[:11]}", f"qdhcp-{net.id}")
    assert rows[("dhcp-agent", "dhcp-1")].state == "alive"
    # faults: the router port retagged, the DHCP namespace gone
    host.vsctl("set", "Port", f"qr-{QR_PORT[:11]}", "tag=999")
    host.run("ip", "netns", "del", f"qdhcp-{net.id}")
    view, _, _ = trace.probe_network(_network_trace(net, None), cfg)
    assert any("carry different local VLANs" in f and "999" in f for f in view.findings)
    assert f"hv1: qdhcp-{net.id} does not exist although Neutron says the DHCP agent runs here" \
        in view.findings
