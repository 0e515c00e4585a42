"""The resolved path: ordered hops from the guest NIC to the physical uplink."""
from __future__ import annotations

from dataclasses import dataclass, field

# Hop kinds, in the words an operator uses.
GUEST = "guest-nic"
TAP = "tap"
LINUX_BRIDGE = "linux-bridge"
VETH = "veth"
OVS_PORT = "ovs-port"
OVS_BRIDGE = "ovs-bridge"
PATCH = "patch"
TUNNEL = "tunnel"
NIC = "nic"
NAMESPACE = "namespace"  # a network namespace of a Neutron agent (qdhcp-, qrouter-, snat-, fip-)
NS_DEVICE = "ns-device"  # a device inside such a namespace (qr-, qg-, tap…, ns-…)
LOGICAL = "logical-port"  # OVN: a port with no device on the host (a router's cr-lrp)

# Where a fact came from.
SRC_API = "api"
SRC_LIBVIRT = "libvirt"
SRC_KERNEL = "kernel"
SRC_OVSDB = "ovsdb"
SRC_FLOWS = "flows"
SRC_MISSING = "missing"
SRC_UNKNOWN = "unknown"  # the source could not be read: neither present nor absent


@dataclass
class Hop:
    index: int
    device: str
    kind: str
    bridge: str | None = None  # the bridge the device sits on
    vlan: str | None = None  # "3", "3 → 101", "3 → untagged", "VNI 1001"
    mac: str | None = None
    mtu: int | None = None
    state: str | None = None
    source: str = SRC_KERNEL
    peer: str | None = None  # veth/patch peer, tunnel remote
    detail: str | None = None  # free text: IPs, remote_ip, why it is missing


@dataclass
class PortPath:
    port_id: str
    network: str  # network name (or id)
    host: str | None  # the host the port is bound to
    backend: str  # ovs-hybrid, ovs-native, unknown…
    segment: str  # "vlan physnet1/101", "vxlan 1001", "flat physnet1"
    hops: list[Hop] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # flagged findings (dead VLAN, wrong host…)
    host_error: str | None = None  # the host could not be probed (ssh…): the path is incomplete


@dataclass
class ServerPath:
    server_id: str
    server_name: str
    status: str
    host: str | None
    ports: list[PortPath] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # host-level failures (ssh, policy…)
    notes: list[str] = field(default_factory=list)  # facts the API hid or lacked
