"""audit.settle: which findings Neutron no longer backs when asked again after the probes."""
from __future__ import annotations

import dataclasses

import pytest
from osc_lib.exceptions import CommandError

from osc_netpath.audit import checks, settle
from osc_netpath.cloud import fleet
from osc_netpath.cloud.facts import PortFacts
from tests.unit import builders as b

NET_A, NET_B = "a" * 8 + "-aaaa-4aaa-8aaa-" + "a" * 12, "b" * 8 + "-bbbb-4bbb-8bbb-" + "b" * 12


def leftover(net: str) -> checks.Finding:
    return checks.Finding("compute1", "namespace-leftover", f"namespace qdhcp-{net}",
                          f"none: no port of network {net} bound to compute1 puts it here",
                          network=net)


def dhcp(net: str, host: str = "compute1") -> PortFacts:
    return PortFacts(id=f"dhcp-{net[:4]}", network_id=net, mac_address="fa:16:3e:00:00:01",
                     status="ACTIVE", device_owner="network:dhcp", device_id="dhcp-x",
                     binding_host_id=host, binding_vif_type="ovs")


@pytest.fixture
def cloud():
    c = b.cloud()
    for net in (NET_A, NET_B):
        c.networks[net] = dataclasses.replace(c.networks["net-1"], id=net)
    c.routers = []
    return c


def test_a_port_state_change_is_a_change_and_a_new_or_gone_port_too():
    port = b.cloud().ports[0]
    assert not settle.changed(port, dataclasses.replace(port, name="renamed"))
    assert settle.changed(port, dataclasses.replace(port, binding_host_id="compute2"))
    assert settle.changed(port, dataclasses.replace(port, status="DOWN"))
    assert settle.changed(port, None) and settle.changed(None, port)
    assert not settle.changed(None, None)  # an orphan Neutron still does not have


def test_a_namespace_a_port_bound_there_now_accounts_for_is_withdrawn(cloud, monkeypatch):
    """qdhcp-A: its DHCP port was bound to compute1 while the hosts were probed (the agent
    took the network over); qdhcp-B: still no port there. One request: that host's ports."""
    asked = []
    monkeypatch.setattr(fleet, "ports", lambda conn, hosts: asked.append(hosts) or [
        dhcp(NET_A), dhcp(NET_B, host="compute2")])
    found = [leftover(NET_A), leftover(NET_B)]
    assert settle.stale(None, cloud, found) == {settle.key(found[0])}
    assert asked == [["compute1"]]


def test_neutron_not_answering_leaves_the_findings_and_says_why(cloud, monkeypatch):
    def refuse(conn, hosts):
        raise CommandError("listing the fleet's ports: 503 Service Unavailable")

    monkeypatch.setattr(fleet, "ports", refuse)
    assert settle.stale(None, cloud, [leftover(NET_A)]) == set()
    assert cloud.notes == [("ports of compute1 not asked again: listing the fleet's ports: "
                            "503 Service Unavailable")]


def test_a_clean_fleet_asks_nothing(cloud, monkeypatch):
    monkeypatch.setattr(fleet, "ports", lambda *a, **k: pytest.fail("asked"))
    monkeypatch.setattr(fleet, "ports_by_id", lambda *a, **k: pytest.fail("asked"))
    monkeypatch.setattr(fleet, "existing_ids", lambda *a, **k: pytest.fail("asked"))
    host_only = checks.Finding("compute1", "interface-error", "x", "y", port="p")
    assert settle.stale(None, cloud, []) == settle.stale(None, cloud, [host_only]) == set()
