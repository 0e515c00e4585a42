"""`openstack netpath network show` as cliff runs it: fake cloud, probes stubbed (commands tier)."""
from __future__ import annotations

import json

import pytest
import requests_mock
from osc_lib import exceptions

from osc_netpath.commands.netpath import ShowNetpathNetwork
from osc_netpath.host import transport
from tests.commands import fakes
from tests.commands import test_netpath_show as show
from tests.commands.test_netpath_show import FakeApp
from tests.unit.probe_fixtures import read


def run(app: FakeApp, *argv: str) -> int:
    return show.run(app, *argv, command=ShowNetpathNetwork, name="netpath network show")


@pytest.fixture
def cloud():
    with requests_mock.Mocker() as m:
        cloud = fakes.scenario(m, ("ovs-hybrid-vlan",))
        yield cloud


@pytest.fixture
def probes(monkeypatch):
    calls = []

    def run_probes(jobs, script, concurrency=10, on_result=None):
        calls.append(jobs)
        results = {}
        for target, _ in jobs:
            if target.host == fakes.HOST:  # a real probe output (not of this fake's ports)
                results[target.host] = transport.ProbeResult(
                    host=target.host, stdout=read("probe-compute1.txt"))
            else:
                results[target.host] = transport.ProbeResult(
                    host=target.host, error=f"{target.host}: connection refused",
                    error_kind="unreachable")
        for result in results.values():  # as the transport does, host by host
            if on_result is not None:
                on_result(result)
        return results, transport.TransportStats(connections={t.host: 1 for t, _ in jobs},
                                                 execs={t.host: 1 for t, _ in jobs})

    monkeypatch.setattr(transport, "run_probes", run_probes)
    return calls


def test_record_then_replay_gives_the_same_output_with_no_cloud(cloud, probes, tmp_path):
    net = cloud.networks[0]
    saved = tmp_path / "net.capture.json"
    live = FakeApp(cloud.connection(), netpath={"hosts": {fakes.NETWORK_HOST: "192.0.2.2"}})
    rc_live = run(live, net["name"], "-f", "json", "--record", str(saved))
    wired = {p["binding:host_id"] for p in cloud.ports if p["network_id"] == net["id"]}
    assert {fakes.HOST, fakes.NETWORK_HOST} <= wired  # and the fake's look-alike host
    assert len(probes) == 1 and {t.host for t, _ in probes[0]} == wired
    requests = len(cloud.calls())

    replay = FakeApp(None)
    rc_replay = run(replay, net["id"], "-f", "json", "--capture", str(saved))

    assert len(cloud.calls()) == requests and len(probes) == 1  # no API, no SSH
    assert json.loads(replay.stdout.getvalue()) == json.loads(live.stdout.getvalue())
    assert replay.stderr.getvalue() == live.stderr.getvalue()
    assert rc_replay == rc_live == 1  # the network node could not be probed: said, exit 1
    assert f"warning: {fakes.NETWORK_HOST}: connection refused" in replay.stderr.getvalue()
    with pytest.raises(exceptions.CommandError, match=r"^no network 'nope' in the capture "
                                                      rf"\(networks: {net['name']}\)$"):
        run(FakeApp(None), "nope", "--capture", str(saved))


def test_diagram_one_block_per_host(cloud, probes):
    net = cloud.networks[0]
    app = FakeApp(cloud.connection(), netpath={"hosts": {fakes.NETWORK_HOST: "192.0.2.2"}})
    run(app, net["name"], "--diagram")
    out = app.stdout.getvalue()
    assert out.splitlines()[0].startswith(f"network {net['name']} ({net['id']})  vlan physnet1")
    host_lines = [x for x in out.splitlines() if x and not x.startswith((" ", "!", "network "))]
    wired = sorted({p["binding:host_id"] for p in cloud.ports if p["network_id"] == net["id"]})
    assert sorted(x.split()[0] for x in host_lines) == wired
    assert f"  ! {fakes.NETWORK_HOST}: connection refused" in out
    assert app.stderr.getvalue() == ""  # the diagram carries its findings
