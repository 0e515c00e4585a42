"""`openstack aggregate zone-map`: API requests and pure-evaluation time vs cloud size.

For 10, 100 and 1000 synthetic hosts, aggregates and flavors this prints

* the API requests one command run makes (counted on requests-mock behind a real openstacksdk
  Connection, token and version discovery included), without and with ``--flavor --project``:
  offline (``--no-placement``), with Placement's live view, and with ``--zone`` and
  ``--tenant-aggregates`` as well; for the live view also how many of them were
  ``GET /allocation_candidates`` (1, plus one per constraint re-asked when a host is missing, at
  most 12) and ``GET /resource_providers?member_of=`` (the mirrors of the named aggregates);
* the wall time of the pure evaluation (``osc_netpath.scheduling.zone_map.evaluate``): the
  default view (which checks every flavor for "lands nowhere") and one ``--flavor``.

Figures only, no assertions on time. Run from the repository root:
``python benchmarks/bench_zone_map.py``
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests_mock

from osc_netpath.scheduling import zone_map
from osc_netpath.scheduling.model import (
    Aggregate,
    ComputeService,
    Flavor,
    ZoneFacts,
)
from tests.commands.test_aggregate_zone_map import FakeCloud, run

SIZES = (10, 100, 1000)
# metadata values and flavor requirements per key, of matching types (as operators set them up)
VALUES = {"ssd": ["true", "false"], "gpu": ["a100", "none"], "cores": ["8", "16", "32"],
          "rack": ["r1,r2", "r3", "r4,r5"], "numa": ["1", "2"]}
REQUIREMENTS = {"ssd": ["true"], "gpu": ["a100", "<in> a1"], "cores": ["= 16", ">= 8"],
                "rack": ["<or> r1 <or> r3", "r4"], "numa": ["== 2", "s== 1"]}
KEYS = tuple(VALUES)


def synthetic(n: int, seed: int = 42) -> ZoneFacts:
    """n hosts, n aggregates (a tenth carry a zone), n flavors with 0-3 aggregate extra specs."""
    rnd = random.Random(seed)
    hosts = [f"compute-{i:04d}" for i in range(n)]
    zones = max(1, n // 10)
    aggregates = []
    for i in range(n):
        key = rnd.choice(KEYS)
        metadata = {key: rnd.choice(VALUES[key])}
        if i < zones:
            metadata["availability_zone"] = f"az{i}"
        if i % 17 == 0:
            metadata["filter_tenant_id"] = f"{i:032x}"
        members = rnd.sample(hosts, k=min(n, rnd.randint(1, 5)))
        aggregates.append(Aggregate(i + 1, f"agg-{i:04d}", members, metadata))
    services = [ComputeService(h, status="disabled" if i % 23 == 0 else "enabled",
                               state="down" if i % 29 == 0 else "up")
                for i, h in enumerate(hosts)]
    flavors = []
    for i in range(n):
        specs = {"hw:cpu_policy": "dedicated"} if i % 3 == 0 else {}
        for key in rnd.sample(KEYS, k=rnd.randint(0, 3)):
            specs[f"aggregate_instance_extra_specs:{key}"] = rnd.choice(REQUIREMENTS[key])
        flavors.append(Flavor(str(i + 1), f"flavor-{i:04d}", specs))
    return ZoneFacts(aggregates=aggregates, services=services, flavors=flavors)


def requests_for(facts: ZoneFacts, *args: str) -> tuple[int, int, int]:
    """(all requests, GET /allocation_candidates, GET /resource_providers?member_of=)."""
    with requests_mock.Mocker() as mocker:
        cloud = FakeCloud(mocker)
        for agg in facts.aggregates:
            cloud.add_aggregate(agg.name, agg.hosts, **agg.metadata)
        for svc in facts.services:
            cloud.add_compute(svc.host, status=svc.status, state=svc.state)
        for flavor in facts.flavors:
            cloud.add_flavor(flavor.name, flavor.id, **(flavor.extra_specs or {}))
        run(cloud, "-f", "json", *args)
        paths = [r.url for r in mocker.request_history]
        return (len(paths), sum("/allocation_candidates" in p for p in paths),
                sum("/resource_providers?member_of" in p for p in paths))


def best_of(repeat: int, facts: ZoneFacts, request: zone_map.Request) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        zone_map.evaluate(facts, request)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print(f"{'size':>6} {'requests':>9} {'--flavor offline':>17} {'live (a_c, mirrors)':>20} "
          f"{'live --zone --tenant-agg':>25} {'eval default':>13} {'eval --flavor':>14} "
          f"{'findings':>9}")
    for n in SIZES:
        facts = synthetic(n)
        flavor = facts.flavors[n // 2]
        plain, _, _ = requests_for(facts)
        ask = ("--flavor", flavor.name, "--project", "demo")
        offline, _, _ = requests_for(facts, *ask, "--no-placement")
        live, live_ac, live_rp = requests_for(facts, *ask)
        zoned, zoned_ac, zoned_rp = requests_for(facts, *ask, "--zone", "az0",
                                                 "--tenant-aggregates")
        default = zone_map.Request()
        one = zone_map.Request(flavor=flavor, project_id="0" * 32)
        t_default = best_of(3, facts, default)
        t_flavor = best_of(3, facts, one)
        findings = len(zone_map.evaluate(facts, default).findings)
        print(f"{n:>6} {plain:>9} {offline:>17} {f'{live} ({live_ac}, {live_rp})':>20} "
              f"{f'{zoned} ({zoned_ac}, {zoned_rp})':>25} {t_default * 1000:>11.1f}ms "
              f"{t_flavor * 1000:>12.1f}ms {findings:>9}")
    print("requests include the token (1) and compute version discovery (1); "
          "--project by name adds 1; the live view adds os-hypervisors/detail (1) and Placement "
          "version discovery (1)")


if __name__ == "__main__":
    main()
