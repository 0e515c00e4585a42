"""One pure function per finding class: (what the API says, what one host has) -> findings.

Truth rules: a host that could not be probed, or whose OVS could not be read, gets ONE host
finding and no per-port ones (unknown is not absent); flows that could not be read are never
called missing.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from osc_netpath.cloud.facts import AgentFacts, NetworkFacts, PortFacts
from osc_netpath.host.facts import Flow, HostFacts, Link, OvsInterface
from osc_netpath.path import core, namespaces, ovn

ERROR, WARNING = "error", "warning"
DEAD_VLAN = 4095  # the OVS agent parks ports it cannot wire on VLAN 4095 (drop all)
NOT_NIC = {"internal", "patch", "vxlan", "geneve", "gre", "stt"}
TUNNEL_TYPES = ("vxlan", "gre", "geneve")
TUNNEL_TABLE = {"vxlan": 4, "gre": 3, "geneve": 6}  # br-tun: tun_id -> local VLAN
# physical bridge: LOCAL_SWITCHING rewrites the local VLAN; a DVR agent does it in table 2
# instead (0 → 1 → 2, trace.DVR_LOCAL_VLAN_TRANSLATION)
PROVIDER_TABLE, DVR_PROVIDER_TABLE = 0, 2
OVN_TYPES = ("OVN Controller agent", "OVN Controller Gateway agent")
OVN_METADATA_AGENT = "OVN Metadata agent"

# The stable class names (documented in the README; monitoring keys on them).
CLASSES = {
    "host-unprobed": ERROR, "ovs-unreadable": ERROR, "agent-down": ERROR,
    "interface-missing": ERROR, "interface-error": ERROR, "orphan-port": WARNING,
    "duplicate-port": WARNING, "dead-vlan": ERROR, "translation-flow-missing": ERROR,
    "bridge-mapping-missing": ERROR, "bridge-without-nic": ERROR, "tunnel-missing": ERROR,
    "tunnel-endpoint-missing": ERROR, "interface-not-installed": ERROR,
    "mtu-drift": WARNING, "hostname-mismatch": WARNING,
    "namespace-missing": ERROR, "namespace-leftover": WARNING,
}
# Tunnel overhead over IPv4 (Neutron's own figures: network MTU = underlay MTU - these)
OVERHEAD = {"vxlan": 50, "gre": 42, "geneve": 58}
# namespace prefix -> whose id names it (a leftover is one whose network/router is gone)
NAMESPACE_OF = {"qdhcp-": "network", "fip-": "network", "ovnmeta-": "network",
                "qrouter-": "router", "snat-": "router"}


@dataclass(frozen=True)
class Finding:
    host: str
    cls: str
    seen: str
    expected: str
    port: str = ""
    network: str = ""

    @property
    def severity(self) -> str:
        return CLASSES[self.cls]


@dataclass
class HostInput:
    """Everything known about one host: the API side and (when probed) the host side."""

    host: str
    ports: list[PortFacts]  # Neutron ports bound here
    networks: dict[str, NetworkFacts]
    agent: AgentFacts | None
    facts: HostFacts | None = None
    error: str | None = None  # the probe failed: why
    known_ports: dict[str, str | None] = field(default_factory=dict)  # id -> host, all known
    ports_complete: bool = True  # known_ports holds every port Neutron has (orphans decidable)
    peers: dict[str, str] = field(default_factory=dict)  # other host -> its tunneling_ip
    peer_chassis: dict[str, str] = field(default_factory=dict)  # other host -> OVN chassis name
    # host -> tunnelled networks it has a port on, or routes (a router's gateway host)
    peer_networks: dict[str, set[str]] = field(default_factory=dict)
    routed_networks: set[str] = field(default_factory=set)  # tunnelled nets routed here
    # (bridge, table) whose flows the probe output holds: a table never read proves nothing
    flows_read: set[tuple[str, int]] = field(default_factory=set)
    routers: set[str] | None = None  # every router Neutron has (None: not known)
    metadata_networks: set[str] = field(default_factory=set)  # networks with an OVN metadata port
    # the agent namespaces this host's bound ports account for (None: the port list is not
    # the whole fleet's, so a namespace not accounted for proves nothing)
    hosted: set[str] | None = None
    hosting: set[str] = field(default_factory=set)  # routers with any port at all
    metadata_agent: bool = False  # an OVN metadata agent runs here (its ovnmeta- are due)


def expected_wired(port: PortFacts) -> bool:
    """An OVS-bound port Neutron wants up (DOWN by admin, or unbound, is not expected)."""
    return port.admin_state_up and port.status != "DOWN" \
        and port.binding_vif_type in ("ovs", "vhostuser")


def expects_interface(hi: HostInput, port: PortFacts) -> bool:
    """An OVS interface with the port's iface-id is due on the host: every wired port under
    the OVS agent (qr-/qg- too); under OVN not the router ports, which live in the logical
    router (a gateway is bound to its chassis with no interface), nor the metadata port."""
    owner = port.device_owner or ""
    return expected_wired(port) and not (
        _ovn(hi) and owner.startswith("network:") and owner != "network:dhcp")


def iface_ids(facts: HostFacts) -> dict[str, list[OvsInterface]]:
    found: dict[str, list[OvsInterface]] = {}
    for iface in facts.ovs.interfaces.values() if facts.ovs else []:
        if pid := iface.external_ids.get("iface-id"):
            found.setdefault(pid, []).append(iface)
    return found


def _segment(hi: HostInput, port: PortFacts) -> tuple[str, str | None, int | None] | None:
    net = hi.networks.get(port.network_id)
    if net is None or not net.segments:
        return None
    seg = net.segments[0]
    return seg.network_type, seg.physical_network, seg.segmentation_id


def host_unprobed(hi: HostInput) -> list[Finding]:
    if hi.error is None and hi.facts is not None:
        return []
    return [Finding(hi.host, "host-unprobed", hi.error or "no probe output", "probed")]


def ovs_unreadable(hi: HostInput) -> list[Finding]:
    if hi.facts is None or hi.facts.ovs is not None:
        return []
    why = hi.facts.unknown_why("ovs") or "Open vSwitch not readable"
    return [Finding(hi.host, "ovs-unreadable", why, "the OVS database read")]


def agent_down(hi: HostInput) -> list[Finding]:
    if hi.agent is None:
        return [Finding(hi.host, "agent-down", "no L2 agent listed", "an alive L2 agent")] \
            if hi.ports else []
    if not hi.agent.alive:
        return [Finding(hi.host, "agent-down", f"{hi.agent.agent_type} not alive",
                        "alive")]
    status = (hi.facts.ovn_controller or "").strip() if hi.facts and _ovn(hi) else ""
    if status and status.lower() != "connected":  # alive in the API lags the chassis
        return [Finding(hi.host, "agent-down", f"ovn-controller {status} to the Southbound DB",
                        "connected")]
    return []


def interface_missing(hi: HostInput) -> list[Finding]:
    ids = iface_ids(hi.facts) if hi.facts else {}
    return [Finding(hi.host, "interface-missing", "no OVS interface with this iface-id",
                    f"an interface (status {p.status})", p.id, p.network_id)
            for p in hi.ports if expects_interface(hi, p) and p.id not in ids]


def interface_error(hi: HostInput) -> list[Finding]:
    out = []
    for pid, ifaces in iface_ids(hi.facts).items() if hi.facts else []:
        for iface in ifaces:
            if iface.error or iface.ofport == -1:
                seen = f"{iface.name}: {iface.error or 'ofport -1'}"
                out.append(Finding(hi.host, "interface-error", seen, "a valid ofport", pid,
                                   _net_of(hi, pid)))
    return out


def interface_not_installed(hi: HostInput) -> list[Finding]:
    """OVN: ovn-controller marks a VIF it claimed and programmed ``ovn-installed=true``; a
    bound port's interface without it gets no traffic (no logical port, wrong chassis…)."""
    if hi.facts is None or not _ovn(hi):
        return []
    ids, out = iface_ids(hi.facts), []
    for port in hi.ports:
        for iface in ids.get(port.id, []) if expects_interface(hi, port) else []:
            if iface.external_ids.get("ovn-installed") != "true" and not iface.error:
                out.append(Finding(hi.host, "interface-not-installed",
                                   f"{iface.name}: no external_ids:ovn-installed",
                                   "ovn-installed=true (claimed and programmed by "
                                   "ovn-controller)", port.id, port.network_id))
    return out


def orphan_port(hi: HostInput) -> list[Finding]:
    """An iface-id Neutron has no port for (only decidable when Neutron was asked)."""
    out = []
    for pid, ifaces in iface_ids(hi.facts).items() if hi.facts else []:
        if pid not in hi.known_ports and hi.ports_complete:
            out.append(Finding(hi.host, "orphan-port", f"OVS port {ifaces[0].name}",
                               "no OVS port: Neutron has no such port", pid))
    return out


def duplicate_port(hi: HostInput) -> list[Finding]:
    out = []
    for pid, ifaces in iface_ids(hi.facts).items() if hi.facts else []:
        bound = hi.known_ports.get(pid, hi.host)
        if len(ifaces) > 1:
            out.append(Finding(hi.host, "duplicate-port",
                               "interfaces " + ", ".join(sorted(i.name for i in ifaces)),
                               "one interface", pid, _net_of(hi, pid)))
        elif bound and bound != hi.host:
            out.append(Finding(hi.host, "duplicate-port", f"OVS port {ifaces[0].name}",
                               f"on {bound} only (its binding:host_id)", pid))
    return out


def _local_vlans(hi: HostInput) -> dict[str, tuple[PortFacts, int | None]]:
    """Bound, expected ports -> their br-int port's local VLAN tag (None: untagged)."""
    out: dict[str, tuple[PortFacts, int | None]] = {}
    if hi.facts is None or hi.facts.ovs is None:
        return out
    ids = iface_ids(hi.facts)
    for port in hi.ports:
        ifaces = ids.get(port.id)
        if not expects_interface(hi, port) or not ifaces:
            continue
        ovs_port = hi.facts.ovs.ports.get(ifaces[0].name)
        out[port.id] = (port, ovs_port.tag if ovs_port else None)
    return out


def dead_vlan(hi: HostInput) -> list[Finding]:
    if _ovn(hi):
        return []
    return [Finding(hi.host, "dead-vlan", f"local VLAN {DEAD_VLAN}", "a live local VLAN",
                    pid, port.network_id)
            for pid, (port, tag) in _local_vlans(hi).items() if tag == DEAD_VLAN]


def _flows(facts: HostFacts, bridge: str) -> list[Flow]:
    return [f for f in facts.flows if f.bridge == bridge]


def _flows_unread(hi: HostInput, bridge: str, table: int) -> bool:
    assert hi.facts is not None
    return (bridge, table) not in hi.flows_read or bool(hi.facts.unknown_why(f"flows:{bridge}"))


def provider_tables(agent: AgentFacts | None) -> list[int]:
    """The physical bridge tables where this agent rewrites local VLANs."""
    dvr = agent is not None and bool(agent.configurations.get("enable_distributed_routing"))
    return [PROVIDER_TABLE, DVR_PROVIDER_TABLE] if dvr else [PROVIDER_TABLE]


def translation_flow_missing(hi: HostInput) -> list[Finding]:
    """Every local VLAN of a bound port has its rewrite on the provider bridge (VLAN/flat) or
    its tun_id -> VLAN flow on the tunnel bridge; one finding per (network, VLAN)."""
    if hi.facts is None or hi.facts.ovs is None or _ovn(hi):
        return []
    mappings = hi.agent.bridge_mappings if hi.agent else {}
    done: set[tuple[str, int]] = set()
    out = []
    for port, tag in _local_vlans(hi).values():
        seg = _segment(hi, port)
        if tag is None or tag == DEAD_VLAN or seg is None or (port.network_id, tag) in done:
            continue
        done.add((port.network_id, tag))
        kind, physnet, seg_id = seg
        bridge: str | None
        if kind in ("flat", "vlan") and physnet in mappings:
            # provider bridge: dl_vlan=<local> -> the segment's VLAN (or untagged)
            bridge, tables = mappings[physnet or ""], provider_tables(hi.agent)
            want = "untagged" if kind == "flat" else str(seg_id)
            shown, match = want, tag
        elif kind in TUNNEL_TABLE:
            # tunnel bridge, tun_id -> VLAN table: some flow sets the local VLAN
            bridge, tables, want = _tunnel_bridge(hi.facts), [TUNNEL_TABLE[kind]], str(tag)
            shown, match = f"tun_id {seg_id} → VLAN {tag}", None
        else:
            continue
        if bridge is None or any(_flows_unread(hi, bridge, t) for t in tables):
            continue  # no tunnel bridge is the tunnel check's; unread flows prove nothing
        if not any(_rewrites(f, tables, match, want) for f in _flows(hi.facts, bridge)):
            out.append(Finding(hi.host, "translation-flow-missing",
                               f"no flow on {bridge} for local VLAN {tag}",
                               f"VLAN {tag} ⇄ {shown}", port.id, port.network_id))
    return out


def _rewrites(flow: Flow, tables: list[int], vlan: int | None, want: str) -> bool:
    """Whether ``flow`` (in one of ``tables``, matching ``vlan`` when given) sets the VLAN to
    ``want``."""
    return flow.table in tables and (vlan is None or core.vlan_of(flow) == vlan) \
        and core.vlan_action(flow.actions) == want


def _tunnel_bridge(facts: HostFacts) -> str | None:
    """The bridge holding tunnel ports (``[ovs] tunnel_bridge`` is configurable: ask OVS)."""
    ovs = facts.ovs
    for iface in ovs.interfaces.values() if ovs else []:
        if iface.type in TUNNEL_TYPES and (port := ovs.ports.get(iface.name)):  # type: ignore[union-attr]
            return port.bridge
    if ovs and "br-tun" in ovs.bridges:
        return "br-tun"
    return None


def _mappings(hi: HostInput) -> dict[str, str]:
    """physnet -> bridge: an OVN chassis' own ``ovn-bridge-mappings`` (the API only echoes
    them), else the L2 agent's."""
    if _ovn(hi) and hi.facts and hi.facts.ovs is not None:
        return ovn.bridge_mappings(hi.facts.ovs)
    return hi.agent.bridge_mappings if hi.agent else {}


def bridge_mapping_missing(hi: HostInput) -> list[Finding]:
    if hi.agent is None:
        return []
    mappings = _mappings(hi)
    out, seen = [], set()
    for port in hi.ports:
        seg = _segment(hi, port)
        if not expected_wired(port) or seg is None or seg[0] not in ("flat", "vlan"):
            continue
        physnet = seg[1] or ""
        bridge = mappings.get(physnet)
        ovs = hi.facts.ovs if hi.facts else None
        if bridge is None and physnet not in seen:
            seen.add(physnet)
            out.append(Finding(hi.host, "bridge-mapping-missing",
                               f"no bridge_mappings entry for {physnet}",
                               f"{physnet}:<bridge>", port.id, port.network_id))
        elif bridge and ovs is not None and bridge not in ovs.bridges and bridge not in seen:
            seen.add(bridge)
            out.append(Finding(hi.host, "bridge-mapping-missing", f"no bridge {bridge}",
                               f"{physnet}:{bridge} as mapped", port.id, port.network_id))
    return out


def bridge_without_nic(hi: HostInput) -> list[Finding]:
    ovs = hi.facts.ovs if hi.facts else None
    if ovs is None or hi.agent is None:
        return []
    physnets = {s[1] for p in hi.ports if expected_wired(p) and (s := _segment(hi, p))
                and s[0] in ("flat", "vlan")}
    out = []
    for physnet, bridge in sorted(_mappings(hi).items()):
        if physnet not in physnets or bridge not in ovs.bridges:
            continue
        nics = [i for p in ovs.bridges[bridge].ports for i in ovs.ports[p].interfaces
                if p in ovs.ports and i != bridge
                and (iface := ovs.interfaces.get(i)) is not None and iface.type not in NOT_NIC]
        if not nics:
            out.append(Finding(hi.host, "bridge-without-nic", f"{bridge}: no physical interface",
                               f"a NIC on {bridge} for {physnet}"))
    return out


def _tunnelled_here(hi: HostInput) -> set[str]:
    """Tunnelled networks this host must reach others on: its wired ports', and those routed
    through a router gateway here."""
    return {p.network_id for p in hi.ports if expected_wired(p)
            and (s := _segment(hi, p)) and s[0] in TUNNEL_TYPES} | hi.routed_networks


def tunnel_missing(hi: HostInput) -> list[Finding]:
    """A tunnel to every other host that carries one of this host's tunnelled networks: by the
    peer's tunneling_ip (OVS agent), by its chassis name (OVN: ``ovn-chassis-id``)."""
    ovs = hi.facts.ovs if hi.facts else None
    if ovs is None:
        return []
    mine, out = _tunnelled_here(hi), []
    if _ovn(hi):
        have = ovn.tunnel_chassis(ovs)
        for peer, chassis in sorted(hi.peer_chassis.items()):
            shared = mine & hi.peer_networks.get(peer, set())
            if peer != hi.host and shared and chassis not in have:
                out.append(Finding(hi.host, "tunnel-missing", f"no tunnel to chassis {chassis}",
                                   f"a tunnel to {peer} (chassis {chassis})",
                                   network=min(shared)))
        return out
    remotes = {i.options.get("remote_ip") for i in ovs.interfaces.values()
               if i.type in TUNNEL_TYPES}
    for peer, ip in sorted(hi.peers.items()):
        shared = mine & hi.peer_networks.get(peer, set())
        if peer != hi.host and shared and ip not in remotes:
            out.append(Finding(hi.host, "tunnel-missing", f"no tunnel to {ip}",
                               f"a tunnel to {peer} ({ip})", network=min(shared)))
    return out


def _endpoints(hi: HostInput) -> tuple[list[str], str]:
    """This host's tunnel endpoint IPs and who says so: an OVN chassis' ``ovn-encap-ip``; the
    local_ip the OVS agent's tunnel ports use (the host's word), else the one it reported."""
    ovs = hi.facts.ovs if hi.facts else None
    if _ovn(hi):
        return ovn.encap_ips(ovs), "ovn-encap-ip"
    used = sorted({ip for i in (ovs.interfaces.values() if ovs else [])
                   if i.type in TUNNEL_TYPES and (ip := i.options.get("local_ip"))})
    if used:
        return used, "the tunnels' local_ip"
    ip = hi.agent.tunneling_ip if hi.agent else None
    return ([ip] if ip else []), "the agent's local_ip"


def _carrier(facts: HostFacts, ip: str) -> Link | None:
    return next((x for x in facts.links if not x.namespace
                 and any(a.split("/")[0] == ip for a in x.addresses)), None)


def tunnel_endpoint_missing(hi: HostInput) -> list[Finding]:
    """A host with tunnelled networks whose tunnel endpoint no device carries: every tunnel
    to and from it is dead (an address lost on a bond or bridge, a renamed NIC)."""
    if hi.facts is None or hi.facts.unknown_why("links") or not _tunnelled_here(hi):
        return []
    ips, who = _endpoints(hi)
    if not ips and _ovn(hi) and hi.facts.ovs is not None:
        return [Finding(hi.host, "tunnel-endpoint-missing", "ovn-encap-ip not set",
                        "this chassis' tunnel endpoint (ovn-encap-ip)")]
    return [Finding(hi.host, "tunnel-endpoint-missing", f"no device carries {ip}",
                    f"{ip} on an interface ({who})") for ip in ips if _carrier(hi.facts, ip) is None]


def mtu_drift(hi: HostInput) -> list[Finding]:
    """The port's device MTU (the tap, as the guest sees it) against the network's MTU."""
    if hi.facts is None:
        return []
    out = []
    for port in hi.ports:
        net = hi.networks.get(port.network_id)
        link = hi.facts.link(f"tap{port.short_id}")
        if net and net.mtu and link and link.mtu and link.mtu != net.mtu:
            out.append(Finding(hi.host, "mtu-drift", f"tap MTU {link.mtu}",
                               f"network MTU {net.mtu}", port.id, port.network_id))
    return out


def underlay_mtu(hi: HostInput) -> list[Finding]:
    """The device holding the tunnel endpoint (the agent's tunneling_ip, the chassis'
    ovn-encap-ip) must carry the largest tunnelled network's MTU plus the encapsulation:
    else big frames are dropped."""
    ips = _endpoints(hi)[0]
    if hi.facts is None or not ips:
        return []
    carriers = [link for ip in ips if (link := _carrier(hi.facts, ip)) and link.mtu]
    if not carriers:
        return []  # no endpoint device: tunnel_endpoint_missing says so
    link = min(carriers, key=lambda x: x.mtu or 0)
    assert link.mtu is not None
    ip = next(a.split("/")[0] for a in link.addresses if a.split("/")[0] in ips)
    need: dict[str, tuple[int, str]] = {}  # network -> (MTU it needs of the underlay, type)
    for port in hi.ports:
        seg, net = _segment(hi, port), hi.networks.get(port.network_id)
        if expected_wired(port) and seg and seg[0] in OVERHEAD and net and net.mtu:
            need[port.network_id] = (net.mtu + OVERHEAD[seg[0]], seg[0])
    if not need:
        return []
    network, (mtu, kind) = max(need.items(), key=lambda kv: kv[1][0])
    if mtu <= link.mtu:
        return []
    return [Finding(hi.host, "mtu-drift", f"underlay {link.name} ({ip}) MTU {link.mtu}",
                    f"≥ {mtu}: network MTU {mtu - OVERHEAD[kind]} + {OVERHEAD[kind]} of "
                    f"{kind}", network=network)]


def _namespace_ref(name: str) -> tuple[str, str] | None:
    """(what names it: network/router, its id) of a Neutron agent's namespace."""
    for prefix, kind in NAMESPACE_OF.items():
        if name.startswith(prefix) and len(name) == len(prefix) + 36:
            return kind, name[len(prefix):]
    return None


def namespace_missing(hi: HostInput) -> list[Finding]:
    """Each DHCP/router port bound here has the namespace its agent puts it in (a gateway's
    may be qrouter- or, under DVR, snat-); one finding per namespace."""
    if hi.facts is None or hi.facts.unknown_why("namespaces"):
        return []
    have, out, said = set(hi.facts.namespaces), [], set()
    for port in hi.ports:
        want = _ovn_namespaces(hi, port) if _ovn(hi) else namespaces.namespaces_to_read(port)
        if not want or not expected_wired(port) or have & set(want) or want[0] in said \
                or port.device_id == RESERVED_DHCP:
            continue
        said.add(want[0])
        out.append(Finding(hi.host, "namespace-missing", f"no namespace {want[0]}",
                           f"{want[0]} ({port.device_owner} {port.id} is bound here)",
                           port.id, port.network_id))
    return out


def _ovn_namespaces(hi: HostInput, port: PortFacts) -> list[str]:
    """The OVN metadata agent gives each network with a metadata port and a VM port on this
    chassis an ``ovnmeta-`` namespace."""
    if hi.metadata_agent and port.network_id in hi.metadata_networks \
            and (port.device_owner or "").startswith("compute:"):
        return [ovn.metadata_namespace(port.network_id)]
    return []


def namespace_leftover(hi: HostInput) -> list[Finding]:
    """A qdhcp-/fip-/ovnmeta- of a network, a qrouter-/snat- of a router, Neutron no longer
    has (decided only from complete lists: every network, every router); or one Neutron still
    has but no longer hosts here (rescheduled, DHCP disabled, the last VM gone): decided only
    from the fleet's whole port list, and for a router only when it has ports at all."""
    if hi.facts is None or hi.facts.unknown_why("namespaces") or not hi.ports_complete:
        return []
    out = []
    for name in hi.facts.namespaces:
        ref = _namespace_ref(name)
        if ref is None:
            continue
        kind, rid = ref
        network = rid if kind == "network" else ""
        gone = rid not in hi.networks if kind == "network" else \
            hi.routers is not None and rid not in hi.routers
        if gone:
            out.append(Finding(hi.host, "namespace-leftover", f"namespace {name}",
                               f"none: Neutron has no {kind} {rid}", network=network))
        elif hi.hosted is not None and name not in hi.hosted \
                and (kind == "network" or rid in hi.hosting):
            out.append(Finding(hi.host, "namespace-leftover", f"namespace {name}",
                               f"none: no port of {kind} {rid} bound to {hi.host} puts it here",
                               network=network))
    return out


# ports whose host gets a DVR router's qrouter- (Neutron's "DVR serviced" owners)
DVR_SERVICED = ("compute:", "network:dhcp", "neutron:LOADBALANCER", "trunk:subport")
DVR_INTERFACE = "network:router_interface_distributed"
# the device_id Neutron gives a DHCP port its agent let go of (kept for the next agent)
RESERVED_DHCP = "reserved_dhcp_port"
L3_AGENT = "L3 agent"
OVN_GATEWAY_AGENT = "OVN Controller Gateway agent"


def hosted_namespaces(ports: Iterable[PortFacts], snat_hosts: set[str] | None = None,
                      gateway_hosts: set[str] | None = None) -> dict[str, set[str]]:
    """Host -> the agent namespaces its bound ports account for (a superset: what is not in
    it is a leftover). An agent-owned port its namespace (a gateway's snat- too: DVR binds it
    to the SNAT node, which holds both; an HA port both, its keepalived lives in snat- under
    DVR-HA); any port there its network's ovnmeta-; a DVR-serviced port the qrouter- of
    every distributed router on its network and of those joined to them by a network. A
    dvr_snat host may hold any distributed router (one without a gateway is scheduled there
    too); an OVN gateway chassis the ovnmeta- of a network with SR-IOV or baremetal ports
    (external ports, claimed by the gateway). A port in live migration counts on both."""
    ports = list(ports)
    dvr_on = _distributed_routers_by_network(ports)
    every_dvr = set().union(*dvr_on.values()) if dvr_on else set()
    out: dict[str, set[str]] = {h: {f"qrouter-{r}" for r in every_dvr}
                                for h in snat_hosts or ()}
    for port in ports:
        dest = (port.binding_profile or {}).get("migrating_to")
        for host in {h for h in (port.binding_host_id, dest) if isinstance(h, str) and h}:
            mine = out.setdefault(host, set())
            mine.add(ovn.metadata_namespace(port.network_id))
            if port.device_id != RESERVED_DHCP:
                mine.update(namespaces.namespaces_to_read(port))
            if port.device_owner == "network:router_ha_interface" and port.device_id:
                mine.add(f"snat-{port.device_id}")
            if (port.device_owner or "").startswith(DVR_SERVICED):
                mine.update(f"qrouter-{r}" for r in dvr_on.get(port.network_id, ()))
        if port.binding_vnic_type not in (None, "", "normal"):
            for host in gateway_hosts or ():
                out.setdefault(host, set()).add(ovn.metadata_namespace(port.network_id))
    return out


def _distributed_routers_by_network(ports: list[PortFacts]) -> dict[str, set[str]]:
    """Network -> the distributed routers with an interface on it, and every router joined
    to those through a shared network (Neutron brings a router to a host that has one it
    shares a network with; the whole chain is taken: more, never fewer)."""
    nets_of: dict[str, set[str]] = {}
    for port in ports:
        if port.device_owner == DVR_INTERFACE and port.device_id:
            nets_of.setdefault(port.device_id, set()).add(port.network_id)
    on: dict[str, set[str]] = {}
    for router, nets in nets_of.items():
        for net in nets:
            on.setdefault(net, set()).add(router)
    group: dict[str, set[str]] = {}
    for router in nets_of:
        if router in group:
            continue
        chain, todo = set(), [router]
        while todo:
            r = todo.pop()
            if r not in chain:
                chain.add(r)
                todo += [o for n in nets_of[r] for o in on[n]]
        for r in chain:
            group[r] = chain
    return {net: set().union(*(group[r] for r in routers)) for net, routers in on.items()}


def routers_with_ports(ports: Iterable[PortFacts]) -> set[str]:
    """Routers with any port (one without is scheduled or not: its namespace proves nothing)."""
    return {p.device_id for p in ports if p.device_id
            and namespaces.OWNERS.get(p.device_owner or "", ("", ""))[1] == "router"}


def hostname_mismatch(hi: HostInput) -> list[Finding]:
    name = hi.facts.hostname if hi.facts else None
    if not name or hi.host in (name, name.split(".")[0]) or name == hi.host.split(".")[0]:
        return []
    return [Finding(hi.host, "hostname-mismatch", f"hostname {name}",
                    f"{hi.host} (as the API names it)")]


def ovn_agent(agent: AgentFacts | None) -> bool:
    return agent is not None and agent.agent_type in OVN_TYPES


def _ovn(hi: HostInput) -> bool:
    return ovn_agent(hi.agent)


def _net_of(hi: HostInput, pid: str) -> str:
    return next((p.network_id for p in hi.ports if p.id == pid), "")


CHECKS: tuple[Callable[[HostInput], list[Finding]], ...] = (
    agent_down, interface_missing, interface_error, interface_not_installed, orphan_port,
    duplicate_port, dead_vlan, translation_flow_missing, bridge_mapping_missing,
    bridge_without_nic, tunnel_missing, tunnel_endpoint_missing, mtu_drift, underlay_mtu,
    namespace_missing, namespace_leftover, hostname_mismatch,
)


def audit_host(hi: HostInput) -> list[Finding]:
    """All findings of one host; a host not probed or without readable OVS gets only that."""
    if found := host_unprobed(hi) + ovs_unreadable(hi):
        return found + agent_down(hi)
    return [f for check in CHECKS for f in check(hi)]


def exit_status(findings: Iterable[Finding], strict: bool) -> int:
    return 1 if any(f.severity == ERROR or strict for f in findings) else 0
