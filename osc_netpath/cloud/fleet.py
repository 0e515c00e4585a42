"""The fleet's API facts for ``netpath audit``: every list paged, filtered server-side and cut
to the ``fields=`` the checks read, so requests grow with pages, never with ports or hosts.

ports (binding:host_id / network_id / project_id filters), networks, L2 agents and hypervisors
(host_ip), plus aggregates for --zone / --aggregate. Iface-ids a host has that the filtered
port list did not name are looked up afterwards in chunks (``ports_by_id``): an orphan is only
called an orphan once Neutron said it has no such port. After the probes, what findings
claim of Neutron is asked again the same way (``audit.settle``).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from openstack import exceptions as sdk_exc
from openstack.connection import Connection
from osc_lib.exceptions import CommandError

from osc_netpath.cloud import fetch
from osc_netpath.cloud.errors import answer_of, api_error
from osc_netpath.cloud.facts import AgentFacts, NetworkFacts, PortFacts
from osc_netpath.cloud.network import one_network

PAGE = 1000  # items per request; Neutron's and Nova's default max_limit is 1000
ID_CHUNK = 100  # ids per lookup request: keeps the URL well under 8 KiB
# Compute hosts and their host_ip; 2.53 pages /os-hypervisors/detail by marker.
HYPERVISOR_FIELDS = ("hypervisor_hostname", "host_ip", "service", "state", "status")


def paged(proxy: Any, path: str, key: str, params: dict[str, Any],
          microversion: str | None = None) -> Iterator[dict[str, Any]]:
    """Every item of a collection, page by page (``limit``/``marker``, following the
    ``<key>_links`` next link both Neutron and Nova return while more remain)."""
    marker: str | None = None
    while True:
        query = {**params, "limit": PAGE, **({"marker": marker} if marker else {})}
        body = fetch._get(proxy, path, query, microversion=microversion)
        items = body.get(key) or []
        yield from items
        more = any(link.get("rel") == "next" for link in body.get(f"{key}_links") or [])
        if not more or not items:
            return
        marker = str(items[-1]["id"])


def ports(conn: Connection, hosts: list[str] | None = None, network: str | None = None,
          project: str | None = None) -> list[PortFacts]:
    params: dict[str, Any] = {"fields": list(fetch.PORT_FIELDS)}
    if hosts:
        params["binding:host_id"] = sorted(hosts)
    if network:
        params["network_id"] = network
    if project:
        params["project_id"] = project
    try:
        return [fetch._port_facts(p) for p in paged(conn.network, "/ports", "ports", params)]
    except sdk_exc.HttpException as exc:
        raise api_error("listing the fleet's ports", conn.network, exc) from None


def ports_by_id(conn: Connection, ids: list[str], notes: list[str]) -> list[PortFacts] | None:
    """Neutron's word on ``ids`` (iface-ids seen on hosts): the ports it has, or None when it
    could not be asked (then no orphan may be called)."""
    found: list[PortFacts] = []
    for start in range(0, len(ids), ID_CHUNK):
        params = {"id": ids[start:start + ID_CHUNK], "fields": list(fetch.PORT_FIELDS)}
        try:
            found += [fetch._port_facts(p) for p in fetch._get(conn.network, "/ports",
                                                                params)["ports"]]
        except sdk_exc.HttpException as exc:
            notes.append(f"unlisted iface-ids not checked: {answer_of(conn.network, exc)}")
            return None
    return found


def existing_ids(conn: Connection, path: str, ids: list[str], notes: list[str]
                 ) -> set[str] | None:
    """Which of ``ids`` Neutron has under ``path`` (``/networks``, ``/routers``), in chunks;
    None when it could not be asked."""
    key, found = path.strip("/"), set()
    for start in range(0, len(ids), ID_CHUNK):
        params = {"id": ids[start:start + ID_CHUNK], "fields": ["id"]}
        try:
            found |= {str(r["id"]) for r in fetch._get(conn.network, path, params)[key]}
        except sdk_exc.HttpException as exc:
            notes.append(f"{key} not asked again: {answer_of(conn.network, exc)}")
            return None
    return found


def networks(conn: Connection, notes: list[str]) -> dict[str, NetworkFacts]:
    try:
        raw = paged(conn.network, "/networks", "networks", {"fields": list(fetch.NETWORK_FIELDS)})
        return {n["id"]: fetch._network_facts(n) for n in raw}
    except sdk_exc.HttpException as exc:
        raise api_error("listing the networks", conn.network, exc) from None


def network_id(networks: dict[str, NetworkFacts], name_or_id: str) -> str:
    """The ID of the network called or identified by ``name_or_id``, from the listed networks
    (so ``--network NAME`` costs no request of its own)."""
    if name_or_id in networks:
        return name_or_id
    return one_network(sorted(n.id for n in networks.values() if n.name == name_or_id),
                       name_or_id)


def routers(conn: Connection, notes: list[str]) -> list[str] | None:
    """Every router's id (paged), or None when Neutron would not list them (then no router
    namespace is called a leftover)."""
    try:
        return [str(r["id"]) for r in paged(conn.network, "/routers", "routers",
                                             {"fields": ["id"]})]
    except sdk_exc.HttpException as exc:
        notes.append(f"routers unknown (no qrouter-/snat- leftover checked): "
                     f"{answer_of(conn.network, exc)}")
        return None


def metadata_networks(conn: Connection, notes: list[str]) -> list[str]:
    """Networks with an OVN metadata port (``network:distributed``, paged)."""
    params = {"device_owner": "network:distributed", "fields": ["network_id"]}
    try:
        return sorted({str(p["network_id"]) for p in paged(conn.network, "/ports", "ports",
                                                           params)})
    except sdk_exc.HttpException as exc:
        notes.append(f"OVN metadata ports unknown (no ovnmeta- namespace checked): "
                     f"{answer_of(conn.network, exc)}")
        return []


def agents(conn: Connection, hosts: list[str] | None, notes: list[str],
           also: frozenset[str] = frozenset()) -> list[AgentFacts] | None:
    """The L2 agents (and those of the ``also`` types) on ``hosts`` (None: all), paged; None
    when Neutron would not list them (a note says why)."""
    params: dict[str, Any] = {"fields": list(fetch.AGENT_FIELDS)}
    if hosts:
        params["host"] = sorted(hosts)
    try:
        raw = list(paged(conn.network, "/agents", "agents", params))
    except sdk_exc.HttpException as exc:
        notes.append(f"L2 agents unknown: {answer_of(conn.network, exc)}")
        return None
    keep = fetch.L2_AGENT_TYPES | also
    return [fetch._agent_facts(a) for a in raw if a.get("agent_type") in keep]


def host_ips(conn: Connection, notes: list[str]) -> dict[str, str] | None:
    """Service host -> host_ip of every hypervisor (paged; a host with two nodes and two
    addresses gets none: which one would be a guess); None when Nova would not list them."""
    seen: dict[str, set[str]] = {}
    try:
        for hyp in paged(conn.compute, "/os-hypervisors/detail", "hypervisors", {},
                         microversion=fetch.HYPERVISOR_MICROVERSION):
            host = (hyp.get("service") or {}).get("host") or hyp.get("hypervisor_hostname")
            if host and hyp.get("host_ip"):
                seen.setdefault(str(host), set()).add(str(hyp["host_ip"]))
    except sdk_exc.HttpException as exc:
        notes.append("hypervisor host_ip unknown: " + answer_of(
            conn.compute, exc, admin_only="os-hypervisors is admin-only"))
        return None
    return {h: ips.pop() for h, ips in seen.items() if len(ips) == 1}


def aggregate_hosts(conn: Connection, aggregate: str | None, zone: str | None) -> list[str]:
    """The hosts of an aggregate (by name or id) or of an availability zone (the aggregates
    whose availability_zone it is). One request: /os-aggregates is not paged."""
    try:
        raw = fetch._get(conn.compute, "/os-aggregates")["aggregates"]
    except sdk_exc.HttpException as exc:
        raise api_error("listing the host aggregates", conn.compute, exc) from None
    if aggregate is not None:
        chosen = [a for a in raw if aggregate in (a.get("name"), str(a.get("id")), a.get("uuid"))]
        if not chosen:
            raise CommandError(f"No aggregate with a name or ID of '{aggregate}' exists.")
        what = f"Aggregate '{aggregate}'"
    else:
        chosen = [a for a in raw if a.get("availability_zone") == zone]
        if not chosen:
            raise CommandError(f"No host aggregate defines availability zone '{zone}' (hosts "
                               "outside every aggregate are in the default zone: use --host).")
        what = f"Availability zone '{zone}'"
    hosts = sorted({h for a in chosen for h in a.get("hosts") or []})
    if not hosts:  # an empty scope must not fall back to the whole fleet
        raise CommandError(f"{what} has no hosts: nothing to audit.")
    return hosts
