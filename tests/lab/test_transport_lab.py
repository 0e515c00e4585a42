"""The SSH transport against real sshds on real (namespaced) hypervisors.

Counts are checked on both sides: the transport's own stats and each sshd's log.
"""
from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from osc_netpath.host.transport import run_probes
from tests.lab.lab import SSHD, Lab

pytestmark = pytest.mark.lab

# Reads the host's own OVS: proves the session landed on that host (and only sees its OVS).
SCRIPT = """\
echo hello
ovs-vsctl br-exists br-int && echo yes
echo "hostname=$(ovs-vsctl get Open_vSwitch . external_ids:hostname)"
echo "args=$*"
"""


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def _server_counts(lab: Lab) -> dict[str, tuple[int, int]]:
    return {n: (h.sshd_accepted(), h.sshd_commands()) for n, h in lab.hosts.items()}


def _delta(lab: Lab, before: dict[str, tuple[int, int]], deadline: float = 2.0
           ) -> dict[str, tuple[int, int]]:
    """sshd writes its log lines from its own processes: give them a moment to land."""
    end = time.monotonic() + deadline
    while True:
        now = _server_counts(lab)
        delta = {n: (now[n][0] - before[n][0], now[n][1] - before[n][1]) for n in now}
        if time.monotonic() > end or all(d != (0, 0) for d in delta.values()):
            return delta
        time.sleep(0.05)


def test_two_hosts_one_connection_and_one_exec_each(lab: Lab) -> None:
    before = _server_counts(lab)
    command = "sh -s -- --flows br-int:0"  # the command line probe.command_line builds
    jobs = [(lab.ssh_target(name), command) for name in ("hv1", "hv2")]

    results, stats = run_probes(jobs, SCRIPT, concurrency=2)

    for name in ("hv1", "hv2"):
        r = results[name]
        assert r.ok, r.error
        assert r.exit_status == 0
        assert r.stdout is not None
        assert r.stdout.splitlines() == [
            "hello", "yes", f"hostname={name}", "args=--flows br-int:0",
        ]
    assert stats.connections == {"hv1": 1, "hv2": 1}
    assert stats.execs == {"hv1": 1, "hv2": 1}
    assert stats.jump_connections == 0
    assert _delta(lab, before) == {"hv1": (1, 1), "hv2": (1, 1)}  # what sshd saw


def test_hosts_are_probed_concurrently(lab: Lab) -> None:
    jobs = [(lab.ssh_target(name), "sh -s") for name in ("hv1", "hv2")]
    _, serial = run_probes(jobs, "sleep 1\n", concurrency=1)
    _, parallel = run_probes(jobs, "sleep 1\n", concurrency=2)
    assert serial.max_in_flight == 1 and serial.elapsed >= 2.0
    assert parallel.max_in_flight == 2
    assert parallel.elapsed < serial.elapsed - 0.5  # the two 1 s sleeps overlapped


def test_wrong_key_is_auth(lab: Lab, tmp_path: Path) -> None:
    wrong = _keygen(tmp_path / "wrong")
    before = _server_counts(lab)
    results, stats = run_probes(
        [(lab.ssh_target("hv1", identity_files=[str(wrong)]), "sh -s")], SCRIPT)
    r = results["hv1"]
    assert r.error_kind == "auth"
    assert r.stdout is None
    assert r.error and "\n" not in r.error
    assert "hv1" in r.error and "198.19.201.11" in r.error and "identity_file" in r.error
    assert "PRIVATE KEY" not in r.error and str(wrong) not in r.error.replace(str(wrong), "")
    assert stats.connections == {"hv1": 1} and stats.execs == {"hv1": 0}
    assert _server_counts(lab) == before  # nothing accepted, nothing run


def test_missing_identity_file_is_auth_without_connecting(lab: Lab, tmp_path: Path) -> None:
    results, stats = run_probes(
        [(lab.ssh_target("hv1", identity_files=[str(tmp_path / "nope")]), "sh -s")], SCRIPT)
    assert results["hv1"].error_kind == "auth"
    assert "does not exist" in (results["hv1"].error or "")
    assert stats.connections == {"hv1": 0}


def test_empty_known_hosts_is_hostkey_unknown(lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    results, stats = run_probes(
        [(lab.ssh_target("hv1", known_hosts=str(empty)), "sh -s")], SCRIPT)
    r = results["hv1"]
    assert r.error_kind == "hostkey-unknown", r.error
    assert str(empty) in (r.error or "") and "known_hosts" in (r.error or "")
    assert stats.execs == {"hv1": 0}


def test_missing_known_hosts_file_is_hostkey_unknown(lab: Lab, tmp_path: Path) -> None:
    results, stats = run_probes(
        [(lab.ssh_target("hv1", known_hosts=str(tmp_path / "absent")), "sh -s")], SCRIPT)
    assert results["hv1"].error_kind == "hostkey-unknown"
    assert stats.connections == {"hv1": 0}


def test_known_hosts_entries_of_other_hosts_only_is_unknown(lab: Lab, tmp_path: Path) -> None:
    other_only = tmp_path / "known_hosts"
    other_only.write_text("".join(line for line in lab.known_hosts.read_text().splitlines(True)
                                  if not line.startswith("198.19.201.11 ")))
    results, _ = run_probes([(lab.ssh_target("hv1", known_hosts=str(other_only)), "sh -s")],
                            SCRIPT)
    assert results["hv1"].error_kind == "hostkey-unknown"


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
def test_other_key_in_known_hosts_is_hostkey_changed(lab: Lab, tmp_path: Path,
                                                     hashed: bool) -> None:
    impostor = _keygen(tmp_path / "impostor")
    keytype, key = Path(f"{impostor}.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"198.19.201.11 {keytype} {key}\n")
    if hashed:  # HashKnownHosts yes: the entry no longer names the host in clear
        subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True,
                       capture_output=True)
        assert "198.19.201.11" not in known.read_text()
    results, stats = run_probes([(lab.ssh_target("hv1", known_hosts=str(known)), "sh -s")],
                                SCRIPT)
    r = results["hv1"]
    assert r.error_kind == "hostkey-changed", r.error
    assert "ssh-keygen -R" in (r.error or "") and "198.19.201.11" in (r.error or "")
    assert stats.execs == {"hv1": 0}


def test_closed_port_is_unreachable(lab: Lab) -> None:
    results, _ = run_probes([(lab.ssh_target("hv1", port=2222), "sh -s")], SCRIPT)
    r = results["hv1"]
    assert r.error_kind == "unreachable", r.error
    assert "198.19.201.11:2222" in (r.error or "") and "refused" in (r.error or "").lower()


@pytest.fixture
def silent_listener(lab: Lab) -> Iterator[tuple[str, int]]:
    """A TCP port on the lab bridge that accepts connections and never sends an SSH banner."""
    with socket.create_server((lab.root_ip, 0)) as srv:
        yield lab.root_ip, srv.getsockname()[1]


def test_silent_listener_is_timeout(lab: Lab, silent_listener: tuple[str, int]) -> None:
    address, port = silent_listener
    target = lab.ssh_target("hv1", address=address, port=port, connect_timeout=1.0)
    started = time.monotonic()
    results, _ = run_probes([(target, "sh -s")], SCRIPT)
    r = results["hv1"]
    assert r.error_kind == "timeout", r.error
    assert "connect_timeout" in (r.error or "")
    assert time.monotonic() - started < 5


def test_slow_probe_is_command_timeout(lab: Lab) -> None:
    results, stats = run_probes(
        [(lab.ssh_target("hv1", command_timeout=1.0), "sh -s")], "echo started\nsleep 20\n")
    r = results["hv1"]
    assert r.error_kind == "timeout", r.error
    assert "command_timeout" in (r.error or "")
    assert r.stdout == "started\n"  # partial output kept
    assert stats.execs == {"hv1": 1}


def test_failing_probe_is_exec_with_output_kept(lab: Lab) -> None:
    results, _ = run_probes([(lab.ssh_target("hv2"), "sh -s")],
                            "echo partial\necho 'boom: no such tool' >&2\nexit 3\n")
    r = results["hv2"]
    assert r.error_kind == "exec" and r.exit_status == 3
    assert r.stdout == "partial\n"
    assert "boom: no such tool" in (r.error or "") and "status 3" in (r.error or "")


def test_one_bad_host_does_not_hide_the_others(lab: Lab, tmp_path: Path,
                                               silent_listener: tuple[str, int]) -> None:
    wrong = _keygen(tmp_path / "wrong")
    address, port = silent_listener
    jobs = [
        (lab.ssh_target("hv1"), "sh -s"),
        (lab.ssh_target("hv2", identity_files=[str(wrong)]), "sh -s"),
        (lab.ssh_target("hv3", address="198.19.201.11", port=2222), "sh -s"),
        (lab.ssh_target("hv4", address=address, port=port, connect_timeout=1.0), "sh -s"),
    ]
    results, stats = run_probes(jobs, SCRIPT, concurrency=4)
    assert results["hv1"].ok and "hello" in (results["hv1"].stdout or "")
    assert {n: r.error_kind for n, r in results.items()} == {
        "hv1": None, "hv2": "auth", "hv3": "unreachable", "hv4": "timeout"}
    assert stats.execs == {"hv1": 1, "hv2": 0, "hv3": 0, "hv4": 0}


def test_jump_host_is_one_shared_connection(lab: Lab) -> None:
    jump = f"root@{lab.hosts['hv1'].address}:22"
    jobs = [(lab.ssh_target(n, jump_host=jump), "sh -s") for n in ("hv1", "hv2")]
    results, stats = run_probes(jobs, SCRIPT, concurrency=2)
    for name in ("hv1", "hv2"):
        assert results[name].ok, results[name].error
        assert f"hostname={name}" in (results[name].stdout or "")
    assert stats.jump_connections == 1
    assert stats.connections == {"hv1": 1, "hv2": 1}


def test_unverifiable_jump_host_names_the_jump(lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    jump = f"root@{lab.hosts['hv1'].address}"
    results, _ = run_probes(
        [(lab.ssh_target("hv2", jump_host=jump, known_hosts=str(empty)), "sh -s")], SCRIPT)
    r = results["hv2"]
    assert r.error_kind == "hostkey-unknown"
    assert "jump host" in (r.error or "")


def test_same_host_twice_is_a_caller_bug(lab: Lab) -> None:
    with pytest.raises(ValueError):
        run_probes([(lab.ssh_target("hv1"), "sh -s")] * 2, SCRIPT)


def test_clouds_yaml_settings_reach_the_lab(lab: Lab, tmp_path: Path) -> None:
    """The lab's netpath: block, through the real openstack.config loader, config and transport
    (ints as strings, '-' as '_' and all), with host_ip from the API view as the address."""
    from openstack import config as os_config

    from osc_netpath import config

    clouds = lab.write_clouds_yaml(tmp_path / "clouds.yaml", address="host_ip")
    loaded = os_config.OpenStackConfig(config_files=[str(clouds)], vendor_files=[])
    cfg = config.load(loaded.get_one(cloud="nplab").config)
    host_ips = {h["hypervisor_hostname"]: h["host_ip"] for h in lab.topology.api()["hypervisors"]}
    jobs = [(config.target_for(cfg, n, host_ips[n]), "sh -s") for n in ("hv1", "hv2")]
    results, stats = run_probes(jobs, SCRIPT, cfg.concurrency)
    assert all(r.ok for r in results.values()), results
    assert stats.total_connections == 2 and stats.total_execs == 2


def test_lab_openstack_runs_the_cli(
        lab_openstack: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    done = lab_openstack("netpath", "show", "--help")
    assert done.returncode == 0, done.stderr
    assert "--ssh-user" in done.stdout and "--host-address" in done.stdout


def test_runaway_host_is_cut_and_stops(lab: Lab) -> None:
    """A host that floods stdout is cut at max_output: no more is read into memory, the remote
    command goes with the channel, and the result says it was truncated."""
    flood = "echo '@@netpath 0 begin probe@@'\nexec sh -c 'while :; do echo npflood; done'\n"
    started = time.monotonic()
    results, _ = run_probes(
        [(lab.ssh_target("hv1", max_output=2**20, command_timeout=30.0), "sh -s")], flood)
    r = results["hv1"]
    assert r.error_kind == "truncated", r.error
    assert "truncated" in (r.error or "") and "1 MiB" in (r.error or "")
    assert r.stdout is not None and len(r.stdout) == 2**20
    assert time.monotonic() - started < 20  # cut, not timed out
    deadline = time.monotonic() + 5
    while "npflood" in lab.hosts["hv1"].run("ps", "-eo", "args") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "npflood" not in lab.hosts["hv1"].run("ps", "-eo", "args")


@pytest.fixture
def debug_sshd(lab: Lab, tmp_path: Path) -> Iterator[Callable[..., tuple[int, Path, Path]]]:
    """``start(port, extra_config)``: a second sshd on hv1 (its host key, LogLevel DEBUG1, so
    its log names the cipher each connection negotiated) and a known_hosts for that port."""
    hv1, started = lab.hosts["hv1"], []

    def start(port: int, extra: str = "") -> tuple[int, Path, Path]:
        conf, log = tmp_path / f"sshd_{port}.conf", tmp_path / f"sshd_{port}.log"
        pid = tmp_path / f"sshd_{port}.pid"
        mine = {"ListenAddress": f"{hv1.address}:{port}", "PidFile": str(pid),
                "LogLevel": "DEBUG1"}
        lines = [ln for ln in (hv1.dir / "sshd_config").read_text().splitlines()
                 if ln.split(" ")[0] not in mine]
        conf.write_text("\n".join(lines + [f"{k} {v}" for k, v in mine.items()]) + "\n" + extra)
        hv1.run(SSHD, "-f", str(conf), "-E", str(log))
        started.append(pid)
        kh = tmp_path / f"known_hosts_{port}"
        kh.write_text(f"[{hv1.address}]:{port} {hv1.host_key_pub.read_text()}")
        return port, kh, log

    yield start
    for pid in started:
        subprocess.run(["kill", pid.read_text().strip()], check=False)


def _negotiated(log: Path) -> list[str]:
    return [ln.split("cipher: ")[1].split()[0] for ln in log.read_text().splitlines()
            if "kex: client->server cipher:" in ln]


def test_gcm_is_negotiated_chacha_still_works_and_ssh_config_ciphers_win(
        lab: Lab, tmp_path: Path, debug_sshd, monkeypatch) -> None:
    """Against real OpenSSH: AES-GCM is what an sshd with its default ciphers agrees to; an
    sshd that allows only chacha20-poly1305 still gets a probe through; a ``Ciphers`` in
    ~/.ssh/config for the host is what is offered."""
    port, kh, log = debug_sshd(2201)
    ok = run_probes([(lab.ssh_target("hv1", port=port, known_hosts=str(kh)), "sh -s")],
                    "echo hi\n")[0]["hv1"]
    assert (ok.error, ok.stdout) == (None, "hi\n")
    assert _negotiated(log) == ["aes256-gcm@openssh.com"]

    port, kh, log = debug_sshd(2202, "Ciphers chacha20-poly1305@openssh.com\n")
    ok = run_probes([(lab.ssh_target("hv1", port=port, known_hosts=str(kh)), "sh -s")],
                    "echo hi\n")[0]["hv1"]
    assert (ok.error, ok.stdout) == (None, "hi\n")
    assert _negotiated(log) == ["chacha20-poly1305@openssh.com"]

    port, kh, log = debug_sshd(2203)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(
        f"Host {lab.hosts['hv1'].address}\n  Ciphers aes128-ctr\n")
    ok = run_probes([(lab.ssh_target("hv1", port=port, known_hosts=str(kh),
                                     use_ssh_config=True), "sh -s")], "echo hi\n")[0]["hv1"]
    assert (ok.error, ok.stdout) == (None, "hi\n")
    assert _negotiated(log) == ["aes128-ctr"]
