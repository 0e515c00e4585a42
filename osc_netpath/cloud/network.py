"""Neutron facts about one network, everywhere it is wired (``netpath network show``).

The network, all its ports with their binding host and owner (one filtered list), the agents of
those hosts, the DHCP agents hosting it and the L3 agents of the routers attached to it (one
request per router: Neutron has no bulk form), the hosts' host_ip.
"""
from __future__ import annotations

from typing import Any

from openstack import exceptions as sdk_exc
from openstack.connection import Connection
from osc_lib.exceptions import CommandError

from osc_netpath.cloud import fetch
from osc_netpath.cloud.errors import answer_of, api_error
from osc_netpath.cloud.facts import (
    CloudFacts,
    HostedBy,
    NetworkFacts,
    NetworkTrace,
    ServerFacts,
)

OVN_METADATA_OWNER = "network:distributed"  # ML2/OVN's metadata port (a localport)
OVN_AGENTS = ("OVN Controller agent", "OVN Controller Gateway agent")
ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                 "network:ha_router_replicated_interface", "network:router_gateway")


def find_network(conn: Connection, name_or_id: str) -> NetworkFacts:
    if not name_or_id:
        raise CommandError("No network given: pass a network name or ID.")
    fields = {"fields": list(fetch.NETWORK_FIELDS)}
    try:
        raw = fetch._get(conn.network, "/networks", {"id": name_or_id, **fields})["networks"]
        if not raw:
            raw = fetch._get(conn.network, "/networks", {"name": name_or_id, **fields})["networks"]
    except sdk_exc.HttpException as exc:
        raise api_error(f"finding network {name_or_id!r}", conn.network, exc) from exc
    only = one_network([n["id"] for n in raw], name_or_id)
    return fetch._network_facts(next(n for n in raw if n["id"] == only))


def one_network(matches: list[str], name_or_id: str) -> str:
    """The one network ID that ``name_or_id`` matched, or the error saying why not."""
    if not matches:
        raise CommandError(f"No network with a name or ID of '{name_or_id}' exists.")
    if len(matches) > 1:
        raise CommandError(f"{len(matches)} networks are named '{name_or_id}': "
                           f"{', '.join(matches)}. Pass the network ID.")
    return matches[0]


def gather(conn: Connection, network: NetworkFacts) -> NetworkTrace:
    notes: list[str] = []
    try:
        raw = fetch._get(conn.network, "/ports", {"network_id": network.id,
                                                  "fields": list(fetch.PORT_FIELDS)})["ports"]
    except sdk_exc.HttpException as exc:
        raise api_error(f"listing the ports of network {network.id}", conn.network, exc) \
            from exc
    ports = [fetch._port_facts(p) for p in raw]
    owner = ServerFacts(id=network.id, name=network.name or network.id, status="ACTIVE")
    cloud = CloudFacts(server=owner, ports=[p for p in ports if p.binding_host_id],
                       networks={network.id: network}, notes=notes, subject="network")
    if any(p.device_owner == OVN_METADATA_OWNER for p in ports):
        cloud.metadata_networks = [network.id]  # OVN: the metadata agent serves it
    trace = NetworkTrace(network=network, cloud=cloud)
    missing: list[str] = []  # 404: the agent scheduler extension is not loaded (ML2/OVN)
    trace.dhcp_agents = _hosted(conn, f"/networks/{network.id}/dhcp-agents", None, notes,
                                missing)
    for router in sorted({p.device_id for p in ports
                          if p.device_owner in ROUTER_OWNERS and p.device_id}):
        trace.l3_agents += _hosted(conn, f"/routers/{router}/l3-agents", router, notes,
                                   missing)
    hosts = [p.binding_host_id for p in cloud.ports if p.binding_host_id]
    hosts += [h.agent.host for h in trace.dhcp_agents + trace.l3_agents]
    cloud.hosts = sorted(dict.fromkeys(hosts))
    if cloud.hosts:
        cloud.agents = fetch._agents(conn, cloud.hosts, cloud.ports, notes)
        cloud.host_ips = fetch._host_ips(conn, owner, cloud.hosts, notes,
                                         fetch.agents_only(cloud.hosts, cloud.ports))
    if any(a.agent_type in OVN_AGENTS for a in cloud.agents + [
            h.agent for h in trace.dhcp_agents + trace.l3_agents]):
        # the L3 "agents" ML2/OVN lists for a router are its gateway chassis: no namespaces
        gateways = [h for h in trace.l3_agents if h.agent.agent_type in OVN_AGENTS]
        trace.l3_agents = [h for h in trace.l3_agents if h not in gateways]
        said = "; ".join(f"router {h.router_id} on {h.agent.host}" for h in gateways)
        notes.append("ML2/OVN: no DHCP or L3 agents (DHCP is ovn-controller's, routers are "
                     "logical; a router's gateway is bound to its gateway chassis"
                     + (f": {said})" if said else ")"))
    else:
        notes += missing
    return trace


def _hosted(conn: Connection, path: str, router: str | None,
            notes: list[str], missing: list[str]) -> list[HostedBy]:
    try:
        raw = fetch._get(conn.network, path, None)["agents"]
    except sdk_exc.NotFoundException as exc:
        missing.append(f"{path}: {answer_of(conn.network, exc)}")
        return []
    except sdk_exc.HttpException as exc:
        notes.append(f"{path}: {answer_of(conn.network, exc)}")
        return []
    return [HostedBy(agent=fetch._agent_facts(a), router_id=router,
                     ha_state=_str(a.get("ha_state"))) for a in raw]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
