#!/usr/bin/env python3
"""`netpath show` cost: API requests, SSH connections and remote execs, wall time. Figures only.

Against a cloud (the stack tier's, or any admin profile):
    python benchmarks/bench_show.py --os-cloud stack-admin vm1
  prints the API requests `netpath show` made (target ≤ 6 for a 1-port server), SSH connections
  and remote execs per hypervisor (target: exactly 1 and 1), and the wall time of
  `openstack netpath show` next to `openstack server show` of the same server, same run.

Without a cloud (root, the lab tier's hypervisors over real SSH):
    sudo python benchmarks/bench_show.py --lab
  prints the API requests against the commands tier's fake cloud (requests-mock, counted
  exactly) and the SSH counts and probe+resolve wall time against the lab.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RUNS = 3


def _count_requests() -> list[str]:
    """Count every HTTP request the process makes (keystoneauth → requests)."""
    import requests

    seen: list[str] = []
    real = requests.Session.send

    def send(self: Any, request: Any, **kw: Any) -> Any:
        seen.append(f"{request.method} {request.url.split('?')[0]}")
        return real(self, request, **kw)

    requests.Session.send = send  # type: ignore[method-assign]
    return seen


def _wall(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cloud_mode(cloud: str, server: str) -> None:
    import openstack

    from osc_netpath import config, trace

    seen = _count_requests()
    conn = openstack.connect(cloud=cloud)
    cfg = config.load(conn.config.config.get("netpath") or {})
    t0 = time.perf_counter()
    outcome = trace.live(conn, server, cfg)
    dt = time.perf_counter() - t0
    ports = len(outcome.trace.cloud.ports)
    hosts = sorted(outcome.trace.probes) + sorted(outcome.trace.errors)
    print(f"netpath show {server}: {ports} port(s), host(s) {', '.join(hosts)}")
    discovery = [x for x in seen if x.startswith("GET ") and x.rstrip("/").endswith(("/v3", ":5000"))]
    print(f"API requests: {len(seen)} (target ≤ 6 for a 1-port server)"
          + (f", of which {len(discovery)} Keystone version discovery (auth_type: password; "
             "v3password skips it)" if discovery else ""))
    for line in seen:
        print(f"  {line}")
    print(f"SSH connections: {outcome.stats['ssh_connections']}, remote execs: "
          f"{outcome.stats['ssh_execs']} for {len(hosts)} host(s) (target: 1 and 1 per host)")
    print(f"in-process trace: {dt * 1000:.0f} ms")
    base = [sys.executable, "-m", "openstackclient.shell", "--os-cloud", cloud]
    show = _wall(base + ["server", "show", server, "-f", "json"])
    netpath = _wall(base + ["netpath", "show", server, "-f", "json"])
    print(f"wall (median of {RUNS}): openstack server show {show * 1000:.0f} ms, "
          f"openstack netpath show {netpath * 1000:.0f} ms, ratio {netpath / show:.2f}")


def lab_mode() -> None:
    import requests_mock

    from osc_netpath import config, trace
    from osc_netpath.cloud import fetch
    from tests.commands import fakes
    from tests.lab.lab import Lab
    from tests.lab.topology import LAB

    with requests_mock.Mocker() as mocker:
        cloud = fakes.scenario(mocker, ["ovs-hybrid-vlan"])
        conn = cloud.connection()
        fetch.gather(conn, fetch.find_server(conn, fakes.SERVER_NAME))
        calls = cloud.calls()
    print(f"API requests for a 1-port server (fake cloud, exact): {len(calls)} (target ≤ 6)")
    for line in calls:
        print(f"  {line}")
    lab = Lab().up()
    try:
        cfg = config.load(lab.netpath_settings())
        for server in LAB.servers:
            facts = LAB.cloud_facts(server.name)
            times = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                outcome = trace.probe_and_resolve(facts, cfg)
                times.append(time.perf_counter() - t0)
            print(f"{server.name}: {len(facts.ports)} port(s) on {', '.join(facts.hosts)}: "
                  f"SSH connections {outcome.stats['ssh_connections']}, remote execs "
                  f"{outcome.stats['ssh_execs']}, probe+resolve {statistics.median(times) * 1000:.0f}"
                  f" ms (median of {RUNS})")
    finally:
        lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--os-cloud", help="cloud profile (clouds.yaml) to run against")
    parser.add_argument("--lab", action="store_true", help="use the lab hypervisors (root)")
    parser.add_argument("server", nargs="?", help="server name or ID (with --os-cloud)")
    args = parser.parse_args()
    if args.lab:
        lab_mode()
    elif args.os_cloud and args.server:
        cloud_mode(args.os_cloud, args.server)
    else:
        parser.error("give --lab, or --os-cloud CLOUD SERVER")


if __name__ == "__main__":
    main()
