"""``iptables-save -t nat`` of a router namespace, recorded from real iptables (record-dvr.sh)."""
from __future__ import annotations

from osc_netpath.host.parsers.nat import parse_nat
from tests.unit.probe_fixtures import read


def test_floating_ips_and_the_gateway_snat():
    rules = parse_nat(read("nat-qrouter.txt"))
    # DVR (DNAT on rfp-) and legacy floating IPs alike; OUTPUT's copy of the DNAT is the same
    assert rules.dnat == {"203.0.113.151": "203.0.113.10", "198.51.100.7": "10.77.1.5"}
    assert rules.snat == {"203.0.113.10": "203.0.113.151", "10.77.1.5": "198.51.100.7"}
    # the gateway's SNAT (-o qg-); the conntrack-DNAT rule names no device and is not counted
    assert rules.gateway_snat == ["203.0.113.150"]


def test_negated_matches_and_junk_are_not_rules():
    lines = ["-A neutron-l3-agent-float-snat ! -s 10.0.0.5/32 -j SNAT --to-source 192.0.2.9",
             "-A neutron-l3-agent-PREROUTING -d 192.0.2.9/32 -j DNAT",  # no destination
             "-A x -m comment --comment \"unbalanced -j DNAT",
             ":neutron-l3-agent-snat - [0:0]", "COMMIT"]
    text = "\n".join(lines)
    rules = parse_nat(text)
    assert (rules.dnat, rules.snat, rules.gateway_snat) == ({}, {}, [])
