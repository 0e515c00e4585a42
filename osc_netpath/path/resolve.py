"""Join API facts and host facts into one path per port. Pure: data in, data out."""
from __future__ import annotations

from collections.abc import Callable

from osc_netpath.cloud.facts import (
    AgentFacts,
    CloudFacts,
    NetworkFacts,
    PortFacts,
    Segment,
    ServerFacts,
)
from osc_netpath.host.facts import HostFacts
from osc_netpath.path import core, ovn, ovs_hybrid, ovs_native
from osc_netpath.path import model as m
from osc_netpath.path import namespaces as agent_namespaces

UNBOUND = ("unbound", "binding_failed")
# One strategy per backend, picked by backend_of() from the binding and the host's wiring.
STRATEGIES: dict[str, Callable[[core.Walk], None]] = {
    ovs_hybrid.NAME: ovs_hybrid.hops,
    ovs_native.NAME: ovs_native.hops,
    ovn.NAME: ovn.hops,
    agent_namespaces.NAME: agent_namespaces.hops,
}


def pick_segment(network: NetworkFacts | None, agent: AgentFacts | None) -> Segment:
    """The segment ML2 binds on a host: the first, in order, that the host's agent can bind.

    As the openvswitch mechanism driver does: a flat/VLAN segment whose physical network is in
    the agent's bridge_mappings, or a tunnel segment whose type is in its tunnel_types.
    """
    if network is None or not network.segments:
        return Segment(network_type="unknown")
    if agent is not None:
        for seg in network.segments:
            if seg.network_type in ("flat", "vlan"):
                if seg.physical_network in agent.bridge_mappings:
                    return seg
            elif seg.network_type in agent.tunnel_types or seg.network_type == "local":
                return seg
    return network.segments[0]


def integration_bridge(port: PortFacts, agent: AgentFacts | None) -> str:
    """binding:vif_details bridge_name first (never assume br-int), then the agent's."""
    return str(port.binding_vif_details.get("bridge_name")
               or (agent.integration_bridge if agent else None) or "br-int")


def segment_label(seg: Segment) -> str:
    if seg.network_type == "vlan":
        return f"vlan {seg.physical_network}/{seg.segmentation_id}"
    if seg.network_type == "flat":
        return f"flat {seg.physical_network}"
    if seg.segmentation_id is not None:
        return f"{seg.network_type} {seg.segmentation_id}"
    return seg.network_type


def backend_of(port: PortFacts, facts: HostFacts | None,
               agent: AgentFacts | None = None) -> tuple[str, str | None]:
    """(ovs-hybrid | ovs-native | ovn | vif_type, finding) from the binding and the host.

    The host wins: an OVS configured for ovn-controller is an OVN chassis whatever the API
    shows; ports plugged before a firewall-driver change keep their old wiring until the
    instance is hard-rebooted or migrated, whatever the binding now says.
    """
    # "distributed": a DVR router interface, bound per host (the host's binding is "ovs"; the
    # port shows none): traced on the host it was put on, as the host has it wired
    if port.binding_vif_type not in ("ovs", "distributed", None, ""):
        return port.binding_vif_type, None
    if facts is not None and ovn.is_chassis(facts.ovs):
        return ovn.NAME, None
    if (facts is None or facts.ovs is None) and agent and agent.agent_type in ovn.AGENT_TYPES:
        return ovn.NAME, None
    said = port.binding_vif_details.get("ovs_hybrid_plug")
    seen: bool | None = None
    if facts is not None and facts.ovs is not None:
        live = core.interfaces_of_port(facts.ovs, port.id)
        if live:
            seen = live[0].name.startswith("qvo")
    if seen is None and facts is not None and facts.link(f"qbr{port.short_id}") is not None:
        seen = True
    if not port.binding_vif_type and seen is None:  # binding hidden by policy, nothing plugged
        return "unknown", None
    hybrid = seen if seen is not None else bool(said)
    finding = None
    # a DHCP/router port is an OVS internal port (or veth) whatever the host's firewall
    # driver: Neutron's ovs_hybrid_plug says how a VM port there would be plugged
    if said is not None and seen is not None and bool(said) != seen \
            and not agent_namespaces.owned_by_agent(port):
        finding = (
            f"the binding says ovs_hybrid_plug={bool(said)} but the host has the port plugged "
            f"{'through a qbr bridge' if seen else 'directly on the integration bridge'}: the "
            "firewall driver changed since it was plugged (a hard reboot or migration re-plugs)"
        )
    return ("ovs-hybrid" if hybrid else "ovs-native"), finding


def _short(name: str | None) -> str:
    return (name or "").split(".")[0].lower()


def resolve(
    cloud: CloudFacts,
    hosts: dict[str, HostFacts],
    host_errors: dict[str, str] | None = None,
) -> m.ServerPath:
    """One :class:`PortPath` per port of the server; host errors stay per port, never fatal."""
    host_errors = host_errors or {}
    server = cloud.server
    result = m.ServerPath(server_id=server.id, server_name=server.name, status=server.status,
                          host=server.host, notes=list(cloud.notes))
    if cloud.host_override:  # what is shown is not where Nova has the server: exit 1
        result.errors.append(_override_error(cloud))
    for host in sorted(hosts):
        unreadable, notes = _host_notes(cloud, host, hosts[host])
        result.errors.extend(unreadable)
        result.notes.extend(notes)
    for port in cloud.ports:
        try:
            result.ports.append(_resolve_port(cloud, port, hosts, host_errors))
        except Exception as exc:  # noqa: BLE001 - one odd fact never hides the other ports
            result.ports.append(_unresolved(port, exc))
    # once per host, however many ports it carries (the ports point at it with host_error)
    result.errors.extend(e for _, e in sorted(host_errors.items()))
    return result


# Probe sections whose loss leaves the path incomplete (an error), rather than a detail missing.
_ESSENTIAL = ("ip", "ovs", "flows", "probe", "sysfs")


def _host_notes(cloud: CloudFacts, host: str, facts: HostFacts) -> tuple[list[str], list[str]]:
    """(errors, notes) about what the probe could not read on a host, once per host."""
    errors: list[str] = []
    notes: list[str] = []
    if facts.hostname and _short(facts.hostname) not in (
            _short(host), _short(cloud.server.hypervisor_hostname)):
        notes.append(f"{host}: SSH reached a machine named {facts.hostname!r}: check the netpath "
                     "address/hosts settings (or ignore if nova.conf sets its own host name)")
    for problem in facts.problems:
        tool = problem.source.split(":")[0]
        msg = problem.message if problem.message.startswith(tool) else (
            f"{problem.source}: {problem.message}")
        (errors if tool in _ESSENTIAL else notes).append(f"{host}: {msg}")
    notes.extend(f"{host}: {note}" for note in facts.notes)
    if ovn.is_chassis(facts.ovs):
        notes.extend(ovn.chassis_notes(host, facts))
    server = cloud.server
    ref = server.domain_ref
    # a domain not read (libvirt unreadable, probe cut short) is unknown, not "not found"
    unread = facts.unknown_why(f"libvirt:{ref}") or facts.unknown.get("partial")
    if host == cloud.guest_host and cloud.subject == "server" and facts.domain(ref) is None \
            and not unread:
        notes.append(f"{host}: libvirt domain {ref} not found "
                     f"(server is {server.status.lower()})")
    return errors, notes


def _override_error(cloud: CloudFacts) -> str:
    """--host named another host than Nova's: both said once, as the API gave them."""
    asked, server = cloud.host_override, cloud.server
    bound = sorted({p.binding_host_id for p in cloud.ports if p.binding_host_id})
    ports = f"its ports are bound to {', '.join(bound) or 'no host'}" if cloud.ports else (
        "it has no ports")
    return (f"--host {asked} is not the server's host: Nova places {server.name} on "
            f"{server.host or 'no host'} and {ports}; only {asked} was probed, as asked")


def _override_finding(cloud: CloudFacts, port: PortFacts) -> str:
    asked, placed = cloud.host_override, cloud.server.host or "no host"
    bound = port.binding_host_id or (
        "a host hidden by policy" if port.binding_vif_type is None else "no host")
    where = ", where Nova places the server" if bound == placed else (
        f" and Nova places the server on {placed}")
    return f"traced on {asked} as --host asks; the port is bound to {bound}{where}"


def _resolve_port(
    cloud: CloudFacts, port: PortFacts, hosts: dict[str, HostFacts], errors: dict[str, str]
) -> m.PortPath:
    server = cloud.server
    host = cloud.host_of(port)
    network = cloud.networks.get(port.network_id)
    agent = cloud.agent_for(host)
    segment = pick_segment(network, agent)
    facts = hosts.get(host or "")
    backend, wiring = backend_of(port, facts, agent)
    path = m.PortPath(
        port_id=port.id,
        network=network.name if network else port.network_id,
        host=host,
        backend=backend,
        segment=segment_label(segment),
    )
    if wiring:
        path.problems.append(wiring)
    if not port.admin_state_up:
        path.problems.append(
            "port is administratively down (admin_state_up=false): " + (
                "OVN drops its traffic on purpose" if backend == ovn.NAME else
                "the agent parks it on dead VLAN 4095 on purpose"))
    if cloud.host_override:
        path.problems.append(_override_finding(cloud, port))
    elif port.binding_host_id and server.host and port.binding_host_id != server.host \
            and port.id not in cloud.way_out and cloud.subject == "server":
        path.problems.append(
            f"port is bound to {port.binding_host_id} but the server runs on {server.host}: "
            "the binding is stale (a failed migration?) and the port has no wire on this host"
        )
    if port.binding_vif_type in UNBOUND:
        path.problems.append(
            f"port binding is {port.binding_vif_type}: Neutron could not bind it on {host} "
            "(is the L2 agent there alive, and does it map the physical network?)"
        )
    for down in (a for a in cloud.agents if a.host == host and not a.alive):
        path.problems.append(f"the {down.agent_type} on {host} is down (not reporting)")
    if host in errors:
        path.host_error = errors[host]  # said once for the host, not once per port
    unreadable = facts.unknown.get("all") if facts is not None else None
    if facts is None or unreadable:
        path.hops.append(_api_only_guest_hop(port, server, unreadable))
        if host not in errors and not unreadable:
            path.problems.append(f"no host facts for {host}: nothing probed")
        return path
    if agent_namespaces.owned_by_agent(port) and path.backend.startswith("ovs-"):
        path.backend = agent_namespaces.NAME  # a DHCP/router port: its device is in a netns
    strategy = STRATEGIES.get(path.backend)
    if strategy is None:
        path.hops.append(_api_only_guest_hop(port, server))
        if port.binding_vif_type:
            path.problems.append(f"vif_type {port.binding_vif_type!r} is not traced yet")
        else:
            path.problems.append(f"the port's binding is not visible to this cloud profile and "
                                 f"no OVS interface on {host} carries it: use an admin profile")
        return path
    # the domain lives where the server runs (or --host), even when this port is bound elsewhere
    server_facts = hosts.get(cloud.guest_host or "")
    domain = server_facts.domain(server.domain_ref) if server_facts else None
    walk = core.Walk(
        port, facts, segment, agent, domain, integration_bridge(port, agent), [], [],
        server_id=server.id, net_mtu=network.mtu if network else None,
        guest_state=guest_state(server, port),
        guest_label=domain.name if domain else (server.instance_name or server.name),
        peers=_peers(cloud, port, host),
        router_peers=_router_peers(cloud, port, host),
        floating_ips=cloud.floating_ips.get(port.device_id or "", [])
        if port.device_owner in ("network:router_gateway",
                                 "network:router_interface_distributed") else [],
        metadata_expected=cloud.has_agent(host, "OVN Metadata agent")
        and port.network_id in cloud.metadata_networks,
    )
    strategy(walk)
    path.hops.extend(walk.hops)
    path.problems.extend(walk.problems)
    return path


# a router's interfaces that live on one node (legacy, L3-HA): reached over the tunnels
CENTRAL_INTERFACES = ("network:router_interface", "network:ha_router_replicated_interface",
                      "network:router_centralized_snat")


def _router_peers(cloud: CloudFacts, port: PortFacts, host: str | None) -> dict[str, str]:
    """--to external: for a server's port, the tunneling_ip of each other host holding a
    router interface on its network (legacy/L3-HA; the network node's SNAT port under DVR)."""
    if cloud.to is None or port.id in cloud.way_out:
        return {}
    out: dict[str, str] = {}
    for other in cloud.ports:
        if other.id not in cloud.way_out or other.network_id != port.network_id \
                or other.device_owner not in CENTRAL_INTERFACES \
                or other.binding_host_id in (None, host):
            continue
        agent = cloud.agent_for(other.binding_host_id)
        if agent is not None and agent.tunneling_ip:
            out[agent.tunneling_ip] = f"{other.binding_host_id} (router {other.device_id})"
    return out


def _peers(cloud: CloudFacts, port: PortFacts, host: str | None) -> dict[str, str | None]:
    """The other hosts with a port on this port's network, with their OVN chassis name (the
    OVN Controller agent's ``chassis_name``, which is also its id)."""
    peers: dict[str, str | None] = {}
    for other in cloud.network_hosts.get(port.network_id, []):
        if other == host:
            continue
        agent = next((a for a in cloud.agents
                      if a.host == other and a.agent_type in ovn.AGENT_TYPES), None)
        peers[other] = (str(agent.configurations.get("chassis_name") or agent.id)
                        if agent else None)
    return peers


def _unresolved(port: PortFacts, exc: Exception) -> m.PortPath:
    """A port whose facts the walk could not use (a value of the wrong type from a host)."""
    why = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return m.PortPath(port_id=str(port.id), network=str(port.network_id),
                      host=port.binding_host_id, backend="unknown", segment="unknown",
                      problems=[(f"the path could not be resolved from these facts ({why}); "
                                "run with --debug and report it")])


def _api_only_guest_hop(port: PortFacts, server: ServerFacts, why: str | None = None) -> m.Hop:
    """Hop 0 from the API alone: the libvirt domain Nova names (for an agent's port, the
    namespace the agents put it in), the port's MAC and IPs."""
    details = [", ".join(ip.ip_address for ip in port.fixed_ips)] if port.fixed_ips else []
    if why:
        details.append(f"host not readable: {why}")
    if agent_namespaces.owned_by_agent(port):
        return m.Hop(index=0, device=agent_namespaces.expected_namespace(port) or "?",
                     kind=m.NAMESPACE, mac=port.mac_address, state=port.status,
                     source=m.SRC_API,
                     detail="; ".join([port.device_owner or "", *details]))
    return m.Hop(index=0, device=server.instance_name or server.name, kind=m.GUEST,
                 mac=port.mac_address, state=guest_state(server, port), source=m.SRC_API,
                 detail="; ".join(details) or None)


def guest_state(server: ServerFacts, port: PortFacts) -> str:
    """The guest NIC's state: the server's when it is not running (a SHUTOFF server's port may
    still say ACTIVE), else the port's."""
    return server.status if server.status != "ACTIVE" else port.status
