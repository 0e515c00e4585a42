"""HostFacts: plain, JSON round-trippable data about one host's dataplane.

Filled by the parsers in ``osc_netpath.host.parsers`` from the probe's sections; consumed by the
pure path resolution in ``osc_netpath.path``.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Link:
    """A kernel network device, from ``ip -j -d link`` (plus ``ip -j addr`` for addresses)."""

    ifindex: int
    name: str
    kind: str | None = None  # linkinfo.info_kind: veth, bridge, tun, openvswitch, vxlan; None = NIC
    mac: str | None = None
    mtu: int | None = None
    operstate: str | None = None  # UP / DOWN / UNKNOWN / LOWERLAYERDOWN
    flags: list[str] = field(default_factory=list)
    master: str | None = None  # linux bridge (qbr…) or "ovs-system"
    slave_kind: str | None = None  # linkinfo.info_slave_kind: bridge, openvswitch, bond
    peer_ifindex: int | None = None  # veth peer ifindex (ip link_index or ethtool peer_ifindex)
    peer_name: str | None = None  # veth peer name when ip resolved it in the same namespace
    peer_netnsid: int | None = None  # set when the veth peer lives in another namespace
    namespace: str = ""  # "" = the host's root namespace
    addresses: list[str] = field(default_factory=list)  # "192.0.2.10/24"
    peer_namespace: str | None = None  # the veth peer's namespace by name ("" = root), when known


@dataclass
class OvsInterface:
    """A row of the OVS ``Interface`` table."""

    name: str
    type: str = ""  # "", system, internal, patch, vxlan, geneve, gre, dpdk, dpdkvhostuser…
    ofport: int | None = None
    mac_in_use: str | None = None
    mtu: int | None = None
    admin_state: str | None = None
    link_state: str | None = None
    options: dict[str, str] = field(default_factory=dict)  # peer, remote_ip, local_ip, key…
    external_ids: dict[str, str] = field(default_factory=dict)  # iface-id, attached-mac, vm-uuid
    error: str | None = None


@dataclass
class OvsPort:
    """A row of the OVS ``Port`` table."""

    name: str
    bridge: str
    tag: int | None = None
    trunks: list[int] = field(default_factory=list)
    vlan_mode: str | None = None
    interfaces: list[str] = field(default_factory=list)
    other_config: dict[str, str] = field(default_factory=dict)  # net_uuid, segmentation_id…
    external_ids: dict[str, str] = field(default_factory=dict)


@dataclass
class OvsBridge:
    """A row of the OVS ``Bridge`` table."""

    name: str
    datapath_type: str | None = None
    fail_mode: str | None = None
    ports: list[str] = field(default_factory=list)
    external_ids: dict[str, str] = field(default_factory=dict)
    protocols: list[str] = field(default_factory=list)


@dataclass
class Ovs:
    """The host's Open vSwitch database, as far as the path needs it."""

    bridges: dict[str, OvsBridge] = field(default_factory=dict)
    ports: dict[str, OvsPort] = field(default_factory=dict)
    interfaces: dict[str, OvsInterface] = field(default_factory=dict)
    external_ids: dict[str, str] = field(default_factory=dict)  # Open_vSwitch: ovn-bridge-mappings…
    ovs_version: str | None = None


@dataclass
class Flow:
    """One OpenFlow rule from ``ovs-ofctl dump-flows``; match and actions kept as parsed text."""

    bridge: str
    table: int
    priority: int
    match: dict[str, str] = field(default_factory=dict)  # in_port, dl_vlan, vlan_tci, tun_id…
    actions: list[str] = field(default_factory=list)  # ["mod_vlan_vid:101", "NORMAL"]
    n_packets: int | None = None
    raw: str = ""


@dataclass
class DomainInterface:
    """An ``<interface>`` of a libvirt domain (``virsh -r dumpxml``)."""

    type: str  # bridge, ethernet, vhostuser, hostdev, network
    mac: str | None = None
    target_dev: str | None = None
    source_bridge: str | None = None
    model: str | None = None
    mtu: int | None = None
    virtualport_type: str | None = None  # openvswitch
    interface_id: str | None = None  # virtualport parameters interfaceid (= Neutron port id)


@dataclass
class Domain:
    """A libvirt domain, as far as its network interfaces go."""

    name: str  # instance-0000000a
    uuid: str | None = None
    state: str | None = None  # virsh domstate: running, shut off, paused…
    interfaces: list[DomainInterface] = field(default_factory=list)


@dataclass
class NatRules:
    """A router namespace's NAT, as the L3 agent writes it (``iptables-save -t nat``)."""

    dnat: dict[str, str] = field(default_factory=dict)  # floating IP -> fixed IP
    snat: dict[str, str] = field(default_factory=dict)  # fixed IP -> floating IP
    gateway_snat: list[str] = field(default_factory=list)  # the router's SNAT address(es)


@dataclass
class Problem:
    """Something the probe could not read: a fact in its own right, shown to the user."""

    source: str  # ip, ovs, flows:br-ex, libvirt:instance-0000000a, ssh…
    message: str  # "ovs-vsctl: command not found", "permission denied on db.sock"


@dataclass
class HostFacts:
    """Everything one probe learnt about one host."""

    host: str
    hostname: str | None = None
    links: list[Link] = field(default_factory=list)
    ovs: Ovs | None = None  # None when OVS could not be read (see problems)
    flows: list[Flow] = field(default_factory=list)
    domains: list[Domain] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    ovn_controller: str | None = None  # `ovn-appctl connection-status`: connected / not connected
    nat: dict[str, NatRules] = field(default_factory=dict)  # router namespace -> its NAT rules
    problems: list[Problem] = field(default_factory=list)
    # What could not be read, by area ("links", "ovs", "libvirt", "flows:BRIDGE") -> why. Unknown
    # is not absent: no device of an unknown area may be reported missing.
    unknown: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # read, but in a lesser way (no `ip -j`…)

    def unknown_why(self, area: str) -> str | None:
        """Why ``area`` could not be read, or None when it was."""
        return self.unknown.get(area) or self.unknown.get("all")

    def link(self, name: str, namespace: str = "") -> Link | None:
        return next((x for x in self.links if x.name == name and x.namespace == namespace), None)

    def link_by_index(self, ifindex: int, namespace: str = "") -> Link | None:
        return next(
            (x for x in self.links if x.ifindex == ifindex and x.namespace == namespace), None
        )

    def domain(self, ref: str) -> Domain | None:
        """By libvirt name or UUID (Nova gives its instance UUID to the libvirt domain)."""
        return next((d for d in self.domains if ref in (d.name, d.uuid)), None)
