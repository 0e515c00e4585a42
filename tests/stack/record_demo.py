"""Record a netpath capture bundle from the real stack (real Nova/Neutron API
facts, real probes over real SSH into the compute hosts).

    sudo python -m tests.stack.record_demo [--out FILE] [--keep] [--to-external S ...]
                                           [--network NET ...] [--dhcp-port NET ...]
                                           [--audit] [SERVER ...]

SERVER defaults to vm1 vm2 vm3 (hybrid and native firewall; flat, VLAN and
VXLAN).  Each is traced with the real CLI exactly as a user would:
``openstack --os-cloud stack-admin netpath show SERVER --record PART``; with
``--to-external S`` also ``netpath show S --to external`` (recorded beside the plain
trace), with ``--network NET`` ``netpath network show NET``, with ``--dhcp-port NET``
``netpath port show`` of NET's DHCP port, with ``--audit`` ``netpath audit`` of the
whole fleet (``audit --capture`` then replays that trace).  The parts are merged into
one bundle (default: $NPSTACK_DIR/demo-capture.json; pass --out
osc_netpath/demo/capture.json to replace the built-in demo, or
osc_netpath/demo/capture-ovn.json from an ML2/OVN stack, NPSTACK_BACKEND=ovn).  Reuses a
stack that is up; otherwise brings one up and tears it down afterwards (unless --keep).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

from osc_netpath import capture

HERE = os.path.dirname(os.path.abspath(__file__))
NPSTACK_DIR = os.environ.get("NPSTACK_DIR", "/var/tmp/npstack")


def _stack_up() -> bool:
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            "http://127.0.0.1:5000/v3", timeout=5) as r:
            return r.status == 200 and os.path.exists(os.path.join(NPSTACK_DIR, "stack.json"))
    except OSError:
        return False


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(NPSTACK_DIR, "demo-capture.json"))
    ap.add_argument("--keep", action="store_true", help="leave a stack this script started up")
    ap.add_argument("--to-external", action="append", default=[], metavar="SERVER")
    ap.add_argument("--network", action="append", default=[], metavar="NET")
    ap.add_argument("--dhcp-port", action="append", default=[], metavar="NET",
                    help="also `netpath port show` the DHCP port of NET")
    ap.add_argument("--audit", action="store_true", help="also `netpath audit` the fleet")
    ap.add_argument("servers", nargs="*", default=["vm1", "vm2", "vm3"])
    args = ap.parse_args(argv)

    started = False
    if not _stack_up():
        subprocess.run(["bash", os.path.join(HERE, "up.sh")], check=True)
        started = True
    try:
        with open(os.path.join(NPSTACK_DIR, "stack.json")) as f:
            state = json.load(f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_CLIENT_CONFIG_FILE=state["clouds_yaml"], PYTHONWARNINGS="ignore",
                   no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
        exe = shutil.which("openstack", path=os.path.dirname(sys.executable)) or "openstack"
        backend = ("ML2/OVN (OVN 23.03; compute1 the gateway chassis)"
                   if state.get("backend") == "ovn" else
                   "ML2/OVS; compute1 iptables_hybrid, compute2 native openvswitch firewall")
        bundle = capture.Bundle(recorded_from=(
            "osc-netpath stack tier (tests/stack): Keystone, Nova 34 (libvirt/QEMU), Neutron 29 "
            + backend))
        runs = [(n, ["netpath", "show", n]) for n in args.servers]
        runs += [(f"{n} --to external", ["netpath", "show", n, "--to", "external"])
                 for n in args.to_external]
        runs += [(f"network {n}", ["netpath", "network", "show", n]) for n in args.network]
        for net in args.dhcp_port:
            found = subprocess.run(
                [exe, "--os-cloud", state["clouds"]["admin"], "port", "list", "--network", net,
                 "--device-owner", "network:dhcp", "-f", "value", "-c", "ID"],
                env=env, capture_output=True, text=True, check=False).stdout.split()
            if len(found) != 1:
                sys.stderr.write(f"record_demo: DHCP ports of {net}: {found or 'none'}\n")
                return 1
            runs.append((f"DHCP port of {net}", ["netpath", "port", "show", found[0]]))
        if args.audit:
            runs.append(("audit", ["netpath", "audit"]))
        with tempfile.TemporaryDirectory() as tmp:
            for i, (what, command) in enumerate(runs):
                part = os.path.join(tmp, f"{i}.json")
                audit = command[1] == "audit"  # its exit status 1 is "findings", not failure
                proc = subprocess.run(
                    [exe, "--os-cloud", state["clouds"]["admin"], *command,
                     "--record", part, "-f", "value", "-c", "Class" if audit else "Device"],
                    env=env, capture_output=True, text=True, check=False)
                if proc.returncode not in ((0, 1) if audit else (0,)) \
                        or not os.path.exists(part):
                    sys.stderr.write(f"record_demo: {what}: {proc.stderr}")
                    return 1
                bundle.traces.extend(capture.load(part).traces)
        if os.path.exists(args.out):
            os.unlink(args.out)
        capture.save(bundle, args.out)
        print(f"wrote {args.out}: {', '.join(w for w, _ in runs)}")
    finally:
        if started and not args.keep:
            subprocess.run(["bash", os.path.join(HERE, "down.sh")], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
