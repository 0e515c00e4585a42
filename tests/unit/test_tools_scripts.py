"""tools/*.sh as a new user meets them, against a stand-in venv whose pip and openstack only log.

The real install is what tools/run-tests.sh does before this suite runs; here what matters is
when the scripts install, which `openstack` they run and what a fresh shell gets.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # no venv on it


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    v = tmp_path / "venv"
    (v / "bin").mkdir(parents=True)
    (v / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for tool in ("pip", "openstack"):
        exe = v / "bin" / tool
        exe.write_text(f'#!/bin/sh\necho "{tool} $* OS_CLOUD=$OS_CLOUD" >>"{tmp_path}/calls"\n'
                       f'echo "{tool} ran"\n')
        exe.chmod(0o755)
    return v


def calls(venv: Path, tool: str) -> list[str]:
    log = venv.parent / "calls"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.startswith(tool + " ")]


def bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          check=False,
                          env={"HOME": os.environ.get("HOME", "/root"), "PATH": BASE_PATH, **env})


def test_venv_installs_once_and_again_when_requirements_change(venv: Path, tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("PyYAML\n")
    run = f'. tools/venv.sh && netpath_venv demo "{venv}" -r "{req}" extra'
    assert bash(run).returncode == 0
    first = len(calls(venv, "pip"))
    assert first == 3  # pip itself, the requirements, the plugin (editable)
    assert bash(run).returncode == 0
    assert len(calls(venv, "pip")) == first  # current: nothing installed
    req.write_text("PyYAML>=6\n")
    assert bash(run).returncode == 0
    assert len(calls(venv, "pip")) == 2 * first


def test_demo_needs_python3_venv_says_so_in_one_line(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "ensurepip"  # what a Debian python3 without python3-venv lacks
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError('ensurepip')\n")
    fresh = tmp_path / "fresh-venv"
    out = bash("tools/demo.sh", NETPATH_VENV=str(fresh), PYTHONPATH=str(shadow.parent),
               PATH=os.environ["PATH"])
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "apt-get install python3-venv" in out.stderr
    assert not fresh.exists()


def test_demo_table_tells_ports_apart(venv: Path) -> None:
    out = bash("tools/demo.sh vm2", NETPATH_VENV=str(venv))
    assert out.returncode == 0, out.stderr
    runs = calls(venv, "openstack")
    assert len(runs) == 2
    table = next(r for r in runs if "--diagram" not in r)
    assert table.startswith("openstack netpath show vm2 --capture demo -c Port ")


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    d = tmp_path / "npstack"
    d.mkdir()
    (d / "stack.json").write_text(json.dumps({"hosts": {}, "servers": {}}))
    (d / "clouds.yaml").write_text("clouds: {}\n")
    return d


def test_stack_env_gives_a_fresh_shell_the_project_cli(venv: Path, stack_dir: Path) -> None:
    out = bash('eval "$(tools/stack.sh env)" && openstack netpath show vm1 && echo "$OS_CLOUD"',
               NETPATH_VENV=str(venv), NPSTACK_DIR=str(stack_dir))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-2:] == ["openstack ran", "stack-admin"]


def test_stack_openstack_runs_the_project_cli(venv: Path, stack_dir: Path) -> None:
    out = bash("tools/stack.sh openstack server list", NETPATH_VENV=str(venv),
               NPSTACK_DIR=str(stack_dir))
    assert out.returncode == 0, out.stderr
    assert calls(venv, "openstack") == ["openstack server list OS_CLOUD=stack-admin"]
