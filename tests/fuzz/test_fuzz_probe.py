"""Whole probe outputs, damaged: ``probe.parse_output`` returns HostFacts for every one of them
(its docstring: never raises), and so does the redaction that runs before --record."""
from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from osc_netpath.host import probe, redact
from osc_netpath.host.facts import HostFacts
from tests.fuzz.conftest import examples
from tests.fuzz.mutate import TEXT, dumps, mutated_json, mutated_text
from tests.unit.probe_fixtures import FIXTURES, read

PROBES = sorted(p.name for p in FIXTURES.glob("probe-*.txt"))
_SECTION = re.compile(r"(@@netpath (\S+) begin (\S+)@@\n)(.*?)(@@netpath \2 stderr \3@@\n)"
                      r"(.*?)(@@netpath \2 end \3 (\S+)@@\n)", re.DOTALL)


RC_WORDS = st.sampled_from(["137", "124", "-1", "1 2", "0x0", "٣", "99999999999999999999"])
NAMES = st.sampled_from(["ip-link", "ovs-vsctl", "flows:br-int:0", "flows::", "virsh-dumpxml:",
                         "ip-link:", "probe", ":"])


def check(out: str) -> HostFacts:
    facts = probe.parse_output("compute-1", out)
    assert isinstance(facts, HostFacts)
    cleaned = redact.redact(out)
    assert isinstance(cleaned.text, str)
    return facts


@st.composite
def damaged_probe(draw: st.DrawFn, base: str | None = None) -> str:
    """A recorded probe output (``base``, or one of the fixtures) with its sections damaged the
    ways a host can damage them."""
    out = read(draw(st.sampled_from(PROBES))) if base is None else base
    sections = list(_SECTION.finditer(out))
    if not sections:
        return draw(mutated_text(out))
    for _ in range(draw(st.integers(1, 4))):
        m = sections[draw(st.integers(0, len(sections) - 1))]
        begin, token, name, stdout, mid, stderr, end, rc = m.groups()
        op = draw(st.sampled_from(["rc", "stdout", "json", "stderr", "drop-end", "drop-begin",
                                   "duplicate", "token", "name"]))
        if op == "rc":
            new = draw(st.one_of(TEXT, RC_WORDS))
            piece = begin + stdout + mid + stderr + end.replace(f" {rc}@@", f" {new}@@")
        elif op == "stdout":
            piece = begin + draw(mutated_text(stdout)) + mid + stderr + end
        elif op == "json" and stdout.lstrip().startswith(("{", "[")):
            try:
                docs = [json.loads(line) for line in stdout.splitlines() if line.strip()]
            except ValueError:
                docs = []
            body = "\n".join(dumps(draw(mutated_json(d))) for d in docs)
            piece = begin + body + "\n\n" + mid + stderr + end
        elif op == "stderr":
            piece = begin + stdout + mid + draw(TEXT) + "\n" + end
        elif op == "drop-end":
            piece = begin + stdout + mid + stderr
        elif op == "drop-begin":
            piece = stdout + mid + stderr + end
        elif op == "duplicate":
            piece = m.group(0) * 2
        elif op == "token":
            piece = m.group(0).replace(token, draw(st.sampled_from(["0", "x", token * 2])))
        else:
            piece = m.group(0).replace(f" {name}", f" {draw(NAMES)}")
        out = out.replace(m.group(0), piece, 1)
    if draw(st.booleans()):
        out = draw(mutated_text(out, max_edits=2))
    return out


@examples(500)
@given(damaged_probe())
def test_damaged_sections(out):
    check(out)


@examples(250)
@given(st.sampled_from(PROBES).flatmap(lambda p: mutated_text(read(p), max_edits=8)))
def test_damaged_text(out):
    check(out)


@examples(150)
@given(st.lists(st.sampled_from(["begin", "stderr", "end", "done"]), max_size=30),
       st.lists(TEXT, max_size=30))
def test_marker_soup(words, names):
    lines = ["@@netpath abcdef01 begin probe@@", "version=1"]
    for i, word in enumerate(words):
        name = names[i % len(names)] if names else "ip-link"
        lines.append(f"@@netpath abcdef01 {word} {name}@@")
        lines.append(name)
    check("\n".join(lines) + "\n")
