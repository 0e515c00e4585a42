"""Fixtures of the command tier: probes answered from outputs recorded on real hosts."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from osc_netpath import capture
from osc_netpath.host import transport


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """SSH replaced by the demo capture's probe outputs (recorded from the real stack's hosts,
    by host name); ``jobs`` lists each run's (target, command line) pairs."""
    outputs = {host: out for trace in capture.load(capture.DEMO).traces
               for host, out in trace.probes.items()}
    jobs: list[list[tuple[Any, str]]] = []

    def run_probes(asked: list[tuple[Any, str]], script: str, concurrency: int = 10,
                   on_result: Any = None) -> Any:
        jobs.append(list(asked))
        results = {t.host: transport.ProbeResult(host=t.host, stdout=outputs[t.host])
                   if t.host in outputs else transport.ProbeResult(
                       host=t.host, error=f"{t.host}: connection refused",
                       error_kind="unreachable") for t, _ in asked}
        for result in results.values():  # as the transport does, host by host
            if on_result is not None:
                on_result(result)
        counts = {t.host: 1 for t, _ in asked}
        return results, transport.TransportStats(connections=counts, execs=counts)

    monkeypatch.setattr(transport, "run_probes", run_probes)
    demo = capture.load(capture.DEMO)
    # the servers' plain traces (the bundle also holds --to external, network, port, audit)
    return SimpleNamespace(jobs=jobs, facts=[t.cloud for t in demo.traces if
                                             t.cloud.subject == "server" and t.cloud.to is None])
