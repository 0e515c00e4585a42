"""Lab tier fixtures: real Open vSwitch + namespaces + sshd, built once per session.

What a test gets from ``lab`` (a :class:`tests.lab.lab.Lab`):
  lab.topology                       the declarative description (tests.lab.topology.LAB)
  lab.hosts["hv1"].address / .port   where its sshd listens (198.19.201.11:22)
  lab.hosts["hv1"].run(*argv)        ground truth: a command in that host's namespaces
  lab.hosts["hv1"].vsctl/ofctl/ovs_table/links/sshd_accepted/sshd_commands
  lab.client_key, lab.known_hosts    the client's key and the hosts' real keys
  lab.ssh_target("hv1", **over)      a transport SshTarget with verified defaults
  lab.netpath_settings(address=…)    a clouds.yaml ``netpath:`` mapping for the lab
  lab.write_clouds_yaml(path, …)     a clouds.yaml carrying it; lab.subprocess_env(path)
  lab.topology.cloud_facts(server)   the API facts (an "API capture") for a lab server
Fixture ``lab_openstack`` runs ``openstack …`` as a subprocess against the lab.
Fixture ``kolla_host`` (module) adds kolla1 (tests.lab.kolla: OVS and libvirt in podman
containers) to the lab and removes it after the module; ``kolla_api`` serves its Nova/Neutron
API (tests.lab.api) for ``lab_openstack(..., cloud_entry=kolla_api.cloud_entry())``.
Fixture ``ovn_lab`` (session) is a real OVN (tests.lab.ovn.OvnLab: central in the root
namespace, chassis ovn1/ovn2 with their own OVS + ovn-controller), beside the lab, not in it.

Missing prerequisites skip with the reason, except in CI (CI=true) where they fail the run.
NPLAB_KEEP=1 leaves the lab up after the session (the next session rebuilds it). Two sessions
never share or break one lab: the second waits for the first (LabLock).
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.lab import Lab, missing_prerequisites


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(missing: list[str], what: str) -> None:
    """Skip (fail in CI) with the reasons when ``missing`` is not empty."""
    if missing:
        reason = f"{what} cannot run here: " + "; ".join(missing)
        if _in_ci():
            pytest.fail(reason, pytrace=False)
        print(f"\n{reason}", file=sys.stderr)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    require(missing_prerequisites(), "lab tier")
    built = Lab().up()
    try:
        yield built
    finally:
        if os.environ.get("NPLAB_KEEP"):
            built.lock.release()
        else:
            built.down()


@pytest.fixture
def lab_openstack(lab: Lab, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run("netpath", "show", "lab-vm-multi", settings={...}, cloud_entry={...})``: runs the
    real ``openstack`` CLI (this interpreter's) with a clouds.yaml whose ``netpath:`` reaches the
    lab. ``settings`` overrides/extends the netpath mapping; ``cloud_entry`` adds auth etc."""

    def run(*argv: str, settings: dict[str, Any] | None = None,
            cloud_entry: dict[str, Any] | None = None, address: str = "hosts",
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        clouds = lab.write_clouds_yaml(tmp_path / "clouds.yaml", cloud_entry=cloud_entry,
                                       address=address, **(settings or {}))
        return subprocess.run(
            [sys.executable, "-m", "openstackclient.shell", *argv],
            env=lab.subprocess_env(clouds), capture_output=True, text=True, timeout=timeout,
            check=False, cwd=tmp_path,
        )

    return run


@pytest.fixture(scope="module")
def kolla_host(lab: Lab) -> Iterator[Any]:
    from tests.lab import kolla

    require(missing_prerequisites(containers=True), "kolla lab host")
    host = kolla.up(lab)
    try:
        yield host
    finally:
        kolla.down(lab)


@pytest.fixture(scope="module")
def kolla_api() -> Iterator[Any]:
    from tests.lab.api import LabApi
    from tests.lab.topology import KOLLA

    with LabApi(KOLLA) as api:
        yield api


@pytest.fixture(scope="session")
def ovn_lab() -> Iterator[Any]:
    from tests.lab.ovn import OvnLab, missing_ovn_prerequisites

    require(missing_ovn_prerequisites(), "OVN lab")
    built = OvnLab()
    built.up()
    try:
        yield built
    finally:
        if os.environ.get("NPLAB_KEEP"):
            built.lock.release()
        else:
            built.down()
