"""Blank secrets in a probe's raw output before it is written to a capture.

OVS keeps secrets in the map columns the probe lists (``options:psk`` of an IPsec tunnel,
passwords in ``other_config`` or ``external_ids``), and nowhere else in the probe's output. The
``ovs-vsctl`` section is parsed as the JSON it is, the value of every map pair whose key names a
secret is replaced, and only the documents that changed are re-serialised: every other byte of
the output stays as it was, so a replay reads the same facts. What cannot be parsed cannot be
checked, so it is left out rather than written in clear.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from osc_netpath.host import probe

SECTION = "ovs-vsctl"
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Redacted:
    text: str  # the probe output, secrets blanked
    dropped: str | None = None  # what was left out and why, when something was


def is_secret(key: str) -> bool:
    low = key.lower()
    return low == "psk" or "passw" in low or "secret" in low


def _blank(doc: Any) -> bool:
    """Blank secret map values in place, anywhere in ``doc``; whether any was. No recursion:
    the nesting is whatever the host sent."""
    changed = False
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            if len(node) == 2 and node[0] == "map" and isinstance(node[1], list):
                for pair in node[1]:
                    if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) \
                            and is_secret(pair[0]) and pair[1] != REDACTED:
                        pair[1] = REDACTED
                        changed = True
            stack.extend(node)
    return changed


def _redact_stdout(stdout: str) -> str:
    """The section's stdout with secrets blanked; ValueError when a line is not JSON."""
    lines = stdout.splitlines(keepends=True)
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        if not body.strip():
            continue
        try:
            doc = json.loads(body)
            if _blank(doc):
                lines[i] = json.dumps(doc, separators=(",", ":"), ensure_ascii=False) \
                    + line[len(body):]
        except RecursionError:
            raise ValueError(f"line {i + 1} is nested too deeply") from None
        except ValueError as exc:
            raise ValueError(f"line {i + 1}: {exc}") from None
    return "".join(lines)


def redact(output: str) -> Redacted:
    """``output`` with the secrets of its ovs-vsctl section blanked, or that section's stdout
    left out (with the reason) when it does not parse."""
    sections, _ = probe.split_sections(output)
    section = sections.get(SECTION)
    if section is None or not section.stdout:
        return Redacted(output)
    begin = f" begin {SECTION}@@\n"  # split_sections keeps the last section of a name
    start = output.rfind(begin + section.stdout)
    if start < 0:  # not split_sections' own slice: nothing to cut precisely, so nothing kept
        return Redacted("", "the probe output was left out: its ovs-vsctl section could not "
                            "be located to blank secrets")
    start += len(begin)
    end = start + len(section.stdout)
    try:
        clean = _redact_stdout(section.stdout)
        dropped = None
    except ValueError as exc:
        clean = ""
        dropped = f"the ovs-vsctl output was left out: it is not JSON ({exc}), so its " \
                  "secrets could not be blanked"
    return Redacted(output[:start] + clean + output[end:], dropped)
