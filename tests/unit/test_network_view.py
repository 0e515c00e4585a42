"""netpath network show's pure view, on probe output recorded from real tools."""
from __future__ import annotations

from osc_netpath.cloud.facts import (
    AgentFacts,
    CloudFacts,
    NetworkFacts,
    PortFacts,
    Segment,
    ServerFacts,
)
from osc_netpath.cloud.network import HostedBy, NetworkTrace
from osc_netpath.host import probe
from osc_netpath.path.network import view
from tests.unit.probe_fixtures import HYBRID, QDHCP, read

NET = QDHCP[len("qdhcp-"):]
VM = PortFacts(id=f"{HYBRID}2b-4c11-9a0e-5b6f7c8d9e01", network_id=NET, mac_address="m",
               status="ACTIVE", device_owner="compute:nova", binding_host_id="compute-1")
DHCP = PortFacts(id="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", network_id=NET, mac_address="m",
                 status="ACTIVE", device_owner="network:dhcp", binding_host_id="compute-1")


def _trace(**kw) -> NetworkTrace:
    net = NetworkFacts(NET, "net-vlan", 1500, [Segment("vlan", "physnet1", 101)])
    cloud = CloudFacts(server=ServerFacts(id=NET, name="net-vlan", status="ACTIVE"),
                       ports=[VM, DHCP], networks={NET: net}, hosts=["compute-1"],
                       subject="network")
    return NetworkTrace(network=net, cloud=cloud, **kw)


def _facts():
    return {"compute-1": probe.parse_output("compute-1", read("probe-compute1.txt"))}


def test_ports_devices_namespaces_and_the_local_vlan():
    agent = AgentFacts(id="d1", host="compute-1", agent_type="DHCP agent")
    out = view(_trace(dhcp_agents=[HostedBy(agent)]), _facts())
    rows = {(r.kind, r.name): r for r in out.rows}
    assert rows[("host", "compute-1")].vlan == "3"
    assert (rows[("vm-port", VM.id)].device, rows[("vm-port", VM.id)].vlan) == (
        f"qvo{HYBRID}", "3")
    dhcp = rows[("dhcp", DHCP.id)]
    assert (dhcp.device, dhcp.namespace, dhcp.vlan) == ("tapa1b2c3d4-e5", QDHCP, "3")
    assert rows[("dhcp-agent", "d1")].namespace == QDHCP
    assert out.findings == []


def test_agents_and_namespaces_that_do_not_agree_with_neutron():
    l3 = [HostedBy(AgentFacts(id=f"l{i}", host="compute-1", agent_type="L3 agent",
                              alive=i == 1), "r-1", "active") for i in (1, 2)]
    out = view(_trace(l3_agents=l3), _facts())
    assert "compute-1: the L3 agent of router r-1 is down (not reporting)" in out.findings
    assert ("compute-1: qrouter-r-1 does not exist although Neutron says the L3 agent of router "
            "r-1 runs here") in out.findings
    assert ("router r-1 (L3-HA) is active on compute-1, compute-1: exactly one agent must be "
            "active") in out.findings


def test_an_unreadable_host_is_unknown():
    out = view(_trace(), {"compute-1": probe.parse_output("compute-1", "")})
    (head,) = [r for r in out.rows if r.kind == "host"]
    assert head.state == "unknown" and out.findings == []
