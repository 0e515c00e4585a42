"""Fixtures of the stack tier: a real OpenStack brought up by tests/stack/up.sh.

The tier runs only when asked: NETPATH_STACK=1 or CI=true.  Otherwise every
test here is skipped with that reason.  When asked, a stack that fails to
start FAILS the tests with the tail of the failing service's log; it is never
skipped silently.

    NETPATH_STACK=1          run this tier (CI=true does too; NETPATH_STACK=0 turns it off)
    NETPATH_STACK_REUSE=1    use the stack already up in NPSTACK_DIR (if healthy) and
                             leave it up afterwards; bring one up (and keep it) otherwise
    NETPATH_STACK_KEEP=1     do not tear down at the end of the session
    NPSTACK_DIR              state directory (default /var/tmp/npstack)

The session fixture ``stack`` yields a :class:`StackHandles`.
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
TIMINGS: dict[str, float] = {}
NOTES: list[str] = []


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def stack_requested() -> bool:
    """NETPATH_STACK=1 or CI=true; NETPATH_STACK=0 turns it off even in CI."""
    if os.environ.get("NETPATH_STACK", "").lower() in ("0", "false", "no"):
        return False
    return _truthy("NETPATH_STACK") or _truthy("CI")


def pytest_collection_modifyitems(config, items):
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
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.stack)
            if skip is not None:
                item.add_marker(skip)


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


def _load_timings() -> None:
    path = os.path.join(NPSTACK_DIR, "timings.env")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k and v:
                    TIMINGS[k] = float(v)


def _mem_used_mb() -> float:
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            info[k] = int(v.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def _healthy() -> bool:
    if not os.path.exists(os.path.join(NPSTACK_DIR, "stack.json")):
        return False
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            "http://127.0.0.1:5000/v3", timeout=5) as r:
            if r.status != 200:
                return False
        with open(os.path.join(NPSTACK_DIR, "stack.json")) as f:
            state = json.load(f)
        return all(os.path.exists(f"/proc/{h['anchor_pid']}") for h in state["hosts"].values())
    except (OSError, ValueError, KeyError):
        return False


def _run(script: str, log: str, timeout: float) -> tuple[int, str]:
    env = dict(os.environ, NPSTACK_DIR=NPSTACK_DIR)
    with open(log, "w") as out:
        try:
            rc = subprocess.run(["bash", os.path.join(HERE, script)], stdout=out, check=False,
                                stderr=subprocess.STDOUT, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -1
            out.write(f"\nnpstack: {script} timed out after {timeout}s\n")
    with open(log) as f:
        return rc, f.read()


def _down(tag: str) -> None:
    t = time.monotonic()
    rc, text = _run("down.sh", os.path.join(NPSTACK_DIR, "down-console.log"), 180)
    TIMINGS["teardown" if tag == "final" else "teardown_" + tag] = time.monotonic() - t
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


@pytest.fixture(scope="session")
def stack():
    if not stack_requested():
        pytest.skip("stack tier not requested")
    os.makedirs(NPSTACK_DIR, exist_ok=True)
    # one session at a time owns the stack: a second one waits (it would
    # otherwise tear down the first one's stack before bringing up its own)
    lock = open(os.path.join(NPSTACK_DIR, ".session.lock"), "w")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"\nstack tier: another session holds {NPSTACK_DIR}; waiting", file=sys.stderr)
        t = time.monotonic()
        fcntl.flock(lock, fcntl.LOCK_EX)
        TIMINGS["waited_for_other_session"] = time.monotonic() - t
    reuse = _truthy("NETPATH_STACK_REUSE")
    reused = reuse and _healthy()
    if not reused:
        _down("stale")  # idempotent: whatever an earlier run left (or nothing)
        mem0 = _mem_used_mb()
        t = time.monotonic()
        rc, text = _run("up.sh", os.path.join(NPSTACK_DIR, "up-console.log"), 1200)
        TIMINGS["up_total"] = time.monotonic() - t
        _load_timings()
        if rc != 0:
            if not _truthy("NETPATH_STACK_KEEP"):
                _down("after-failure")
            lines = text.splitlines()
            errors = [ln for ln in lines if ln.startswith("npstack: ERROR")] or lines[-1:]
            tail = "\n".join(lines[-150:])
            NOTES.append(f"STACK DID NOT COME UP (up.sh exit {rc}). Last lines of its output, "
                         f"with the failing service's log:\n{tail}")
            lock.close()
            pytest.fail(f"the stack did not come up: {errors[-1]} (the failing service's log is "
                        f"printed in the 'stack tier' section at the end)", pytrace=False)
        TIMINGS["ram_mb"] = _mem_used_mb() - mem0
        with open(os.path.join(NPSTACK_DIR, "logs", "up-timing.log")) as f:
            NOTES.append("up.sh timeline:\n" + f.read())
    with open(os.path.join(NPSTACK_DIR, "stack.json")) as f:
        state = json.load(f)
    handles = StackHandles(
        dir=state["dir"], clouds_yaml=state["clouds_yaml"], admin_cloud=state["clouds"]["admin"],
        member_cloud=state["clouds"]["member"], hosts=state["hosts"], servers=state["servers"],
        ssh=state["ssh"], state=state, reused=reused)
    t = time.monotonic()
    try:
        yield handles
    finally:
        TIMINGS["tests"] = time.monotonic() - t
        if not (reuse or _truthy("NETPATH_STACK_KEEP")):
            _down("final")
            left = leftovers()
            if left:
                NOTES.append("LEFT OVER after down.sh: {}".format(", ".join(left)))
        lock.close()


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
    ]
    for key, label in labels:
        if key in TIMINGS:
            unit = "" if key == "ram_mb" else " s"
            tr.write_line(f"{label:<40} {TIMINGS[key]:8.1f}{unit}")
    for note in NOTES:
        tr.write_line(note.rstrip())
