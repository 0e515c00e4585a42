#!/usr/bin/env python3
"""Start-up cost of the plugin: OSC imports every command module of every plugin on every run.

Prints:
- the time to import osc_netpath.plugin and every command module, in a fresh interpreter where
  osc-lib/cliff are already loaded (as they are inside `openstack`), median of N runs;
- the heavy libraries (SSH, YAML, XML, rendering) those imports pulled in: must be none;
- `openstack module list` (no auth; loads every plugin) wall time with and without the plugin's
  entry points, run in alternation (with, without, with, without…: a busy machine slows both
  alike; measured in two blocks it once gave a ratio of 1.6 where alternation gave 0.99), the two
  medians and their ratio.

Figures only; no asserts on time (targets: ≤ 5 ms, no heavy library).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

RUNS = 15
PAIRS = 9
HEAVY = {"asyncssh", "paramiko", "yaml", "lxml", "defusedxml", "jinja2", "rich", "tqdm",
         "graphviz", "cryptography", "openstack", "xml"}

IMPORT_PROBE = r"""
import importlib, json, pkgutil, sys, time
from osc_lib.command import command  # already loaded inside `openstack`
import cliff.lister, cliff.show
before = set(sys.modules)
t0 = time.perf_counter()
import osc_netpath.plugin
import osc_netpath.commands as c
for m in pkgutil.iter_modules(c.__path__):
    importlib.import_module(f"osc_netpath.commands.{m.name}")
dt = time.perf_counter() - t0
new = sorted({n.split('.')[0] for n in set(sys.modules) - before})
print(json.dumps({"seconds": dt, "new_top_level": new}))
"""

VERSION_RUN = r"""
import sys
from importlib import metadata
if sys.argv[1] == "without":
    real = metadata.entry_points
    def entry_points(**kw):
        eps = real(**kw)
        return metadata.EntryPoints(
            e for e in eps if not (e.value or "").startswith("osc_netpath"))
    metadata.entry_points = entry_points
from openstackclient import shell
try:
    shell.main(["module", "list", "-f", "value"])
except SystemExit:
    pass
"""


def _with_bytecode() -> dict[str, str]:
    """pip compiles .pyc at install; a checkout under PYTHONDONTWRITEBYTECODE=1 (as on the CI
    machines) would recompile every module on every run and measure the compiler instead."""
    import compileall

    import osc_netpath

    compileall.compile_dir(os.path.dirname(osc_netpath.__file__), quiet=1)
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_cost() -> tuple[float, list[str]]:
    times, new = [], []
    env = _with_bytecode()
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True,
                             text=True, check=True, env=env).stdout
        data = json.loads(out)
        times.append(data["seconds"])
        new = data["new_top_level"]
    return statistics.median(times), new


def _wall(mode: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", VERSION_RUN, mode], capture_output=True, check=False)
    return time.perf_counter() - t0


def version_times(pairs: int = PAIRS) -> tuple[float, float]:
    """Medians (with, without) of `pairs` alternating runs, after one discarded warm-up each."""
    for mode in ("with", "without"):
        _wall(mode)
    with_, without = [], []
    for _ in range(pairs):
        with_.append(_wall("with"))
        without.append(_wall("without"))
    return statistics.median(with_), statistics.median(without)


def main() -> None:
    seconds, new = import_cost()
    heavy = sorted(set(new) & HEAVY)
    print(f"import plugin + command modules: {seconds * 1000:.2f} ms (median of {RUNS}; "
          f"target ≤ 5 ms)")
    print(f"top-level packages newly imported: {', '.join(new)}")
    print(f"heavy libraries imported: {', '.join(heavy) if heavy else 'none'}")
    with_, without = version_times()
    print(f"openstack module list ({PAIRS} alternating pairs): median {with_ * 1000:.0f} ms "
          f"with the plugin, {without * 1000:.0f} ms without, ratio {with_ / without:.3f}")


if __name__ == "__main__":
    main()
