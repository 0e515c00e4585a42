"""The lab is what topology.py says: ground truth read independently (ovs-vsctl, ip, ovs-ofctl
in each host's namespaces, and over SSH), compared with the declarative description."""
from __future__ import annotations

import pytest

from osc_netpath.host.transport import run_probes
from tests.lab.lab import Lab, LabHost
from tests.lab.topology import DEAD_VLAN, LAB

pytestmark = pytest.mark.lab

HOSTS = [h.name for h in LAB.hosts]


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in rows}


@pytest.mark.parametrize("host", HOSTS)
def test_bridges_and_patches(lab: Lab, host: str) -> None:
    h = lab.hosts[host]
    bridges = _by_name(h.ovs_table("Bridge"))
    assert sorted(bridges) == sorted(LAB.bridges(host))
    assert {b["datapath_type"] for b in bridges.values()} == {"netdev"}
    ifaces = _by_name(h.ovs_table("Interface"))
    spec = LAB.host(host)
    for bridge in spec.bridge_mappings.values():
        assert ifaces[f"int-{bridge}"]["options"] == {"peer": f"phy-{bridge}"}
        assert ifaces[f"phy-{bridge}"]["options"] == {"peer": f"int-{bridge}"}
    for bridge, nic in spec.uplinks.items():
        assert nic in h.vsctl("list-ports", bridge).split()
    assert ifaces["patch-tun"]["options"] == {"peer": "patch-int"}
    for name, local_ip, remote_ip in LAB.tunnels(host):
        iface = ifaces[name]
        assert iface["type"] == "vxlan"
        assert iface["options"]["remote_ip"] == remote_ip
        assert iface["options"]["local_ip"] == local_ip
        assert iface["options"]["key"] == iface["options"]["in_key"] == "flow"
        assert name in h.vsctl("list-ports", "br-tun").split()


@pytest.mark.parametrize("host", HOSTS)
def test_vm_ports(lab: Lab, host: str) -> None:
    h = lab.hosts[host]
    ports = _by_name(h.ovs_table("Port"))
    ifaces = _by_name(h.ovs_table("Interface"))
    links = {link["ifname"]: link for link in h.links()}
    br_int_ports = h.vsctl("list-ports", "br-int").split()
    for port in LAB.ports_on(host):
        name = LAB.ovs_port_of(port)
        assert name in br_int_ports
        assert ports[name]["tag"] == port.local_vlan
        ext = ifaces[name]["external_ids"]
        assert ext["iface-id"] == port.id
        assert ext["attached-mac"] == port.mac
        assert ext["vm-uuid"] == port.server_id
        assert ext["iface-status"] == "active"
        if port.local_vlan == DEAD_VLAN:
            assert "net_uuid" not in ports[name]["other_config"]
        else:
            assert ports[name]["other_config"]["net_uuid"] == port.network_id
        mtu = LAB.network(port.network_id).mtu
        assert links[port.tap]["mtu"] == mtu
        assert links[port.tap]["address"] == "fe:" + port.mac.split(":", 1)[1]
        if LAB.host(host).hybrid:
            _check_hybrid(h, links, port.tap, port.qbr, port.qvb, port.qvo, mtu)
        else:
            assert port.qbr not in links and port.qvo not in links


def _check_hybrid(h: LabHost, links: dict[str, dict], tap: str, qbr: str, qvb: str, qvo: str,
                  mtu: int) -> None:
    assert links[qbr]["linkinfo"]["info_kind"] == "bridge"
    assert links[tap]["master"] == qbr
    assert links[qvb]["master"] == qbr
    assert links[qvb]["linkinfo"]["info_kind"] == "veth"
    # the veth pair: ip names the peer (same namespace); ethtool gives its ifindex
    assert links[qvb]["link"] == qvo and links[qvo]["link"] == qvb
    assert f"peer_ifindex: {links[qvo]['ifindex']}" in h.run("ethtool", "-S", qvb)
    assert links[qvb]["mtu"] == links[qvo]["mtu"] == mtu


@pytest.mark.parametrize("host", HOSTS)
def test_flows(lab: Lab, host: str) -> None:
    """Every flow of the description is installed, as ovs-ofctl prints it (OpenFlow 1.0)."""
    h = lab.hosts[host]
    dumped: dict[str, list[str]] = {}
    for bridge in LAB.bridges(host):
        out = h.ofctl("--names", "--no-stats", "dump-flows", bridge)
        dumped[bridge] = [line.strip() for line in out.splitlines() if line.strip()]
    expected = LAB.flows(host)
    assert sum(map(len, dumped.values())) == len(expected)
    for flow in expected:
        table = f"table={flow.table}, " if flow.table else ""
        match = f",{flow.match}" if flow.match else ""
        head = f"cookie={_cookie()}, {table}priority={flow.priority}{match} actions="
        lines = [ln for ln in dumped[flow.bridge] if ln.startswith(head)]
        assert len(lines) == 1, (flow, dumped[flow.bridge])
        actions = lines[0][len(head):]
        if flow.actions.startswith("learn("):  # OVS reorders learn()'s arguments
            assert actions.startswith("learn(") and actions.endswith(',output:"patch-int"')
        else:
            assert actions == flow.actions


def _cookie() -> str:
    from tests.lab.topology import AGENT_COOKIE

    return AGENT_COOKIE


def test_vlan_translation_flows_as_neutron_writes_them(lab: Lab) -> None:
    hv1 = lab.hosts["hv1"]
    br_ex = hv1.ofctl("--names", "--no-stats", "dump-flows", "br-ex")
    assert 'priority=4,in_port="phy-br-ex",dl_vlan=3 actions=mod_vlan_vid:101,NORMAL' in br_ex
    assert 'priority=4,in_port="phy-br-ex",dl_vlan=4 actions=strip_vlan,NORMAL' in br_ex
    br_int = hv1.ofctl("--names", "--no-stats", "dump-flows", "br-int")
    assert ('priority=3,in_port="int-br-ex",dl_vlan=101 actions=mod_vlan_vid:3,resubmit(,58)'
            in br_int)
    assert ('priority=3,in_port="int-br-ex",vlan_tci=0x0000/0x1fff '
            'actions=mod_vlan_vid:4,resubmit(,58)' in br_int)
    hv2_tun = lab.hosts["hv2"].ofctl("--names", "--no-stats", "dump-flows", "br-tun")
    assert "table=4, priority=1,tun_id=0x3e9 actions=mod_vlan_vid:2,resubmit(,9)" in hv2_tun
    assert ('table=22, priority=1,dl_vlan=2 actions=strip_vlan,load:0x3e9->NXM_NX_TUN_ID[],'
            'output:"vxlan-c613c90b"' in hv2_tun)


def test_over_ssh_each_host_sees_only_itself(lab: Lab) -> None:
    script = 'ovs-vsctl list-br\necho "netns:$(ip netns list | wc -l)"\nls -A ~ | wc -l\n'
    results, _ = run_probes([(lab.ssh_target(n), "sh -s") for n in HOSTS], script)
    for host in HOSTS:
        lines = (results[host].stdout or "").split()
        assert lines == sorted(LAB.bridges(host)) + ["netns:0", "0"], results[host]


def test_api_view_matches_the_lab(lab: Lab) -> None:
    api = LAB.api()
    assert {h["hypervisor_hostname"]: h["host_ip"] for h in api["hypervisors"]} == {
        n: h.address for n, h in lab.hosts.items()}
    for body in api["ports"]:
        h: LabHost = lab.hosts[body["binding:host_id"]]
        ifaces = {i["external_ids"].get("iface-id"): i for i in h.ovs_table("Interface")}
        assert ifaces[body["id"]]["external_ids"]["attached-mac"] == body["mac_address"]
    facts = LAB.cloud_facts("lab-vm-multi")
    assert facts.host_ips == {"hv1": "198.19.201.11"}
    assert sorted(p.id for p in facts.ports) == sorted(
        p.id for p in LAB.ports if p.server_id == facts.server.id)
