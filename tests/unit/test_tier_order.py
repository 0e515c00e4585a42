"""The suite's real collection runs the fast tiers first (tests/conftest.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAST_FIRST = ("unit", "commands", "fuzz", "lab", "stack")  # the order


def test_collection_runs_fast_tiers_first() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "NETPATH_STACK": "0"},
    ).stdout
    tiers = [line.split("/")[1] for line in out.splitlines() if line.startswith("tests/")]
    order = [t for i, t in enumerate(tiers) if i == 0 or t != tiers[i - 1]]
    assert order[0] == "unit"
    assert {"unit", "commands", "lab"} <= set(order)
    known = [t for t in order if t in FAST_FIRST]
    assert known == sorted(set(known), key=FAST_FIRST.index), order
