"""CloudFacts: plain, JSON round-trippable data from the Nova and Neutron APIs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ServerFacts:
    id: str
    name: str
    status: str  # ACTIVE, SHUTOFF, SHELVED_OFFLOADED, ERROR…
    host: str | None = None  # OS-EXT-SRV-ATTR:host (admin only by default policy)
    hypervisor_hostname: str | None = None  # OS-EXT-SRV-ATTR:hypervisor_hostname
    instance_name: str | None = None  # OS-EXT-SRV-ATTR:instance_name (libvirt domain name)
    power_state: int | None = None  # OS-EXT-STS:power_state
    vm_state: str | None = None
    task_state: str | None = None
    host_attributes_visible: bool = True  # False when policy hid the OS-EXT-SRV-ATTR fields

    @property
    def domain_ref(self) -> str:
        """How to ask libvirt for the domain: its name, or Nova's UUID (libvirt's UUID too)
        when policy hides the instance name."""
        return self.instance_name or self.id
    project_id: str | None = None  # tenant_id: tells same-named servers of two projects apart


@dataclass
class FixedIP:
    subnet_id: str
    ip_address: str


@dataclass
class PortFacts:
    id: str
    network_id: str
    mac_address: str
    status: str  # ACTIVE / DOWN / BUILD
    admin_state_up: bool = True
    fixed_ips: list[FixedIP] = field(default_factory=list)
    binding_host_id: str | None = None
    binding_vif_type: str | None = None  # ovs, bridge, vhostuser, binding_failed, unbound
    binding_vif_details: dict[str, Any] = field(default_factory=dict)  # bridge_name, ovs_hybrid_plug…
    binding_vnic_type: str | None = None
    device_owner: str | None = None
    name: str | None = None
    binding_profile: dict[str, Any] = field(default_factory=dict)  # SR-IOV pci_slot… (admin only)
    device_id: str | None = None  # the server, router or DHCP agent's id for the network

    @property
    def short_id(self) -> str:
        """The 11-character prefix Nova/os-vif use in device names (tap/qbr/qvb/qvo + prefix)."""
        return self.id[:11]


@dataclass
class FloatingIP:
    """A floating IP of the server (``--to external``), as Neutron has it."""

    floating_ip: str
    fixed_ip: str | None = None
    port_id: str | None = None
    status: str | None = None

    def __str__(self) -> str:
        return f"{self.floating_ip} → {self.fixed_ip or '?'} ({self.status or '?'})"


@dataclass
class Segment:
    network_type: str  # flat, vlan, vxlan, gre, geneve, local
    physical_network: str | None = None
    segmentation_id: int | None = None
    id: str | None = None  # GET /segments only (ML2/OVN names its localnet port provnet-<id>)


@dataclass
class NetworkFacts:
    id: str
    name: str
    mtu: int | None = None
    segments: list[Segment] = field(default_factory=list)  # provider:* or the segments list


@dataclass
class AgentFacts:
    """A Neutron L2 agent (Open vSwitch agent, OVN controller agent…) and its configuration."""

    id: str
    host: str
    agent_type: str  # "Open vSwitch agent", "OVN Controller agent"…
    binary: str | None = None
    alive: bool = True
    admin_state_up: bool = True
    bridge_mappings: dict[str, str] = field(default_factory=dict)  # physnet -> bridge
    tunnel_types: list[str] = field(default_factory=list)
    integration_bridge: str | None = None
    tunneling_ip: str | None = None  # configurations.tunneling_ip (OVS agent local_ip)
    configurations: dict[str, Any] = field(default_factory=dict)


@dataclass
class CloudFacts:
    """What the API says about one server and everything its ports touch."""

    server: ServerFacts
    ports: list[PortFacts] = field(default_factory=list)
    networks: dict[str, NetworkFacts] = field(default_factory=dict)  # by network id
    agents: list[AgentFacts] = field(default_factory=list)  # L2 agents of the hosts involved
    host_ips: dict[str, str] = field(default_factory=dict)  # compute host -> hypervisor host_ip
    # Compute hosts to probe: --host or the server's host, then any other host a port is bound to.
    hosts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts the API hid or lacked, one line each
    # network id -> hosts with a bound port on it (OVN tunnels: which chassis must be reached)
    network_hosts: dict[str, list[str]] = field(default_factory=dict)
    metadata_networks: list[str] = field(default_factory=list)  # with an OVN metadata port
    # what was traced: "server" (its ports), or "port" (one port; `server` is then its owner:
    # a router, a DHCP agent's network…, with no libvirt domain)
    subject: str = "server"
    to: str | None = None  # --to external: the way out was asked for (and way_out added)
    way_out: list[str] = field(default_factory=list)  # --to external: the router ports added
    floating_ips: dict[str, list[FloatingIP]] = field(default_factory=dict)  # by router id
    # --host when the API shows the server's host and it is another: traced alone, instead.
    host_override: str | None = None
    routers: list[str] | None = None  # audit: the id of every router Neutron has (None: unknown)
    # audit: `ports` is every port Neutron has, none filtered out (--host/--network/--project
    # lists lack the ports bound nowhere: router interfaces, metadata ports)
    ports_unfiltered: bool = False
    snat_hosts: list[str] = field(default_factory=list)  # audit: hosts of dvr_snat L3 agents
    # audit: findings Neutron no longer backed when asked again after the probes (their keys,
    # audit.settle): a replay withdraws the same
    withdrawn: list[str] = field(default_factory=list)
    # audit: ports a scoped run looked up by the iface-ids its hosts have (outside --network/
    # --project/--host): known to Neutron, so no orphan, but not audited themselves
    known_only: list[str] = field(default_factory=list)

    def host_of(self, port: PortFacts) -> str | None:
        """The host whose wiring ``port`` is resolved against: an overriding --host, else the
        port's binding, else the server's host."""
        return self.host_override or port.binding_host_id or self.server.host

    @property
    def guest_host(self) -> str | None:
        """Where the libvirt domain is looked for: an overriding --host, else Nova's host."""
        return self.host_override or self.server.host

    def agent_for(self, host: str | None) -> AgentFacts | None:
        """The L2 agent of ``host``: OVS, then OVN's controller, then any (never the metadata
        agent while there is another)."""
        rank = {"Open vSwitch agent": 0, "OVN Controller agent": 1,
                "OVN Controller Gateway agent": 1, "OVN Metadata agent": 3}
        on_host = [a for a in self.agents if host and a.host == host]
        on_host.sort(key=lambda a: rank.get(a.agent_type, 2))
        return on_host[0] if on_host else None

    def has_agent(self, host: str | None, agent_type: str) -> bool:
        return any(a.host == host and a.agent_type == agent_type for a in self.agents)


@dataclass
class HostedBy:
    """An agent that hosts the network (DHCP) or a router on it (L3), as the API says."""

    agent: AgentFacts
    router_id: str | None = None  # L3 agents: which router
    ha_state: str | None = None  # L3-HA: active / standby / unknown


@dataclass
class NetworkTrace:
    network: NetworkFacts
    cloud: CloudFacts  # ports of the network; server = the network itself (no libvirt)
    dhcp_agents: list[HostedBy] = field(default_factory=list)
    l3_agents: list[HostedBy] = field(default_factory=list)
