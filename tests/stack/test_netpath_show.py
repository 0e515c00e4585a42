"""The real CLI against the real stack: `openstack --os-cloud stack-admin
netpath show SERVER -f json` hop for hop equal to the ground truth read
independently from the hosts (tests/stack/groundtruth.py), and the errors
only a real cloud gives honestly."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.stack import groundtruth

TRACED = ("vm1", "vm2", "vm3", "twin-a", "twin-b")


def _show(stack, *args, cloud=None):
    return stack.openstack("netpath", "show", *args, cloud=cloud, check=False)


@pytest.mark.parametrize("label", TRACED)
def test_netpath_show_matches_ground_truth(stack, label):
    server = stack.servers[label]
    # by ID: the twins share a name
    proc = _show(stack, server["id"], "-f", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    truth = groundtruth.read_server(stack.state, label)
    assert groundtruth.compare(rows, truth) == []
    assert {r["Port"] for r in rows} == {p["id"] for p in server["ports"]}


def test_netpath_show_by_name_with_os_cloud_env(stack):
    """`OS_CLOUD=stack-admin openstack netpath show vm2` (no --os-cloud)."""
    exe = shutil.which("openstack", path=os.path.dirname(sys.executable)) or "openstack"
    proc = subprocess.run([exe, "netpath", "show", "vm2", "-f", "json"],
                          env=stack.env(stack.admin_cloud), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    truth = groundtruth.read_server(stack.state, "vm2")
    assert groundtruth.compare(json.loads(proc.stdout), truth) == []


def test_member_profile_is_told_host_is_admin_only(stack):
    proc = _show(stack, "vm3", "-f", "json", cloud=stack.member_cloud)
    assert proc.returncode != 0
    assert "admin" in proc.stderr and stack.member_cloud in proc.stderr


def test_ambiguous_name_lists_both_servers(stack):
    proc = _show(stack, "twin", "-f", "json")
    assert proc.returncode != 0
    for label in ("twin-a", "twin-b"):
        assert stack.servers[label]["id"] in proc.stderr


def test_deleted_server_is_not_found(stack):
    gone = stack.state["deleted_servers"]["vm-gone"]
    for ref in (gone["id"], gone["name"]):
        proc = _show(stack, ref, "-f", "json")
        assert proc.returncode != 0
        assert ref in proc.stderr


def test_shutoff_server_still_shows_its_wiring(stack):
    """A stopped libvirt guest keeps its port bound and its OVS port (with its
    local VLAN); QEMU is gone, so the kernel has no tap any more."""
    server = stack.servers["vm-off"]
    assert server["status"] == "SHUTOFF"
    truth = groundtruth.read_server(stack.state, "vm-off")
    assert truth.domain is not None
    assert [pt.state for pt in truth.ports] == ["missing"]
    proc = _show(stack, "vm-off", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert groundtruth.compare(rows, truth) == []
    assert [r["State"] for r in rows if r["Kind"] == "tap"] == ["absent"]
    assert "does not exist" in proc.stderr


def test_member_profile_with_host_traces_what_the_host_shows(stack):
    """Policy hides the host, the binding, the segments and the instance name from a member;
    with --host the path is still traced up to br-int, hop for hop as on the host, the libvirt
    domain found by the server's UUID, and what is hidden is said."""
    server = stack.servers["vm3"]
    proc = _show(stack, "vm3", "--host", server["host"], "-f", "json", cloud=stack.member_cloud)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    truth = groundtruth.read_server(stack.state, "vm3")
    want = []
    for port in truth.ports:  # the ground truth up to and including br-int
        hops = port.hops()
        last = next(i for i, h in enumerate(hops) if h["kind"] == "ovs-bridge")
        want.extend(hops[: last + 1])
    assert groundtruth.compare(rows, want) == []
    assert len(rows) == len(want)
    assert "not visible to this cloud profile" in proc.stderr
