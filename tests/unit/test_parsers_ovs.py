"""ovs-vsctl JSON parser on the four tables recorded from a real ovsdb-server (record.sh)."""
from __future__ import annotations

import json

import pytest

from osc_netpath.host.facts import Ovs
from osc_netpath.host.parsers import ovs as parser
from tests.unit.probe_fixtures import FLAT, HYBRID, NATIVE, read


@pytest.fixture(scope="module")
def ovs() -> Ovs:
    return parser.parse_vsctl(read("ovs-vsctl.json"))


def test_open_vswitch_row(ovs):
    assert ovs.ovs_version == "3.1.0"
    assert ovs.external_ids["hostname"] == "compute-1"
    assert ovs.external_ids["system-id"] == "8c0d5f42-6a1b-4e3c-9d7f-2b1a0c9e8d7f"


def test_bridges_with_ports_resolved_to_names(ovs):
    assert set(ovs.bridges) == {"br-int", "br-ex", "br-tun"}
    assert ovs.bridges["br-ex"].ports == ["br-ex", "eth1", "phy-br-ex"]
    assert ovs.bridges["br-tun"].ports == ["br-tun", "gre-0a000003", "patch-int", "vxlan-0a000002"]
    assert f"qvo{HYBRID}" in ovs.bridges["br-int"].ports
    br_int = ovs.bridges["br-int"]
    assert (br_int.datapath_type, br_int.fail_mode) == ("netdev", "secure")
    assert br_int.protocols == ["OpenFlow10", "OpenFlow13"]
    # A one-element set is written bare in OVSDB JSON: still a list here.
    assert ovs.bridges["br-tun"].protocols == ["OpenFlow13"]


def test_ports_know_their_bridge_tag_and_agent_config(ovs):
    qvo = ovs.ports[f"qvo{HYBRID}"]
    assert (qvo.bridge, qvo.tag, qvo.interfaces) == ("br-int", 3, [f"qvo{HYBRID}"])
    assert qvo.other_config == {
        "net_uuid": "6b1f0e3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b", "network_type": "vlan",
        "physical_network": "physnet1", "segmentation_id": "101", "tag": "3",
    }
    assert ovs.ports[f"tap{FLAT}"].tag == 1
    assert ovs.ports[f"tap{NATIVE}"].tag == 2
    assert ovs.ports["tapd0d0d0d0-11"].tag == 4095  # dead VLAN
    assert ovs.ports["patch-tun"].tag is None and ovs.ports["patch-tun"].trunks == []
    assert ovs.ports["eth1"].bridge == "br-ex"
    assert ovs.ports["vxlan-0a000002"].bridge == "br-tun"


def test_interfaces_types_options_and_external_ids(ovs):
    ifs = ovs.interfaces
    assert (ifs["int-br-ex"].type, ifs["int-br-ex"].options) == ("patch", {"peer": "phy-br-ex"})
    assert ifs["patch-int"].options == {"peer": "patch-tun"}
    assert ifs["br-int"].type == "internal" and ifs["br-int"].ofport == 65534
    assert ifs["eth1"].type == ""  # a system port
    vx = ifs["vxlan-0a000002"]
    assert vx.type == "vxlan"
    assert vx.options == {"df_default": "true", "egress_pkt_mark": "0", "in_key": "flow",
                          "local_ip": "10.0.0.1", "out_key": "flow", "remote_ip": "10.0.0.2"}
    assert ifs["gre-0a000003"].type == "gre"
    assert ifs["gre-0a000003"].options["remote_ip"] == "10.0.0.3"
    qvo = ifs[f"qvo{HYBRID}"]
    assert qvo.external_ids == {
        "attached-mac": "fa:16:3e:6d:01:ed", "iface-id": "3a9c5e1f-7d2b-4c11-9a0e-5b6f7c8d9e01",
        "iface-status": "active", "vm-uuid": "0f3c7a52-8b1e-4d6a-9c2f-5e4b3a291807",
    }
    assert isinstance(qvo.ofport, int) and qvo.ofport > 0
    assert (qvo.mtu, qvo.admin_state, qvo.link_state, qvo.error) == (1500, "up", "up", None)
    assert ifs[f"tap{NATIVE}"].link_state == "down"  # no VM on the tap yet


def test_empty_optional_columns_are_none(ovs):
    # The internal port moved into qrouter-: vswitchd lost it, so mtu and mac_in_use are [].
    qr = ovs.interfaces["qr-b2c3d4e5-f6"]
    assert (qr.mtu, qr.mac_in_use) == (None, None)


def test_ovsdb_json_encoding():
    assert parser.atom(["uuid", "u1"]) == "u1"
    assert parser.as_set(["set", []]) == []
    assert parser.as_set("OpenFlow13") == ["OpenFlow13"]
    assert parser.as_set(["set", [["uuid", "a"], ["uuid", "b"]]]) == ["a", "b"]
    assert parser.as_map(["map", [["peer", "x"]]]) == {"peer": "x"}
    assert parser.optional(["set", []]) is None and parser.optional(7) == 7


def test_rows_zip_headings():
    doc = json.loads(read("ovs-vsctl.json").splitlines()[0])
    assert parser.rows(doc)[0]["ovs_version"] == "3.1.0"


def test_wrong_number_of_tables_is_an_error():
    with pytest.raises(ValueError, match="expected 4"):
        parser.parse_vsctl(read("ovs-vsctl.json").splitlines()[0])
