"""Parsing a big hypervisor's probe output: time and peak memory of the OVS and flow parsers.

Generates ``ovs-vsctl --format=json --data=json`` output (the probe's four tables) with 1k and
10k ports/interfaces on br-int, and ``ovs-ofctl dump-flows`` output with 10k and 100k lines
shaped like neutron's (statistics, a match with a quoted port name, resubmit/learn actions),
then prints for each: wall time and the peak of traced Python allocations (tracemalloc) of
``parsers.ovs.parse_vsctl`` and ``parsers.flows.parse_flows``, and of the whole
``probe.parse_output`` on a probe output holding both.

Figures only, no assertions on time. Run from the repository root:
``python benchmarks/bench_parse.py``
"""
from __future__ import annotations

import functools
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from osc_netpath.host import probe
from osc_netpath.host.parsers import flows, ovs

PORTS = (1_000, 10_000)
FLOWS = (10_000, 100_000)
TOKEN = "0123456789abcdef"


def _uuid(kind: int, n: int) -> list[str]:
    return ["uuid", f"{kind:08x}-0000-4000-8000-{n:012x}"]


def vsctl_output(ports: int) -> str:
    """Four documents as ovs-vsctl prints them: br-int with ``ports`` tap ports, one interface
    each, with neutron's other_config and external_ids."""
    system = {"headings": ["ovs_version", "external_ids"],
              "data": [["3.1.0", ["map", [["hostname", "compute-1"], ["system-id", "x"]]]]]}
    bridges = {"headings": ["name", "datapath_type", "fail_mode", "ports", "external_ids",
                            "protocols"],
               "data": [["br-int", "netdev", "secure",
                         ["set", [_uuid(1, n) for n in range(ports)]],
                         ["map", [["bridge-id", "br-int"]]],
                         ["set", ["OpenFlow10", "OpenFlow13"]]]]}
    port_rows, iface_rows = [], []
    for n in range(ports):
        name = f"tap{n:08x}-00"
        port_rows.append([
            _uuid(1, n), name, n % 4094 + 1, ["set", []], ["set", []], _uuid(2, n),
            ["map", [["net_uuid", f"{n:08x}-net"], ["network_type", "vlan"],
                     ["physical_network", "physnet1"], ["segmentation_id", str(n % 4000)],
                     ["tag", str(n % 4094 + 1)]]],
            ["map", []]])
        iface_rows.append([
            _uuid(2, n), name, "", n + 10, f"fe:16:3e:{n >> 8 & 255:02x}:{n & 255:02x}:00", 1500,
            "up", "up", ["map", []],
            ["map", [["attached-mac", "fa:16:3e:00:00:01"], ["iface-id", f"{n:08x}-port"],
                     ["iface-status", "active"], ["vm-uuid", f"{n:08x}-vm"]]],
            ["set", []]])
    port_doc = {"headings": ["_uuid", "name", "tag", "trunks", "vlan_mode", "interfaces",
                             "other_config", "external_ids"], "data": port_rows}
    iface_doc = {"headings": ["_uuid", "name", "type", "ofport", "mac_in_use", "mtu",
                              "admin_state", "link_state", "options", "external_ids", "error"],
                 "data": iface_rows}
    return "\n".join(json.dumps({"data": d["data"], "headings": d["headings"]},  # its order
                                 separators=(",", ":"))
                      for d in (system, bridges, port_doc, iface_doc)) + "\n"


def flows_output(lines: int) -> str:
    out = ["NXST_FLOW reply (xid=0x4):"]
    for n in range(lines):
        vlan = n % 4094 + 1
        if n % 10 == 9:
            actions = ("learn(table=20,hard_timeout=300,priority=1,cookie=0x1,"
                       "NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],"
                       "load:0->NXM_OF_VLAN_TCI[],output:OXM_OF_IN_PORT[]),output:\"patch-int\"")
        else:
            actions = f"mod_vlan_vid:{vlan},resubmit(,58)"
        out.append(f" cookie=0x41e289028b6ad20f, duration={n}.045s, table=0, n_packets={n}, "
                   f"n_bytes={n * 90}, idle_age={n % 300}, priority=3,in_port=\"int-br-ex\","
                   f"dl_vlan={vlan} actions={actions}")
    return "\n".join(out) + "\n"


def probe_output(vsctl: str, dump: str) -> str:
    def section(name: str, stdout: str) -> str:
        return (f"@@netpath {TOKEN} begin {name}@@\n{stdout}\n@@netpath {TOKEN} stderr {name}@@\n"
                f"@@netpath {TOKEN} end {name} 0@@\n")

    return (section("probe", "version=1\nuid=0\ntimeout=10\novs=host\nlibvirt=host\n")
            + section("ovs-vsctl", vsctl) + section("flows:br-int:0", dump)
            + f"@@netpath {TOKEN} done@@\n")


def measure(fn: Callable[[], Any]) -> tuple[float, float]:
    """(seconds: the best of three runs, as a busy machine only ever adds; peak MiB of Python
    allocations while the result is built, in a run of its own: tracing slows code down)."""
    elapsed = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn()
        elapsed = min(elapsed, time.perf_counter() - start)
    tracemalloc.start()
    result = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return elapsed, peak / 2**20


def main() -> None:
    print(f"{'what':<44} {'input MiB':>9} {'seconds':>8} {'peak MiB':>9}")
    texts: dict[str, str] = {}
    for n in PORTS:
        text = texts[f"vsctl{n}"] = vsctl_output(n)
        secs, peak = measure(functools.partial(ovs.parse_vsctl, text))
        print(f"{f'ovs.parse_vsctl, {n:,} ports/interfaces':<44} "
              f"{len(text) / 2**20:9.1f} {secs:8.3f} {peak:9.1f}")
    for n in FLOWS:
        text = texts[f"flows{n}"] = flows_output(n)
        secs, peak = measure(functools.partial(flows.parse_flows, text, "br-int"))
        print(f"{f'flows.parse_flows, {n:,} lines':<44} "
              f"{len(text) / 2**20:9.1f} {secs:8.3f} {peak:9.1f}")
    for ports, lines in zip(PORTS, FLOWS):
        text = probe_output(texts[f"vsctl{ports}"], texts[f"flows{lines}"])
        secs, peak = measure(functools.partial(probe.parse_output, "compute-1", text))
        label = f"probe.parse_output, {ports:,} ports + {lines:,} flows"
        print(f"{label:<44} {len(text) / 2**20:9.1f} {secs:8.3f} {peak:9.1f}")


if __name__ == "__main__":
    main()
