"""A capture that loads always prints: a lone surrogate in a fact, wrong types in a path.

The command's output goes to a strict UTF-8 stream here, as to a terminal or a pipe: a lone
surrogate (what bytes that were not UTF-8 become) used to raise UnicodeEncodeError there.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from osc_netpath import capture
from osc_netpath.commands.netpath import ShowNetpath
from osc_netpath.path import model as m
from osc_netpath.render import rows, text, tree
from tests.commands.test_netpath_show import FakeApp

FORMATS = [["-f", "value"], ["-f", "json"], ["-f", "csv"], ["-f", "table"], ["-f", "yaml"],
           ["--diagram"]]


def strict_app() -> FakeApp:
    app = FakeApp(None)
    app.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    app.stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    return app


def output(app: FakeApp) -> str:
    for stream in (app.stdout, app.stderr):
        stream.flush()
    return b"".join(s.buffer.getvalue() for s in (app.stdout, app.stderr)).decode()


@pytest.fixture
def surrogate_capture(tmp_path: Path) -> tuple[str, str]:
    trace = capture.load(capture.DEMO).traces[0]
    port = trace.cloud.ports[0]
    port.mac_address = "fa:16:3e:\udcff"  # hop 0's MAC comes from the API
    trace.cloud.server.name = "vm\ud800"
    trace.cloud.notes.append("bad \udc80 byte")
    path = tmp_path / "c.json"
    capture.save(capture.Bundle(traces=[trace]), str(path))
    return str(path), trace.cloud.server.id


@pytest.mark.parametrize("argv", FORMATS)
def test_a_lone_surrogate_prints_as_a_replacement(surrogate_capture, argv):
    path, server = surrogate_capture
    app = strict_app()
    cmd = ShowNetpath(app, None, cmd_name="netpath show")
    cmd.run(cmd.get_parser("openstack netpath show").parse_args(
        [server, "--capture", path, *argv]))
    printed = output(app)
    assert "bad \ufffd byte" in printed  # the note, on stderr or in the diagram
    if argv != ["--diagram"]:
        assert "fa:16:3e:\ufffd" in printed or "fa:16:3e:\\ufffd" in printed
    else:
        assert "vm\ufffd" in printed


def hostile_path() -> m.ServerPath:
    """What a path built from damaged facts can hold: types the model does not promise."""
    hops = [
        m.Hop(index=0, device=7, kind=m.GUEST, mtu="1500", vlan=3, state=None),
        m.Hop(index=1, device=None, kind=m.VETH, peer=None, vlan="3 → 101",
              mtu=10**5000, detail=["a", "b"]),
        m.Hop(index=2, device=None, kind=m.OVS_BRIDGE, vlan=float("nan"),
              source=m.SRC_MISSING, mac={"x": 1}),
    ]
    port = m.PortPath(port_id=12345, network=None, host=None, backend="x\udcff",
                      segment=None, hops=hops, problems=None)
    return m.ServerPath(server_id=None, server_name=3, status=None, host=None,
                        ports=[port, m.PortPath("p", "n", None, "b", "s", hops=None)],
                        errors=None, notes=["n\ud800"])


def test_renderers_never_raise_on_wrong_types():
    path = hostile_path()
    drawn = tree.diagram(path)
    drawn.encode("utf-8")
    assert "mtu 1500" in drawn and "tag 3" in drawn and "VLAN 3 → 101" in drawn
    table = rows.rows(path)
    assert [r[1] for r in table] == [0, 1, 2]
    assert table[0][2] == 7 and table[0][7] == "1500" and table[1][2] is None
    assert table[1][7] == "<int>"  # 5000 digits: int() -> str refuses it
    assert table[2][5] == "nan"  # no NaN in JSON output
    assert table[0][0] == 12345 and table[1][11] == "['a', 'b']"
    assert rows.problems(path) == ["n\ufffd"]


def test_text_replaces_only_surrogates():
    assert text.text("tapé\ud800☃") == "tapé\ufffd☃"
    assert text.text(None) == "" and text.text(3) == "3"
    assert text.cell(True) is True and text.cell(2.5) == 2.5 and text.cell(None) is None
