"""Build HostFacts/CloudFacts the way os-vif and the neutron OVS agent lay a host out.

Used by the path-resolution unit tests; the parsers' own tests use outputs recorded from real
tools, and the lab tier checks the whole chain on real devices.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from osc_netpath.cloud.facts import (
    AgentFacts,
    CloudFacts,
    FixedIP,
    NetworkFacts,
    PortFacts,
    Segment,
    ServerFacts,
)
from osc_netpath.host.facts import (
    Domain,
    DomainInterface,
    Flow,
    HostFacts,
    Link,
    Ovs,
    OvsBridge,
    OvsInterface,
    OvsPort,
)

PORT_ID = "c3d70d5c-a9f1-4b6e-8d1c-0a1b2c3d4e5f"
SID = PORT_ID[:11]
MAC = "fa:16:3e:21:1b:4b"
SERVER_ID = "9c45fce8-83d9-4518-9055-4df2899e23af"


@dataclass
class HostBuilder:
    host: str = "compute1"
    links: list[Link] = field(default_factory=list)
    ovs: Ovs = field(default_factory=Ovs)
    flows: list[Flow] = field(default_factory=list)
    domains: list[Domain] = field(default_factory=list)
    _next: int = 10

    def link(self, name: str, kind: str | None = None, master: str | None = None, **kw) -> Link:
        self._next += 1
        link = Link(ifindex=self._next, name=name, kind=kind, master=master,
                    mac=kw.pop("mac", f"fe:16:3e:00:00:{self._next:02x}"), mtu=kw.pop("mtu", 1500),
                    operstate=kw.pop("operstate", "UP"), **kw)
        self.links.append(link)
        return link

    def bridge(self, name: str) -> None:
        self.ovs.bridges[name] = OvsBridge(name=name, datapath_type="netdev", fail_mode="secure")
        self.port(name, name, type="internal")

    def port(self, bridge: str, name: str, tag: int | None = None, **iface_kw) -> OvsInterface:
        self.ovs.bridges[bridge].ports.append(name)
        self.ovs.ports[name] = OvsPort(name=name, bridge=bridge, tag=tag, interfaces=[name])
        iface = OvsInterface(name=name, ofport=len(self.ovs.interfaces) + 1,
                             link_state="up", **iface_kw)
        self.ovs.interfaces[name] = iface
        return iface

    def patch(self, br_a: str, name_a: str, br_b: str, name_b: str) -> None:
        self.port(br_a, name_a, type="patch", options={"peer": name_b})
        self.port(br_b, name_b, type="patch", options={"peer": name_a})

    def flow(self, bridge: str, table: int, match: dict[str, str], actions: list[str]) -> None:
        self.flows.append(Flow(bridge=bridge, table=table, priority=3, match=match,
                               actions=actions))

    def facts(self) -> HostFacts:
        return HostFacts(host=self.host, hostname=self.host, links=self.links, ovs=self.ovs,
                         flows=self.flows, domains=self.domains)


def base_host(host: str = "compute1", tun: str = "br-tun") -> HostBuilder:
    """br-int, br-ex (physnet1) with uplink eth1, the tunnel bridge (``[ovs] tunnel_bridge``,
    br-tun by default); the patches the agent creates."""
    b = HostBuilder(host=host)
    for br in ("br-int", "br-ex", tun):
        b.bridge(br)
        b.link(br, kind="openvswitch", master=None)
    b.patch("br-int", "int-br-ex", "br-ex", "phy-br-ex")
    b.patch("br-int", "patch-tun", tun, "patch-int")
    b.link("eth1", master="ovs-system")
    b.port("br-ex", "eth1")
    b.link("eth0", addresses=["192.0.2.11/24"])
    return b


def plug_hybrid(b: HostBuilder, tag: int | None = 3, with_tap: bool = True) -> None:
    if with_tap:
        b.link(f"tap{SID}", kind="tun", master=f"qbr{SID}")
    b.link(f"qbr{SID}", kind="bridge")
    qvb = b.link(f"qvb{SID}", kind="veth", master=f"qbr{SID}")
    qvo = b.link(f"qvo{SID}", kind="veth", master="ovs-system")
    qvb.peer_ifindex, qvo.peer_ifindex = qvo.ifindex, qvb.ifindex
    b.port("br-int", f"qvo{SID}", tag=tag,
           external_ids={"iface-id": PORT_ID, "attached-mac": MAC, "vm-uuid": SERVER_ID,
                         "iface-status": "active"})


def plug_native(b: HostBuilder, tag: int | None = 2, with_tap: bool = True) -> None:
    if with_tap:
        b.link(f"tap{SID}", kind="tun", master="ovs-system")
        b.port("br-int", f"tap{SID}", tag=tag,
               external_ids={"iface-id": PORT_ID, "attached-mac": MAC, "vm-uuid": SERVER_ID})


def domain(hybrid: bool) -> Domain:
    vif = DomainInterface(
        type="bridge" if hybrid else "ethernet", mac=MAC, target_dev=f"tap{SID}",
        source_bridge=f"qbr{SID}" if hybrid else None, model="virtio", mtu=1500,
    )
    return Domain(name="instance-00000001", uuid=SERVER_ID, state="running", interfaces=[vif])


def vlan_flows(b: HostBuilder, local: int = 3, seg: int | None = 101) -> None:
    """What the OVS agent installs for a VLAN (seg) or flat (seg=None) network."""
    if seg is None:
        b.flow("br-ex", 0, {"in_port": '"phy-br-ex"', "dl_vlan": str(local)},
               ["strip_vlan", "NORMAL"])
        b.flow("br-int", 0, {"in_port": '"int-br-ex"', "vlan_tci": "0x0000/0x1fff"},
               [f"mod_vlan_vid:{local}", "resubmit(,58)"])
    else:
        b.flow("br-ex", 0, {"in_port": '"phy-br-ex"', "dl_vlan": str(local)},
               [f"mod_vlan_vid:{seg}", "NORMAL"])
        b.flow("br-int", 0, {"in_port": '"int-br-ex"', "dl_vlan": str(seg)},
               [f"mod_vlan_vid:{local}", "resubmit(,58)"])


def vxlan(b: HostBuilder, local: int = 2, vni: int = 1001, remote: str = "192.0.2.12",
          bridge: str = "br-tun", port: bool = True) -> None:
    """The tunnel port to ``remote`` (unless ``port`` is False) and the agent's VNI flows."""
    name = "vxlan-" + "".join(f"{int(o):02x}" for o in remote.split("."))
    if port:
        b.port(bridge, name, type="vxlan",
               options={"remote_ip": remote, "local_ip": "192.0.2.11", "key": "flow",
                        "in_key": "flow", "out_key": "flow"})
    b.flow(bridge, 4, {"tun_id": hex(vni)}, [f"mod_vlan_vid:{local}", "resubmit(,9)"])
    b.flow(bridge, 22, {"dl_vlan": str(local)},
           ["strip_vlan", f"load:{hex(vni)}->NXM_NX_TUN_ID[]", f'output:"{name}"'])


def cloud(
    network_type: str = "vlan",
    seg: int | None = 101,
    hybrid: bool = True,
    host: str = "compute1",
    bound_host: str | None = None,
    status: str = "ACTIVE",
    vif_type: str = "ovs",
) -> CloudFacts:
    server = ServerFacts(id=SERVER_ID, name="web-1", status=status, host=host,
                         hypervisor_hostname=host, instance_name="instance-00000001")
    port = PortFacts(
        id=PORT_ID, network_id="net-1", mac_address=MAC, status="ACTIVE",
        fixed_ips=[FixedIP(subnet_id="sub-1", ip_address="198.51.100.10")],
        binding_host_id=bound_host or host, binding_vif_type=vif_type,
        binding_vif_details={"bridge_name": "br-int", "ovs_hybrid_plug": hybrid,
                             "port_filter": True, "datapath_type": "netdev"},
    )
    physnet = "physnet1" if network_type in ("flat", "vlan") else None
    net = NetworkFacts(id="net-1", name=f"net-{network_type}", mtu=1500,
                       segments=[Segment(network_type, physnet, seg)])
    agent = AgentFacts(id="agent-1", host=host, agent_type="Open vSwitch agent",
                       bridge_mappings={"physnet1": "br-ex"}, tunnel_types=["vxlan"],
                       integration_bridge="br-int", tunneling_ip="192.0.2.11")
    return CloudFacts(server=server, ports=[port], networks={"net-1": net}, agents=[agent],
                      host_ips={host: "192.0.2.11"})


CHASSIS = {"compute1": "0d6a8a93-4c1e-4c0e-9a57-1f4b3c2d1e01",
           "compute2": "a1e2c3d4-5f60-4a7b-8c9d-0e1f2a3b4c02"}
SEGMENT_ID = "5e9c1d2a-7b3f-4e8a-9c6d-2f1a0b3c4d5e"


def ovn_host(host: str = "compute1", encap_ip: str = "192.0.2.11") -> HostBuilder:
    """A chassis as ovn-controller lays it out: br-int (tunnels on it), br-ex + uplink eth1,
    the localnet patch pair of the provider network, the underlay eth0 carrying ovn-encap-ip."""
    b = HostBuilder(host=host)
    for br in ("br-int", "br-ex"):
        b.bridge(br)
        b.link(br, kind="openvswitch")
    b.ovs.external_ids = {
        "system-id": CHASSIS[host], "hostname": host, "ovn-remote": "tcp:192.0.2.1:6642",
        "ovn-encap-type": "geneve", "ovn-encap-ip": encap_ip,
        "ovn-bridge-mappings": "physnet1:br-ex", "ovn-bridge-datapath-type": "netdev"}
    near, far = f"patch-br-int-to-provnet-{SEGMENT_ID}", f"patch-provnet-{SEGMENT_ID}-to-br-int"
    b.patch("br-int", near, "br-ex", far)
    b.ovs.ports[near].external_ids = {"ovn-localnet-port": f"provnet-{SEGMENT_ID}"}
    b.ovs.ports[far].external_ids = {"ovn-localnet-port": f"provnet-{SEGMENT_ID}"}
    b.link("eth1", master="ovs-system")
    b.port("br-ex", "eth1")
    b.link("eth0", addresses=[f"{encap_ip}/24"], mtu=1600)
    return b


def ovn_tunnel(b: HostBuilder, remote_host: str, remote_ip: str) -> str:
    chassis = CHASSIS[remote_host]
    name = f"ovn-{chassis[:6]}-0"
    b.port("br-int", name, type="geneve",
           options={"remote_ip": remote_ip, "key": "flow", "csum": "true"})
    b.ovs.ports[name].external_ids = {"ovn-chassis-id": f"{chassis}@{remote_ip}"}  # 23.03
    return name


def plug_ovn(b: HostBuilder, installed: bool = True) -> None:
    b.link(f"tap{SID}", kind="tun", master="ovs-system")
    ids = {"iface-id": PORT_ID, "attached-mac": MAC, "vm-uuid": SERVER_ID,
           "iface-status": "active"}
    if installed:
        ids["ovn-installed"] = "true"
    b.port("br-int", f"tap{SID}", external_ids=ids)


def ovn_cloud(network_type: str = "geneve", seg: int | None = 7) -> CloudFacts:
    cloud_facts = cloud(network_type, seg, hybrid=False)
    port = cloud_facts.ports[0]
    port.binding_vif_details = {"bridge_name": "br-int", "port_filter": True,
                                "datapath_type": "netdev"}
    cloud_facts.networks["net-1"].mtu = 1442 if network_type == "geneve" else 1500
    cloud_facts.agents = [
        AgentFacts(id=CHASSIS[h], host=h, agent_type="OVN Controller agent",
                   bridge_mappings={"physnet1": "br-ex"},
                   configurations={"chassis_name": CHASSIS[h], "bridge-mappings": "physnet1:br-ex"})
        for h in ("compute1", "compute2")]
    cloud_facts.network_hosts = {"net-1": ["compute1", "compute2"]}
    return cloud_facts


def ovn_flows(b: HostBuilder, datapath: int = 1, seg: int | None = 101) -> None:
    """What ovn-controller installs for the port's datapath: table 0 from the tap (and from the
    localnet patch, VLAN popped), table 65 out to the localnet patch (VLAN pushed)."""
    near = f"patch-br-int-to-provnet-{SEGMENT_ID}"
    b.flow("br-int", 0, {"in_port": f'"tap{SID}"'},
           ["set_field:0x1->reg13", f"set_field:{hex(datapath)}->metadata",
            "set_field:0x3->reg14", "resubmit(,8)"])
    match = {"in_port": f'"{near}"'} | ({"dl_vlan": str(seg)} if seg is not None else
                                        {"vlan_tci": "0x0000/0x1000"})
    b.flow("br-int", 0, match, [*(["pop_vlan"] if seg is not None else []),
                                f"set_field:{hex(datapath)}->metadata", "resubmit(,8)"])
    push = ["push_vlan:0x8100", f"set_field:{4096 + seg}->vlan_vid"] if seg is not None else []
    b.flow("br-int", 65, {"reg15": "0x1", "metadata": hex(datapath)},
           [*push, f'output:"{near}"', *(["pop_vlan"] if seg is not None else [])])
