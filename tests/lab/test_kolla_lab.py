"""`netpath show` on a kolla-style host: OVS and libvirt in real podman containers (kolla.py).

The real ``openstack`` CLI traces lab-vm-kolla over real SSH into kolla1, whose host has no OVS
tools: the probe must find the containers itself and go through ``docker exec`` (podman-docker)
or ``podman exec``. Every hop is compared with ground truth read another way: the kernel through
nsenter, OVS through ``podman exec openvswitch_vswitchd``, the domain through ``podman exec
nova_libvirt``; and the probe's own section must say it went through the container.
"""
from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree

from osc_netpath.host import probe
from osc_netpath.host.transport import run_probes
from osc_netpath.path import model as m
from tests.lab import kolla
from tests.lab.lab import sh
from tests.lab.topology import KOLLA, KOLLA1, VM_KOLLA

pytestmark = pytest.mark.lab


def _ssh(lab, script: str) -> str:
    results, _ = run_probes([(lab.ssh_target(KOLLA1.name), "sh -s")], script)
    return results[KOLLA1.name].stdout or ""


def test_only_the_containers_have_ovs_and_virsh(lab, kolla_host):
    seen = _ssh(lab, "for t in ovs-vsctl ovs-ofctl virsh; do command -v $t || echo no $t; done\n"
                     "docker ps --format '{{.Names}}' 2>/dev/null | sort\n").split("\n")
    assert seen[:3] == ["no ovs-vsctl", "no ovs-ofctl", "no virsh"]
    assert [n for n in seen[3:] if n] == sorted(kolla.CONTAINERS)
    # the daemons really are the containers' PID 1, in PID namespaces of their own
    for container, daemon in ((kolla.DB, "ovsdb-server"), (kolla.VSWITCHD, "ovs-vswitchd")):
        procs = kolla_host.processes_in(container)
        assert procs[kolla_host.container_pid(container)].split()[0].endswith(daemon)
        assert kolla_host.anchor_pid not in procs


@contextlib.contextmanager
def _no_docker(host: kolla.KollaHost) -> Iterator[None]:
    """A TripleO-like host for a while: podman, and no `docker` on the session's PATH."""
    paths = kolla._on_session_path(("docker",))
    for path in paths:
        host.run("mount", "--bind", str(host.dir / "not-here"), path)
    try:
        yield
    finally:
        for path in paths:
            host.run("umount", path)


RUNTIMES = {  # id: (netpath settings, runtime the probe must use, hide docker)
    "docker-auto": ({}, "docker", False),
    "podman-setting": ({"container_runtime": "podman"}, "podman", False),
    "podman-auto": ({}, "podman", True),
}


@pytest.mark.parametrize("case", list(RUNTIMES))
def test_show_traces_through_the_containers(lab, kolla_host, kolla_api, lab_openstack,
                                            tmp_path, case):
    settings, runtime, hide_docker = RUNTIMES[case]
    record = tmp_path / "kolla.json"
    with _no_docker(kolla_host) if hide_docker else contextlib.nullcontext():
        done = lab_openstack("netpath", "show", VM_KOLLA.name, "-f", "json",
                             "--record", str(record), settings=settings,
                             cloud_entry=kolla_api.cloud_entry())
    assert done.returncode == 0, done.stderr
    (out,) = json.loads(record.read_text())["traces"][0]["probes"].values()
    sections, finished = probe.split_sections(out)
    env = dict(ln.split("=", 1) for ln in sections["probe"].stdout.splitlines() if "=" in ln)
    assert finished and (env["ovs"], env["libvirt"]) == (
        f"{runtime}:{kolla.VSWITCHD}", f"{runtime}:{kolla.LIBVIRT}")
    rows = json.loads(done.stdout)
    truth = _truth(kolla_host)
    assert sorted({r["Port"] for r in rows}) == sorted(truth)
    for port_id, hops in truth.items():
        assert [(r["Device"], r["Kind"], r["Bridge"], r["VLAN"], r["MAC"], r["MTU"], r["State"],
                 r["Source"]) for r in rows if r["Port"] == port_id] == hops


def _truth(host: kolla.KollaHost) -> dict[str, list[tuple[Any, ...]]]:
    """Every hop of every port of lab-vm-kolla, from kolla1 itself: the domain XML and OVS
    through `podman exec`, devices from the kernel (nsenter). The topology only names the
    server, the networks and the bridge mappings (what the API says)."""
    links = {link["ifname"]: link for link in host.links()}
    xml = ElementTree.fromstring(host.exec_in(kolla.LIBVIRT, "virsh", "-r", "dumpxml",
                                              VM_KOLLA.instance_name))
    ifaces = {i["name"]: i for i in host.ovs_table("Interface")}
    ports = {p["_uuid"]: p for p in host.ovs_table("Port")}
    bridge_of = {ports[u]["name"]: b["name"] for b in host.ovs_table("Bridge")
                 for u in _set(b["ports"])}
    tags = {p["name"]: p["tag"] for p in ports.values()}
    flows = {br: host.ofctl("dump-flows", br, "table=0")
             for br in set(KOLLA1.bridge_mappings.values())}

    def kernel(name: str, kind: str, bridge: str | None) -> tuple[Any, ...]:
        link = links[name]
        return (name, kind, bridge, None, link["address"], link["mtu"], link["operstate"],
                m.SRC_KERNEL)

    def ovs(name: str, kind: str, vlan: str | None) -> tuple[Any, ...]:
        i = ifaces[name]
        if kind == m.PATCH:  # no device behind a patch port: only its OVS link state
            return (name, kind, bridge_of[name], None, None, None, i["link_state"], m.SRC_OVSDB)
        return (name, kind, bridge_of[name], vlan, i["mac_in_use"], i["mtu"], i["link_state"],
                m.SRC_OVSDB)

    truth = {}
    for nic in xml.iter("interface"):
        mac, tap = nic.find("mac").get("address"), nic.find("target").get("dev")
        qvo = next(n for n, i in ifaces.items() if i["external_ids"].get("attached-mac") == mac)
        port_id = ifaces[qvo]["external_ids"]["iface-id"]
        net = KOLLA.network(next(p.network_id for p in KOLLA.ports if p.id == port_id))
        phys = KOLLA1.bridge_mappings[net.physical_network]
        br_int, tag = bridge_of[qvo], str(tags[qvo])
        near = next(n for n, i in ifaces.items() if i["type"] == "patch"
                    and bridge_of[n] == br_int and bridge_of[i["options"]["peer"]] == phys)
        far = ifaces[near]["options"]["peer"]
        want = "untagged" if net.network_type == "flat" else str(net.segmentation_id)
        action = "strip_vlan" if want == "untagged" else f"mod_vlan_vid:{want}"
        assert f"dl_vlan={tag} actions={action}" in flows[phys], flows[phys]
        qbr = links[tap]["master"]
        qvb = next(n for n, link in links.items() if link.get("master") == qbr and n != tap)
        truth[port_id] = [
            (xml.findtext("name"), m.GUEST, None, None, mac, int(nic.find("mtu").get("size")),
             "ACTIVE", f"{m.SRC_API}+{m.SRC_LIBVIRT}"),
            kernel(tap, m.TAP, qbr), kernel(qbr, m.LINUX_BRIDGE, None), kernel(qvb, m.VETH, qbr),
            ovs(qvo, m.OVS_PORT, tag),
            (br_int, m.OVS_BRIDGE, None, tag, None, None, None, m.SRC_OVSDB),
            ovs(near, m.PATCH, None), ovs(far, m.PATCH, None),
            (phys, m.OVS_BRIDGE, None, f"{tag} → {want}", None, None, None, m.SRC_FLOWS),
            *(kernel(n, m.NIC, phys) for n, i in ifaces.items()
              if bridge_of.get(n) == phys and i["type"] == ""),
        ]
    return truth


def _set(value: Any) -> list[Any]:
    """An OVS set column: a one-element set comes as the element itself."""
    return value if isinstance(value, list) else [value]


def test_a_timed_out_exec_leaves_nothing_in_the_container(lab, kolla_host):
    """ovs-vswitchd stopped: `ovs-ofctl dump-flows` in its container hangs. The probe, with a
    3 s timeout, reports those sections timed out, reads all the others (virsh too, in
    nova_libvirt that has no `timeout`), and leaves no ovs-ofctl behind in the container (the
    client's timeout alone would leave both)."""
    req = probe.ProbeRequest(domains=[VM_KOLLA.instance_name],
                             flows=[("br-int", 0), ("br-ex", 0)], timeout=3)
    with kolla.stopped(kolla_host, kolla.VSWITCHD):
        results, _ = run_probes([(lab.ssh_target(KOLLA1.name), probe.command_line(req))],
                                probe.script())
        deadline = time.monotonic() + 2
        while (left := [c for c in kolla_host.processes_in(kolla.VSWITCHD).values()
                        if "ovs-ofctl" in c]) and time.monotonic() < deadline:
            time.sleep(0.1)
    facts = probe.parse_output(KOLLA1.name, results[KOLLA1.name].stdout or "")
    problems = {p.source: p.message for p in facts.problems}
    timed_out = f"ovs-ofctl: timed out after 3s in container {kolla.VSWITCHD}"
    assert problems == {"flows:br-int": timed_out, "flows:br-ex": timed_out}
    assert facts.ovs is not None and set(facts.ovs.bridges) == {"br-int", "br-ex"}
    assert facts.links and [d.name for d in facts.domains] == [VM_KOLLA.instance_name]
    assert left == []


def test_a_stopped_forced_container_is_said_so(lab, kolla_host):
    """libvirt_container set, the container stopped: podman's "container state improper" reads
    as the container not running, and OVS is still read."""
    req = probe.ProbeRequest(domains=[VM_KOLLA.instance_name], libvirt_container=kolla.LIBVIRT)
    kolla_host.podman("stop", "--time", "0", kolla.LIBVIRT)
    try:
        results, _ = run_probes([(lab.ssh_target(KOLLA1.name), probe.command_line(req))],
                                probe.script())
    finally:
        kolla_host.podman("start", kolla.LIBVIRT)
    facts = probe.parse_output(KOLLA1.name, results[KOLLA1.name].stdout or "")
    assert {p.source: p.message for p in facts.problems} == {
        f"libvirt:{VM_KOLLA.instance_name}":
            f"libvirt: container {kolla.LIBVIRT} not found or not running (docker)"}
    assert facts.ovs is not None and not facts.domains


def test_teardown_removes_it_all_and_runs_twice(lab, kolla_host):
    """Last in this module: containers, image, podman's storage, the namespace, the host's
    processes and its known_hosts line go; hv1/hv2 stay. (The fixture runs it once more.)"""
    ids = kolla_host.podman("ps", "--all", "--quiet", "--no-trunc").split()
    assert len(ids) == len(kolla.CONTAINERS)
    assert kolla_host.podman("images", "--quiet", kolla.IMAGE).strip()
    anchor, netns, hdir = kolla_host.anchor_pid, kolla_host.netns, kolla_host.dir
    kolla.down(lab)
    kolla.down(lab)
    assert netns not in sh("ip", "netns", "list") and not Path(f"/proc/{anchor}").exists()
    assert not hdir.exists()  # the graphroot (image layers, container state) was in there
    assert not [c for c in ids for p in Path("/sys/fs/cgroup").glob(f"*/libpod_parent/*{c}*")]
    assert KOLLA1.name not in lab.hosts and KOLLA1.mgmt_ip not in lab.known_hosts.read_text()
    assert {"hv1", "hv2"} <= set(lab.hosts) and lab.hosts["hv1"].vsctl("br-exists", "br-int") == ""
