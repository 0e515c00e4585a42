"""Fixtures of the stack tier: a real OpenStack brought up by tests/stack/up.sh.

The tier runs only when asked: NETPATH_STACK=1 or CI=true.  Otherwise every
test here is skipped with that reason.  When asked, a stack that fails to
start FAILS the tests with the tail of the failing service's log; it is never
skipped silently.

    NETPATH_STACK=1          run this tier (CI=true does too; NETPATH_STACK=0 turns it off)
    NETPATH_STACK_REUSE=1    use the stack already up in NPSTACK_DIR (if healthy) and
                             leave it up afterwards; bring one up (and keep it) otherwise
    NETPATH_STACK_KEEP=1     do not tear down at the end of the session
    NETPATH_STACK_OVN=0|1    the ML2/OVN phase (test_netpath_ovn.py): on by default whenever
                             the tier runs; 0 skips it (with that reason)
    NETPATH_STACK_DVR=0|1    the ML2/OVS DVR phase (test_netpath_dvr.py, NPSTACK_L3=dvr): the
                             same, run after the legacy stack's tests and before ML2/OVN
    NPSTACK_DIR              state directory (default /var/tmp/npstack)

The session fixture ``stack`` yields a :class:`StackHandles` of the ML2/OVS stack;
``dvr_stack`` the same with distributed routers (NPSTACK_L3=dvr), ``ovn_stack`` for the
ML2/OVN one (NPSTACK_BACKEND=ovn).  All use the one state directory and venv, one after the
other: the DVR tests run after the others of ML2/OVS, the OVN tests last, and each fixture
tears the previous stack down before it brings its own up.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
NPSTACK_DIR = os.environ.get("NPSTACK_DIR", "/var/tmp/npstack")
OVN_TESTS = os.path.join(HERE, "test_netpath_ovn.py")
DVR_TESTS = os.path.join(HERE, "test_netpath_dvr.py")
# the stacks a session brings up, in this order (their tests sorted so), as
# kind: (NPSTACK_BACKEND, NPSTACK_L3, timings prefix)
KINDS = {"ovs": ("ovs", "legacy", ""), "ovs-dvr": ("ovs", "dvr", "dvr_"), "ovn": ("ovn", "legacy", "ovn_")}
AUDIT_TESTS = os.path.join(HERE, "test_netpath_audit.py")  # drifts the stack: its phase's last
PHASE_OF = {AUDIT_TESTS: 0.5, DVR_TESTS: 1, OVN_TESTS: 2}
TIMINGS: dict[str, float] = {}
NOTES: list[str] = []
# which stack (a key of KINDS, or None) this session has up now, and the session lock
_UP: dict[str, str | None] = {"backend": None}
_LOCK: dict = {"file": None, "users": 0}


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def stack_requested() -> bool:
    """NETPATH_STACK=1 or CI=true; NETPATH_STACK=0 turns it off even in CI."""
    if os.environ.get("NETPATH_STACK", "").lower() in ("0", "false", "no"):
        return False
    return _truthy("NETPATH_STACK") or _truthy("CI")


def ovn_requested() -> bool:
    """The ML2/OVN phase runs with the tier unless NETPATH_STACK_OVN=0."""
    return os.environ.get("NETPATH_STACK_OVN", "").lower() not in ("0", "false", "no")


def dvr_requested() -> bool:
    """The DVR phase runs with the tier unless NETPATH_STACK_DVR=0."""
    return os.environ.get("NETPATH_STACK_DVR", "").lower() not in ("0", "false", "no")


def pytest_collection_modifyitems(config, items):
    # the DVR tests after the other ML2/OVS ones, the ML2/OVN tests last: each phase's stack
    # replaces the one before (same ports, names, dir)
    items.sort(key=lambda item: PHASE_OF.get(str(item.fspath), 0))
    skip = None
    if os.environ.get("NETPATH_STACK", "").lower() in ("0", "false", "no"):
        skip = pytest.mark.skip(reason="stack tier turned off (NETPATH_STACK=0)")
    elif not stack_requested():
        skip = pytest.mark.skip(reason="stack tier: set NETPATH_STACK=1 (or CI=true) to bring up "
                                       "a real OpenStack (root; ~2 min once installed; ~3 GB RAM)")
    elif os.geteuid() != 0:
        if _truthy("CI"):
            raise pytest.UsageError("stack tier: CI=true but not root; the tier needs root")
        skip = pytest.mark.skip(reason="stack tier: needs root (network namespaces, OVS, libvirt)")
    ovn_skip = None if ovn_requested() else pytest.mark.skip(
        reason="ML2/OVN phase of the stack tier turned off (NETPATH_STACK_OVN=0)")
    dvr_skip = None if dvr_requested() else pytest.mark.skip(
        reason="DVR phase of the stack tier turned off (NETPATH_STACK_DVR=0)")
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.stack)
            if skip is not None:
                item.add_marker(skip)
            elif ovn_skip is not None and str(item.fspath) == OVN_TESTS:
                item.add_marker(ovn_skip)
            elif dvr_skip is not None and str(item.fspath) == DVR_TESTS:
                item.add_marker(dvr_skip)


@dataclasses.dataclass
class StackHandles:
    """What the tests get.  All paths absolute."""
    dir: str
    clouds_yaml: str                 # stack-admin, stack-member (with netpath: sections)
    admin_cloud: str                 # "stack-admin"
    member_cloud: str                # "stack-member"
    hosts: dict[str, dict]           # name -> namespace, address, anchor_pid, firewall_driver, ...
    servers: dict[str, dict]         # name -> id, host, project, instance_name, ports[...]
    ssh: dict[str, str]              # user, identity_file, known_hosts
    state: dict                      # the whole stack.json (for groundtruth.read_server)
    reused: bool = False

    @property
    def namespaces(self) -> list[str]:
        return [h["namespace"] for h in self.hosts.values()]

    def env(self, cloud: str | None = None) -> dict[str, str]:
        """Environment for running the real `openstack` CLI against the stack."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = self.clouds_yaml
        env["PYTHONWARNINGS"] = "ignore"
        env["no_proxy"] = env["NO_PROXY"] = ",".join(
            ["127.0.0.1", "localhost"] + [h["address"] for h in self.hosts.values()])
        if cloud:
            env["OS_CLOUD"] = cloud
        return env

    def openstack(self, *args: str, cloud: str | None = None, check: bool = True,
                  timeout: float = 120) -> subprocess.CompletedProcess:
        """Run the project's `openstack` CLI (with the netpath plugin) as a subprocess."""
        exe = shutil.which("openstack", path=os.path.dirname(sys.executable))
        cmd = [exe] if exe else [sys.executable, "-m", "openstackclient.shell"]
        cmd += ["--os-cloud", cloud or self.admin_cloud] + list(args)
        proc = subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc

    def connection(self, cloud: str | None = None):
        """An openstacksdk Connection (the project's own openstacksdk)."""
        import openstack.config
        import openstack.connection
        cfg = openstack.config.OpenStackConfig(config_files=[self.clouds_yaml])
        return openstack.connection.Connection(config=cfg.get_one(cloud or self.admin_cloud))

    def ssh_argv(self, host: str, *command: str) -> list[str]:
        """argv for the system ssh client into a compute host's sshd."""
        return ["ssh", "-i", self.ssh["identity_file"], "-o", "BatchMode=yes",
                "-o", "UserKnownHostsFile=" + self.ssh["known_hosts"],
                "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
                "{}@{}".format(self.ssh["user"], self.hosts[host]["address"])] + list(command)


def _load_timings(prefix: str = "") -> None:
    path = os.path.join(NPSTACK_DIR, "timings.env")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k and v:
                    TIMINGS[prefix + k] = float(v)


def _mem_used_mb() -> float:
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            info[k] = int(v.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def _healthy(kind: str = "ovs") -> bool:
    backend, l3, _ = KINDS[kind]
    if not os.path.exists(os.path.join(NPSTACK_DIR, "stack.json")):
        return False
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            "http://127.0.0.1:5000/v3", timeout=5) as r:
            if r.status != 200:
                return False
        with open(os.path.join(NPSTACK_DIR, "stack.json")) as f:
            state = json.load(f)
        return state.get("backend", "ovs") == backend and (
            state.get("router") or {}).get("mode", "legacy") == l3 and all(
            os.path.exists(f"/proc/{h['anchor_pid']}") for h in state["hosts"].values())
    except (OSError, ValueError, KeyError):
        return False


def _run(script: str, log: str, timeout: float, kind: str = "ovs") -> tuple[int, str]:
    backend, l3, _ = KINDS[kind]
    env = dict(os.environ, NPSTACK_DIR=NPSTACK_DIR, NPSTACK_BACKEND=backend, NPSTACK_L3=l3)
    with open(log, "w") as out:
        try:
            rc = subprocess.run(["bash", os.path.join(HERE, script)], stdout=out, check=False,
                                stderr=subprocess.STDOUT, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -1
            out.write(f"\nnpstack: {script} timed out after {timeout}s\n")
    with open(log) as f:
        return rc, f.read()


def _down(tag: str, prefix: str = "") -> None:
    t = time.monotonic()
    rc, text = _run("down.sh", os.path.join(NPSTACK_DIR, "down-console.log"), 180)
    TIMINGS[prefix + ("teardown" if tag == "final" else "teardown_" + tag)] = time.monotonic() - t
    _UP["backend"] = None
    if rc != 0:
        NOTES.append(f"down.sh exited {rc}:\n{text[-2000:]}")


def leftovers() -> list[str]:
    """npstack-* namespaces and links still present (should be none after down.sh)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    left = [ln.split()[0] for ln in out.splitlines() if ln.startswith("npstack-")]
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=False).stdout
    for ln in out.splitlines():
        name = ln.split(": ")[1].split("@")[0]
        if name.startswith("npstack-"):
            left.append(name)
    return left


def _lock_acquire() -> None:
    """One session at a time owns the stack: a second one waits (it would otherwise tear
    down the first one's stack before bringing up its own).  Held once per session."""
    _LOCK["users"] += 1
    if _LOCK["file"] is not None:
        return
    os.makedirs(NPSTACK_DIR, exist_ok=True)
    lock = open(os.path.join(NPSTACK_DIR, ".session.lock"), "w")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"\nstack tier: another session holds {NPSTACK_DIR}; waiting", file=sys.stderr)
        t = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        TIMINGS["waited_for_other_session"] = time.monotonic() - t
    _LOCK["file"] = lock


def _lock_release() -> None:
    _LOCK["users"] -= 1
    if _LOCK["users"] <= 0 and _LOCK["file"] is not None:
        _LOCK["file"].close()
        _LOCK["file"] = None


def _bring_up(backend: str, prefix: str) -> tuple[StackHandles, bool, bool]:
    """(handles, reused, reuse asked) of a stack of ``backend``, up or brought up."""
    reuse = _truthy("NETPATH_STACK_REUSE")
    reused = reuse and _healthy(backend)
    if not reused:
        if _UP["backend"] is not None:  # the stack of the session's previous phase
            _down("final", KINDS[_UP["backend"]][2])
        else:
            _down("stale", prefix)  # idempotent: whatever an earlier run left (or nothing)
        mem0 = _mem_used_mb()
        t = time.monotonic()
        rc, text = _run("up.sh", os.path.join(NPSTACK_DIR, "up-console.log"), 1200, backend)
        TIMINGS[prefix + "up_total"] = time.monotonic() - t
        _load_timings(prefix)
        if rc != 0:
            if not _truthy("NETPATH_STACK_KEEP"):
                _down("after-failure", prefix)
            lines = text.splitlines()
            errors = [ln for ln in lines if ln.startswith("npstack: ERROR")] or lines[-1:]
            tail = "\n".join(lines[-150:])
            NOTES.append(f"{backend.upper()} STACK DID NOT COME UP (up.sh exit {rc}). Last lines "
                         f"of its output, with the failing service's log:\n{tail}")
            _lock_release()
            pytest.fail(f"the {backend} stack did not come up: {errors[-1]} (the failing "
                        "service's log is printed in the 'stack tier' section at the end)",
                        pytrace=False)
        TIMINGS[prefix + "ram_mb"] = _mem_used_mb() - mem0
        with open(os.path.join(NPSTACK_DIR, "logs", "up-timing.log")) as f:
            NOTES.append(f"up.sh timeline ({backend}):\n" + f.read())
    _UP["backend"] = backend
    with open(os.path.join(NPSTACK_DIR, "stack.json")) as f:
        state = json.load(f)
    handles = StackHandles(
        dir=state["dir"], clouds_yaml=state["clouds_yaml"], admin_cloud=state["clouds"]["admin"],
        member_cloud=state["clouds"]["member"], hosts=state["hosts"], servers=state["servers"],
        ssh=state["ssh"], state=state, reused=reused)
    return handles, reused, reuse


def _finish(backend: str, prefix: str, reuse: bool, t: float) -> None:
    TIMINGS[prefix + "tests"] = time.monotonic() - t
    # down only what this session still has up (the OVN phase may have replaced it)
    if _UP["backend"] == backend and not (reuse or _truthy("NETPATH_STACK_KEEP")):
        _down("final", prefix)
        left = leftovers()
        if left:
            NOTES.append("LEFT OVER after down.sh: {}".format(", ".join(left)))
    _lock_release()


def _session(backend: str, prefix: str):
    if not stack_requested():
        pytest.skip("stack tier not requested")
    _lock_acquire()
    handles, _, reuse = _bring_up(backend, prefix)
    t = time.monotonic()
    try:
        yield handles
    finally:
        _finish(backend, prefix, reuse, t)


@pytest.fixture(scope="session")
def stack():
    yield from _session("ovs", "")


@pytest.fixture(scope="session")
def dvr_stack():
    """The ML2/OVS stack with router1 distributed (tests/stack/up.sh with NPSTACK_L3=dvr), in
    place of the legacy one."""
    if not dvr_requested():
        pytest.skip("DVR phase turned off (NETPATH_STACK_DVR=0)")
    yield from _session("ovs-dvr", "dvr_")


@pytest.fixture(scope="session")
def ovn_stack():
    """The ML2/OVN stack (tests/stack/up.sh with NPSTACK_BACKEND=ovn), in place of the
    ML2/OVS one."""
    if not ovn_requested():
        pytest.skip("ML2/OVN phase turned off (NETPATH_STACK_OVN=0)")
    yield from _session("ovn", "ovn_")


@pytest.fixture(scope="session")
def snapshots(stack):
    """Ground truth of every host, read once per session (tests that change
    the stack must read their own with groundtruth.read_host)."""
    from tests.stack import groundtruth
    return {name: groundtruth.read_host(h) for name, h in stack.hosts.items()}


@pytest.fixture(scope="session")
def admin_sdk(stack):
    return stack.connection(stack.admin_cloud)


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS and not NOTES:
        return
    tr = terminalreporter
    tr.section("stack tier timings")
    labels = [
        ("install_apt", "install: apt packages"), ("install_venv", "install: python venv (uv)"),
        ("start", "start: services + hosts + servers"), ("up_total", "up.sh total"),
        ("waited_for_other_session", "waited for another session"),
        ("tests", "tests"), ("teardown", "teardown (down.sh)"), ("ram_mb", "RAM used by the stack (MB)"),
        ("dvr_start", "DVR start: services + hosts + servers"),
        ("dvr_up_total", "DVR up.sh total"), ("dvr_tests", "DVR tests"),
        ("dvr_teardown", "DVR teardown (down.sh)"), ("dvr_ram_mb", "RAM used by the DVR stack (MB)"),
        ("ovn_start", "ML2/OVN start: services + hosts + servers"),
        ("ovn_up_total", "ML2/OVN up.sh total"), ("ovn_tests", "ML2/OVN tests"),
        ("ovn_teardown", "ML2/OVN teardown (down.sh)"), ("ovn_ram_mb", "RAM used by the OVN stack (MB)"),
    ]
    for key, label in labels:
        if key in TIMINGS:
            unit = "" if key.endswith("ram_mb") else " s"
            tr.write_line(f"{label:<40} {TIMINGS[key]:8.1f}{unit}")
    for note in NOTES:
        tr.write_line(note.rstrip())
