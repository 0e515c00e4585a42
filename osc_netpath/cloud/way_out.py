"""A server's way out of the cloud (``netpath show --to external``): the routers of its
networks, where their namespaces live, their gateways and the server's floating IPs.

ML2/OVS: a legacy router's interface (``qr-``) and gateway (``qg-``) ports are bound to the
network node whose L3 agent hosts it; a DVR router's interface is distributed (bound to no one
host: its ``qrouter-`` is on every compute with a port on the network, the server's host among
them) and its gateway sits in ``snat-`` on the dvr_snat node. Four requests whatever the number
of ports (router interfaces of the server's networks, the routers' gateway ports, the external
networks, the floating IPs of the server's ports), one per router for its L3 agents (the only
API that says where a router is scheduled, with its L3-HA state), and under DVR with a floating
IP one for the ``fg-`` port of the server's host.
"""
from __future__ import annotations

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from osc_netpath.cloud import fetch
from osc_netpath.cloud.errors import answer_of
from osc_netpath.cloud.facts import CloudFacts, FloatingIP, PortFacts

# the router's ports on the server's networks: legacy/HA interfaces, DVR's distributed one and
# its centralized SNAT port (sg- in snat- on the dvr_snat node)
INTERFACE_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                    "network:ha_router_replicated_interface", "network:router_centralized_snat")
GATEWAY = "network:router_gateway"
FIP_GATEWAY = "network:floatingip_agent_gateway"  # DVR: fg- in fip-<external net> per compute
OVN_AGENTS = ("OVN Controller agent", "OVN Controller Gateway agent")


def add_way_out(conn: Connection, facts: CloudFacts) -> None:
    """Add the router ports on the server's way out to ``facts.ports`` (their hosts to
    ``facts.hosts``) and the floating IPs to ``facts.floating_ips``. Failures become notes."""
    nets = sorted({p.network_id for p in facts.ports})
    server_ports = [p.id for p in facts.ports]
    interfaces = _ports(conn, facts, {"network_id": nets, "device_owner": list(INTERFACE_OWNERS)},
                        "the routers of the server's networks")
    routers = sorted({p.device_id for p in interfaces if p.device_id})
    if not routers:
        facts.notes.append("no router on the server's networks: it has no way out through "
                           "Neutron (a provider network reaches the outside by itself)")
        return
    gateways = _ports(conn, facts, {"device_id": routers, "device_owner": [GATEWAY]},
                      "the routers' gateways")
    external = {p.network_id for p in gateways}  # the server may have a port on one already
    if unknown := external - set(facts.networks):
        facts.networks.update(fetch._networks(conn, unknown, facts.notes))
    _floating_ips(conn, facts, server_ports)
    missing: list[str] = []  # ML2/OVN: no L3 agent scheduler (404), or gateway chassis
    chassis: dict[str, list[str]] = {}  # ML2/OVN: router -> its gateway chassis
    hosts_of = _l3_hosts(conn, facts, routers, missing, chassis)
    distributed = any(p.device_owner == "network:router_interface_distributed"
                      for p in interfaces)
    if distributed and facts.floating_ips and facts.server.host and external:
        # a floating IP under DVR leaves from the server's own host: rfp- ⇄ fpr- into fip-, fg-
        gateways += _ports(conn, facts, {"device_owner": [FIP_GATEWAY],
                                         "binding:host_id": [facts.server.host],
                                         "network_id": sorted(external)},
                           "the floating IP gateway of the server's host")
    if missing and (any(m.startswith("router ") for m in missing) or _ovn(conn, facts)):
        _segment_ids(conn, facts, sorted({p.network_id for p in gateways}))
        facts.notes.append("ML2/OVN: the routers are logical (their interfaces are on every "
                           "chassis, no namespace); each gateway is traced on the chassis "
                           "Neutron bound it to")
        interfaces = []
    else:
        facts.notes += [m for m in missing if not m.startswith("router ")]
    for port in interfaces + gateways:
        if not port.binding_host_id:
            # DVR: the distributed interface lives where the server runs; else: the L3 agent
            on = facts.server.host if (port.device_owner or "").endswith("_distributed") else \
                next(iter(hosts_of.get(port.device_id or "", [])), None)
            candidates = chassis.get(port.device_id or "", [])
            if port.device_owner == GATEWAY and candidates:
                # ML2/OVN misses the cr-lrp- claim when the chassis makes it in the batch that
                # creates the binding (seen on the stack): the port stays unbound
                on = candidates[0] if len(candidates) == 1 else None
                where = f"traced on {on}, its only gateway chassis" if on else \
                    f"it is active on one of its gateway chassis {', '.join(candidates)}, " \
                    "Neutron does not say which"
                facts.notes.append(f"router {port.device_id}: Neutron left its gateway port "
                                   f"{port.id} unbound (no binding:host_id); {where}")
            port.binding_host_id = on
        if port.binding_host_id and port.binding_host_id not in facts.hosts:
            facts.hosts.append(port.binding_host_id)
    unplaced = sorted({p.device_id or "?" for p in interfaces + gateways
                       if not p.binding_host_id and (p.device_id or "") not in chassis})
    if unplaced:
        facts.notes.append(f"router {', '.join(unplaced)}: the host of some of its ports is not "
                           "known (binding:host_id and l3-agents are admin-only by default): "
                           "those ports are shown from the API only")
    facts.ports += interfaces + gateways
    facts.way_out = [p.id for p in interfaces + gateways]


def _ports(conn: Connection, facts: CloudFacts, query: dict[str, list[str]],
           what: str) -> list[PortFacts]:
    try:
        raw = fetch._get(conn.network, "/ports",
                         {**query, "fields": list(fetch.PORT_FIELDS)})["ports"]
    except sdk_exc.HttpException as exc:
        facts.notes.append(f"{what} are unknown: {answer_of(conn.network, exc)}")
        return []
    return [fetch._port_facts(p) for p in raw]


def _floating_ips(conn: Connection, facts: CloudFacts, ports: list[str]) -> None:
    fields = ["floating_ip_address", "fixed_ip_address", "port_id", "router_id", "status"]
    try:
        raw = fetch._get(conn.network, "/floatingips",
                         {"port_id": ports, "fields": fields})["floatingips"]
    except sdk_exc.HttpException as exc:
        facts.notes.append(f"floating IPs unknown: {answer_of(conn.network, exc)}")
        return
    for fip in raw:
        router = fip.get("router_id") or ""
        if not isinstance(fip.get("floating_ip_address"), str):
            continue
        facts.floating_ips.setdefault(router, []).append(FloatingIP(
            fip["floating_ip_address"], fip.get("fixed_ip_address"), fip.get("port_id"),
            fip.get("status")))


def _ovn(conn: Connection, facts: CloudFacts) -> bool:
    """An ML2/OVN cloud: the server's host runs an OVN controller (no L3 agents to ask)."""
    agents = fetch._agents(conn, facts.hosts, facts.ports, facts.notes)
    return any(a.agent_type in OVN_AGENTS for a in agents)


def _segment_ids(conn: Connection, facts: CloudFacts, networks: list[str]) -> None:
    """The external networks' segment ids: ovn-controller names each localnet patch
    provnet-<segment id>, the one way to tell two provider networks on one physnet apart
    for a port with no tap (a gateway)."""
    try:
        raw = fetch._get(conn.network, "/segments", {"network_id": networks})["segments"]
    except sdk_exc.HttpException as exc:
        facts.notes.append(f"segment ids unknown: {answer_of(conn.network, exc)}")
        return
    for body in raw:
        net = facts.networks.get(body.get("network_id") or "")
        for seg in net.segments if net else []:
            if (seg.network_type, seg.physical_network, seg.segmentation_id) == (
                    body.get("network_type"), body.get("physical_network"),
                    body.get("segmentation_id")) and isinstance(body.get("id"), str):
                seg.id = body["id"]


def _l3_hosts(conn: Connection, facts: CloudFacts, routers: list[str],
              missing: list[str], chassis: dict[str, list[str]]) -> dict[str, list[str]]:
    """Router -> the hosts of its L3 agents, the active one first (L3-HA); ML2/OVN's gateway
    chassis go to ``chassis`` instead."""
    out: dict[str, list[str]] = {}
    for router in routers:
        try:
            raw = fetch._get(conn.network, f"/routers/{router}/l3-agents", None)["agents"]
        except sdk_exc.NotFoundException as exc:
            missing.append(f"the L3 agents of router {router} are unknown: "
                           f"{answer_of(conn.network, exc)}")
            continue
        except sdk_exc.HttpException as exc:
            facts.notes.append(f"the L3 agents of router {router} are unknown: "
                               f"{answer_of(conn.network, exc)}")
            continue
        if any(a.get("agent_type") in OVN_AGENTS for a in raw):
            # ML2/OVN answers with the gateway chassis ("OVN Controller Gateway agent"): no
            # L3 agent, no namespace; the gateway port's own binding says where it is active
            chassis[router] = [str(a["host"]) for a in raw if a.get("host")]
            missing.append(f"router {router}: gateway chassis {', '.join(chassis[router])}")
            continue
        raw.sort(key=lambda a: a.get("ha_state") not in (None, "active"))
        out[router] = [a["host"] for a in raw if a.get("host")]
        if sum(a.get("ha_state") == "active" for a in raw) > 1:
            facts.notes.append(f"router {router} is active on several L3 agents "
                               f"({', '.join(out[router])}): L3-HA split brain")
    return out
