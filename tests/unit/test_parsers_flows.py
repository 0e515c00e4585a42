"""dump-flows parser on neutron's VLAN/VNI translating flows recorded from real ovs-ofctl."""
from __future__ import annotations

import re

import pytest

from osc_netpath.host.parsers import flows as parser
from tests.unit.probe_fixtures import read


def test_br_ex_local_vlan_to_provider_vlan_and_flat():
    flows = parser.parse_flows(read("flows-br-ex-0.txt"), "br-ex")
    assert [(f.priority, f.match, f.actions) for f in flows] == [
        (4, {"in_port": "phy-br-ex", "dl_vlan": "1"}, ["strip_vlan", "NORMAL"]),
        (4, {"in_port": "phy-br-ex", "dl_vlan": "3"}, ["mod_vlan_vid:101", "NORMAL"]),
        (2, {"in_port": "phy-br-ex"}, ["drop"]),
        (0, {}, ["NORMAL"]),
    ]
    assert all(f.bridge == "br-ex" and f.table == 0 for f in flows)
    assert all(isinstance(f.n_packets, int) for f in flows)
    assert flows[1].raw.startswith("cookie=0x8748d41d66e3f414, duration=")


def test_br_int_provider_vlan_and_untagged_to_local_vlan():
    flows = parser.parse_flows(read("flows-br-int-0.txt"), "br-int")
    assert [(f.priority, f.match, f.actions) for f in flows] == [
        (65535, {"vlan_tci": "0x0fff/0x1fff"}, ["drop"]),  # dead VLAN 4095
        (3, {"in_port": "int-br-ex", "vlan_tci": "0x0000/0x1fff"},
         ["mod_vlan_vid:1", "resubmit(,58)"]),
        (3, {"in_port": "int-br-ex", "dl_vlan": "101"}, ["mod_vlan_vid:3", "resubmit(,58)"]),
        (2, {"in_port": "int-br-ex"}, ["drop"]),
        (0, {}, ["resubmit(,58)"]),
    ]


def test_br_tun_openflow13_forms():
    # br-tun allows OpenFlow13 only, so the probe dumped it with -O OpenFlow13.
    (vni_in, default) = parser.parse_flows(read("flows-br-tun-4.txt"), "br-tun")
    assert (vni_in.table, vni_in.match) == (4, {"tun_id": "0x3e9"})
    assert vni_in.actions == ["push_vlan:0x8100", "set_field:4098->vlan_vid", "resubmit(,9)"]
    assert default.actions == ["drop"]
    (vlan_out, _) = parser.parse_flows(read("flows-br-tun-22.txt"), "br-tun")
    assert (vlan_out.table, vlan_out.match) == (22, {"dl_vlan": "2"})
    assert vlan_out.actions == ["pop_vlan", "load:0x3e9->NXM_NX_TUN_ID[]",
                                'output:"vxlan-0a000002"', 'output:"gre-0a000003"']


def test_nested_learn_action_stays_whole():
    (learn,) = parser.parse_flows(read("flows-br-tun-10.txt"), "br-tun")
    assert len(learn.actions) == 2
    assert learn.actions[0].startswith("learn(table=20,hard_timeout=300,")
    assert learn.actions[0].endswith("load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[])")
    assert learn.actions[1] == 'output:"patch-int"'


def test_split_top():
    assert parser.split_top("a,resubmit(,58),b[0..3],\"x,y\"") == \
        ["a", "resubmit(,58)", "b[0..3]", '"x,y"']


def test_default_priority_and_non_flow_lines():
    flow = parser.parse_flow(" cookie=0x0, duration=1s, table=3, n_packets=0, n_bytes=0, "
                             "in_port=1 actions=drop", "br-x")
    assert flow is not None
    assert (flow.priority, flow.table, flow.match) == (parser.DEFAULT_PRIORITY, 3, {"in_port": "1"})
    assert parser.parse_flow("", "br-x") is None
    assert parser.parse_flows("\n\n", "br-x") == []


def test_a_broken_statistic_does_not_lose_the_flows():
    # "²".isdigit() is True but int("²") raised: the whole section was lost for one counter
    text = read("flows-br-ex-0.txt").replace("n_packets=0", "n_packets=²", 1)
    flows = parser.parse_flows(text, "br-ex")
    assert len(flows) == 4 and None in [f.n_packets for f in flows]


@pytest.mark.parametrize("field", ["table=x", "priority=4a", "priority=٣", "table=1_0",
                                   "priority=" + "9" * 30])
def test_a_table_or_priority_that_is_no_number_says_the_line(field):
    # int() read "٣" as 3 and "1_0" as 10: a guess, not what ovs-ofctl printed
    key = field.split("=")[0]
    lines = read("flows-br-ex-0.txt").splitlines()
    lines[1] = re.sub(rf"{key}=\d+", field, lines[1])
    with pytest.raises(ValueError, match=rf"line 2: {key}="):
        parser.parse_flows("\n".join(lines), "br-ex")


def test_unbalanced_text_is_split_in_linear_time():
    """A pattern with nested repeats took seconds on 24 characters; this is 200k."""
    import time

    start = time.process_time()
    for text in ("x(" + "a" * 100_000, "(" * 100_000, '"' + "a," * 50_000, "([" * 50_000):
        parser.split_top(text)
    assert time.process_time() - start < 5  # seconds of CPU, whatever the machine's load


def test_fast_and_careful_splits_agree():
    import random

    rnd = random.Random(7)
    for _ in range(20_000):
        text = "".join(rnd.choice('ab, ()[]"') for _ in range(rnd.randint(0, 14)))
        careful = [p.strip() for p in parser._split_slow(text) if p.strip()]
        assert parser.split_top(text) == careful, text
