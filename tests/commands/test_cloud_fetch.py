"""cloud.fetch through a real openstacksdk Connection to the requests-mock cloud of fakes.py."""
from __future__ import annotations

import json

import pytest
from osc_lib.exceptions import CommandError

from osc_netpath import serial
from osc_netpath.cloud import fetch
from osc_netpath.cloud.facts import CloudFacts, Segment
from tests.commands import fakes


def trace(cloud: fakes.FakeCloud, name_or_id: str, host: str | None = None) -> CloudFacts:
    conn = cloud.connection()
    return fetch.gather(conn, fetch.find_server(conn, name_or_id), host)


# --- the request budget -----------------------------------------------------------------------


def test_one_port_server_by_id_takes_six_requests(requests_mock):
    cloud = fakes.scenario(requests_mock)
    server_id = cloud.server["id"]

    trace(cloud, server_id)

    assert cloud.calls() == [
        "POST keystone /v3/auth/tokens",
        f"GET nova /v2.1/servers/{server_id}",
        "GET neutron /v2.0/ports",
        "GET neutron /v2.0/networks",
        "GET neutron /v2.0/agents",
        "GET nova /v2.1/os-hypervisors/detail",
    ]
    _, server, ports, networks, agents, hypervisors = cloud.requests()
    assert server.microversion == "2.1"
    assert ports.query["device_id"] == [server_id]
    assert set(ports.query["fields"]) == set(fetch.PORT_FIELDS)
    assert networks.query["id"] == [cloud.ports[0]["network_id"]]
    assert set(networks.query["fields"]) == set(fetch.NETWORK_FIELDS)
    assert agents.query["host"] == [fakes.HOST]
    assert hypervisors.query == {"hypervisor_hostname_pattern": [fakes.HOST]}
    assert hypervisors.microversion == "2.53"


def test_two_ports_cost_no_extra_request(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vlan", "ovs-native-vxlan"))

    facts = trace(cloud, fakes.SERVER_NAME)

    assert len(cloud.calls()) == 6
    network_ids = {p["network_id"] for p in cloud.ports if p["device_id"] == cloud.server["id"]}
    assert set(cloud.requests()[3].query["id"]) == network_ids
    assert len(facts.ports) == 2 and set(facts.networks) == network_ids


# --- finding the server -----------------------------------------------------------------------


def test_by_id_gives_admin_attributes(requests_mock):
    cloud = fakes.scenario(requests_mock)

    server = fetch.find_server(cloud.connection(), cloud.server["id"])

    assert server.id == cloud.server["id"]
    assert server.name == fakes.SERVER_NAME
    assert (server.status, server.vm_state, server.power_state, server.task_state) == (
        "ACTIVE", "active", 1, None)
    assert server.host == fakes.HOST
    assert server.hypervisor_hostname == fakes.HOST
    assert server.instance_name == cloud.server["OS-EXT-SRV-ATTR:instance_name"]
    assert server.host_attributes_visible
    assert server.project_id == fakes.PROJECT_ID


def test_by_name_is_an_anchored_regex_across_projects(requests_mock):
    cloud = fakes.scenario(requests_mock)  # noise: "web-10" in another project

    server = fetch.find_server(cloud.connection(), fakes.SERVER_NAME)

    assert server.id == cloud.server["id"]
    (listing,) = [c for c in cloud.requests() if c.path.endswith("/servers/detail")]
    assert listing.query == {"name": ["^web-1$"], "all_tenants": ["True"]}


def test_name_with_regex_characters_is_escaped(requests_mock):
    cloud = fakes.scenario(requests_mock, name="db.1 (old)")
    cloud.add_server("dbx1 (old)")  # matched by the unescaped "." but not the exact name

    server = fetch.find_server(cloud.connection(), "db.1 (old)")

    assert server.id == cloud.server["id"]
    assert fetch.name_regex("a.b(c)[d]*+?{e}|^$\\-f") == r"^a\.b\(c\)\[d\]\*\+\?\{e\}\|\^\$\\-f$"


def test_a_server_named_like_a_uuid_is_found_by_name(requests_mock):
    cloud = fakes.scenario(requests_mock, name="8c0ffee0-0000-4000-8000-000000000001")

    server = fetch.find_server(cloud.connection(), "8c0ffee0-0000-4000-8000-000000000001")

    assert server.id == cloud.server["id"]
    assert cloud.calls()[1:] == [
        "GET nova /v2.1/servers/8c0ffee0-0000-4000-8000-000000000001",  # 404
        "GET nova /v2.1/servers/detail",
    ]


def test_ambiguous_name_lists_the_candidates(requests_mock):
    cloud = fakes.scenario(requests_mock)
    twin = cloud.add_server(fakes.SERVER_NAME, host="compute-2", project_id=fakes.OTHER_PROJECT_ID)

    with pytest.raises(CommandError) as err:
        fetch.find_server(cloud.connection(), fakes.SERVER_NAME)

    message = str(err.value)
    assert "2 servers are named 'web-1'" in message and "Pass the server ID" in message
    assert f"{cloud.server['id']} (ACTIVE, host compute-1, project {fakes.PROJECT_ID})" in message
    assert f"{twin['id']} (ACTIVE, host compute-2, project {fakes.OTHER_PROJECT_ID})" in message
    assert "\n" not in message


@pytest.mark.parametrize("name_or_id", ["nope", "0badc0de-0000-4000-8000-000000000000"])
def test_no_such_server(requests_mock, name_or_id):
    cloud = fakes.scenario(requests_mock)

    with pytest.raises(CommandError, match=f"^No server with a name or ID of '{name_or_id}'"):
        fetch.find_server(cloud.connection(), name_or_id)


# --- servers without a host -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "why"),
    [("SHELVED_OFFLOADED", "unshelve it"), ("ERROR", "fault"), ("BUILD", "scheduled")],
)
def test_no_host_means_nothing_to_trace(requests_mock, status, why):
    cloud = fakes.scenario(requests_mock, status=status)
    conn = cloud.connection()
    server = fetch.find_server(conn, cloud.server["id"])
    before = len(cloud.calls())

    with pytest.raises(CommandError) as err:
        fetch.gather(conn, server)

    assert server.host is None and server.host_attributes_visible
    assert f"is {status}:" in str(err.value) and why in str(err.value)
    assert "nothing to trace on a hypervisor" in str(err.value)
    assert len(cloud.calls()) == before  # fails before asking Neutron anything


def test_shelved_server_can_still_be_traced_on_a_named_host(requests_mock):
    cloud = fakes.scenario(requests_mock, status="SHELVED_OFFLOADED")

    facts = trace(cloud, cloud.server["id"], host=fakes.HOST)

    (port,) = facts.ports
    assert port.binding_vif_type == "unbound" and port.binding_host_id is None
    assert facts.hosts == [fakes.HOST]
    assert facts.host_override == fakes.HOST  # Nova places it on no host: the named one is traced
    assert facts.host_of(port) == fakes.HOST and facts.guest_host == fakes.HOST


# --- non-admin --------------------------------------------------------------------------------


def test_non_admin_without_host_is_told_to_use_admin_or_host(requests_mock):
    cloud = fakes.scenario(requests_mock, admin=False, cloud_name="demo")
    conn = cloud.connection()
    server = fetch.find_server(conn, cloud.server["id"])

    with pytest.raises(CommandError) as err:
        fetch.gather(conn, server)

    assert not server.host_attributes_visible and server.host is None
    assert server.status == "ACTIVE" and server.vm_state == "active"  # OS-EXT-STS stays visible
    message = str(err.value)
    assert "hidden by policy" in message and "cloud profile 'demo'" in message
    assert "--host" in message


def test_non_admin_by_name_falls_back_to_own_project(requests_mock):
    cloud = fakes.scenario(requests_mock, admin=False)

    server = fetch.find_server(cloud.connection(), fakes.SERVER_NAME)

    assert server.id == cloud.server["id"]
    listings = [c.query for c in cloud.requests() if c.path.endswith("/servers/detail")]
    assert listings == [{"name": ["^web-1$"], "all_tenants": ["True"]}, {"name": ["^web-1$"]}]


def test_non_admin_with_host_gets_ports_and_notes(requests_mock):
    cloud = fakes.scenario(requests_mock, admin=False)

    facts = trace(cloud, cloud.server["id"], host=fakes.HOST)

    assert facts.server.host == fakes.HOST and facts.hosts == [fakes.HOST]
    (port,) = facts.ports
    assert port.id == cloud.ports[0]["id"] and port.mac_address == cloud.ports[0]["mac_address"]
    assert port.binding_host_id is None and port.binding_vif_type is None
    assert port.binding_vif_details == {} and port.binding_vnic_type == "normal"
    (network,) = facts.networks.values()
    assert network.segments == [] and network.mtu == 1500
    assert facts.agents == [] and facts.host_ips == {}
    notes = "\n".join(facts.notes)
    for expected in ("comes from --host", "port bindings", "segments (provider:*)",
                     "no L2 agent visible", "os-hypervisors is admin-only"):
        assert expected in notes
    assert len(cloud.calls()) == 6  # the two admin-only lookups are tried, not assumed


# --- what gather reads ------------------------------------------------------------------------


def test_hybrid_vlan_port_facts(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vlan",))

    facts = trace(cloud, cloud.server["id"])

    (port,) = facts.ports
    raw = cloud.ports[0]
    assert port.id == raw["id"] and port.network_id == raw["network_id"]
    assert port.short_id == raw["id"][:11]
    assert port.binding_host_id == fakes.HOST and port.binding_vif_type == "ovs"
    assert port.binding_vif_details == {"connectivity": "l2", "port_filter": True,
                                        "ovs_hybrid_plug": True, "datapath_type": "system",
                                        "bridge_name": "br-int"}
    assert [(ip.subnet_id, ip.ip_address) for ip in port.fixed_ips] == [
        (raw["fixed_ips"][0]["subnet_id"], raw["fixed_ips"][0]["ip_address"])]
    assert facts.networks[port.network_id].segments == [Segment("vlan", "physnet1", 101)]
    assert facts.host_ips == {fakes.HOST: fakes.HOST_IP}  # not compute-10's
    assert facts.notes == []


def test_agents_are_the_l2_agents_of_the_host(requests_mock):
    cloud = fakes.scenario(requests_mock)  # noise: L3 agent on compute-1, agents on network-1

    facts = trace(cloud, cloud.server["id"])

    (agent,) = facts.agents
    assert (agent.host, agent.agent_type) == (fakes.HOST, "Open vSwitch agent")
    assert agent.bridge_mappings == fakes.BRIDGE_MAPPINGS
    assert agent.tunnel_types == ["vxlan"] and agent.tunneling_ip == fakes.TUNNEL_IP
    assert agent.integration_bridge == "br-int" and agent.alive
    assert facts.agent_for(fakes.HOST) is agent


def test_multi_segment_network(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-native-multisegment",))
    assert "provider:network_type" not in cloud.networks[0]  # shaped like ML2 multiprovidernet

    facts = trace(cloud, cloud.server["id"])

    (network,) = facts.networks.values()
    assert network.segments == [Segment("vlan", "physnet1", 201), Segment("vxlan", None, 2001)]
    assert network.mtu == 1450
    assert not any("/segments" in c for c in cloud.calls())  # the network body carries them


def test_native_vxlan_and_flat_segments(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-native-vxlan", "ovs-native-flat"))

    facts = trace(cloud, cloud.server["id"])

    segments = {n.name: n.segments for n in facts.networks.values()}
    assert segments == {"net-ovs-native-vxlan-1": [Segment("vxlan", None, 1001)],
                        "net-ovs-native-flat-2": [Segment("flat", "public", None)]}
    assert [p.binding_vif_details["ovs_hybrid_plug"] for p in facts.ports] == [False, False]


def test_ovn_bridge_mappings_string_is_parsed(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovn-geneve",))

    facts = trace(cloud, cloud.server["id"])

    # the OVN metadata agent is kept (it says an ovnmeta- namespace belongs here), but the
    # host's agent is its controller
    assert sorted(a.agent_type for a in facts.agents) == ["OVN Controller agent",
                                                          "OVN Metadata agent"]
    agent = facts.agent_for(facts.server.host)
    assert agent is not None and agent.agent_type == "OVN Controller agent"
    assert agent.bridge_mappings == fakes.BRIDGE_MAPPINGS
    assert facts.networks[facts.ports[0].network_id].segments == [Segment("geneve", None, 3001)]


def test_linuxbridge_port(requests_mock):
    cloud = fakes.scenario(requests_mock, ("linuxbridge-vlan",))

    facts = trace(cloud, cloud.server["id"])

    assert facts.ports[0].binding_vif_type == "bridge"
    (agent,) = facts.agents
    assert agent.agent_type == "Linux bridge agent"
    assert agent.configurations["interface_mappings"] == {"physnet1": "eth1"}


def test_hypervisor_found_by_nodename_when_it_differs_from_host(requests_mock):
    cloud = fakes.scenario(requests_mock, node="compute-1.example.net")

    facts = trace(cloud, cloud.server["id"])

    assert cloud.requests()[-1].query == {"hypervisor_hostname_pattern": ["compute-1.example.net"]}
    assert facts.host_ips == {fakes.HOST: fakes.HOST_IP}


def test_port_bound_elsewhere_adds_that_host(requests_mock):
    cloud = fakes.scenario(requests_mock)
    cloud.ports[0]["binding:host_id"] = "compute-10"  # mid-migration

    facts = trace(cloud, cloud.server["id"])

    assert facts.hosts == [fakes.HOST, "compute-10"]
    assert cloud.requests()[4].query["host"] == [fakes.HOST, "compute-10"]  # still one call
    assert {a.host for a in facts.agents} == {fakes.HOST, "compute-10"}
    assert facts.host_ips == {fakes.HOST: fakes.HOST_IP, "compute-10": "192.0.2.20"}
    assert len(cloud.calls()) == 7  # one hypervisor lookup per host


def test_admin_host_override_is_traced_alone(requests_mock):
    cloud = fakes.scenario(requests_mock)

    facts = trace(cloud, cloud.server["id"], host="compute-10")

    assert facts.server.host == fakes.HOST  # the API's word is kept
    assert facts.host_override == "compute-10"
    assert facts.hosts == ["compute-10"]  # not the binding's host as well: what was asked
    assert facts.host_of(facts.ports[0]) == "compute-10"
    assert cloud.requests()[4].query["host"] == ["compute-10"]
    assert [a.host for a in facts.agents] == ["compute-10"]
    assert facts.host_ips == {"compute-10": "192.0.2.20"}


def test_admin_host_equal_to_the_servers_is_no_override(requests_mock):
    cloud = fakes.scenario(requests_mock)

    assert trace(cloud, cloud.server["id"], host=fakes.HOST) == trace(cloud, cloud.server["id"])
    assert trace(cloud, cloud.server["id"], host=fakes.HOST).host_override is None


def test_nova_older_than_2_53_leaves_host_ip_unknown(requests_mock, monkeypatch):
    monkeypatch.setattr(fakes, "MAX_MICROVERSION", (2, 38))
    cloud = fakes.scenario(requests_mock)

    facts = trace(cloud, cloud.server["id"])

    assert facts.host_ips == {}
    assert ("host_ip of compute-1 unknown: Nova answered HTTP 406 to GET "
            "/v2.1/os-hypervisors/detail (Version not supported)") in facts.notes


def test_cloud_facts_round_trip_through_json(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vlan", "ovs-native-multisegment"))
    facts = trace(cloud, cloud.server["id"])

    again = serial.from_data(CloudFacts, json.loads(json.dumps(serial.to_data(facts))))

    assert again == facts


def test_neutron_failure_on_ports_is_one_clear_line(requests_mock):
    cloud = fakes.scenario(requests_mock)
    requests_mock.get(f"{fakes.NETWORK_URL}/v2.0/ports", status_code=500, headers=fakes.JSON,
                      json={"NeutronError": {"type": "HTTPInternalServerError", "detail": "",
                            "message": "Request Failed: internal server error\n"
                                       "while processing your request."}})

    with pytest.raises(CommandError) as err:
        trace(cloud, cloud.server["id"])

    assert str(err.value) == (
        f"Failed listing the ports of server {cloud.server['id']}: Neutron answered HTTP 500 "
        "to GET /v2.0/ports (Request Failed: internal server error while processing your "
        "request.): a server-side failure, see the neutron-server log"
    )


def test_credentials_from_environment_get_no_profile_name(requests_mock):
    cloud = fakes.scenario(requests_mock, admin=False, cloud_name="envvars")

    with pytest.raises(CommandError) as err:
        trace(cloud, cloud.server["id"])

    assert "use an admin cloud profile (--os-cloud), or name the hypervisor with --host" in str(
        err.value)
    assert "envvars" not in str(err.value)


def test_ovn_geneve_learns_the_other_hosts_and_their_chassis_in_two_requests(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovn-geneve",))
    network = cloud.networks[0]
    other = cloud.add_server("db-1", host="compute-2")
    cloud.add_port(network, device_id=other["id"], host="compute-2", vif_type="ovs", index=2)
    cloud.add_agent("compute-2", "OVN Controller agent", "ovn-controller",
                    {"chassis_name": fakes.fake_id("chassis", "compute-2")})

    facts = trace(cloud, cloud.server["id"])

    vm_hosts = {p["binding:host_id"] for p in cloud.ports if p["network_id"] == network["id"]
                and p["device_owner"].startswith("compute:")}
    assert {fakes.HOST, "compute-2"} <= vm_hosts  # the fake's noise may add more
    assert set(facts.network_hosts[network["id"]]) == vm_hosts
    calls = cloud.calls()
    assert calls[4:7] == ["GET neutron /v2.0/agents", "GET neutron /v2.0/ports",
                          "GET neutron /v2.0/agents"]
    assert len(calls) == 8  # the ML2/OVS budget + 2
    peers = cloud.requests()[5]
    assert peers.query["network_id"] == [network["id"]]
    assert set(peers.query["fields"]) == {"network_id", "binding:host_id", "device_owner"}
    assert "compute-2" in cloud.requests()[6].query["host"]
    chassis = {a.host: a.configurations.get("chassis_name") for a in facts.agents
               if a.agent_type == "OVN Controller agent"}
    assert chassis["compute-2"] == fakes.fake_id("chassis", "compute-2")


def test_ml2_ovs_vxlan_makes_no_peer_requests(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-native-vxlan",))
    facts = trace(cloud, cloud.server["id"])
    assert len(cloud.calls()) == 6 and facts.network_hosts == {}


# --- one port (netpath port show) -------------------------------------------------------------


def test_router_port_by_id_takes_five_requests(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vlan",))
    network = cloud.networks[0]
    router = cloud.add_port(network, device_id=fakes.fake_id("router", "r1"), host=fakes.HOST,
                            device_owner="network:router_interface", index=7, name="r1-if")
    conn = cloud.connection()

    port = fetch.find_port(conn, router["id"])
    facts = fetch.gather_port(conn, port)

    assert cloud.calls() == [
        "POST keystone /v3/auth/tokens",
        f"GET neutron /v2.0/ports/{router['id']}",
        "GET neutron /v2.0/networks",
        "GET neutron /v2.0/agents",
        "GET nova /v2.1/os-hypervisors/detail",
    ]
    assert (facts.subject, facts.hosts, facts.server.id) == ("port", [fakes.HOST],
                                                              router["device_id"])
    assert facts.ports[0].device_owner == "network:router_interface"


def test_ambiguous_port_name_lists_the_candidates(requests_mock):
    cloud = fakes.scenario(requests_mock)
    network = cloud.networks[0]
    for i in (7, 8):
        cloud.add_port(network, device_id=fakes.fake_id("router", str(i)), host=fakes.HOST,
                       device_owner="network:router_interface", index=i, name="gw")
    with pytest.raises(CommandError, match=r"^2 ports are named 'gw': .*Pass the port ID\.$"):
        fetch.find_port(cloud.connection(), "gw")
    with pytest.raises(CommandError, match="No port with a name or ID of 'nope' exists"):
        fetch.find_port(cloud.connection(), "nope")


def test_unbound_port_has_nothing_to_trace(requests_mock):
    cloud = fakes.scenario(requests_mock)
    body = cloud.add_port(cloud.networks[0], device_id="", host=None, index=9, name="free")
    conn = cloud.connection()
    with pytest.raises(CommandError, match="is bound to no host"):
        fetch.gather_port(conn, fetch.find_port(conn, body["id"]))


# --- one network (netpath network show) -------------------------------------------------------


def test_network_gather_finds_ports_hosts_and_agents(requests_mock):
    from osc_netpath.cloud import network as cloud_network

    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vlan",))
    net = cloud.networks[0]
    cloud.add_port(net, device_id=fakes.fake_id("router", "r1"), host=fakes.HOST,
                   device_owner="network:router_interface", index=7)
    conn = cloud.connection()

    trace = cloud_network.gather(conn, cloud_network.find_network(conn, net["name"]))

    calls = cloud.calls()
    assert calls[1:4] == ["GET neutron /v2.0/networks", "GET neutron /v2.0/networks",
                          "GET neutron /v2.0/ports"]  # by id (none), by name, its ports
    assert f"GET neutron /v2.0/networks/{net['id']}/dhcp-agents" in calls
    assert any(c.endswith("/l3-agents") for c in calls)
    assert fakes.HOST in trace.cloud.hosts
    assert {p.device_owner for p in trace.cloud.ports} >= {"compute:nova",
                                                          "network:router_interface"}
    assert trace.l3_agents and all(h.router_id for h in trace.l3_agents)


# --- a server's way out (netpath show --to external) ------------------------------------------


def _legacy_router(cloud: fakes.FakeCloud) -> tuple[dict, dict, dict]:
    """A legacy router on the network node: qr- on the server's network, qg- on an external
    network, a floating IP on the server's port."""
    network = cloud.networks[0]
    router = fakes.fake_id("router", "r1")
    ext = cloud.add_network("public", (("flat", "physnet1", None),))
    ext["router:external"] = True
    qr = cloud.add_port(network, device_id=router, host=fakes.NETWORK_HOST,
                        device_owner="network:router_interface", index=7)
    qg = cloud.add_port(ext, device_id=router, host=fakes.NETWORK_HOST,
                        device_owner="network:router_gateway", index=8)
    server_port = next(p for p in cloud.ports if p["device_id"] == cloud.server["id"])
    cloud.floating_ips.append({"floating_ip_address": "203.0.113.9", "port_id": server_port["id"],
                               "fixed_ip_address": server_port["fixed_ips"][0]["ip_address"],
                               "router_id": router, "status": "ACTIVE"})
    return qr, qg, server_port


def test_way_out_adds_the_router_ports_and_their_host_in_six_requests(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vxlan",))
    qr, qg, server_port = _legacy_router(cloud)
    conn = cloud.connection()

    facts = fetch.gather(conn, fetch.find_server(conn, cloud.server["id"]), way_out=True)

    calls = cloud.calls()
    assert calls[4:9] == ["GET neutron /v2.0/ports", "GET neutron /v2.0/ports",
                          "GET neutron /v2.0/networks", "GET neutron /v2.0/floatingips",
                          f"GET neutron /v2.0/routers/{qr['device_id']}/l3-agents"]
    # a plain trace, five for one router, and the network node's host_ip (Nova may know it)
    assert len(calls) == 6 + 5 + 1
    assert calls[-1] == "GET nova /v2.1/os-hypervisors/detail"
    interfaces = cloud.requests()[4].query
    assert interfaces["network_id"] == [server_port["network_id"]]
    assert "network:router_interface_distributed" in interfaces["device_owner"]
    assert cloud.requests()[7].query["port_id"] == [server_port["id"]]
    assert facts.way_out == [qr["id"], qg["id"]]
    assert [p.id for p in facts.ports][-2:] == [qr["id"], qg["id"]]
    assert fakes.NETWORK_HOST in facts.hosts and qg["network_id"] in facts.networks
    assert [str(f) for f in facts.floating_ips[qr["device_id"]]] == [
        f"203.0.113.9 → {server_port['fixed_ips'][0]['ip_address']} (ACTIVE)"]
    assert list(facts.floating_ips) == [qr["device_id"]]


def test_way_out_without_a_router_says_so_in_one_request(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vlan",))
    conn = cloud.connection()

    facts = fetch.gather(conn, fetch.find_server(conn, cloud.server["id"]), way_out=True)

    assert len(cloud.calls()) == 6 + 1 and facts.way_out == []
    assert any(n.startswith("no router on the server's networks") for n in facts.notes)


@pytest.mark.parametrize("schedulers", ["ovn", "none"])
def test_network_gather_on_ml2_ovn_says_there_are_no_dhcp_or_l3_agents(requests_mock,
                                                                        schedulers):
    from osc_netpath.cloud import network as cloud_network

    cloud = fakes.scenario(requests_mock, ("ovn-geneve",), noise=False)
    cloud.agent_schedulers = schedulers
    net = cloud.networks[0]
    router = fakes.fake_id("router", "r1")
    cloud.add_port(net, device_id=f"ovnmeta-{net['id']}", host=None,
                   device_owner="network:distributed", index=5)  # the metadata localport
    cloud.add_port(net, device_id=router, host=None, device_owner="network:router_interface",
                   index=6)
    cloud.add_agent(fakes.HOST, "OVN Controller Gateway agent", "ovn-controller", {})
    conn = cloud.connection()

    trace = cloud_network.gather(conn, cloud_network.find_network(conn, net["id"]))

    assert trace.dhcp_agents == [] and trace.l3_agents == []  # no namespaces to look for
    gateway = f": router {router} on {fakes.HOST})" if schedulers == "ovn" else ")"
    assert trace.cloud.notes == [(
        "ML2/OVN: no DHCP or L3 agents (DHCP is ovn-controller's, routers are logical; a "
        f"router's gateway is bound to its gateway chassis{gateway}")]
    assert trace.cloud.metadata_networks == [net["id"]]
    assert [p.device_owner for p in trace.cloud.ports] == ["compute:nova"]  # bound ones only


def test_network_gather_keeps_a_404_when_the_cloud_is_not_ovn(requests_mock):
    from osc_netpath.cloud import network as cloud_network

    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vlan",), noise=False)
    cloud.agent_schedulers = "none"
    net = cloud.networks[0]
    conn = cloud.connection()
    trace = cloud_network.gather(conn, cloud_network.find_network(conn, net["id"]))
    assert [n.split(":")[0] for n in trace.cloud.notes] == [
        f"/networks/{net['id']}/dhcp-agents"]
    assert "404" in trace.cloud.notes[0]


@pytest.mark.parametrize("schedulers", ["ovn", "none"])
def test_way_out_on_ml2_ovn_traces_the_gateway_on_its_chassis(requests_mock, schedulers):
    cloud = fakes.scenario(requests_mock, ("ovn-geneve",), noise=False)
    cloud.agent_schedulers = schedulers
    cloud.add_agent("gateway-1", "OVN Controller Gateway agent", "ovn-controller", {})
    router = fakes.fake_id("router", "r1")
    ext = cloud.add_network("public", (("vlan", "physnet1", 300),))
    qr = cloud.add_port(cloud.networks[0], device_id=router, host=None,
                        device_owner="network:router_interface", index=7)
    qg = cloud.add_port(ext, device_id=router, host="gateway-1",
                        device_owner="network:router_gateway", index=8)
    conn = cloud.connection()

    facts = fetch.gather(conn, fetch.find_server(conn, cloud.server["id"]), way_out=True)

    calls = cloud.calls()
    # "none": the 404 alone does not say OVN, the agents do; "ovn": the gateway agents do
    told = ["GET neutron /v2.0/agents"] if schedulers == "none" else []
    assert calls[4:10 + len(told)] == [
        "GET neutron /v2.0/ports", "GET neutron /v2.0/ports", "GET neutron /v2.0/networks",
        "GET neutron /v2.0/floatingips", f"GET neutron /v2.0/routers/{router}/l3-agents",
        *told, "GET neutron /v2.0/segments"]
    assert cloud.requests()[9 + len(told)].query["network_id"] == [ext["id"]]
    assert facts.way_out == [qg["id"]] and qr["id"] not in [p.id for p in facts.ports]
    assert "gateway-1" in facts.hosts
    (seg,) = facts.networks[ext["id"]].segments
    assert seg.id == fakes.fake_id("segment", ext["id"], 0)
    assert any(n.startswith("ML2/OVN: the routers are logical") for n in facts.notes)
    assert not any("l3-agents" in n or "L3 agents" in n for n in facts.notes)  # no 404 noise


@pytest.mark.parametrize("gateways", [1, 2])
def test_way_out_on_ml2_ovn_with_the_gateway_port_left_unbound(requests_mock, gateways):
    """Neutron may miss the cr-lrp claim (seen on the stack: the chassis claimed it in the
    batch that created it) and leave the gateway port without binding:host_id: it is traced
    on the chassis the l3-agents answer names, and the note says so."""
    cloud = fakes.scenario(requests_mock, ("ovn-geneve",), noise=False)
    cloud.agent_schedulers = "ovn"
    for g in range(1, gateways + 1):
        cloud.add_agent(f"gateway-{g}", "OVN Controller Gateway agent", "ovn-controller", {})
    router = fakes.fake_id("router", "r1")
    ext = cloud.add_network("public", (("vlan", "physnet1", 300),))
    cloud.add_port(cloud.networks[0], device_id=router, host=None,
                   device_owner="network:router_interface", index=7)
    qg = cloud.add_port(ext, device_id=router, host=None,
                        device_owner="network:router_gateway", index=8)
    conn = cloud.connection()

    facts = fetch.gather(conn, fetch.find_server(conn, cloud.server["id"]), way_out=True)

    (gw,) = [p for p in facts.ports if p.id == qg["id"]]
    said = f"router {router}: Neutron left its gateway port {qg['id']} unbound (no " \
        "binding:host_id); "
    if gateways == 1:
        assert gw.binding_host_id == "gateway-1" and "gateway-1" in facts.hosts
        assert said + "traced on gateway-1, its only gateway chassis" in facts.notes
    else:  # which one is active is the SB's to say, not Neutron's: unknown, not guessed
        assert gw.binding_host_id is None and "gateway-1" not in facts.hosts
        assert said + ("it is active on one of its gateway chassis gateway-1, gateway-2, "
                       "Neutron does not say which") in facts.notes
        assert not any("admin-only" in n for n in facts.notes)


def test_way_out_for_a_member_says_where_the_router_is_is_unknown(requests_mock):
    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vxlan",), admin=False)
    qr, qg, _ = _legacy_router(cloud)
    conn = cloud.connection()
    facts = fetch.gather(conn, fetch.find_server(conn, cloud.server["id"]), host_override=fakes.HOST,
                         way_out=True)
    assert facts.way_out == [qr["id"], qg["id"]]
    assert [p.binding_host_id for p in facts.ports if p.id in facts.way_out] == [None, None]
    assert f"router {qr['device_id']}: the host of some of its ports is not known " \
           "(binding:host_id and l3-agents are admin-only by default): those ports are shown " \
           "from the API only" in facts.notes


# --- a network node is no hypervisor -------------------------------------------------------


def test_network_node_unknown_to_nova_is_no_note_for_its_agent_ports(requests_mock):
    """Found on the stack: every command touching the network node warned "host_ip of network1
    unknown: … Nova knows no hypervisor named network1" although clouds.yaml gives its address.
    A host holding only agents' ports (network:*) is no hypervisor: Nova's 404 is expected (the
    lookup stays: a DVR compute or an agent on a compute does have one). A host Nova should
    know (the server's, --host, a VM port's) keeps the note."""
    from osc_netpath.cloud import network as cloud_network

    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vxlan",))
    qr, qg, _ = _legacy_router(cloud)
    assert not [h for h in cloud.hypervisors if fakes.NETWORK_HOST in (
        h.get("hypervisor_hostname"), (h.get("service") or {}).get("host"))]
    conn = cloud.connection()

    facts = fetch.gather(conn, fetch.find_server(conn, cloud.server["id"]), way_out=True)
    assert fakes.NETWORK_HOST in facts.hosts and fakes.NETWORK_HOST not in facts.host_ips
    assert not [n for n in facts.notes if n.startswith("host_ip of")], facts.notes
    assert cloud.calls()[-1] == "GET nova /v2.1/os-hypervisors/detail"  # still asked

    port = fetch.gather_port(conn, fetch.find_port(conn, qr["id"]))
    assert not [n for n in port.notes if n.startswith("host_ip of")], port.notes
    # --host names it: the user expects a hypervisor there, Nova's answer is said
    asked = fetch.gather_port(conn, fetch.find_port(conn, qr["id"]),
                              host_override=fakes.NETWORK_HOST)
    assert [n for n in asked.notes if n.startswith(f"host_ip of {fakes.NETWORK_HOST} unknown")]

    net = cloud_network.gather(conn, cloud_network.find_network(conn, qg["network_id"]))
    assert fakes.NETWORK_HOST in net.cloud.hosts
    assert not [n for n in net.cloud.notes if n.startswith("host_ip of")], net.cloud.notes


def test_dvr_fip_gateway_found_when_the_server_is_on_the_external_network_too(requests_mock):
    """Found on the stack's DVR phase: vm1 has a port on provider-flat, the external network of
    its router, so the gateway's network was already among the server's and the fg- port of
    the server's host was never asked for (the floating IP's way out had no fip- namespace)."""
    cloud = fakes.scenario(requests_mock, ("ovs-hybrid-vxlan",))
    network = cloud.networks[0]
    router = fakes.fake_id("router", "r1")
    ext = cloud.add_network("public", (("flat", "physnet1", None),))
    ext["router:external"] = True
    cloud.add_port(ext, device_id=cloud.server["id"], host=fakes.HOST, index=2)  # on it too
    qr = cloud.add_port(network, device_id=router, host=None,
                        device_owner="network:router_interface_distributed", index=7)
    qr["binding:vif_type"] = "distributed"
    qg = cloud.add_port(ext, device_id=router, host=fakes.NETWORK_HOST,
                        device_owner="network:router_gateway", index=8)
    fg = cloud.add_port(ext, device_id=fakes.fake_id("agent", "l3-compute"), host=fakes.HOST,
                        device_owner="network:floatingip_agent_gateway", index=9)
    server_port = next(p for p in cloud.ports if p["device_id"] == cloud.server["id"]
                       and p["network_id"] == network["id"])
    cloud.floating_ips.append({"floating_ip_address": "203.0.113.9", "port_id": server_port["id"],
                               "fixed_ip_address": server_port["fixed_ips"][0]["ip_address"],
                               "router_id": router, "status": "ACTIVE"})
    conn = cloud.connection()

    facts = fetch.gather(conn, fetch.find_server(conn, cloud.server["id"]), way_out=True)

    assert facts.way_out == [qr["id"], qg["id"], fg["id"]]
    assert {p.id: p.binding_host_id for p in facts.ports if p.id in facts.way_out} == {
        qr["id"]: fakes.HOST, qg["id"]: fakes.NETWORK_HOST, fg["id"]: fakes.HOST}
