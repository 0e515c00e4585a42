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

from osc_netpath.host.facts import HostFacts, Problem
from osc_netpath.host.names import BRIDGE_RE, CONTAINER_RE, DOMAIN_RE, NETNS_RE, RUNTIMES
from osc_netpath.host.parsers import flows as flow_parser
from osc_netpath.host.parsers import iproute, libvirt, ovs
from osc_netpath.host.parsers import nat as nat_parser

TOKEN_RE = re.compile(r"^[0-9a-f]{8,64}\Z")
MAX_TABLE = 254  # OpenFlow tables 0..254 (255 = OFPTT_ALL)
MAX_TIMEOUT = 600
T = TypeVar("T")


@dataclass
class ProbeRequest:
    """What one probe reads on one host: only the domains and flow tables a path needs."""

    domains: list[str] = field(default_factory=list)  # libvirt names: instance-0000000a
    flows: list[tuple[str, int]] = field(default_factory=list)  # (bridge, table)
    tunnel_tables: list[int] = field(default_factory=list)  # these tables of every bridge
    not_tunnel: list[str] = field(default_factory=list)  # …but these (no tunnels there)
    namespaces: list[str] = field(default_factory=list)  # ip link/addr inside these netns too
    neutron_namespaces: bool = False  # …and inside every qdhcp-/qrouter-/snat-/fip-/ovnmeta-
    nat: list[str] = field(default_factory=list)  # iptables-save -t nat in these (routers)
    ovn: bool = False  # ovn-controller's connection status, where there is an ovn-controller
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
    if req.ovn:
        args.append("--ovn")
    for ns in dict.fromkeys(req.namespaces):
        args += ["--netns", _check(NETNS_RE, ns, "network namespace")]
    for ns in dict.fromkeys(req.nat):
        args += ["--nat", _check(NETNS_RE, ns, "network namespace")]
    for table in dict.fromkeys(req.tunnel_tables):
        args += ["--tunnel-flows", str(_table(table))]
    for bridge in dict.fromkeys(req.not_tunnel) if req.tunnel_tables else []:
        args += ["--not-tunnel", _check(BRIDGE_RE, bridge, "bridge name")]
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
            ok = rc.lstrip("-").isdigit() and len(rc) < 12  # an rc, not a forged number
            sections[cur.name] = cur.close(int(rc) if ok else None)
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
    # timeout's own status; 137 = killed by `timeout -k` after the grace; 142 = SIGALRM, the
    # OVS tools' own --timeout ("terminating with signal 14 (Alarm clock)")
    if rc in (124, 137, 142):
        in_ct = f" in container {container}" if container else ""
        secs = env.get("timeout", "?")
        if rc == 142:  # that --timeout is set whether or not the host has `timeout`
            secs = env.get("ovs_timeout", secs)
        return f"{tool}: timed out after {secs}s{in_ct}"
    if "not found on the host nor" in err:  # the probe's own verdict: no tool, no container
        return f"{tool}: not installed (not on the host, no {_CONTAINERS.get(area, area)} " \
               "container found)"
    if container:
        low = err.lower()
        if f"'{runtime}'" in err or f"{runtime}: not found" in err:
            return f"{runtime}: not installed (needed to reach container {container})"
        # docker: "is not running"; podman (stopped or paused): "can only create exec sessions
        # on running containers: container state improper"
        if "no such container" in low or "no container with name" in low \
                or "is not running" in low or "container state improper" in low:
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
    if "setting the network namespace" in err or "reassociate to namespace" in err:
        # ip -n NS / nsenter --net: setns() needs CAP_SYS_ADMIN
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
    if kind in ("ip-link", "ip-addr", "ip-netns", "ip-link-text", "ip-addr-text",
                "ip-netns-text"):
        return "ip", "ip", f"ip:{arg}" if arg else "ip"
    if kind == "ovs-vsctl":
        return "ovs-vsctl", "ovs", "ovs"
    if kind == "flows":
        return "ovs-ofctl", "ovs", f"flows:{arg.rsplit(':', 1)[0]}"
    if kind == "ovn-controller":
        return "ovn-appctl", "ovn", "ovn"
    if kind == "nat":
        return "iptables-save", "iptables", f"nat:{arg}"
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
        self._seen: set[tuple[str, str]] = set()

    def add(self, problem: Problem) -> None:
        key = (problem.source, problem.message)
        if key not in self._seen:  # e.g. one missing bridge fails each of its tables
            self._seen.add(key)
            self.problems.append(problem)

    def failure(self, name: str) -> Problem | None:
        """Why section ``name`` gave nothing: its failure, or its absence."""
        sec = self.sections.get(name)
        if sec is None:
            return Problem(_identity(name)[2], f"{name}: not in the probe output")
        return problem_of(sec, self.env)

    def read(self, name: str, parse: Callable[[str], T], quiet: bool = False) -> T | None:
        """The parsed section, or None (with a Problem unless ``quiet``)."""
        sec = self.sections.get(name)
        if sec is None:
            return None
        if (problem := problem_of(sec, self.env)) is not None:
            if not quiet:
                self.add(problem)
            return None
        try:
            return parse(sec.stdout)
        except Exception as exc:  # noqa: BLE001 - any parser failure is this section's problem
            tool, _, source = _identity(name)
            why = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            self.add(Problem(source, f"could not parse {tool} output ({name}): {why}"))
            return None

    def named(self, prefix: str) -> list[tuple[str, str]]:
        """(section name, argument) of the sections ``PREFIX:ARG``, in output order."""
        return [(n, n[len(prefix) + 1:]) for n in self.sections if n.startswith(prefix + ":")]


def _first_line(text: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def parse_output(host: str, stdout: str) -> HostFacts:
    """The probe's stdout -> HostFacts. Never raises: what could not be read becomes a Problem
    (and the area it belongs to is marked unknown, never absent)."""
    facts = HostFacts(host=host)
    try:
        _fill(facts, stdout)
    except Exception as exc:  # noqa: BLE001 - a last resort: the other hosts and --record go on
        why = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        facts.problems.append(Problem("probe", f"could not read the probe output: {why}"))
        facts.unknown.setdefault("all", f"the probe output could not be read ({why})")
    return facts


def _fill(facts: HostFacts, stdout: str) -> None:
    sections, done = split_sections(stdout)
    if "probe" not in sections:
        said = _first_line(stdout)
        msg = "no probe output (the script did not run)"
        if said:  # e.g. a nologin shell: "This account is currently not available."
            msg += f"; the host answered: {said!r}"
        facts.problems.append(Problem("probe", msg))
        facts.unknown["all"] = msg
        return
    env = _keyvals(sections["probe"].stdout)
    if env.get("rejected"):
        facts.problems.append(Problem("probe", f"arguments rejected by the probe: {env['rejected']}"))
    if not done:
        facts.problems.append(Problem("probe", "probe output ended early (timeout or killed)"))
        facts.unknown["partial"] = "the probe output ended early"  # what is missing is unknown
    r = _Reader(sections, env)
    facts.hostname = r.read("hostname", lambda s: s.strip() or None)
    _read_links(r, facts)
    facts.ovs = r.read("ovs-vsctl", ovs.parse_vsctl)
    if facts.ovs is None:
        facts.unknown["ovs"] = _why(r, "ovs-vsctl")
    for name, arg in r.named("flows"):
        bridge = arg.rsplit(":", 1)[0]
        got = r.read(name, functools.partial(flow_parser.parse_flows, bridge=bridge))
        if got is None:
            facts.unknown.setdefault(f"flows:{bridge}", _why(r, name))
        facts.flows += got or []
    bridges = r.read("ovs-bridges", lambda s: s.split(), quiet=True)
    if "ovs-bridges" in sections and bridges is None:
        facts.unknown["tunnel-flows"] = _why(r, "ovs-bridges")
    if "ovn-controller" in sections:  # a fact for OVN ports only: never a host problem here
        facts.ovn_controller = r.read("ovn-controller", lambda t: _first_line(t) or None,
                                      quiet=True)
        if facts.ovn_controller is None:
            facts.unknown["ovn-controller"] = _why(r, "ovn-controller")
    for name, ns in r.named("nat"):
        rules = r.read(name, nat_parser.parse_nat, quiet=True)  # a fact of the routers' ports
        if rules is None:
            facts.unknown[f"nat:{ns}"] = _why(r, name)
        else:
            facts.nat[ns] = rules
    for name, dom in r.named("virsh-dumpxml"):
        domain = r.read(name, libvirt.parse_domain)
        if domain is not None:
            domain.state = r.read(f"virsh-domstate:{dom}", libvirt.parse_domstate)
            facts.domains.append(domain)
        elif not _undefined(sections[name]):
            facts.unknown[f"libvirt:{dom}"] = _why(r, name)
    facts.problems += r.problems


def _why(r: _Reader, name: str) -> str:
    problem = r.failure(name)
    if problem is not None:
        return problem.message
    return next((p.message for p in r.problems if p.source == _identity(name)[2]),
                f"{name} could not be read")


def _undefined(section: Section) -> bool:
    """virsh answered that the domain is not defined: a fact (absent), not an unknown."""
    return section.rc not in (0, None) and "failed to get domain" in section.stderr


def _read_links(r: _Reader, facts: HostFacts) -> None:
    """Root links (ip -j; ip text; else sysfs + ethtool), the namespaces', veth peers named."""
    sysfs = r.read("sysfs-net", iproute.parse_sysfs) or {}
    peers = {dev: p for name, dev in r.named("ethtool")
             if (p := r.read(name, iproute.parse_ethtool_peer, quiet=True)) is not None}
    text = "ip-link-text" in r.sections
    links = r.read("ip-link", iproute.parse_links, quiet=text)
    if links is None and text:
        links = r.read("ip-link-text", iproute.parse_links_text)
        if links is not None:
            facts.notes.append("ip has no JSON output (-j): kernel facts read from its text")
            links = r.read("ip-addr-text", functools.partial(iproute.merge_addresses_text, links)) \
                or links
    elif links is not None:
        links = r.read("ip-addr", functools.partial(iproute.merge_addresses, links)) or links
    if links is None:
        if not sysfs:
            facts.unknown["links"] = _why(r, "ip-link-text" if text else "ip-link")
            return
        links = iproute.links_from_sysfs(sysfs, peers)
        facts.notes.append("ip could not be read: kernel facts from sysfs and ethtool "
                           "(no addresses)")
        facts.unknown["addresses"] = _why(r, "ip-link")
    else:
        links = iproute.fill_peers(links, sysfs, peers)
    nsids = (r.read("ip-netns-text", iproute.parse_netns_text) if text
             else r.read("ip-netns", iproute.parse_netns))
    if nsids is None:
        facts.unknown["namespaces"] = _why(r, "ip-netns-text" if text else "ip-netns")
        nsids = {}
    facts.namespaces = list(nsids)
    for kind in ("ip-link", "ip-link-text"):
        parse_ns = iproute.parse_links if kind == "ip-link" else iproute.parse_links_text
        merge = iproute.merge_addresses if kind == "ip-link" else iproute.merge_addresses_text
        addr = "ip-addr" if kind == "ip-link" else "ip-addr-text"
        for name, ns in r.named(kind):
            ns_links = r.read(name, functools.partial(parse_ns, namespace=ns))
            if ns_links is None:
                facts.unknown[f"netns:{ns}"] = _why(r, name)
                continue
            links += r.read(f"{addr}:{ns}", functools.partial(merge, ns_links)) or ns_links
    facts.links = iproute.resolve_peers(links, nsids)
