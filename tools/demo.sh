#!/usr/bin/env bash
# The built-in demo: installs the plugin into .venv (once) and traces vm1 from a capture recorded
# on the test stack (real Nova, Neutron, OVS agents, libvirt; no cloud needed). Servers: vm1
# (iptables_hybrid), vm2 (native openvswitch firewall), vm3, vm-off (SHUTOFF). tools/demo.sh vm2
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/venv.sh
VENV=${NETPATH_VENV:-.venv}
netpath_venv demo "$VENV" -r requirements.txt python-openstackclient
server=${1:-vm1}
# the table (Port tells vm1's three ports apart) runs beside the diagram: each `openstack`
# start-up costs about a second, the two need not wait for each other
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$VENV/bin/openstack" netpath show "$server" --capture demo -c Port -c Hop -c Device -c Kind \
    -c Bridge -c VLAN -c MTU -c State -c Source >"$out/table" 2>"$out/table.err" &
table=$!
rc=0
"$VENV/bin/openstack" netpath show "$server" --capture demo --diagram 2>"$out/diagram.err" || rc=$?
cat "$out/diagram.err" >&2
trc=0
wait "$table" || trc=$?
cat "$out/table"
# an error both runs hit (an unknown server) is said once
cmp -s "$out/diagram.err" "$out/table.err" || cat "$out/table.err" >&2
exit $((rc > trc ? rc : trc))
