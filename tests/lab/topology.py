"""The lab's declarative description: what the "hypervisors in a box" hold, as plain data.

The builder (``lab.py``) wires exactly this; tests compare the tool's output against it, and
against ground truth read independently from the namespaces. The shapes mirror what os-vif
(ovs hybrid plug: tap → qbr → qvb⇄qvo; native: tap on br-int) and the Neutron Open vSwitch agent
(local VLANs, patch ports, VLAN translation and tunnel flows) create on real hosts.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

SUBNET = ipaddress.ip_network("198.19.201.0/24")  # benchmarking range; only on nplab- links
ROOT_IP = "198.19.201.1"  # the root namespace's side (bridge nplab-br0)
DEAD_VLAN = 4095  # neutron's DEAD_VLAN_TAG
AGENT_COOKIE = "0x6e706c6162000001"  # one agent cookie per host, as neutron uses


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    network_type: str  # vlan | flat | vxlan
    physical_network: str | None = None
    segmentation_id: int | None = None
    mtu: int = 1500
    cidr: str = ""  # API data only: no guest address is configured anywhere
    subnet_id: str = ""


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    instance_name: str  # libvirt domain name
    host: str  # Nova compute host


@dataclass(frozen=True)
class Port:
    id: str
    network_id: str
    server_id: str
    mac: str
    ip: str
    local_vlan: int  # the br-int tag the agent gave it (4095: dead)
    admin_state_up: bool = True

    @property
    def short(self) -> str:
        return self.id[:11]

    @property
    def tap(self) -> str:
        return f"tap{self.short}"

    @property
    def qbr(self) -> str:
        return f"qbr{self.short}"

    @property
    def qvb(self) -> str:
        return f"qvb{self.short}"

    @property
    def qvo(self) -> str:
        return f"qvo{self.short}"


@dataclass(frozen=True)
class Flow:
    bridge: str
    table: int
    priority: int
    match: str  # ovs-ofctl syntax, "" for match-all
    actions: str

    def spec(self, cookie: str = AGENT_COOKIE) -> str:
        """The line for ``ovs-ofctl add-flows``."""
        match = f",{self.match}" if self.match else ""
        return f"cookie={cookie},table={self.table},priority={self.priority}{match} " \
               f"actions={self.actions}"


@dataclass(frozen=True)
class Host:
    name: str  # Nova compute host name (service host, hypervisor host)
    mgmt_ip: str  # sshd listens here; hypervisor host_ip; VXLAN local_ip
    firewall: str  # iptables_hybrid (hybrid plug) | openvswitch (native plug)
    bridge_mappings: dict[str, str] = field(default_factory=dict)  # physnet -> bridge
    uplinks: dict[str, str] = field(default_factory=dict)  # bridge -> "physical" NIC on it
    tunnel_types: tuple[str, ...] = ("vxlan",)

    @property
    def netns(self) -> str:
        return f"nplab-{self.name}"

    @property
    def hybrid(self) -> bool:
        return self.firewall == "iptables_hybrid"


def tunnel_port_name(network_type: str, remote_ip: str) -> str:
    """neutron's name for a tunnel port: type + remote IP in hex (``vxlan-c613c90c``)."""
    return f"{network_type}-{int(ipaddress.ip_address(remote_ip)):08x}"


@dataclass(frozen=True)
class Topology:
    networks: tuple[Network, ...]
    servers: tuple[Server, ...]
    ports: tuple[Port, ...]
    hosts: tuple[Host, ...]

    # -- lookups --------------------------------------------------------------------------------

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def network(self, network_id: str) -> Network:
        return next(n for n in self.networks if n.id == network_id)

    def server(self, ref: str) -> Server:
        return next(s for s in self.servers if ref in (s.id, s.name))

    def port(self, port_id: str) -> Port:
        return next(p for p in self.ports if p.id == port_id)

    def host_of(self, port: Port) -> Host:
        return self.host(self.server(port.server_id).host)

    def ports_on(self, host: str) -> list[Port]:
        return [p for p in self.ports if self.server(p.server_id).host == host]

    def local_vlans(self, host: str) -> dict[str, int]:
        """network id -> local VLAN on ``host`` (dead ports excluded, as the agent does)."""
        vlans: dict[str, int] = {}
        for port in self.ports_on(host):
            if port.local_vlan == DEAD_VLAN:
                continue
            assert vlans.setdefault(port.network_id, port.local_vlan) == port.local_vlan
        return vlans

    def tunnels(self, host: str) -> list[tuple[str, str, str]]:
        """(port name, local_ip, remote_ip) of ``host``'s tunnels to every other tunnel host."""
        me = self.host(host)
        out = []
        for other in self.hosts:
            if other.name == me.name:
                continue
            for kind in set(me.tunnel_types) & set(other.tunnel_types):
                out.append((tunnel_port_name(kind, other.mgmt_ip), me.mgmt_ip, other.mgmt_ip))
        return sorted(out)

    def bridges(self, host: str) -> list[str]:
        me = self.host(host)
        tun = ["br-tun"] if self.tunnels(host) else []
        return ["br-int", *sorted(set(me.bridge_mappings.values())), *tun]

    def ovs_port_of(self, port: Port) -> str:
        """The br-int port of a neutron port: qvo (hybrid) or the tap itself (native)."""
        return port.qvo if self.host_of(port).hybrid else port.tap

    # -- flows, as the neutron OVS agent installs them -------------------------------------------

    def flows(self, host: str) -> list[Flow]:
        me = self.host(host)
        vlans = self.local_vlans(host)
        out = [Flow("br-int", 0, 65535, "vlan_tci=0x0fff/0x1fff", "drop")]
        for physnet, bridge in sorted(me.bridge_mappings.items()):
            int_patch, phy_patch = f"int-{bridge}", f"phy-{bridge}"
            for net_id, local in sorted(vlans.items(), key=lambda kv: kv[1]):
                net = self.network(net_id)
                if net.physical_network != physnet:
                    continue
                if net.network_type == "vlan":
                    out.append(Flow(bridge, 0, 4, f'in_port="{phy_patch}",dl_vlan={local}',
                                    f"mod_vlan_vid:{net.segmentation_id},NORMAL"))
                    out.append(Flow("br-int", 0, 3,
                                    f'in_port="{int_patch}",dl_vlan={net.segmentation_id}',
                                    f"mod_vlan_vid:{local},resubmit(,58)"))
                elif net.network_type == "flat":
                    out.append(Flow(bridge, 0, 4, f'in_port="{phy_patch}",dl_vlan={local}',
                                    "strip_vlan,NORMAL"))
                    out.append(Flow("br-int", 0, 3,
                                    f'in_port="{int_patch}",vlan_tci=0x0000/0x1fff',
                                    f"mod_vlan_vid:{local},resubmit(,58)"))
            out += [
                Flow(bridge, 0, 2, f'in_port="{phy_patch}"', "drop"),
                Flow(bridge, 0, 0, "", "NORMAL"),
                Flow("br-int", 0, 2, f'in_port="{int_patch}"', "drop"),
            ]
        out += [
            Flow("br-int", 0, 0, "", "resubmit(,58)"),
            Flow("br-int", 23, 0, "", "drop"),
            Flow("br-int", 24, 0, "", "drop"),
            Flow("br-int", 58, 0, "", "resubmit(,60)"),
            Flow("br-int", 60, 3, "", "NORMAL"),
        ]
        tunnels = self.tunnels(host)
        if tunnels:
            outputs = ",".join(f'output:"{name}"' for name, _, _ in tunnels)
            out += [Flow("br-tun", 0, 1, 'in_port="patch-int"', "resubmit(,2)")]
            out += [Flow("br-tun", 0, 1, f'in_port="{name}"', "resubmit(,4)")
                    for name, _, _ in tunnels]
            out += [
                Flow("br-tun", 0, 0, "", "drop"),
                Flow("br-tun", 2, 0, "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00",
                     "resubmit(,20)"),
                Flow("br-tun", 2, 0, "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
                     "resubmit(,22)"),
                Flow("br-tun", 3, 0, "", "drop"),
                Flow("br-tun", 4, 0, "", "drop"),
                Flow("br-tun", 6, 0, "", "drop"),
                Flow("br-tun", 9, 0, "", "resubmit(,10)"),
                Flow("br-tun", 10, 1, "",
                     "learn(cookie=" + AGENT_COOKIE + ",table=20,priority=1,hard_timeout=300,"
                     "NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],"
                     "load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],"
                     "output:OXM_OF_IN_PORT[]),output:\"patch-int\""),
                Flow("br-tun", 20, 0, "", "resubmit(,22)"),
                Flow("br-tun", 22, 0, "", "drop"),
            ]
            for net_id, local in sorted(vlans.items(), key=lambda kv: kv[1]):
                net = self.network(net_id)
                if net.network_type != "vxlan":
                    continue
                vni = f"{net.segmentation_id:#x}"
                out.append(Flow("br-tun", 4, 1, f"tun_id={vni}",
                                f"mod_vlan_vid:{local},resubmit(,9)"))
                out.append(Flow("br-tun", 22, 1, f"dl_vlan={local}",
                                f"strip_vlan,load:{vni}->NXM_NX_TUN_ID[],{outputs}"))
        return out

    # -- the API's view, shaped like the Nova/Neutron API reference -------------------------------

    def api(self) -> dict[str, list[dict[str, Any]]]:
        """Server, port, network, hypervisor and agent bodies for captures and API mocks."""
        servers = [{
            "id": s.id, "name": s.name, "status": "ACTIVE",
            "OS-EXT-SRV-ATTR:host": s.host, "OS-EXT-SRV-ATTR:hypervisor_hostname": s.host,
            "OS-EXT-SRV-ATTR:instance_name": s.instance_name, "OS-EXT-STS:power_state": 1,
            "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:task_state": None,
        } for s in self.servers]
        ports = []
        for p in self.ports:
            host = self.host_of(p)
            net = self.network(p.network_id)
            ports.append({
                "id": p.id, "name": "", "network_id": p.network_id, "mac_address": p.mac,
                "status": "ACTIVE" if p.admin_state_up else "DOWN",
                "admin_state_up": p.admin_state_up, "device_id": p.server_id,
                "device_owner": "compute:nova",
                "fixed_ips": [{"subnet_id": net.subnet_id, "ip_address": p.ip}],
                "binding:host_id": host.name, "binding:vif_type": "ovs",
                "binding:vnic_type": "normal",
                "binding:vif_details": {
                    "connectivity": "l2", "port_filter": True, "ovs_hybrid_plug": host.hybrid,
                    "datapath_type": "netdev", "bridge_name": "br-int",
                },
            })
        networks = [{
            "id": n.id, "name": n.name, "mtu": n.mtu, "status": "ACTIVE", "admin_state_up": True,
            "provider:network_type": n.network_type,
            "provider:physical_network": n.physical_network,
            "provider:segmentation_id": n.segmentation_id,
        } for n in self.networks]
        hypervisors = [{
            "id": f"00000000-0000-4000-8000-{i:012d}", "hypervisor_hostname": h.name,
            "host_ip": h.mgmt_ip, "state": "up", "status": "enabled", "hypervisor_type": "QEMU",
            "service": {"host": h.name, "id": i, "disabled_reason": None},
        } for i, h in enumerate(self.hosts, 1)]
        agents = [{
            "id": f"00000000-0000-4000-a000-{i:012d}", "agent_type": "Open vSwitch agent",
            "binary": "neutron-openvswitch-agent", "host": h.name, "alive": True,
            "admin_state_up": True, "topic": "N/A",
            "configurations": {
                "bridge_mappings": dict(h.bridge_mappings),
                "tunnel_types": list(h.tunnel_types), "tunneling_ip": h.mgmt_ip,
                "integration_bridge": "br-int", "datapath_type": "netdev",
                "ovs_hybrid_plug": h.hybrid, "l2_population": False,
            },
        } for i, h in enumerate(self.hosts, 1)]
        return {"servers": servers, "ports": ports, "networks": networks,
                "hypervisors": hypervisors, "agents": agents}

    def cloud_facts(self, server_ref: str) -> Any:
        """``CloudFacts`` for one server, as the API would give an admin: a ready "API capture"
        to pair with live probes of the lab (via osc_netpath.serial, so added fields are fine)."""
        from osc_netpath import serial
        from osc_netpath.cloud.facts import CloudFacts

        api = self.api()
        server = self.server(server_ref)
        ports = [p for p in self.ports if p.server_id == server.id]
        hosts = sorted({self.host_of(p).name for p in ports} | {server.host})
        data = {
            "server": {
                "id": server.id, "name": server.name, "status": "ACTIVE", "host": server.host,
                "hypervisor_hostname": server.host, "instance_name": server.instance_name,
                "power_state": 1, "vm_state": "active",
            },
            "ports": [{
                "id": p.id, "network_id": p.network_id, "mac_address": p.mac,
                "status": "ACTIVE" if p.admin_state_up else "DOWN",
                "admin_state_up": p.admin_state_up,
                "fixed_ips": [{"subnet_id": self.network(p.network_id).subnet_id,
                               "ip_address": p.ip}],
                "binding_host_id": self.host_of(p).name, "binding_vif_type": "ovs",
                "binding_vif_details": next(a["binding:vif_details"] for a in api["ports"]
                                            if a["id"] == p.id),
                "binding_vnic_type": "normal", "device_owner": "compute:nova",
            } for p in ports],
            "networks": {n.id: {
                "id": n.id, "name": n.name, "mtu": n.mtu,
                "segments": [{"network_type": n.network_type,
                              "physical_network": n.physical_network,
                              "segmentation_id": n.segmentation_id}],
            } for n in self.networks if any(p.network_id == n.id for p in ports)},
            "agents": [{
                "id": a["id"], "host": a["host"], "agent_type": a["agent_type"],
                "binary": a["binary"], "alive": True, "admin_state_up": True,
                "bridge_mappings": a["configurations"]["bridge_mappings"],
                "tunnel_types": a["configurations"]["tunnel_types"],
                "integration_bridge": "br-int",
                "tunneling_ip": a["configurations"]["tunneling_ip"],
                "configurations": a["configurations"],
            } for a in api["agents"] if a["host"] in hosts],
            "host_ips": {h.name: h.mgmt_ip for h in self.hosts if h.name in hosts},
            "hosts": hosts,
        }
        return serial.from_data(CloudFacts, data)


NET_VXLAN = Network("5b6d9a1e-7c2f-4e3a-9d41-0a8b6c3e2f10", "lab-vxlan", "vxlan",
                    segmentation_id=1001, mtu=1450, cidr="203.0.113.0/26",
                    subnet_id="7a1c0e52-3f6b-4d8a-b1e9-5c2d7f4a6b01")
NET_VLAN = Network("8e2f4c6a-1b3d-4f5e-a7c9-2d4e6f8a0b1c", "lab-vlan", "vlan", "physnet1", 101,
                   cidr="203.0.113.64/26", subnet_id="9b2d1f63-4a7c-4e9b-82fa-6d3e8a5b7c02")
NET_FLAT = Network("c3a5e7f9-2b4d-4c6e-8f0a-1b3c5d7e9f2a", "lab-flat", "flat", "physnet1",
                   cidr="203.0.113.128/26", subnet_id="ac3e2a74-5b8d-4fa1-93ab-7e4f9b6c8d03")

HV1 = Host("hv1", "198.19.201.11", "iptables_hybrid", {"physnet1": "br-ex"}, {"br-ex": "eth1"})
HV2 = Host("hv2", "198.19.201.12", "openvswitch")

VM_MULTI = Server("0f1e2d3c-4b5a-4697-8877-665544332211", "lab-vm-multi", "instance-00000001",
                  "hv1")
VM_TUN_A = Server("1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9", "lab-vm-tun-a", "instance-00000002",
                  "hv1")
VM_DEAD = Server("2b3c4d5e-6f70-4182-93a4-b5c6d7e8f9a0", "lab-vm-dead", "instance-00000003",
                 "hv1")
VM_TUN_B = Server("3c4d5e6f-7081-4293-a4b5-c6d7e8f9a0b1", "lab-vm-tun-b", "instance-00000004",
                  "hv2")

PORT_VLAN = Port("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", NET_VLAN.id, VM_MULTI.id,
                 "fa:16:3e:11:22:01", "203.0.113.70", local_vlan=3)
PORT_FLAT = Port("b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e", NET_FLAT.id, VM_MULTI.id,
                 "fa:16:3e:11:22:02", "203.0.113.140", local_vlan=4)
PORT_VX_A = Port("c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f", NET_VXLAN.id, VM_TUN_A.id,
                 "fa:16:3e:11:22:03", "203.0.113.10", local_vlan=1)
PORT_DEAD = Port("d4e5f6a7-b8c9-4d0e-9f2a-3b4c5d6e7f80", NET_VLAN.id, VM_DEAD.id,
                 "fa:16:3e:11:22:04", "203.0.113.71", local_vlan=DEAD_VLAN, admin_state_up=False)
PORT_VX_B = Port("e5f6a7b8-c9d0-4e1f-a3b4-c5d6e7f8091a", NET_VXLAN.id, VM_TUN_B.id,
                 "fa:16:3e:11:22:05", "203.0.113.11", local_vlan=2)

LAB = Topology(
    networks=(NET_VXLAN, NET_VLAN, NET_FLAT),
    servers=(VM_MULTI, VM_TUN_A, VM_DEAD, VM_TUN_B),
    ports=(PORT_VLAN, PORT_FLAT, PORT_VX_A, PORT_DEAD, PORT_VX_B),
    hosts=(HV1, HV2),
)

# A kolla-style hypervisor (tests/lab/kolla.py): OVS and libvirt in containers, its own
# topology so hv1/hv2 are built exactly as above. Hybrid plug, VLAN and flat on one server.
KOLLA1 = Host("kolla1", "198.19.201.21", "iptables_hybrid", {"physnet1": "br-ex"},
              {"br-ex": "eth1"}, tunnel_types=())
VM_KOLLA = Server("4d5e6f70-8192-43a4-b5c6-d7e8f9a0b1c2", "lab-vm-kolla", "instance-0000000b",
                  "kolla1")
PORT_KOLLA_VLAN = Port("f6a7b8c9-d0e1-4f2a-b4c5-d6e7f8091a2b", NET_VLAN.id, VM_KOLLA.id,
                       "fa:16:3e:11:22:06", "203.0.113.72", local_vlan=1)
PORT_KOLLA_FLAT = Port("07b8c9d0-e1f2-4a3b-85d6-e7f8091a2b3c", NET_FLAT.id, VM_KOLLA.id,
                       "fa:16:3e:11:22:07", "203.0.113.141", local_vlan=2)

KOLLA = Topology(
    networks=(NET_VLAN, NET_FLAT),
    servers=(VM_KOLLA,),
    ports=(PORT_KOLLA_VLAN, PORT_KOLLA_FLAT),
    hosts=(KOLLA1,),
)


def fleet(count: int) -> Topology:
    """``count`` hypervisors ``hvf01``… for the audit benchmark, each as the lab builds a host
    (its namespace, OVS, sshd): native plug, one server with one port on the VXLAN network,
    and (the agents' full mesh) a VXLAN tunnel to every other host."""
    assert 1 <= count <= 50  # the benchmarking addresses .101-.150 and the network's /26
    hosts, servers, ports = [], [], []
    for i in range(1, count + 1):
        host = Host(f"hvf{i:02d}", f"198.19.201.{100 + i}", "openvswitch")
        server = Server(f"{i:08x}-5e4f-4a3b-9c2d-{i:012x}", f"fleet-vm-{i:02d}",
                        f"instance-{0x100 + i:08x}", host.name)
        hosts.append(host)
        servers.append(server)
        ports.append(Port(f"{i:08x}-7a6b-4c5d-8e9f-{i:012x}", NET_VXLAN.id, server.id,
                          f"fa:16:3e:00:01:{i:02x}", f"203.0.113.{10 + i}", local_vlan=1))
    return Topology(networks=(NET_VXLAN,), servers=tuple(servers), ports=tuple(ports),
                    hosts=tuple(hosts))
