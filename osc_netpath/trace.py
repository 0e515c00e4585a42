"""`netpath show`, end to end: API facts → one probe per host → path. I/O lives at the edges.

live:   Nova/Neutron (openstacksdk) → which hosts, which bridges/domains to probe → one SSH
        session per host, concurrently → parsers → resolve
replay: the same from a capture bundle (API facts + raw probe output as recorded)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from osc_netpath import capture
from osc_netpath.cloud.facts import CloudFacts
from osc_netpath.host import names, probe
from osc_netpath.host.facts import HostFacts
from osc_netpath.path import namespaces as agent_namespaces
from osc_netpath.path import ovn, resolve
from osc_netpath.path.model import ServerPath

# neutron.plugins.ml2.drivers.openvswitch.agent.common.constants: LOCAL_SWITCHING = 0 on br-int
# and physical bridges; br-tun: UCAST_TO_TUN = 20, FLOOD_TO_TUN = 22, VXLAN/GRE/GENEVE_TUN_TO_LV
# = 4/3/6 (tun_id -> local VLAN).
TABLE_LOCAL = 0
TUNNEL_TABLES = {"vxlan": (4, 22), "gre": (3, 22), "geneve": (6, 22)}
# an agent with enable_distributed_routing (DVR) sends a physical bridge's traffic from br-int
# through table 0 → 1 (DVR_PROCESS_PHYSICAL_VLAN) → 2, where it rewrites the local VLAN
DVR_LOCAL_VLAN_TRANSLATION = 2


@dataclass
class Outcome:
    path: ServerPath
    trace: capture.Trace
    stats: dict[str, int] = field(default_factory=dict)


def probe_request(cloud: CloudFacts, host: str, sudo: bool = False, **extra: Any) -> probe.ProbeRequest:
    """What to read on ``host``: only the domain and the bridges/tables that translate VLANs.

    A name from the API that could not be a bridge or domain name is left out with a note
    (never sent, never able to stop the rest of the probe)."""
    flows: set[tuple[str, int]] = set()
    tunnel_tables: set[int] = set()  # of every bridge: the host names its tunnel bridge
    namespaces: list[str] = []
    nat: list[str] = []
    agent = cloud.agent_for(host)
    mappings = agent.bridge_mappings if agent else {}
    ovn_chassis = agent is not None and agent.agent_type in ovn.AGENT_TYPES
    for port in cloud.ports:
        if cloud.host_of(port) != host:
            continue
        bridge = resolve.integration_bridge(port, agent)
        if bridge.startswith("tbr-"):  # a trunk bridge: the VLANs are translated on br-int
            bridge = (agent.integration_bridge if agent else None) or "br-int"
        flows.add((bridge, TABLE_LOCAL))
        seg = resolve.pick_segment(cloud.networks.get(port.network_id), agent)
        if ovn_chassis:  # ovn-controller tags the localnet patch's traffic in br-int's tables
            if seg.network_type in ("flat", "vlan"):
                flows.add((bridge, ovn.TABLE_LOG_TO_PHY))
            if port.network_id in cloud.metadata_networks:
                namespaces.append(ovn.metadata_namespace(port.network_id))
            continue
        namespaces += agent_namespaces.namespaces_to_read(port)  # a DHCP or router port's
        if (ns := agent_namespaces.nat_namespace(port, cloud.floating_ips)) is not None:
            nat.append(ns)  # where the L3 agent writes this router's floating IP NAT here
        if seg.network_type in ("flat", "vlan") and seg.physical_network in mappings:
            flows.add((mappings[seg.physical_network or ""], TABLE_LOCAL))
            if agent and agent.configurations.get("enable_distributed_routing"):
                flows.add((mappings[seg.physical_network or ""], DVR_LOCAL_VLAN_TRANSLATION))
        elif seg.network_type in TUNNEL_TABLES:
            tunnel_tables.update(TUNNEL_TABLES[seg.network_type])
    domains = [cloud.server.domain_ref] if cloud.guest_host == host \
        and cloud.subject == "server" else []
    for bad in sorted({b for b, _ in flows if not names.BRIDGE_RE.match(b)}):
        cloud.notes.append(f"{host}: bridge name {bad!r} from the API is not a valid interface "
                           "name: its flows are not read")
    for bad in [d for d in domains if not names.DOMAIN_RE.match(d)]:
        cloud.notes.append(f"{host}: libvirt domain name {bad!r} from the API is not valid: "
                           "the domain is not read")
    return probe.ProbeRequest(
        ovn=ovn_chassis,
        namespaces=[n for n in dict.fromkeys(namespaces) if names.NETNS_RE.match(n)],
        nat=[n for n in dict.fromkeys(nat) if names.NETNS_RE.match(n)],
        domains=[d for d in domains if names.DOMAIN_RE.match(d)],
        flows=sorted(f for f in flows if names.BRIDGE_RE.match(f[0])),
        tunnel_tables=sorted(tunnel_tables), sudo=sudo, **extra)


def replay(trace: capture.Trace) -> ServerPath:
    """Parse the recorded probe outputs and resolve, exactly as a live run would."""
    hosts: dict[str, HostFacts] = {
        host: probe.parse_output(host, out) for host, out in trace.probes.items()
    }
    return resolve.resolve(trace.cloud, hosts, trace.errors)


def live_port(conn: Any, ref: str, cfg: Any, host_override: str | None = None) -> Outcome:
    """Trace one port (``netpath port show``): a VM's, a DHCP or a router port."""
    from osc_netpath.cloud import fetch

    port = fetch.find_port(conn, ref)
    return probe_and_resolve(fetch.gather_port(conn, port, host_override=host_override), cfg)


def live(conn: Any, ref: str, cfg: Any, host_override: str | None = None,
         way_out: bool = False) -> Outcome:
    """Trace ``ref`` on the cloud behind ``conn`` with the netpath settings ``cfg``."""
    from osc_netpath.cloud import fetch

    server = fetch.find_server(conn, ref)
    cloud = fetch.gather(conn, server, host_override=host_override, way_out=way_out)
    return probe_and_resolve(cloud, cfg)


def probe_and_resolve(cloud: CloudFacts, cfg: Any) -> Outcome:
    """Probe every host of ``cloud`` once, concurrently, then resolve the path."""
    probes, errors, stats = probe_hosts(
        cloud.hosts, cloud.host_ips,  # decided by the API side (--host wins over policy)
        lambda host, options: probe_request(cloud, host, **options), cfg)
    trace = capture.Trace(cloud=cloud, probes=probes, errors=errors)
    return Outcome(path=replay(trace), trace=trace, stats=stats)


INTERRUPTED = "not probed: interrupted (Ctrl-C) before it answered"


def probe_hosts(hosts: list[str], host_ips: dict[str, str],
                request_for: Callable[[str, dict[str, Any]], probe.ProbeRequest],
                cfg: Any, on_result: Any = None, partial_on_interrupt: bool = False,
                ) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """One probe per host, concurrently: (stdout by host, one-line error by host, counts). A
    host that cannot even be asked (no address, a bad name) fails alone; the others run.
    ``on_result``: see transport.OnResult (an output it drops is not in the stdout returned).
    Ctrl-C re-raises, unless ``partial_on_interrupt``: then the hosts not finished get the
    error :data:`INTERRUPTED` and counts hold ``interrupted: 1``."""
    from osc_lib.exceptions import CommandError

    from osc_netpath import config
    from osc_netpath.host import transport

    jobs = []
    errors: dict[str, str] = {}
    for host in hosts:
        try:
            target = config.target_for(cfg, host, host_ips.get(host))
            request = request_for(host, config.probe_options(cfg))
            jobs.append((target, probe.command_line(request)))
        except (ValueError, CommandError) as exc:
            errors[host] = f"{host}: not probed: {exc}"
    interrupted = 0
    try:
        results, stats = transport.run_probes(jobs, probe.script(), cfg.concurrency, on_result)
    except transport.ProbesInterrupted as exc:
        if not partial_on_interrupt:
            raise
        results, stats, interrupted = exc.results, exc.stats, 1
        for target, _ in jobs:
            if target.host not in results:
                errors[target.host] = f"{target.host}: {INTERRUPTED}"
    probes: dict[str, str] = {}
    for host, result in results.items():
        if result.error:
            errors[host] = result.error
        if result.stdout is not None:
            probes[host] = result.stdout
    counts = {"ssh_connections": stats.total_connections, "ssh_execs": stats.total_execs}
    return probes, errors, {**counts, "interrupted": interrupted} if interrupted else counts


def network_probe_request(net: Any, host: str, sudo: bool = False,
                          **extra: Any) -> probe.ProbeRequest:
    """What ``netpath network show`` reads on ``host``: OVS and links (always), the namespaces
    the agents there should have for this network (qdhcp-, qrouter-, the ports' own)."""
    namespaces = [f"qdhcp-{net.network.id}" for h in net.dhcp_agents if h.agent.host == host]
    namespaces += [f"qrouter-{h.router_id}" for h in net.l3_agents if h.agent.host == host]
    namespaces += [ns for p in net.cloud.ports if p.binding_host_id == host
                   if (ns := agent_namespaces.expected_namespace(p))]
    agent = net.cloud.agent_for(host)
    ovn_chassis = agent is not None and agent.agent_type in ovn.AGENT_TYPES
    if ovn_chassis and net.network.id in net.cloud.metadata_networks and any(
            p.binding_host_id == host and (p.device_owner or "").startswith("compute:")
            for p in net.cloud.ports):
        namespaces.append(ovn.metadata_namespace(net.network.id))
    return probe.ProbeRequest(
        ovn=ovn_chassis,
        namespaces=[n for n in dict.fromkeys(namespaces) if names.NETNS_RE.match(n)],
        sudo=sudo, **extra)


def live_network(conn: Any, ref: str, cfg: Any) -> tuple[Any, dict[str, int], capture.Trace]:
    """``netpath network show``: the API side, one probe per host concurrently, the view."""
    from osc_netpath.cloud import network as cloud_network

    net = cloud_network.gather(conn, cloud_network.find_network(conn, ref))
    return probe_network(net, cfg)


def probe_network(net: Any, cfg: Any) -> tuple[Any, dict[str, int], capture.Trace]:
    """Probe every host of a network trace once, concurrently; then the pure view (and what
    --record keeps of the run)."""
    probes, errors, stats = probe_hosts(
        net.cloud.hosts, net.cloud.host_ips,
        lambda host, options: network_probe_request(net, host, **options), cfg)
    trace = capture.Trace(cloud=net.cloud, probes=probes, errors=errors,
                          dhcp_agents=net.dhcp_agents, l3_agents=net.l3_agents)
    return replay_network(trace), stats, trace


def replay_network(trace: capture.Trace) -> Any:
    """A network trace's view from its recorded probe outputs, exactly as a live run."""
    from osc_netpath.path import network as path_network

    hosts = {h: probe.parse_output(h, out) for h, out in trace.probes.items()}
    return path_network.view(trace.network_trace(), hosts, trace.errors)
