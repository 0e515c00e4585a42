"""The probe: command line validation, section splitting, HostFacts from recorded real runs, and
the script's own logic (container detection, stdin safety) with stand-in tools on PATH."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from osc_netpath import serial
from osc_netpath.host import probe
from osc_netpath.host.facts import HostFacts, Problem
from tests.unit.probe_fixtures import FIXTURES, FLAT, HYBRID, NATIVE, QDHCP, QROUTER, read

TOKEN = "5eed0f7e1e5ca1ab"  # record.sh's token
SUDO = " — set netpath sudo: true"


# --------------------------------------------------------------------------- command line


def test_command_line():
    req = probe.ProbeRequest(domains=["instance-0000000a", "instance-0000000a"],
                             flows=[("br-int", 0), ("br-tun", 22), ("br-int", 0)], token=TOKEN)
    assert probe.command_line(req) == (
        f"sh -s -- --token {TOKEN} --timeout 10 --flows br-int:0 --flows br-tun:22 "
        "--domain instance-0000000a"
    )


def test_command_line_with_everything_and_sudo():
    req = probe.ProbeRequest(
        domains=["instance-0000000b"], flows=[("br-ex", 0)], namespaces=[QDHCP],
        neutron_namespaces=True, runtime="podman", ovs_container="openvswitch_vswitchd",
        libvirt_container="nova_virtqemud", sudo=True, timeout=30, token=TOKEN)
    line = probe.command_line(req)
    assert line.startswith("sudo -n sh -s -- ")
    assert shlex.split(line)[5:] == [
        "--token", TOKEN, "--timeout", "30", "--runtime", "podman",
        "--ovs-container", "openvswitch_vswitchd", "--libvirt-container", "nova_virtqemud",
        "--neutron-netns", "--netns", QDHCP, "--flows", "br-ex:0", "--domain", "instance-0000000b",
    ]


def test_not_tunnel_bridges_go_with_tunnel_tables_only():
    req = probe.ProbeRequest(tunnel_tables=[4], not_tunnel=["br-int", "br-ex", "br-int"],
                             token=TOKEN)
    assert probe.command_line(req).endswith(
        "--tunnel-flows 4 --not-tunnel br-int --not-tunnel br-ex")
    assert "--not-tunnel" not in probe.command_line(
        probe.ProbeRequest(not_tunnel=["br-int"], token=TOKEN))
    with pytest.raises(ValueError, match="invalid bridge name"):
        probe.command_line(probe.ProbeRequest(tunnel_tables=[4], not_tunnel=["br;ex"]))


def test_default_token_is_random_hex():
    a, b = probe.ProbeRequest(), probe.ProbeRequest()
    assert a.token != b.token and probe.TOKEN_RE.match(a.token)


@pytest.mark.parametrize("field,value", [
    ("domains", ["instance-1; rm -rf /"]),
    ("domains", ["-x"]),
    ("domains", ["a" * 65]),
    ("domains", [""]),
    ("domains", ["inst$(id)"]),
    ("flows", [("br-int-too-long1", 0)]),  # 16 characters: over IFNAMSIZ
    ("flows", [("br/int", 0)]),
    ("flows", [("..", 0)]),
    ("flows", [("br int", 0)]),
    ("flows", [("br-int", 255)]),
    ("flows", [("br-int", -1)]),
    ("flows", [("br-int", True)]),
    ("flows", [("br-int", "0")]),
    ("namespaces", ["qdhcp-x y"]),
    ("runtime", "lxc"),
    ("ovs_container", "-it"),
    ("libvirt_container", "nova libvirt"),
    ("token", "XYZ"),
    ("timeout", 0),
    ("timeout", "10"),
])
def test_invalid_arguments_are_refused(field, value):
    with pytest.raises(ValueError, match="invalid"):
        probe.command_line(probe.ProbeRequest(**{field: value}))


def test_max_length_names_pass():
    req = probe.ProbeRequest(domains=["a" * 64], flows=[("b" * 15, 254)], token=TOKEN)
    assert f"--flows {'b' * 15}:254" in probe.command_line(req)


def test_script_is_the_packaged_probe_sh():
    text = probe.script()
    path = Path(probe.__file__).with_name("probe.sh")
    assert text == path.read_text(encoding="utf-8")
    assert "@@netpath %s %s@@" in text


@pytest.mark.skipif(shutil.which("dash") is None, reason="dash is not installed")
def test_script_is_posix_sh():
    subprocess.run(["dash", "-n"], input=probe.script(), text=True, check=True)


# --------------------------------------------------------------------------- sections


def test_split_sections_keeps_stdout_verbatim():
    sections, done = probe.split_sections(read("probe-compute1.txt"))
    assert done
    assert sections["virsh-dumpxml:instance-0000000a"].stdout == \
        read("dumpxml-instance-0000000a.xml")
    assert sections["hostname"] == probe.Section("hostname", "compute-1\n", "", 0)
    assert list(sections)[:6] == ["probe", "hostname", "ip-link", "ip-addr", "ip-netns",
                                  "sysfs-net"]


def test_split_sections_last_attempt_wins():
    text = read("probe-compute1.txt")
    # br-tun speaks OpenFlow13 only: the first attempt failed, the probe retried.
    assert text.count(f"@@netpath {TOKEN} begin flows:br-tun:22@@") == 2
    assert "version negotiation failed" in text
    sec = probe.split_sections(text)[0]["flows:br-tun:22"]
    assert (sec.rc, sec.stderr) == (0, "")
    assert "load:0x3e9->NXM_NX_TUN_ID[]" in sec.stdout


def test_markers_with_another_token_are_content():
    text = read("probe-compute1.txt").replace(
        "<name>instance-0000000a</name>",
        "<name>instance-0000000a</name>\n@@netpath 0000 end virsh-dumpxml:instance-0000000a 0@@")
    sec = probe.split_sections(text)[0]["virsh-dumpxml:instance-0000000a"]
    assert "@@netpath 0000 end" in sec.stdout and sec.rc == 0


# --------------------------------------------------------------------------- recorded runs


@pytest.fixture(scope="module")
def compute1() -> HostFacts:
    return probe.parse_output("compute-1", read("probe-compute1.txt"))


def test_compute1_links_and_peers(compute1):
    assert compute1.hostname == "compute-1"
    assert compute1.namespaces == [QROUTER, QDHCP]
    assert {x.namespace for x in compute1.links} == {"", QDHCP, QROUTER}
    qvb = compute1.link(f"qvb{HYBRID}")
    assert qvb is not None and (qvb.master, qvb.peer_name) == (f"qbr{HYBRID}", f"qvo{HYBRID}")
    dhcp = compute1.link("tapa1b2c3d4-e5")
    assert dhcp is not None and (dhcp.peer_namespace, dhcp.peer_name) == (QDHCP, "ns-a1b2c3d4-e5")
    ns_dev = compute1.link("ns-a1b2c3d4-e5", QDHCP)
    assert ns_dev is not None
    assert (ns_dev.peer_namespace, ns_dev.peer_name, ns_dev.addresses) == \
        ("", "tapa1b2c3d4-e5", ["198.51.100.2/24"])
    qr = compute1.link("qr-b2c3d4e5-f6", QROUTER)
    assert qr is not None and qr.addresses == ["10.10.0.1/24"]
    eth2 = compute1.link("eth2")
    assert eth2 is not None and eth2.addresses == ["10.0.0.1/24"]


def test_compute1_ovs(compute1):
    ovs = compute1.ovs
    assert ovs is not None and set(ovs.bridges) == {"br-int", "br-ex", "br-tun"}
    assert [(p, ovs.ports[p].tag) for p in (f"qvo{HYBRID}", f"tap{FLAT}", f"tap{NATIVE}",
                                              "tapd0d0d0d0-11")] == \
        [(f"qvo{HYBRID}", 3), (f"tap{FLAT}", 1), (f"tap{NATIVE}", 2), ("tapd0d0d0d0-11", 4095)]
    assert ovs.interfaces["phy-br-ex"].options == {"peer": "int-br-ex"}


def test_compute1_flows(compute1):
    assert sorted({(f.bridge, f.table) for f in compute1.flows}) == [
        ("br-ex", 0), ("br-int", 0), ("br-tun", 4), ("br-tun", 10), ("br-tun", 22)]
    translating = [(f.bridge, f.match, f.actions[0]) for f in compute1.flows
                   if f.priority in (1, 3, 4) and f.table in (0, 4, 22)]
    assert translating == [
        ("br-int", {"in_port": "int-br-ex", "vlan_tci": "0x0000/0x1fff"}, "mod_vlan_vid:1"),
        ("br-int", {"in_port": "int-br-ex", "dl_vlan": "101"}, "mod_vlan_vid:3"),
        ("br-ex", {"in_port": "phy-br-ex", "dl_vlan": "1"}, "strip_vlan"),
        ("br-ex", {"in_port": "phy-br-ex", "dl_vlan": "3"}, "mod_vlan_vid:101"),
        ("br-tun", {"tun_id": "0x3e9"}, "push_vlan:0x8100"),
        ("br-tun", {"dl_vlan": "2"}, "pop_vlan"),
    ]


def test_compute1_domains_and_the_one_problem(compute1):
    assert [(d.name, d.state, [i.target_dev for i in d.interfaces]) for d in compute1.domains] == [
        ("instance-0000000a", "shut off", [f"tap{HYBRID}", f"tap{FLAT}"]),
        ("instance-0000000b", "shut off", [f"tap{NATIVE}"]),
    ]
    assert compute1.problems == [
        Problem("libvirt:instance-0000dead", "virsh: domain not defined on this host")]


def test_facts_round_trip_through_json(compute1):
    assert serial.from_data(HostFacts, serial.to_data(compute1)) == compute1


def test_nonroot_run_reports_permissions():
    facts = probe.parse_output("compute-1", read("probe-nonroot.txt"))
    assert facts.ovs is None and facts.flows == [] and facts.domains == []
    assert facts.link(f"qvo{HYBRID}") is not None  # ip works for anyone
    assert facts.problems == [
        Problem(f"ip:{QDHCP}", f"ip: cannot enter the namespace (operation not permitted){SUDO}"),
        Problem(f"ip:{QROUTER}", f"ip: cannot enter the namespace (operation not permitted){SUDO}"),
        Problem("ovs", f"ovs: permission denied on /var/run/openvswitch/db.sock{SUDO}"),
        Problem("flows:br-int", f"ovs: permission denied on /var/run/openvswitch/br-int.mgmt{SUDO}"),
        Problem("flows:br-ex", f"ovs: permission denied on /var/run/openvswitch/br-ex.mgmt{SUDO}"),
        Problem("flows:br-tun", f"ovs: permission denied on /var/run/openvswitch/br-tun.mgmt{SUDO}"),
        *(Problem(f"libvirt:{d}",
                  f"libvirt: permission denied on /var/run/libvirt/libvirt-sock-ro{SUDO}")
          for d in ("instance-0000000a", "instance-0000000b", "instance-0000dead")),
    ]


def test_stopped_services():
    facts = probe.parse_output("compute-1", read("probe-stopped.txt"))
    assert facts.problems == [
        Problem("ovs", "ovs: ovsdb-server is not running (no /var/run/openvswitch/db.sock)"),
        Problem("flows:br-int", "ovs-ofctl: no such bridge (or ovs-vswitchd is not running)"),
        Problem("libvirt:instance-0000000a",
                "libvirt: libvirtd is not running (no /var/run/libvirt/libvirt-sock-ro)"),
    ]
    assert [x.name for x in facts.links] == ["lo", "eth1", "eth2"]


def test_missing_tools_fall_back_to_sysfs_and_ethtool():
    facts = probe.parse_output("compute-1", read("probe-notools.txt"))
    assert facts.ovs is None and facts.namespaces == []
    assert facts.problems[:3] == [Problem("ip", "ip: not installed"),
                                  Problem(f"ip:{QDHCP}", "ip: not installed"),
                                  Problem(f"ip:{QROUTER}", "ip: not installed")]
    assert Problem("ovs", "ovs-vsctl: not installed (not on the host, no openvswitch container "
                   "found)") in facts.problems
    assert Problem("libvirt:instance-0000000a", "virsh: not installed (not on the host, no "
                   "libvirt container found)") in facts.problems
    qvb = facts.link(f"qvb{HYBRID}")
    assert qvb is not None and (qvb.kind, qvb.peer_name) == ("veth", f"qvo{HYBRID}")
    assert facts.link(f"tap{HYBRID}") is not None


def test_kolla_style_host():
    sections, _ = probe.split_sections(read("probe-kolla.txt"))
    env = sections["probe"].stdout
    assert "ovs=docker:openvswitch_vswitchd\n" in env and "libvirt=docker:nova_libvirt\n" in env
    facts = probe.parse_output("compute-1", read("probe-kolla.txt"))
    assert facts.problems == []
    assert facts.ovs is not None and facts.ovs.ports[f"qvo{HYBRID}"].tag == 3
    assert [f.actions for f in facts.flows if f.match.get("dl_vlan") == "3"] == \
        [["mod_vlan_vid:101", "NORMAL"]]
    assert [d.name for d in facts.domains] == ["instance-0000000b"]


def test_truncated_output_keeps_what_came():
    text = read("probe-compute1.txt")
    cut = text[: text.index(f"@@netpath {TOKEN} begin flows:br-ex:0@@") + 60]
    facts = probe.parse_output("compute-1", cut)
    assert facts.ovs is not None and facts.link(f"qvo{HYBRID}") is not None
    assert Problem("probe", "probe output ended early (timeout or killed)") in facts.problems
    assert Problem("flows:br-ex", "ovs-ofctl: output cut short (the probe was interrupted)") \
        in facts.problems


def test_no_output():
    facts = probe.parse_output("compute-1", "")
    assert facts.problems == [Problem("probe", "no probe output (the script did not run)")]


def test_unparsable_section_is_a_problem():
    text = read("probe-compute1.txt").replace('{"data":[["3.1.0"', '{"data":[["3.1.0"garbage', 1)
    facts = probe.parse_output("compute-1", text)
    assert facts.ovs is None
    (problem,) = [p for p in facts.problems if p.source == "ovs"]
    assert problem.message.startswith("could not parse ovs-vsctl output (ovs-vsctl): ")


# --------------------------------------------------------------------------- the script itself

DASH = shutil.which("dash")
needs_dash = pytest.mark.skipif(DASH is None, reason="dash is not installed")

# A stand-in container runtime: `ps` lists names, `exec` says what it would run, after reading
# all of its stdin -- which must not be the probe script.
FAKE_RUNTIME = """#!/bin/sh
case $1 in
    ps) [ -n "$FAKE_PS_FAIL" ] && { echo "Cannot connect to the daemon" >&2; exit 1; }
        printf '%s\\n' $FAKE_NAMES ;;
    exec) shift; cat >/dev/null
        case $1 in missing) echo "Error response from daemon: No such container: $1" >&2
            exit 1 ;; esac
        [ -n "$FAKE_SLEEP" ] && sleep "$FAKE_SLEEP"
        echo "@@netpath 0000 end ovs-vsctl 0@@"
        echo "$(basename "$0") exec $*" ;;
esac
"""


def run_script(tmp_path: Path, args: list[str], runtimes: tuple[str, ...] = (),
               without: tuple[str, ...] = (),
               **env: str) -> tuple[dict[str, probe.Section], dict[str, str]]:
    """Run probe.sh under dash with PATH = stand-ins + plain utilities (+ the sbin dirs the script
    adds itself; ovs-vsctl, virsh and docker live elsewhere)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("timeout", "uname", "id", "cat", "sleep", "basename"):
        if tool not in without:
            (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    for rt in runtimes:
        (bin_dir / rt).write_text(FAKE_RUNTIME)
        (bin_dir / rt).chmod(0o755)
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.run(
        [DASH or "dash", "-s", "--", "--token", TOKEN, *args], input=probe.script(), text=True,
        capture_output=True, timeout=60, cwd=tmp_path,
        env={"PATH": ":".join(filter(None, [str(bin_dir), env.pop("EXTRA_PATH", "")])),
             "HOME": str(tmp_path), **env}, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # the probe writes nothing
    sections, done = probe.split_sections(proc.stdout)
    assert done
    env = dict(line.split("=", 1) for line in sections["probe"].stdout.splitlines() if line)
    return sections, env


@needs_dash
def test_kolla_containers_detected_with_docker(tmp_path):
    sections, env = run_script(
        tmp_path, ["--domain", "instance-0000000a", "--flows", "br-int:0"], ("docker",),
        FAKE_NAMES="kolla_toolbox openvswitch_db openvswitch_vswitchd nova_libvirt")
    assert (env["ovs"], env["libvirt"]) == ("docker:openvswitch_vswitchd", "docker:nova_libvirt")
    vsctl = sections["ovs-vsctl"].stdout
    assert vsctl.startswith("@@netpath 0000 end ovs-vsctl 0@@\n")  # foreign token: content
    # the container has `timeout` (the stand-in says yes): commands are timed out in there
    inner = "timeout -k 2 10"
    assert f"docker exec openvswitch_vswitchd {inner} ovs-vsctl --timeout=10 --format=json" in vsctl
    assert sections["flows:br-int:0"].stdout.endswith(
        f"docker exec openvswitch_vswitchd {inner} ovs-ofctl --timeout=10 --names dump-flows "
        "br-int table=0\n")
    assert sections["virsh-dumpxml:instance-0000000a"].stdout.endswith(
        f"docker exec nova_libvirt {inner} virsh -r -c qemu:///system dumpxml "
        "--domain instance-0000000a\n")
    assert "virsh-domstate:instance-0000000a" in sections  # the script went on after the execs


@needs_dash
def test_tripleo_podman_libvirt_only(tmp_path):
    _, env = run_script(tmp_path, ["--domain", "instance-0000000a"], ("podman",),
                        FAKE_NAMES="ovn_controller nova_virtqemud nova_compute")
    assert (env["ovs"], env["libvirt"]) == ("none", "podman:nova_virtqemud")


@needs_dash
def test_forced_runtime_and_container(tmp_path):
    sections, env = run_script(
        tmp_path, ["--runtime", "podman", "--ovs-container", "my_ovs"], ("docker", "podman"),
        FAKE_NAMES="openvswitch_vswitchd")
    assert env["ovs"] == "podman:my_ovs"
    assert "podman exec my_ovs timeout -k 2 10 ovs-vsctl" in sections["ovs-vsctl"].stdout


@needs_dash
def test_runtime_host_never_uses_containers(tmp_path):
    sections, env = run_script(tmp_path, ["--runtime", "host"], ("docker",),
                               FAKE_NAMES="openvswitch_vswitchd")
    assert env["ovs"] == "none"
    assert probe.problem_of(sections["ovs-vsctl"], env) == Problem(
        "ovs", "ovs-vsctl: not installed (not on the host, no openvswitch container found)")


@needs_dash
def test_runtime_daemon_down_means_no_container(tmp_path):
    _, env = run_script(tmp_path, [], ("docker",), FAKE_NAMES="openvswitch_vswitchd",
                        FAKE_PS_FAIL="1")
    assert env["ovs"] == "none"


@needs_dash
def test_forced_container_missing(tmp_path):
    sections, env = run_script(tmp_path, ["--ovs-container", "missing"], ("docker",))
    assert env["ovs"] == "docker:missing"
    problem = probe.problem_of(sections["ovs-vsctl"], env)
    assert problem == Problem("ovs", "ovs: container missing not found or not running (docker)")


@needs_dash
def test_forced_container_without_runtime(tmp_path):
    sections, env = run_script(tmp_path, ["--ovs-container", "openvswitch_vswitchd"])
    assert env["ovs"] == "docker:openvswitch_vswitchd"
    assert probe.problem_of(sections["ovs-vsctl"], env) == Problem(
        "ovs", "docker: not installed (needed to reach container openvswitch_vswitchd)")


@needs_dash
def test_command_timeout(tmp_path):
    sections, env = run_script(tmp_path, ["--timeout", "1"], ("docker",),
                               FAKE_NAMES="openvswitch_vswitchd", FAKE_SLEEP="5")
    assert sections["ovs-vsctl"].rc == 124
    assert probe.problem_of(sections["ovs-vsctl"], env) == Problem(
        "ovs", "ovs-vsctl: timed out after 1s in container openvswitch_vswitchd")


@needs_dash
@pytest.mark.skipif(shutil.which("ovs-vsctl") is None or shutil.which("ovs-ofctl") is None,
                    reason="Open vSwitch's tools are not installed")
@pytest.mark.parametrize("without", [(), ("timeout",)])
def test_ovs_tools_on_the_host_time_out_by_their_own_timeout(tmp_path, without):
    """On the host the OVS tools run without `timeout` around them (a fork less each): their
    own --timeout ends a database or a bridge that never answers, and the section says timed
    out after the seconds asked, as `timeout` would have; on a host without `timeout` too."""
    import socket
    import time

    rundir = tmp_path / "run"
    rundir.mkdir()
    listeners = []
    for name in ("db.sock", "br-x.mgmt"):  # accept, never answer
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(rundir / name))
        sock.listen(4)
        listeners.append(sock)
    bin_dir = tmp_path / "ovs-bin"
    bin_dir.mkdir()
    for tool in ("ovs-vsctl", "ovs-ofctl"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    started = time.monotonic()
    try:
        sections, env = run_script(tmp_path, ["--timeout", "1", "--flows", "br-x:0"],
                                   without=without, OVS_RUNDIR=str(rundir),
                                   EXTRA_PATH=str(bin_dir))
    finally:
        for sock in listeners:
            sock.close()
    assert time.monotonic() - started < 8  # not 10 s per tool: their alarm() fired
    assert (env["ovs"], env["timeout"]) == ("host", "none" if without else "1")
    for name in ("ovs-vsctl", "flows:br-x:0"):
        assert sections[name].rc == 142, sections[name]
    assert probe.problem_of(sections["ovs-vsctl"], env) == Problem(
        "ovs", "ovs-vsctl: timed out after 1s")


@needs_dash
def test_script_rejects_bad_arguments_itself(tmp_path):
    _, env = run_script(tmp_path, ["--domain", "-x", "--flows", "br;id:0", "--bogus", "1"])
    assert env["rejected"] == "--domain --flows --bogus"


def test_fixture_dir_is_complete():
    names = {p.name for p in FIXTURES.iterdir()}
    assert {"record.sh", "probe-compute1.txt", "probe-nonroot.txt", "probe-notools.txt",
            "probe-kolla.txt", "probe-stopped.txt"} <= names
    assert os.access(FIXTURES / "record.sh", os.R_OK)


def _with_section(name: str, stdout: str, stderr: str, rc: int) -> str:
    """probe-compute1.txt with one more section, as probe.sh prints it, before its end."""
    extra = (f"@@netpath {TOKEN} begin {name}@@\n{stdout}\n@@netpath {TOKEN} stderr {name}@@\n"
             f"{stderr}@@netpath {TOKEN} end {name} {rc}@@\n")
    return read("probe-compute1.txt").replace(f"@@netpath {TOKEN} done@@", extra +
                                              f"@@netpath {TOKEN} done@@")


def test_nat_rules_of_a_router_namespace():
    facts = probe.parse_output("compute-1", _with_section(
        f"nat:{QROUTER}", read("nat-qrouter.txt"), "", 0))
    assert facts.nat[QROUTER].dnat["198.51.100.7"] == "10.77.1.5"
    assert f"nat:{QROUTER}" not in facts.unknown


def test_nat_rules_not_readable_are_unknown_with_the_tools_words():
    err = "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: " \
          "Permission denied (you must be root)\n"
    facts = probe.parse_output("compute-1", _with_section(f"nat:{QROUTER}", "", err, 1))
    assert QROUTER not in facts.nat
    assert facts.unknown[f"nat:{QROUTER}"] == "iptables: permission denied — set netpath sudo: true"
    assert not [p for p in facts.problems if p.source.startswith("nat")]  # a port's fact


def test_nat_namespace_is_validated():
    assert probe.probe_args(probe.ProbeRequest(token=TOKEN, nat=[QROUTER]))[-2:] == [
        "--nat", QROUTER]
    with pytest.raises(ValueError, match="invalid network namespace"):
        probe.probe_args(probe.ProbeRequest(token=TOKEN, nat=["qrouter-x; reboot"]))


def test_nat_namespace_not_enterable_says_so():
    err = "nsenter: reassociate to namespace 'ns/net' failed: Operation not permitted\n"
    facts = probe.parse_output("compute-1", _with_section(f"nat:{QROUTER}", "", err, 1))
    assert facts.unknown[f"nat:{QROUTER}"] == (
        "iptables-save: cannot enter the namespace (operation not permitted) — set netpath sudo: "
        "true")
