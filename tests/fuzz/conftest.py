"""The fuzz tier: seeded, derandomized hypothesis runs with a fixed budget per test.

Every example is derived from the test's name (``derandomize``), nothing is stored between runs
(``database=None``): CI and a laptop run the same inputs, in about a minute for the tier. Set
``NETPATH_FUZZ_EXAMPLES`` to multiply the budget when hunting (``NETPATH_FUZZ_EXAMPLES=20``).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

BUDGET = float(os.environ.get("NETPATH_FUZZ_EXAMPLES", "1"))

settings.register_profile(
    "netpath-fuzz",
    derandomize=True,
    database=None,
    deadline=None,  # a shared 2-core CI runner: time is measured by benchmarks/, not here
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
settings.load_profile("netpath-fuzz")


def examples(n: int) -> settings:
    """This test's fixed budget (scaled by NETPATH_FUZZ_EXAMPLES)."""
    return settings(max_examples=max(1, int(n * BUDGET)))
