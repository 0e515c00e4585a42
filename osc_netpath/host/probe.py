"""The host probe, client side: what to ask (:class:`ProbeRequest`), the command line that asks it
(:func:`command_line`), the script (:func:`script`) and the reading of its output
(:func:`parse_output`).

The probe (``probe.sh``, sent on stdin to ``sh -s -- ARGS``) prints one section per command::

    @@netpath TOKEN begin NAME@@
    <stdout, verbatim, then one newline the script adds>
    @@netpath TOKEN stderr NAME@@
    <stderr>
    @@netpath TOKEN end NAME RC@@

and ``@@netpath TOKEN done@@`` last. The first section is always ``probe`` (the script's own
facts), so the token is learnt from the first line and lines carrying another token are content.
"""
from __future__ import annotations

import functools
import re
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import TypeVar

from osc_netpath.host.facts import HostFacts, Link, Problem
from osc_netpath.host.names import BRIDGE_RE, CONTAINER_RE, DOMAIN_RE, NETNS_RE, RUNTIMES
from osc_netpath.host.parsers import flows as flow_parser
from osc_netpath.host.parsers import iproute, libvirt, ovs

TOKEN_RE = re.compile(r"^[0-9a-f]{8,64}$")
MAX_TABLE = 254  # OpenFlow tables 0..254 (255 = OFPTT_ALL)
MAX_TIMEOUT = 600
T = TypeVar("T")


@dataclass
class ProbeRequest:
    """What one probe reads on one host: only the domains and flow tables a path needs."""

    domains: list[str] = field(default_factory=list)  # libvirt names: instance-0000000a
    flows: list[tuple[str, int]] = field(default_factory=list)  # (bridge, table)
    namespaces: list[str] = field(default_factory=list)  # ip link/addr inside these netns too
    neutron_namespaces: bool = False  # …and inside every qdhcp-/qrouter-/snat-/fip-/ovnmeta-
    runtime: str | None = None  # auto | host | docker | podman (None = auto)
    ovs_container: str | None = None  # force OVS tools into this container (kolla)
    libvirt_container: str | None = None  # force virsh into this container
    sudo: bool = False  # `sudo -n` in front
    timeout: int = 10  # seconds per command on the host
    token: str = field(default_factory=lambda: secrets.token_hex(8))


def _check(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _table(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TABLE:
        raise ValueError(f"invalid OpenFlow table: {value!r} (0-{MAX_TABLE})")
    return value


def probe_args(req: ProbeRequest) -> list[str]:
    """The validated argument vector for probe.sh (ValueError on anything unexpected)."""
    if isinstance(req.timeout, bool) or not isinstance(req.timeout, int) \
            or not 1 <= req.timeout <= MAX_TIMEOUT:
        raise ValueError(f"invalid probe timeout: {req.timeout!r} (1-{MAX_TIMEOUT} s)")
    args = ["--token", _check(TOKEN_RE, req.token, "probe token"), "--timeout", str(req.timeout)]
    if req.runtime is not None:
        if req.runtime not in RUNTIMES:
            raise ValueError(f"invalid container runtime: {req.runtime!r} ({', '.join(RUNTIMES)})")
        args += ["--runtime", req.runtime]
    if req.ovs_container is not None:
        args += ["--ovs-container", _check(CONTAINER_RE, req.ovs_container, "OVS container")]
    if req.libvirt_container is not None:
        args += ["--libvirt-container",
                 _check(CONTAINER_RE, req.libvirt_container, "libvirt container")]
    if req.neutron_namespaces:
        args.append("--neutron-netns")
    for ns in dict.fromkeys(req.namespaces):
        args += ["--netns", _check(NETNS_RE, ns, "network namespace")]
    for bridge, table in dict.fromkeys(req.flows):
        args += ["--flows", f"{_check(BRIDGE_RE, bridge, 'bridge name')}:{_table(table)}"]
    for domain in dict.fromkeys(req.domains):
        args += ["--domain", _check(DOMAIN_RE, domain, "libvirt domain name")]
    return args


def command_line(req: ProbeRequest) -> str:
    """``[sudo -n ]sh -s -- ARGS``: the remote command; the script goes to its stdin."""
    line = "sh -s -- " + " ".join(shlex.quote(a) for a in probe_args(req))
    return "sudo -n " + line if req.sudo else line


def script() -> str:
    """probe.sh, from the installed package."""
    return resources.files("osc_netpath.host").joinpath("probe.sh").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- output: sections


@dataclass(frozen=True)
class Section:
    name: str  # ip-link, ip-link:NS, ovs-vsctl, flows:BRIDGE:TABLE, virsh-dumpxml:DOMAIN…
    stdout: str
    stderr: str
    rc: int | None  # None: the section never ended (output cut short)


_MARK = re.compile(r"^@@netpath (?P<tok>\S+) (?P<what>begin|stderr|end|done)(?: (?P<rest>.*))?@@$")


@dataclass
class _Open:
    """A section being read."""

    name: str
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    in_stderr: bool = False

    def close(self, rc: int | None) -> Section:
        out = "".join(self.out)
        if self.in_stderr and out.endswith("\n"):  # the one "\n" the script adds after stdout
            out = out[:-1]
        return Section(self.name, out, "".join(self.err).rstrip("\n"), rc)


def split_sections(stdout: str) -> tuple[dict[str, Section], bool]:
    """Probe output -> ({name: last section of that name}, whether the probe printed ``done``).

    A name can repeat (flows retried with OpenFlow13): the last attempt is the one that counts.
    A section cut short (no end marker) is kept with ``rc=None``.
    """
    sections: dict[str, Section] = {}
    token: str | None = None
    cur: _Open | None = None
    done = False
    for line in stdout.splitlines(keepends=True):
        m = _MARK.match(line.rstrip("\n"))
        if m and token is None and m["what"] == "begin" and m["rest"] == "probe":
            token = m["tok"]
        if not m or m["tok"] != token:
            if cur is not None:
                (cur.err if cur.in_stderr else cur.out).append(line)
            continue
        what, rest = m["what"], m["rest"] or ""
        if what == "begin":
            if cur is not None:
                sections[cur.name] = cur.close(None)
            cur = _Open(rest)
        elif what == "stderr" and cur is not None:
            cur.in_stderr = True
        elif what == "end" and cur is not None:
            rc = rest.rsplit(" ", 1)[-1]
            sections[cur.name] = cur.close(int(rc) if rc.lstrip("-").isdigit() else None)
            cur = None
        elif what == "done":
            done = True
    if cur is not None:
        sections[cur.name] = cur.close(None)
    return sections, done


def _keyvals(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# --------------------------------------------------------------------------- output: problems

_SUDO_HINT = " — set netpath sudo: true"
_CONTAINERS = {"ovs": "openvswitch", "libvirt": "libvirt"}  # by probe area
_DAEMONS = {"ovs": "ovsdb-server", "libvirt": "libvirtd"}
_SOCKET = re.compile(r"(/(?:var/)?run/[^\s':]+)")  # db.sock, br-int.mgmt, libvirt-sock-ro


def _meaningful(stderr: str) -> str:
    """The line of stderr that says most: the last one that is not an OVS log line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    plain = [ln for ln in lines if not re.match(r"^\d{4}-\d\d-\d\dT\S+\|\d+\|", ln)]
    line = (plain or lines or [""])[-1]
    return re.sub(r"^error:\s*", "", line)


def describe_failure(tool: str, area: str, section: Section, env: dict[str, str]) -> str:
    """One line an operator can act on, from a failed section's rc and stderr."""
    err, rc = section.stderr, section.rc
    runtime, _, container = env.get(area, "host").partition(":")
    if rc is None:
        return f"{tool}: output cut short (the probe was interrupted)"
    if rc == 124:
        in_ct = f" in container {container}" if container else ""
        return f"{tool}: timed out after {env.get('timeout', '?')}s{in_ct}"
    if "not found on the host nor" in err:  # the probe's own verdict: no tool, no container
        return f"{tool}: not installed (not on the host, no {_CONTAINERS.get(area, area)} " \
               "container found)"
    if container:
        low = err.lower()
        if f"'{runtime}'" in err or f"{runtime}: not found" in err:
            return f"{runtime}: not installed (needed to reach container {container})"
        if "no such container" in low or "no container with name" in low \
                or "is not running" in low:
            return f"{area}: container {container} not found or not running ({runtime})"
        if "executable file not found" in low:
            return f"{tool}: not installed in container {container}"
        if "permission denied" in low and runtime in low:
            return f"{runtime}: permission denied on its socket{_SUDO_HINT}"
    if rc == 127:
        return f"{tool}: not installed"
    if "Permission denied" in err or rc == 126:
        sock = _SOCKET.search(err)
        return f"{area}: permission denied{f' on {sock.group(1)}' if sock else ''}{_SUDO_HINT}"
    if "setting the network namespace" in err:  # ip -n NS: setns() needs CAP_SYS_ADMIN
        return f"{tool}: cannot enter the namespace (operation not permitted){_SUDO_HINT}"
    if "No such file or directory" in err and (sock := _SOCKET.search(err)):
        return f"{area}: {_DAEMONS.get(area, area)} is not running (no {sock.group(1)})"
    if "is not a bridge or a socket" in err:
        return f"{tool}: no such bridge (or ovs-vswitchd is not running)"
    if "failed to get domain" in err:
        return f"{tool}: domain not defined on this host"
    return f"{tool} failed (rc {rc}): {_meaningful(err)}"


# section name prefix -> (tool, env area for container routing, problem source)
def _identity(name: str) -> tuple[str, str, str]:
    kind, _, arg = name.partition(":")
    if kind in ("ip-link", "ip-addr", "ip-netns"):
        return "ip", "ip", f"ip:{arg}" if arg else "ip"
    if kind == "ovs-vsctl":
        return "ovs-vsctl", "ovs", "ovs"
    if kind == "flows":
        return "ovs-ofctl", "ovs", f"flows:{arg.rsplit(':', 1)[0]}"
    if kind.startswith("virsh-"):
        return "virsh", "libvirt", f"libvirt:{arg}"
    return kind, kind, name


def problem_of(section: Section, env: dict[str, str]) -> Problem | None:
    """The Problem a section amounts to, or None when it went fine."""
    if section.rc == 0:
        return None
    tool, area, source = _identity(section.name)
    return Problem(source, describe_failure(tool, area, section, env))


# --------------------------------------------------------------------------- output: facts


class _Reader:
    """Sections -> parsed values; a failed or unparsable section becomes a Problem instead."""

    def __init__(self, sections: dict[str, Section], env: dict[str, str]) -> None:
        self.sections, self.env = sections, env
        self.problems: list[Problem] = []

    def _add(self, problem: Problem) -> None:
        if problem not in self.problems:  # e.g. one missing bridge fails each of its tables
            self.problems.append(problem)

    def read(self, name: str, parse: Callable[[str], T]) -> T | None:
        sec = self.sections.get(name)
        if sec is None:
            return None
        if (problem := problem_of(sec, self.env)) is not None:
            self._add(problem)
            return None
        try:
            return parse(sec.stdout)
        except (ValueError, KeyError, TypeError, IndexError) as exc:  # JSON, XML errors too
            tool, _, source = _identity(name)
            self._add(Problem(source, f"could not parse {tool} output ({name}): {exc}"))
            return None

    def named(self, prefix: str) -> list[tuple[str, str]]:
        """(section name, argument) of the sections ``PREFIX:ARG``, in output order."""
        return [(n, n[len(prefix) + 1:]) for n in self.sections if n.startswith(prefix + ":")]


def parse_output(host: str, stdout: str) -> HostFacts:
    """The probe's stdout -> HostFacts. Never raises: what could not be read becomes a Problem."""
    facts = HostFacts(host=host)
    sections, done = split_sections(stdout)
    if "probe" not in sections:
        facts.problems.append(Problem("probe", "no probe output (the script did not run)"))
        return facts
    env = _keyvals(sections["probe"].stdout)
    if env.get("rejected"):
        facts.problems.append(Problem("probe", f"arguments rejected by the probe: {env['rejected']}"))
    if not done:
        facts.problems.append(Problem("probe", "probe output ended early (timeout or killed)"))
    r = _Reader(sections, env)
    facts.hostname = r.read("hostname", lambda s: s.strip() or None)
    nsids = r.read("ip-netns", iproute.parse_netns) or {}
    facts.namespaces = list(nsids)
    facts.links = _links(r, nsids)
    facts.ovs = r.read("ovs-vsctl", ovs.parse_vsctl)
    for name, arg in r.named("flows"):
        bridge = arg.rsplit(":", 1)[0]
        facts.flows += r.read(name, functools.partial(flow_parser.parse_flows, bridge=bridge)) or []
    for name, dom in r.named("virsh-dumpxml"):
        domain = r.read(name, libvirt.parse_domain)
        if domain is not None:
            domain.state = r.read(f"virsh-domstate:{dom}", libvirt.parse_domstate)
            facts.domains.append(domain)
    facts.problems += r.problems
    return facts


def _links(r: _Reader, nsids: dict[str, int | None]) -> list[Link]:
    """Root links (ip; else sysfs + ethtool), the namespaces' links, veth peers named."""
    sysfs = r.read("sysfs-net", iproute.parse_sysfs) or {}
    links = r.read("ip-link", iproute.parse_links)
    if links is None:
        peers = {dev: r.read(name, iproute.parse_ethtool_peer) for name, dev in r.named("ethtool")}
        links = iproute.links_from_sysfs(sysfs, {k: v for k, v in peers.items() if v is not None})
    else:
        links = r.read("ip-addr", functools.partial(iproute.merge_addresses, links)) or links
        links = iproute.fill_peers_from_sysfs(links, sysfs)
    for name, ns in r.named("ip-link"):
        ns_links = r.read(name, functools.partial(iproute.parse_links, namespace=ns)) or []
        addr = functools.partial(iproute.merge_addresses, ns_links)
        links += r.read(f"ip-addr:{ns}", addr) or ns_links
    return iproute.resolve_peers(links, nsids)
