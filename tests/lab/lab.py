"""Hypervisors in a box: build / tear down the lab described in ``topology.py``.

Each hypervisor is a network namespace ``nplab-<host>`` holding a private mount namespace (a tmpfs
on /run, that host's OVS run dir bind-mounted on /run/openvswitch), its own ovsdb-server and
ovs-vswitchd (userspace datapath: the kernel has no OVS module) and a real OpenSSH sshd on its
management address. The root namespace reaches the hosts over veths on the bridge ``nplab-br0``
(198.19.201.0/24, never routed anywhere). Plain ``ovs-vsctl``/``ip netns list`` over SSH see only
that host, like on a real hypervisor.

    python -m tests.lab.lab up|down|status|env      (as root)

Everything this creates is named ``nplab-…`` or lives under the state dir; ``down`` removes only
that (processes found through the ``nplab-`` namespaces or the recorded PIDs), so it is safe next
to other labs (``nprec-``, ``npstack-``) and idempotent.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.lab.topology import LAB, ROOT_IP, SUBNET, Host, Topology

PREFIX = "nplab-"
ROOT_BRIDGE = "nplab-br0"
STATE_DIR = Path(os.environ.get("NPLAB_STATE", "/tmp/nplab"))
SSH_PORT = 22
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
SSHD = "/usr/sbin/sshd"  # sshd re-execs itself: absolute path required
TOOLS = ("ip", "nsenter", "unshare", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl",
         "ovs-ofctl", "ssh-keygen", "mount", "ethtool")
APT_PACKAGES = ("openvswitch-switch", "openssh-server", "openssh-client", "iproute2",
                "util-linux", "mount", "ethtool", "podman", "runc", "podman-docker")
# The kolla-style host (kolla.py): podman with runc (crun fails here), podman-docker's `docker`.
CONTAINER_TOOLS = ("podman", "runc", "conmon")
PODMAN_DOCKER = "/usr/bin/docker"  # podman-docker's wrapper (another `docker` may come first)


class LabError(RuntimeError):
    pass


def missing_prerequisites(containers: bool = False) -> list[str]:
    """Why the lab (``containers``: and its container runtime) cannot be built here."""
    missing = []
    if containers:
        missing += [f"{tool} not found" for tool in CONTAINER_TOOLS if shutil.which(tool) is None]
        if not os.path.exists(PODMAN_DOCKER):
            missing.append(f"{PODMAN_DOCKER} missing (podman-docker)")
    if os.geteuid() != 0:
        missing.append("must run as root (namespaces, veths, OVS)")
    for tool in TOOLS:
        if shutil.which(tool) is None:
            missing.append(f"{tool} not found")
    for path, why in ((SSHD, "openssh-server"), (OVS_SCHEMA, "openvswitch-switch"),
                      ("/dev/net/tun", "the tun driver (OVS userspace datapath)")):
        if not os.path.exists(path):
            missing.append(f"{path} missing ({why})")
    if missing:
        missing.append(f"apt packages: {' '.join(APT_PACKAGES)}")
    return missing


def sh(*argv: str, input: str | None = None, check: bool = True, timeout: float = 30) -> str:
    """Run a command (no shell) and return stdout; raise LabError with stderr on failure."""
    proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: rc={proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class LabHost:
    """One running hypervisor: how to reach it and how to read its ground truth."""

    spec: Host
    dir: Path
    anchor_pid: int  # `sleep infinity` holding the host's mount namespace

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def netns(self) -> str:
        return self.spec.netns

    @property
    def address(self) -> str:
        return self.spec.mgmt_ip

    @property
    def port(self) -> int:
        return SSH_PORT

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def host_key_pub(self) -> Path:
        return self.dir / "ssh_host_ed25519_key.pub"

    @property
    def sshd_log(self) -> Path:
        return self.dir / "sshd.log"

    def run(self, *argv: str, check: bool = True, input: str | None = None) -> str:
        """Run on the host, in its net and mount namespaces (what an SSH session sees)."""
        return sh("nsenter", "-t", str(self.anchor_pid), "-n", "-m", "-u", "--", *argv,
                  input=input, check=check)

    def vsctl(self, *args: str) -> str:
        return self.run("ovs-vsctl", "--timeout=10", *args)

    def ofctl(self, *args: str, input: str | None = None) -> str:
        return self.run("ovs-ofctl", *args, input=input)

    def ovs_table(self, table: str) -> list[dict[str, Any]]:
        """Rows of an OVS table as {column: python value} (sets/maps decoded)."""
        data = json.loads(self.vsctl("--format=json", "--data=json", "list", table))
        return [{k: _ovs_value(v) for k, v in zip(data["headings"], row, strict=True)}
                for row in data["data"]]

    def links(self) -> list[dict[str, Any]]:
        return json.loads(self.run("ip", "-j", "-d", "link", "show"))

    def sshd_accepted(self) -> int:
        """Logins sshd accepted (its own log: server-side ground truth)."""
        return _count(self.sshd_log, "Accepted publickey")

    def sshd_commands(self) -> int:
        """Remote commands sshd started."""
        return _count(self.sshd_log, "Starting session: command")


def _count(path: Path, needle: str) -> int:
    try:
        return path.read_text(errors="replace").count(needle)
    except FileNotFoundError:
        return 0


def _ovs_value(v: Any) -> Any:
    if isinstance(v, list) and len(v) == 2 and v[0] in ("set", "map", "uuid", "named-uuid"):
        kind, inner = v
        if kind == "set":
            return [_ovs_value(x) for x in inner]
        if kind == "map":
            return {k: _ovs_value(x) for k, x in inner}
        return inner
    return v


class LabLock:
    """One lab user at a time on this machine (two pytest runs would tear down each other's
    lab). An abstract unix socket: the kernel frees it when the holder exits; no file left."""

    NAME = "\0nplab-lab-lock"

    def __init__(self) -> None:
        self._sock: socket.socket | None = None

    def acquire(self, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(self.NAME)
                self._sock = sock
                return
            except OSError:
                sock.close()
            if time.monotonic() > deadline:
                raise LabError("another process holds the lab (a test run?) for too long")
            if not announced:
                print("lab: waiting for another lab user to finish", file=sys.stderr)
                announced = True
            time.sleep(1)

    def release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Lab:
    """The lab on this machine. ``up()`` builds it from scratch, ``down()`` removes it."""

    root_bridge = ROOT_BRIDGE  # where the hosts' eth0 peers join (ovn.py has its own)

    def __init__(self, topology: Topology = LAB, state_dir: Path = STATE_DIR) -> None:
        self.topology = topology
        self.state_dir = state_dir
        self.hosts: dict[str, LabHost] = {}
        self.lock = LabLock()

    # -- what tests use ---------------------------------------------------------------------

    @property
    def client_key(self) -> Path:
        return self.state_dir / "client" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "client" / "known_hosts"

    @property
    def root_ip(self) -> str:
        return ROOT_IP

    def host(self, name: str) -> LabHost:
        return self.hosts[name]

    def netpath_settings(self, address: str = "hosts", **extra: Any) -> dict[str, Any]:
        """A clouds.yaml ``netpath:`` mapping that reaches the lab, hermetic (no ~/.ssh/config,
        no agent). ``address="hosts"``: a per-host map; ``"host_ip"``: the hypervisor API's
        host_ip (the topology's mgmt_ip) must be in the API facts."""
        settings: dict[str, Any] = {
            "ssh_user": "root",
            "ssh_port": SSH_PORT,
            "identity_file": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "ssh_config": False,
            "ssh_agent": False,
            "connect_timeout": 5,
            "command_timeout": 30,
        }
        if address == "hosts":
            settings["hosts"] = {h.name: h.address for h in self.hosts.values()}
        else:
            settings["address"] = address
        settings.update(extra)
        return settings

    def write_clouds_yaml(self, path: Path, cloud: str = "nplab",
                          cloud_entry: dict[str, Any] | None = None, **settings: Any) -> Path:
        """Write a clouds.yaml whose cloud ``cloud`` carries the lab's ``netpath:`` block.
        ``cloud_entry`` adds auth/endpoints (e.g. for a replayed or mocked API)."""
        import yaml

        entry = {"auth_type": "none", "auth": {"endpoint": "http://127.0.0.1:9/"}}
        entry.update(cloud_entry or {})
        entry["netpath"] = self.netpath_settings(**settings)
        path.write_text(yaml.safe_dump({"clouds": {cloud: entry}}, sort_keys=False))
        return path

    def subprocess_env(self, clouds_yaml: Path, cloud: str = "nplab") -> dict[str, str]:
        """Environment for ``openstack netpath …`` subprocesses: only this clouds.yaml, no OS_*
        leaking in, HOME isolated so no ~/.ssh/config or known_hosts of the machine applies."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OS_") and k != "SSH_AUTH_SOCK"}
        home = self.state_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env.update(OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD=cloud, HOME=str(home))
        return env

    def ssh_target(self, name: str, **overrides: Any) -> Any:
        """A transport SshTarget for host ``name`` with the good, verified defaults (a name that
        is not a lab host needs ``address=``)."""
        from osc_netpath.host.transport import SshTarget

        h = self.hosts.get(name)
        kwargs: dict[str, Any] = {
            "host": name, "address": h.address if h else None, "port": SSH_PORT,
            "username": "root",
            "identity_files": [str(self.client_key)], "known_hosts": str(self.known_hosts),
            "connect_timeout": 5.0, "command_timeout": 30.0, "use_ssh_config": False,
            "agent": False,
        }
        kwargs.update(overrides)
        return SshTarget(**kwargs)

    def describe(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.state_dir),
            "client_key": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "root_ip": ROOT_IP,
            "hosts": {n: {"netns": h.netns, "address": h.address, "port": h.port,
                          "anchor_pid": h.anchor_pid, "dir": str(h.dir)}
                      for n, h in self.hosts.items()},
        }

    @classmethod
    def attach(cls, topology: Topology = LAB, state_dir: Path = STATE_DIR) -> Lab:
        """The lab a previous ``up`` left running (from its state file)."""
        lab = cls(topology, state_dir)
        try:
            state = json.loads((state_dir / "state.json").read_text())
        except FileNotFoundError:
            raise LabError(f"no lab state in {state_dir}: run `python -m tests.lab.lab up`") \
                from None
        for name, info in state["hosts"].items():
            if any(h.name == name for h in topology.hosts):  # not hosts another module added
                lab.hosts[name] = LabHost(topology.host(name), Path(info["dir"]),
                                          info["anchor_pid"])
        return lab

    # -- build ------------------------------------------------------------------------------

    def up(self) -> Lab:
        """Build the lab afresh (removing any left by a crashed or by-hand run). Holds the lab
        lock until :meth:`down` or the end of this process."""
        missing = self._missing()
        if missing:
            raise LabError("; ".join(missing))
        self.lock.acquire()
        self._remove()
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        try:
            self._remove()
        finally:
            self.lock.release()

    def _missing(self) -> list[str]:
        """Why this lab cannot be built here (another lab, e.g. ovn.py, adds its needs)."""
        return missing_prerequisites()

    def _remove(self) -> None:
        """Everything of this lab on the machine, whoever left it (another lab: its own)."""
        down(self.state_dir)

    def _build(self) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True)
        client = self.state_dir / "client"
        client.mkdir()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nplab-client",
           "-f", str(self.client_key))
        (client / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())

        sh("ip", "link", "add", ROOT_BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{ROOT_IP}/{SUBNET.prefixlen}", "dev", ROOT_BRIDGE)
        sh("ip", "link", "set", ROOT_BRIDGE, "up")
        for spec in self.topology.hosts:
            self.hosts[spec.name] = self._start_host(spec)
            self._save()
        for h in self.hosts.values():
            self._wire(h)
        for h in self.hosts.values():
            _wait_tcp(h.address, h.port, timeout=10)
        lines = []
        for h in self.hosts.values():
            keytype, key = h.host_key_pub.read_text().split()[:2]
            lines.append(f"{h.address} {keytype} {key}\n")
        self.known_hosts.write_text("".join(lines))
        self._save()

    def _save(self) -> None:
        state = self.describe()
        state["pids"] = {n: _recorded_pids(h) for n, h in self.hosts.items()}
        (self.state_dir / "state.json").write_text(json.dumps(state, indent=1))

    def _start_host(self, spec: Host) -> LabHost:
        host = self._anchor(spec)
        self._start_ovs(host)
        self._start_sshd(host)
        return host

    def add_host(self, spec: Host, topology: Topology, start_ovs: Callable[[LabHost], None],
                 host_class: type[LabHost] = LabHost) -> LabHost:
        """One more host on the running lab, from its own topology (hv1/hv2 stay as they are):
        ``start_ovs`` stands in for the host's own ovsdb-server/ovs-vswitchd."""
        host = self._anchor(spec, host_class)
        self.hosts[spec.name] = host
        self._save()
        start_ovs(host)
        self._start_sshd(host)
        self._wire(host, topology)
        _wait_tcp(host.address, host.port, timeout=10)
        keytype, key = host.host_key_pub.read_text().split()[:2]
        with self.known_hosts.open("a") as fh:
            fh.write(f"{host.address} {keytype} {key}\n")
        self._save()
        return host

    def remove_host(self, name: str) -> None:
        """Undo :meth:`add_host` (idempotent): its processes, netns, root link, known_hosts
        line and dir; ``lab.down()`` would remove them too, this leaves the rest running."""
        host = self.hosts.pop(name, None)
        ns = host.netns if host else f"{PREFIX}{name}"
        pids = {int(p) for p in sh("ip", "netns", "pids", ns, check=False).split()}
        if host is not None and _netns_inode(host.anchor_pid) is not None:
            pids.add(host.anchor_pid)
        _kill({p for p in pids if not _zombie(p)})
        for pid in pids:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", ns, check=False)
        if host is not None and self.known_hosts.exists():
            lines = self.known_hosts.read_text().splitlines(keepends=True)
            self.known_hosts.write_text("".join(
                ln for ln in lines if not ln.startswith(f"{host.address} ")))
        shutil.rmtree(self.state_dir / name, ignore_errors=True)
        if self.state_dir.exists():
            self._save()

    def _anchor(self, spec: Host, host_class: type[LabHost] = LabHost) -> LabHost:
        """The host's netns, its veth to the root bridge and its mount/UTS namespace anchor."""
        hdir = self.state_dir / spec.name
        (hdir / "run").mkdir(parents=True)
        ns = spec.netns
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", ns, "master", self.root_bridge, "up")
        sh("ip", "-n", ns, "addr", "add", f"{spec.mgmt_ip}/{SUBNET.prefixlen}", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")

        # The anchor: a private mount namespace with its own /run and its own /root (this
        # machine's root dotfiles are not the hypervisor's) and its own hostname (UTS), kept
        # alive by `sleep`. Everything of this host (daemons, SSH sessions, nsenter) lives in it.
        (hdir / "home").mkdir(mode=0o700)
        script = ('mount -t tmpfs -o mode=0755 nplab-run /run && '
                  'mkdir -p /run/sshd /run/openvswitch /run/netns && '
                  'mount --bind "$1" /run/openvswitch && mount --bind "$2" /root && '
                  'hostname "$3" && echo ready && exec sleep infinity')
        anchor = subprocess.Popen(
            ["ip", "netns", "exec", ns, "unshare", "-m", "-u", "--propagation", "private", "--",
             "sh", "-c", script, "nplab-anchor", str(hdir / "run"), str(hdir / "home"),
             spec.name],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )
        assert anchor.stdout is not None
        if anchor.stdout.readline().strip() != "ready":
            err = anchor.stderr.read() if anchor.stderr else ""
            raise LabError(f"{spec.name}: namespace anchor failed: {err.strip()}")
        anchor.stdout.close()
        if anchor.stderr:
            anchor.stderr.close()
        return host_class(spec, hdir, anchor.pid)

    def _start_ovs(self, host: LabHost) -> None:
        hdir, spec = host.dir, host.spec
        db = hdir / "conf.db"
        sh("ovsdb-tool", "create", str(db), OVS_SCHEMA)
        host.run("ovsdb-server", str(db), "--remote=punix:/run/openvswitch/db.sock",
                 "--pidfile=/run/openvswitch/ovsdb-server.pid",
                 "--unixctl=/run/openvswitch/ovsdb-server.ctl",
                 f"--log-file={hdir / 'ovsdb-server.log'}", "--detach", "--no-chdir")
        host.run("ovs-vsctl", "--no-wait", "init")
        host.run("ovs-vswitchd", "unix:/run/openvswitch/db.sock",
                 "--pidfile=/run/openvswitch/ovs-vswitchd.pid",
                 f"--log-file={hdir / 'ovs-vswitchd.log'}", "--detach", "--no-chdir")
        host.vsctl("set", "Open_vSwitch", ".", f"external_ids:hostname={spec.name}",
                   f"external_ids:system-id={spec.name}")

    def _start_sshd(self, host: LabHost) -> None:
        hdir, spec = host.dir, host.spec
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"nplab-{spec.name}",
           "-f", str(hdir / "ssh_host_ed25519_key"))
        (hdir / "sshd_config").write_text(_SSHD_CONFIG.format(
            address=spec.mgmt_ip, port=SSH_PORT, dir=hdir,
            authorized=self.state_dir / "client" / "authorized_keys",
        ))
        host.run(SSHD, "-f", str(hdir / "sshd_config"), "-E", str(host.sshd_log))

    def _wire(self, h: LabHost, topology: Topology | None = None) -> None:
        """Bridges, patches, NICs, tunnels, VM ports and flows: what os-vif and the agent do."""
        topo, spec = topology or self.topology, h.spec
        vs: list[str] = []

        def cmd(*args: str) -> None:
            vs.extend(["--", *args])

        for br in topo.bridges(spec.name):
            cmd("add-br", br)
            cmd("set", "Bridge", br, "datapath_type=netdev", "fail_mode=secure",
                "protocols=OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15",
                f"external_ids:bridge-id={br}")
        for physnet, br in sorted(spec.bridge_mappings.items()):
            _patch(cmd, "br-int", f"int-{br}", br, f"phy-{br}")
        if "br-tun" in topo.bridges(spec.name):
            _patch(cmd, "br-int", "patch-tun", "br-tun", "patch-int")
        for br, nic in sorted(spec.uplinks.items()):
            h.run("ip", "link", "add", nic, "type", "veth", "peer", "name", f"{nic}-sw")
            for dev in (nic, f"{nic}-sw"):
                h.run("ip", "link", "set", dev, "up")
            cmd("add-port", br, nic)
        for name, local_ip, remote_ip in topo.tunnels(spec.name):
            cmd("add-port", "br-tun", name)
            cmd("set", "Interface", name, "type=vxlan", f"options:remote_ip={remote_ip}",
                f"options:local_ip={local_ip}", "options:key=flow", "options:in_key=flow",
                "options:out_key=flow", "options:df_default=true", "options:egress_pkt_mark=0")
        for port in topo.ports_on(spec.name):
            net = topo.network(port.network_id)
            server = topo.server(port.server_id)
            mtu = str(net.mtu)
            h.run("ip", "tuntap", "add", "dev", port.tap, "mode", "tap")
            h.run("ip", "link", "set", port.tap, "address", _tap_mac(port.mac), "mtu", mtu)
            if spec.hybrid:
                h.run("ip", "link", "add", port.qbr, "type", "bridge", "forward_delay", "0",
                      "stp_state", "0")
                h.run("ip", "link", "add", port.qvb, "type", "veth", "peer", "name", port.qvo)
                for dev in (port.qvb, port.qvo):
                    h.run("ip", "link", "set", dev, "mtu", mtu)
                h.run("ip", "link", "set", port.qvb, "master", port.qbr)
                h.run("ip", "link", "set", port.tap, "master", port.qbr)
                for dev in (port.qbr, port.qvb, port.qvo, port.tap):
                    h.run("ip", "link", "set", dev, "up")
            else:
                h.run("ip", "link", "set", port.tap, "up")
            ovs_port = topo.ovs_port_of(port)
            cmd("add-port", "br-int", ovs_port)
            cmd("set", "Port", ovs_port, f"tag={port.local_vlan}")
            if port.local_vlan != 4095:
                # neutron: str(physical_network) ("None" for tunnels); no segmentation_id for flat
                other = {"net_uuid": net.id, "network_type": net.network_type,
                         "physical_network": str(net.physical_network),
                         "tag": str(port.local_vlan)}
                if net.segmentation_id is not None:
                    other["segmentation_id"] = str(net.segmentation_id)
                cmd("set", "Port", ovs_port,
                    *(f'other_config:{k}="{v}"' for k, v in other.items()))
            cmd("set", "Interface", ovs_port, f"external_ids:iface-id={port.id}",
                "external_ids:iface-status=active", f'external_ids:attached-mac="{port.mac}"',
                f"external_ids:vm-uuid={server.id}")
        h.vsctl(*vs[1:])
        flows: dict[str, list[str]] = {}
        for flow in topo.flows(spec.name):
            flows.setdefault(flow.bridge, []).append(flow.spec())
        for br, lines in flows.items():
            h.ofctl("-O", "OpenFlow13", "del-flows", br)
            h.ofctl("-O", "OpenFlow13", "add-flows", br, "-", input="\n".join(lines) + "\n")


def _patch(cmd: Any, br_a: str, name_a: str, br_b: str, name_b: str) -> None:
    cmd("add-port", br_a, name_a)
    cmd("set", "Interface", name_a, "type=patch", f"options:peer={name_b}")
    cmd("add-port", br_b, name_b)
    cmd("set", "Interface", name_b, "type=patch", f"options:peer={name_a}")


def _tap_mac(guest_mac: str) -> str:
    """libvirt gives the host-side tap the guest MAC with the first octet set to 0xfe."""
    return "fe:" + guest_mac.split(":", 1)[1]


_SSHD_CONFIG = """\
# nplab: one hypervisor's sshd; key-only root login, everything else off.
ListenAddress {address}:{port}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding local
MaxStartups 100:30:200
LogLevel VERBOSE
"""


def _wait_tcp(address: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise LabError(f"sshd on {address}:{port} did not come up")
        time.sleep(0.05)


# -- teardown ------------------------------------------------------------------------------


def _netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _recorded_pids(h: LabHost) -> list[list[int]]:
    """[pid, netns inode] of the host's anchor and daemons (inode guards against PID reuse)."""
    pids = [h.anchor_pid]
    for name in ("ovsdb-server.pid", "ovs-vswitchd.pid"):
        pids.append(_read_pid(h.run_dir / name))
    pids.append(_read_pid(h.dir / "sshd.pid"))
    # only processes in the host's netns: a pidfile written in a container says "1"
    own = _netns_inode(h.anchor_pid)
    return [[p, ino] for p in pids if p and (ino := _netns_inode(p)) and ino == own]


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def lab_namespaces(prefix: str = PREFIX) -> list[str]:
    out = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in out.splitlines()
            if line.strip() and line.split()[0].startswith(prefix)]


def root_links(prefix: str = PREFIX) -> list[str]:
    """The root namespace's links named ``prefix…`` (the hosts' veth ends, the bridge)."""
    links = json.loads(sh("ip", "-j", "link", "show", check=False) or "[]")
    return [n for link in links if (n := link.get("ifname", "")).startswith(prefix)]


def _lab_pids(state_dir: Path = STATE_DIR) -> set[int]:
    """Processes of the lab: in an nplab- netns, or in a mount namespace with an nplab run dir
    on /run/openvswitch (catches strays whose netns name is already gone), or recorded."""
    pids: set[int] = set()
    for ns in lab_namespaces():
        pids |= {int(p) for p in sh("ip", "netns", "pids", ns, check=False).split()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            mounts = Path(f"/proc/{entry}/mountinfo").read_text()
        except OSError:
            continue
        for line in mounts.splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[4] == "/run/openvswitch" and "nplab" in fields[3]:
                pids.add(int(entry))
                break
    try:
        state = json.loads((state_dir / "state.json").read_text())
        for recorded in state.get("pids", {}).values():
            pids |= {pid for pid, ino in recorded if _netns_inode(pid) == ino}
    except (OSError, ValueError):
        pass
    pids.discard(os.getpid())
    return {p for p in pids if not _zombie(p)}


def _kill(pids: set[int]) -> None:
    """TERM, then KILL; then give the reaper (PID 1 for detached daemons) a moment."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        pids = _wait_gone(pids, wait, zombies_count_as_gone=True)
        if not pids:
            break


def _wait_gone(pids: set[int], wait: float, zombies_count_as_gone: bool) -> set[int]:
    deadline = time.monotonic() + wait
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if os.path.exists(f"/proc/{p}")
                 and not (zombies_count_as_gone and _zombie(p))}
        time.sleep(0.05)
    return alive


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def down(state_dir: Path = STATE_DIR) -> None:
    """Remove every trace of the lab: processes, namespaces, root links, the state dir."""
    remove(_lab_pids(state_dir), PREFIX, state_dir)


def remove(pids: set[int], prefix: str, state_dir: Path) -> None:
    """Kill a lab's ``pids``, then delete its ``prefix…`` namespaces and root links and its
    state dir (ovn.py's lab shares this with its own names)."""
    _kill(pids)
    for pid in pids:  # reap anchors this process started
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    _wait_gone(pids, 3.0, zombies_count_as_gone=False)
    for ns in lab_namespaces(prefix):
        sh("ip", "netns", "del", ns, check=False)
    for name in root_links(prefix):
        sh("ip", "link", "del", name, check=False)
    if state_dir.exists():
        shutil.rmtree(state_dir)


def leftovers() -> list[str]:
    """What of the lab is still on the machine (for teardown checks)."""
    found = [f"netns {ns}" for ns in lab_namespaces()]
    for link in json.loads(sh("ip", "-j", "link", "show", check=False) or "[]"):
        if link.get("ifname", "").startswith(PREFIX):
            found.append(f"link {link['ifname']}")
    for pid in sorted(_lab_pids()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        found.append(f"process {pid}: {cmdline.decode(errors='replace')[:100]}")
    if STATE_DIR.exists():
        found.append(f"dir {STATE_DIR}")
    return found


def main(argv: list[str]) -> int:
    usage = "usage: python -m tests.lab.lab up|down|status|env"
    if len(argv) != 1 or argv[0] not in ("up", "down", "status", "env"):
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "up":
            lab = Lab().up()
            print(json.dumps(lab.describe(), indent=1))
            print("netpath settings for clouds.yaml:\n"
                  + json.dumps(lab.netpath_settings(), indent=1))
        elif argv[0] == "down":
            lock = LabLock()
            try:
                lock.acquire(timeout=0)
            except LabError:
                raise LabError("a test session is using the lab; it removes the lab when it "
                               "ends") from None
            down()
            lock.release()
            rest = leftovers()
            print("lab down" + (f"; left: {rest}" if rest else ", nothing left"))
            return 1 if rest else 0
        elif argv[0] == "status":
            print(json.dumps({"namespaces": lab_namespaces(), "leftovers": leftovers()},
                             indent=1))
        else:
            print(json.dumps(Lab.attach().netpath_settings(), indent=1))
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
