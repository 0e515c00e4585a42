"""ML2/OVN resolution on probe outputs recorded from real ovn-controller chassis
(tests/fixtures/ovn/, re-recorded by record.sh there from the lab of tests/lab/ovn.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from osc_netpath.host import probe
from osc_netpath.path import model as m
from osc_netpath.path.resolve import resolve
from tests.lab.ovn import OVN, cloud_facts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ovn"
TOPOLOGY = json.loads((FIXTURES / "topology.json").read_text())


def _path(server: str) -> m.ServerPath:
    host = OVN.server(server).host
    facts = probe.parse_output(host, (FIXTURES / f"probe-{host}.txt").read_text())
    return resolve(cloud_facts(OVN, server), {host: facts})


def _by_network(path: m.ServerPath, network_type: str) -> m.PortPath:
    return next(p for p in path.ports if p.segment.startswith(network_type))


def test_recorded_probe_reads_the_chassis():
    facts = probe.parse_output("ovn1", (FIXTURES / "probe-ovn1.txt").read_text())
    assert facts.ovn_controller == TOPOLOGY["hosts"]["ovn1"]["observed"]["connection_status"]
    assert facts.ovs is not None
    assert facts.ovs.external_ids["ovn-encap-ip"] == TOPOLOGY["hosts"]["ovn1"]["encap_ip"]
    assert all(p.source.startswith("libvirt") for p in facts.problems)  # no libvirt in the lab


def test_geneve_port_from_the_recording():
    path = _path("ovn-vm-a")
    port = _by_network(path, "geneve")
    tunnel = TOPOLOGY["hosts"]["ovn1"]["observed"]["tunnels"][0]
    key = TOPOLOGY["networks"][OVN.networks[0].id]["datapath_tunnel_key"]
    hops = [(h.device, h.kind, h.vlan, h.peer) for h in port.hops]
    assert hops[3] == (tunnel["port"], m.TUNNEL, f"VNI {key}", tunnel["remote_ip"])
    assert [h.kind for h in port.hops] == [m.GUEST, m.TAP, m.OVS_BRIDGE, m.TUNNEL, m.OVS_PORT,
                                           m.NIC]
    assert port.hops[-1].device == TOPOLOGY["hosts"]["ovn1"]["underlay_nic"]
    assert port.problems == []


def test_vlan_port_from_the_recording():
    port = _by_network(_path("ovn-vm-a"), "vlan")
    (patch,) = [x for x in TOPOLOGY["hosts"]["ovn1"]["observed"]["localnet_patches"]
                if x["port"].startswith("patch-br-int-to-")]
    assert [(h.device, h.kind) for h in port.hops[2:]] == [
        ("br-int", m.OVS_BRIDGE), (patch["port"], m.PATCH), (patch["peer"], m.PATCH),
        ("br-ex", m.OVS_BRIDGE), (TOPOLOGY["hosts"]["ovn1"]["uplinks"]["br-ex"], m.NIC)]
    br_ex = port.hops[5]
    assert (br_ex.vlan, br_ex.source) == ("VLAN 101", m.SRC_FLOWS)  # read from br-int table 65
    assert port.problems == []


@pytest.mark.parametrize("server", ["ovn-vm-a", "ovn-vm-b"])
def test_metadata_namespace_from_the_recording(server):
    port = _by_network(_path(server), "geneve")
    outside, inside = OVN.networks[0].metadata_veths
    assert f"({outside} ⇄ {inside} 169.254.169.254)" in (port.hops[2].detail or "")
