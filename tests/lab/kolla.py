"""A kolla-style hypervisor in the lab: Open vSwitch and a libvirt reader in real containers.

``kolla1`` is a lab host like hv1 (netns + private mount/UTS namespace + sshd, see lab.py; its
own topology, ``topology.KOLLA``) where, as on a kolla-ansible or TripleO compute:

- ovsdb-server runs in the podman container ``openvswitch_db`` and ovs-vswitchd in
  ``openvswitch_vswitchd`` (kolla's names), each in the foreground as the container's PID 1, on
  the host network, sharing /run/openvswitch; ovs-vswitchd privileged (it opens /dev/net/tun);
- ``nova_libvirt`` holds a libvirt-like reader: a ``virsh`` that answers ``dumpxml`` and
  ``domstate`` from the domain XML libvirt keeps (/run/libvirt/qemu live, /etc/libvirt/qemu
  defined). This machine has no libvirtd or qemu, so there is no real libvirt to containerise.
  That container has no usable ``timeout`` (a stub is bound over it): the probe must do without;
- the host itself has no usable ovs-vsctl, ovs-ofctl or virsh on the SSH session's PATH
  (non-executable files bound over them in its mount namespace): only the probe's auto-detection
  can find the containers; ``docker`` there is podman-docker's wrapper (bound over any other
  docker CLI this machine has first on PATH, e.g. a client with no daemon).

Podman's configuration and storage are the host's own (/etc/containers and /dev/shm bound
privately, the graphroot under the host's dir), so nothing reaches the machine's podman. Nothing
can be pulled: the image is an empty rootfs imported with ``podman import``; the containers see
the machine's /usr read-only (not recursively: the host's masks stay out).

    host = kolla.up(lab)      # after the session lab is up; kolla.down(lab) removes it all
"""
from __future__ import annotations

import os
import shutil
import signal
import tarfile
import time
from pathlib import Path

from tests.lab.lab import PODMAN_DOCKER, Lab, LabError, LabHost, sh
from tests.lab.topology import KOLLA, KOLLA1, Port

IMAGE = "localhost/nplab-kolla:1"
DB, VSWITCHD, LIBVIRT = "openvswitch_db", "openvswitch_vswitchd", "nova_libvirt"
CONTAINERS = (DB, VSWITCHD, LIBVIRT)
MASKED = ("ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ovsdb-client", "virsh")
# sshd's PATH for root sessions (Debian), plus the dirs the probe adds itself
SESSION_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
USR_RO = "type=bind,src=/usr,dst=/usr,ro=true,bind-nonrecursive=true"

_CONTAINERS_CONF = """\
# nplab kolla1: runc (crun fails on this machine kind), no systemd, no journald
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
_STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{graphroot}"
runroot = "/run/containers/storage"
"""
_VIRSH = """\
#!/bin/sh
# nplab's libvirt-like reader: `virsh [-r] [-c URI] dumpxml|domstate [--domain] NAME`, answered
# from the XML libvirt keeps: /run/libvirt/qemu/NAME.xml while the domain runs (the live XML,
# with the tap names), /etc/libvirt/qemu/NAME.xml when it is only defined.
cmd= dom=
while [ $# -gt 0 ]; do
    case $1 in
        -r | --readonly) ;;
        -c | --connect) shift ;;
        --domain) shift; dom=$1 ;;
        dumpxml | domstate) cmd=$1 ;;
        -*) echo "error: unsupported option $1" >&2; exit 1 ;;
        *) dom=$1 ;;
    esac
    shift
done
live=/run/libvirt/qemu/$dom.xml conf=/etc/libvirt/qemu/$dom.xml
case $dom in '' | */* | .*) live=/nonexistent conf=/nonexistent ;; esac
if [ -r "$live" ]; then state=running xml=$live
elif [ -r "$conf" ]; then state="shut off" xml=$conf
else echo "error: failed to get domain '$dom'" >&2; exit 1
fi
case $cmd in
    dumpxml) cat "$xml" ;;
    domstate) printf '%s\\n\\n' "$state" ;;
    *) echo "error: unknown command" >&2; exit 1 ;;
esac
"""


class KollaHost(LabHost):
    """kolla1: ground truth through ``podman exec`` (the host has no OVS tools) and /proc."""

    def podman(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.run("podman", *args, input=input, check=check)

    def exec_in(self, container: str, *argv: str, input: str | None = None) -> str:
        interactive = ["-i"] if input is not None else []
        return self.podman("exec", *interactive, container, *argv, input=input)

    def vsctl(self, *args: str) -> str:
        return self.exec_in(VSWITCHD, "ovs-vsctl", "--timeout=10", *args)

    def ofctl(self, *args: str, input: str | None = None) -> str:
        return self.exec_in(VSWITCHD, "ovs-ofctl", *args, input=input)

    def container_pid(self, container: str) -> int:
        """The container's PID 1 as this machine sees it."""
        return int(self.podman("inspect", "--format", "{{.State.Pid}}", container).strip())

    def processes_in(self, container: str) -> dict[int, str]:
        """{pid: command line} of every live process in the container's PID namespace, read
        from this machine's /proc (not through the runtime)."""
        want = os.stat(f"/proc/{self.container_pid(container)}/ns/pid").st_ino
        found = {}
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.stat(f"/proc/{entry}/ns/pid").st_ino != want:
                    continue
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] != "Z":
                found[int(entry)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        return found

    def domain_xml_path(self, name: str) -> Path:
        return self.dir / "libvirt" / "run" / f"{name}.xml"


def up(lab: Lab) -> KollaHost:
    """Build kolla1 on the running lab (idempotent with :func:`down` before it)."""
    down(lab)
    host = lab.add_host(KOLLA1, KOLLA, start_ovs=_start_containers, host_class=KollaHost)
    assert isinstance(host, KollaHost)
    for server in KOLLA.servers:  # what libvirt writes when nova has started the domain
        ports = [p for p in KOLLA.ports if p.server_id == server.id]
        host.domain_xml_path(server.instance_name).write_text(
            domain_xml(server.instance_name, server.id, ports))
    return host


def down(lab: Lab) -> None:
    """Remove kolla1: its containers and image (podman's own way), then the host itself
    (processes, netns, dir with podman's storage). Safe to run twice, or with nothing there."""
    host = lab.hosts.get(KOLLA1.name)
    if isinstance(host, KollaHost) and host.netns in sh("ip", "netns", "list", check=False):
        host.podman("rm", "--force", "--time", "0", *CONTAINERS, check=False)
        host.podman("rmi", "--force", IMAGE, check=False)
    lab.remove_host(KOLLA1.name)


def domain_xml(name: str, uuid: str, ports: list[Port]) -> str:
    """A running domain's live XML as libvirt writes it for os-vif's hybrid plug."""
    nics = "".join(
        f"    <interface type='bridge'>\n      <mac address='{p.mac}'/>\n"
        f"      <source bridge='{p.qbr}'/>\n      <target dev='{p.tap}'/>\n"
        f"      <model type='virtio'/>\n"
        f"      <mtu size='{KOLLA.network(p.network_id).mtu}'/>\n"
        f"      <alias name='net{i}'/>\n    </interface>\n"
        for i, p in enumerate(ports))
    return (f"<domain type='qemu' id='1'>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n"
            f"  <devices>\n{nics}  </devices>\n</domain>\n")


# -- build --------------------------------------------------------------------------------------


def _start_containers(host: LabHost) -> None:
    """Podman set up as the host's own, the image, the three containers; then the masks."""
    assert isinstance(host, KollaHost)
    d = host.dir
    for sub in ("ovs", "log", "libvirt/etc", "libvirt/run", "storage"):
        (d / sub).mkdir(parents=True)
    etc = d / "etc-containers"
    shutil.copytree("/etc/containers", etc)  # policy.json, registries.conf as installed
    (etc / "containers.conf").write_text(_CONTAINERS_CONF)
    (etc / "storage.conf").write_text(_STORAGE_CONF.format(graphroot=d / "storage"))
    host.run("mount", "--bind", str(etc), "/etc/containers")
    host.run("mount", "-t", "tmpfs", "-o", "mode=1777", "nplab-shm", "/dev/shm")  # libpod locks
    _mount_cgroups(host)
    stub = d / "not-here"
    stub.write_text("# nplab: not on this host (it runs in a container)\n")
    stub.chmod(0o644)  # not executable: `command -v` passes it by

    host.podman("import", str(_rootfs_tar(d)), IMAGE)
    common = ["run", "--detach", "--network", "host", "--ulimit", "host", "--mount", USR_RO,
              "--volume", "/run/openvswitch:/run/openvswitch",
              "--volume", f"{d / 'log'}:/var/log/kolla/openvswitch"]
    sh("ovsdb-tool", "create", str(d / "ovs" / "conf.db"), "/usr/share/openvswitch/"
       "vswitch.ovsschema")
    host.podman(*common, "--name", DB, "--volume", f"{d / 'ovs'}:/var/lib/openvswitch", IMAGE,
                "ovsdb-server", "/var/lib/openvswitch/conf.db",
                "--remote=punix:/run/openvswitch/db.sock",
                "--unixctl=/run/openvswitch/ovsdb-server.ctl",
                "--log-file=/var/log/kolla/openvswitch/ovsdb-server.log", "--no-chdir")
    _wait_path(host.run_dir / "db.sock")
    host.exec_in(DB, "ovs-vsctl", "--no-wait", "init")
    # no --pidfile: "1" in the host's run dir would mean this machine's init to lab.down()
    host.podman(*common, "--name", VSWITCHD, "--privileged", IMAGE,
                _real("ovs-vswitchd"), "unix:/run/openvswitch/db.sock",
                "--unixctl=/run/openvswitch/ovs-vswitchd.ctl",
                "--log-file=/var/log/kolla/openvswitch/ovs-vswitchd.log", "--no-chdir")
    host.vsctl("set", "Open_vSwitch", ".", f"external_ids:hostname={host.name}",
               f"external_ids:system-id={host.name}")  # waits for ovs-vswitchd to apply it
    host.podman("run", "--detach", "--network", "host", "--ulimit", "host", "--mount", USR_RO,
                "--name", LIBVIRT, "--env", "PATH=/opt/nplab/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--volume", f"{d / 'libvirt/etc'}:/etc/libvirt/qemu:ro",
                "--volume", f"{d / 'libvirt/run'}:/run/libvirt/qemu:ro",
                "--volume", f"{stub}:/usr/bin/timeout:ro", IMAGE, "sleep", "infinity")

    for path in _on_session_path(MASKED):
        host.run("mount", "--bind", str(stub), path)
    for path in _on_session_path(("docker",)):
        if os.path.realpath(path) != PODMAN_DOCKER:
            host.run("mount", "--bind", PODMAN_DOCKER, path)


def _mount_cgroups(host: LabHost) -> None:
    """The machine's cgroup hierarchies on the host's /sys/fs/cgroup (`ip netns exec` gave it
    a fresh sysfs without them; runc needs them). Mounting a hierarchy again attaches to it."""
    host.run("mount", "-t", "tmpfs", "-o", "mode=755", "nplab-cgroup", "/sys/fs/cgroup")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        point, (fstype, _, options) = pre.split()[4], post.split()[:3]
        if fstype not in ("cgroup", "cgroup2") or not point.startswith("/sys/fs/cgroup/"):
            continue
        opts = ",".join(o for o in options.split(",") if o not in ("rw", "ro")) or "defaults"
        host.run("mkdir", "-p", point)
        host.run("mount", "-t", fstype, "-o", opts, fstype, point)


def _rootfs_tar(d: Path) -> Path:
    """An empty Debian-shaped root (usr-merged links, the loader cache) plus the reader."""
    root = d / "rootfs"
    for sub in ("usr", "etc", "run", "tmp", "proc", "sys", "dev", "var", "opt/nplab/bin"):
        (root / sub).mkdir(parents=True)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib64"), ("var/run", "../run")):
        (root / link).symlink_to(target)
    for name in ("ld.so.cache", "passwd", "group"):
        shutil.copy(f"/etc/{name}", root / "etc" / name)
    virsh = root / "opt/nplab/bin/virsh"
    virsh.write_text(_VIRSH)
    virsh.chmod(0o755)
    tar = d / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(root, arcname=".")
    return tar


def _real(tool: str) -> str:
    """The binary itself: Debian's ovs-vswitchd is an /etc/alternatives link (not in the image)."""
    return os.path.realpath(shutil.which(tool) or tool)


def _on_session_path(tools: tuple[str, ...]) -> list[str]:
    """Where a session would find these tools: every such file on its PATH, each once."""
    seen: dict[str, str] = {}
    for tool in tools:
        for directory in SESSION_PATH:
            path = os.path.join(directory, tool)
            if os.path.exists(path):
                seen.setdefault(os.path.realpath(path), path)
    return list(seen.values())


def _wait_path(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise LabError(f"{path} did not appear")
        time.sleep(0.05)


def stopped(host: KollaHost, container: str) -> _Stopped:
    """``with stopped(host, VSWITCHD):`` its PID 1 SIGSTOPped (hangs whoever talks to it)."""
    return _Stopped(host.container_pid(container))


class _Stopped:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> int:
        os.kill(self.pid, signal.SIGSTOP)
        return self.pid

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)
