"""Re-record the built-in demo capture from the lab: real probes over real SSH.

    sudo python -m tests.lab.record_demo [OUT]      (default: osc_netpath/demo/capture.json)

Brings the lab up (or reuses a running one), traces every lab server with the same code as
`netpath show`, and writes one capture bundle. The API facts are the lab topology's CloudFacts.
"""
from __future__ import annotations

import os
import sys

from osc_netpath import capture, config, trace
from tests.lab.lab import Lab
from tests.lab.topology import LAB

DEFAULT_OUT = os.path.join(os.path.dirname(capture.__file__), "demo", "capture.json")


def main(argv: list[str]) -> int:
    out = argv[0] if argv else DEFAULT_OUT
    lab = Lab().up()
    try:
        cfg = config.load(lab.netpath_settings())
        bundle = capture.Bundle(recorded_from="osc-netpath lab (tests/lab): hv1 iptables_hybrid, "
                                              "hv2 native openvswitch firewall, real OVS + sshd")
        for server in LAB.servers:
            outcome = trace.probe_and_resolve(LAB.cloud_facts(server.name), cfg)
            bundle.traces.append(outcome.trace)
        if os.path.exists(out):
            os.unlink(out)
        capture.save(bundle, out)
    finally:
        lab.down()
    print(f"wrote {out}: {', '.join(s.name for s in LAB.servers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
