"""`netpath audit` figures (printed, never asserted):

1. API requests against the number of ports (a paged FakeCloud behind requests-mock, the real
   command; probes stubbed as unreachable so only the API side counts);
2. peak RSS of auditing 10,000 and 100,000 ports (100 / 1,000 synthetic hosts x 100 ports,
   ovs-vsctl output shaped like bench_parse's), each in a fresh process: a replay (a capture
   holds every output) and a live run (run.live: outputs handed over host by host, audited and
   dropped; only SSH and the API stood in for), and the time per host.

3. with ``lab`` (as root; takes the lab lock, replaces the lab): a lab of 50 hypervisors
   (tests.lab.topology.fleet: each its own namespace with OVS and sshd, a VXLAN mesh), and the
   wall time of auditing 1, 10 and 50 of them, with the CPU each host costs the client and the
   hosts' side (sshd and the probe's tools): on one machine the hosts share its cores.

Run from the repository root: ``python benchmarks/bench_audit.py [lab]``
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTS, PER_HOST = 100, 100  # 10,000 ports; `rss* N` runs N hosts


def api_requests(ports: int) -> int:
    import requests_mock

    from osc_netpath.commands.audit import AuditNetpath
    from osc_netpath.host import transport
    from tests.commands import fakes
    from tests.commands.test_netpath_show import FakeApp

    def unreachable(jobs: Any, script: str, concurrency: int = 10, on_result: Any = None) -> Any:
        return ({t.host: transport.ProbeResult(host=t.host, error="down", error_kind="unreachable")
                 for t, _ in jobs}, transport.TransportStats())

    transport.run_probes = unreachable  # type: ignore[assignment]
    with requests_mock.Mocker() as mocker:
        cloud = fakes.FakeCloud(mocker)
        net = cloud.add_network("net", (("vxlan", None, 1001),))
        hosts = [f"compute-{h}" for h in range(max(1, ports // 100))]
        for h in hosts:
            cloud.add_agent(h, "Open vSwitch agent", "neutron-openvswitch-agent",
                            fakes.ovs_agent_config(h, "192.0.2.1"))
            cloud.add_hypervisor(h, "192.0.2.1")
        for n in range(ports):
            cloud.add_port(net, device_id=fakes.fake_id("vm", n), host=hosts[n % len(hosts)],
                           index=n)
        cmd = AuditNetpath(FakeApp(cloud.connection(), {"user": "ops"}), None)
        cmd.run(cmd.get_parser("audit").parse_args(["-f", "value"]))
        return sum(1 for c in cloud.calls()
                   if " keystone " not in c and not c.endswith(("/v2.1", "/v2.1/", "/")))


def host_output(h: int, base: str) -> str:
    from bench_parse import probe_output  # type: ignore[import-not-found]

    return probe_output(base.replace('-port"', f'-p{h:04d}"'), "")  # type: ignore[no-any-return]


def synthetic_trace(outputs: bool = True) -> Any:
    from bench_parse import vsctl_output

    from osc_netpath import capture
    from osc_netpath.audit import run
    from osc_netpath.cloud.facts import AgentFacts, CloudFacts, PortFacts, ServerFacts

    cloud = CloudFacts(server=ServerFacts(id="fleet", name="fleet", status="ACTIVE"),
                       subject=run.SUBJECT)
    trace = capture.Trace(cloud=cloud)
    base = vsctl_output(PER_HOST)
    for h in range(HOSTS):
        host = f"compute-{h}"
        cloud.hosts.append(host)
        cloud.agents.append(AgentFacts(id=host, host=host, agent_type="Open vSwitch agent"))
        cloud.ports += [PortFacts(id=f"{n:08x}-p{h:04d}", network_id="n", mac_address="",
                                  status="ACTIVE", binding_host_id=host, binding_vif_type="ovs")
                        for n in range(PER_HOST)]
        if outputs:
            trace.probes[host] = host_output(h, base)
    return trace


def rss_child() -> None:
    """Replay: a capture holds every host's output, audited host by host."""
    from osc_netpath.audit import run

    trace = synthetic_trace()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    findings = sum(len(found) for found, _ in run.audit_trace(trace))
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"  replay, {HOSTS} hosts x {PER_HOST} ports: peak RSS {peak / 1024:.0f} MB (inputs "
          f"built: {before / 1024:.0f} MB), {findings} findings, parse+check "
          f"{elapsed / HOSTS * 1000:.1f} ms per host")


def rss_streamed_child() -> None:
    """A live run (run.live, unfiltered, no --record): the transport hands over each host's
    output as it answers (here: made on the fly, as a socket would deliver it) and the audit
    drops it once checked. Only the SSH layer and the API are stood in for."""
    from bench_parse import vsctl_output

    from osc_netpath import config
    from osc_netpath.audit import run
    from osc_netpath.host import transport

    trace = synthetic_trace(outputs=False)
    base = vsctl_output(PER_HOST)
    trace.cloud.host_ips = {h: "192.0.2.1" for h in trace.cloud.hosts}
    run.gather = lambda conn, scope: trace.cloud  # type: ignore[assignment]

    def run_probes(jobs: Any, script: str, concurrency: int = 10, on_result: Any = None) -> Any:
        results = {}
        for target, _ in jobs:
            r = transport.ProbeResult(target.host,
                                      stdout=host_output(int(target.host.rsplit("-", 1)[1]), base))
            on_result(r)
            results[target.host] = r
        return results, transport.TransportStats()

    transport.run_probes = run_probes  # type: ignore[assignment]
    started = time.perf_counter()
    report, _, _ = run.live(None, run.Scope(), config.load({}))
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"  live (streamed), {HOSTS} hosts x {PER_HOST} ports: peak RSS {peak / 1024:.0f} MB, "
          f"{len(report.findings)} findings, {elapsed / HOSTS * 1000:.1f} ms per host")


def machine_cpu() -> float:
    """CPU seconds this machine has spent (all processes, /proc/stat), to split a probe's cost
    into the client's and the hosts' (sshd and the probe's tools)."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # not idle/iowait


def lab_wall_times() -> None:
    """The audit of 1, 10 and 50 real lab hosts (each its own namespace with OVS and sshd),
    probes and checks, as ``netpath audit`` runs them (streamed)."""
    from osc_netpath import config
    from osc_netpath.audit import run
    from tests.lab.lab import Lab
    from tests.lab.topology import fleet

    topology = fleet(50)
    started = time.perf_counter()
    lab = Lab(topology).up()
    print(f"  (50 hosts built in {time.perf_counter() - started:.0f} s)")
    try:
        names = [h.name for h in topology.hosts]
        for count, concurrency in ((1, 10), (1, 10), (10, 10), (50, 10), (50, 50)):
            facts = run.merged(capture_of(topology)).cloud
            facts.subject = run.SUBJECT
            facts.hosts = names[:count]
            cfg = config.load(lab.netpath_settings(concurrency=concurrency))
            own, cpu = resource.getrusage(resource.RUSAGE_SELF), machine_cpu()
            started = time.perf_counter()
            report, _, stats = run.probe_and_audit(None, facts, run.Scope(), cfg)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
            client = after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime
            total = machine_cpu() - cpu
            print(f"  {count:>3} hosts: {wall:.2f} s wall (concurrency {concurrency}), "
                  f"{stats['ssh_connections']} connections, {len(report.findings)} findings; "
                  f"CPU per host: client {client / count * 1000:.0f} ms, hosts' side "
                  f"{(total - client) / count * 1000:.0f} ms")
    finally:
        lab.down()


def capture_of(topology: Any) -> Any:
    from osc_netpath import capture

    return capture.Bundle(traces=[capture.Trace(cloud=topology.cloud_facts(s.name))
                                  for s in topology.servers])


def main() -> None:
    global HOSTS
    if sys.argv[1:2] in (["rss"], ["rss-streamed"]):
        HOSTS = int(sys.argv[2])
        (rss_child if sys.argv[1] == "rss" else rss_streamed_child)()
        return
    if sys.argv[1:] == ["lab"]:
        print(f"lab: netpath audit of real lab hosts, on {os.cpu_count()} cores:")
        lab_wall_times()
        return
    print("API requests (page size 1000) vs ports:")
    for ports in (100, 1000, 5000):
        print(f"  {ports:>6} ports: {api_requests(ports)} requests")
    print("memory (fresh process):")
    for hosts in (HOSTS, 10 * HOSTS):  # a replay grows with the fleet, a live run should not
        for mode in ("rss", "rss-streamed"):
            subprocess.run([sys.executable, __file__, mode, str(hosts)], check=True,
                           cwd=ROOT, env={"PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}"})


if __name__ == "__main__":
    main()
