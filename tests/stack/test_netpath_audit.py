"""`netpath audit` on the ML2/OVS stack: the real fleet (compute1, compute2, network1) with
its real agents, audited over SSH as an operator runs it; then drift made behind Neutron's back,
one fault at a time, and the audit finds each one and nothing else:

1. compute1: the provider bridge's table-0 flow that rewrites vm1's provider-vlan101 local VLAN
   to VLAN 101 deleted (ovs-ofctl del-flows --strict; the agent rewrites flows only on a resync,
   it does not notice): translation-flow-missing.
2. compute2: its OVS agent frozen (SIGSTOP to its process group): once Neutron's
   agent_down_time (24 s on the stack) has passed, agent-down.
3. compute2: vm2's provider-vlan101 port removed from br-int (ovs-vsctl del-port; the frozen
   agent cannot report it DOWN, so Neutron still expects it wired): interface-missing.

Also a qrouter- of a router Neutron does not have, left on network1, and a qdhcp- of a network
Neutron serves from network1, left on compute1: namespace-leftover each; and the same qdhcp-
with a DHCP port bound there after the port list was read: withdrawn when asked again.
Undone in reverse (the port re-added as os-vif adds it, the agent thawed, the flow re-added as
it was dumped) and the audit is back to what it found first. This file runs last in the
ML2/OVS phase (conftest.PHASE_OF): the DVR phase brings up a fresh stack after it.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.stack import groundtruth

Finding = tuple[str, str, str]  # (host, class, port)


def _audit(stack) -> tuple[int, set[Finding], list[dict]]:
    out = groundtruth.CliRun(stack.openstack("netpath", "audit", "-f", "json", check=False,
                                             timeout=180))
    assert out.rc in (0, 1), out.stderr
    return out.rc, {(r["Host"], r["Class"], r["Port"]) for r in out.rows}, out.rows


def _port_on(stack, server: str, network: str) -> dict:
    (port,) = [p for p in stack.servers[server]["ports"] if p["network"] == network]
    return port


def _iface(host: dict, port_id: str) -> dict:
    """The OVS interface (and its port's tag) carrying ``port_id`` on ``host``."""
    rows = groundtruth._ovs_table(host, "Interface")
    (iface,) = [r for r in rows if r["external_ids"].get("iface-id") == port_id]
    (ovs_port,) = [r for r in groundtruth._ovs_table(host, "Port") if r["name"] == iface["name"]]
    tag = ovs_port["tag"]
    return {"name": iface["name"], "external_ids": iface["external_ids"],
            "tag": tag if isinstance(tag, int) else None}


def _agent_alive(sdk, host: str) -> bool:
    (agent,) = list(sdk.network.agents(host=host, binary="neutron-openvswitch-agent"))
    return bool(agent.is_alive)


@pytest.fixture(scope="module")
def baseline(stack):
    rc, found, rows = _audit(stack)
    return rc, found, rows


def test_the_real_fleet_audits_clean(stack, baseline):
    """Every host with an agent or a bound port is probed and none has an error-class finding
    (the agents wired what Neutron bound; the stopped server's port is DOWN by design)."""
    rc, found, rows = baseline
    assert rc == 0 and found == set(), rows


def test_a_namespace_left_behind_on_the_network_node(stack, baseline):
    """A qrouter- of a router Neutron does not have (what an L3 agent killed mid-cleanup
    leaves), made with `ip netns add` on network1: namespace-leftover, nothing else."""
    ghost = "qrouter-5d4c3b2a-1908-4f7e-8d6c-5b4a39281706"
    row = _leftover_found(stack, baseline, "network1", ghost)
    assert row["Expected"] == "none: Neutron has no router 5d4c3b2a-1908-4f7e-8d6c-5b4a39281706"


def _leftover_found(stack, baseline, host: str, namespace: str) -> dict:
    """``namespace`` made on ``host`` (and removed): one namespace-leftover, nothing else."""
    _, clean, _ = baseline
    node = stack.hosts[host]
    groundtruth.host_run(node, ["ip", "netns", "add", namespace])
    try:
        _, found, rows = _audit(stack)
    finally:
        groundtruth.host_run(node, ["ip", "netns", "delete", namespace])
    assert found - clean == {(host, "namespace-leftover", "")}, rows
    assert clean - found == set()
    (row,) = [r for r in rows if r["Class"] == "namespace-leftover"]
    assert row["Seen"] == f"namespace {namespace}"
    return row


def test_a_dhcp_namespace_left_where_neutron_no_longer_hosts_it(stack, admin_sdk, baseline):
    """A qdhcp- of tenant-vx, which Neutron has and serves from network1's DHCP agent, on
    compute1 (what a DHCP agent there leaves when the network is rescheduled away while it is
    down): namespace-leftover on compute1, because no port bound there accounts for it; the
    real qdhcp-/qrouter- on network1 (their ports bound there) stay unflagged."""
    net = admin_sdk.network.find_network("tenant-vx", ignore_missing=False)
    row = _leftover_found(stack, baseline, "compute1", f"qdhcp-{net.id}")
    assert row["Expected"] == f"none: no port of network {net.id} bound to compute1 puts it here"


def test_scoped_by_network_or_project_name_as_every_osc_command(stack, admin_sdk, baseline):
    """--network and --project by name (Neutron's network list, Keystone's project list):
    the hosts probed are exactly those the scope's ports are bound to, each expecting the
    scope's wired ports there and no other, and the scoped audit is as clean as the whole
    fleet's (the hosts' other ports are no orphans: their unlisted iface-ids are asked of
    Neutron). A name nothing has is an error."""
    project = admin_sdk.identity.find_project("demo", ignore_missing=False)
    net = admin_sdk.network.find_network("member-vx", ignore_missing=False)
    for args, ports in ((("--project", "demo"), admin_sdk.network.ports(project_id=project.id)),
                        (("--network", "member-vx"), admin_sdk.network.ports(network_id=net.id))):
        want: dict[str, int] = {}
        for p in ports:
            if p.binding_host_id:
                wired = p.is_admin_state_up and p.status != "DOWN" \
                    and p.binding_vif_type in ("ovs", "vhostuser")
                want[p.binding_host_id] = want.get(p.binding_host_id, 0) + wired
        assert want, args  # the stack binds the demo project's vm3 on member-vx
        proc = stack.openstack("netpath", "audit", *args, check=False, timeout=180)
        summary = {ln.split(":")[0]: int(ln.split(": ")[1].split()[0])
                   for ln in proc.stderr.splitlines() if " expected, " in ln}
        assert (proc.returncode, proc.stdout.strip(), summary) == (0, "", want), proc.stderr
    proc = stack.openstack("netpath", "audit", "--project", "no-such-project", check=False)
    assert (proc.returncode, proc.stderr.strip()) == (
        1, "--project: no project named 'no-such-project': pass the project ID"), proc.stderr


def test_a_port_created_while_the_hosts_are_probed_withdraws_its_finding(stack, admin_sdk):
    """The race a fleet audit runs into, made real and in order: the port list is read, then
    (before the probe) a qdhcp- of tenant-vx appears on compute1 together with a DHCP port
    Neutron binds there (as when a DHCP agent takes the network over mid-audit). The host
    shows a namespace the first list accounts nowhere; asked again after the probes, Neutron
    does: the finding is withdrawn and a note says so."""
    from osc_netpath import config
    from osc_netpath.audit import run

    conn = stack.connection(stack.admin_cloud)
    cfg = config.load(conn.config.config)
    net = admin_sdk.network.find_network("tenant-vx", ignore_missing=False)
    cloud = run.gather(conn, run.Scope())
    node, stale = stack.hosts["compute1"], f"qdhcp-{net.id}"
    port = admin_sdk.network.create_port(
        network_id=net.id, device_owner="network:dhcp", device_id="dhcp-mid-audit",
        binding_host_id="compute1")
    groundtruth.host_run(node, ["ip", "netns", "add", stale])
    try:
        report, _, _ = run.probe_and_audit(conn, cloud, run.Scope(), cfg)
    finally:
        groundtruth.host_run(node, ["ip", "netns", "delete", stale])
        admin_sdk.network.delete_port(port.id)
    assert report.findings == [], report.findings
    assert any(n.startswith("1 finding(s) withdrawn") and "namespace-leftover" in n
               for n in report.notes), report.notes
    assert cloud.withdrawn == [f"compute1|namespace-leftover||namespace {stale}"]


def test_drift_behind_neutrons_back_is_found_one_fault_at_a_time(stack, admin_sdk, baseline):
    _, clean, _ = baseline
    c1, c2 = stack.hosts["compute1"], stack.hosts["compute2"]
    vm1 = _port_on(stack, "vm1", "provider-vlan101")
    vm2 = _port_on(stack, "vm2", "provider-vlan101")
    bridge = "br-ex"  # physnet1's bridge on the stack's computes (bridge_mappings)
    tag = _iface(c1, vm1["id"])["tag"]
    flows = groundtruth.host_run(c1, ["ovs-ofctl", "--no-stats", "dump-flows", bridge,
                                      f"table=0,dl_vlan={tag}"]).splitlines()
    (flow,) = [f.strip() for f in flows if "mod_vlan_vid:101" in f]
    match = ",".join(p for p in flow.split(" actions=")[0].replace(" ", "").split(",")
                     if not p.startswith("cookie="))
    saved = _iface(c2, vm2["id"])
    agent_pid = int(Path(c2["dir"], "run", "ovs-agent.pid").read_text())
    frozen = removed = deleted = False
    try:
        # 1. the VLAN translation flow
        groundtruth.host_run(c1, ["ovs-ofctl", "--strict", "del-flows", bridge, match])
        deleted = True
        _, found, rows = _audit(stack)
        assert found - clean == {("compute1", "translation-flow-missing", vm1["id"])}, rows
        assert clean - found == set()
        # 2. the agent
        os.killpg(agent_pid, signal.SIGSTOP)
        frozen = True
        groundtruth.wait_until("compute2's OVS agent not alive in Neutron",
                               lambda: not _agent_alive(admin_sdk, "compute2"), 90)
        _, found, rows = _audit(stack)
        assert found - clean == {("compute1", "translation-flow-missing", vm1["id"]),
                                 ("compute2", "agent-down", "")}, rows
        # 3. the port, with nobody left on compute2 to tell Neutron
        groundtruth.host_run(c2, ["ovs-vsctl", "del-port", "br-int", saved["name"]])
        removed = True
        assert admin_sdk.network.get_port(vm2["id"]).status == "ACTIVE"
        rc, found, rows = _audit(stack)
        assert found - clean == {("compute1", "translation-flow-missing", vm1["id"]),
                                 ("compute2", "agent-down", ""),
                                 ("compute2", "interface-missing", vm2["id"])}, rows
        assert rc == 1
    finally:
        if removed:
            ids = [f"external_ids:{k}={v}" for k, v in sorted(saved["external_ids"].items())]
            groundtruth.host_run(c2, ["ovs-vsctl", "--", "--may-exist", "add-port", "br-int",
                                      saved["name"], "--", "set", "Interface", saved["name"],
                                      *ids])
        if frozen:
            os.killpg(agent_pid, signal.SIGCONT)
        if deleted:
            groundtruth.host_run(c1, ["ovs-ofctl", "add-flow", bridge, flow])
    groundtruth.wait_until("compute2's agent alive and vm2's port ACTIVE again", lambda: (
        _agent_alive(admin_sdk, "compute2")
        and admin_sdk.network.get_port(vm2["id"]).status == "ACTIVE"
        and _iface(c2, vm2["id"])["tag"] not in (None, 4095)), 120)
    _, found, rows = _audit(stack)
    assert found == clean, rows
