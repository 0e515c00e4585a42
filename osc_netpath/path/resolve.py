"""Join API facts and host facts into one path per port. Pure: data in, data out."""
from __future__ import annotations

from osc_netpath.cloud.facts import CloudFacts, NetworkFacts, PortFacts, Segment
from osc_netpath.host.facts import HostFacts
from osc_netpath.path import model as m
from osc_netpath.path import ovs

UNBOUND = ("unbound", "binding_failed", None, "")


def pick_segment(network: NetworkFacts | None, mappings: dict[str, str]) -> Segment:
    """The segment a host uses: one whose physnet the host maps, else the first, else unknown.

    A routed (multi-segment) network has one segment per physnet; the host's bridge_mappings say
    which one its ports are bound to.
    """
    if network is None or not network.segments:
        return Segment(network_type="unknown")
    for seg in network.segments:
        if seg.physical_network and seg.physical_network in mappings:
            return seg
    return network.segments[0]


def segment_label(seg: Segment) -> str:
    if seg.network_type == "vlan":
        return f"vlan {seg.physical_network}/{seg.segmentation_id}"
    if seg.network_type == "flat":
        return f"flat {seg.physical_network}"
    if seg.segmentation_id is not None:
        return f"{seg.network_type} {seg.segmentation_id}"
    return seg.network_type


def backend_of(port: PortFacts, facts: HostFacts | None) -> str:
    """ovs-hybrid / ovs-native from the binding; the host's qbr device breaks a missing detail."""
    if port.binding_vif_type != "ovs":
        return port.binding_vif_type or "unbound"
    hybrid = port.binding_vif_details.get("ovs_hybrid_plug")
    if hybrid is None and facts is not None:
        hybrid = facts.link(f"qbr{port.short_id}") is not None
    return "ovs-hybrid" if hybrid else "ovs-native"


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
    for host in sorted(hosts):
        result.notes.extend(_host_notes(cloud, host, hosts[host]))
    for port in cloud.ports:
        result.ports.append(_resolve_port(cloud, port, hosts, host_errors))
    return result


def _host_notes(cloud: CloudFacts, host: str, facts: HostFacts) -> list[str]:
    """What the probe could not read on a host, said once per host rather than per port."""
    notes = []
    for problem in facts.problems:
        tool = problem.source.split(":")[0]
        msg = problem.message if problem.message.startswith(tool) else (
            f"{problem.source}: {problem.message}")
        notes.append(f"{host}: {msg}")
    server = cloud.server
    if server.instance_name and host == server.host and facts.domain(server.instance_name) is None:
        notes.append(f"{host}: libvirt domain {server.instance_name} not found "
                     f"(server is {server.status.lower()})")
    return notes


def _resolve_port(
    cloud: CloudFacts, port: PortFacts, hosts: dict[str, HostFacts], errors: dict[str, str]
) -> m.PortPath:
    server = cloud.server
    host = port.binding_host_id or server.host
    network = cloud.networks.get(port.network_id)
    agent = cloud.agent_for(host)
    segment = pick_segment(network, agent.bridge_mappings if agent else {})
    facts = hosts.get(host or "")
    path = m.PortPath(
        port_id=port.id,
        network=network.name if network else port.network_id,
        host=host,
        backend=backend_of(port, facts),
        segment=segment_label(segment),
    )
    if port.binding_host_id and server.host and port.binding_host_id != server.host:
        path.problems.append(
            f"port is bound to {port.binding_host_id} but the server runs on {server.host}: "
            "the binding is stale (a failed migration?) and the port has no wire on this host"
        )
    if port.binding_vif_type in UNBOUND:
        path.problems.append(
            f"port binding is {port.binding_vif_type or 'not visible'}: Neutron could not bind "
            f"it on {host} (is the L2 agent there alive, and does it map the physical network?)"
        )
    if agent is not None and not agent.alive:
        path.problems.append(f"the {agent.agent_type} on {host} is down (not reporting)")
    if host in errors:
        path.host_error = errors[host]
        path.problems.append(errors[host])
    if facts is None:
        path.hops.append(_api_only_guest_hop(port, server.name))
        if host not in errors:
            path.problems.append(f"no host facts for {host}: nothing probed")
        return path
    if not path.backend.startswith("ovs-"):
        path.hops.append(_api_only_guest_hop(port, server.name))
        path.problems.append(f"vif_type {port.binding_vif_type!r} is not traced yet")
        return path
    domain = facts.domain(server.instance_name) if server.instance_name else None
    int_br = str(
        port.binding_vif_details.get("bridge_name")
        or (agent.integration_bridge if agent else None)
        or "br-int"
    )
    hops, problems = ovs.resolve_port_hops(
        port, segment, facts, agent, domain, path.backend == "ovs-hybrid", int_br,
        guest_label=domain.name if domain else server.name, server_id=server.id,
    )
    path.hops.extend(hops)
    path.problems.extend(problems)
    return path


def _api_only_guest_hop(port: PortFacts, label: str) -> m.Hop:
    ips = ", ".join(ip.ip_address for ip in port.fixed_ips)
    return m.Hop(index=0, device=label, kind=m.GUEST, mac=port.mac_address, state=port.status,
                 source=m.SRC_API, detail=ips or None)
