"""Run the probe on hypervisors: over SSH (asyncssh) or on this machine.

One SSH connection and one exec per host, hosts concurrently. Every failure is turned into a
:class:`ProbeResult` with a one-line message naming the host, the address and the setting to
change, so one bad host never hides the others.

Importing this module is cheap: asyncio and asyncssh are imported only when probes run.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

LOG = logging.getLogger(__name__)

ERROR_KINDS = ("unreachable", "timeout", "auth", "hostkey-unknown", "hostkey-changed", "exec",
               "truncated")
# A hypervisor's probe prints a few MB (10k OVS ports is ~10 MB); past this the host is not
# answering the probe but flooding it: what came is kept, the rest is never read into memory.
MAX_OUTPUT = 64 * 2**20
MAX_STDERR = 64 * 2**10
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
JUMP_RE = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})@)?"
    r"(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]{1,253}))"
    r"(?::(?P<port>[0-9]{1,5}))?\Z"
)


@dataclass
class SshTarget:
    """How to reach one hypervisor. ``None`` means "ask ~/.ssh/config, then asyncssh's default"."""

    host: str  # Nova compute host name: the key results are reported under
    address: str  # what to connect to (validated IP or host name)
    port: int | None = None
    username: str | None = None
    identity_files: list[str] = field(default_factory=list)
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts
    jump_host: str | None = None  # "[user@]host[:port]" (ProxyJump); one connection shared
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    use_ssh_config: bool = True
    agent: bool = True
    max_output: int = MAX_OUTPUT  # characters of probe stdout kept; a runaway host is cut there

    def where(self) -> str:
        """``hv1 (192.0.2.11:22)`` for messages."""
        port = self.port if self.port is not None else 22
        addr = f"[{self.address}]" if ":" in self.address else self.address
        via = f" via {self.jump_host}" if self.jump_host else ""
        return f"{self.host} ({addr}:{port}{via})"


@dataclass
class ProbeResult:
    host: str
    stdout: str | None = None
    error: str | None = None  # one line: what happened, what to do
    error_kind: str | None = None  # one of ERROR_KINDS
    exit_status: int | None = None
    stderr: str | None = None
    address: str | None = None
    elapsed: float | None = None  # seconds from this host's turn to its result

    @property
    def ok(self) -> bool:
        return self.error is None


# Called with each host's result as soon as it is there (progress lines, streaming). It may set
# ``result.stdout = None`` once it consumed the output: the runner then holds nothing of it.
OnResult = Callable[[ProbeResult], None]


class ProbesInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_probes`: the results of the hosts that had finished, and the
    counts so far. A KeyboardInterrupt still, for callers that only want to stop."""

    def __init__(self, results: dict[str, ProbeResult], stats: TransportStats) -> None:
        super().__init__(f"interrupted after {len(results)} host(s)")
        self.results = results
        self.stats = stats or TransportStats()


@dataclass
class TransportStats:
    """Exact counts, per host, for benchmarks and tests."""

    connections: dict[str, int] = field(default_factory=dict)  # SSH connections attempted
    execs: dict[str, int] = field(default_factory=dict)  # remote commands started
    jump_connections: int = 0  # connections to jump hosts (shared by the hosts behind them)
    max_in_flight: int = 0  # most hosts being probed at the same moment
    elapsed: float = 0.0  # seconds for the whole run

    @property
    def total_connections(self) -> int:
        return sum(self.connections.values())

    @property
    def total_execs(self) -> int:
        return sum(self.execs.values())


def _ssh_config(target: SshTarget) -> Any:
    """What ~/.ssh/config says for this host (asyncssh's parse of it), None: no file, or it
    does not parse (connect() reports a broken config itself)."""
    path = os.path.expanduser("~/.ssh/config")
    if not target.use_ssh_config or not os.path.isfile(path):
        return None
    from asyncssh.config import ConfigParseError, SSHClientConfig

    try:
        return SSHClientConfig.load(None, [path], False, False, False, "", target.username or "",
                                    target.address, target.port or 22)
    except (ConfigParseError, OSError):
        return None


def _ssh_config_known_hosts(config: Any) -> list[str] | None:
    """UserKnownHostsFile/GlobalKnownHostsFile the config sets for this host (None: not
    set). ``none`` yields an empty list: nothing is trusted, never everything."""
    if config is None:
        return None
    values: list[Any] = [config.get(o) for o in ("UserKnownHostsFile", "GlobalKnownHostsFile")]
    if all(v is None for v in values):
        return None
    return [str(p) for v in values if v for p in v]


# AES-GCM first: asyncssh seals a packet with one AEAD call where chacha20-poly1305 takes
# several (about 1.2 ms less client CPU per connection, 6 -> 5 ms: a fleet audit's main cost),
# and it is not the mode the Terrapin prefix truncation targets. asyncssh's other defaults
# follow, so a server without GCM still negotiates; a ``Ciphers`` in ~/.ssh/config wins.
PREFERRED_CIPHERS = ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com")


def _encryption_algs(config: Any) -> list[str] | None:
    """The ciphers to offer, in order (None: leave it to the config / asyncssh)."""
    if config is not None and config.get("Ciphers") is not None:
        return None
    try:
        from asyncssh.encryption import get_default_encryption_algs
    except ImportError:  # a future asyncssh without it: its own order, still secure
        return None
    default = [a.decode() for a in get_default_encryption_algs()]
    return [a for a in PREFERRED_CIPHERS if a in default] + \
        [a for a in default if a not in PREFERRED_CIPHERS]


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------- local


def _exec_error(where: str, command: str, status: int | None, stderr: str | None) -> str:
    first = next((ln for ln in (stderr or "").splitlines() if ln.strip()), "")
    how = f"exited with status {status}" if status is not None else "was killed by a signal"
    hint = ""
    if "sudo" in first:
        hint = "; allow passwordless sudo for the probe or set netpath: sudo: false (--no-sudo)"
    elif status == 127:
        hint = "; install the missing tool on the host"
    detail = f": {_one_line(first, 200)}" if first else ""
    return f"{where}: probe command `{_one_line(command, 120)}` {how}{detail}{hint}"


# --------------------------------------------------------------------------- ssh


def run_probes(
    jobs: list[tuple[SshTarget, str]],
    script: str,
    concurrency: int = 10,
    on_result: OnResult | None = None,
) -> tuple[dict[str, ProbeResult], TransportStats]:
    """Probe every host: one connection, one exec (``command`` with ``script`` on stdin) each.

    Returns results keyed by :attr:`SshTarget.host` and exact counts. Never raises for a host
    failure; raises ValueError for a caller bug (the same host twice, concurrency < 1), and
    :class:`ProbesInterrupted` on Ctrl-C, holding what had finished.
    """
    import asyncio

    results: dict[str, ProbeResult] = {}
    stats = TransportStats()
    try:
        asyncio.run(run_probes_async(jobs, script, concurrency, on_result, results, stats))
    except KeyboardInterrupt:  # asyncio.run cancelled the probes and closed their connections
        raise ProbesInterrupted(results, stats) from None
    return results, stats


async def run_probes_async(
    jobs: list[tuple[SshTarget, str]],
    script: str,
    concurrency: int = 10,
    on_result: OnResult | None = None,
    results: dict[str, ProbeResult] | None = None,
    stats: TransportStats | None = None,
) -> tuple[dict[str, ProbeResult], TransportStats]:
    """As :func:`run_probes`; ``results`` and ``stats``, when given, fill as hosts finish (so
    a cancelled run still has them)."""
    import asyncio

    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    hosts = [t.host for t, _ in jobs]
    if len(set(hosts)) != len(hosts):
        raise ValueError("each host may appear only once (one connection, one exec per host)")
    results = {} if results is None else results
    runner = _Runner(script, asyncio.Semaphore(concurrency), stats)
    started = time.monotonic()

    async def one(target: SshTarget, command: str) -> None:
        result = await runner.probe(target, command)
        results[result.host] = result
        if on_result is not None:
            on_result(result)

    try:
        await asyncio.gather(*(one(t, cmd) for t, cmd in jobs))
    finally:
        await runner.close()
        runner.stats.elapsed = time.monotonic() - started
    return results, runner.stats


class _Runner:
    def __init__(self, script: str, semaphore: asyncio.Semaphore,
                 stats: TransportStats | None = None) -> None:
        self.script = script
        self.semaphore = semaphore
        self.stats = stats or TransportStats()
        self._in_flight = 0
        self._known_hosts: dict[tuple[str, ...], Any] = {}
        self._jumps: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    async def probe(self, target: SshTarget, command: str) -> ProbeResult:
        async with self.semaphore:
            self._in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
            started = time.monotonic()
            try:
                result = await self._probe(target, command)
            finally:
                self._in_flight -= 1
            result.elapsed = time.monotonic() - started
            return result

    async def _probe(self, target: SshTarget, command: str) -> ProbeResult:
        import asyncio

        import asyncssh

        where = target.where()
        self.stats.connections.setdefault(target.host, 0)
        self.stats.execs.setdefault(target.host, 0)
        try:
            options = self._options(target)
        except _SetupError as exc:
            return ProbeResult(target.host, error=f"{where}: {exc}", error_kind=exc.kind,
                               address=target.address)
        try:
            tunnel = await self._jump(target) if target.jump_host else None
        except Exception as exc:  # noqa: BLE001 - every failure becomes this host's result
            kind, msg = await self._classify(exc, target, jump=True)
            return ProbeResult(target.host, error=msg, error_kind=kind, address=target.address)
        if tunnel is not None:
            options["tunnel"] = tunnel
        LOG.debug("ssh %s", where)
        self.stats.connections[target.host] += 1
        try:
            conn = await asyncio.wait_for(
                asyncssh.connect(target.address, **options), target.connect_timeout + 1
            )
        except Exception as exc:  # noqa: BLE001
            kind, msg = await self._classify(exc, target)
            return ProbeResult(target.host, error=msg, error_kind=kind, address=target.address)
        out: list[str] = []
        err: list[str] = []
        try:
            self.stats.execs[target.host] += 1
            proc = await conn.create_process(command, encoding="utf-8", errors="replace",
                                             request_pty=False)  # RequestTTY force: no
            proc.stdin.write(self.script)
            proc.stdin.write_eof()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + target.command_timeout
            errors = asyncio.ensure_future(_read_capped(proc.stderr, err, MAX_STDERR, drain=True))
            try:
                cut = await asyncio.wait_for(_read_capped(proc.stdout, out, target.max_output),
                                             target.command_timeout)
                if not cut:
                    await asyncio.wait_for(errors, max(deadline - loop.time(), 0.1))
            finally:
                errors.cancel()
            if cut:  # stop the flood at the source: the channel goes, the command with it
                proc.close()
                return ProbeResult(
                    target.host, address=target.address, error_kind="truncated",
                    stdout="".join(out), stderr="".join(err) or None,
                    error=f"{where}: probe output passed {target.max_output // 2**20 or 1} MiB "
                    "and was cut there (truncated): what came first is shown",
                )
            await asyncio.wait_for(proc.wait_closed(), target.connect_timeout)
        except asyncio.TimeoutError:
            return ProbeResult(  # keep what arrived: the sections printed so far still parse
                target.host, address=target.address, error_kind="timeout",
                stdout="".join(out) or None, stderr="".join(err) or None,
                error=f"{where}: probe did not finish within {target.command_timeout:g}s; "
                "raise netpath: command_timeout (--command-timeout)",
            )
        except (asyncssh.Error, OSError) as exc:
            return ProbeResult(
                target.host, address=target.address, error_kind="exec",
                error=f"{where}: could not run the probe: {_one_line(exc, 200)}",
            )
        finally:
            conn.close()
            await _quietly(conn.wait_closed())
        result = ProbeResult(target.host, stdout="".join(out), stderr="".join(err),
                             exit_status=proc.exit_status, address=target.address)
        if proc.exit_status != 0:
            result.error_kind = "exec"
            result.error = _exec_error(where, command, proc.exit_status, result.stderr)
        return result

    # -- options -----------------------------------------------------------------------------

    def _options(self, target: SshTarget) -> dict[str, Any]:
        """asyncssh.connect keyword arguments. Only set what is configured, so ~/.ssh/config
        (User, Port, IdentityFile, ProxyJump…) still applies to the rest."""
        config = _ssh_config(target)
        opts: dict[str, Any] = {
            "known_hosts": self._load_known_hosts(target, config),  # always verified: never None
            "connect_timeout": target.connect_timeout,
            "login_timeout": target.connect_timeout,
            "config": () if target.use_ssh_config else [],
            "password_auth": False,  # never prompt, never send a password
            "kbdint_auth": False,
            # ~/.ssh/config may say ForwardAgent/ForwardX11 yes: a root user on a hypervisor
            # must never get to use the operator's keys to reach the rest of the fleet
            "agent_forwarding": False,
            "x11_forwarding": False,
        }
        if target.port is not None:
            opts["port"] = target.port
        if target.username:
            opts["username"] = target.username
        if target.identity_files:
            keys = [os.path.expanduser(p) for p in target.identity_files]
            missing = [p for p in keys if not os.path.isfile(p)]
            if missing:
                raise _SetupError(
                    "auth", f"identity file {missing[0]} does not exist; fix netpath: "
                    "identity_file in clouds.yaml (or --ssh-identity)",
                )
            opts["client_keys"] = keys
        if not target.agent:
            opts["agent_path"] = None
        if (ciphers := _encryption_algs(config)) is not None:
            opts["encryption_algs"] = ciphers
        return opts

    def _known_hosts_paths(self, target: SshTarget, config: Any = None) -> tuple[str, ...]:
        """``config``: the host's ~/.ssh/config already parsed (else parsed here)."""
        if target.known_hosts:
            return (os.path.expanduser(target.known_hosts),)
        listed = _ssh_config_known_hosts(config or _ssh_config(target))
        candidates = DEFAULT_KNOWN_HOSTS if listed is None else listed
        found = (os.path.expanduser(p) for p in candidates)
        return tuple(p for p in found if os.path.isfile(p))

    def _load_known_hosts(self, target: SshTarget, config: Any = None) -> Any:
        import asyncssh

        paths = self._known_hosts_paths(target, config)
        if paths not in self._known_hosts:
            if target.known_hosts and not os.path.isfile(paths[0]):
                raise _SetupError(
                    "hostkey-unknown", f"known_hosts file {paths[0]} does not exist; fix netpath: "
                    "known_hosts in clouds.yaml (or --known-hosts)",
                )
            try:
                # An empty SSHKnownHosts trusts nothing (unlike known_hosts=None, which trusts
                # everything): with no file every host is "unknown".
                kh = asyncssh.read_known_hosts(list(paths)) if paths else asyncssh.SSHKnownHosts()
            except (OSError, ValueError) as exc:
                raise _SetupError(
                    "hostkey-unknown", f"cannot read known_hosts {', '.join(paths)}: "
                    f"{_one_line(exc, 160)}",
                ) from None
            self._known_hosts[paths] = kh
        return self._known_hosts[paths]

    # -- jump host ----------------------------------------------------------------------------

    async def _jump(self, target: SshTarget) -> Any:
        """One connection per jump host, shared by every target behind it."""
        import asyncio

        import asyncssh

        assert target.jump_host
        m = JUMP_RE.match(target.jump_host)
        if not m:
            raise _SetupError("unreachable", "bad jump host (want [user@]host[:port])")
        key = (target.jump_host, tuple(target.identity_files), target.known_hosts,
               target.use_ssh_config, target.agent)
        if key not in self._jumps:
            opts = self._options(target)
            opts.pop("port", None)
            opts.pop("username", None)
            if m["user"]:
                opts["username"] = m["user"]
            if m["port"]:
                opts["port"] = int(m["port"])
            addr = m["ip6"] or m["host"]
            # the jump host's own ~/.ssh/config block decides its ciphers, not the target's
            jump = dataclasses.replace(target, address=addr, port=opts.get("port"),
                                       username=opts.get("username"))
            opts.pop("encryption_algs", None)
            if (ciphers := _encryption_algs(_ssh_config(jump))) is not None:
                opts["encryption_algs"] = ciphers
            self.stats.jump_connections += 1
            self._jumps[key] = asyncio.ensure_future(asyncio.wait_for(
                asyncssh.connect(addr, **opts), target.connect_timeout + 1))
        return await asyncio.shield(self._jumps[key])

    async def close(self) -> None:
        for fut in self._jumps.values():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                conn = fut.result()
                conn.close()
                await _quietly(conn.wait_closed())
            elif not fut.done():
                fut.cancel()

    # -- errors -------------------------------------------------------------------------------

    async def _classify(
        self, exc: BaseException, target: SshTarget, jump: bool = False
    ) -> tuple[str, str]:
        import asyncio

        import asyncssh

        where = target.where()
        address, port = target.address, target.port
        if jump and (m := JUMP_RE.match(target.jump_host or "")):
            where = f"{where}: jump host {target.jump_host}"
            address, port = m["ip6"] or m["host"], int(m["port"]) if m["port"] else None
        user = f"user {target.username!r}" if target.username else "the ssh user"
        if isinstance(exc, _SetupError):
            return exc.kind, f"{where}: {exc}"
        if isinstance(exc, asyncssh.PermissionDenied):
            return "auth", (
                f"{where}: SSH authentication failed for {user}: no offered key was accepted; "
                "set netpath: ssh_user / identity_file in clouds.yaml (--ssh-user, "
                "--ssh-identity) or load the key into ssh-agent"
            )
        if isinstance(exc, (asyncssh.KeyImportError, asyncssh.KeyEncryptionError)):
            return "auth", (
                f"{where}: cannot use the identity file ({_one_line(exc, 120)}); load an "
                "encrypted key into ssh-agent or fix netpath: identity_file (--ssh-identity)"
            )
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            return await self._hostkey_error(target, where, address, port)
        if isinstance(exc, asyncio.TimeoutError):
            return "timeout", (
                f"{where}: no SSH answer within {target.connect_timeout:g}s; check the address "
                "and firewalls, or raise netpath: connect_timeout (--connect-timeout)"
            )
        if isinstance(exc, (OSError, asyncssh.DisconnectError)):
            return "unreachable", (
                f"{where}: cannot connect: {_os_reason(exc, address)}; check that sshd runs there "
                "and netpath: address / hosts / ssh_port (--host-address, --ssh-port)"
            )
        LOG.debug("unexpected ssh failure for %s: %r", target.host, exc)
        return "unreachable", f"{where}: SSH failed: {type(exc).__name__}: {_one_line(exc, 160)}"

    async def _hostkey_error(
        self, target: SshTarget, where: str, address: str, port: int | None
    ) -> tuple[str, str]:
        """Unknown (no entry for this host) vs changed (an entry with another key)."""
        import asyncio

        paths = self._known_hosts_paths(target)
        files = ", ".join(paths) if paths else "~/.ssh/known_hosts (missing)"
        port = port if port != 22 else None
        ip = address
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(address, port or 22)
            ip = str(infos[0][4][0])
        except OSError:
            pass
        kh = self._known_hosts.get(paths)
        known = kh.match(address, ip, port) if kh is not None else None
        entry = f"[{address}]:{port}" if port else address
        if known and (known[0] or known[1] or known[2]):
            return "hostkey-changed", (
                f"{where}: SSH host key CHANGED: it does not match the entry in {files} "
                "(host reinstalled, or someone in the middle); verify the new key out of band, "
                f"then replace it: ssh-keygen -R '{entry}' -f FILE"
            )
        return "hostkey-unknown", (
            f"{where}: SSH host key unknown: no entry for {entry} in {files}; verify the host's "
            "key and add it there, or point netpath: known_hosts (--known-hosts) at the right file"
        )


def _os_reason(exc: BaseException, address: str) -> str:
    import socket

    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {address!r} ({exc.strerror})"
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)  # asyncio's text repeats the address; the errno is enough
    return _one_line(exc, 160)


class _SetupError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


async def _quietly(aw: Any) -> None:
    try:
        await aw
    except Exception:  # noqa: BLE001,S110 - closing after the result is known
        pass


async def _read_capped(stream: Any, sink: list[str], cap: int, drain: bool = False) -> bool:
    """Read ``stream`` into ``sink`` up to ``cap`` characters; True when more was coming.

    ``drain`` reads (and drops) the rest to its end, so a chatty stderr never stalls stdout."""
    size, cut = 0, False
    while chunk := await stream.read(1 << 16):
        if cut:
            continue
        if size + len(chunk) > cap:
            sink.append(chunk[: cap - size])
            if not drain:
                return True
            cut = True
            continue
        sink.append(chunk)
        size += len(chunk)
    return cut
