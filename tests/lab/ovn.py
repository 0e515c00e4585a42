"""A real OVN in the lab: OVN central in the root namespace, two chassis ``ovn1`` and ``ovn2``.

- central (root namespace, everything under the state dir): the NB and SB ovsdb-servers on unix
  sockets and ovn-northd (Debian ``ovn-central`` 23.03), started by hand, no systemd.
- each chassis is a lab host as in lab.py (netns ``npovn-<name>`` + private mount/UTS namespace,
  hostname = the name, its own /run with its own /run/netns, its own ovsdb-server/ovs-vswitchd
  and sshd on 198.19.205.0/24) plus, as an OVN compute is set up before Neutron sees it:
  Open_vSwitch external_ids system-id = hostname = the name, ``ovn-remote`` (the SB socket),
  ``ovn-encap-type=geneve``, ``ovn-encap-ip``, ``ovn-bridge-mappings=physnet1:br-ex``,
  ``ovn-bridge-datapath-type=netdev``; br-ex with the veth uplink eth1; the Geneve underlay on
  198.19.206.0/24: the encap IP on br-phy's internal port (the userspace datapath only routes
  tunnels out of an OVS port it has a route for: ovs-router learns it from the kernel) with the
  veth eth2 (ovn1 eth2 ⇄ ovn2 eth2) on br-phy; its own ovn-controller (OVN_RUNDIR=/run/ovn, the
  host's dir bind-mounted there, so ``ovn-appctl -t ovn-controller`` works as on a real host).
  ovn-controller creates br-int itself.
- the logical topology as Neutron's OVN driver writes it (``ovn-nbctl``): Logical_Switch
  ``neutron-<network id>``, ports named by the Neutron port id with Neutron's external_ids,
  ``requested-chassis``; a Geneve network with a VM port on each chassis and its metadata
  ``localport``; a VLAN provider network (localnet ``provnet-<segment id>``, physnet1, tag 101)
  with a VM port on ovn1. No DHCP_Options rows, no metadata port on the VLAN network.
- VM ports are what os-vif makes for OVN: a tap ``tap<port id[:11]>`` (``ip tuntap``) on br-int
  with external_ids iface-id/attached-mac/vm-uuid/iface-status. Nothing reads the taps (no
  guest), so they stay NO-CARRIER. ``up`` waits until ovn-controller claimed them
  (``ovn-installed``, SB chassis set, ``up``).
- ``ovnmeta-<network id>`` on each chassis laid out by hand as neutron-ovn-metadata-agent does
  (veth ``tap<net id[:10]>0`` on br-int with the metadata port's iface-id ⇄ ``…1`` in the
  namespace with the port's MAC, IP and 169.254.169.254/32); no haproxy runs there.

    python -m tests.lab.ovn up|record|down|status    (as root; record needs it up)

``record [DIR]`` writes the probe output of each chassis (over real SSH, through the project's
transport, exactly as ``netpath show`` calls it) and raw tool outputs to tests/fixtures/ovn.
Its own names (``npovn-``), addresses, state dir (/tmp/npovn) and lock: it never touches the
main lab and runs beside it. ``down`` kills by pid files (checked against the namespace or the
command line, never a reused PID), deletes the namespaces and links, removes the state dir.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lab.lab import (
    Lab,
    LabError,
    LabHost,
    LabLock,
    _netns_inode,
    _read_pid,
    _wait_tcp,
    _zombie,
    lab_namespaces,
    missing_prerequisites,
    remove,
    root_links,
    sh,
)
from tests.lab.topology import Host, Server, Topology

PREFIX = "npovn-"
ROOT_BRIDGE = "npovn-br0"
MGMT = ipaddress.ip_network("198.19.205.0/24")  # sshd; only on npovn- links
ROOT_IP = "198.19.205.1"
UNDERLAY = ipaddress.ip_network("198.19.206.0/24")  # Geneve between the chassis, host to host
STATE_DIR = Path(os.environ.get("NPOVN_STATE", "/tmp/npovn"))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ovn"
NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
SB_SCHEMA = "/usr/share/ovn/ovn-sb.ovsschema"
OVN_TOOLS = ("ovn-northd", "ovn-nbctl", "ovn-sbctl", "ovn-controller", "ovn-appctl")
OVN_APT = ("ovn-central", "ovn-host")
PROJECT = "5d2c0e9a8b7f4e6d9c1b0a2f3e4d5c6b"  # neutron:project_id (any 32-hex)
PROBE_TOKEN = "5eed0f7e1e5ca1ab"  # fixed so recordings diff cleanly
CLAIM_TIMEOUT = 30.0
GUEST_PYTHON = "/usr/bin/python3"  # the machine's: a host's /root (pyenv, venvs) is its own


@dataclass(frozen=True)
class Chassis(Host):
    """An OVN compute. ``name`` is the Nova host, the chassis name, system-id and hostname."""

    encap_ip: str = ""
    cms_options: str = ""  # ovn-cms-options ("enable-chassis-as-gw" on a gateway chassis)

    @property
    def netns(self) -> str:
        return f"{PREFIX}{self.name}"


@dataclass(frozen=True)
class OvnNetwork:
    id: str
    name: str
    network_type: str  # geneve | vlan
    segment_id: str  # the Neutron segment: provnet-<segment id> for flat/vlan
    segmentation_id: int  # for geneve the Neutron VNI, NOT what goes on the wire
    physical_network: str | None = None
    mtu: int = 1500
    cidr: str = ""
    subnet_id: str = ""

    @property
    def switch(self) -> str:
        return f"neutron-{self.id}"

    @property
    def localnet(self) -> str | None:
        return f"provnet-{self.segment_id}" if self.physical_network else None

    @property
    def metadata_ns(self) -> str:
        return f"ovnmeta-{self.id}"

    @property
    def metadata_veths(self) -> tuple[str, str]:
        """(on br-int, in the namespace), as neutron-ovn-metadata-agent names them."""
        return f"tap{self.id[:10]}0", f"tap{self.id[:10]}1"


@dataclass(frozen=True)
class OvnPort:
    id: str
    network_id: str
    mac: str
    ip: str
    server_id: str | None = None  # None: the network's metadata port (localport)

    @property
    def tap(self) -> str:
        return f"tap{self.id[:11]}"


@dataclass(frozen=True)
class OvnTopology:
    networks: tuple[OvnNetwork, ...]
    servers: tuple[Server, ...]
    ports: tuple[OvnPort, ...]
    hosts: tuple[Chassis, ...] = field(default=())

    def network(self, network_id: str) -> OvnNetwork:
        return next(n for n in self.networks if n.id == network_id)

    def server(self, ref: str) -> Server:
        return next(s for s in self.servers if ref in (s.id, s.name))

    def host(self, name: str) -> Chassis:
        return next(h for h in self.hosts if h.name == name)

    def vm_ports(self) -> list[OvnPort]:
        return [p for p in self.ports if p.server_id is not None]

    def host_of(self, port: OvnPort) -> str:
        assert port.server_id is not None
        return self.server(port.server_id).host

    def vm_ports_on(self, host: str) -> list[OvnPort]:
        return [p for p in self.vm_ports() if self.host_of(p) == host]

    def metadata_port(self, network_id: str) -> OvnPort | None:
        return next((p for p in self.ports if p.server_id is None
                     and p.network_id == network_id), None)

    def metadata_networks_on(self, host: str) -> list[OvnNetwork]:
        """Networks with a VM port on ``host`` and a metadata port: the agent's ovnmeta-."""
        ids = dict.fromkeys(p.network_id for p in self.vm_ports_on(host))
        return [self.network(i) for i in ids if self.metadata_port(i) is not None]


OVN1 = Chassis("ovn1", "198.19.205.11", "openvswitch", {"physnet1": "br-ex"}, {"br-ex": "eth1"},
               tunnel_types=("geneve",), encap_ip="198.19.206.11",
               cms_options="enable-chassis-as-gw")
OVN2 = Chassis("ovn2", "198.19.205.12", "openvswitch", {"physnet1": "br-ex"}, {"br-ex": "eth1"},
               tunnel_types=("geneve",), encap_ip="198.19.206.12")

NET_GENEVE = OvnNetwork("6d1c8f2a-4b3e-4a5d-9c7f-0e1a2b3c4d5e", "ovn-geneve", "geneve",
                        segment_id="0b9e4d7c-2a1f-4c3b-8e5d-6f7a8b9c0d1e", segmentation_id=1002,
                        mtu=1442, cidr="192.0.2.0/26",
                        subnet_id="1c0f5e8d-3b2a-4d4c-9f6e-7a8b9c0d1e2f")
NET_PROVIDER = OvnNetwork("7e2d9a3b-5c4f-4b6e-8d0a-1f2b3c4d5e6f", "ovn-vlan", "vlan",
                          segment_id="2d1a6f9e-4c3b-4e5d-a07f-8b9c0d1e2f3a", segmentation_id=101,
                          physical_network="physnet1", mtu=1500, cidr="192.0.2.64/26",
                          subnet_id="3e2b7a0f-5d4c-4f6e-b18a-9c0d1e2f3a4b")

VM_A = Server("8f3e0b4c-6d5a-4c7f-9e1b-2a3c4d5e6f70", "ovn-vm-a", "instance-0000000a", "ovn1")
VM_B = Server("904f1c5d-7e6b-4d8a-af2c-3b4d5e6f7081", "ovn-vm-b", "instance-0000000c", "ovn2")

PORT_GENEVE_A = OvnPort("a15b2d6e-8f7c-4e9b-b03d-4c5e6f708192", NET_GENEVE.id,
                        "fa:16:3e:5a:01:0a", "192.0.2.10", VM_A.id)
PORT_VLAN_A = OvnPort("b26c3e7f-9a8d-4fac-814e-5d6f708192a3", NET_PROVIDER.id,
                      "fa:16:3e:5a:02:0a", "192.0.2.70", VM_A.id)
PORT_GENEVE_B = OvnPort("c37d4f80-ab9e-40bd-925f-6e708192a3b4", NET_GENEVE.id,
                        "fa:16:3e:5a:01:0b", "192.0.2.11", VM_B.id)
PORT_METADATA = OvnPort("d48e5091-bcaf-41ce-a360-7f8192a3b4c5", NET_GENEVE.id,
                        "fa:16:3e:5a:01:02", "192.0.2.2")

OVN = OvnTopology(
    networks=(NET_GENEVE, NET_PROVIDER),
    servers=(VM_A, VM_B),
    ports=(PORT_GENEVE_A, PORT_VLAN_A, PORT_GENEVE_B, PORT_METADATA),
    hosts=(OVN1, OVN2),
)


def missing_ovn_prerequisites() -> list[str]:
    """Why the OVN lab cannot be built here: the lab's own needs plus OVN's."""
    missing = [m for m in missing_prerequisites() if not m.startswith("apt packages:")]
    missing += [f"{tool} not found" for tool in OVN_TOOLS if shutil.which(tool) is None]
    for path in (NB_SCHEMA, SB_SCHEMA):
        if not os.path.exists(path):
            missing.append(f"{path} missing (ovn-central)")
    if missing:
        missing.append("apt packages: openvswitch-switch openssh-server openssh-client iproute2 "
                       f"util-linux mount ethtool {' '.join(OVN_APT)}")
    return missing


def _ovsdb_str(value: str) -> str:
    """An OVSDB string literal for ovn-nbctl/ovs-vsctl arguments (keys with ':' need it)."""
    return json.dumps(value)


def _map(column: str, items: dict[str, str]) -> list[str]:
    return [f"{column}:{_ovsdb_str(k)}={_ovsdb_str(v)}" for k, v in items.items()]


class OvnHost(LabHost):
    """A chassis: the lab host plus its ovn-controller (control socket under /run/ovn)."""

    @property
    def ovn_dir(self) -> Path:
        return self.dir / "ovn"  # /run/ovn inside the host

    @property
    def chassis(self) -> Chassis:
        assert isinstance(self.spec, Chassis)
        return self.spec

    def appctl(self, *args: str, check: bool = True) -> str:
        """``ovn-appctl -t ovn-controller …`` as on a real host (default OVN_RUNDIR)."""
        return self.run("ovn-appctl", "--timeout=10", "-t", "ovn-controller", *args, check=check)

    def interface(self, name: str) -> dict[str, Any] | None:
        rows = [r for r in self.ovs_table("Interface") if r["name"] == name]
        return rows[0] if rows else None


class OvnLock(LabLock):
    NAME = "\0npovn-lab-lock"  # its own: a test session may hold the main lab's at the same time


class OvnLab(Lab):
    """OVN central + the chassis. ``up()`` builds afresh, ``down()`` removes everything."""

    root_bridge = ROOT_BRIDGE

    def __init__(self, topology: OvnTopology = OVN, state_dir: Path = STATE_DIR) -> None:
        super().__init__(Topology((), (), (), topology.hosts), state_dir)
        self.ovn = topology
        self.lock = OvnLock()
        self.hosts: dict[str, LabHost] = {}

    # -- what tests use ---------------------------------------------------------------------

    @property
    def central_dir(self) -> Path:
        return self.state_dir / "central"

    @property
    def root_ip(self) -> str:
        return ROOT_IP

    def chassis(self, name: str) -> OvnHost:
        host = self.hosts[name]
        assert isinstance(host, OvnHost)
        return host

    def nbctl(self, *args: str) -> str:
        return sh("ovn-nbctl", f"--db=unix:{self.central_dir / 'nb.sock'}", "--timeout=10",
                  *args)

    def sbctl(self, *args: str) -> str:
        return sh("ovn-sbctl", f"--db=unix:{self.central_dir / 'sb.sock'}", "--timeout=10",
                  *args)

    def sb_table(self, table: str) -> list[dict[str, Any]]:
        from tests.lab.lab import _ovs_value

        data = json.loads(self.sbctl("--format=json", "--data=json", "list", table))
        return [{k: _ovs_value(v) for k, v in zip(data["headings"], row, strict=True)}
                for row in data["data"]]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "root_ip": ROOT_IP,
                "nb": f"unix:{self.central_dir / 'nb.sock'}",
                "sb": f"unix:{self.central_dir / 'sb.sock'}"}

    @classmethod
    def attach_ovn(cls, topology: OvnTopology = OVN, state_dir: Path = STATE_DIR) -> OvnLab:
        """The OVN lab a previous ``up`` left running (from its state file)."""
        lab = cls(topology, state_dir)
        try:
            state = json.loads((state_dir / "state.json").read_text())
        except FileNotFoundError:
            raise LabError(f"no OVN lab state in {state_dir}: run `python -m tests.lab.ovn up`") \
                from None
        for name, info in state["hosts"].items():
            lab.hosts[name] = OvnHost(topology.host(name), Path(info["dir"]), info["anchor_pid"])
        return lab

    # -- build ------------------------------------------------------------------------------

    def _missing(self) -> list[str]:
        return missing_ovn_prerequisites()

    def _remove(self) -> None:
        down(self.state_dir)

    def _build(self) -> None:
        self.hosts = {}
        self.state_dir.mkdir(mode=0o700, parents=True)
        client = self.state_dir / "client"
        client.mkdir()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "npovn-client",
           "-f", str(self.client_key))
        (client / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        sh("ip", "link", "add", ROOT_BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{ROOT_IP}/{MGMT.prefixlen}", "dev", ROOT_BRIDGE)
        sh("ip", "link", "set", ROOT_BRIDGE, "up")
        self._start_central()
        self._save()
        self._logical_topology()

        for spec in self.ovn.hosts:
            host = self._anchor(spec, OvnHost)
            assert isinstance(host, OvnHost)
            self.hosts[spec.name] = host
            self._save()
            host.ovn_dir.mkdir()
            host.run("mkdir", "-p", "/run/ovn")
            host.run("mount", "--bind", str(host.ovn_dir), "/run/ovn")
            self._start_ovs(host)
            self._start_sshd(host)
            self._save()
        # the underlay: one veth from chassis to chassis (two hosts: no switch needed)
        first, second = (h.netns for h in self.hosts.values())
        sh("ip", "-n", first, "link", "add", "eth2", "type", "veth", "peer", "name", "eth2",
           "netns", second)
        for h in self.hosts.values():
            self._start_chassis(self.chassis(h.name))
        self._save()
        for h in self.hosts.values():
            self._plug(self.chassis(h.name))
        self._wait_claimed()
        lines = []
        for h in self.hosts.values():
            _wait_tcp(h.address, h.port, timeout=10)
            keytype, key = h.host_key_pub.read_text().split()[:2]
            lines.append(f"{h.address} {keytype} {key}\n")
        self.known_hosts.write_text("".join(lines))
        self._save()

    def _save(self) -> None:
        state = self.describe()
        state["pids"] = {n: _host_pids(self.chassis(n)) for n in self.hosts}
        (self.state_dir / "state.json").write_text(json.dumps(state, indent=1))

    def _start_central(self) -> None:
        c = self.central_dir
        c.mkdir()
        for db, schema in (("nb", NB_SCHEMA), ("sb", SB_SCHEMA)):
            sh("ovsdb-tool", "create", str(c / f"{db}.db"), schema)
            sh("ovsdb-server", str(c / f"{db}.db"), f"--remote=punix:{c / f'{db}.sock'}",
               f"--pidfile={c / f'{db}.pid'}", f"--unixctl={c / f'{db}.ctl'}",
               f"--log-file={c / f'{db}.log'}", "--detach", "--no-chdir")
        sh("ovn-northd", f"--ovnnb-db=unix:{c / 'nb.sock'}", f"--ovnsb-db=unix:{c / 'sb.sock'}",
           f"--pidfile={c / 'northd.pid'}", f"--unixctl={c / 'northd.ctl'}",
           f"--log-file={c / 'northd.log'}", "--detach", "--no-chdir")
        self.nbctl("init")
        self.sbctl("init")

    def _logical_topology(self) -> None:
        """NB rows as neutron's OVN driver (ovn_client.py) writes them."""
        for net in self.ovn.networks:
            ls = net.switch
            args = ["ls-add", ls, "--", "set", "Logical_Switch", ls,
                    *_map("external_ids", {
                        "neutron:network_name": net.name, "neutron:mtu": str(net.mtu),
                        "neutron:revision_number": "1",
                        "neutron:availability_zone_hints": ""}),
                    *_map("other_config", {
                        "mcast_snoop": "false", "mcast_flood_unregistered": "false",
                        "vlan-passthru": "false"})]
            if net.localnet:  # neutron: _create_provnet_port
                args += ["--", "lsp-add", ls, net.localnet,
                         "--", "lsp-set-type", net.localnet, "localnet",
                         "--", "lsp-set-addresses", net.localnet, "unknown",
                         "--", "set", "Logical_Switch_Port", net.localnet,
                         f"tag={net.segmentation_id}",
                         *_map("options", {"network_name": str(net.physical_network),
                                           "mcast_flood": "false",
                                           "mcast_flood_reports": "true"})]
            self.nbctl(*args)
        for port in self.ovn.ports:
            net = self.ovn.network(port.network_id)
            prefix = ipaddress.ip_network(net.cidr).prefixlen
            addresses = f"{port.mac} {port.ip}"
            ids = {"neutron:cidrs": f"{port.ip}/{prefix}", "neutron:network_name": net.switch,
                   "neutron:port_name": "", "neutron:project_id": PROJECT,
                   "neutron:revision_number": "2", "neutron:security_group_ids": ""}
            args = ["lsp-add", net.switch, port.id, "--", "lsp-set-addresses", port.id, addresses]
            if port.server_id is None:  # the network's metadata port
                ids.update({"neutron:device_id": net.metadata_ns,
                            "neutron:device_owner": "network:distributed"})
                args += ["--", "lsp-set-type", port.id, "localport"]
            else:
                host = self.ovn.host_of(port)
                ids.update({"neutron:device_id": port.server_id,
                            "neutron:device_owner": "compute:nova", "neutron:host_id": host})
                args += ["--", "lsp-set-port-security", port.id, addresses,
                         "--", "set", "Logical_Switch_Port", port.id,
                         *_map("options", {"requested-chassis": host,
                                           "mcast_flood_reports": "true"})]
            args += ["--", "set", "Logical_Switch_Port", port.id, *_map("external_ids", ids)]
            self.nbctl(*args)

    def _start_chassis(self, host: OvnHost) -> None:
        """Provider bridge, underlay, the chassis' external_ids, then ovn-controller."""
        spec = host.chassis
        for br, nic in sorted(spec.uplinks.items()):
            host.run("ip", "link", "add", nic, "type", "veth", "peer", "name", f"{nic}-sw")
            for dev in (nic, f"{nic}-sw"):
                host.run("ip", "link", "set", dev, "up")
        host.run("ip", "link", "set", "eth2", "up")
        vs = ["--", "add-br", "br-phy", "--", "set", "Bridge", "br-phy", "datapath_type=netdev",
              "--", "add-port", "br-phy", "eth2"]
        for br in sorted(set(spec.bridge_mappings.values())):
            vs += ["--", "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev",
                   "protocols=OpenFlow10,OpenFlow13,OpenFlow15"]
        for br, nic in sorted(spec.uplinks.items()):
            vs += ["--", "add-port", br, nic]
        ids = {
            "ovn-remote": f"unix:{self.central_dir / 'sb.sock'}",
            "ovn-encap-type": "geneve", "ovn-encap-ip": spec.encap_ip,
            "ovn-bridge-mappings": ",".join(f"{k}:{v}" for k, v in
                                            sorted(spec.bridge_mappings.items())),
            "ovn-bridge-datapath-type": "netdev",
        }
        if spec.cms_options:
            ids["ovn-cms-options"] = spec.cms_options
        vs += ["--", "set", "Open_vSwitch", ".", *_map("external_ids", ids)]
        host.vsctl(*vs[1:])
        host.run("ip", "addr", "add", f"{spec.encap_ip}/{UNDERLAY.prefixlen}", "dev", "br-phy")
        host.run("ip", "link", "set", "br-phy", "up")
        host.run("env", "OVN_RUNDIR=/run/ovn", "ovn-controller", "unix:/run/openvswitch/db.sock",
                 "--pidfile=/run/ovn/ovn-controller.pid",
                 f"--log-file={host.dir / 'ovn-controller.log'}", "--detach", "--no-chdir")

    def _plug(self, host: OvnHost) -> None:
        """os-vif's taps and the metadata agent's namespace, once ovn-controller made br-int."""
        _wait(lambda: "br-int" in host.vsctl("list-br").split(), f"{host.name}: br-int")
        vs: list[str] = []
        for port in self.ovn.vm_ports_on(host.name):
            net = self.ovn.network(port.network_id)
            assert port.server_id is not None
            host.run("ip", "tuntap", "add", "dev", port.tap, "mode", "tap")
            host.run("ip", "link", "set", port.tap, "address", "fe:" + port.mac.split(":", 1)[1],
                     "mtu", str(net.mtu), "up")
            vs += ["--", "--may-exist", "add-port", "br-int", port.tap,
                   "--", "set", "Interface", port.tap, f"mtu_request={net.mtu}",
                   *_map("external_ids", {"iface-id": port.id, "iface-status": "active",
                                          "attached-mac": port.mac,
                                          "vm-uuid": port.server_id})]
        for net in self.ovn.metadata_networks_on(host.name):
            md = self.ovn.metadata_port(net.id)
            assert md is not None
            outer, inner = net.metadata_veths
            ns = net.metadata_ns
            prefix = ipaddress.ip_network(net.cidr).prefixlen
            host.run("ip", "netns", "add", ns)
            host.run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner,
                     "netns", ns)
            host.run("ip", "link", "set", outer, "up")
            host.run("ip", "-n", ns, "link", "set", inner, "address", md.mac)
            host.run("ip", "-n", ns, "addr", "add", f"{md.ip}/{prefix}", "dev", inner)
            host.run("ip", "-n", ns, "addr", "add", "169.254.169.254/32", "dev", inner)
            host.run("ip", "-n", ns, "link", "set", inner, "up")
            host.run("ip", "-n", ns, "link", "set", "lo", "up")
            vs += ["--", "--may-exist", "add-port", "br-int", outer,
                   "--", "set", "Interface", outer, *_map("external_ids", {"iface-id": md.id})]
        if vs:
            host.vsctl(*vs[1:])

    def _wait_claimed(self) -> None:
        """Every VM port installed by its chassis' ovn-controller and up in the SB."""
        for port in self.ovn.vm_ports():
            host = self.chassis(self.ovn.host_of(port))

            def installed(host: OvnHost = host, port: OvnPort = port) -> bool:
                row = host.interface(port.tap)
                return row is not None and row["external_ids"].get("ovn-installed") == "true"

            _wait(installed, f"{host.name}: ovn-installed on {port.tap}")

        def bound() -> bool:
            rows = {r["logical_port"]: r for r in self.sb_table("Port_Binding")}
            # chassis: a uuid once claimed ([] before); up: true once installed ([] unset)
            return all(rows.get(p.id, {}).get("chassis") and rows[p.id].get("up") is True
                       for p in self.ovn.vm_ports())

        _wait(bound, "SB Port_Binding chassis/up of the VM ports")


def _wait(check: Callable[[], bool], what: str, timeout: float = CLAIM_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise LabError(f"timed out waiting for {what}")
        time.sleep(0.1)


# -- the data plane -----------------------------------------------------------------------------

# One end of an ICMP echo: a guest behind a tap (attached with IFF_TAP, as QEMU does) or, with
# "raw:IFNAME", a machine on that wire (an AF_PACKET socket; VLAN tags travel in auxdata: the
# kernel untags before packet sockets see a frame). argv: ping|answer END MY_MAC MY_IP PEER_MAC
# PEER_IP SECONDS VLAN (0: untagged). Sends or answers echo requests; prints "ok" on success.
_GUEST = r"""
import fcntl, os, select, socket, struct, sys, time

role, end, my_mac, my_ip, peer_mac, peer_ip, seconds, vlan = sys.argv[1:]
vlan = int(vlan)
if end.startswith("raw:"):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
    sock.bind((end[4:], 0))
    sock.setsockopt(263, 8, 1)  # SOL_PACKET, PACKET_AUXDATA
    fd = sock.fileno()

    def recv():
        data, anc, _, addr = sock.recvmsg(65536, socket.CMSG_SPACE(20))
        if addr[2] == 4:  # PACKET_OUTGOING: our own
            return None, 0
        tag = 0
        for level, kind, aux in anc:
            if (level, kind) == (263, 8):
                status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", aux[:20])
                tag = tci & 0xFFF if status & 0x10 else 0  # TP_STATUS_VLAN_VALID
        return data, tag

    send = sock.send
else:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", end.encode(), 0x0002 | 0x1000))  # TUNSETIFF

    def recv():
        return os.read(fd, 65536), 0

    def send(frame):
        os.write(fd, frame)

mac = lambda m: bytes.fromhex(m.replace(":", ""))
ip = lambda a: bytes(int(x) for x in a.split("."))


def csum(data):
    s = sum(struct.unpack(f"!{len(data) // 2}H", data + b"\0" * (len(data) % 2)))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def frame(icmp_type, seq):
    icmp = struct.pack("!BBHHH", icmp_type, 0, 0, 0x4E50, seq) + b"npovn" * 8
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0,
                      ip(my_ip), ip(peer_ip))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    tag = b"\x81\x00" + struct.pack("!H", vlan) if vlan else b""
    return mac(peer_mac) + mac(my_mac) + tag + b"\x08\x00" + hdr + icmp


def echo(f, tag, icmp_type):
    return (f is not None and tag == vlan and len(f) >= 42 and f[12:14] == b"\x08\x00"
            and f[23] == 1 and f[0:6] == mac(my_mac) and f[26:30] == ip(peer_ip)
            and f[30:34] == ip(my_ip) and f[34] == icmp_type)


deadline, seq, sent, answered = time.monotonic() + float(seconds), 0, 0.0, False
print("attached", flush=True)
while time.monotonic() < deadline:
    if role == "ping" and time.monotonic() - sent > 0.5:  # the first may die in an ARP miss
        seq += 1
        send(frame(8, seq))
        sent = time.monotonic()
    if select.select([fd], [], [], 0.1)[0]:
        f, tag = recv()
        if role == "answer" and echo(f, tag, 8):  # every request: a lost reply is retried
            send(frame(0, struct.unpack("!H", f[40:42])[0]))
            if not answered:
                print("ok", flush=True)
            answered = True
        if role == "ping" and echo(f, tag, 0):
            print("ok", flush=True)
            sys.exit(0)
sys.exit(0 if answered else 1)
"""


@dataclass(frozen=True)
class Endpoint:
    """One end of :func:`echo`: on chassis ``host``, a tap or ``raw:IFNAME``."""

    host: str
    end: str
    mac: str
    ip: str
    vlan: int = 0  # the tag this end sends and expects (0: untagged)


def vm(topology: OvnTopology, port: OvnPort) -> Endpoint:
    """The guest behind a VM port's tap."""
    return Endpoint(topology.host_of(port), port.tap, port.mac, port.ip)


def echo(lab: OvnLab, pinger: Endpoint, answerer: Endpoint, seconds: float = 10) -> bool:
    """An ICMP echo from ``pinger`` answered by ``answerer``, for real through OVS and OVN."""
    import subprocess

    def start(me: Endpoint, peer: Endpoint, role: str) -> subprocess.Popen[bytes]:
        host = lab.chassis(me.host)
        # unbuffered: a buffered readline may also swallow an "ok" that came right behind
        # "attached", which communicate() (reading the raw pipe) would then never see
        proc = subprocess.Popen(
            ["nsenter", "-t", str(host.anchor_pid), "-n", "-m", "--", GUEST_PYTHON, "-c",
             _GUEST, role, me.end, me.mac, me.ip, peer.mac, peer.ip, str(seconds),
             str(me.vlan)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        assert proc.stdout is not None
        proc.stdout.readline()  # "attached": the tap has its reader before anything is sent
        return proc

    answer = start(answerer, pinger, "answer")
    ping = start(pinger, answerer, "ping")
    try:
        ping_out, _ = ping.communicate(timeout=seconds + 5)
        answer.kill()  # it answers until told: the pinger has its reply or gave up
        answer_out, _ = answer.communicate(timeout=5)
    finally:
        for proc in (ping, answer):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return b"ok" in ping_out and b"ok" in answer_out


# -- teardown -----------------------------------------------------------------------------------


def _host_pids(h: OvnHost) -> list[list[int]]:
    """[pid, netns inode] of the chassis' anchor and daemons, from their pid files."""
    pids = [h.anchor_pid, _read_pid(h.run_dir / "ovsdb-server.pid"),
            _read_pid(h.run_dir / "ovs-vswitchd.pid"), _read_pid(h.ovn_dir / "ovn-controller.pid"),
            _read_pid(h.dir / "sshd.pid")]
    own = _netns_inode(h.anchor_pid)
    return [[p, ino] for p in pids if p and (ino := _netns_inode(p)) and ino == own]


def _pids(state_dir: Path) -> set[int]:
    """The lab's processes, each proven ours: central daemons by pid file + a command line
    naming the state dir; chassis daemons by pid file + the chassis' netns (its /run/netns
    inode: valid even once the anchor is gone), or recorded; strays in an npovn- netns."""
    pids: set[int] = set()
    central = state_dir / "central"
    for name in ("nb.pid", "sb.pid", "northd.pid"):
        pid = _read_pid(central / name)
        try:
            if pid and str(state_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.add(pid)
        except OSError:
            pass
    for ns in lab_namespaces(PREFIX):
        try:
            ino = os.stat(f"/run/netns/{ns}").st_ino
        except OSError:
            continue
        hdir = state_dir / ns[len(PREFIX):]
        for f in (hdir / "run" / "ovsdb-server.pid", hdir / "run" / "ovs-vswitchd.pid",
                  hdir / "ovn" / "ovn-controller.pid", hdir / "sshd.pid"):
            pid = _read_pid(f)
            if pid and _netns_inode(pid) == ino:
                pids.add(pid)
        pids |= {int(p) for p in sh("ip", "netns", "pids", ns, check=False).split()}
    try:
        state = json.loads((state_dir / "state.json").read_text())
        for recorded in state.get("pids", {}).values():
            pids |= {pid for pid, ino in recorded if _netns_inode(pid) == ino}
    except (OSError, ValueError):
        pass
    pids.discard(os.getpid())
    return {p for p in pids if not _zombie(p)}


def down(state_dir: Path = STATE_DIR) -> None:
    """Remove every trace: processes, namespaces (the ovnmeta- ones live in the chassis' mount
    namespaces and go with them), root links, the state dir. Idempotent."""
    remove(_pids(state_dir), PREFIX, state_dir)


def leftovers(state_dir: Path = STATE_DIR) -> list[str]:
    found = [f"netns {ns}" for ns in lab_namespaces(PREFIX)]
    found += [f"link {name}" for name in root_links(PREFIX)]
    found += [f"process {pid}" for pid in sorted(_pids(state_dir))]
    if state_dir.exists():
        found.append(f"dir {state_dir}")
    return found


# -- recording ----------------------------------------------------------------------------------


def cloud_facts(topo: OvnTopology, server_ref: str) -> Any:
    """What Neutron's OVN driver and Nova would answer for a server of the OVN lab: ports bound
    to the chassis' hosts, segments, the OVN Controller/Metadata agents with chassis_name, the
    hosts of each network's VM ports, the networks with a metadata port."""
    from osc_netpath import serial
    from osc_netpath.cloud.facts import CloudFacts

    server = topo.server(server_ref)
    ports = [p for p in topo.vm_ports() if p.server_id == server.id]
    agents = []
    for chassis in topo.hosts:
        mappings = ",".join(f"{k}:{v}" for k, v in chassis.bridge_mappings.items())
        conf = {"chassis_name": chassis.name, "bridge-mappings": mappings}
        agents.append({"id": chassis.name, "host": chassis.name,
                       "agent_type": "OVN Controller agent", "binary": "ovn-controller",
                       "bridge_mappings": dict(chassis.bridge_mappings), "configurations": conf})
        if topo.metadata_networks_on(chassis.name):
            agents.append({"id": f"meta-{chassis.name}", "host": chassis.name,
                           "agent_type": "OVN Metadata agent",
                           "binary": "neutron-ovn-metadata-agent", "configurations": conf})
    networks = {p.network_id for p in ports}
    data = {
        "server": {"id": server.id, "name": server.name, "status": "ACTIVE",
                   "host": server.host, "hypervisor_hostname": server.host,
                   "instance_name": server.instance_name},
        "ports": [{
            "id": p.id, "network_id": p.network_id, "mac_address": p.mac, "status": "ACTIVE",
            "fixed_ips": [{"subnet_id": topo.network(p.network_id).subnet_id,
                           "ip_address": p.ip}],
            "binding_host_id": topo.host_of(p), "binding_vif_type": "ovs",
            "binding_vif_details": {"port_filter": True, "connectivity": "l2",
                                    "bridge_name": "br-int", "datapath_type": "netdev"},
            "binding_vnic_type": "normal", "device_owner": "compute:nova",
        } for p in ports],
        "networks": {n.id: {"id": n.id, "name": n.name, "mtu": n.mtu, "segments": [{
            "network_type": n.network_type, "physical_network": n.physical_network,
            "segmentation_id": n.segmentation_id}]} for n in topo.networks if n.id in networks},
        "agents": agents,
        "host_ips": {h.name: h.mgmt_ip for h in topo.hosts},
        "hosts": [server.host],
        "network_hosts": {nid: sorted({topo.host_of(p) for p in topo.vm_ports()
                                       if p.network_id == nid}) for nid in networks},
        "metadata_networks": [n for n in networks if topo.metadata_port(n) is not None],
    }
    return serial.from_data(CloudFacts, data)


def fleet_facts(topo: OvnTopology) -> Any:
    """What ``netpath audit`` gathers for the OVN lab: every port Neutron would list (the VM
    ports and each network's metadata port, bound nowhere), every network, both chassis."""
    from osc_netpath.audit import run

    facts = [cloud_facts(topo, s.name) for s in topo.servers]
    fleet = facts[0]
    fleet.subject = run.SUBJECT  # the list is complete: orphans are decidable
    for other in facts[1:]:
        fleet.ports += [p for p in other.ports if p.id not in {q.id for q in fleet.ports}]
        fleet.networks.update(other.networks)
    seen = {p.id for p in fleet.ports}
    for net in topo.networks:
        md = topo.metadata_port(net.id)
        if md is not None and md.id not in seen:
            fleet.ports.append(dataclasses.replace(
                fleet.ports[0], id=md.id, network_id=net.id, mac_address=md.mac,
                fixed_ips=[], binding_host_id="", binding_vif_type="unbound",
                binding_vif_details={}, device_owner="network:distributed",
                device_id=f"ovnmeta-{net.id}"))
    fleet.metadata_networks = sorted({n for f in facts for n in f.metadata_networks})
    fleet.hosts = [h.name for h in topo.hosts]
    return fleet


def probe_request(lab: OvnLab, name: str) -> Any:
    """The ProbeRequest ``netpath show`` makes on this chassis for its servers (one request per
    host: the union of what each server's trace asks there)."""
    from osc_netpath import trace

    requests = [trace.probe_request(cloud_facts(lab.ovn, s.id), name)
                for s in lab.ovn.servers if s.host == name]
    req = requests[0]
    for other in requests[1:]:
        req.domains += other.domains
        req.flows += other.flows
    return dataclasses.replace(
        req, namespaces=[n.metadata_ns for n in lab.ovn.metadata_networks_on(name)],
        token=PROBE_TOKEN)


def record(lab: OvnLab, out: Path = FIXTURES) -> list[Path]:
    """Probe output (over SSH, the project's transport) and raw tool outputs, per chassis."""
    from osc_netpath.host import probe, transport

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(name: str, text: str) -> None:
        path = out / name
        path.write_text(text)
        written.append(path)

    commands = {n: probe.command_line(probe_request(lab, n)) for n in lab.hosts}
    results, _ = transport.run_probes([(lab.ssh_target(n), c) for n, c in commands.items()],
                                      probe.script())
    for name, result in sorted(results.items()):
        if not result.ok or result.stdout is None:
            raise LabError(f"{name}: probe failed: {result.error}")
        write(f"probe-{name}.txt", result.stdout)
        write(f"probe-{name}.cmd", commands[name] + "\n")  # the remote command, verbatim
    for name in lab.hosts:
        h = lab.chassis(name)
        for table in ("Open_vSwitch", "Bridge", "Port", "Interface"):
            write(f"ovs-{table.lower()}-{name}.json",
                  h.vsctl("--format=json", "--data=json", "list", table))
        write(f"connection-status-{name}.txt", h.appctl("connection-status"))
        write(f"flows-br-int-{name}.txt", h.ofctl("-O", "OpenFlow15", "dump-flows", "br-int"))
        write(f"flows-br-ex-{name}.txt", h.ofctl("-O", "OpenFlow15", "dump-flows", "br-ex"))
        write(f"ovs-router-{name}.txt", h.run("ovs-appctl", "ovs/route/show"))
    for table in ("Chassis", "Chassis_Private", "Encap", "Port_Binding", "Datapath_Binding"):
        write(f"sb-{table.lower()}.json",
              lab.sbctl("--format=json", "--data=json", "list", table))
    write("sb-chassis.txt", lab.sbctl("list", "Chassis"))
    write("sb-port-binding.txt", "".join(
        lab.sbctl("find", "Port_Binding", f"logical_port={p.id}") for p in lab.ovn.ports))
    write("sb-show.txt", lab.sbctl("show"))
    write("nb-show.txt", lab.nbctl("show"))
    for table in ("Logical_Switch", "Logical_Switch_Port"):
        write(f"nb-{table.lower()}.json", lab.nbctl("--format=json", "--data=json", "list", table))
    write("topology.json", json.dumps(observed_topology(lab), indent=1, sort_keys=True) + "\n")
    return written


def observed_topology(lab: OvnLab) -> dict[str, Any]:
    """What the lab chose and what OVN made of it: ids, names, MACs, IPs, hosts, chassis,
    encap IPs, segments and datapath tunnel keys (the Geneve VNI on the wire)."""
    datapaths = {r["external_ids"].get("name"): r["tunnel_key"]
                 for r in lab.sb_table("Datapath_Binding")}
    chassis = {r["name"]: r for r in lab.sb_table("Chassis")}
    encaps = {r["_uuid"]: r for r in lab.sb_table("Encap")}
    bindings = {r["logical_port"]: r for r in lab.sb_table("Port_Binding")}
    chassis_names = {r["_uuid"]: r["name"] for r in chassis.values()}

    def chassis_of(port_id: str) -> str | None:
        ch = bindings.get(port_id, {}).get("chassis")
        return chassis_names.get(ch) if isinstance(ch, str) else None

    return {
        "central": {"nb": "unix (lab state dir)/nb.sock", "sb": "unix (lab state dir)/sb.sock"},
        "hosts": {h.name: {
            "mgmt_ip": h.mgmt_ip, "chassis_name": h.name, "system_id": h.name,
            "hostname": h.name, "encap_type": "geneve", "encap_ip": h.encap_ip,
            "encap_bridge": "br-phy", "underlay_nic": "eth2",
            "bridge_mappings": dict(h.bridge_mappings), "uplinks": dict(h.uplinks),
            "cms_options": h.cms_options or None,
            "sb_chassis_hostname": chassis.get(h.name, {}).get("hostname"),
            "sb_encaps": [{"type": encaps[e]["type"], "ip": encaps[e]["ip"]}
                          for e in _as_list(chassis.get(h.name, {}).get("encaps"))
                          if e in encaps],
            "observed": _observed_host(lab.chassis(h.name)),
        } for h in lab.ovn.hosts},
        "networks": {n.id: {
            "name": n.name, "network_type": n.network_type, "segment_id": n.segment_id,
            "segmentation_id": n.segmentation_id, "physical_network": n.physical_network,
            "mtu": n.mtu, "cidr": n.cidr, "subnet_id": n.subnet_id,
            "logical_switch": n.switch, "localnet_port": n.localnet,
            "datapath_tunnel_key": datapaths.get(n.switch),
            "metadata_namespace": n.metadata_ns if lab.ovn.metadata_port(n.id) else None,
            "metadata_veths": list(n.metadata_veths) if lab.ovn.metadata_port(n.id) else None,
        } for n in lab.ovn.networks},
        "servers": {s.id: {"name": s.name, "instance_name": s.instance_name, "host": s.host}
                    for s in lab.ovn.servers},
        "ports": {p.id: {
            "network_id": p.network_id, "mac": p.mac, "ip": p.ip, "server_id": p.server_id,
            "device_owner": "compute:nova" if p.server_id else "network:distributed",
            "host": lab.ovn.host_of(p) if p.server_id else None,
            "tap": p.tap if p.server_id else None,
            "sb_chassis": chassis_of(p.id),
            "sb_tunnel_key": bindings.get(p.id, {}).get("tunnel_key"),
            "sb_type": bindings.get(p.id, {}).get("type"),
        } for p in lab.ovn.ports},
    }


def _observed_host(host: OvnHost) -> dict[str, Any]:
    """What ovn-controller made on this chassis, as its OVS shows it: tunnel and localnet
    patch ports, br-int's OpenFlow port numbers (flows name ports by number), the flows that
    push/pop the localnet VLAN, the controller's SB connection status."""
    ports = {r["name"]: r for r in host.ovs_table("Port")}
    ifaces = {r["name"]: r for r in host.ovs_table("Interface")}
    br_int = host.vsctl("list-ports", "br-int").split()
    flows = host.ofctl("-O", "OpenFlow15", "dump-flows", "br-int").splitlines()
    return {
        "connection_status": host.appctl("connection-status").strip(),
        "br_int_ofports": {n: ifaces[n]["ofport"] for n in br_int if n in ifaces},
        "tunnels": [{"port": n, "type": i["type"], "remote_ip": i["options"].get("remote_ip"),
                     "ovn_chassis_id": ports[n]["external_ids"].get("ovn-chassis-id"),
                     "options": i["options"]}
                    for n, i in sorted(ifaces.items()) if i["type"] in ("geneve", "vxlan")],
        "localnet_patches": [{"port": n, "peer": i["options"].get("peer"),
                              "ovn_localnet_port": ports[n]["external_ids"].get(
                                  "ovn-localnet-port")}
                             for n, i in sorted(ifaces.items())
                             if i["type"] == "patch" and "provnet-" in n],
        "ovn_installed": sorted(n for n, i in ifaces.items()
                                if i["external_ids"].get("ovn-installed") == "true"),
        "vlan_push_flows": [" ".join(f.split()) for f in flows if "push_vlan" in f],
        "vlan_pop_flows": [" ".join(f.split()) for f in flows
                           if "dl_vlan=" in f and "pop_vlan" in f],
    }


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v] if v else []


def main(argv: list[str]) -> int:
    usage = "usage: python -m tests.lab.ovn up|record [DIR]|rerecord [DIR]|down|status"
    if not argv or argv[0] not in ("up", "record", "rerecord", "down", "status") \
            or len(argv) > (2 if argv[0] in ("record", "rerecord") else 1):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "up":
            lab = OvnLab()
            lab.up()
            lab.lock.release()  # the state stays; `down` (or the next up) removes it
            print(json.dumps(lab.describe(), indent=1))
        elif argv[0] == "record":  # from the lab `up` left running
            lab = OvnLab.attach_ovn()
            for path in record(lab, Path(argv[1]) if len(argv) > 1 else FIXTURES):
                print(path)
        elif argv[0] == "rerecord":  # up, record, down: one process holding the lock
            lab = OvnLab()
            lab.up()
            try:
                for path in record(lab, Path(argv[1]) if len(argv) > 1 else FIXTURES):
                    print(path)
            finally:
                lab.down()
        elif argv[0] == "down":
            lock = OvnLock()
            try:
                lock.acquire(timeout=0)
            except LabError:
                raise LabError("a test session is using the OVN lab; it removes it when it "
                               "ends") from None
            down()
            lock.release()
            rest = leftovers()
            print("ovn lab down" + (f"; left: {rest}" if rest else ", nothing left"))
            return 1 if rest else 0
        else:
            print(json.dumps({"namespaces": lab_namespaces(PREFIX), "leftovers": leftovers()},
                             indent=1))
    except LabError as exc:
        print(f"ovn lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
