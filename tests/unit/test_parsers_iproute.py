"""iproute parsers on `ip -j` output recorded from a real namespace topology (record.sh)."""
from __future__ import annotations

import json

import pytest

from osc_netpath.host.facts import Link
from osc_netpath.host.parsers import iproute
from osc_netpath.host.probe import split_sections
from tests.unit.probe_fixtures import HYBRID, NATIVE, QDHCP, QROUTER, read


@pytest.fixture(scope="module")
def links() -> dict[str, Link]:
    parsed = iproute.merge_addresses(iproute.parse_links(read("ip-link.json")), read("ip-addr.json"))
    return {x.name: x for x in parsed}


def test_kinds_masters_and_bridge_ports(links):
    assert links["lo"].kind is None
    assert links["eth1"].kind == "veth"
    assert links[f"qbr{HYBRID}"].kind == "bridge"
    tap = links[f"tap{HYBRID}"]
    assert (tap.kind, tap.master, tap.slave_kind) == ("tun", f"qbr{HYBRID}", "bridge")
    qvb = links[f"qvb{HYBRID}"]
    assert (qvb.master, qvb.slave_kind) == (f"qbr{HYBRID}", "bridge")
    assert links[f"tap{NATIVE}"].mtu == 1450
    assert links["br-int"].kind == "tun"  # the netdev datapath's internal port is a tap


def test_state_and_flags(links):
    assert links[f"qvo{HYBRID}"].operstate == "UP"
    # A tap with no VM behind it has no carrier: the domain is defined, not running.
    assert links[f"tap{HYBRID}"].operstate == "DOWN"
    assert "NO-CARRIER" in links[f"tap{HYBRID}"].flags


def test_veth_peer_in_same_namespace_is_named(links):
    qvb, qvo = links[f"qvb{HYBRID}"], links[f"qvo{HYBRID}"]
    assert (qvb.peer_name, qvo.peer_name) == (f"qvo{HYBRID}", f"qvb{HYBRID}")
    assert qvb.peer_netnsid is None and qvo.peer_netnsid is None


def test_veth_peer_in_other_namespace_has_index_and_nsid(links):
    tap = links["tapa1b2c3d4-e5"]  # DHCP port with ovs_use_veth: far end in qdhcp-
    assert tap.peer_name is None
    ns_dev = json.loads(read("ip-link-qdhcp.json"))[1]
    assert (ns_dev["ifname"], tap.peer_ifindex) == ("ns-a1b2c3d4-e5", ns_dev["ifindex"])
    assert tap.peer_netnsid == json.loads(read("ip-netns.json"))[1]["id"]


def test_addresses_merged_without_ipv6_link_local(links):
    assert links["eth2"].addresses == ["10.0.0.1/24"]
    assert links[f"qvb{HYBRID}"].addresses == []  # it had only fe80::/64


def test_netns_list():
    assert iproute.parse_netns(read("ip-netns.json")) == {QROUTER: 2, QDHCP: 1}
    assert iproute.parse_netns("") == {}  # old iproute2 prints nothing when there is none


def test_links_inside_a_namespace():
    ns = {x.name: x for x in iproute.parse_links(read("ip-link-qdhcp.json"), namespace=QDHCP)}
    assert set(ns) == {"lo", "ns-a1b2c3d4-e5"}
    dev = ns["ns-a1b2c3d4-e5"]
    assert (dev.namespace, dev.mac, dev.peer_netnsid) == (QDHCP, "fa:16:3e:a1:b2:c3", 0)


def test_resolve_peers_across_namespaces(links):
    ns_links = iproute.parse_links(read("ip-link-qdhcp.json"), namespace=QDHCP)
    nsids = iproute.parse_netns(read("ip-netns.json"))
    out = {(x.namespace, x.name): x for x in iproute.resolve_peers([*links.values(), *ns_links],
                                                                     nsids)}
    root_tap = out[("", "tapa1b2c3d4-e5")]
    assert (root_tap.peer_namespace, root_tap.peer_name) == (QDHCP, "ns-a1b2c3d4-e5")
    ns_dev = out[(QDHCP, "ns-a1b2c3d4-e5")]
    assert (ns_dev.peer_namespace, ns_dev.peer_name) == ("", "tapa1b2c3d4-e5")
    qvo = out[("", f"qvo{HYBRID}")]
    assert (qvo.peer_namespace, qvo.peer_ifindex) == ("", links[f"qvb{HYBRID}"].ifindex)
    # eth1's far end is in a namespace this host has no name for: left unnamed.
    assert out[("", "eth1")].peer_namespace is None and out[("", "eth1")].peer_name is None


def test_ethtool_peer_ifindex(links):
    assert iproute.parse_ethtool_peer(read("ethtool-S-qvb3a9c5e1f-7d.txt")) == \
        links[f"qvo{HYBRID}"].ifindex
    assert iproute.parse_ethtool_peer("NIC statistics:\n     rx_packets: 0\n") is None


def _sections(fixture: str) -> dict[str, str]:
    sections, _ = split_sections(read(fixture))
    return {name: sec.stdout for name, sec in sections.items()}


def test_sysfs_and_ethtool_fallback_pairs_only_mutual_veths():
    # probe-notools.txt: no ip on the host; sysfs gives ifindex/iflink, ethtool the veth peers.
    sections = _sections("probe-notools.txt")
    sysfs = iproute.parse_sysfs(sections["sysfs-net"])
    assert sysfs[f"qvo{HYBRID}"][:2] == (10, 11) and sysfs["lo"][:2] == (1, 1)
    peers = {name.split(":", 1)[1]: iproute.parse_ethtool_peer(text)
             for name, text in sections.items() if name.startswith("ethtool:")}
    assert peers == {f"qvb{HYBRID}": 10, f"qvo{HYBRID}": 11, "tapa1b2c3d4-e5": 2}
    bare = iproute.links_from_sysfs(sysfs, peers)
    assert [x.ifindex for x in bare] == sorted(x.ifindex for x in bare)
    out = {x.name: x for x in iproute.resolve_peers(bare, {})}
    assert out[f"qvo{HYBRID}"].peer_name == f"qvb{HYBRID}"
    # ifindex 2 on this side is eth1, which does not point back: the peer is in another netns.
    assert (out["tapa1b2c3d4-e5"].peer_ifindex, out["tapa1b2c3d4-e5"].peer_name) == (2, None)


def test_fill_peers_from_sysfs_iflink(links):
    sysfs = iproute.parse_sysfs(_sections("probe-compute1.txt")["sysfs-net"])
    out = {x.name: x for x in iproute.fill_peers(list(links.values()), sysfs, {})}
    # ip named qvo's peer but gave no index (same namespace); sysfs iflink adds it.
    assert links[f"qvo{HYBRID}"].peer_ifindex is None
    assert out[f"qvo{HYBRID}"].peer_ifindex == links[f"qvb{HYBRID}"].ifindex
    assert out["lo"].peer_ifindex is None


def test_not_a_list_is_an_error():
    with pytest.raises(TypeError):
        iproute.parse_links('{"ifindex": 1}')


def test_resolve_peers_from_namespace_to_namespace():
    # DVR: rfp- in qrouter- ⇄ fpr- in fip-; each side's link_netnsid is an id in its own
    # namespace's table (the root's list cannot name it): the veth pointing back is the peer
    qrouter, fip = "qrouter-5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d", \
        "fip-c3a5e7f9-2b4d-4c6e-8f0a-1b3c5d7e9f2a"
    rfp = iproute.parse_links(read("ip-link-rfp.json"), namespace=qrouter)
    fpr = iproute.parse_links(read("ip-link-fpr.json"), namespace=fip)
    out = {(x.namespace, x.name): x for x in iproute.resolve_peers(rfp + fpr, {})}
    left, right = out[(qrouter, "rfp-5a6b7c8d-9")], out[(fip, "fpr-5a6b7c8d-9")]
    assert (left.peer_namespace, left.peer_name) == (fip, "fpr-5a6b7c8d-9")
    assert (right.peer_namespace, right.peer_name) == (qrouter, "rfp-5a6b7c8d-9")
    # the same fip- read twice under two names: two veths point back, neither is named
    twice = iproute.parse_links(read("ip-link-fpr.json"), namespace="fip-other")
    out = {(x.namespace, x.name): x for x in iproute.resolve_peers(rfp + fpr + twice, {})}
    assert out[(qrouter, "rfp-5a6b7c8d-9")].peer_name is None
