"""Transport logic that needs no sshd (the real-sshd behaviour is in tests/lab)."""
from __future__ import annotations

import asyncio
import errno
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from osc_netpath.host import transport
from osc_netpath.host.transport import SshTarget, run_probes


def _target(**kw: object) -> SshTarget:
    base: dict[str, object] = {"host": "cmp1", "address": "192.0.2.10", "port": 22}
    base.update(kw)
    return SshTarget(**base)  # type: ignore[arg-type]


def test_caller_bugs_raise() -> None:
    with pytest.raises(ValueError):
        run_probes([(_target(), "sh -s"), (_target(), "sh -s")], "")
    with pytest.raises(ValueError):
        run_probes([(_target(), "sh -s")], "", concurrency=0)


def test_importing_the_module_does_not_import_asyncssh() -> None:
    code = ("import sys, osc_netpath.host.transport, osc_netpath.config; "
            "sys.exit(1 if 'asyncssh' in sys.modules or 'asyncio' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_files_fail_before_connecting(tmp_path: Path) -> None:
    (tmp_path / "kh").write_text("")
    results, stats = run_probes([
        (_target(host="a", known_hosts=str(tmp_path / "none")), "sh -s"),
        (_target(host="b", known_hosts=str(tmp_path / "kh"),
                 identity_files=[str(tmp_path / "nokey")]), "sh -s"),
    ], "")
    assert results["a"].error_kind == "hostkey-unknown"
    assert "known_hosts" in (results["a"].error or "")
    assert results["b"].error_kind == "auth"
    assert "identity_file" in (results["b"].error or "")
    assert stats.total_connections == 0 and stats.total_execs == 0


def test_no_known_hosts_file_trusts_nothing(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """Without any known_hosts file, verification stays on: an empty list, never None."""
    monkeypatch.setattr(transport, "DEFAULT_KNOWN_HOSTS", (str(tmp_path / "absent"),))
    runner = transport._Runner("", asyncio.Semaphore(1))
    kh = runner._load_known_hosts(_target())
    assert kh is not None
    assert kh.match("192.0.2.10", "192.0.2.10", None)[0] == []


@pytest.mark.parametrize("exc,kind,needle", [
    (asyncssh.PermissionDenied("denied"), "auth", "identity_file"),
    (asyncssh.KeyImportError("Passphrase must be specified"), "auth", "ssh-agent"),
    (asyncio.TimeoutError(), "timeout", "connect_timeout"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"), "unreachable",
     "Connection refused"),
    (OSError(errno.EHOSTUNREACH, "x"), "unreachable", "No route to host"),
    (asyncssh.ConnectionLost("reset"), "unreachable", "reset"),
])
def test_classification(exc: BaseException, kind: str, needle: str) -> None:
    runner = transport._Runner("", asyncio.Semaphore(1))
    got_kind, message = asyncio.run(runner._classify(exc, _target(username="ops")))
    assert got_kind == kind
    assert needle in message
    assert message.startswith("cmp1 (192.0.2.10:22)") and "\n" not in message


def test_never_forwards_agent_or_x11_whatever_ssh_config_says(tmp_path) -> None:
    import asyncio

    from osc_netpath.host import transport

    known = tmp_path / "known_hosts"
    known.write_text("")
    runner = transport._Runner("", asyncio.Semaphore(1))
    opts = runner._options(_target(known_hosts=str(known)))
    assert opts["agent_forwarding"] is False and opts["x11_forwarding"] is False
    assert opts["known_hosts"] is not None and opts["password_auth"] is False


def test_known_hosts_files_named_in_ssh_config_are_used(tmp_path, monkeypatch) -> None:
    import asyncio

    from osc_netpath.host import transport

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    prod = tmp_path / "kh_prod"
    prod.write_text("")
    (tmp_path / ".ssh" / "config").write_text(
        f"Host 192.0.2.*\n  UserKnownHostsFile {prod}\nHost 198.51.100.*\n"
        "  UserKnownHostsFile none\n")
    runner = transport._Runner("", asyncio.Semaphore(1))
    assert runner._known_hosts_paths(_target()) == (str(prod),)  # 192.0.2.10
    assert runner._known_hosts_paths(_target(address="198.51.100.7")) == ()  # none: trust nothing
    assert runner._known_hosts_paths(_target(use_ssh_config=False)) == ()  # no ~/.ssh/known_hosts
    explicit = tmp_path / "explicit"
    assert runner._known_hosts_paths(_target(known_hosts=str(explicit))) == (str(explicit),)


def test_aes_gcm_is_offered_first_unless_ssh_config_names_the_ciphers(tmp_path, monkeypatch
                                                                     ) -> None:
    """GCM first, then the rest of asyncssh's defaults (chacha20-poly1305 still offered);
    a ``Ciphers`` that ~/.ssh/config sets for the host is left in charge."""
    import asyncio

    from osc_netpath.host import transport

    monkeypatch.setenv("HOME", str(tmp_path))
    runner = transport._Runner("", asyncio.Semaphore(1))
    offered = runner._options(_target())["encryption_algs"]
    assert offered[:2] == ["aes256-gcm@openssh.com", "aes128-gcm@openssh.com"]
    assert "chacha20-poly1305@openssh.com" in offered and len(set(offered)) == len(offered)
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host 192.0.2.*\n  Ciphers aes128-ctr\n")
    assert "encryption_algs" not in runner._options(_target())  # the config's, by asyncssh
    assert runner._options(_target(address="198.51.100.7"))["encryption_algs"] == offered
    assert runner._options(_target(use_ssh_config=False))["encryption_algs"] == offered


def test_a_jump_hosts_ciphers_come_from_its_own_ssh_config_block(tmp_path, monkeypatch
                                                                ) -> None:
    import asyncio

    import asyncssh

    from osc_netpath.host import transport

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(
        "Host bastion\n  Ciphers aes128-ctr\nHost 192.0.2.*\n  Ciphers aes256-ctr\n")
    asked: list[tuple[str, dict]] = []

    async def connect(address: str, **kw: object) -> str:
        asked.append((address, kw))
        return "tunnel"

    monkeypatch.setattr(asyncssh, "connect", connect)

    async def jumps() -> None:
        runner = transport._Runner("", asyncio.Semaphore(1))
        await runner._jump(_target(jump_host="ops@bastion:2222"))
        await runner._jump(_target(jump_host="other-bastion"))

    asyncio.run(jumps())
    (bastion, kw), (other, kw2) = asked
    assert (bastion, kw["username"], kw["port"]) == ("bastion", "ops", 2222)
    assert "encryption_algs" not in kw  # its block's aes128-ctr, applied by asyncssh
    assert (other, kw2["encryption_algs"][0]) == ("other-bastion", "aes256-gcm@openssh.com")


def test_ctrl_c_keeps_the_hosts_that_finished(tmp_path: Path) -> None:
    """Real asyncssh, real sockets, a real SIGINT: "fast" is refused at once, "stuck" accepts
    the TCP connection and never speaks. Ctrl-C once "fast" is in: ProbesInterrupted (still a
    KeyboardInterrupt) holds fast's result and the counts; stuck's connection is closed."""
    import os
    import select
    import signal
    import socket

    (tmp_path / "kh").write_text("")
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))  # bound, never listening: connection refused
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(4)  # the kernel completes the handshake; nobody ever sends a banner
    stuck.settimeout(10)  # a failing test fails, it never hangs
    kh = str(tmp_path / "kh")
    jobs = [(_target(host="fast", address="127.0.0.1", port=refused.getsockname()[1],
                     known_hosts=kh, use_ssh_config=False, connect_timeout=30), "sh -s"),
            (_target(host="stuck", address="127.0.0.1", port=stuck.getsockname()[1],
                     known_hosts=kh, use_ssh_config=False, connect_timeout=30), "sh -s")]
    seen: list[str] = []

    def on_result(result: transport.ProbeResult) -> None:
        seen.append(result.host)
        loop = asyncio.get_running_loop()

        def ctrl_c_once_stuck_is_connected() -> None:  # the operator's Ctrl-C, "stuck" out
            if select.select([stuck], [], [], 0)[0]:  # its connection waits in the backlog
                os.kill(os.getpid(), signal.SIGINT)
            else:
                loop.call_later(0.01, ctrl_c_once_stuck_is_connected)

        ctrl_c_once_stuck_is_connected()

    # whatever the parent did with SIGINT (a background job ignores it), Ctrl-C interrupts
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(transport.ProbesInterrupted) as caught:
            run_probes(jobs, "", concurrency=2, on_result=on_result)
        assert isinstance(caught.value, KeyboardInterrupt)
        assert seen == ["fast"] and set(caught.value.results) == {"fast"}
        fast = caught.value.results["fast"]
        assert fast.error_kind == "unreachable" and fast.elapsed is not None
        assert caught.value.stats.connections == {"fast": 1, "stuck": 1}
        conn, _ = stuck.accept()  # the cancelled probe hung up: its socket reads EOF
        conn.settimeout(5)
        assert conn.recv(4096).startswith(b"SSH-2.0-")  # asyncssh sent its banner first
        while chunk := conn.recv(4096):
            assert chunk
        conn.close()
    finally:
        signal.signal(signal.SIGINT, previous)
        refused.close()
        stuck.close()


def test_each_result_is_handed_over_as_it_comes(tmp_path: Path) -> None:
    """on_result sees every host once, with its probe time; an output it drops is gone from
    the results too (what streaming callers rely on)."""
    (tmp_path / "kh").write_text("")
    jobs = [(_target(host=h, known_hosts=str(tmp_path / "none")), "sh -s") for h in ("a", "b")]
    got: list[transport.ProbeResult] = []
    results, _ = run_probes(jobs, "", on_result=got.append)
    assert sorted(r.host for r in got) == ["a", "b"]
    assert all(r.elapsed is not None and r.elapsed >= 0 for r in got)
    assert {h: r for h, r in results.items()} == {r.host: r for r in got}
