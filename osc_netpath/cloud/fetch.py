"""Nova and Neutron facts about one server, fetched through the openstacksdk service proxies.

The calls are plain REST on the proxies (keystoneauth Adapters) rather than SDK resources, on
purpose: each request is exactly the one we want (repeated filters, Neutron ``fields=``), a key
hidden by policy (absent) stays distinguishable from a null value, and no microversion discovery
round trip is made because every compute call pins the microversion it needs.

For a server with one port, ``find_server`` + ``gather`` make 5 API requests (plus the token):
the server, its ports, their networks, the L2 agents of its host, the hypervisor's host_ip.

A failed call is told as the service answered it (``errors.answer_of``: status, request, the
service's own message); only a 403, or a key that policy hides, is called a policy matter.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc
from openstack.connection import Connection
from osc_lib.exceptions import CommandError

from osc_netpath.cloud.errors import answer_of, api_error, hidden_host_error, no_host_error
from osc_netpath.cloud.facts import (
    AgentFacts,
    CloudFacts,
    FixedIP,
    NetworkFacts,
    PortFacts,
    Segment,
    ServerFacts,
)

# Everything read from a server exists at 2.1; later microversions only add bulk (2.3 adds
# OS-EXT-SRV-ATTR:user_data, up to 64 KiB) or non-admin fields we do not use.
SERVER_MICROVERSION = "2.1"
# 2.53 is the first with ?hypervisor_hostname_pattern= on /os-hypervisors/detail: one request
# returns host_ip (older clouds need /{pattern}/search then /{id}). Its UUID ids are not used.
HYPERVISOR_MICROVERSION = "2.53"

PORT_FIELDS = (
    "id", "name", "network_id", "mac_address", "status", "admin_state_up", "fixed_ips",
    "device_owner", "device_id", "binding:host_id", "binding:vif_type", "binding:vif_details",
    "binding:vnic_type", "binding:profile",
)
# A multi-segment network carries ``segments`` (multiprovidernet) instead of provider:*, with
# type/physnet/segmentation id already in it: no /v2.0/segments request is needed.
NETWORK_FIELDS = (
    "id", "name", "mtu", "provider:network_type", "provider:physical_network",
    "provider:segmentation_id", "segments",
)
AGENT_FIELDS = ("id", "host", "agent_type", "binary", "alive", "admin_state_up", "configurations")
# Decided by type: every OVN agent (metadata too) reports the chassis' bridge-mappings. The OVN
# metadata agent is kept too: its presence says an ovnmeta- namespace belongs on the host.
L2_AGENT_TYPES = frozenset({
    "Open vSwitch agent", "Linux bridge agent", "OVN Controller agent",
    "OVN Controller Gateway agent", "NIC Switch agent", "MacVTap agent", "OVN Metadata agent",
})

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.IGNORECASE)
# POSIX ERE metacharacters: Nova's name filter is a regex run by MySQL (REGEXP), PostgreSQL (~)
# or Python; backslash-escaping exactly these reads the same in all three.
_ERE_SPECIAL = re.compile(r"([.\[\]()*+?{}|^$\\])")


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _answered(func: Callable[_P, _T]) -> Callable[_P, _T]:
    """Failures outside any one request (building a proxy authenticates first) as one line."""
    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return func(*args, **kwargs)
        except ksa_exc.ClientException as exc:  # a refused token, no endpoint, no connection
            raise CommandError(answer_of(None, exc, conn=args[0] if args else None)) from None
        except sdk_exc.ServiceDisabledException as exc:  # the catalog lacks the service
            raise CommandError(" ".join(str(exc).split())) from None
    return wrapper


# --- servers ----------------------------------------------------------------------------------


@_answered
def find_server(conn: Connection, name_or_id: str) -> ServerFacts:
    """The server called or identified by ``name_or_id``, across all projects when allowed."""
    if not name_or_id:
        raise CommandError("No server given: pass a server name or ID.")
    if _UUID.match(name_or_id):
        body = _server_by_id(conn, name_or_id)
        if body is not None:
            return server_facts(body)
    matches = _servers_named(conn, name_or_id)
    if not matches:
        raise CommandError(f"No server with a name or ID of '{name_or_id}' exists.")
    if len(matches) > 1:
        listed = "; ".join(_describe(s) for s in matches)
        raise CommandError(
            f"{len(matches)} servers are named '{name_or_id}': {listed}. Pass the server ID."
        )
    return server_facts(matches[0])


def server_facts(body: dict[str, Any]) -> ServerFacts:
    """ServerFacts from a Nova server body (absent OS-EXT-SRV-ATTR keys mean policy hid them)."""
    return ServerFacts(
        id=body["id"],
        name=body.get("name") or "",
        status=body.get("status") or "UNKNOWN",
        host=body.get("OS-EXT-SRV-ATTR:host") or None,
        hypervisor_hostname=body.get("OS-EXT-SRV-ATTR:hypervisor_hostname") or None,
        instance_name=body.get("OS-EXT-SRV-ATTR:instance_name") or None,
        power_state=body.get("OS-EXT-STS:power_state"),
        vm_state=body.get("OS-EXT-STS:vm_state"),
        task_state=body.get("OS-EXT-STS:task_state"),
        host_attributes_visible="OS-EXT-SRV-ATTR:host" in body,
        project_id=body.get("tenant_id"),
    )


def _server_by_id(conn: Connection, server_id: str) -> dict[str, Any] | None:
    try:
        body = _get(conn.compute, f"/servers/{server_id}", microversion=SERVER_MICROVERSION)
    except sdk_exc.NotFoundException:
        return None  # may still be a server *named* like a UUID
    except sdk_exc.HttpException as exc:
        raise api_error(f"looking up server {server_id}", conn.compute, exc) from None
    return body["server"]


def _servers_named(conn: Connection, name: str) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"name": name_regex(name)}
    body = _server_list(conn, name, {**params, "all_tenants": "True"})
    if body is None:
        body = _server_list(conn, name, params)
    # The regex filter may be case-insensitive (MySQL collation): keep exact matches only.
    return [s for s in (body or {}).get("servers", []) if s.get("name") == name]


def _server_list(
    conn: Connection, name: str, params: dict[str, Any]
) -> dict[str, Any] | None:
    try:
        return _get(conn.compute, "/servers/detail", params, microversion=SERVER_MICROVERSION)
    except sdk_exc.HttpException as exc:
        # Nova refuses all_tenants (403) for non-admins rather than ignoring it: own project.
        if isinstance(exc, sdk_exc.ForbiddenException) and "all_tenants" in params:
            return None
        raise api_error(f"listing the servers named '{name}'", conn.compute, exc) from None


def name_regex(name: str) -> str:
    """An anchored regex matching exactly ``name`` (Nova's ``name`` filter is a regex)."""
    return "^" + _ERE_SPECIAL.sub(r"\\\1", name) + "$"


def _describe(body: dict[str, Any]) -> str:
    extra = [body.get("status") or "UNKNOWN"]
    if body.get("OS-EXT-SRV-ATTR:host"):
        extra.append(f"host {body['OS-EXT-SRV-ATTR:host']}")
    if body.get("tenant_id"):
        extra.append(f"project {body['tenant_id']}")
    return f"{body['id']} ({', '.join(extra)})"


# --- everything the server's ports touch ------------------------------------------------------


@_answered
def gather(conn: Connection, server: ServerFacts, host_override: str | None = None,
           way_out: bool = False) -> CloudFacts:
    """Ports, networks, L2 agents and hypervisor host_ip for ``server``.

    ``host_override`` (``--host``) names the compute host when the API cannot (non-admin).
    When the API does show the host and ``--host`` names another, that host alone is probed
    and the ports are resolved against it (``CloudFacts.host_override``): what was asked.
    """
    notes: list[str] = []
    host = _trace_host(conn, server, host_override, notes)
    if not server.host_attributes_visible:
        # The user's word stands in for the hidden attribute (on a copy: the caller's is kept).
        server = dataclasses.replace(server, host=host)
    facts = CloudFacts(server=server, notes=notes)
    facts.host_override = host if host != server.host else None
    facts.ports = _ports(conn, server, facts.notes)
    facts.networks = _networks(conn, {p.network_id for p in facts.ports}, facts.notes)
    facts.hosts = _hosts(host, facts.ports, alone=facts.host_override is not None)
    if way_out:  # --to external: the routers, where they live, their gateways
        from osc_netpath.cloud.way_out import add_way_out

        facts.to = "external"
        add_way_out(conn, facts)
    facts.agents = _agents(conn, facts.hosts, facts.ports, facts.notes)
    _ovn_peers(conn, facts)
    facts.host_ips = _host_ips(conn, server, facts.hosts, facts.notes,
                               agents_only(facts.hosts, facts.ports) - {host})
    return facts


OVN_CONTROLLER_TYPES = ("OVN Controller agent", "OVN Controller Gateway agent")
OVN_TUNNEL_TYPES = ("geneve", "vxlan")


def _ovn_peers(conn: Connection, facts: CloudFacts) -> None:
    """On an OVN chassis, which other hosts a tunnelled network's VM ports are bound to, and
    their chassis names (ovn-controller keeps a tunnel only to chassis that need one, so each
    must be there), and which networks have a metadata port (network:distributed: an
    ovnmeta- namespace is due wherever they have a VM port). Two requests (one filtered port
    list, the new hosts' controller agents), none on ML2/OVS."""
    agent = facts.agent_for(facts.hosts[0] if facts.hosts else None)
    tunnelled = {
        nid for nid, net in facts.networks.items()
        if any(seg.network_type in OVN_TUNNEL_TYPES for seg in net.segments)}
    if agent is None or agent.agent_type not in OVN_CONTROLLER_TYPES or not facts.networks:
        return
    params = {"network_id": sorted(facts.networks),
              "fields": ["network_id", "binding:host_id", "device_owner"]}
    try:
        raw = _get(conn.network, "/ports", params)["ports"]
    except sdk_exc.HttpException as exc:
        facts.notes.append(f"the other ports of the server's networks are unknown: "
                           f"{answer_of(conn.network, exc)}")
        return
    for port in raw:
        host, owner = port.get("binding:host_id"), str(port.get("device_owner"))
        network = str(port.get("network_id") or "")
        if owner == "network:distributed" and network not in facts.metadata_networks:
            facts.metadata_networks.append(network)  # its ovnmeta- namespace is due on hosts
        # VM ports only: a chassis keeps tunnels to the chassis of the VMs it may talk to
        if network in tunnelled and isinstance(host, str) and host \
                and owner.startswith("compute:"):
            hosts = facts.network_hosts.setdefault(network, [])
            if host not in hosts:
                hosts.append(host)
    new = sorted({h for hs in facts.network_hosts.values() for h in hs}
                 - {a.host for a in facts.agents})
    if not new:
        return
    try:
        body = _get(conn.network, "/agents", {"host": new, "fields": list(AGENT_FIELDS)})
    except sdk_exc.HttpException as exc:
        facts.notes.append(f"the chassis of {', '.join(new)} are unknown: "
                           f"{answer_of(conn.network, exc)}")
        return
    facts.agents += [_agent_facts(a) for a in body["agents"]
                     if a.get("agent_type") in OVN_CONTROLLER_TYPES]


def _trace_host(
    conn: Connection, server: ServerFacts, host_override: str | None, notes: list[str]
) -> str:
    """The compute host to trace; fails before any request when there is none."""
    if host_override:
        if not server.host_attributes_visible:
            notes.append(f"compute host {host_override} comes from --host (the API hides it)")
        return host_override
    if not server.host_attributes_visible:
        raise hidden_host_error(conn, server)
    if not server.host:
        raise no_host_error(server)
    return server.host


def _ports(conn: Connection, server: ServerFacts, notes: list[str]) -> list[PortFacts]:
    params = {"device_id": server.id, "fields": list(PORT_FIELDS)}
    try:
        raw = _get(conn.network, "/ports", params)["ports"]
    except sdk_exc.HttpException as exc:
        raise api_error(f"listing the ports of server {server.id}", conn.network, exc) from exc
    if not raw:
        notes.append("the server has no Neutron ports")
    if any("binding:vif_type" not in p for p in raw):
        notes.append("port bindings (binding:host_id, vif_type, vif_details) are hidden by "
                     "policy: an admin cloud profile shows how each port is plugged")
    return [_port_facts(p) for p in raw]


def find_port(conn: Connection, name_or_id: str) -> PortFacts:
    """Any Neutron port by ID or exact name (an ambiguous name lists the candidates)."""
    if not name_or_id:
        raise CommandError("No port given: pass a port name or ID.")
    fields = {"fields": list(PORT_FIELDS)}
    if _UUID.match(name_or_id):
        try:
            return _port_facts(_get(conn.network, f"/ports/{name_or_id}", fields)["port"])
        except sdk_exc.NotFoundException:
            pass  # may still be a port *named* like a UUID
        except sdk_exc.HttpException as exc:
            raise api_error(f"showing port {name_or_id}", conn.network, exc) from exc
    try:
        raw = _get(conn.network, "/ports", {"name": name_or_id, **fields})["ports"]
    except sdk_exc.HttpException as exc:
        raise api_error(f"listing ports named {name_or_id!r}", conn.network, exc) from exc
    if not raw:
        raise CommandError(f"No port with a name or ID of '{name_or_id}' exists.")
    if len(raw) > 1:
        listed = "; ".join(f"{p['id']} ({p.get('device_owner') or 'no owner'}, network "
                           f"{p.get('network_id')})" for p in raw)
        raise CommandError(f"{len(raw)} ports are named '{name_or_id}': {listed}. "
                           "Pass the port ID.")
    return _port_facts(raw[0])


def gather_port(conn: Connection, port: PortFacts,
                host_override: str | None = None) -> CloudFacts:
    """The facts around one port, whoever owns it: its network, the L2 agents and host_ip of
    the host it is bound to. The port's owner stands where a server stands in a server trace
    (its device id, name and the host), so capture and replay are the same."""
    notes: list[str] = []
    host = host_override or port.binding_host_id
    if not host:
        raise CommandError(
            f"Port {port.id} ({port.device_owner or 'no owner'}) is bound to no host "
            f"(binding:vif_type {port.binding_vif_type or 'hidden'}): nothing to trace on a "
            "host; pass --host HOST if the binding is hidden by policy.")
    owner = ServerFacts(id=port.device_id or port.id,
                        name=port.name or port.device_owner or port.id,
                        status=port.status, host=host, hypervisor_hostname=None)
    facts = CloudFacts(server=owner, notes=notes, ports=[port], subject="port")
    facts.host_override = host if host_override and host_override != port.binding_host_id \
        else None
    facts.networks = _networks(conn, {port.network_id}, facts.notes)
    facts.hosts = [host]
    facts.agents = _agents(conn, facts.hosts, facts.ports, facts.notes)
    _ovn_peers(conn, facts)
    facts.host_ips = _host_ips(conn, owner, facts.hosts, facts.notes,
                               set() if host_override else agents_only(facts.hosts, facts.ports))
    return facts


def _port_facts(body: dict[str, Any]) -> PortFacts:
    return PortFacts(
        id=body["id"],
        network_id=body["network_id"],
        mac_address=body.get("mac_address") or "",
        status=body.get("status") or "UNKNOWN",
        admin_state_up=body.get("admin_state_up", True),
        fixed_ips=[FixedIP(ip["subnet_id"], ip["ip_address"]) for ip in body.get("fixed_ips", [])],
        binding_host_id=body.get("binding:host_id") or None,  # "" when unbound
        binding_vif_type=body.get("binding:vif_type"),
        binding_vif_details=body.get("binding:vif_details") or {},
        binding_vnic_type=body.get("binding:vnic_type"),
        device_owner=body.get("device_owner"),
        name=body.get("name"),
        binding_profile=body.get("binding:profile") or {},
        device_id=body.get("device_id") or None,
    )


def _networks(conn: Connection, ids: set[str], notes: list[str]) -> dict[str, NetworkFacts]:
    if not ids:
        return {}
    params = {"id": sorted(ids), "fields": list(NETWORK_FIELDS)}
    try:
        raw = _get(conn.network, "/networks", params)["networks"]
    except sdk_exc.HttpException as exc:
        raise api_error("listing the server's networks", conn.network, exc) from exc
    networks = {n["id"]: _network_facts(n) for n in raw}
    if missing := sorted(ids - networks.keys()):
        notes.append(f"network(s) {', '.join(missing)} not visible to this project")
    hidden = [n["name"] or n["id"] for n in raw if not _has_segment_keys(n)]
    if hidden:
        notes.append(f"segments (provider:*) of {', '.join(hidden)} are hidden by policy: "
                     "an admin cloud profile shows VLAN/VNI and physical network")
    return networks


def _has_segment_keys(body: dict[str, Any]) -> bool:
    return "segments" in body or "provider:network_type" in body


def _network_facts(body: dict[str, Any]) -> NetworkFacts:
    raw_segments = body.get("segments")
    if raw_segments is None and body.get("provider:network_type"):
        raw_segments = [body]  # single segment: provider:* on the network itself
    return NetworkFacts(
        id=body["id"],
        name=body.get("name") or "",
        mtu=body.get("mtu"),
        segments=[_segment(s) for s in raw_segments or []],
    )


def _segment(body: dict[str, Any]) -> Segment:
    seg_id = body.get("provider:segmentation_id")
    return Segment(
        network_type=body.get("provider:network_type") or "unknown",
        physical_network=body.get("provider:physical_network") or None,
        segmentation_id=int(seg_id) if seg_id is not None else None,
    )


def _hosts(host: str, ports: Iterable[PortFacts], alone: bool = False) -> list[str]:
    """The traced host first, then any other host a port is bound to (mid-migration); that
    host ``alone`` when --host overrides Nova's: probe what was asked, nothing else."""
    hosts = [host]
    for port in [] if alone else ports:
        if port.binding_host_id and port.binding_host_id not in hosts:
            hosts.append(port.binding_host_id)
    return hosts


def _agents(
    conn: Connection, hosts: list[str], ports: list[PortFacts], notes: list[str]
) -> list[AgentFacts]:
    # One request for all hosts (Neutron ORs repeated filters). By host, not by agent_type: the
    # host filter is what keeps the answer small; L2 agents are then picked by type below.
    params = {"host": hosts, "fields": list(AGENT_FIELDS)}
    try:
        raw = _get(conn.network, "/agents", params)["agents"]
    except sdk_exc.HttpException as exc:
        notes.append(f"L2 agents unknown: {answer_of(conn.network, exc)}")
        return []
    agents = [_agent_facts(a) for a in raw if a.get("agent_type") in L2_AGENT_TYPES]
    if silent := [h for h in hosts if not any(a.host == h for a in agents)]:
        notes.append(_silent_agents_note(silent, listed_any=bool(raw), ports=ports))
    return agents


def _silent_agents_note(hosts: list[str], listed_any: bool, ports: list[PortFacts]) -> str:
    """Why Neutron named no L2 agent on ``hosts``: policy only where the API showed policy.

    Neutron drops agents the caller may not see (admin-only by default) instead of a 403, so
    an empty answer alone proves nothing; port bindings hidden the same way (absent
    binding:* keys) say the profile is not Neutron's admin.
    """
    named = ", ".join(hosts)
    if not listed_any and any(p.binding_vif_type is None for p in ports):
        return (f"no L2 agent visible for {named}: port bindings are hidden from this cloud "
                "profile too (the agents API and binding:* are admin-only by default)")
    return f"Neutron lists no L2 agent on {named}"


def _agent_facts(body: dict[str, Any]) -> AgentFacts:
    config = body.get("configurations") or {}
    return AgentFacts(
        id=body["id"],
        host=body["host"],
        agent_type=body.get("agent_type") or "",
        binary=body.get("binary"),
        alive=body.get("alive", True),
        admin_state_up=body.get("admin_state_up", True),
        bridge_mappings=_bridge_mappings(config),
        tunnel_types=list(config.get("tunnel_types") or []),
        integration_bridge=config.get("integration_bridge"),
        tunneling_ip=config.get("tunneling_ip") or None,
        configurations=config,
    )


def _bridge_mappings(config: dict[str, Any]) -> dict[str, str]:
    """OVS/linuxbridge agents report a dict; the OVN controller agent reports the raw
    ``ovn-bridge-mappings`` string ("physnet1:br-ex,physnet2:br-vlan") under a dashed key."""
    mappings = config.get("bridge_mappings")
    if isinstance(mappings, dict):
        return {str(k): str(v) for k, v in mappings.items()}
    pairs = (p.split(":", 1) for p in str(config.get("bridge-mappings") or "").split(","))
    return {k.strip(): v.strip() for k, v in (p for p in pairs if len(p) == 2)}


def agents_only(hosts: list[str], ports: list[PortFacts]) -> set[str]:
    """The hosts where only Neutron agents' ports (``network:*``) are bound: network nodes,
    which are no Nova hypervisors (unless an agent runs on a compute: then Nova knows it)."""
    return {h for h in hosts
            if all((p.device_owner or "").startswith("network:")
                   for p in ports if p.binding_host_id == h)}


def _host_ips(
    conn: Connection, server: ServerFacts, hosts: list[str], notes: list[str],
    no_hypervisor_expected: set[str] | frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Each host's hypervisor host_ip. Nova's 404 for a host in ``no_hypervisor_expected`` (a
    network node) is no note: the SSH address then comes from the settings."""
    host_ips: dict[str, str] = {}
    for host in hosts:
        # The server's own nodename is the exact hypervisor_hostname; other hosts (--host,
        # migration targets) are service hosts, usually the nodename or its short form.
        node = server.hypervisor_hostname if host == server.host else None
        try:
            body = _get(conn.compute, "/os-hypervisors/detail",
                        {"hypervisor_hostname_pattern": node or host},
                        microversion=HYPERVISOR_MICROVERSION)
        except sdk_exc.ForbiddenException as exc:  # the same answer for every host
            notes.append(f"host_ip of {', '.join(hosts)} unknown: " + answer_of(
                conn.compute, exc, admin_only="os-hypervisors is admin-only"))
            break
        except sdk_exc.HttpException as exc:  # 404: no such nodename; 406: Nova older than Pike
            if isinstance(exc, sdk_exc.NotFoundException) and host in no_hypervisor_expected:
                continue
            notes.append(f"host_ip of {host} unknown: " + answer_of(
                conn.compute, exc, missing=f"Nova knows no hypervisor named {node or host}"))
            continue
        if ip := _pick_host_ip(body.get("hypervisors", []), host, node):
            host_ips[host] = ip
        else:
            notes.append(f"host_ip of {host} unknown: no hypervisor named exactly {node or host}")
    return host_ips


def _pick_host_ip(hypervisors: list[dict[str, Any]], host: str, node: str | None) -> str | None:
    # The pattern is a SQL LIKE '%…%' (compute-1 also matches compute-10): match exactly.
    def exact(h: dict[str, Any]) -> bool:
        if node:
            return h.get("hypervisor_hostname") == node
        return host in (h.get("hypervisor_hostname"), (h.get("service") or {}).get("host"))

    ips = {h.get("host_ip") for h in hypervisors if exact(h)} - {None, ""}
    return ips.pop() if len(ips) == 1 else None


# --- plumbing ---------------------------------------------------------------------------------


def _get(
    proxy: Any, path: str, params: dict[str, Any] | None = None, *, microversion: str | None = None
) -> dict[str, Any]:
    """GET ``path`` on a service proxy; HTTP errors become openstack.exceptions.HttpException.

    No answer at all (no endpoint, no connection) or a refused token fails the command at
    once: no later call could do better.
    """
    kwargs: dict[str, Any] = {"params": params}
    if microversion:
        kwargs["microversion"] = microversion
    try:
        response = proxy.get(path, **kwargs)
    except ksa_exc.ClientException as exc:
        raise CommandError(answer_of(proxy, exc)) from None
    sdk_exc.raise_from_response(response)
    body: dict[str, Any] = response.json()
    return body
