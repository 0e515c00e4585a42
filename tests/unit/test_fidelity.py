"""The path follows the host, not a default name; unknown is not absent (issue: fidelity).

Each case here gave a wrong answer before: a tunnel bridge not named br-tun, a host whose ip has
no -j, a host that could not be read, a probe output that made the parser raise.
"""
from __future__ import annotations

import json

import pytest

from osc_netpath.cloud.facts import PortFacts
from osc_netpath.host import probe
from osc_netpath.host.facts import HostFacts, Problem
from osc_netpath.host.parsers import iproute
from osc_netpath.path import model as m
from osc_netpath.path.model import ServerPath
from osc_netpath.path.resolve import resolve
from tests.unit import builders as b
from tests.unit.probe_fixtures import HYBRID, read

TOKEN = "5eed0f7e1e5ca1ab"


def _devices(path: ServerPath) -> list[str]:
    return [h.device for h in path.ports[0].hops]


def _hop(path: ServerPath, device: str) -> m.Hop:
    return next(h for h in path.ports[0].hops if h.device == device)


def _native(tun: str = "br-tun") -> b.HostBuilder:
    host = b.base_host(tun=tun)
    b.plug_native(host, tag=2)
    host.domains.append(b.domain(hybrid=False))
    return host


# --------------------------------------------------------------------------- the tunnel bridge


def test_tunnel_bridge_with_another_name_is_followed():
    host = _native(tun="br-tun2")
    b.vxlan(host, bridge="br-tun2")
    path = resolve(b.cloud("vxlan", 1001, hybrid=False), {"compute1": host.facts()})
    assert _devices(path)[2:] == ["br-int", "patch-tun", "patch-int", "br-tun2",
                                  "vxlan-c000020c", "eth0"]
    assert _hop(path, "br-tun2").vlan == "2 → VNI 1001"
    assert path.ports[0].problems == []


def test_tunnel_bridge_without_tunnel_ports_is_not_the_provider_bridge():
    # the only tunnel bridge has another name and no tunnel yet: before, the walk took
    # int-br-ex into br-ex and reported four false findings
    host = _native(tun="br-overlay")
    b.vxlan(host, bridge="br-overlay", port=False)
    path = resolve(b.cloud("vxlan", 1001, hybrid=False), {"compute1": host.facts()})
    assert _devices(path)[2:] == ["br-int", "patch-tun", "patch-int", "br-overlay"]
    assert "br-ex" not in _devices(path) and "eth0" not in _devices(path)  # no underlay hop
    assert path.ports[0].problems == [(
        "no vxlan tunnel port on br-overlay: no tunnel to any other host (no other host shares "
        "a network, or tunnels are not configured)")]


def test_two_agents_on_one_ovs_each_integration_bridge_its_own_tunnel_bridge():
    host = _native()
    b.vxlan(host)
    for br in ("br-int2", "br-tun2"):
        host.bridge(br)
    host.patch("br-int2", "patch-tun2", "br-tun2", "patch-int2")
    host.ovs.ports[f"tap{b.SID}"].bridge = "br-int2"  # the port belongs to the second agent
    host.ovs.bridges["br-int"].ports.remove(f"tap{b.SID}")
    host.ovs.bridges["br-int2"].ports.append(f"tap{b.SID}")
    b.vxlan(host, bridge="br-tun2", remote="192.0.2.13")
    cloud = b.cloud("vxlan", 1001, hybrid=False)
    cloud.ports[0].binding_vif_details["bridge_name"] = "br-int2"
    path = resolve(cloud, {"compute1": host.facts()})
    assert _devices(path)[2:6] == ["br-int2", "patch-tun2", "patch-int2", "br-tun2"]
    assert _hop(path, "vxlan-c000020d").peer == "192.0.2.13"
    assert path.ports[0].problems == []


def test_table_22_dropping_the_local_vlan_is_a_finding():
    host = _native()
    b.vxlan(host)
    host.flows = [f for f in host.flows if f.table != 22]
    path = resolve(b.cloud("vxlan", 1001, hybrid=False), {"compute1": host.facts()})
    assert _hop(path, "br-tun").vlan == "2 → VNI ?"
    assert path.ports[0].problems == [(
        "no flow on br-tun sends local VLAN 2 into a tunnel (table 22 drops it): no other host "
        "has a port on this network yet, or the agent has not wired it")]


def test_probe_reads_tunnel_tables_of_every_bridge_it_lists():
    from osc_netpath import trace

    req = trace.probe_request(b.cloud("vxlan", 1001), "compute1")
    line = probe.command_line(req)
    assert "--tunnel-flows 4 --tunnel-flows 22" in line and "br-tun" not in line


# --------------------------------------------------------------------------- unknown is not absent


def _fixture_cloud(status: str = "ACTIVE"):
    """The API side of the recorded hybrid port (tests/fixtures/probe: compute-1)."""
    cloud = b.cloud("vlan", 101, host="compute-1", status=status)
    port = cloud.ports[0]
    cloud.ports[0] = PortFacts(**{**port.__dict__, "id": f"{HYBRID}2b-4c11-9a0e-5b6f7c8d9e01"})
    cloud.server.instance_name = "instance-0000000a"
    return cloud


def test_unreadable_ovs_is_unknown_not_absent():
    facts = probe.parse_output("compute-1", read("probe-nonroot.txt"))
    assert facts.ovs is None and "ovs" in facts.unknown
    path = resolve(_fixture_cloud(), {"compute-1": facts})
    problems = " | ".join(path.ports[0].problems)
    for false_claim in ("not plugged", "no patch port pair", "does not exist"):
        assert false_claim not in problems
    br_int = _hop(path, "br-int")
    assert (br_int.state, br_int.source) == ("unknown", m.SRC_UNKNOWN)
    assert "permission denied on /var/run/openvswitch/db.sock" in (br_int.detail or "")
    assert _hop(path, "br-ex").source == m.SRC_UNKNOWN
    # what could be read is kept: the kernel side of the hybrid plug
    assert _hop(path, f"qvb{HYBRID}").source == m.SRC_KERNEL
    assert not any("libvirt domain" in n and "not found" in n for n in path.notes)


def test_login_refused_by_a_nologin_shell_says_what_the_host_said():
    facts = probe.parse_output("compute-1", "This account is currently not available.\n")
    said = ("no probe output (the script did not run); the host answered: "
            "'This account is currently not available.'")
    assert facts.problems == [Problem("probe", said)]
    path = resolve(_fixture_cloud(), {"compute-1": facts})
    (hop,) = path.ports[0].hops
    assert (hop.device, hop.kind) == ("instance-0000000a", m.GUEST)  # Nova's domain name
    assert "This account is currently not available." in (hop.detail or "")
    assert path.ports[0].problems == []  # nothing claimed absent
    assert any("This account is currently not available." in e for e in path.errors)


def test_unreachable_host_names_the_domain_and_the_error_once():
    cloud = _fixture_cloud(status="SHUTOFF")
    second = PortFacts(**{**cloud.ports[0].__dict__, "id": "d0d0d0d0-1111-4222-8333-944455556666"})
    cloud.ports.append(second)
    err = "compute-1 (192.0.2.11:22): cannot connect: Connection refused"
    path = resolve(cloud, {}, {"compute-1": err})
    assert [p.hops[0].device for p in path.ports] == ["instance-0000000a"] * 2
    assert [p.hops[0].state for p in path.ports] == ["SHUTOFF"] * 2  # not the port's ACTIVE
    assert path.errors == [err]
    assert all(err not in p.problems for p in path.ports)
    assert all(p.host_error == err for p in path.ports)


def test_shutoff_guest_state_is_the_servers():
    host = b.base_host()
    b.plug_hybrid(host, tag=3, with_tap=False)
    b.vlan_flows(host)
    path = resolve(b.cloud(status="SHUTOFF"), {"compute1": host.facts()})
    assert path.ports[0].hops[0].state == "SHUTOFF"


def test_libvirt_unreadable_is_no_domain_not_found():
    facts = probe.parse_output("compute-1", read("probe-nonroot.txt"))
    assert "libvirt:instance-0000000a" in facts.unknown
    facts_stopped = probe.parse_output("compute-1", read("probe-stopped.txt"))
    assert "libvirt:instance-0000000a" in facts_stopped.unknown
    path = resolve(_fixture_cloud(), {"compute-1": facts_stopped})
    assert not any("not found" in n for n in path.notes)


def test_a_domain_libvirt_does_not_have_is_absent():
    facts = probe.parse_output("compute-1", read("probe-compute1.txt"))  # asks instance-0000dead
    assert "libvirt:instance-0000dead" not in facts.unknown
    cloud = _fixture_cloud()
    cloud.server.instance_name = "instance-0000dead"
    path = resolve(cloud, {"compute-1": facts})
    assert "compute-1: libvirt domain instance-0000dead not found (server is active)" in path.notes


# --------------------------------------------------------------------------- ip without -j


def _probe_output(*sections: tuple[str, str, str, int]) -> str:
    out = [(f"@@netpath {TOKEN} begin probe@@\nversion=1\nuid=0\ntimeout=10\novs=none\n"
           f"libvirt=none\n\n@@netpath {TOKEN} stderr probe@@\n@@netpath {TOKEN} end probe 0@@\n")]
    for name, stdout, stderr, rc in sections:
        out.append(f"@@netpath {TOKEN} begin {name}@@\n{stdout}\n@@netpath {TOKEN} stderr "
                   f"{name}@@\n{stderr + chr(10) if stderr else ''}@@netpath {TOKEN} end {name} "
                   f"{rc}@@\n")
    out.append(f"@@netpath {TOKEN} done@@\n")
    return "".join(out)


NO_JSON = ("ip-link", "", 'Option "-j" is unknown, try "ip -help".', 255)


def test_ip_without_json_keeps_mac_mtu_master_state_and_peers():
    text = _probe_output(NO_JSON, ("ip-link-text", read("ip-text-link.txt"), "", 0),
                         ("ip-addr-text", read("ip-text-addr.txt"), "", 0),
                         ("ip-netns-text", read("ip-text-netns.txt"), "", 0))
    facts = probe.parse_output("compute-1", text)
    assert [p for p in facts.problems if p.source.startswith("ip")] == []  # a note, not an error
    assert facts.notes == ["ip has no JSON output (-j): kernel facts read from its text"]
    qvb, tap = facts.link(f"qvb{HYBRID}"), facts.link(f"tap{HYBRID}")
    assert qvb is not None and tap is not None
    assert (qvb.kind, qvb.master, qvb.mtu, qvb.operstate, qvb.peer_name) == (
        "veth", f"qbr{HYBRID}", 1450, "UP", f"qvo{HYBRID}")
    assert (tap.kind, tap.master, tap.slave_kind, tap.mac) == (
        "tun", f"qbr{HYBRID}", "bridge", "6e:e4:dd:70:df:15")
    eth1 = facts.link("eth1")
    assert eth1 is not None and eth1.addresses == ["192.0.2.11/24", "2001:db8::11/64"]
    assert (eth1.peer_ifindex, eth1.peer_namespace) == (2, "nptext2")
    assert facts.namespaces == ["nptext", "nptext2"]


def test_text_and_json_give_the_same_links():
    """The same devices, recorded as JSON and as text by the same iproute2 on one host."""
    from tests.unit.probe_fixtures import FIXTURES

    multi = iproute.parse_links_text(read("ip-text-link-multiline.txt"))
    one = iproute.parse_links_text(read("ip-text-link.txt"))
    assert [(x.name, x.kind, x.master, x.mtu, x.mac, x.peer_name) for x in multi] == \
        [(x.name, x.kind, x.master, x.mtu, x.mac, x.peer_name) for x in one]
    assert (FIXTURES / "ip-text-link.txt").stat().st_size > 0


def test_old_kernel_without_veth_peers_asks_ethtool():
    # an old kernel gives veths no iflink, so ip prints no @peer; ethtool's peer_ifindex says it
    text = read("ip-text-link.txt").replace(f"qvo{HYBRID}@qvb{HYBRID}", f"qvo{HYBRID}") \
        .replace(f"qvb{HYBRID}@qvo{HYBRID}", f"qvb{HYBRID}")
    sysfs = "".join(f"{n} {i} {i}\n" for n, i in (("lo", 1), (f"qbr{HYBRID}", 2),
                                                   (f"tap{HYBRID}", 3), (f"qvo{HYBRID}", 4),
                                                   (f"qvb{HYBRID}", 5)))
    out = _probe_output(NO_JSON, ("ip-link-text", text, "", 0), ("sysfs-net", sysfs, "", 0),
                        (f"ethtool:qvo{HYBRID}", "NIC statistics:\n     peer_ifindex: 5\n", "", 0),
                        (f"ethtool:qvb{HYBRID}", "NIC statistics:\n     peer_ifindex: 4\n", "", 0),
                        ("ethtool:eth1", "", "no stats available", 94))
    facts = probe.parse_output("compute-1", out)
    qvb = facts.link(f"qvb{HYBRID}")
    assert qvb is not None and qvb.peer_name == f"qvo{HYBRID}"
    assert not any(p.source.startswith("ethtool") for p in facts.problems)  # not a veth: no fact


def test_ip_missing_entirely_uses_sysfs_with_master_and_state():
    sysfs = (f"qbr{HYBRID} 2 2 1450 up 06:9f:b7:fb:0f:0b -\n"
             f"tap{HYBRID} 3 3 1500 down 6e:e4:dd:70:df:15 qbr{HYBRID}\n")
    no_ip = "timeout: failed to run command 'ip': No such file or directory"
    out = _probe_output(("ip-link", "", no_ip, 127), ("sysfs-net", sysfs, "", 0))
    facts = probe.parse_output("compute-1", out)
    tap = facts.link(f"tap{HYBRID}")
    assert tap is not None and (tap.master, tap.mtu, tap.operstate, tap.mac) == (
        f"qbr{HYBRID}", 1500, "DOWN", "6e:e4:dd:70:df:15")
    assert "addresses" in facts.unknown and "links" not in facts.unknown


# --------------------------------------------------------------------------- never raises


@pytest.mark.parametrize("mangle", [
    lambda t: t.replace('"mtu":65536', '"mtu":Infinity', 1),
    lambda t: t.replace('[["3.1.0"', '[[NaN', 1),
    lambda t: t.replace('{"data":[["3.1.0"', '{"data":' + "[" * 100000 + '["3.1.0"', 1),
    lambda t: t.replace('"headings":["ovs_version"', '"headings":42,"h":["ovs_version"', 1),
    lambda t: t.replace(f"@@netpath {TOKEN} end ip-link 0@@",
                        f"@@netpath {TOKEN} end ip-link 99999999999999999999999@@", 1),
    lambda t: t.replace('"ifindex":1,', '"ifindex":"one",', 1),
    lambda t: t.replace('"ifindex":1,', '"ifindex":1e400,', 1),
])
def test_parse_output_never_raises_and_keeps_the_rest(mangle):
    text = read("probe-compute1.txt")
    assert mangle(text) != text
    facts = probe.parse_output("compute-1", mangle(text))
    assert isinstance(facts, HostFacts)
    json.dumps(facts.problems, default=vars)
    # one bad section never hides the others
    assert facts.hostname == "compute-1" and facts.flows


def test_problem_deduplication_is_linear():
    one = ("flows:br-x:0", "", "ovs-ofctl: br-x is not a bridge or a socket", 1)
    many = [(f"flows:br-x:{i}", *one[1:]) for i in range(10000)]
    facts = probe.parse_output("compute-1", _probe_output(*many))  # type: ignore[arg-type]
    assert [p.message for p in facts.problems] == [
        "ovs-ofctl: no such bridge (or ovs-vswitchd is not running)"]


def test_killed_after_the_grace_period_is_a_timeout():
    sec = probe.Section("flows:br-int:0", "", "", 137)
    assert probe.problem_of(sec, {"timeout": "10"}) == Problem(
        "flows:br-int", "ovs-ofctl: timed out after 10s")


@pytest.mark.parametrize("bad", ["instance-1\n", "br-int\n"])
def test_names_with_a_trailing_newline_are_refused(bad):
    with pytest.raises(ValueError, match="invalid"):
        probe.command_line(probe.ProbeRequest(domains=[bad]))
    with pytest.raises(ValueError, match="invalid"):
        probe.command_line(probe.ProbeRequest(flows=[(bad, 0)]))


def test_wrongly_typed_ip_json_never_reaches_the_path_walk():
    text = json.dumps([{"ifindex": 7, "ifname": "tapx", "mtu": "1500", "master": 3,
                        "flags": "UP", "linkinfo": {"info_kind": "veth"}, "link_index": "9"},
                       {"ifindex": "8", "ifname": "bad"}])
    with pytest.raises(ValueError):
        iproute.parse_links(text)  # a device without an integer ifindex is not a device
    (link,) = iproute.parse_links(text.replace('"ifindex": "8"', '"ifindex": 8', 1))[:1]
    assert (link.mtu, link.master, link.flags, link.peer_ifindex) == (None, None, [], None)


def test_a_fact_the_walk_cannot_use_costs_that_port_only():
    host = b.base_host()
    b.plug_hybrid(host, tag=3)
    b.vlan_flows(host)
    facts = host.facts()
    facts.link(f"qbr{b.SID}").mtu = "1500"  # type: ignore[assignment,union-attr]
    cloud = b.cloud()
    cloud.networks["net-1"].mtu = 9000
    path = resolve(cloud, {"compute1": facts})
    (port,) = path.ports
    assert port.problems[0].startswith("the path could not be resolved from these facts")


def test_probe_cut_short_leaves_the_rest_unknown_not_missing():
    text = read("probe-compute1.txt")
    cut = text[: text.index(f"@@netpath {TOKEN} begin flows:br-ex:0@@")]
    path = resolve(_fixture_cloud(), {"compute-1": probe.parse_output("compute-1", cut)})
    problems = " | ".join(path.ports[0].problems)
    assert "no flow on br-ex" not in problems and "not found" not in " ".join(path.notes)
    br_ex = _hop(path, "br-ex")
    assert (br_ex.vlan, br_ex.source) == ("3 → ?", m.SRC_UNKNOWN)
    assert "ended early" in (br_ex.detail or "")
    assert _hop(path, f"qvo{HYBRID}").vlan == "3"  # what came is kept


@pytest.mark.skipif(__import__("shutil").which("dash") is None, reason="dash is not installed")
def test_probe_sh_rechecks_each_argument_by_its_kind(tmp_path):
    from tests.unit.test_probe import run_script

    bad = ["--flows", "br:int:0", "--flows", "br-int:255", "--flows", "br-int-too-long1:0",
           "--timeout", "601", "--tunnel-flows", "255", "--runtime", "lxc",
           "--domain", "inst;id", "--netns", "-n"]
    _, env = run_script(tmp_path, [*bad, "--flows", "br-int:0", "--tunnel-flows", "22"])
    assert env["rejected"].split() == bad[0::2]
    assert env["timeout"] in ("10", "none")  # the rejected 601 was never used
