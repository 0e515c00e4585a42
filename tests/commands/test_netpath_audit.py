"""`openstack netpath audit` as cliff runs it: a paged fake fleet behind requests-mock, probes
stubbed (one recorded real probe output; one unreachable host). The lab tier runs it over SSH.
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import requests_mock
from osc_lib import exceptions

from osc_netpath.audit import run as run_mod
from osc_netpath.cloud import fleet
from osc_netpath.commands.audit import AuditNetpath
from osc_netpath.host import transport
from tests.commands import fakes
from tests.commands.test_netpath_show import FakeApp

RECORDED = (Path(__file__).parents[1] / "fixtures/probe/probe-compute1.txt").read_text()
HOSTS = ("compute-1", "compute-2")


def run(app: FakeApp, *argv: str) -> int:
    cmd = AuditNetpath(app, None, cmd_name="netpath audit")
    return cmd.run(cmd.get_parser("openstack netpath audit").parse_args(list(argv)))


@pytest.fixture
def mocker():
    with requests_mock.Mocker() as m:
        yield m


class Seen(list):
    """The probe runs (their jobs), and every result handed back."""

    results: list[transport.ProbeResult]

    def __init__(self) -> None:
        super().__init__()
        self.results = []


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def probes(monkeypatch):
    """compute-1 answers with a probe output recorded on a real host; compute-2 is down."""
    jobs_seen = Seen()

    def run_probes(jobs, script, concurrency=10, on_result=None):
        jobs_seen.append(jobs)
        results = {}
        for target, _ in jobs:
            if target.host == "compute-1":
                results[target.host] = transport.ProbeResult(host=target.host, stdout=RECORDED,
                                                             elapsed=0.3)
            else:
                results[target.host] = transport.ProbeResult(
                    host=target.host, error=f"{target.host} (192.0.2.12:22): connection refused",
                    error_kind="unreachable")
        for result in results.values():  # as the transport does, host by host
            if on_result is not None:
                on_result(result)
        jobs_seen.results += results.values()
        stats = transport.TransportStats(connections={t.host: 1 for t, _ in jobs},
                                         execs={t.host: 1 for t, _ in jobs})
        return results, stats

    monkeypatch.setattr(transport, "run_probes", run_probes)
    return jobs_seen


def fleet_cloud(mocker: Any, ports: int) -> fakes.FakeCloud:
    cloud = fakes.FakeCloud(mocker)
    nets = [cloud.add_network("vlan-net", (("vlan", "physnet1", 101),)),
            cloud.add_network("vx-net", (("vxlan", None, 1001),))]
    for i, host in enumerate(HOSTS):
        cloud.add_agent(host, "Open vSwitch agent", "neutron-openvswitch-agent",
                        fakes.ovs_agent_config(host, f"192.0.2.1{i + 1}"))
        cloud.add_hypervisor(host, f"192.0.2.1{i + 1}")
    for n in range(ports):
        cloud.add_port(nets[n % 2], device_id=fakes.fake_id("vm", n), host=HOSTS[n % 2],
                       vif_details={"bridge_name": "br-int"}, index=n)
    return cloud


def api_calls(cloud: fakes.FakeCloud) -> list[str]:
    return [c for c in cloud.calls() if not c.startswith(("POST keystone", "GET keystone"))
            and not c.endswith(("/v2.1", "/v2.1/", "/"))]


@pytest.mark.parametrize("ports", [5, 11])
def test_requests_grow_with_pages_not_ports(mocker, probes, monkeypatch, ports):
    monkeypatch.setattr(fleet, "PAGE", 2)
    cloud = fleet_cloud(mocker, ports)
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    run(app, "-f", "json")
    calls = api_calls(cloud)
    assert calls == (["GET neutron /v2.0/networks"]
                     + ["GET neutron /v2.0/ports"] * math.ceil(ports / 2)
                     + ["GET neutron /v2.0/routers",
                        "GET neutron /v2.0/agents",
                        "GET nova /v2.1/os-hypervisors/detail"]
                     # after the probes, what the recorded host's findings claim, asked again
                     # in chunks of ids: their ports, the networks and the router its
                     # leftover namespaces name
                     + ["GET neutron /v2.0/ports", "GET neutron /v2.0/networks",
                        "GET neutron /v2.0/routers"])
    again = cloud.requests()[-3:]
    assert all("id" in r.query for r in again) and again[1].query["fields"] == ["id"]
    assert [len(r.query["id"]) for r in again[1:]] == [1, 1]
    first = next(c for c in cloud.requests() if c.path == "/v2.0/ports")
    assert first.query["limit"] == ["2"] and "binding:host_id" in first.query["fields"]
    assert [len(j) for j in probes] == [2]  # one probe per host, all in one concurrent batch


def test_unreachable_host_is_one_finding_and_hides_nothing(mocker, probes):
    cloud = fleet_cloud(mocker, 4)
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    assert run(app, "-f", "json") == 1
    rows = json.loads(app.stdout.getvalue())
    on2 = [r for r in rows if r["Host"] == "compute-2"]
    assert [(r["Class"], r["Severity"]) for r in on2] == [("host-unprobed", "error")]
    assert "connection refused" in on2[0]["Seen"]
    on1 = {r["Class"] for r in rows if r["Host"] == "compute-1"}
    # the fake's ports are not on the recorded host; its iface-ids are not Neutron's
    assert {"interface-missing", "orphan-port"} <= on1
    assert set(rows[0]) == {"Host", "Port", "Network", "Class", "Severity", "Seen", "Expected"}


def test_host_filter_asks_neutron_about_unlisted_iface_ids_once(mocker, probes):
    cloud = fleet_cloud(mocker, 4)
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    run(app, "--host", "compute-1", "-f", "value", "-c", "Class")
    ports = [c for c in cloud.requests() if c.path == "/v2.0/ports"]
    assert ports[0].query["binding:host_id"] == ["compute-1"]
    assert len(ports[1].query["id"]) == 6  # the recorded host's iface-ids
    # then, the missing interfaces' ports asked again (the orphans were, just now: not twice)
    assert len(ports) == 3 and not set(ports[2].query["id"]) & set(ports[1].query["id"])
    assert [len(j) for j in probes] == [1]
    assert "orphan-port" in app.stdout.getvalue().split()


def test_network_and_project_by_name_or_id_as_every_osc_command(mocker, probes):
    cloud = fleet_cloud(mocker, 4)
    vx = next(n for n in cloud.networks if n["name"] == "vx-net")
    for ref in ("vx-net", vx["id"]):  # the name costs no request: the networks are listed
        app = FakeApp(cloud.connection(), netpath={"user": "ops"})
        run(app, "--network", ref, "-f", "json")
        first = next(c for c in cloud.requests() if c.path == "/v2.0/ports")
        assert first.query["network_id"] == [vx["id"]]
        assert {r["Host"] for r in json.loads(app.stdout.getvalue())} == {"compute-2"}
        cloud.mocker.reset_mock()
    for ref, calls in (("demo", ["GET keystone /v3/projects"]), (fakes.PROJECT_ID, [])):
        run(FakeApp(cloud.connection(), netpath={"user": "ops"}), "--project", ref)
        assert [c for c in cloud.calls() if "/projects" in c] == calls
        first = next(c for c in cloud.requests() if c.path == "/v2.0/ports")
        assert first.query["project_id"] == [fakes.PROJECT_ID]
        cloud.mocker.reset_mock()


@pytest.mark.parametrize(("argv", "message"), [
    (["--network", "no-such-net"], "No network with a name or ID of 'no-such-net' exists."),
    (["--project", "nobody"], "--project: no project named 'nobody': pass the project ID"),
    # an empty scope must never fall back to the whole fleet
    (["--network", ""], "No network with a name or ID of '' exists."),
    (["--project", ""], "--project: no project given: pass a project name or ID"),
    (["--host", ""], "--host needs a host name."),
    (["--aggregate", "empty"], "Aggregate 'empty' has no hosts: nothing to audit."),
    (["--zone", "az-empty"], "Availability zone 'az-empty' has no hosts: nothing to audit."),
    (["--aggregate", ""], "No aggregate with a name or ID of '' exists."),
])
def test_a_network_or_project_that_is_not_there_is_an_error_not_a_clean_fleet(
        mocker, probes, argv, message):
    cloud = fleet_cloud(mocker, 4)
    cloud.add_aggregate("empty", [], zone="az-empty")
    with pytest.raises(exceptions.CommandError) as err:
        run(FakeApp(cloud.connection(), netpath={"user": "ops"}), *argv)
    assert str(err.value) == message
    assert "GET neutron /v2.0/ports" not in cloud.calls() and not probes


def test_two_networks_of_one_name_want_the_id(mocker, probes):
    cloud = fleet_cloud(mocker, 2)
    cloud.networks[1]["name"] = "vlan-net"
    with pytest.raises(exceptions.CommandError, match=r"^2 networks are named 'vlan-net': .*"
                       r"Pass the network ID\.$"):
        run(FakeApp(cloud.connection(), netpath={"user": "ops"}), "--network", "vlan-net")


def test_a_network_with_no_bound_port_says_there_was_nothing_to_audit(mocker, probes):
    cloud = fleet_cloud(mocker, 4)
    cloud.add_network("empty-net", (("vxlan", None, 1002),))
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    assert run(app, "--network", "empty-net") == 0
    assert app.stderr.getvalue() == ("note: no port of network empty-net is bound to a host: "
                                      "nothing to audit\n")
    assert not any(probes)  # no host probed


def test_a_scoped_run_knows_the_hosts_other_ports_but_audits_only_its_own(mocker, probes):
    """--network vx-net on compute-1, whose OVS (the recorded host) also carries a port of
    vlan-net: that port is looked up by its iface-id, so it is no orphan, and it is neither
    audited nor counted as expected."""
    cloud = fleet_cloud(mocker, 4)
    vlan, vx = cloud.networks
    cloud.add_port(vx, device_id=fakes.fake_id("vm", "scoped"), host="compute-1",
                   vif_details={"bridge_name": "br-int"}, index=90)
    neighbour = cloud.add_port(vlan, device_id=fakes.fake_id("vm", "other"), host="compute-1",
                               vif_details={"bridge_name": "br-int"}, index=91)
    neighbour["id"] = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"  # an iface-id on the recorded host
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    run(app, "--network", "vx-net", "--host", "compute-1")
    summary = [ln for ln in app.stderr.getvalue().splitlines() if ln.startswith("compute-1:")]
    # 6 iface-ids on the host: the neighbour's, known; 5 Neutron has no port for
    assert len(summary) == 1
    assert summary[0].startswith("compute-1: 1 expected, 0 found, 5 orphans")
    looked_up = next(c for c in cloud.requests() if c.path == "/v2.0/ports" and "id" in c.query)
    assert neighbour["id"] in looked_up.query["id"]
    assert neighbour["id"] not in app.stdout.getvalue()  # neither orphan nor audited


def test_a_host_the_api_does_not_know_is_still_probed_and_a_note_names_the_near_ones(
        mocker, probes):
    cloud = fleet_cloud(mocker, 4)
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    run(app, "--host", "compute-3", "--host", "compute-1", "-c", "Host", "-c", "Class",
        "-f", "value")
    assert "compute-3 host-unprobed" in app.stdout.getvalue().splitlines()  # no address here
    assert app.stderr.getvalue().splitlines()[0] == (
        "note: compute-3: no agent, bound port or hypervisor host_ip has this host name "
        "(did you mean compute-1, compute-2?)")
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    run(app, "--host", "compute-1", "-f", "value")
    assert "note:" not in app.stderr.getvalue()
    # the agents could not be listed: "unknown to the API" would be a guess
    cloud.mocker.get(f"{fakes.NETWORK_URL}/v2.0/agents", status_code=503, headers=fakes.JSON,
                     json={"NeutronError": {"type": "ServiceUnavailable", "detail": "",
                                            "message": "try again"}})
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    run(app, "--host", "compute-3", "-f", "value")
    notes = [ln for ln in app.stderr.getvalue().splitlines() if ln.startswith("note:")]
    assert notes and all("L2 agents unknown" in n for n in notes), notes


def test_zone_is_the_aggregates_hosts(mocker, probes):
    cloud = fleet_cloud(mocker, 4)
    cloud.add_aggregate("rack1", ["compute-2"], zone="az1")
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    assert run(app, "--zone", "az1", "-f", "json") == 1
    assert {r["Host"] for r in json.loads(app.stdout.getvalue())} == {"compute-2"}
    with pytest.raises(exceptions.CommandError, match="No host aggregate defines"):
        run(FakeApp(cloud.connection()), "--zone", "nowhere")


@pytest.mark.parametrize("demo", ["demo", "demo-ovn"])
def test_demo_capture_audits_with_no_cloud(demo):
    app = FakeApp()
    assert run(app, "--capture", demo, "-f", "json") == 0
    assert json.loads(app.stdout.getvalue()) == []


def test_a_person_reads_the_hosts_then_their_sum():
    app = FakeApp()
    assert run(app, "--capture", "demo") == 0
    assert app.stderr.getvalue().splitlines() == [
        "compute1: 5 expected, 5 found, 0 orphans, 0 errors, 0 warnings",
        "compute2: 5 expected, 5 found, 0 orphans, 0 errors, 0 warnings",
        "network1: 3 expected, 3 found, 0 orphans, 0 errors, 0 warnings",
        "total: 3 hosts, 13 expected, 13 found, 0 orphans, 0 errors, 0 warnings"]


def test_the_total_line_counts_the_hosts_not_probed(mocker, probes):
    cloud = fleet_cloud(mocker, 4)
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    assert run(app) == 1
    lines = app.stderr.getvalue().splitlines()
    assert lines[-2].startswith("compute-2: 2 expected, 0 found") and lines[-2].endswith(
        "(not probed)")
    assert lines[-1].startswith("total: 2 hosts (1 not probed), 4 expected, 0 found, ")


def test_demo_network_node_namespaces_are_each_accounted_for_by_a_port():
    """The demo's audit was recorded unfiltered: the leftover rule for namespaces Neutron
    still has runs on it, and network1's qdhcp-/qrouter- are each due to a port bound there."""
    from osc_netpath import capture
    from osc_netpath.audit import run as audit_run

    trace = audit_run.merged(capture.load("demo"))
    assert trace.cloud.ports_unfiltered
    network1 = audit_run.host_inputs(trace.cloud, complete=True)["network1"]
    found = {n for n in capture_namespaces(trace, "network1") if n[:6] in ("qdhcp-", "qroute")}
    assert found and network1.hosted is not None and found <= network1.hosted


def capture_namespaces(trace, host: str) -> list[str]:
    from osc_netpath.host import probe

    return probe.parse_output(host, trace.probes[host]).namespaces


def test_bad_capture_is_one_line():
    with pytest.raises(exceptions.CommandError, match="^cannot read capture /nonexistent"):
        run(FakeApp(), "--capture", "/nonexistent")


def test_record_then_replay_gives_the_same_rows(mocker, probes, tmp_path):
    cloud = fleet_cloud(mocker, 4)
    bundle = tmp_path / "fleet.json"
    live = FakeApp(cloud.connection(), netpath={"user": "ops"})
    assert run(live, "--record", str(bundle), "-f", "json") == 1
    replay = FakeApp()
    assert run(replay, "--capture", str(bundle), "-f", "json") == 1
    assert json.loads(replay.stdout.getvalue()) == json.loads(live.stdout.getvalue())
    with pytest.raises(exceptions.CommandError, match="do not go together"):
        run(FakeApp(), "--capture", str(bundle), "--record", str(tmp_path / "x.json"))


def test_each_host_is_audited_as_it_answers_and_its_output_dropped(mocker, probes, tmp_path):
    """Unfiltered, not recorded: the audit checks a host in the transport's callback and drops
    its output there; the findings are those of a run that kept the output."""
    cloud = fleet_cloud(mocker, 4)
    streamed = FakeApp(cloud.connection(), netpath={"user": "ops"})
    assert run(streamed, "-f", "json") == 1
    assert [r.host for r in probes.results] == list(HOSTS)
    assert all(r.stdout is None for r in probes.results)  # nothing of the fleet's output kept
    kept = FakeApp(cloud.connection(), netpath={"user": "ops"})
    assert run(kept, "--record", str(tmp_path / "kept.json"), "-f", "json") == 1
    assert probes.results[2].stdout == RECORDED  # --record keeps it: the capture needs it
    assert json.loads(streamed.stdout.getvalue()) == json.loads(kept.stdout.getvalue())


def test_summary_has_probe_time_and_a_tty_gets_a_progress_line(mocker, probes):
    cloud = fleet_cloud(mocker, 4)
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    app.stderr = Tty()
    run(app)
    err = app.stderr.getvalue()
    assert "\rnetpath audit: 1/2 hosts probed\x1b[K" in err
    assert "\rnetpath audit: 2/2 hosts probed, 1 not probed\x1b[K" in err
    lines = err.split("\r\x1b[K", 1)[1].splitlines()  # the progress line is wiped first
    assert any(ln.startswith("compute-1: ") and ln.endswith(", probe 0.3s") for ln in lines)
    assert any(ln.startswith("compute-2: ") and ln.endswith("(not probed)") for ln in lines)
    quiet = FakeApp(cloud.connection(), netpath={"user": "ops"})  # not a terminal: no line
    run(quiet, "-f", "json")
    assert "hosts probed" not in quiet.stderr.getvalue()


def test_ctrl_c_shows_the_hosts_that_answered_and_exits_130(mocker, monkeypatch):
    """compute-1 answers, then Ctrl-C while compute-2 is still out: compute-1's findings are
    printed, compute-2 is host-unprobed "interrupted", the exit status is 130."""
    cloud = fleet_cloud(mocker, 4)

    def run_probes(jobs, script, concurrency=10, on_result=None):
        done = transport.ProbeResult(host="compute-1", stdout=RECORDED, elapsed=0.1)
        on_result(done)
        counts = {t.host: 1 for t, _ in jobs}
        raise transport.ProbesInterrupted({"compute-1": done},
                                          transport.TransportStats(connections=counts))

    monkeypatch.setattr(transport, "run_probes", run_probes)
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    assert run(app, "-f", "json") == 130
    rows = json.loads(app.stdout.getvalue())
    assert {"interface-missing", "orphan-port"} <= {r["Class"] for r in rows
                                                     if r["Host"] == "compute-1"}
    (on2,) = [r for r in rows if r["Host"] == "compute-2"]
    assert on2["Class"] == "host-unprobed" and "interrupted (Ctrl-C)" in on2["Seen"]
    assert "netpath audit: interrupted (Ctrl-C)" in app.stderr.getvalue()


def ovn_fleet(mocker: Any) -> fakes.FakeCloud:
    """Two OVN chassis with a VM each on a Geneve network and its metadata port (bound
    nowhere), as Neutron's OVN driver lists them."""
    cloud = fakes.FakeCloud(mocker)
    net = cloud.add_network("geneve-net", (("geneve", None, 7),))
    for i, host in enumerate(HOSTS):
        conf = {"chassis_name": fakes.fake_id("chassis", host), "bridge-mappings": ""}
        cloud.add_agent(host, "OVN Controller agent", "ovn-controller", conf)
        cloud.add_agent(host, "OVN Metadata agent", "neutron-ovn-metadata-agent", conf)
        cloud.add_hypervisor(host, f"192.0.2.1{i + 1}")
        cloud.add_port(net, device_id=fakes.fake_id("vm", i), host=host, index=i,
                       vif_details={"bridge_name": "br-int"})
    cloud.add_port(net, device_id=f"ovnmeta-{net['id']}", host=None,
                   device_owner="network:distributed", index=9)
    return cloud


@pytest.fixture
def audited(monkeypatch) -> list[Any]:
    """Every HostInput the audit checked (what the API side gave each host)."""
    seen: list[Any] = []
    real = run_mod.audit_one
    monkeypatch.setattr(run_mod, "audit_one", lambda hi, out, err: seen.append(hi) or
                        real(hi, out, err))
    return seen


def test_ovn_fleet_metadata_and_chassis_from_one_port_list(mocker, probes, audited):
    """Unfiltered, the port list holds the metadata ports: nothing more is asked."""
    cloud = ovn_fleet(mocker)
    net = cloud.networks[0]["id"]
    run(FakeApp(cloud.connection(), netpath={"user": "ops"}), "-f", "json")
    ports = [c for c in cloud.requests() if c.path == "/v2.0/ports" and "id" not in c.query]
    assert len(ports) == 1 and "device_owner" not in ports[0].query
    assert {hi.host: (hi.metadata_networks, hi.metadata_agent) for hi in audited} == {
        h: ({net}, True) for h in HOSTS}
    assert {hi.host: hi.peer_chassis for hi in audited} == {
        "compute-1": {"compute-2": fakes.fake_id("chassis", "compute-2")},
        "compute-2": {"compute-1": fakes.fake_id("chassis", "compute-1")}}


def test_ovn_host_filter_asks_for_the_metadata_ports_once(mocker, probes, audited):
    """A host-filtered port list never holds the metadata ports (bound nowhere): one paged
    query by device_owner finds the networks whose ovnmeta- is due."""
    cloud = ovn_fleet(mocker)
    net = cloud.networks[0]["id"]
    run(FakeApp(cloud.connection(), netpath={"user": "ops"}), "--host", "compute-1")
    ports = [c for c in cloud.requests() if c.path == "/v2.0/ports"]
    # the host's ports, the metadata ports, the recorded host's unlisted iface-ids, then
    # what the findings claim of ports, asked again
    assert [p.query.get("device_owner") for p in ports] == [
        None, ["network:distributed"], None, None]
    assert ports[1].query["fields"] == ["network_id"]
    assert [(hi.host, hi.metadata_networks) for hi in audited] == [("compute-1", {net})]


def test_l3_agents_name_the_dvr_snat_hosts_and_are_never_a_hosts_l2_agent(
        mocker, probes, audited, monkeypatch):
    """The one paged agent list also gives the L3 agents: a dvr_snat one marks its host (any
    distributed router's qrouter- may be there); no L3 agent stands in for the L2 agent, and
    a host with only an L3 agent is not audited for it."""
    cloud = fleet_cloud(mocker, 4)
    cloud.add_agent("compute-1", "L3 agent", "neutron-l3-agent", {"agent_mode": "dvr_snat"})
    cloud.add_agent("compute-2", "L3 agent", "neutron-l3-agent", {"agent_mode": "dvr"})
    cloud.add_agent("l3-only", "L3 agent", "neutron-l3-agent", {"agent_mode": "dvr_snat"})
    gathered = []
    real = run_mod.gather
    monkeypatch.setattr(run_mod, "gather", lambda conn, scope: gathered.append(
        real(conn, scope)) or gathered[-1])
    run(FakeApp(cloud.connection(), netpath={"user": "ops"}), "-f", "json")
    assert len([c for c in cloud.requests() if c.path == "/v2.0/agents"]) == 1
    assert gathered[0].snat_hosts == ["compute-1", "l3-only"]
    assert sorted(hi.host for hi in audited) == list(HOSTS)
    assert {hi.host: hi.agent.agent_type for hi in audited} == {
        h: "Open vSwitch agent" for h in HOSTS}


def test_what_changed_in_neutron_while_the_hosts_were_probed_is_withdrawn(
        mocker, probes, monkeypatch, tmp_path):
    """While the hosts answer, a VM is deleted (its port gone), one boots on compute-1 (a
    port Neutron now has for an iface-id the host shows) and a router is created (the one a
    qrouter- on the host names): the findings resting on the old word (interface-missing,
    orphan-port, namespace-leftover) are withdrawn, the rest stand, a note says so, and a
    replay of the recorded run withdraws the same."""
    from osc_netpath.audit import checks
    from osc_netpath.host import probe

    cloud = fleet_cloud(mocker, 4)
    host = probe.parse_output("compute-1", RECORDED)
    booted = min(checks.iface_ids(host))
    (router,) = [n.removeprefix("qrouter-") for n in host.namespaces if n.startswith("qrouter-")]
    deleted = next(p for p in cloud.ports if p["binding:host_id"] == "compute-1")
    real = transport.run_probes

    def meanwhile(*args, **kw):
        cloud.ports.remove(deleted)
        new = cloud.add_port(cloud.networks[1], device_id="vm-new", host="compute-1", index=77)
        new["id"] = booted
        cloud.add_port(cloud.networks[1], device_id=router, host=None, index=78,
                       device_owner="network:router_interface")
        return real(*args, **kw)

    monkeypatch.setattr(transport, "run_probes", meanwhile)
    bundle = tmp_path / "fleet.json"
    live = FakeApp(cloud.connection(), netpath={"user": "ops"})
    run(live, "--record", str(bundle), "-f", "json")
    rows = {(r["Class"], r["Port"], r["Seen"]) for r in json.loads(live.stdout.getvalue())}
    assert not {r for r in rows if r[1] in (deleted["id"], booted)}
    assert not {r for r in rows if r[2] == f"namespace qrouter-{router}"}
    assert {c for c, _, _ in rows} >= {"interface-missing", "orphan-port", "host-unprobed"}
    assert ("4 finding(s) withdrawn: Neutron's ports, networks or routers they rest on changed "
            "while the hosts were probed (bridge-mapping-missing, interface-missing, "
            "namespace-leftover, orphan-port)") in live.stderr.getvalue()
    replay = FakeApp()
    run(replay, "--capture", str(bundle), "-f", "json")
    assert json.loads(replay.stdout.getvalue()) == json.loads(live.stdout.getvalue())
    assert replay.stderr.getvalue().count("withdrawn") == 1
