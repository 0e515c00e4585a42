"""Capture files, damaged: loading gives a Bundle or one CaptureError; whatever loads replays and
prints in every format (-f table/json/csv/value/yaml, --diagram) to a strict UTF-8 stream, or
fails with the project's own CommandError."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from osc_lib.exceptions import CommandError

from osc_netpath import capture
from osc_netpath.commands.netpath import ShowNetpath
from tests.commands.test_netpath_show import FakeApp
from tests.fuzz.conftest import examples
from tests.fuzz.mutate import TEXT, dumps, mutated_json, mutated_text, nodes
from tests.fuzz.test_fuzz_probe import damaged_probe

DEMO = json.loads(capture.dump(capture.load(capture.DEMO)))
DEMO_TEXT = capture.dump(capture.load(capture.DEMO))
FORMATS = [["-f", "json"], ["-f", "value"], ["-f", "csv"], ["-f", "table"], ["-f", "yaml"],
           ["--diagram"]]


def load(raw: bytes) -> capture.Bundle | None:
    try:
        return capture.parse("fuzz.json", raw)
    except capture.CaptureError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.json")
        return None


def show(path: Path, server: str, argv: list[str]) -> None:
    """The real command on the capture; its output must encode as UTF-8 (a terminal, a pipe)."""
    app = FakeApp(None)
    cmd = ShowNetpath(app, None, cmd_name="netpath show")
    parsed = cmd.get_parser("openstack netpath show").parse_args(
        ["--capture", str(path), *argv, "--", server])  # "--": an ID may start with "-"
    try:
        cmd.run(parsed)
    except CommandError as exc:
        assert "\n" not in str(exc)
    app.stdout.getvalue().encode("utf-8")
    app.stderr.getvalue().encode("utf-8")


def replay_all(bundle: capture.Bundle, tmp: Path, formats: list[list[str]]) -> None:
    path = tmp / "c.json"
    path.write_text(capture.dump(bundle), encoding="utf-8")
    for trace in bundle.traces:
        for argv in formats:
            show(path, trace.cloud.server.id, argv)


@examples(200)
@given(mutated_json(DEMO, max_edits=5))
def test_damaged_capture_json(data):
    load(dumps(data).encode("utf-8", "surrogatepass"))


@examples(250)
@given(mutated_text(DEMO_TEXT, max_edits=4), st.binary(max_size=8), st.integers(0, 10**6))
def test_damaged_capture_bytes(text, junk, at):
    raw = text.encode("utf-8", "surrogatepass")
    at %= len(raw) + 1
    load(raw[:at] + junk + raw[at:])


def same_type(draw: st.DrawFn, value: Any) -> Any:
    """Another value of the JSON type ``value`` has: what a schema-valid edit can be."""
    if isinstance(value, bool):
        return draw(st.booleans())
    if isinstance(value, int):
        return draw(st.one_of(st.integers(-2**63 + 1, 2**63 - 1),
                              st.sampled_from([0, -1, 4095, 4096, 65535, 2**31])))
    if isinstance(value, str):
        return draw(st.one_of(TEXT, st.just(value + "\udcff"), st.just(value.upper())))
    if isinstance(value, list):
        return value[: draw(st.integers(0, len(value)))]
    return value


@st.composite
def valid_capture(draw: st.DrawFn) -> dict[str, Any]:
    """The demo with values changed but each of its type, and its probe outputs damaged."""
    data = json.loads(json.dumps(DEMO))
    trace = data["traces"][draw(st.integers(0, len(data["traces"]) - 1))]
    data["traces"] = [trace]
    places = [(p, k) for p, k in nodes(trace["cloud"]) if not isinstance(p[k], dict)]
    rnd = random.Random(draw(st.integers(0, 2**32)))
    for parent, key in rnd.sample(places, min(len(places), draw(st.integers(1, 12)))):
        parent[key] = same_type(draw, parent[key])
    if draw(st.booleans()):  # bytes that were not UTF-8, where every view prints them
        for port in trace["cloud"]["ports"]:
            port["mac_address"] += "\udcff"
        trace["cloud"]["notes"].append("\ud800")
    for host, out in list(trace["probes"].items()):
        if draw(st.booleans()):  # its own output damaged, or another host's recorded one
            trace["probes"][host] = draw(st.one_of(damaged_probe(out), damaged_probe()))
    return data


@examples(250)
@given(valid_capture(), st.sampled_from(FORMATS))
def test_replay_and_render_what_loads(tmp_path_factory, data, argv):
    bundle = load(json.dumps(data).encode())
    if bundle is not None:
        replay_all(bundle, tmp_path_factory.mktemp("c"), [argv])
