"""`openstack netpath show` as cliff runs it: fake cloud behind requests-mock, probes stubbed.

The transport is replaced by a stub here (commands tier); the lab tier runs the same command
over real SSH against real Open vSwitch.
"""
from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
import requests_mock
from osc_lib import exceptions

from osc_netpath import capture, serial
from osc_netpath.commands.netpath import ShowNetpath
from osc_netpath.host import transport
from tests.commands import fakes


class FakeApp:
    """What a cliff command reads from its app: streams, options, the client manager."""

    def __init__(self, conn: Any = None, netpath: dict[str, Any] | None = None) -> None:
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        self.stdin = io.StringIO()
        self.options = SimpleNamespace(debug=False, cloud="fake-admin")
        self.command_manager = SimpleNamespace(namespace="openstack.cli")
        self.client_manager = SimpleNamespace(
            _auth_setup_completed=conn is not None,
            sdk_connection=conn,
            get_configuration=lambda: {"netpath": dict(netpath or {})},
        )


def run(app: FakeApp, *argv: str, command: type = ShowNetpath,
        name: str = "netpath show") -> int:
    cmd = command(app, None, cmd_name=name)
    parsed = cmd.get_parser(f"openstack {name}").parse_args(list(argv))
    return cmd.run(parsed)


@pytest.fixture
def mocker():
    with requests_mock.Mocker() as m:
        yield m


@pytest.fixture
def probes(monkeypatch):
    """Replace SSH with a recorder; each test says what each host answers."""
    calls: list[tuple[list[tuple[Any, str]], int]] = []
    answers: dict[str, transport.ProbeResult] = {}

    def run_probes(jobs, script, concurrency=10, on_result=None):
        calls.append((jobs, concurrency))
        assert "#!/bin/sh" in script.splitlines()[0] or script.startswith("#")
        results = {t.host: answers[t.host] for t, _ in jobs}
        for result in results.values():  # as the transport does, host by host
            if on_result is not None:
                on_result(result)
        stats = transport.TransportStats(connections={t.host: 1 for t, _ in jobs},
                                         execs={t.host: 1 for t, _ in jobs})
        return results, stats

    monkeypatch.setattr(transport, "run_probes", run_probes)
    return SimpleNamespace(calls=calls, answers=answers)


def test_unreachable_host_still_prints_api_facts_and_exits_1(mocker, probes):
    cloud = fakes.scenario(mocker, ["ovs-hybrid-vlan"])
    probes.answers[fakes.HOST] = transport.ProbeResult(
        host=fakes.HOST, error=f"{fakes.HOST} ({fakes.HOST_IP}:22): connection refused",
        error_kind="unreachable")
    app = FakeApp(cloud.connection(), netpath={"user": "ops"})
    rc = run(app, "web-1", "-f", "json")
    assert rc == 1
    rows = json.loads(app.stdout.getvalue())
    port = cloud.ports[0]
    assert [(r["Kind"], r["MAC"], r["Port"]) for r in rows] == [
        ("guest-nic", port["mac_address"], port["id"])]
    assert f"{fakes.HOST} ({fakes.HOST_IP}:22): connection refused" in app.stderr.getvalue()
    # one probe job, to the hypervisor's host_ip, as user ops, asking for the domain and flows
    (jobs, _), = probes.calls
    (target, command), = jobs
    assert (target.host, target.address, target.username) == (fakes.HOST, fakes.HOST_IP, "ops")
    assert command.startswith("sh -s -- ")
    assert cloud.server["OS-EXT-SRV-ATTR:instance_name"] in command
    assert len(cloud.calls()) == 6


def test_host_address_flag_overrides_clouds_yaml(mocker, probes):
    cloud = fakes.scenario(mocker, ["ovs-native-vxlan"])
    probes.answers[fakes.HOST] = transport.ProbeResult(host=fakes.HOST, error="x",
                                                       error_kind="timeout")
    app = FakeApp(cloud.connection(), netpath={"hosts": {fakes.HOST: "10.9.9.9"}})
    run(app, "web-1", "--host-address", f"{fakes.HOST}=mgmt-1.example.org")
    (jobs, _), = probes.calls
    assert jobs[0][0].address == "mgmt-1.example.org"
    assert "--tunnel-flows 4 --tunnel-flows 22" in jobs[0][1]


def test_ambiguous_name_is_one_line_error(mocker, probes):
    cloud = fakes.scenario(mocker)
    twin = cloud.add_server("web-1", host=fakes.HOST)
    app = FakeApp(cloud.connection())
    with pytest.raises(exceptions.CommandError) as err:
        run(app, "web-1")
    assert twin["id"] in str(err.value) and cloud.server["id"] in str(err.value)
    assert "\n" not in str(err.value)
    assert probes.calls == []


def test_non_admin_is_told_to_use_admin_or_host(mocker, probes):
    cloud = fakes.scenario(mocker, admin=False, cloud_name="demo")
    app = FakeApp(cloud.connection())
    with pytest.raises(exceptions.CommandError) as err:
        run(app, "web-1")
    assert "admin" in str(err.value) and "--host" in str(err.value)


def test_shelved_server_has_nothing_to_trace(mocker, probes):
    cloud = fakes.scenario(mocker, status="SHELVED_OFFLOADED")
    with pytest.raises(exceptions.CommandError) as err:
        run(FakeApp(cloud.connection()), "web-1")
    assert "SHELVED_OFFLOADED" in str(err.value)


def test_record_then_replay_without_a_cloud(mocker, probes, tmp_path):
    cloud = fakes.scenario(mocker, ["ovs-hybrid-vlan"])
    probes.answers[fakes.HOST] = transport.ProbeResult(host=fakes.HOST, error="down",
                                                       error_kind="unreachable")
    live = FakeApp(cloud.connection())
    bundle = tmp_path / "c.json"
    run(live, "web-1", "--record", str(bundle), "-f", "json")
    saved = capture.load(str(bundle))
    assert [t.cloud.server.id for t in saved.traces] == [cloud.server["id"]]
    replay = FakeApp(None)  # no connection: replay must not need one
    rc = run(replay, cloud.server["id"], "--capture", str(bundle), "-f", "json")
    assert rc == 1  # the recorded host error is replayed too
    assert json.loads(replay.stdout.getvalue()) == json.loads(live.stdout.getvalue())


def test_bad_capture_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(exceptions.CommandError, match="not a netpath capture"):
        run(FakeApp(None), "vm1", "--capture", str(bad))
    with pytest.raises(exceptions.CommandError, match="cannot read capture"):
        run(FakeApp(None), "vm1", "--capture", str(tmp_path / "missing.json"))


def test_demo_capture_replays_every_server():
    bundle = capture.load(capture.DEMO)
    servers = [t for t in bundle.traces if t.cloud.subject == "server" and t.cloud.to is None]
    assert servers, "the demo capture has no server"
    for trace in servers:
        app = FakeApp(None)
        rc = run(app, trace.cloud.server.name, "--capture", "demo", "-f", "json")
        rows = json.loads(app.stdout.getvalue())
        kinds = [r["Kind"] for r in rows]
        assert kinds[0] == "guest-nic" and "ovs-bridge" in kinds, kinds
        assert rc == 0


def test_ovs_demo_replays_the_way_out_a_network_a_dhcp_port_and_the_audit():
    """The ML2/OVS demo (recorded from the stack with its network node): vm1's way out through
    router1's qrouter- on network1, tenant-vx with its qdhcp-/qrouter- namespaces, the DHCP
    port in its namespace, and the fleet audit: each replays, healthy, with no cloud."""
    from osc_netpath.commands.audit import AuditNetpath
    from osc_netpath.commands.netpath import ShowNetpathNetwork, ShowNetpathPort

    bundle = capture.load(capture.DEMO)
    by_kind = {}
    for trace in bundle.traces:
        by_kind.setdefault((trace.cloud.subject, trace.cloud.to), []).append(trace)
    assert set(by_kind) == {("server", None), ("server", "external"), ("network", None),
                            ("port", None), ("audit", None)}
    (out,) = by_kind[("server", "external")]
    app = FakeApp(None)
    assert run(app, out.cloud.server.name, "--to", "external", "--capture", "demo",
               "-f", "json") == 0, app.stderr.getvalue()
    rows = json.loads(app.stdout.getvalue())
    namespaces = [r["Device"] for r in rows if r["Kind"] == "namespace"]
    assert namespaces and all(d.startswith("qrouter-") for d in namespaces)
    assert {"ns-device", "guest-nic"} <= {r["Kind"] for r in rows}
    assert "warning:" not in app.stderr.getvalue()
    (net,) = by_kind[("network", None)]
    app = FakeApp(None)
    assert run(app, net.cloud.server.name, "--capture", "demo", "-f", "json",
               command=ShowNetpathNetwork, name="netpath network show") == 0
    net_rows = json.loads(app.stdout.getvalue())
    assert {r["Kind"] for r in net_rows} >= {"dhcp", "router_interface", "dhcp-agent",
                                             "l3-agent", "vm-port"}
    assert {r["Namespace"].split("-")[0] for r in net_rows if r["Namespace"]} == {
        "qdhcp", "qrouter"}
    (dhcp,) = by_kind[("port", None)]
    app = FakeApp(None)
    assert run(app, dhcp.cloud.ports[0].id, "--capture", "demo", "-f", "json",
               command=ShowNetpathPort, name="netpath port show") == 0, app.stderr.getvalue()
    port_rows = json.loads(app.stdout.getvalue())
    assert port_rows[0]["Device"].startswith("qdhcp-") and port_rows[0]["Kind"] == "namespace"
    app = FakeApp(None)
    assert run(app, "--capture", "demo", "-f", "json", command=AuditNetpath,
               name="netpath audit") == 0
    assert json.loads(app.stdout.getvalue()) == []
    audited = {h for t in by_kind[("audit", None)] for h in t.probes}
    assert audited == {"compute1", "compute2", "network1"}


def test_ovn_demo_replays_servers_the_way_out_and_a_network():
    from tests.commands.test_netpath_network_show import run as run_network

    bundle = capture.load("demo-ovn")
    subjects = {(t.cloud.subject, t.cloud.to) for t in bundle.traces}
    assert subjects == {("server", None), ("server", "external"), ("network", None)}
    for trace in bundle.traces:
        app = FakeApp(None)
        name = trace.cloud.server.name
        if trace.cloud.subject == "network":
            rc = run_network(app, name, "--capture", "demo-ovn", "-f", "json")
            assert {r["Kind"] for r in json.loads(app.stdout.getvalue())} >= {
                "host", "vm-port", "metadata"}
        else:
            to = ["--to", "external"] if trace.cloud.to else []
            rc = run(app, name, *to, "--capture", "demo-ovn", "-f", "json")
            kinds = [r["Kind"] for r in json.loads(app.stdout.getvalue())]
            assert kinds[0] == "guest-nic" and "ovs-bridge" in kinds
            assert ("logical-port" in kinds) == bool(to)  # the gateway on its chassis
        assert rc == 0, app.stderr.getvalue()
        assert "warning: port" not in app.stderr.getvalue()  # a healthy stack: no findings


def test_diagram_and_table_formats():
    name = capture.load(capture.DEMO).traces[0].cloud.server.name
    app = FakeApp(None)
    run(app, name, "--capture", "demo", "--diagram")
    out = app.stdout.getvalue()
    assert "br-int" in out and "→" in out and "local VLAN" in out
    app = FakeApp(None)
    run(app, name, "--capture", "demo", "-f", "value", "-c", "Kind")
    assert app.stdout.getvalue().splitlines()[0] == "guest-nic"


def test_strict_turns_findings_into_exit_1(tmp_path):
    trace = capture.load(capture.DEMO).traces[0]
    trace.cloud.agents[0].bridge_mappings = {}  # a host that maps no physnet: a finding
    trace.cloud.agents[0].tunneling_ip = None
    path = tmp_path / "c.json"
    capture.save(capture.Bundle(traces=[trace]), str(path))
    app = FakeApp(None)
    assert run(app, trace.cloud.server.id, "--capture", str(path), "-f", "json") == 0
    assert "warning:" in app.stderr.getvalue()
    assert run(FakeApp(None), trace.cloud.server.id, "--capture", str(path), "--strict",
               "-f", "json") == 1


def test_capture_round_trips_cloud_facts(mocker):
    cloud = fakes.scenario(mocker, ["ovs-native-multisegment"])
    from osc_netpath.cloud import fetch

    conn = cloud.connection()
    facts = fetch.gather(conn, fetch.find_server(conn, "web-1"))
    again = serial.from_data(type(facts), json.loads(json.dumps(serial.to_data(facts))))
    assert again == facts


def test_record_to_an_unwritable_place_fails_before_any_request(mocker, probes, tmp_path):
    cloud = fakes.scenario(mocker)
    with pytest.raises(exceptions.CommandError, match="not a writable directory"):
        run(FakeApp(cloud.connection()), "web-1", "--record", str(tmp_path / "no" / "c.json"))
    assert cloud.calls() == [] and probes.calls == []


def test_recorded_capture_is_private_and_has_no_secrets(mocker, probes, tmp_path):
    from tests.unit.probe_fixtures import read

    cloud = fakes.scenario(mocker)
    out = read("probe-compute1.txt").replace(  # an IPsec psk with a quote, as OVS lists it
        '["remote_ip","10.0.0.2"]]]', '["psk","hun\\"ter2"],["remote_ip","10.0.0.2"]]]')
    assert "ter2" in out
    probes.answers[fakes.HOST] = transport.ProbeResult(host=fakes.HOST, stdout=out)
    path = tmp_path / "c.json"
    run(FakeApp(cloud.connection()), "web-1", "--record", str(path), "-f", "json")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    text = path.read_text()
    assert "ter2" not in text and '[\\"psk\\",\\"<redacted>\\"]' in text
    assert '[\\"in_key\\",\\"flow\\"]' in text  # the rest of the OVS output as it was


def test_damaged_capture_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"format": "osc-netpath-capture", "version": 1,
                               "traces": [{"cloud": {"server": 3}}]}))
    with pytest.raises(exceptions.CommandError, match="damaged netpath capture"):
        run(FakeApp(None), "vm1", "--capture", str(bad))


def test_no_such_server(mocker, probes):
    cloud = fakes.scenario(mocker)
    with pytest.raises(exceptions.CommandError) as err:
        run(FakeApp(cloud.connection()), "no-such-vm")
    assert "no-such-vm" in str(err.value) and "\n" not in str(err.value)


def test_to_external_probes_the_network_node_in_the_same_round(mocker, probes):
    from tests.commands.test_cloud_fetch import _legacy_router

    cloud = fakes.scenario(mocker, ["ovs-hybrid-vxlan"])
    qr, qg, _ = _legacy_router(cloud)
    for host in (fakes.HOST, fakes.NETWORK_HOST):
        probes.answers[host] = transport.ProbeResult(host=host, error="refused",
                                                     error_kind="unreachable")
    # a network node has no hypervisor record, so no host_ip: its address comes from clouds.yaml
    app = FakeApp(cloud.connection(), netpath={"hosts": {fakes.NETWORK_HOST: "192.0.2.2"}})
    rc = run(app, "web-1", "--to", "external", "-f", "json")

    assert rc == 1  # the hosts could not be read: said, never hidden
    (jobs, _), = probes.calls  # one round, both hosts
    by_host = {t.host: cmd for t, cmd in jobs}
    assert set(by_host) == {fakes.HOST, fakes.NETWORK_HOST}
    router_ns = f"qrouter-{qr['device_id']}"
    assert f"--netns {router_ns}" in by_host[fakes.NETWORK_HOST]
    assert f"--netns snat-{qr['device_id']}" in by_host[fakes.NETWORK_HOST]  # DVR's gateway
    assert "--netns" not in by_host[fakes.HOST]
    rows = json.loads(app.stdout.getvalue())
    assert {r["Port"] for r in rows} >= {qr["id"], qg["id"]}
    # unreadable host: the router's ports are their namespaces as the API places them
    assert [(r["Device"], r["Kind"]) for r in rows if r["Port"] in (qr["id"], qg["id"])] == [
        (router_ns, "namespace"), (router_ns, "namespace")]


def test_to_takes_only_external(mocker, probes):
    with pytest.raises(SystemExit):
        run(FakeApp(), "web-1", "--to", "internet")


def test_to_external_is_recorded_beside_the_plain_trace(mocker, probes, tmp_path):
    from tests.commands.test_cloud_fetch import _legacy_router

    cloud = fakes.scenario(mocker, ["ovs-hybrid-vxlan"])
    qr, _, _ = _legacy_router(cloud)
    for host in (fakes.HOST, fakes.NETWORK_HOST):
        probes.answers[host] = transport.ProbeResult(host=host, error="refused",
                                                     error_kind="unreachable")
    saved = tmp_path / "c.json"
    cfg = {"hosts": {fakes.NETWORK_HOST: "192.0.2.2"}}
    run(FakeApp(cloud.connection(), netpath=cfg), "web-1", "--record", str(saved))
    run(FakeApp(cloud.connection(), netpath=cfg), "web-1", "--to", "external", "--record",
        str(saved))
    assert len(capture.load(str(saved)).traces) == 2  # one does not replace the other

    plain, out = FakeApp(), FakeApp()
    run(plain, "web-1", "--capture", str(saved), "-f", "json")
    run(out, "web-1", "--to", "external", "--capture", str(saved), "-f", "json")
    assert qr["id"] not in {r["Port"] for r in json.loads(plain.stdout.getvalue())}
    assert qr["id"] in {r["Port"] for r in json.loads(out.stdout.getvalue())}


def test_to_external_not_recorded_is_a_clear_error(mocker, probes, tmp_path):
    cloud = fakes.scenario(mocker, ["ovs-hybrid-vlan"])
    probes.answers[fakes.HOST] = transport.ProbeResult(host=fakes.HOST, error="x",
                                                       error_kind="unreachable")
    saved = tmp_path / "c.json"
    run(FakeApp(cloud.connection()), "web-1", "--record", str(saved))
    with pytest.raises(exceptions.CommandError,
                       match=r"^server 'web-1' is in the capture without --to only; it cannot "
                             r"be replayed with --to external$"):
        run(FakeApp(), "web-1", "--to", "external", "--capture", str(saved))
