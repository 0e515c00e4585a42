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
from osc_netpath.path import core, ml2_ovs, ovn
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
        agent = trace.cloud.agent_for(host)
        chassis = agent is not None and agent.agent_type in ovn.AGENT_TYPES
        tags = _host_rows(out, host, facts, ports, chassis)
        _agent_rows(out, host, facts, trace, tags)
        if chassis and facts is not None and not facts.unknown.get("all"):
            _ovn_rows(out, host, facts, trace, ports)
    _ha_findings(out, trace)
    return out


def _host_rows(out: NetworkView, host: str, facts: HostFacts | None,
               ports: list[PortFacts], chassis: bool = False) -> set[int]:
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
        if chassis and port.device_owner == "network:router_gateway":
            _ovn_gateway(out, row, host, facts)  # a logical port: no device on the host
            continue
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
        if chassis and iface.external_ids.get("ovn-installed") != "true":
            row.detail = "; ".join(d for d in (row.detail, "no ovn-installed") if d)
            out.findings.append(f"{host}: {iface.name} ({row.kind}) has no ovn-installed: "
                                "ovn-controller has not finished programming it")
    live_tags = {t: n for t, n in tagged.items() if t != ml2_ovs.DEAD_VLAN}  # 4095: parked
    if len(live_tags) > 1:
        seen = "; ".join(f"{tag}: {', '.join(sorted(names))}"
                         for tag, names in sorted(live_tags.items()))
        out.findings.append(f"{host}: the network's ports carry different local VLANs ({seen}): "
                            "they cannot reach each other on br-int")
    head.vlan = ", ".join(str(t) for t in sorted(tagged)) or None
    head.state = "probed"
    return set(tagged)


def _ovn_gateway(out: NetworkView, row: Row, host: str, facts: HostFacts) -> None:
    """ML2/OVN binds a router's gateway port to the chassis its cr-lrp is active on."""
    row.device = f"cr-lrp-{row.name}"
    row.detail = f"gateway chassis: the router's chassisredirect port is active on {host}"
    cms = (facts.ovs.external_ids if facts.ovs else {}).get("ovn-cms-options", "")
    if facts.ovs is not None and "enable-chassis-as-gw" not in cms:
        out.findings.append(f"{host}: the router gateway {row.name[:11]} is bound here but the "
                            "chassis is not a gateway chassis (no enable-chassis-as-gw in "
                            "ovn-cms-options)")


def _ovn_rows(out: NetworkView, host: str, facts: HostFacts, trace: NetworkTrace,
              ports: list[PortFacts]) -> None:
    """An OVN chassis: its identity and SB connection, and the network's ovnmeta- namespace
    where a VM port of it lives and the metadata agent runs."""
    head = next(r for r in reversed(out.rows) if r.kind == "host" and r.host == host)
    if facts.ovs is not None:
        head.detail = "; ".join(d for d in (head.detail, ovn.chassis_summary(facts.ovs)) if d)
    if facts.ovn_controller is not None:
        head.detail = f"{head.detail}; ovn-controller {facts.ovn_controller}"
        if facts.ovn_controller != "connected":
            out.findings.append(f"{host}: ovn-controller is {facts.ovn_controller} to the "
                                "Southbound DB: changes do not reach this chassis")
    vms = any((p.device_owner or "").startswith("compute:") for p in ports)
    net = trace.network.id
    if not vms or net not in trace.cloud.metadata_networks:
        return
    ns = ovn.metadata_namespace(net)
    row = Row(host=host, kind="metadata", name=ns, namespace=ns)
    out.rows.append(row)
    if "namespaces" in facts.unknown:
        row.state, row.detail = "unknown", f"namespaces not readable: {facts.unknown['namespaces']}"
    elif ns in facts.namespaces:
        inside = [x for x in facts.links if x.namespace == ns and x.kind == "veth"]
        meta = next((x for x in inside if any(a.split("/")[0] == ovn.METADATA_IP
                                              for a in x.addresses)), None)
        row.device = meta.name if meta else None
        row.state = "present"
        row.detail = f"{meta.peer_name or '?'} ⇄ {meta.name} {ovn.METADATA_IP}" if meta \
            else f"no {ovn.METADATA_IP} inside"
    else:
        row.state = "absent"
        if trace.cloud.has_agent(host, "OVN Metadata agent"):
            out.findings.append(f"{host}: {ns} is missing although the OVN metadata agent runs "
                                "here: the network's VMs on this host get no metadata")


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
