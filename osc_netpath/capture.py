"""Capture bundles: what one or more `netpath show` runs learnt, replayable with no cloud.

A bundle holds, per traced server, the API facts (CloudFacts as plain data) and the raw stdout of
each host's probe. Replay re-runs the real parsers and path resolution on them, so a capture
recorded from a real cloud shows exactly what the live command would have shown.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

from osc_netpath import serial
from osc_netpath.cloud.facts import CloudFacts, HostedBy, NetworkTrace
from osc_netpath.host import redact

FORMAT = "osc-netpath-capture"
VERSION = 1
DEMO = "demo"  # --capture demo: the bundle shipped in osc_netpath/demo/
# --capture NAME -> the built-in bundle: ML2/OVS (demo) and ML2/OVN (demo-ovn) stacks
DEMOS = {DEMO: "capture.json", "demo-ovn": "capture-ovn.json"}


@dataclass
class Trace:
    cloud: CloudFacts
    probes: dict[str, str] = field(default_factory=dict)  # host -> probe stdout
    errors: dict[str, str] = field(default_factory=dict)  # host -> one-line transport error
    # `netpath network show` (cloud.subject "network", cloud.server = the network): who hosts it
    dhcp_agents: list[HostedBy] = field(default_factory=list)
    l3_agents: list[HostedBy] = field(default_factory=list)

    def network_trace(self) -> NetworkTrace:
        """The API side of a network trace, as ``cloud.network.gather`` gave it."""
        cloud = self.cloud
        return NetworkTrace(network=cloud.networks[cloud.server.id], cloud=cloud,
                            dhcp_agents=self.dhcp_agents, l3_agents=self.l3_agents)


@dataclass
class Bundle:
    traces: list[Trace] = field(default_factory=list)
    recorded_from: str | None = None  # free text: which cloud, when


class CaptureError(ValueError):
    """A capture file that cannot be used; the message is one line for the user."""


_BUNDLE_KEYS = ("traces", "recorded_from")  # the rest of the file's object: format, version
MAX_DIGITS = 1000  # longer is no fact (the schema then says which field); int() refuses > 4300


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _read(where: str) -> tuple[str, bytes]:
    """(how messages name it, its bytes)."""
    if where in DEMOS:
        try:
            return f"the built-in {where}", resources.files("osc_netpath.demo").joinpath(
                DEMOS[where]).read_bytes()
        except OSError as exc:  # a packaging fault: say which file is missing
            raise CaptureError(f"the built-in {where} is not installed "
                               f"(osc_netpath/demo/{DEMOS[where]}: {exc.strerror})") from None
    try:
        with open(os.path.expanduser(where), "rb") as fh:
            return where, fh.read()
    except OSError as exc:
        raise CaptureError(f"cannot read capture {where}: {exc.strerror}") from None


def parse(source: str, raw: bytes) -> Bundle:
    """A capture file's bytes -> Bundle, checked against the schema of every field."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CaptureError(f"{source} is not a netpath capture (not UTF-8 text: byte "
                           f"{exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_constant, parse_int=_integer)
    except RecursionError:
        raise CaptureError(f"{source} is not a netpath capture (invalid JSON: nested too "
                           "deeply)") from None
    except ValueError as exc:
        raise CaptureError(f"{source} is not a netpath capture (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CaptureError(f"{source} is not a netpath capture (no format: {FORMAT})")
    if type(data.get("version")) is not int or data["version"] != VERSION:  # not true, not 1.0
        raise CaptureError(f"{source} is capture version {serial.describe(data.get('version'))}"
                           f", this osc-netpath reads version {VERSION}")
    try:
        return serial.from_data(Bundle, {k: v for k, v in data.items() if k in _BUNDLE_KEYS})
    except serial.SchemaError as exc:
        raise CaptureError(f"{source} is a damaged netpath capture: {exc}") from None


def load(where: str) -> Bundle:
    return parse(*_read(where))


def dump(bundle: Bundle) -> str:
    """The file's text. Probe outputs are stored with their secrets blanked (or, when their OVS
    section cannot be parsed, without it: the trace's notes say so on replay)."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "recorded_from": bundle.recorded_from,
        "traces": [serial.to_data(t) for t in bundle.traces],
    }
    for trace in data["traces"]:
        for host, out in trace["probes"].items():
            clean = redact.redact(out)
            trace["probes"][host] = clean.text
            if clean.dropped:
                trace["cloud"]["notes"].append(f"{host}: {clean.dropped}")
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _target(path: str) -> os.stat_result | None:
    """The record target's lstat (None when absent); a symlink or a non-file is refused, so a
    capture never lands where a link planted in a shared directory points."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CaptureError(f"cannot write capture {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise CaptureError(f"cannot write capture {path}: it is a symbolic link; name the file "
                           "itself")
    if not stat.S_ISREG(st.st_mode):
        raise CaptureError(f"cannot write capture {path}: not a regular file")
    return st


def _existing(path: str) -> Bundle | None:
    """The bundle already at ``path`` (read without following a symlink), or None."""
    if _target(path) is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise CaptureError(f"cannot read capture {path}: {exc.strerror}") from None
    return parse(path, raw)


def check_writable(path: str) -> None:
    """Fail before any API call or SSH session, not after: a finished run is never lost."""
    if _existing(path) is not None and not os.access(path, os.W_OK):
        raise CaptureError(f"cannot write capture {path}: permission denied")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise CaptureError(f"cannot write capture {path}: {folder} is not a writable directory")


def save(bundle: Bundle, path: str) -> None:
    """Add to an existing bundle at ``path`` (replacing traces of the same server) or create it.

    Written to a fresh file of random name, created exclusively (never through a symlink) in
    the same directory with mode 0600 — a capture describes the fleet's wiring, only its owner
    reads it, whatever mode an older file had — then renamed over ``path`` in one step."""
    merged = Bundle(recorded_from=bundle.recorded_from)
    old = _existing(path)
    if old is not None:
        new_ids = {trace_key(t) for t in bundle.traces}
        merged.traces = [t for t in old.traces if trace_key(t) not in new_ids]
        merged.recorded_from = bundle.recorded_from or old.recorded_from
    merged.traces.extend(bundle.traces)
    text = dump(merged)
    folder, name = os.path.split(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")  # O_EXCL
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        _target(path)  # still no symlink there (rename would replace one, never follow it)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise CaptureError(f"cannot write capture {path}: {exc.strerror}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


T = TypeVar("T")


def run_or_replay(capture_file: str | None, record_file: str | None,
                  replay: Callable[[Bundle], T], live: Callable[[], tuple[T, Trace]]) -> T:
    """What every netpath command does with --capture/--record: replay the bundle, or run
    live and save what it learnt (the target checked writable before any request)."""
    if capture_file:
        if record_file:
            raise CaptureError("--record and --capture do not go together")
        return replay(load(capture_file))
    if record_file:
        check_writable(record_file)
    result, recorded = live()
    if record_file:
        save(Bundle(traces=[recorded]), record_file)
    return result


def trace_key(trace: Trace) -> tuple[str, str]:
    """What a trace is of: a server by its id, one port by its id (its owner, a router say,
    may own several traced ports), or a network by its id."""
    cloud = trace.cloud
    if cloud.subject == "port" and cloud.ports:
        return "port", cloud.ports[0].id
    if cloud.subject == "network":
        return "network", cloud.server.id
    return ("server", cloud.server.id) if cloud.to is None else (f"server-to-{cloud.to}",
                                                               cloud.server.id)


def _find_port(bundle: Bundle, ref: str) -> Trace:
    traces = [t for t in bundle.traces if t.cloud.subject == "port" and t.cloud.ports]
    by_id = [t for t in traces if t.cloud.ports[0].id == ref]
    named = [t for t in traces if t.cloud.ports[0].name == ref]
    if by_id or len(named) == 1:
        return (by_id or named)[0]
    if named:
        ids = ", ".join(t.cloud.ports[0].id for t in named)
        raise CaptureError(f"more than one port is named {ref!r} in the capture: {ids}; "
                           "use the ID")
    have = ", ".join(sorted(t.cloud.ports[0].name or t.cloud.ports[0].id for t in traces))
    raise CaptureError(f"no port {ref!r} in the capture (ports: {have or 'none'})")


def _find_network(bundle: Bundle, ref: str) -> Trace:
    traces = [t for t in bundle.traces if t.cloud.subject == "network"
              and t.cloud.server.id in t.cloud.networks]
    by_id = [t for t in traces if t.cloud.server.id == ref]
    named = [t for t in traces if t.cloud.server.name == ref]
    if by_id or len(named) == 1:
        return (by_id or named)[0]
    if named:
        ids = ", ".join(t.cloud.server.id for t in named)
        raise CaptureError(f"more than one network is named {ref!r} in the capture: {ids}; "
                           "use the ID")
    have = ", ".join(sorted(t.cloud.server.name for t in traces))
    raise CaptureError(f"no network {ref!r} in the capture (networks: {have or 'none'})")


def find(bundle: Bundle, ref: str, subject: str = "server", to: str | None = None) -> Trace:
    """The trace of a server (or, with ``subject="port"``, of a port) by ID or exact name,
    with Nova's ambiguity rule; ``to`` ("external") picks the trace recorded with ``--to``."""
    if subject == "port":
        return _find_port(bundle, ref)
    if subject == "network":
        return _find_network(bundle, ref)
    servers = [t for t in bundle.traces if t.cloud.subject == "server"]
    wanted = [t for t in servers if t.cloud.to == to]
    if not any(ref in (t.cloud.server.id, t.cloud.server.name) for t in wanted):
        other = next((t for t in servers if ref in (t.cloud.server.id, t.cloud.server.name)),
                     None)
        if other is not None:
            said = f"--to {to}" if to else "no --to"
            was = f"--to {other.cloud.to}" if other.cloud.to else "without --to"
            raise CaptureError(f"server {ref!r} is in the capture {was} only; it cannot be "
                               f"replayed with {said}")
    bundle = Bundle(traces=wanted, recorded_from=bundle.recorded_from)
    by_id = [t for t in bundle.traces if t.cloud.server.id == ref]
    if by_id:
        return by_id[0]
    named = [t for t in bundle.traces if t.cloud.server.name == ref]
    if len(named) > 1:
        ids = ", ".join(t.cloud.server.id for t in named)
        raise CaptureError(f"more than one server is named {ref!r} in the capture: {ids}; "
                           "use the ID")
    if not named:
        have = ", ".join(sorted(t.cloud.server.name for t in bundle.traces)) or "none"
        raise CaptureError(f"no server {ref!r} in the capture (servers: {have})")
    return named[0]
