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


def _docs() -> list[dict]:
    return [json.loads(line) for line in read("ovs-vsctl.json").splitlines()]


def _text(docs: list[dict]) -> str:
    return "\n".join(json.dumps(d) for d in docs)


def _damage(edit) -> str:
    docs = _docs()
    edit(docs)
    return _text(docs)


@pytest.mark.parametrize("text,needle", [
    # json.loads recursed into these: RecursionError, which no caller expects
    ("\n".join([read("ovs-vsctl.json").splitlines()[0], "[" * 100_000 + "]" * 100_000]
               + read("ovs-vsctl.json").splitlines()[2:]), "Bridge: JSON nested too deeply"),
    # Infinity is not JSON; it was read as a float
    (read("ovs-vsctl.json").replace("65534", "Infinity", 1), "Interface: Infinity is not a JSON"),
    # a row one value short was zipped with the headings and silently lost its last column
    (_damage(lambda d: d[2]["data"][0].pop()), "Port: row 0 does not match the 8 headings"),
    (_damage(lambda d: d[3]["data"].__setitem__(0, {"name": "x"})), "Interface: row 0"),
    (_damage(lambda d: d[1].__setitem__("data", "rows")), "Bridge: data is not a list"),
    (_damage(lambda d: d.__setitem__(0, ["headings"])), "Open_vSwitch: expected a JSON object"),
    # a name that is not a string became an int bridge name, for the path walk to trip on
    (_damage(lambda d: d[1]["data"][0].__setitem__(0, 3)), "Bridge: name is not a string"),
    (_damage(lambda d: d[3]["data"][0].__setitem__(1, ["set", []])), "Interface: name is not a string"),
    (_damage(lambda d: d[3]["headings"].remove("mtu")), "Interface: no column 'mtu'"),
    (_damage(lambda d: d[3]["headings"].append("extra")), "Interface: row 0 does not match"),
    # a repeated heading pointed past the end of the row: IndexError
    (_damage(lambda d: d[3]["headings"].__setitem__(0, "name")), "Interface: headings are not"),
    (_damage(lambda d: [r.pop(1) for r in d[2]["data"]] and d[2]["headings"].pop(1)),
     "Port: no column 'name'"),
    (_damage(lambda d: d[3]["data"][0].__setitem__(8, ["map", [["a", "b", "c"]]])),
     "malformed map"),
    (_damage(lambda d: d[3]["data"][0].__setitem__(8, ["map", [["a", ["set", [1]]]]])),
     "expected an atom"),
])
def test_damaged_output_is_a_value_error_naming_the_table(text, needle):
    with pytest.raises(ValueError) as err:
        parser.parse_vsctl(text)
    assert needle in str(err.value)


def test_an_out_of_range_trunk_or_tag_is_left_out():
    # 1e400 is a float infinity to json.loads: int() of it raised OverflowError
    def edit(docs: list[dict]) -> None:
        docs[2]["data"][0][2:4] = [777777, ["set", [123456, 5, True, 4096, "7"]]]

    text = _damage(edit).replace("123456", "1e400").replace("777777", "9" * 30)
    port = parser.parse_vsctl(text).ports["qvo3a9c5e1f-7d"]
    assert port.trunks == [5] and port.tag is None


def test_non_string_map_atoms_are_kept_as_text():
    text = _damage(lambda d: d[3]["data"][0].__setitem__(8, ["map", [["mtu_request", 9000],
                                                                     [["uuid", "u"], True]]]))
    name = _docs()[3]["data"][0][1]
    assert parser.parse_vsctl(text).interfaces[name].options == {"mtu_request": "9000",
                                                                 "u": "true"}
