"""``netpath audit`` end to end: fleet API facts (paged) → one lean probe per host,
concurrently → parse → pure checks, host by host (each host's output is parsed, checked and
dropped before the next: memory grows with findings, not with the fleet's raw output).

A run is kept as one capture Trace (subject ``audit``: its ports are every port Neutron named,
so a replay decides orphans the same way); other captures (the demo's server traces) are
audited too, without orphan checks (their port lists are partial).
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from osc_lib.exceptions import CommandError

from osc_netpath import capture
from osc_netpath.audit import checks
from osc_netpath.cloud.facts import CloudFacts, ServerFacts
from osc_netpath.host import names, probe

SUBJECT = "audit"
METADATA_OWNER = "network:distributed"  # the OVN metadata port of a network
ROUTER_INTERFACES = ("network:router_interface", "network:router_interface_distributed",
                     "network:ha_router_replicated_interface")


@dataclass
class Scope:
    hosts: list[str] = field(default_factory=list)  # --host, or those of --zone/--aggregate
    network: str | None = None
    project: str | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.hosts) or self.network is not None or self.project is not None


@dataclass
class HostSummary:
    host: str
    expected: int = 0
    found: int = 0
    orphans: int = 0
    errors: int = 0
    warnings: int = 0
    probed: bool = True
    seconds: float | None = None  # the probe's wall time (a live run only)


@dataclass
class Report:
    """What an audit found: findings host by host (hosts in name order), their summaries."""

    findings: list[checks.Finding] = field(default_factory=list)
    summaries: list[HostSummary] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C: the hosts not finished are host-unprobed
    notes: list[str] = field(default_factory=list)  # what the API side left

    def add(self, found: list[checks.Finding], summary: HostSummary) -> None:
        self.findings += found
        self.summaries.append(summary)

    def withdraw(self, keys: set[str]) -> None:
        """Drop the findings of ``keys`` (audit.settle), their counts with them."""
        from osc_netpath.audit import settle

        gone = [f for f in self.findings if settle.key(f) in keys]
        if not gone:
            return
        self.findings = [f for f in self.findings if settle.key(f) not in keys]
        by_host = {s.host: s for s in self.summaries}
        for f in gone:
            if (s := by_host.get(f.host)) is not None:
                s.orphans -= f.cls == "orphan-port"
                s.errors -= f.severity == checks.ERROR
                s.warnings -= f.severity == checks.WARNING
        note = (f"{len(gone)} finding(s) withdrawn: Neutron's ports, networks or routers they "
                f"rest on changed while the hosts were probed "
                f"({', '.join(sorted({f.cls for f in gone}))})")
        if note not in self.notes:  # a replay has it from the recording
            self.notes.append(note)

    def sort(self) -> None:
        """Streamed hosts come in as they answer: order by host for a stable report."""
        self.summaries.sort(key=lambda s: s.host)
        rank = {s.host: i for i, s in enumerate(self.summaries)}
        self.findings.sort(key=lambda f: rank.get(f.host, len(rank)))  # stable within a host


# (hosts done, hosts in all, hosts that failed): for a progress line
Progress = Callable[[int, int, int], None]


def request_for(cloud: CloudFacts, host: str, sudo: bool = False, **extra: Any) -> probe.ProbeRequest:
    """The audit's lean probe: OVS and links always; of the flows, only what the checks read:
    the VLAN rewrite tables of the mapped provider bridges and the tun_id -> VLAN table of
    the agent's tunnel types, on the bridges that may be its tunnel bridge (the host names it;
    the agent's integration and mapped bridges are not). Each table dumped is an ovs-ofctl
    run on the host: most of the probe's cost."""
    agent = cloud.agent_for(host)
    ovn_chassis = checks.ovn_agent(agent)
    bridges = sorted(set(agent.bridge_mappings.values())) if agent and not ovn_chassis else []
    tables = checks.provider_tables(agent)
    tunnels = sorted({checks.TUNNEL_TABLE[t] for t in agent.tunnel_types
                      if t in checks.TUNNEL_TABLE}) if agent and not ovn_chassis else []
    skip = [b for b in [agent.integration_bridge if agent else None, *bridges]
            if b and names.BRIDGE_RE.match(b)]
    return probe.ProbeRequest(
        ovn=ovn_chassis, sudo=sudo,
        flows=[(b, t) for b in bridges if names.BRIDGE_RE.match(b) for t in tables],
        tunnel_tables=tunnels, not_tunnel=skip, **extra)


def fleet_hosts(cloud: CloudFacts, scope: Scope) -> list[str]:
    """Hosts to audit: those asked for, else every host with an L2 agent or a bound port."""
    if scope.hosts:
        return sorted(set(scope.hosts))
    hosts = {a.host for a in cloud.agents}
    hosts |= {p.binding_host_id for p in cloud.ports if p.binding_host_id}
    if scope.network is not None or scope.project is not None:  # where their ports are bound
        hosts = {p.binding_host_id for p in cloud.ports if p.binding_host_id}
    return sorted(hosts)


def gather(conn: Any, scope: Scope) -> CloudFacts:
    """The API side, O(pages): ports, networks, routers, agents, hypervisors (+ aggregates)."""
    from osc_netpath.cloud import fleet, projects

    notes: list[str] = []
    facts = CloudFacts(server=ServerFacts(id="fleet", name="fleet", status="ACTIVE"),
                       notes=notes, subject=SUBJECT)
    facts.networks = fleet.networks(conn, notes)
    # names as every OSC command takes them; an ID filter matching nothing would read as clean
    network = fleet.network_id(facts.networks, scope.network) \
        if scope.network is not None else None
    try:
        project = projects.resolve(conn, scope.project) if scope.project is not None else None
    except projects.ProjectError as exc:
        raise CommandError(f"--project: {exc}") from None
    facts.ports = fleet.ports(conn, scope.hosts or None, network, project)
    facts.routers = fleet.routers(conn, notes)
    # all hosts: peers' tunneling_ip are needed; the L3 agents only for their dvr_snat hosts
    listed = fleet.agents(conn, None, notes, also=frozenset({checks.L3_AGENT}))
    agents = listed or []
    facts.agents = [a for a in agents if a.agent_type != checks.L3_AGENT]
    facts.snat_hosts = sorted({a.host for a in agents if a.agent_type == checks.L3_AGENT
                               and a.configurations.get("agent_mode") == "dvr_snat"})
    facts.metadata_networks = sorted({p.network_id for p in facts.ports
                                      if p.device_owner == METADATA_OWNER})
    if (scope.hosts or scope.project) and any(checks.ovn_agent(a) for a in facts.agents):
        # the metadata ports are bound nowhere: a host-filtered list never has them
        facts.metadata_networks = fleet.metadata_networks(conn, notes)
    facts.hosts = fleet_hosts(facts, scope)
    if (network or project) and not facts.hosts:
        what = " and ".join(w for w in (network and f"network {scope.network}",
                                        project and f"project {scope.project}") if w)
        notes.append(f"no port of {what} is bound to a host: nothing to audit")
    facts.ports_unfiltered = not scope.filtered
    ips = fleet.host_ips(conn, notes)
    facts.host_ips = ips or {}
    if listed is not None and ips is not None:  # else "unknown to the API" would be a guess
        notes += unknown_hosts(scope.hosts, agents, facts)
    return facts


def unknown_hosts(asked: list[str], agents: list[Any], cloud: CloudFacts) -> list[str]:
    """A note for each host asked for that no agent, bound port or hypervisor names: it is
    still probed (an agent deleted from Neutron leaves its OVS ports behind), but a typo is
    the likelier cause, and the names the API has are the fix."""
    known = {a.host for a in agents} | set(cloud.host_ips) \
        | {p.binding_host_id for p in cloud.ports if p.binding_host_id}
    notes = []
    for host in sorted(set(asked) - known):
        near = difflib.get_close_matches(host, sorted(known), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(sorted(near))}?)" if near else ""
        notes.append(f"{host}: no agent, bound port or hypervisor host_ip has this host "
                     f"name{hint}")
    return notes


def host_inputs(cloud: CloudFacts, complete: bool) -> dict[str, checks.HostInput]:
    """One HostInput per host, without host facts yet (the API side of each check)."""
    by_host: dict[str, list[Any]] = {h: [] for h in cloud.hosts}
    known: dict[str, str | None] = {p.id: p.binding_host_id for p in cloud.ports}
    tunnelled: dict[str, set[str]] = {}
    outside = set(cloud.known_only)  # the scope is the ports asked for, not their neighbours
    for port in cloud.ports:
        if port.id in outside:
            continue
        if port.binding_host_id in by_host:
            by_host[port.binding_host_id].append(port)
        net = cloud.networks.get(port.network_id)
        if port.binding_host_id and net and net.segments \
                and net.segments[0].network_type in checks.TUNNEL_TYPES:
            tunnelled.setdefault(port.binding_host_id, set()).add(port.network_id)
    routed = routed_networks(cloud, outside)
    for host, nets in routed.items():
        tunnelled.setdefault(host, set()).update(nets)
    peers = {a.host: a.tunneling_ip for a in cloud.agents if a.tunneling_ip}
    chassis = {a.host: str(a.configurations["chassis_name"]) for a in cloud.agents
               if a.agent_type in checks.OVN_TYPES and a.configurations.get("chassis_name")}
    metadata = set(cloud.metadata_networks)
    whole = cloud.ports_unfiltered and complete
    gateways = {a.host for a in cloud.agents if a.agent_type == checks.OVN_GATEWAY_AGENT}
    hosted = checks.hosted_namespaces(cloud.ports, set(cloud.snat_hosts), gateways) \
        if whole else {}
    hosting = checks.routers_with_ports(cloud.ports) if whole else set()
    return {h: checks.HostInput(
        host=h, ports=ports, networks=cloud.networks, agent=cloud.agent_for(h),
        known_ports=known, ports_complete=complete,
        peers={p: ip for p, ip in peers.items() if p != h},
        peer_chassis={p: c for p, c in chassis.items() if p != h}, peer_networks=tunnelled,
        routed_networks=routed.get(h, set()),
        routers=set(cloud.routers) if cloud.routers is not None else None,
        metadata_networks=metadata,
        metadata_agent=cloud.has_agent(h, checks.OVN_METADATA_AGENT),
        hosted=hosted.get(h, set()) if whole else None, hosting=hosting)
        for h, ports in by_host.items()}


def routed_networks(cloud: CloudFacts, outside: AbstractSet[str] = frozenset()
                    ) -> dict[str, set[str]]:
    """Gateway host -> the tunnelled networks its routers route (their interfaces' networks):
    an OVN router's interfaces are bound nowhere, yet every chassis with a VM on them needs a
    tunnel to the gateway chassis. ``outside``: ports not in the audit's scope."""
    ports = [p for p in cloud.ports if p.id not in outside]
    gateway = {p.device_id: p.binding_host_id for p in ports
               if p.device_owner == "network:router_gateway" and p.binding_host_id}
    out: dict[str, set[str]] = {}
    for port in ports:
        host = gateway.get(port.device_id or "")
        net = cloud.networks.get(port.network_id)
        if host and port.device_owner in ROUTER_INTERFACES and net and net.segments \
                and net.segments[0].network_type in checks.TUNNEL_TYPES:
            out.setdefault(host, set()).add(port.network_id)
    return out


def audit_one(hi: checks.HostInput, out: str | None, error: str | None
              ) -> tuple[list[checks.Finding], HostSummary]:
    """Parse one host's probe output, check it, summarise it (pure)."""
    hi.facts = probe.parse_output(hi.host, out) if out is not None else None
    hi.flows_read = set(flow_tables(out)) if out is not None else set()
    hi.error = error if out is None else None
    found = checks.audit_host(hi)
    ids = checks.iface_ids(hi.facts) if hi.facts else {}
    summary = HostSummary(
        host=hi.host, expected=sum(1 for p in hi.ports if checks.expects_interface(hi, p)),
        found=sum(1 for p in hi.ports if p.id in ids and checks.expects_interface(hi, p)),
        orphans=sum(1 for f in found if f.cls == "orphan-port"),
        errors=sum(1 for f in found if f.severity == checks.ERROR),
        warnings=sum(1 for f in found if f.severity == checks.WARNING),
        probed=hi.facts is not None)
    hi.facts = None  # drop the parsed host: nothing kept per host but findings and counts
    return found, summary


def flow_tables(out: str) -> list[tuple[str, int]]:
    """(bridge, table) of every flows section the output holds."""
    found = []
    for name in probe.split_sections(out)[0]:
        if name.startswith("flows:") and (parts := name.split(":"))[-1].isdigit():
            found.append((":".join(parts[1:-1]), int(parts[-1])))
    return found


def resolve_unlisted(conn: Any, cloud: CloudFacts, probes: dict[str, str]) -> None:
    """A filtered port list does not name every port: ask Neutron about the iface-ids the
    hosts have that it did not list (chunked), so orphans and duplicates are decidable."""
    from osc_netpath.cloud import fleet

    listed = {p.id for p in cloud.ports}
    unlisted: set[str] = set()
    for host, out in probes.items():
        facts = probe.parse_output(host, out)
        unlisted |= set(checks.iface_ids(facts)) - listed
    if not unlisted:
        return
    more = fleet.ports_by_id(conn, sorted(unlisted), cloud.notes)
    if more is None:
        cloud.subject = "audit-partial"  # Neutron could not be asked: no orphan is called
        return
    cloud.ports += more
    cloud.known_only = sorted(p.id for p in more)


def audit_trace(trace: capture.Trace, only: set[str] | None = None
                ) -> Iterator[tuple[list[checks.Finding], HostSummary]]:
    """Audit a recorded (or just probed) trace host by host (``only``: those hosts)."""
    inputs = host_inputs(trace.cloud, complete=trace.cloud.subject == SUBJECT)
    for host, hi in inputs.items():
        if only is None or host in only:
            yield audit_one(hi, trace.probes.get(host), trace.errors.get(host))


def report_of(trace: capture.Trace) -> Report:
    """The report of a replayed capture."""
    report = Report(notes=list(trace.cloud.notes))
    for found, summary in audit_trace(trace):
        report.add(found, summary)
    report.withdraw(set(trace.cloud.withdrawn))
    return report


def merged(bundle: capture.Bundle) -> capture.Trace:
    """One fleet trace from a bundle: its audit trace, else every trace's facts together."""
    for trace in bundle.traces:
        if trace.cloud.subject == SUBJECT:
            return trace
    cloud = CloudFacts(server=ServerFacts(id="fleet", name="fleet", status="ACTIVE"),
                       subject="audit-partial")
    out = capture.Trace(cloud=cloud)
    for trace in bundle.traces:
        seen = {p.id for p in cloud.ports}
        cloud.ports += [p for p in trace.cloud.ports if p.id not in seen]
        cloud.networks.update(trace.cloud.networks)
        cloud.agents += [a for a in trace.cloud.agents if a not in cloud.agents]
        cloud.host_ips.update(trace.cloud.host_ips)
        cloud.metadata_networks += [n for n in trace.cloud.metadata_networks
                                    if n not in cloud.metadata_networks]
        out.probes.update(trace.probes)
        out.errors.update(trace.errors)
    cloud.hosts = sorted(set(out.probes) | set(out.errors))
    return out


def live(conn: Any, scope: Scope, cfg: Any, keep_outputs: bool = False,
         progress: Progress | None = None) -> tuple[Report, capture.Trace, dict[str, int]]:
    """Gather, probe every host concurrently, audit. Unfiltered and not kept (no --record),
    each host is audited the moment its output arrives and the output dropped: memory holds
    findings, not the fleet's outputs. A filtered run keeps them: the iface-ids its port list
    did not name are looked up in Neutron first. Ctrl-C: what finished is audited, the rest
    are host-unprobed (``Report.interrupted``)."""
    return probe_and_audit(conn, gather(conn, scope), scope, cfg, keep_outputs, progress)


def probe_and_audit(conn: Any, cloud: CloudFacts, scope: Scope, cfg: Any,
                    keep_outputs: bool = False, progress: Progress | None = None
                    ) -> tuple[Report, capture.Trace, dict[str, int]]:
    """:func:`live` once the API side is gathered (``conn``: only for a filtered scope)."""
    from osc_netpath import trace as tracing

    stream = not keep_outputs and not scope.filtered
    pending = host_inputs(cloud, complete=True) if stream else {}
    report, seconds = Report(notes=cloud.notes), {}
    done = failed = 0

    def on_result(result: Any) -> None:
        nonlocal done, failed
        done += 1
        failed += result.stdout is None
        seconds[result.host] = result.elapsed
        if (hi := pending.pop(result.host, None)) is not None:
            report.add(*audit_one(hi, result.stdout, result.error))
            result.stdout = None  # audited: nothing of it kept
        if progress is not None:
            progress(done, len(cloud.hosts), failed)

    probes, errors, stats = tracing.probe_hosts(
        cloud.hosts, cloud.host_ips,
        lambda host, options: request_for(cloud, host, **options), cfg,
        on_result=on_result, partial_on_interrupt=True)
    report.interrupted = bool(stats.pop("interrupted", 0))
    if scope.filtered:
        resolve_unlisted(conn, cloud, probes)
    trace = capture.Trace(cloud=cloud, probes=probes, errors=errors)
    # not streamed: every host when outputs are kept; else those never asked or interrupted
    for found, summary in audit_trace(trace, set(pending) if stream else None):
        report.add(found, summary)
    if conn is not None:  # a live run: what Neutron says now, for what the findings claim
        from osc_netpath.audit import settle

        cloud.withdrawn = sorted(settle.stale(conn, cloud, report.findings,
                                              fresh_orphans=scope.filtered))
    report.withdraw(set(cloud.withdrawn))
    for summary in report.summaries:
        summary.seconds = seconds.get(summary.host)
    report.sort()
    return report, trace, stats
