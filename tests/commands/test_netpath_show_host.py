"""`netpath show --host`: what was asked is probed, and a host that is not the server's says so.

The API is the demo capture's, recorded from the real stack (vm1 on compute1, vm2 on compute2),
served by the fake cloud through the real openstacksdk; each host answers the probe output
recorded on it (``recorded`` fixture).
"""
from __future__ import annotations

import json
import re

from tests.commands import fakes
from tests.commands.test_netpath_show import FakeApp, run

VM1 = "vm1"


def _show(cloud: fakes.FakeCloud, *argv: str, **netpath: str
          ) -> tuple[int, list[dict[str, str]], list[str]]:
    app = FakeApp(cloud.connection(), netpath=netpath)
    rc = run(app, VM1, "-f", "json", *argv)
    return rc, json.loads(app.stdout.getvalue()), app.stderr.getvalue().splitlines()


def _asked(recorded) -> list[tuple[str, str, str]]:
    (jobs,) = recorded.jobs[-1:]
    # the token is random per run: the rest of the command line is what was asked
    return [(t.host, t.address, re.sub(r"--token \S+ ", "", cmd)) for t, cmd in jobs]


def test_a_host_that_is_not_the_servers_is_probed_alone_and_fails(requests_mock, recorded):
    cloud = fakes.from_facts(requests_mock, recorded.facts)
    vm1 = next(f for f in recorded.facts if f.server.name == VM1)
    assert vm1.server.host == "compute1"

    rc, rows, warnings = _show(cloud, "--host", "compute2")

    assert rc == 1  # what is shown is not where Nova has the server
    (asked,) = _asked(recorded)
    assert asked[:2] == ("compute2", "172.30.77.12")  # compute2 alone, at its own host_ip
    assert "--domain instance-00000001" in asked[2]  # vm1's domain, looked for on compute2
    assert warnings[0] == (
        "warning: --host compute2 is not the server's host: Nova places vm1 on compute1 and "
        "its ports are bound to compute1; only compute2 was probed, as asked")
    assert "warning: compute2: libvirt domain instance-00000001 not found (server is active)" \
        in warnings
    for port in vm1.ports:
        said = [w for w in warnings if w.startswith(f"warning: port {port.id[:11]}: ")]
        assert said[0] == (f"warning: port {port.id[:11]}: traced on compute2 as --host asks; "
                           "the port is bound to compute1, where Nova places the server")
        assert any(f"no OVS interface on compute2 has external_ids:iface-id={port.id}" in w
                   for w in said)
        hops = [r for r in rows if r["Port"] == port.id]
        tap = next(r for r in hops if r["Kind"] == "tap")
        assert (tap["Device"], tap["State"]) == (f"tap{port.short_id}", "absent")
        assert next(r for r in hops if r["Kind"] == "ovs-bridge")["Device"] == "br-int"


def test_a_host_equal_to_the_servers_changes_nothing(requests_mock, recorded):
    cloud = fakes.from_facts(requests_mock, recorded.facts)

    plain = _show(cloud)
    plain_asked = _asked(recorded)
    named = _show(cloud, "--host", "compute1")

    assert named == plain and plain[0] == 0
    assert _asked(recorded) == plain_asked
    assert [a[:2] for a in plain_asked] == [("compute1", "172.30.77.11")]
    tap = next(r for r in plain[1] if r["Kind"] == "tap")
    assert tap["State"] != "absent"  # vm1's own path, as recorded on compute1


def test_the_server_runs_elsewhere_than_a_ports_binding(requests_mock, recorded):
    """Mid-migration: with --host naming the binding's host, that host alone is probed."""
    cloud = fakes.from_facts(requests_mock, recorded.facts)
    vm1 = next(f for f in recorded.facts if f.server.name == VM1)
    moved = next(p for p in cloud.ports if p["id"] == vm1.ports[0].id)
    moved["binding:host_id"] = "compute2"

    rc, _, warnings = _show(cloud, "--host", "compute2")

    assert rc == 1
    assert [a[0] for a in _asked(recorded)] == ["compute2"]  # not compute1 as well
    assert warnings[0] == (
        "warning: --host compute2 is not the server's host: Nova places vm1 on compute1 and "
        "its ports are bound to compute1, compute2; only compute2 was probed, as asked")
    assert (f"warning: port {moved['id'][:11]}: traced on compute2 as --host asks; the port is "
            "bound to compute2 and Nova places the server on compute1") in warnings


def test_a_member_profile_with_host_keeps_its_behaviour(requests_mock, recorded):
    """The API hides the host: --host stands in for it, as before; nothing to contradict."""
    cloud = fakes.from_facts(requests_mock, recorded.facts, admin=False, cloud_name="demo")

    rc, rows, warnings = _show(cloud, "--host", "compute1", address="host")  # host_ip hidden

    assert [a[:2] for a in _asked(recorded)] == [("compute1", "compute1")]
    assert not any("is not the server's host" in w or "as --host asks" in w for w in warnings)
    assert "warning: compute host compute1 comes from --host (the API hides it)" in warnings
    assert any(r["Kind"] == "tap" and r["State"] != "absent" for r in rows)
    assert rc == 0
