"""`openstack netpath show` on a real Neutron ML2/OVN with real OVN (NPSTACK_BACKEND=ovn).

Every hop of `netpath show -f json` is compared with the ground truth read independently from
the hosts (ovs-vsctl, ip, virsh inside the host's namespaces) and from OVN's Southbound DB
(ovn-sbctl: chassis, encap IPs, localnet ports and their tags, datapath tunnel keys):
tests/stack/groundtruth.py ``read_ovn_server``.  Then faults made on purpose on a real chassis
(ovn-controller stopped, a VIF's ovn-installed removed, the Southbound out of reach) and what
netpath says about them. `netpath audit` of the real OVN fleet is clean, and finds the Geneve
mesh cut by a transport zone given to one chassis (ovn-controller removes the tunnels)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import pytest

from tests.stack import groundtruth

# (server label, networks) of the VIFs booted on the OVN stack (provision.py, BACKEND ovn);
# a server's two provider ports together: they share physnet1, so br-int holds two localnet
# patch pairs to br-ex, in the order ovn-controller created them, and each port must be shown
# on its own network's pair (found once by taking the first)
PROVIDER = ("provider-vlan101", "provider-flat")
PORTS = [(label, nets) for label in ("vm1", "vm2") for nets in (PROVIDER, ("tenant-gnv",))] \
    + [("vm3", ("member-gnv",))]


def _param(label: str, nets: tuple[str, ...]):
    return pytest.param(label, nets, id=f"{label}-{'+'.join(nets)}")


class Shown:
    """One `netpath show SERVER -f json` run: rows, stderr, exit code."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc, self.stderr = proc.returncode, proc.stderr
        self.rows = json.loads(proc.stdout) if proc.stdout.strip() else []

    def port_rows(self, port_id: str) -> list[dict]:
        return [r for r in self.rows if r["Port"] == port_id]

    def warnings(self, port_id: str | None = None) -> list[str]:
        """stderr findings: of one port ("port <id[:11]>: …"), or every one."""
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith(("warning:", "error:"))]
        return [ln for ln in lines if port_id is None or f"port {port_id[:11]}:" in ln]

    def host_notes(self) -> list[str]:
        return [ln for ln in self.warnings() if not re.match(r"^\w+: port [0-9a-f-]{11}:", ln)]


def _show(stack, label: str, *args: str) -> Shown:
    return Shown(stack.openstack("netpath", "show", stack.servers[label]["id"], "-f", "json",
                                 *args, check=False))


@pytest.fixture(scope="module")
def shown(ovn_stack) -> dict[str, Shown]:
    """netpath show of each server once, before any fault."""
    return {label: _show(ovn_stack, label) for label in ("vm1", "vm2", "vm3")}


@pytest.fixture(scope="module")
def truths(ovn_stack) -> dict[str, groundtruth.OvnServerTruth]:
    snaps: dict[str, groundtruth.HostSnapshot] = {}
    sb = groundtruth.read_southbound(ovn_stack.state)
    return {label: groundtruth.read_ovn_server(ovn_stack.state, label, snaps, sb)
            for label in ("vm1", "vm2", "vm3")}


def _port(stack, label: str, net: str) -> dict:
    return next(p for p in stack.servers[label]["ports"] if p["network"] == net)


_wait = groundtruth.wait_until


# ------------------------------------------------------------------ the stack is ML2/OVN

def test_stack_is_ml2_ovn(ovn_stack, truths):
    """Neutron's own word (agents, bindings) and the hosts' agree that this is OVN: every VIF
    claimed by its host's chassis (ovn-installed, SB up), a Geneve mesh between the hosts."""
    assert ovn_stack.state["backend"] == "ovn"
    conn = ovn_stack.connection()
    agents = {(a.agent_type, a.host) for a in conn.network.agents() if a.is_alive}
    gateway = ovn_stack.state["router"]["gateway_host"]
    for host in ovn_stack.hosts:
        kind = "OVN Controller Gateway agent" if host == gateway else "OVN Controller agent"
        assert (kind, host) in agents  # compute1 is the gateway chassis (up.sh)
        assert ("OVN Metadata agent", host) in agents
    for label, truth in truths.items():
        assert truth.host == ovn_stack.servers[label]["host"]
        assert truth.chassis["system-id"] == truth.host
        for pt in truth.ports:
            assert pt.ovn_installed and pt.sb_up and pt.sb_chassis == truth.host, pt
            assert pt.metadata_ns, f"{label} {pt.port_id}: no ovnmeta- namespace on {truth.host}"
    gnv = truths["vm1"].port(_port(ovn_stack, "vm1", "tenant-gnv")["id"])
    assert [t.chassis for t in gnv.tunnels] == ["compute2"]
    assert gnv.tunnel_key is not None and gnv.tunnel_key != _port(
        ovn_stack, "vm1", "tenant-gnv")["segmentation_id"]  # the VNI on the wire is OVN's own


# ------------------------------------------------------------------ every hop, every port

@pytest.mark.parametrize(("label", "nets"), [_param(lb, n) for lb, n in PORTS])
def test_netpath_show_matches_ground_truth(ovn_stack, shown, truths, label, nets):
    """Each VIF hop for hop as on the host: tap on br-int (no local VLAN), the localnet patch
    pair to the ovn-bridge-mappings bridge with the SB tag and its NIC, or the Geneve tunnel
    to the other chassis (remote = its encap IP, VNI = the datapath's tunnel key) and the
    device carrying ovn-encap-ip; no finding on a healthy port."""
    out = shown[label]
    assert out.rc == 0, out.stderr
    assert {r["Port"] for r in out.rows} == {p["id"] for p in ovn_stack.servers[label]["ports"]}
    for net in nets:
        _check_port(ovn_stack, out, truths[label], label, net)


def _check_port(ovn_stack, out: Shown, server: groundtruth.OvnServerTruth, label: str,
                net: str) -> None:
    port = _port(ovn_stack, label, net)
    truth = server.port(port["id"])
    want = truth.hops()
    assert groundtruth.compare(out.port_rows(port["id"]), want) == []
    assert len(out.port_rows(port["id"])) == len(want)
    assert out.warnings(port["id"]) == []
    rows = {r["Kind"]: r for r in reversed(out.port_rows(port["id"]))}  # the first of a kind
    assert "ovn-installed true" in (rows["tap"]["Detail"] or "")
    assert f"metadata {truth.metadata_ns}" in (rows["ovs-bridge"]["Detail"] or "")
    if truth.localnet:
        assert truth.vlan_flow, f"br-int has no flow putting {net} on {truth.near_patch}"


def test_no_host_findings_on_a_healthy_stack(shown):
    """Both chassis connected, named as their Nova host, with an encap IP: nothing to say."""
    for label, out in shown.items():
        assert out.host_notes() == [], label


# ------------------------------------------------------------------ netpath audit on OVN

def _audit(stack) -> tuple[int, set[tuple[str, str, str]], list[dict]]:
    out = groundtruth.CliRun(stack.openstack("netpath", "audit", "-f", "json", check=False,
                                             timeout=180))
    assert out.rc in (0, 1), out.stderr
    return out.rc, {(r["Host"], r["Class"], r["Port"]) for r in out.rows}, out.rows


def _geneve(host: dict) -> list[str]:
    return [r["name"] for r in groundtruth._ovs_table(host, "Interface")
            if r["type"] == "geneve"]


def test_audit_of_the_real_ovn_fleet_is_clean(ovn_stack):
    """Every chassis probed; the VIFs claimed (ovn-installed), the Geneve mesh whole (also to
    the gateway chassis of router1), ovnmeta- where the metadata agent serves a VM, and the
    router gateway port (bound to its chassis, no interface) not called missing."""
    rc, found, rows = _audit(ovn_stack)
    assert rc == 0 and found == set(), rows


def test_audit_finds_a_chassis_cut_off_by_a_transport_zone(ovn_stack):
    """compute2 alone given an ovn-transport-zones (a chassis in a zone only meets chassis of
    that zone): both ovn-controllers drop their Geneve tunnel to the other, behind Neutron's
    back. Both chassis are told, on a network they share; undone, the audit is clean."""
    c1, c2 = ovn_stack.hosts["compute1"], ovn_stack.hosts["compute2"]
    groundtruth.host_run(c2, ["ovs-vsctl", "set", "Open_vSwitch", ".",
                              "external_ids:ovn-transport-zones=tz-np"])
    try:
        _wait("the Geneve tunnels between compute1 and compute2 to go",
              lambda: not _geneve(c1) and not _geneve(c2))
        rc, found, rows = _audit(ovn_stack)
        assert rc == 1 and found == {("compute1", "tunnel-missing", ""),
                                     ("compute2", "tunnel-missing", "")}, rows
        names = {n.id: n.name for n in ovn_stack.connection().network.networks()}
        assert {names.get(r["Network"]) for r in rows} <= {"tenant-gnv", "member-gnv"}, rows
    finally:
        groundtruth.host_run(c2, ["ovs-vsctl", "remove", "Open_vSwitch", ".", "external_ids",
                                  "ovn-transport-zones"])
        _wait("the Geneve tunnels to come back", lambda: _geneve(c1) and _geneve(c2))
    rc, found, rows = _audit(ovn_stack)
    assert rc == 0 and found == set(), rows


def test_diagram_says_ovn(ovn_stack, truths):
    """--diagram: each port with the [ovn] backend and the devices of its path."""
    proc = ovn_stack.openstack("netpath", "show", ovn_stack.servers["vm2"]["id"], "--diagram",
                               check=False)
    assert proc.returncode == 0, proc.stderr
    heads = [ln for ln in proc.stdout.splitlines() if ln.startswith("port ")]
    assert len(heads) == 3 and all(ln.rstrip().endswith("[ovn]") for ln in heads), heads
    for hop in truths["vm2"].port(_port(ovn_stack, "vm2", "tenant-gnv")["id"]).hops():
        assert hop["device"] in proc.stdout, hop


def test_api_requests_do_not_grow_with_ports(ovn_stack):
    """`--debug` logs each API request: a 1-port server whose network no other host uses
    (vm3) and a 3-port server with a Geneve peer (vm1) differ by the peer's agents only."""
    counts = {}
    for label in ("vm3", "vm1"):
        proc = ovn_stack.openstack("--debug", "netpath", "show", label, "-f", "json", check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        counts[label] = len(re.findall(r"^REQ: curl", proc.stderr, re.MULTILINE))
    # GET /v3, server, ports, networks, agents, the networks' ports, hypervisor (+ token);
    # vm1 also the agents of compute2, the chassis its tunnel goes to
    assert counts == {"vm3": 7, "vm1": 8}, counts


# ------------------------------------------------------------------ faults made on purpose

def _controller_pidfile(host: dict) -> str:
    return os.path.join(host["dir"], "run", "ovn-controller.pid")


def _stop_controller(host: dict) -> None:
    with open(_controller_pidfile(host)) as f:
        pid = int(f.read())
    try:
        os.killpg(pid, signal.SIGTERM)  # hsvc: its own process group
    except ProcessLookupError:
        return
    _wait("ovn-controller gone", lambda: _gone(pid), 20)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def _start_controller(host: dict) -> None:
    """As up.sh starts it (hsvc): detached, in the host's namespaces, pid file for down.sh."""
    log = open(os.path.join(host["logs"], "ovn-controller.out"), "a")  # noqa: SIM115
    proc = subprocess.Popen(
        ["nsenter", "-t", str(host["anchor_pid"]), "-m", "-u", "-n", "--",
         "env", "OVN_RUNDIR=/run/ovn", "ovn-controller", "unix:/run/openvswitch/db.sock",
         "--pidfile=/run/ovn/ovn-controller.pid", "--no-chdir",
         "--log-file=" + os.path.join(host["logs"], "ovn-controller.log")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    with open(_controller_pidfile(host), "w") as f:
        f.write(f"{proc.pid}\n")


def _status(host: dict) -> str:
    proc = subprocess.run(["nsenter", "-t", str(host["anchor_pid"]), "-m", "-u", "-n", "--",
                           "ovn-appctl", "-t", "ovn-controller", "connection-status"],
                          capture_output=True, text=True, timeout=10, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else f"error: {proc.stderr.strip()}"


def _installed(host: dict, iface: str) -> bool:
    out = groundtruth.host_run(host, ["ovs-vsctl", "--timeout=5", "get", "Interface", iface,
                                      "external_ids"])
    return 'ovn-installed="true"' in out


def test_ovn_controller_stopped_and_vif_not_installed(ovn_stack, shown):
    """compute2's ovn-controller stopped and the ovn-installed mark of vm2's Geneve VIF removed:
    the chassis status is said unknown (never "connected"), the port is flagged; the other
    ports of vm2 keep their hops."""
    host = ovn_stack.hosts["compute2"]
    port = _port(ovn_stack, "vm2", "tenant-gnv")
    tap = "tap" + port["id"][:11]
    _stop_controller(host)
    try:
        groundtruth.host_run(host, ["ovs-vsctl", "remove", "Interface", tap, "external_ids",
                                    "ovn-installed"])
        assert _status(host).startswith("error:")       # ground truth: no controller answers
        assert not _installed(host, tap)
        out = _show(ovn_stack, "vm2")
        assert out.rc == 0, out.stderr
        notes = out.host_notes()
        assert any(n.startswith("warning: compute2: ovn-controller status unknown") for n in notes), \
            out.stderr
        assert not any("ovn-controller is 'connected'" in n for n in notes)
        assert any(f"{tap} has no external_ids:ovn-installed" in w for w in out.warnings(port["id"])), \
            out.stderr
        tap_row = next(r for r in out.port_rows(port["id"]) if r["Kind"] == "tap")
        assert "ovn-installed missing" in tap_row["Detail"]
        for net in PROVIDER:  # the other ports: as before the fault
            other = _port(ovn_stack, "vm2", net)["id"]
            assert out.warnings(other) == shown["vm2"].warnings(other)
            assert out.port_rows(other) == shown["vm2"].port_rows(other)
    finally:
        _start_controller(host)
        _wait("compute2 ovn-controller connected", lambda: _status(host) == "connected")
        _wait(f"{tap} ovn-installed again", lambda: _installed(host, tap))


def test_southbound_unreachable_is_not_connected(ovn_stack):
    """compute1's ovn-remote pointed at a socket nobody serves: ovn-controller runs but is
    "not connected", and netpath says so for the chassis of vm3."""
    host = ovn_stack.hosts["compute1"]
    good = ovn_stack.state["ovn"]["sb_db"]
    nowhere = "unix:" + os.path.join(ovn_stack.dir, "ovn", "nowhere.sock")
    groundtruth.host_run(host, ["ovs-vsctl", "set", "Open_vSwitch", ".",
                                f"external_ids:ovn-remote={nowhere}"])
    try:
        _wait("compute1 not connected", lambda: _status(host) == "not connected", 30)
        out = _show(ovn_stack, "vm3")
        assert out.rc == 0, out.stderr
        assert any("compute1: ovn-controller is 'not connected'" in n and nowhere in n
                   for n in out.host_notes()), out.stderr
    finally:
        groundtruth.host_run(host, ["ovs-vsctl", "set", "Open_vSwitch", ".",
                                    f"external_ids:ovn-remote={good}"])
        _wait("compute1 connected", lambda: _status(host) == "connected")


# ------------------------------------------------------------------ what a member sees

def test_member_profile_with_host_stops_at_br_int(ovn_stack, truths):
    """Policy hides the host, binding and segments from a member: without --host that is the
    error, with it the path is traced up to br-int exactly as on the host, and the hidden
    segment is said."""
    proc = ovn_stack.openstack("netpath", "show", "vm3", "-f", "json",
                               cloud=ovn_stack.member_cloud, check=False)
    assert proc.returncode != 0
    assert "admin" in proc.stderr and ovn_stack.member_cloud in proc.stderr
    proc = ovn_stack.openstack("netpath", "show", "vm3", "--host", "compute1", "-f", "json",
                               cloud=ovn_stack.member_cloud, check=False)
    assert proc.returncode == 0, proc.stderr
    want = truths["vm3"].hops()[:3]  # guest-nic, tap, br-int
    assert groundtruth.compare(json.loads(proc.stdout), want) == []
    assert len(json.loads(proc.stdout)) == len(want)
    assert "not visible to this cloud profile" in proc.stderr


def _localnet_patches(host: dict) -> list[str]:
    out = groundtruth.host_run(host, ["ovs-vsctl", "--timeout=5", "list-ports", "br-int"])
    return [p for p in out.split() if p.startswith("patch-br-int-to-provnet-")]


def test_physnet_not_in_bridge_mappings(ovn_stack, shown):
    """compute1's ovn-bridge-mappings removed: ovn-controller drops the localnet patches, and
    netpath says the provider ports cannot leave (their path ends at br-int); the Geneve port
    keeps its hops."""
    host = ovn_stack.hosts["compute1"]
    ids = groundtruth.open_vswitch(host)["external_ids"]
    mappings = ids["ovn-bridge-mappings"]
    groundtruth.host_run(host, ["ovs-vsctl", "remove", "Open_vSwitch", ".", "external_ids",
                                "ovn-bridge-mappings"])
    try:
        _wait("localnet patches gone", lambda: _localnet_patches(host) == [], 30)
        out = _show(ovn_stack, "vm1")
        assert out.rc == 0, out.stderr
        for net in ("provider-vlan101", "provider-flat"):
            port = _port(ovn_stack, "vm1", net)["id"]
            assert any("physical network 'physnet1' is not in the ovn-bridge-mappings of "
                       "compute1" in w for w in out.warnings(port)), out.stderr
            assert [r["Kind"] for r in out.port_rows(port)] == ["guest-nic", "tap", "ovs-bridge"]
        gnv = _port(ovn_stack, "vm1", "tenant-gnv")["id"]
        assert out.warnings(gnv) == []
        assert out.port_rows(gnv) == shown["vm1"].port_rows(gnv)
    finally:
        groundtruth.host_run(host, ["ovs-vsctl", "set", "Open_vSwitch", ".",
                                    f"external_ids:ovn-bridge-mappings={mappings}"])
        _wait("localnet patches back", lambda: len(_localnet_patches(host)) == 2, 30)


# ------------------------------------------------------------------ stopped, deleted (as on ML2/OVS)

def test_shutoff_server_says_so_and_keeps_what_the_host_has(ovn_stack):
    """vm-off (SHUTOFF, its tap gone with the domain's run): hop 0 says SHUTOFF, and the path
    stops where the host stops; nothing is claimed that the host does not have."""
    server = ovn_stack.servers["vm-off"]
    assert server["status"] == "SHUTOFF"
    host = ovn_stack.hosts[server["host"]]
    (port,) = server["ports"]
    tap = "tap" + port["id"][:11]
    have = groundtruth.host_run(host, ["ovs-vsctl", "--timeout=5", "--bare", "--columns=name",
                                       "find", "Interface",
                                       f"external_ids:iface-id={port['id']}"]).split()
    out = _show(ovn_stack, "vm-off")
    rows = out.port_rows(port["id"])
    assert rows[0]["Kind"] == "guest-nic" and rows[0]["State"] == "SHUTOFF", rows
    tap_row = next(r for r in rows if r["Kind"] == "tap")
    if have:  # os-vif kept the OVS port: the tap row is what OVS says of it
        assert tap_row["Device"] in have
    else:
        assert (tap_row["Device"], tap_row["State"]) == (tap, "absent")
        assert any("not claimed" in w or "absent" in w for w in out.warnings(port["id"])), \
            out.stderr


def test_deleted_server_is_not_found(ovn_stack):
    gone = ovn_stack.state["deleted_servers"]["vm-gone"]
    proc = ovn_stack.openstack("netpath", "show", gone["id"], check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(f"No server with a name or ID of '{gone['id']}' exists.")


# ------------------------------------------------------------------ the way out (--to external)

def test_way_out_leaves_by_the_gateway_chassis(ovn_stack):
    """router1 (tenant-gnv → provider-flat): ML2/OVN binds its gateway port to the chassis its
    cr-lrp is active on; `--to external` traces it there: cr-lrp → br-int → the external
    network's own localnet patch (provnet-<segment id>) → br-ex (untagged) → eth1, the floating
    IP of vm1 on it; every device compared with the chassis and the Southbound DB."""
    router = ovn_stack.state["router"]
    gw_host = router["gateway_host"]
    assert gw_host, "ML2/OVN left router1's gateway port unbound"
    sb = groundtruth.read_southbound(ovn_stack.state)
    cr = sb.binding(f"cr-lrp-{router['gateway_port']}")
    assert cr is not None and sb.chassis_of[cr["chassis"]] == gw_host  # ground truth: SB
    conn = ovn_stack.connection()
    (segment,) = list(conn.network.segments(network_id=router["external_network"]))
    snap = groundtruth.read_host(ovn_stack.hosts[gw_host])
    near = next(n for n, p in snap.ports.items() if p["bridge"] == "br-int" and
                (p.get("external_ids") or {}).get("ovn-localnet-port") == f"provnet-{segment.id}")
    far = snap.patch_peer(near)
    nics = [n for n in snap.ports if snap.ports[n]["bridge"] == "br-ex"
            and snap.interfaces[n].get("type") in ("", "system", None)]

    proc = ovn_stack.openstack("netpath", "show", "vm1", "--to", "external", "-f", "json",
                               check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [r for r in json.loads(proc.stdout) if r["Port"] == router["gateway_port"]]
    assert [(r["Device"], r["Kind"]) for r in rows] == [
        (f"cr-lrp-{router['gateway_port']}", "logical-port"), ("br-int", "ovs-bridge"),
        (near, "patch"), (far, "patch"), ("br-ex", "ovs-bridge"), *[(n, "nic") for n in nics]]
    assert rows[4]["VLAN"] == "untagged" and rows[4]["Source"] == "flows"
    assert f"floating IPs {router['floating_ip']} → {router['fixed_ip']}" in rows[0]["Detail"]
    assert "ML2/OVN: the routers are logical" in proc.stderr
    assert f"port {router['gateway_port'][:11]}:" not in proc.stderr  # no finding on it


def test_network_show_on_ovn(ovn_stack, truths):
    """`netpath network show tenant-gnv`: per chassis its VM ports' taps and the network's
    ovnmeta- namespace with the veth the hosts have; no DHCP/L3 agents on ML2/OVN (said)."""
    proc = ovn_stack.openstack("netpath", "network", "show", "tenant-gnv", "-f", "json",
                               check=False)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert "ML2/OVN: no DHCP or L3 agents" in proc.stderr
    for label in ("vm1", "vm2"):
        port = _port(ovn_stack, label, "tenant-gnv")
        pt = truths[label].port(port["id"])
        vm = next(r for r in rows if r["Kind"] == "vm-port" and r["Name"] == port["id"])
        assert (vm["Host"], vm["Device"], vm["VLAN"]) == (truths[label].host, pt.tap, None)
        meta = next(r for r in rows if r["Kind"] == "metadata" and r["Host"] == truths[label].host)
        assert (meta["Namespace"], meta["State"]) == (pt.metadata_ns, "present")
    assert not [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")
                and "ML2/OVN: no DHCP" not in ln], proc.stderr
