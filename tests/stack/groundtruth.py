"""Ground truth of a server's network path, read from the real system.

Independent of the plugin and of SSH: every read runs the host's own tools
(ovs-vsctl, ovs-ofctl, ip, virsh) directly inside that compute host's
namespaces (``nsenter`` into the host's network, mount and UTS namespaces via
the anchor process recorded by up.sh), and nothing is taken from the Nova or
Neutron API: the host of a server is the host whose libvirt runs a domain with
the server's UUID, its ports are the OVS interfaces whose external_ids say
``vm-uuid`` = that UUID.  Tests compare this with what the API says and with
``openstack netpath show``.

API (see tests/stack/README.rst):

    stack = load_stack()                      # stack.json written by up.sh
    snap = read_host(stack["hosts"]["compute1"])          # HostSnapshot
    truth = read_server(stack, "vm1")                      # ServerTruth
    truth.host, truth.domain, truth.ports                  # [PortTruth] in NIC order
    port = truth.port("1f2e...")                           # by Neutron port id
    port.local_vlan, port.segmentation_id, port.hops()     # rows like `netpath show`
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

DEFAULT_DIR = os.environ.get("NPSTACK_DIR", "/var/tmp/npstack")
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
HOP_KEYS = ("port", "hop", "device", "kind", "bridge", "vlan", "mac", "mtu", "state", "source")


def load_stack(directory: str | None = None) -> dict:
    """The handles up.sh wrote: hosts (namespace, address, anchor_pid,
    firewall_driver), servers (as booted), clouds.yaml path, ssh settings."""
    with open(os.path.join(directory or DEFAULT_DIR, "stack.json")) as f:
        return json.load(f)


# ------------------------------------------------------------------ host access

def host_run(host: dict, argv: list[str], check: bool = True, timeout: float = 30) -> str:
    """Run argv inside a compute host (its netns, mount ns, UTS ns)."""
    cmd = ["nsenter", "-t", str(host["anchor_pid"]), "-m", "-u", "-n", "--"] + list(argv)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{host['name']}: {' '.join(argv)} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()}")
    return proc.stdout


def wait_until(what: str, fn: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``fn`` every 0.5 s until it is true; AssertionError after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not reached after {timeout}s")
        time.sleep(0.5)


class CliRun:
    """One ``openstack netpath … -f json`` run: its rows, its warnings (the stderr lines
    "warning: …", without the prefix) and its exit code."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc, self.stderr = proc.returncode, proc.stderr
        self.rows = json.loads(proc.stdout) if proc.stdout.strip() else []
        self.warnings = [ln[len("warning: "):] for ln in proc.stderr.splitlines()
                         if ln.startswith("warning: ")]


def _ovsdb_value(v: Any) -> Any:
    """Decode OVSDB JSON notation (ovs-vsctl --format=json --data=json)."""
    if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str):
        kind, val = v
        if kind == "map":
            return {k: _ovsdb_value(x) for k, x in val}
        if kind == "set":
            return [_ovsdb_value(x) for x in val]
        if kind in ("uuid", "named-uuid"):
            return val
    return v


def _ovs_table(host: dict, table: str) -> list[dict]:
    out = host_run(host, ["ovs-vsctl", "--timeout=10", "--format=json", "--data=json", "list", table])
    doc = json.loads(out)
    return [{h: _ovsdb_value(v) for h, v in zip(doc["headings"], row)} for row in doc["data"]]


@dataclasses.dataclass
class Flow:
    table: int
    priority: int
    match: dict[str, str]
    actions: str
    raw: str


_FLOW_META = {"cookie", "duration", "n_packets", "n_bytes", "idle_age", "hard_age",
              "idle_timeout", "hard_timeout", "reset_counts", "send_flow_rem"}


def parse_flows(text: str) -> list[Flow]:
    flows = []
    for line in text.splitlines():
        line = line.strip()
        if " actions=" not in line or line.startswith(("NXST", "OFPST")):
            continue
        left, actions = line.split(" actions=", 1)
        match: dict[str, str] = {}
        table, priority = 0, 32768
        for tok in re.split(r",\s*", left.strip()):
            if not tok:
                continue
            key, _, val = tok.partition("=")
            if key in _FLOW_META:
                continue
            if key == "table":
                table = int(val)
            elif key == "priority":
                priority = int(val)
            else:
                match[key] = val
        flows.append(Flow(table, priority, match, actions, line))
    return flows


@dataclasses.dataclass
class DomainInterface:
    mac: str
    type: str               # libvirt interface type: bridge, ethernet, ...
    target: str | None      # the tap device
    source_bridge: str | None
    mtu: int | None
    model: str | None


@dataclasses.dataclass
class Domain:
    name: str
    uuid: str
    nova_name: str | None
    interfaces: list[DomainInterface]
    xml: str


def parse_domain(xml: str) -> Domain:
    root = ET.fromstring(xml)
    ifaces = []
    for el in root.findall("./devices/interface"):
        mac = el.find("mac")
        target = el.find("target")
        source = el.find("source")
        mtu = el.find("mtu")
        model = el.find("model")
        ifaces.append(DomainInterface(
            mac=mac.get("address") if mac is not None else "",
            type=el.get("type", ""),
            target=target.get("dev") if target is not None else None,
            source_bridge=source.get("bridge") if source is not None else None,
            mtu=int(mtu.get("size")) if mtu is not None else None,
            model=model.get("type") if model is not None else None,
        ))
    nova_name = root.find(f".//{{{NOVA_NS}}}instance/{{{NOVA_NS}}}name")
    return Domain(name=root.findtext("name", ""), uuid=root.findtext("uuid", ""),
                  nova_name=nova_name.text if nova_name is not None else None,
                  interfaces=ifaces, xml=xml)


@dataclasses.dataclass
class HostSnapshot:
    """Everything read from one compute host at one moment."""
    name: str
    address: str
    bridges: dict[str, dict]        # OVS Bridge rows by name
    ports: dict[str, dict]          # OVS Port rows by name, plus "bridge"
    interfaces: dict[str, dict]     # OVS Interface rows by name
    links: dict[str, dict]          # `ip -j -d link` by ifname
    addresses: dict[str, list[str]]  # ifname -> IPv4 addresses
    flows: dict[str, list[Flow]]    # OVS bridge -> flows
    domains: dict[str, Domain]      # libvirt domain name -> Domain

    def ofport_name(self, bridge: str, ofport: str | int) -> str | None:
        for pname in self.bridges.get(bridge, {}).get("port_names", []):
            for iname in self.ports[pname]["interface_names"]:
                if str(self.interfaces[iname].get("ofport")) == str(ofport):
                    return iname
        return None

    def name_ofport(self, iface: str) -> str:
        return str(self.interfaces[iface]["ofport"])

    def patch_peer(self, iface: str) -> str | None:
        return (self.interfaces.get(iface, {}).get("options") or {}).get("peer")

    def flows_where(self, bridge: str, table: int | None = None, **match: str) -> list[Flow]:
        out = []
        for fl in self.flows.get(bridge, []):
            if table is not None and fl.table != table:
                continue
            if all(fl.match.get(k) == v for k, v in match.items()):
                out.append(fl)
        return out

    def domain_by_uuid(self, uuid: str) -> Domain | None:
        for dom in self.domains.values():
            if dom.uuid == uuid:
                return dom
        return None


def read_host(host: dict) -> HostSnapshot:
    bridges = {b["name"]: b for b in _ovs_table(host, "Bridge")}
    ports_by_uuid = {p["_uuid"]: p for p in _ovs_table(host, "Port")}
    ifaces_by_uuid = {i["_uuid"]: i for i in _ovs_table(host, "Interface")}
    ports = {}
    for b in bridges.values():
        pl = b["ports"] if isinstance(b["ports"], list) else [b["ports"]]
        b["port_names"] = []
        for pu in pl:
            p = ports_by_uuid[pu]
            il = p["interfaces"] if isinstance(p["interfaces"], list) else [p["interfaces"]]
            p["bridge"] = b["name"]
            p["interface_names"] = [ifaces_by_uuid[i]["name"] for i in il]
            ports[p["name"]] = p
            b["port_names"].append(p["name"])
    interfaces = {i["name"]: i for i in ifaces_by_uuid.values()}
    links = {ln["ifname"]: ln for ln in json.loads(host_run(host, ["ip", "-j", "-d", "link", "show"]))}
    addresses: dict[str, list[str]] = {}
    for a in json.loads(host_run(host, ["ip", "-j", "-4", "addr", "show"])):
        addresses[a["ifname"]] = [x["local"] for x in a.get("addr_info", [])]
    flows = {}
    for name in bridges:
        flows[name] = parse_flows(host_run(host, ["ovs-ofctl", "--no-stats", "dump-flows", name]))
    domains = {}
    if host.get("virt_driver", "libvirt") == "libvirt":
        names = host_run(host, ["virsh", "-r", "-c", "qemu:///system", "list", "--all", "--name"]).split()
        for dn in names:
            domains[dn] = parse_domain(host_run(host, ["virsh", "-r", "-c", "qemu:///system", "dumpxml", dn]))
    return HostSnapshot(name=host["name"], address=host["address"], bridges=bridges, ports=ports,
                        interfaces=interfaces, links=links, addresses=addresses, flows=flows,
                        domains=domains)


# ------------------------------------------------------------------ per port

@dataclasses.dataclass
class Tunnel:
    port: str
    remote_ip: str
    local_ip: str
    in_flow: str | None     # br-tun table 4: tun_id=VNI -> mod_vlan_vid:local
    out_flow: str | None    # br-tun table 22: dl_vlan=local -> tun_id=VNI, output:...


@dataclasses.dataclass
class PortTruth:
    port_id: str
    host: str
    server_id: str
    mac: str
    hybrid: bool                 # qbr/qvb/qvo (iptables_hybrid) vs tap on br-int
    tap: str
    qbr: str | None
    qvb: str | None
    qvo: str | None
    ovs_port: str                # the port on br-int (qvo... or tap...)
    integration_bridge: str
    local_vlan: int | None
    network_id: str | None       # from the agent's other_config net_uuid
    network_type: str | None
    physical_network: str | None
    segmentation_id: int | None
    mtu: int | None              # the tap's MTU (kernel)
    libvirt_mtu: int | None
    state: str                   # the tap's operstate (kernel)
    ovs_link_state: str | None
    libvirt: DomainInterface | None
    # provider networks: int-br-ex <-> phy-br-ex and the VLAN rewrite flows
    int_patch: str | None = None
    phys_patch: str | None = None
    physical_bridge: str | None = None
    physical_nics: list[str] = dataclasses.field(default_factory=list)
    int_flow: str | None = None     # br-int: from the physical bridge, segment -> local VLAN
    phys_flow: str | None = None    # br-ex: from br-int, local VLAN -> segment
    # tunnel networks
    tun_patch: str | None = None
    tun_peer: str | None = None
    tunnel_bridge: str | None = None
    tunnels: list[Tunnel] = dataclasses.field(default_factory=list)
    tunnel_nic: str | None = None
    # kernel facts (ip -j -d link) of every kernel device on the path: name -> {mac, mtu, state, master, kind}
    devices: dict[str, dict] = dataclasses.field(default_factory=dict)
    # OVS Interface link_state of every OVS port on the path
    ovs_states: dict[str, str] = dataclasses.field(default_factory=dict)
    domain_name: str | None = None
    phys_translation: str | None = None   # from phys_flow: the segmentation id, or "untagged"
    tunnel_out_vni: int | None = None     # from br-tun table 22: the VNI the local VLAN leaves with

    def hops(self) -> list[dict]:
        """The path from the guest outwards, one dict per hop, in the shape of
        `openstack netpath show -f json` rows (keys lower-case: port, hop,
        device, kind, bridge, vlan, mac, mtu, state, source, peer), every
        value read from the host:

          0 guest-nic   libvirt domain name; the guest's MAC and MTU (<mac>, <mtu>)
          1 tap         kernel: MAC (fe:...), MTU, operstate; bridge qbr (hybrid) or
                        br-int with the local VLAN (native)
          2 linux-bridge qbr   3 veth qvb (peer qvo)      (hybrid only)
          4 ovs-port    qvo on br-int, local VLAN, OVS link_state (hybrid only)
            ovs-bridge  br-int, local VLAN
          provider:  patch int-br-ex, patch phy-br-ex, ovs-bridge br-ex with
                     vlan "LOCAL → SEG" / "LOCAL → untagged" from br-ex's flow, nic eth1
          tunnel:    patch patch-tun, patch patch-int, ovs-bridge br-tun with
                     vlan "LOCAL → VNI N" from br-tun's table 22 flow, one tunnel
                     row per vxlan port (vlan "VNI N", peer = remote_ip), nic eth0
        A fact that is not on the host is None (a missing flow gives "LOCAL → ?");
        a kernel device that OVS or libvirt names but the kernel does not have
        (the tap of a stopped guest) has state "absent"."""
        rows: list[dict] = []

        def add(device, kind, bridge=None, vlan=None, mac=None, mtu=None, state=None,
                source="ovsdb", peer=None, kernel=False):
            if kernel:
                dev = self.devices.get(device)
                if dev is None:   # e.g. the tap of a stopped guest: OVS/libvirt still name it
                    mac, mtu, state = None, None, "absent"
                else:
                    mac, mtu, state = dev.get("mac"), dev.get("mtu"), dev.get("state")
            rows.append({"port": self.port_id, "hop": len(rows), "device": device, "kind": kind,
                             "bridge": bridge, "vlan": None if vlan is None else str(vlan), "mac": mac,
                             "mtu": mtu, "state": state, "source": source, "peer": peer})

        add(self.domain_name, "guest-nic", mac=self.mac, mtu=self.libvirt_mtu, source="libvirt")
        if self.hybrid:
            add(self.tap, "tap", bridge=self.qbr, source="kernel", kernel=True)
            add(self.qbr, "linux-bridge", source="kernel", kernel=True)
            add(self.qvb, "veth", bridge=self.qbr, source="kernel", peer=self.qvo, kernel=True)
            dev = self.devices.get(self.qvo) or {}
            add(self.qvo, "ovs-port", bridge=self.integration_bridge, vlan=self.local_vlan,
                mac=dev.get("mac"), mtu=dev.get("mtu"), state=self.ovs_link_state, peer=self.qvb)
        else:
            add(self.tap, "tap", bridge=self.integration_bridge, vlan=self.local_vlan,
                source="kernel", kernel=True)
        add(self.integration_bridge, "ovs-bridge", vlan=self.local_vlan)
        if self.network_type in ("flat", "vlan"):
            add(self.int_patch, "patch", bridge=self.integration_bridge, peer=self.phys_patch,
                state=self.ovs_states.get(self.int_patch))
            add(self.phys_patch, "patch", bridge=self.physical_bridge, peer=self.int_patch,
                state=self.ovs_states.get(self.phys_patch))
            add(self.physical_bridge, "ovs-bridge", source="flows",
                vlan="{} → {}".format(self.local_vlan, self.phys_translation or "?"))
            for nic in self.physical_nics:
                add(nic, "nic", bridge=self.physical_bridge, source="kernel", kernel=True)
        elif self.network_type in ("vxlan", "gre", "geneve"):
            add(self.tun_patch, "patch", bridge=self.integration_bridge, peer=self.tun_peer,
                state=self.ovs_states.get(self.tun_patch))
            add(self.tun_peer, "patch", bridge=self.tunnel_bridge, peer=self.tun_patch,
                state=self.ovs_states.get(self.tun_peer))
            out_vni = self.tunnel_out_vni
            add(self.tunnel_bridge, "ovs-bridge", source="flows",
                vlan="{} → VNI {}".format(self.local_vlan, out_vni if out_vni is not None else "?"))
            for t in self.tunnels:
                add(t.port, "tunnel", bridge=self.tunnel_bridge, vlan=f"VNI {self.segmentation_id}",
                    state=self.ovs_states.get(t.port), peer=t.remote_ip)
            if self.tunnel_nic:
                add(self.tunnel_nic, "nic", source="kernel", kernel=True)
        return rows


@dataclasses.dataclass
class ServerTruth:
    server_id: str
    host: str
    domain: Domain | None
    ports: list[PortTruth]

    def port(self, port_id: str) -> PortTruth:
        for p in self.ports:
            if p.port_id == port_id:
                return p
        raise KeyError(port_id)

    def hops(self) -> list[dict]:
        return [row for p in self.ports for row in p.hops()]


COMPARE_FIELDS = ("port", "hop", "device", "kind", "bridge", "vlan", "mac", "mtu", "state", "peer")


def compare(plugin_rows: list[dict], truth: ServerTruth | list[dict],
            fields: tuple[str, ...] = COMPARE_FIELDS) -> list[str]:
    """Differences between `netpath show -f json` rows (keys as printed: Port,
    Hop, Device...) and the ground truth rows; [] when they agree.  Rows are
    matched by (port, device, kind); ``fields`` are compared as strings
    (None stays None).  The guest-nic's state is the API's (port status) and
    is not compared."""
    want = truth.hops() if isinstance(truth, ServerTruth) else truth
    got = [{k.lower(): v for k, v in r.items()} for r in plugin_rows]

    def key(r):
        return (r.get("port"), r.get("device"), r.get("kind"))

    def norm(v):
        return None if v is None else str(v)

    diffs = []
    got_by = {key(r): r for r in got}
    want_by = {key(r): r for r in want}
    for k in want_by:
        if k not in got_by:
            diffs.append(f"missing hop {k[0][:8] if k[0] else k[0]} {k[1]} ({k[2]})")
    for k in got_by:
        if k not in want_by:
            diffs.append(f"unexpected hop {k[0][:8] if k[0] else k[0]} {k[1]} ({k[2]})")
    for k, w in want_by.items():
        g = got_by.get(k)
        if g is None:
            continue
        for f in fields:
            if f == "state" and w.get("kind") == "guest-nic":
                continue
            if f in w and norm(g.get(f)) != norm(w.get(f)):
                diffs.append(f"{k[0][:8] if k[0] else k[0]} {k[1]} {f}: plugin {g.get(f)!r}, host {w.get(f)!r}")
    return diffs


def _int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _actions_vlan(actions: str) -> str | None:
    m = re.search(r"mod_vlan_vid:(\d+)", actions)
    return m.group(1) if m else None


def _phys_translations(snap: HostSnapshot, bridge: str, ofp_phy: str, tag) -> list[Flow]:
    """The physical bridge's flows for the local VLAN coming from br-int: in table 0, or where
    table 0 resubmits that port's traffic (a DVR agent: 0 → 1 → 2), followed on the host."""
    table, seen = 0, set()
    while table not in seen:
        seen.add(table)
        found = snap.flows_where(bridge, table, in_port=ofp_phy, dl_vlan=str(tag))
        if found:
            return found
        onward = [f for f in snap.flows_where(bridge, table)
                  if f.match.get("in_port") in (None, ofp_phy) and "dl_vlan" not in f.match
                  and re.fullmatch(r"resubmit\(,\d+\)", f.actions)]
        if not onward:
            return []
        table = int(re.findall(r"\d+", max(onward, key=lambda f: f.priority).actions)[0])
    return []


def port_truth(snap: HostSnapshot, iface_name: str, domain: Domain | None) -> PortTruth:
    iface = snap.interfaces[iface_name]
    ext = iface.get("external_ids") or {}
    port_id = ext["iface-id"]
    ovs_port = snap.ports[iface_name]
    br_int = ovs_port["bridge"]
    oc = ovs_port.get("other_config") or {}
    tag = ovs_port.get("tag")
    tag = tag if isinstance(tag, int) else None
    hybrid = iface_name.startswith("qvo")
    suffix = iface_name[3:]
    tap = "tap" + suffix
    qbr, qvb, qvo = ("qbr" + suffix, "qvb" + suffix, iface_name) if hybrid else (None, None, None)
    link = snap.links.get(tap, {})
    mac = ext.get("attached-mac", "")
    dif = None
    if domain:
        for d in domain.interfaces:
            if d.mac == mac:
                dif = d
    net_type = oc.get("network_type")
    pt = PortTruth(
        port_id=port_id, host=snap.name, server_id=ext.get("vm-uuid", ""), mac=mac, hybrid=hybrid,
        tap=tap, qbr=qbr, qvb=qvb, qvo=qvo, ovs_port=iface_name, integration_bridge=br_int,
        local_vlan=tag, network_id=oc.get("net_uuid"), network_type=net_type,
        physical_network=None if oc.get("physical_network") in (None, "None") else oc.get("physical_network"),
        segmentation_id=_int(oc.get("segmentation_id")), mtu=link.get("mtu"),
        libvirt_mtu=dif.mtu if dif else None, state=link.get("operstate", "missing"),
        ovs_link_state=iface.get("link_state") or None, libvirt=dif)

    if net_type in ("flat", "vlan"):
        # int-br-<phys> on br-int; its patch peer sits on the physical bridge
        for pname in snap.bridges[br_int]["port_names"]:
            peer = snap.patch_peer(pname)
            if pname.startswith("int-") and peer and peer in snap.ports:
                pt.int_patch, pt.phys_patch = pname, peer
                pt.physical_bridge = snap.ports[peer]["bridge"]
        if pt.phys_patch:
            ofp_int = snap.name_ofport(pt.int_patch)
            ofp_phy = snap.name_ofport(pt.phys_patch)
            seg_match = ({"dl_vlan": str(pt.segmentation_id)} if net_type == "vlan"
                         else {"vlan_tci": "0x0000/0x1fff"})
            for fl in snap.flows_where(br_int, 0, in_port=ofp_int, **seg_match):
                if _actions_vlan(fl.actions) == str(tag):
                    pt.int_flow = fl.raw
            for fl in _phys_translations(snap, pt.physical_bridge, ofp_phy, tag):
                if net_type == "vlan" and _actions_vlan(fl.actions) == str(pt.segmentation_id):
                    pt.phys_flow = fl.raw
                if net_type == "flat" and fl.actions.startswith("strip_vlan"):
                    pt.phys_flow = fl.raw
            pt.physical_nics = [
                p for p in snap.bridges[pt.physical_bridge]["port_names"]
                if p != pt.physical_bridge and snap.interfaces[p].get("type") in ("", "system", None)
            ]
    elif net_type in ("vxlan", "gre", "geneve"):
        for pname in snap.bridges[br_int]["port_names"]:
            peer = snap.patch_peer(pname)
            if peer and peer in snap.ports and not pname.startswith("int-"):
                pt.tun_patch, pt.tun_peer = pname, peer
                pt.tunnel_bridge = snap.ports[peer]["bridge"]
        if pt.tunnel_bridge:
            vni_hex = f"0x{pt.segmentation_id:x}" if pt.segmentation_id is not None else None
            in_flows = [f for f in snap.flows_where(pt.tunnel_bridge, 4, tun_id=vni_hex)
                        if _actions_vlan(f.actions) == str(tag)]
            out_flows = snap.flows_where(pt.tunnel_bridge, 22, dl_vlan=str(tag))
            local_ips = set()
            for pname in snap.bridges[pt.tunnel_bridge]["port_names"]:
                i = snap.interfaces[pname]
                if i.get("type") != net_type:
                    continue
                opts = i.get("options") or {}
                local_ips.add(opts.get("local_ip"))
                ofp = str(i.get("ofport"))
                out = [f.raw for f in out_flows if re.search(rf"output:({re.escape(ofp)})(,|$)", f.actions)]
                pt.tunnels.append(Tunnel(port=pname, remote_ip=opts.get("remote_ip", ""),
                                         local_ip=opts.get("local_ip", ""),
                                         in_flow=in_flows[0].raw if in_flows else None,
                                         out_flow=out[0] if out else None))
            # the host has them as a set; rows in name order (the order netpath shows them in)
            pt.tunnels.sort(key=lambda t: t.port)
            for ifname, addrs in snap.addresses.items():
                if local_ips & set(addrs):
                    pt.tunnel_nic = ifname
    pt.domain_name = domain.name if domain else None
    if pt.phys_flow:
        vid = _actions_vlan(pt.phys_flow.split(" actions=", 1)[1])
        pt.phys_translation = vid if vid else (
            "untagged" if "strip_vlan" in pt.phys_flow.split(" actions=", 1)[1] else None)
    outs = [t.out_flow for t in pt.tunnels if t.out_flow]
    if outs:
        m = re.search(r"(?:load:(0x[0-9a-f]+)->NXM_NX_TUN_ID\[\]|set_tunnel(?:64)?:(0x[0-9a-f]+|\d+))",
                      outs[0].split(" actions=", 1)[1])
        if m:
            pt.tunnel_out_vni = int(m.group(1) or m.group(2), 0)
    for name in [pt.qvo, pt.tap, pt.int_patch, pt.phys_patch, pt.tun_patch, pt.tun_peer] + [
            t.port for t in pt.tunnels]:
        if name and name in snap.interfaces:
            pt.ovs_states[name] = snap.interfaces[name].get("link_state") or None
    for dev in [pt.tap, pt.qbr, pt.qvb, pt.qvo, pt.tunnel_nic] + pt.physical_nics:
        ln = snap.links.get(dev) if dev else None
        if ln:
            pt.devices[dev] = {"mac": ln.get("address"), "mtu": ln.get("mtu"),
                               "state": ln.get("operstate"), "master": ln.get("master"),
                               "kind": (ln.get("linkinfo") or {}).get("info_kind")}
    return pt


def read_server(stack: dict, server: str, snapshots: dict[str, HostSnapshot] | None = None) -> ServerTruth:
    """Ground truth for a server given by name (as in stack.json) or UUID.
    snapshots: {host name: HostSnapshot} to reuse (read on demand otherwise)."""
    sid, name, snap, dom, ifaces = _locate(stack, server, snapshots)
    ports = _nic_order([port_truth(snap, n, dom) for n in ifaces], dom)
    return ServerTruth(server_id=sid, host=name, domain=dom, ports=ports)


def _locate(stack: dict, server: str, snapshots: dict[str, HostSnapshot] | None
            ) -> tuple[str, str, HostSnapshot, Domain | None, list[str]]:
    """(UUID, host, its snapshot, the libvirt domain, the VIFs' OVS interface names) of a
    server given by label or UUID: the host whose libvirt runs it or whose OVS has its VIFs."""
    sid = stack.get("servers", {}).get(server, {}).get("id", server)
    snapshots = snapshots if snapshots is not None else {}
    for name, host in stack["hosts"].items():
        if name not in snapshots:
            snapshots[name] = read_host(host)
        snap = snapshots[name]
        dom = snap.domain_by_uuid(sid)
        ifaces = [n for n, i in snap.interfaces.items()
                  if (i.get("external_ids") or {}).get("vm-uuid") == sid and "iface-id" in i["external_ids"]]
        if dom is not None or ifaces:
            return sid, name, snap, dom, ifaces
    raise LookupError("server {} runs on none of the hosts {}".format(server, ", ".join(stack["hosts"])))


def _nic_order(ports: list, dom: Domain | None) -> list:
    """Ports (with .mac) in the guest's NIC order."""
    if dom:
        order = [d.mac for d in dom.interfaces]
        ports.sort(key=lambda p: order.index(p.mac) if p.mac in order else len(order))
    return ports


# ------------------------------------------------------------------ ML2/OVN
# The same independence on an OVN stack: the hosts' own OVS/kernel/libvirt, and OVN's
# Southbound DB (read with ovn-sbctl in the root namespace, where OVN central runs) for what a
# host cannot say by itself: which chassis host the other ports of a datapath, their encap IPs,
# the localnet port of a provider network and its tag, the datapath's tunnel key.

def sb_table(stack: dict, table: str) -> list[dict]:
    """Rows of a Southbound table (ovn-sbctl --format=json)."""
    proc = subprocess.run(["ovn-sbctl", "--db=" + stack["ovn"]["sb_db"], "--no-leader-only",
                           "--timeout=10", "--format=json", "--data=json", "list", table],
                          capture_output=True, text=True, timeout=30, check=True)
    doc = json.loads(proc.stdout)
    return [{h: _ovsdb_value(v) for h, v in zip(doc["headings"], row)} for row in doc["data"]]


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else ([] if v in (None, "") else [v])


@dataclasses.dataclass
class Southbound:
    """The few Southbound facts the ground truth needs, read once."""
    chassis: dict[str, dict]          # name -> Chassis row (hostname, encaps)
    encap_ip: dict[str, str]          # chassis name -> its (first) encap IP
    bindings: dict[str, dict]         # logical_port -> Port_Binding row
    datapaths: dict[str, dict]        # _uuid -> Datapath_Binding row
    chassis_of: dict[str, str]        # Chassis _uuid -> name

    def binding(self, port_id: str) -> dict | None:
        return self.bindings.get(port_id)

    def on_datapath(self, dp: str, kind: str = "") -> list[dict]:
        return [b for b in self.bindings.values() if b["datapath"] == dp and b["type"] == kind]


def read_southbound(stack: dict) -> Southbound:
    encaps = {e["_uuid"]: e for e in sb_table(stack, "Encap")}
    chassis = {c["name"]: c for c in sb_table(stack, "Chassis")}
    return Southbound(
        chassis=chassis,
        encap_ip={n: encaps[e]["ip"] for n, c in chassis.items() for e in _as_list(c["encaps"])[:1]},
        bindings={b["logical_port"]: b for b in sb_table(stack, "Port_Binding")},
        datapaths={d["_uuid"]: d for d in sb_table(stack, "Datapath_Binding")},
        chassis_of={c["_uuid"]: n for n, c in chassis.items()})


@dataclasses.dataclass
class OvnTunnel:
    port: str           # the br-int tunnel interface (ovn-<chassis prefix>-N)
    chassis: str        # the remote chassis (OVS external_ids:ovn-chassis-id)
    remote_ip: str
    state: str | None


@dataclasses.dataclass
class OvnPortTruth:
    """One VIF on an OVN chassis, read from the host and the Southbound DB."""
    port_id: str
    host: str
    mac: str
    tap: str
    integration_bridge: str
    ovn_installed: bool
    sb_up: bool | None
    sb_chassis: str | None             # the chassis the SB binds the port to
    tunnel_key: int | None             # the datapath's tunnel key: the Geneve VNI on the wire
    network_id: str | None             # the datapath's external_ids name2/neutron:network id
    localnet: str | None = None        # provnet-<segment>: flat/VLAN networks
    physical_network: str | None = None
    localnet_tag: int | None = None    # None on a flat network
    near_patch: str | None = None      # patch-br-int-to-provnet-…
    far_patch: str | None = None
    physical_bridge: str | None = None
    physical_nics: list[str] = dataclasses.field(default_factory=list)
    vlan_flow: str | None = None       # br-int: mod_vlan_vid:TAG … output to the localnet patch
    tunnels: list[OvnTunnel] = dataclasses.field(default_factory=list)
    encap_ip: str | None = None
    underlay: str | None = None        # the device carrying ovn-encap-ip
    underlay_bridge: str | None = None
    underlay_nics: list[str] = dataclasses.field(default_factory=list)
    metadata_ns: str | None = None     # ovnmeta-<network> when present on the host
    domain_name: str | None = None
    libvirt: DomainInterface | None = None
    devices: dict[str, dict] = dataclasses.field(default_factory=dict)
    ovs_states: dict[str, str | None] = dataclasses.field(default_factory=dict)

    def hops(self) -> list[dict]:
        """Rows like `netpath show -f json` for an OVN port:

          0 guest-nic   libvirt domain name, the guest's MAC and MTU
          1 tap         kernel facts; on br-int, no VLAN (OVN has no local VLAN)
          2 ovs-bridge  br-int
          localnet: patch-br-int-to-provnet-X (peer the far end), patch-provnet-X-to-br-int
                    on the ovn-bridge-mappings bridge, that bridge with "VLAN <SB tag>" or
                    "untagged", its NIC(s)
          geneve:   one tunnel row per chassis hosting another VM port of the datapath
                    (peer = its encap IP), then the device with ovn-encap-ip (an OVS internal
                    port: kind ovs-port on its bridge) and that bridge's NIC(s)"""
        rows: list[dict] = []

        def add(device, kind, bridge=None, vlan=None, state=None, source="ovsdb", peer=None,
                kernel=False, mac=None, mtu=None):
            if kernel:
                dev = self.devices.get(device)
                mac, mtu, state = (None, None, "absent") if dev is None else (
                    dev.get("mac"), dev.get("mtu"), dev.get("state"))
            rows.append({"port": self.port_id, "hop": len(rows), "device": device, "kind": kind,
                         "bridge": bridge, "vlan": vlan, "mac": mac, "mtu": mtu, "state": state,
                         "source": source, "peer": peer})

        add(self.domain_name, "guest-nic", mac=self.mac,
            mtu=self.libvirt.mtu if self.libvirt else None, source="libvirt")
        add(self.tap, "tap", bridge=self.integration_bridge, source="kernel", kernel=True)
        add(self.integration_bridge, "ovs-bridge")
        if self.localnet:
            add(self.near_patch, "patch", bridge=self.integration_bridge, peer=self.far_patch,
                state=self.ovs_states.get(self.near_patch or ""))
            add(self.far_patch, "patch", bridge=self.physical_bridge, peer=self.near_patch,
                state=self.ovs_states.get(self.far_patch or ""))
            add(self.physical_bridge, "ovs-bridge",
                vlan="untagged" if self.localnet_tag is None else f"VLAN {self.localnet_tag}")
            for nic in self.physical_nics:
                add(nic, "nic", bridge=self.physical_bridge, source="kernel", kernel=True)
        elif self.tunnels:
            for t in self.tunnels:
                add(t.port, "tunnel", bridge=self.integration_bridge, state=t.state,
                    peer=t.remote_ip,
                    vlan=None if self.tunnel_key is None else f"VNI {self.tunnel_key}")
            if self.underlay:
                add(self.underlay, "ovs-port" if self.underlay_bridge else "nic",
                    bridge=self.underlay_bridge, source="kernel", kernel=True)
                for nic in self.underlay_nics:
                    add(nic, "nic", bridge=self.underlay_bridge, source="kernel", kernel=True)
        return rows


@dataclasses.dataclass
class OvnServerTruth(ServerTruth):
    ports: list[OvnPortTruth]  # type: ignore[assignment]
    chassis: dict = dataclasses.field(default_factory=dict)  # the host's Open_vSwitch external_ids


def open_vswitch(host: dict) -> dict:
    """The host's Open_vSwitch row (external_ids: system-id, ovn-encap-ip, mappings…)."""
    return _ovs_table(host, "Open_vSwitch")[0]


def host_namespaces(host: dict) -> list[str]:
    """Network namespaces in the host's own /run/netns."""
    return [n["name"] for n in json.loads(host_run(host, ["ip", "-j", "netns", "list"]) or "[]")]


def _bridge_nics(snap: HostSnapshot, bridge: str) -> list[str]:
    return [p for p in snap.bridges[bridge]["port_names"]
            if p != bridge and snap.interfaces[p].get("type") in ("", "system", None)]


def ovn_port_truth(snap: HostSnapshot, iface_name: str, domain: Domain | None, sb: Southbound,
                   ovs_ids: dict, namespaces: list[str]) -> OvnPortTruth:
    iface = snap.interfaces[iface_name]
    ext = iface.get("external_ids") or {}
    port_id = ext["iface-id"]
    br_int = snap.ports[iface_name]["bridge"]
    pb = sb.binding(port_id) or {}
    dp = sb.datapaths.get(pb.get("datapath", ""), {})
    dp_ids = dp.get("external_ids") or {}
    network_id = dp_ids.get("neutron:network_id") or (dp_ids.get("name", "")[len("neutron-"):] or None)
    chassis = _as_list(pb.get("chassis"))
    pt = OvnPortTruth(
        port_id=port_id, host=snap.name, mac=ext.get("attached-mac", ""), tap=iface_name,
        integration_bridge=br_int, ovn_installed=ext.get("ovn-installed") == "true",
        sb_up=_as_list(pb.get("up"))[0] if _as_list(pb.get("up")) else None,
        sb_chassis=sb.chassis_of.get(chassis[0]) if chassis else None,
        tunnel_key=dp.get("tunnel_key"), network_id=network_id)
    if domain:
        pt.domain_name = domain.name
        pt.libvirt = next((d for d in domain.interfaces if d.mac == pt.mac), None)
    if network_id and f"ovnmeta-{network_id}" in namespaces:
        pt.metadata_ns = f"ovnmeta-{network_id}"
    localnets = sb.on_datapath(pb.get("datapath", ""), "localnet") if pb else []
    if localnets:
        ln = localnets[0]
        pt.localnet = ln["logical_port"]
        pt.physical_network = (ln.get("options") or {}).get("network_name")
        tag = _as_list(ln.get("tag"))
        pt.localnet_tag = tag[0] if tag else None
        for pname in snap.bridges[br_int]["port_names"]:
            if (snap.ports[pname].get("external_ids") or {}).get("ovn-localnet-port") == pt.localnet:
                pt.near_patch, pt.far_patch = pname, snap.patch_peer(pname)
        if pt.far_patch in snap.ports:
            pt.physical_bridge = snap.ports[pt.far_patch]["bridge"]
            pt.physical_nics = _bridge_nics(snap, pt.physical_bridge)
            ofp = snap.name_ofport(pt.near_patch)
            for fl in snap.flows.get(br_int, []):
                acts = fl.actions
                if re.search(rf"output:(\"?{re.escape(pt.near_patch)}\"?|{ofp})(,|$)", acts) and (
                        (pt.localnet_tag is None and "mod_vlan_vid" not in acts) or
                        f"mod_vlan_vid:{pt.localnet_tag}," in acts):
                    pt.vlan_flow = fl.raw
    elif pb:
        # chassis hosting the other VM ports of this datapath (not this one)
        here = ovs_ids.get("system-id")
        others = sorted({sb.chassis_of[c] for b in sb.on_datapath(pb["datapath"], "")
                         for c in _as_list(b.get("chassis")) if c in sb.chassis_of} - {here})
        tun_by_remote = {(snap.interfaces[p].get("options") or {}).get("remote_ip"): p
                         for p in snap.bridges[br_int]["port_names"]
                         if snap.interfaces[p].get("type") == "geneve"}
        for name in others:
            ip = sb.encap_ip.get(name, "")
            port = tun_by_remote.get(ip)
            if port:
                pt.tunnels.append(OvnTunnel(port=port, chassis=name, remote_ip=ip,
                                            state=snap.interfaces[port].get("link_state") or None))
        pt.encap_ip = ovs_ids.get("ovn-encap-ip")
        for ifname, addrs in snap.addresses.items():
            if pt.encap_ip in addrs:
                pt.underlay = ifname
        if pt.underlay in snap.ports and snap.interfaces[pt.underlay].get("type") == "internal":
            pt.underlay_bridge = snap.ports[pt.underlay]["bridge"]
            pt.underlay_nics = _bridge_nics(snap, pt.underlay_bridge)
    for name in [pt.tap, pt.near_patch, pt.far_patch]:
        if name and name in snap.interfaces:
            pt.ovs_states[name] = snap.interfaces[name].get("link_state") or None
    for dev in [pt.tap, pt.underlay] + pt.physical_nics + pt.underlay_nics:
        ln = snap.links.get(dev) if dev else None
        if ln:
            pt.devices[dev] = {"mac": ln.get("address"), "mtu": ln.get("mtu"),
                               "state": ln.get("operstate")}
    return pt


def read_ovn_server(stack: dict, server: str, snapshots: dict[str, HostSnapshot] | None = None,
                    sb: Southbound | None = None) -> OvnServerTruth:
    """Ground truth of a server on an OVN stack (by label or UUID): the host whose libvirt runs
    it, its VIFs (OVS interfaces with external_ids:vm-uuid) in guest NIC order."""
    sb = sb or read_southbound(stack)
    sid, name, snap, dom, ifaces = _locate(stack, server, snapshots)
    host = stack["hosts"][name]
    ids = open_vswitch(host).get("external_ids") or {}
    nss = host_namespaces(host)
    ports = _nic_order([ovn_port_truth(snap, n, dom, sb, ids, nss) for n in ifaces], dom)
    return OvnServerTruth(server_id=sid, host=name, domain=dom, ports=ports, chassis=ids)


# ------------------------------------------------------------------ agents' ports (network node)

@dataclasses.dataclass
class NsDevice:
    """A device inside a network namespace of a host, as `ip -n NS -j -d link/addr` shows it."""
    namespace: str
    name: str
    mac: str | None
    mtu: int | None
    state: str | None
    kind: str | None
    addresses: list[str]  # "10.77.1.1/24"


def namespace_devices(host: dict, ns: str) -> dict[str, NsDevice]:
    """Every device of namespace ``ns`` on ``host`` but lo: read inside the namespace (the
    userspace datapath's OVS does not know an internal port's MAC once it is moved there)."""
    links = json.loads(host_run(host, ["ip", "-n", ns, "-j", "-d", "link", "show"]) or "[]")
    addrs = {a["ifname"]: [f"{x['local']}/{x['prefixlen']}" for x in a.get("addr_info", [])]
             for a in json.loads(host_run(host, ["ip", "-n", ns, "-j", "addr", "show"]) or "[]")}
    return {ln["ifname"]: NsDevice(namespace=ns, name=ln["ifname"], mac=ln.get("address"),
                                   mtu=ln.get("mtu"), state=ln.get("operstate"),
                                   kind=(ln.get("linkinfo") or {}).get("info_kind"),
                                   addresses=addrs.get(ln["ifname"], []))
            for ln in links if ln["ifname"] != "lo"}


@dataclasses.dataclass
class AgentPortTruth:
    """A DHCP or router port as its host has it: the OVS interface with its iface-id (and local
    VLAN on br-int), the namespace that holds the device (found by looking, never assumed),
    the device read inside it, and the way to the uplink (as for a VM port, from br-int on)."""
    port_id: str
    host: str
    ovs_name: str
    local_vlan: int | None
    namespace: str | None
    device: NsDevice | None
    base: PortTruth

    def hops(self) -> list[dict]:
        """Rows shaped like `netpath port show -f json`: the namespace (its MAC is the device's
        inside it; its state is the API's port status and is not a host fact), the device in
        it on br-int with the local VLAN, then br-int and the way out as ``PortTruth.hops``."""
        rows: list[dict] = []
        dev = self.device
        if self.namespace:
            rows.append({"port": self.port_id, "device": self.namespace, "kind": "namespace",
                         "bridge": None, "vlan": None, "mac": dev.mac if dev else None,
                         "mtu": None, "peer": None})
        if dev is not None:
            rows.append({"port": self.port_id, "device": dev.name, "kind": "ns-device",
                         "bridge": self.base.integration_bridge,
                         "vlan": None if self.local_vlan is None else str(self.local_vlan),
                         "mac": dev.mac, "mtu": dev.mtu, "state": dev.state, "peer": None})
        base = self.base.hops()
        start = next(i for i, r in enumerate(base) if r["kind"] == "ovs-bridge")
        rows += [dict(r, port=self.port_id) for r in base[start:]]
        for i, r in enumerate(rows):
            r["hop"] = i
        return rows


def read_agent_port(stack: dict, port_id: str,
                    snapshots: dict[str, HostSnapshot] | None = None,
                    on: str | None = None) -> AgentPortTruth:
    """Ground truth of an agent's port (DHCP, qr-, qg-…): the host whose OVS has an interface
    with ``external_ids:iface-id`` = the port, and the namespace there whose links hold it.
    ``on``: that host only (a DVR router's distributed interface is on every compute)."""
    snapshots = snapshots if snapshots is not None else {}
    for name, host in stack["hosts"].items():
        if on is not None and name != on:
            continue
        if name not in snapshots:
            snapshots[name] = read_host(host)
        snap = snapshots[name]
        found = [n for n, i in snap.interfaces.items()
                 if (i.get("external_ids") or {}).get("iface-id") == port_id]
        if not found:
            continue
        iface = found[0]
        tag = snap.ports[iface].get("tag")
        where = None
        for ns in host_namespaces(host):
            devices = namespace_devices(host, ns)
            if iface in devices:
                where = devices[iface]
                break
        return AgentPortTruth(port_id=port_id, host=name, ovs_name=iface,
                              local_vlan=tag if isinstance(tag, int) else None,
                              namespace=where.namespace if where else None, device=where,
                              base=port_truth(snap, iface, None))
    raise LookupError(f"port {port_id} is on no host's OVS ({', '.join(stack['hosts'])})")


def nat_rules(host: dict, ns: str) -> str:
    """``iptables-save -t nat`` inside a router's namespace (the floating IPs' DNAT/SNAT)."""
    return host_run(host, ["nsenter", f"--net=/run/netns/{ns}", "iptables-save", "-t", "nat"])


def restart_agent(host: dict, agent: str) -> None:
    """Kill a host's Neutron ``agent`` ("dhcp", "l3": its process group, as up.sh's hsvc
    started it) and start it again the same way: on start it sets up every network or router
    it hosts again, the way an operator repairs a device deleted behind its back."""
    pidfile = os.path.join(host["dir"], "run", f"{agent}-agent.pid")
    with open(pidfile) as f:
        pid = int(f.read())
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    d = os.path.dirname(os.path.dirname(host["dir"]))  # $NPSTACK_DIR
    log = open(os.path.join(host["logs"], f"{agent}-agent.out"), "a")  # noqa: SIM115
    proc = subprocess.Popen(
        ["nsenter", "-t", str(host["anchor_pid"]), "-m", "-u", "-n", "--",
         os.path.join(d, "venv", "bin", f"neutron-{agent}-agent"),
         "--config-file", os.path.join(d, "etc", "neutron", "neutron.conf"),
         "--config-file", os.path.join(host["dir"], "etc", f"{agent}_agent.ini"),
         "--log-file", os.path.join(host["logs"], f"{agent}-agent.log")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        cwd=d, env=dict(os.environ, PATH=os.path.join(d, "venv", "bin") + ":" + os.environ["PATH"]))
    log.close()
    with open(pidfile, "w") as f:
        f.write(f"{proc.pid}\n")
