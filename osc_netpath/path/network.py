"""One network everywhere it is wired (``netpath network show``): pure, facts in, rows out.

Per host: the network's local VLAN there (ML2/OVS: every port of one network on one host
carries the same br-int tag; it differs between hosts), each bound port with its device as the
host has it (matched by iface-id) and the namespace holding it; the DHCP agents hosting the
network and the L3 agents of its routers, with their namespaces as the hosts show them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from osc_netpath.cloud.facts import PortFacts
from osc_netpath.cloud.network import HostedBy, NetworkTrace
from osc_netpath.host.facts import HostFacts
from osc_netpath.path import core, ml2_ovs
from osc_netpath.path import namespaces as agent_ns

COLUMNS = ("Host", "Kind", "Name", "Device", "Namespace", "VLAN", "State", "Detail")


@dataclass
class Row:
    host: str
    kind: str  # host, vm-port, dhcp, router-interface…, dhcp-agent, l3-agent
    name: str  # port id, agent, router
    device: str | None = None
    namespace: str | None = None
    vlan: str | None = None
    state: str | None = None
    detail: str | None = None


@dataclass
class NetworkView:
    rows: list[Row] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # hosts that could not be probed


def kind_of(port: PortFacts) -> str:
    owner = port.device_owner or ""
    if owner.startswith("compute:"):
        return "vm-port"
    return owner.split(":", 1)[1] if owner.startswith("network:") else (owner or "port")


def view(trace: NetworkTrace, hosts: dict[str, HostFacts],
         errors: dict[str, str] | None = None) -> NetworkView:
    out = NetworkView(errors=[e for _, e in sorted((errors or {}).items())])
    out.findings += trace.cloud.notes
    for host in trace.cloud.hosts:
        facts = hosts.get(host)
        ports = [p for p in trace.cloud.ports if p.binding_host_id == host]
        tags = _host_rows(out, host, facts, ports)
        _agent_rows(out, host, facts, trace, tags)
    _ha_findings(out, trace)
    return out


def _host_rows(out: NetworkView, host: str, facts: HostFacts | None,
               ports: list[PortFacts]) -> set[int]:
    head = Row(host=host, kind="host", name=host)
    out.rows.append(head)
    if facts is None or facts.unknown.get("all"):
        head.state = "unknown"
        head.detail = (facts.unknown.get("all") if facts else None) or "not probed"
        return set()
    tagged: dict[int, list[str]] = {}
    for port in ports:
        row = Row(host=host, kind=kind_of(port), name=port.id, state=port.status)
        out.rows.append(row)
        if facts.ovs is None:
            row.device = "unknown"
            row.detail = f"Open vSwitch not readable: {facts.unknown_why('ovs') or '?'}"
            continue
        live = core.interfaces_of_port(facts.ovs, port.id)
        if not live:
            row.device = "absent"
            out.findings.append(f"{host}: port {port.id[:11]} ({row.kind}) is bound here but no "
                                f"OVS interface has its iface-id: not plugged")
            continue
        iface = live[0]
        oport = facts.ovs.ports.get(iface.name)
        row.device = iface.name
        row.state = f"{port.status}/{core.ovs_state(iface) or '?'}"
        if oport is not None and oport.tag is not None:
            row.vlan = str(oport.tag)
            tagged.setdefault(oport.tag, []).append(iface.name)
        if agent_ns.owned_by_agent(port):
            row.namespace = _namespace_of(facts, iface.name) or "none"
            want = agent_ns.expected_namespace(port)
            if want and row.namespace != want and "namespaces" not in facts.unknown:
                out.findings.append(f"{host}: {iface.name} ({row.kind}) is in "
                                    f"{row.namespace}, expected {want}")
        ips = ", ".join(ip.ip_address for ip in port.fixed_ips)
        row.detail = ips or None
    live_tags = {t: n for t, n in tagged.items() if t != ml2_ovs.DEAD_VLAN}  # 4095: parked
    if len(live_tags) > 1:
        seen = "; ".join(f"{tag}: {', '.join(sorted(names))}"
                         for tag, names in sorted(live_tags.items()))
        out.findings.append(f"{host}: the network's ports carry different local VLANs ({seen}): "
                            "they cannot reach each other on br-int")
    head.vlan = ", ".join(str(t) for t in sorted(tagged)) or None
    head.state = "probed"
    return set(tagged)


def _namespace_of(facts: HostFacts, ovs_name: str) -> str | None:
    for link in facts.links:
        if link.namespace and link.name == ovs_name:
            return link.namespace
    root = facts.link(ovs_name)
    if root is not None and root.kind == "veth" and root.peer_namespace:
        return root.peer_namespace
    return None


def _agent_rows(out: NetworkView, host: str, facts: HostFacts | None, trace: NetworkTrace,
                tags: set[int]) -> None:
    for hosted in trace.dhcp_agents + trace.l3_agents:
        if hosted.agent.host != host:
            continue
        dhcp = hosted.router_id is None
        ns = f"qdhcp-{trace.network.id}" if dhcp else f"qrouter-{hosted.router_id}"
        row = Row(host=host, kind="dhcp-agent" if dhcp else "l3-agent",
                  name=hosted.agent.id if dhcp else str(hosted.router_id), namespace=ns,
                  state=("alive" if hosted.agent.alive else "down")
                  + (f", {hosted.ha_state}" if hosted.ha_state else ""))
        out.rows.append(row)
        what = "DHCP agent" if dhcp else f"L3 agent of router {hosted.router_id}"
        if not hosted.agent.alive:
            out.findings.append(f"{host}: the {what} is down (not reporting)")
        if facts is None or "namespaces" in facts.unknown or facts.unknown.get("all"):
            row.detail = "namespaces not readable"
        elif ns not in facts.namespaces:
            row.detail = "namespace absent"
            out.findings.append(f"{host}: {ns} does not exist although Neutron says the {what} "
                                "runs here")


def _ha_findings(out: NetworkView, trace: NetworkTrace) -> None:
    by_router: dict[str, list[HostedBy]] = {}
    for hosted in trace.l3_agents:
        if hosted.router_id and hosted.ha_state:
            by_router.setdefault(hosted.router_id, []).append(hosted)
    for router, agents in sorted(by_router.items()):
        active = [h.agent.host for h in agents if h.ha_state == "active"]
        if len(active) != 1:
            where = ", ".join(active) or "no agent"
            out.findings.append(f"router {router} (L3-HA) is active on {where}: exactly one "
                                "agent must be active")
