"""Capture bundles: what one or more `netpath show` runs learnt, replayable with no cloud.

A bundle holds, per traced server, the API facts (CloudFacts as plain data) and the raw stdout of
each host's probe. Replay re-runs the real parsers and path resolution on them, so a capture
recorded from a real cloud shows exactly what the live command would have shown.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from osc_netpath import serial
from osc_netpath.cloud.facts import CloudFacts

FORMAT = "osc-netpath-capture"
VERSION = 1
DEMO = "demo"  # --capture demo: the bundle shipped in osc_netpath/demo/


@dataclass
class Trace:
    cloud: CloudFacts
    probes: dict[str, str] = field(default_factory=dict)  # host -> probe stdout
    errors: dict[str, str] = field(default_factory=dict)  # host -> one-line transport error


@dataclass
class Bundle:
    traces: list[Trace] = field(default_factory=list)
    recorded_from: str | None = None  # free text: which cloud, when


class CaptureError(ValueError):
    """A capture file that cannot be used; the message is one line for the user."""


def load(where: str) -> Bundle:
    if where == DEMO:
        text = resources.files("osc_netpath.demo").joinpath("capture.json").read_text("utf-8")
        source = "the built-in demo"
    else:
        source = where
        try:
            with open(os.path.expanduser(where), encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise CaptureError(f"cannot read capture {where}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CaptureError(f"{source} is not a netpath capture (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CaptureError(f"{source} is not a netpath capture (no format: {FORMAT})")
    if data.get("version") != VERSION:
        raise CaptureError(f"{source} is capture version {data.get('version')}, "
                           f"this osc-netpath reads version {VERSION}")
    try:
        return Bundle(
            traces=[serial.from_data(Trace, t) for t in data.get("traces", [])],
            recorded_from=data.get("recorded_from"),
        )
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise CaptureError(f"{source} is a damaged netpath capture ({exc})") from None


# OVS keeps IPsec pre-shared keys in Interface options (options:psk); probe output is recorded
# verbatim, so secrets are blanked before anything is written. Matches ovs-vsctl's JSON map pairs.
_SECRET_PAIR = re.compile(r'(\[\\?"(?:psk|[^"\\]*(?:passw|secret)[^"\\]*)\\?",\s*\\?")'
                          r'((?:[^"\\]|\\[^"])*)(\\?"\])', re.IGNORECASE)


def redact(text: str) -> str:
    return _SECRET_PAIR.sub(r"\1<redacted>\3", text)


def dump(bundle: Bundle) -> str:
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "recorded_from": bundle.recorded_from,
        "traces": [serial.to_data(t) for t in bundle.traces],
    }
    for trace in data["traces"]:
        trace["probes"] = {h: redact(out) for h, out in trace["probes"].items()}
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def check_writable(path: str) -> None:
    """Fail before any API call or SSH session, not after: a finished run is never lost."""
    if os.path.exists(path):
        load(path)  # must be a capture we can add to
        if not os.access(path, os.W_OK):
            raise CaptureError(f"cannot write capture {path}: permission denied")
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise CaptureError(f"cannot write capture {path}: {folder} is not a writable directory")


def save(bundle: Bundle, path: str) -> None:
    """Add to an existing bundle at ``path`` (replacing traces of the same server) or create it."""
    merged = Bundle(recorded_from=bundle.recorded_from)
    if os.path.exists(path):
        old = load(path)
        new_ids = {t.cloud.server.id for t in bundle.traces}
        merged.traces = [t for t in old.traces if t.cloud.server.id not in new_ids]
        merged.recorded_from = bundle.recorded_from or old.recorded_from
    merged.traces.extend(bundle.traces)
    tmp = f"{path}.tmp"
    try:
        # 0600: a capture describes the fleet's wiring; only its owner reads it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dump(merged))
        os.replace(tmp, path)
    except OSError as exc:
        raise CaptureError(f"cannot write capture {path}: {exc.strerror}") from None


def find(bundle: Bundle, ref: str) -> Trace:
    """The trace of a server by ID or exact name, with Nova's ambiguity rule."""
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
