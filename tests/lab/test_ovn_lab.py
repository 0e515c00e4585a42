"""The OVN lab is real: ovn-controller claimed the ports, made the localnet patch pair and the
Geneve tunnels, and frames cross the tunnel. Ground truth only: each chassis' own OVS and
ovn-controller, the SB database, the kernel. (tests.lab.ovn builds it.)"""
from __future__ import annotations

import json
from typing import Any

from tests.lab import ovn
from tests.lab.ovn import NET_GENEVE, NET_PROVIDER, OVN, OvnLab


def _port(host: ovn.OvnHost, name: str) -> dict[str, Any] | None:
    return next((r for r in host.ovs_table("Port") if r["name"] == name), None)


def test_chassis_is_what_neutron_needs(ovn_lab: OvnLab) -> None:
    for spec in OVN.hosts:
        host = ovn_lab.chassis(spec.name)
        ids = host.ovs_table("Open_vSwitch")[0]["external_ids"]
        assert ids["system-id"] == ids["hostname"] == spec.name
        assert host.run("hostname").strip() == spec.name  # the UTS namespace
        assert ids["ovn-encap-type"] == "geneve" and ids["ovn-encap-ip"] == spec.encap_ip
        assert ids["ovn-bridge-mappings"] == "physnet1:br-ex"
        assert ids.get("ovn-cms-options") == (spec.cms_options or None)
        bridges = {b["name"]: b for b in host.ovs_table("Bridge")}
        assert bridges["br-int"]["datapath_type"] == "netdev"  # made by ovn-controller
        assert host.appctl("connection-status").strip() == "connected"


def test_sb_has_both_chassis_with_their_encaps(ovn_lab: OvnLab) -> None:
    chassis = {c["name"]: c for c in ovn_lab.sb_table("Chassis")}
    encaps = {e["_uuid"]: e for e in ovn_lab.sb_table("Encap")}
    assert set(chassis) == {"ovn1", "ovn2"}
    for spec in OVN.hosts:
        row = chassis[spec.name]
        assert row["hostname"] == spec.name
        encap = encaps[row["encaps"]]  # one encap type: a single uuid
        assert (encap["type"], encap["ip"]) == ("geneve", spec.encap_ip)


def test_vm_ports_claimed_and_up(ovn_lab: OvnLab) -> None:
    names = {c["_uuid"]: c["name"] for c in ovn_lab.sb_table("Chassis")}
    bindings = {b["logical_port"]: b for b in ovn_lab.sb_table("Port_Binding")}
    for port in OVN.vm_ports():
        where = OVN.host_of(port)
        iface = ovn_lab.chassis(where).interface(port.tap)
        assert iface is not None, f"{port.tap} missing on {where}"
        ids = iface["external_ids"]
        assert ids["iface-id"] == port.id and ids["attached-mac"] == port.mac
        assert ids["ovn-installed"] == "true"
        sb = bindings[port.id]
        assert names[sb["chassis"]] == where and sb["up"] is True
    for other in OVN.hosts:  # and nowhere else
        for port in OVN.vm_ports():
            if OVN.host_of(port) != other.name:
                assert ovn_lab.chassis(other.name).interface(port.tap) is None


def test_localnet_patch_pair_only_where_the_network_has_a_port(ovn_lab: OvnLab) -> None:
    localnet = NET_PROVIDER.localnet
    assert localnet is not None
    int_side, ex_side = f"patch-br-int-to-{localnet}", f"patch-{localnet}-to-br-int"
    ovn1 = ovn_lab.chassis("ovn1")
    ifaces = {i["name"]: i for i in ovn1.ovs_table("Interface")}
    assert ifaces[int_side]["type"] == ifaces[ex_side]["type"] == "patch"
    assert ifaces[int_side]["options"]["peer"] == ex_side
    assert ifaces[ex_side]["options"]["peer"] == int_side
    for name in (int_side, ex_side):
        port = _port(ovn1, name)
        assert port is not None and port["external_ids"]["ovn-localnet-port"] == localnet
    assert ex_side in ovn1.vsctl("list-ports", "br-ex").split()
    assert int_side in ovn1.vsctl("list-ports", "br-int").split()
    # ovn2 has the bridge mapping but no port on the VLAN network: no patch there
    assert not any("provnet" in i["name"] for i in ovn_lab.chassis("ovn2").ovs_table("Interface"))


def test_localnet_vlan_pushed_on_the_patch_output(ovn_lab: OvnLab) -> None:
    ovn1 = ovn_lab.chassis("ovn1")
    localnet = NET_PROVIDER.localnet
    patch = ovn1.interface(f"patch-br-int-to-{localnet}")
    assert patch is not None
    ofport = patch["ofport"]  # flows name ports by number
    flows = ovn1.ofctl("-O", "OpenFlow15", "dump-flows", "br-int").splitlines()
    vid = 0x1000 | NET_PROVIDER.segmentation_id  # OFPVID_PRESENT | 101
    push = [f for f in flows if f"push_vlan:0x8100,set_field:{vid}->vlan_vid,output:{ofport}"
            in f]
    assert push and all("table=65," in f for f in push), push  # OVN 23.03: physical output
    pop = [f for f in flows if f"in_port={ofport},dl_vlan={NET_PROVIDER.segmentation_id} "
           in f and "actions=pop_vlan" in f]
    assert pop and all("table=0," in f for f in pop), pop


def test_geneve_tunnel_ports_name_the_remote_chassis(ovn_lab: OvnLab) -> None:
    for spec in OVN.hosts:
        host = ovn_lab.chassis(spec.name)
        (peer,) = [h for h in OVN.hosts if h.name != spec.name]
        name = f"ovn-{peer.name[:6]}-0"
        port = _port(host, name)
        assert port is not None, f"{spec.name}: no {name}"
        assert port["external_ids"]["ovn-chassis-id"] == f"{peer.name}@{peer.encap_ip}"
        iface = host.interface(name)
        assert iface is not None and iface["type"] == "geneve"
        assert iface["options"]["remote_ip"] == peer.encap_ip
        assert iface["options"]["key"] == "flow"
        assert iface["status"]["tunnel_egress_iface"] == "br-phy"  # the encap IP's port


def test_metadata_namespace_as_the_agent_lays_it_out(ovn_lab: OvnLab) -> None:
    md = OVN.metadata_port(NET_GENEVE.id)
    assert md is not None
    outer, inner = NET_GENEVE.metadata_veths
    for spec in OVN.hosts:
        host = ovn_lab.chassis(spec.name)
        assert NET_GENEVE.metadata_ns in host.run("ip", "netns", "list")
        iface = host.interface(outer)
        assert iface is not None and iface["external_ids"]["iface-id"] == md.id
        (link,) = json.loads(host.run("ip", "-n", NET_GENEVE.metadata_ns, "-j", "addr", "show",
                                      "dev", inner))
        assert link["address"] == md.mac
        assert {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]
                if a["family"] == "inet"} == {f"{md.ip}/26", "169.254.169.254/32"}
    # each chassis has its own /run/netns: the machine's has no ovnmeta- at all
    assert "ovnmeta-" not in ovn.sh("ip", "netns", "list")


def test_geneve_frames_cross_between_the_vm_taps(ovn_lab: OvnLab) -> None:
    """A guest on each tap (tests.lab.ovn.echo): echo and reply, both ways. The only
    wire between the chassis is the underlay veth eth2, so they went through Geneve; its kernel
    counters (OVSDB statistics are refreshed only every 5 s) show it."""
    a, b = ovn.PORT_GENEVE_A, ovn.PORT_GENEVE_B

    def underlay() -> dict[str, tuple[int, int]]:
        out = {}
        for spec in OVN.hosts:
            (link,) = json.loads(ovn_lab.chassis(spec.name).run("ip", "-j", "-s", "link", "show",
                                                                 "dev", "eth2"))
            out[spec.name] = (link["stats64"]["tx"]["packets"], link["stats64"]["rx"]["packets"])
        return out

    before = underlay()
    assert ovn.echo(ovn_lab, ovn.vm(OVN, a), ovn.vm(OVN, b)), "ovn1 -> ovn2 not answered"
    assert ovn.echo(ovn_lab, ovn.vm(OVN, b), ovn.vm(OVN, a)), "ovn2 -> ovn1 not answered"
    after = underlay()
    for name in ("ovn1", "ovn2"):  # two echoes out and two replies in, at least, each side
        assert after[name][0] - before[name][0] >= 2 and after[name][1] - before[name][1] >= 2


def test_provider_vlan_on_the_wire(ovn_lab: OvnLab) -> None:
    """The VLAN VM pings a machine on physnet1 (a packet socket on eth1's far end): the request
    reaches the wire tagged 101 (br-int's push on the localnet patch), the tagged reply comes
    back in (br-int's pop) to the guest untagged."""
    router = ovn.Endpoint("ovn1", "raw:eth1-sw", "fa:16:3e:5a:02:fe", "192.0.2.65",
                          vlan=NET_PROVIDER.segmentation_id)
    assert ovn.echo(ovn_lab, ovn.vm(OVN, ovn.PORT_VLAN_A), router), "no tagged round trip"


def test_down_and_up_again_leave_nothing_behind(ovn_lab: OvnLab) -> None:
    """Last: tear the session's OVN lab down, check, build it again (up twice in a row)."""
    ovn_lab.down()
    assert ovn.leftovers() == []
    ovn_lab.up()
    for port in OVN.vm_ports():
        iface = ovn_lab.chassis(OVN.host_of(port)).interface(port.tap)
        assert iface is not None and iface["external_ids"]["ovn-installed"] == "true"
