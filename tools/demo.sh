#!/usr/bin/env bash
# The built-in demo: installs the plugin into .venv and traces vm1 from a capture recorded on
# the test stack (real Nova, Neutron, OVS agents, libvirt; no cloud needed). Servers: vm1
# (iptables_hybrid), vm2 (native openvswitch firewall), vm3, vm-off (SHUTOFF). tools/demo.sh vm2
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NETPATH_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q -r requirements.txt python-openstackclient
"$VENV/bin/pip" install -q --no-deps -e .
server=${1:-vm1}
"$VENV/bin/openstack" netpath show "$server" --capture demo --diagram
"$VENV/bin/openstack" netpath show "$server" --capture demo -c Hop -c Device -c Kind \
    -c Bridge -c VLAN -c MTU -c State -c Source
