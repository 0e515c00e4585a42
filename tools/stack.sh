#!/usr/bin/env bash
# A real, small OpenStack on this machine (the stack test tier), by hand.
#
#   tools/stack.sh up            bring it up (tests/stack/up.sh; ~2 min once installed);
#                                NPSTACK_BACKEND=ovn tools/stack.sh up: Neutron ML2/OVN instead;
#                                NPSTACK_L3=dvr tools/stack.sh up: router1 distributed (DVR)
#   tools/stack.sh down          stop everything, remove namespaces/bridges (keeps the venv)
#   tools/stack.sh status        what runs, hosts, servers
#   tools/stack.sh env           print `export OS_CLIENT_CONFIG_FILE=… OS_CLOUD=stack-admin PATH=…`
#                                (the project's .venv/bin first: eval "$(tools/stack.sh env)")
#   tools/stack.sh ssh HOST [CMD...]   ssh into a compute host's sshd (compute1, compute2)
#   tools/stack.sh exec HOST CMD...    run CMD inside a compute host's namespaces (no ssh)
#   tools/stack.sh openstack ARGS...   the project's openstack CLI against stack-admin
#   tools/stack.sh test [PYTEST ARGS]  the stack tier's tests, reusing a stack that is up
#                                (an ML2/OVN stack: tests/stack/test_netpath_ovn.py only; a DVR
#                                one: tests/stack/test_netpath_dvr.py only)
#
# Env: NPSTACK_DIR (default /var/tmp/npstack), NETPATH_VENV (default .venv: made and installed
# on first use, as by tools/run-tests.sh); everything else: tests/stack/lib.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
S=$ROOT/tests/stack
D=${NPSTACK_DIR:-/var/tmp/npstack}
export NPSTACK_DIR=$D
# the CLI, pytest and the plugin come from the project's venv, never from whatever PATH has
VENV=$(cd "$ROOT" && realpath -m "${NETPATH_VENV:-.venv}")
venv() { (cd "$ROOT" && . tools/venv.sh && netpath_venv test "$VENV" "${NETPATH_TEST_REQS[@]}"); }

need_up() { [ -f "$D/stack.json" ] || { echo "stack.sh: no stack up in $D (tools/stack.sh up)" >&2; exit 1; }; }
host_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hosts"][sys.argv[2]][sys.argv[3]])' "$D/stack.json" "$1" "$2"; }
backend() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("backend", "ovs"))' "$D/stack.json" 2>/dev/null || echo none; }
l3_mode() { python3 -c 'import json,sys; print((json.load(open(sys.argv[1])).get("router") or {}).get("mode", "legacy"))' "$D/stack.json" 2>/dev/null || echo none; }

cmd=${1:-help}
shift || true
# a pytest session that owns the stack holds this lock (tests/stack/conftest.py)
not_in_use() {
    mkdir -p "$D"
    flock -n "$D/.session.lock" true ||
        { echo "stack.sh: a test session is using the stack in $D; try again when it ends" >&2; exit 1; }
}

case "$cmd" in
up) not_in_use; exec bash "$S/up.sh" ;;
down) not_in_use; exec bash "$S/down.sh" ;;
env)
    need_up
    venv
    # $PATH is expanded where the line is eval'd
    # shellcheck disable=SC2016
    printf 'export OS_CLIENT_CONFIG_FILE=%q OS_CLOUD=stack-admin PATH=%q:"$PATH"\n' \
        "$D/clouds.yaml" "$VENV/bin"
    ;;
status)
    if [ ! -f "$D/stack.json" ]; then echo "no stack up in $D"; exit 0; fi
    for f in "$D"/run/*.pid "$D"/hosts/*/run/*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f"); st=down; kill -0 "$p" 2>/dev/null && st="up (pid $p)"
        printf '%-50s %s\n' "${f#"$D"/}" "$st"
    done
    ip netns list | grep '^npstack-' || true
    python3 - "$D/stack.json" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
for h in st["hosts"].values():
    print("host %-9s %-15s ns %-17s firewall %s" % (h["name"], h["address"], h["namespace"], h["firewall_driver"]))
for label, s in st["servers"].items():
    nets = ", ".join("%s(%s)" % (p["network"], p["network_type"]) for p in s["ports"])
    print("server %-7s %-8s %-9s on %-9s %s" % (label, s["status"], s["project"], s["host"], nets))
print("backend:", st.get("backend", "ovs"), " clouds.yaml:", st["clouds_yaml"])
EOF
    ;;
ssh)
    need_up
    h=${1:?host}; shift
    exec ssh -i "$D/ssh/id_ed25519" -o UserKnownHostsFile="$D/ssh/known_hosts" \
        -o StrictHostKeyChecking=yes "root@$(host_field "$h" address)" "$@"
    ;;
exec)
    need_up
    h=${1:?host}; shift
    exec nsenter -t "$(host_field "$h" anchor_pid)" -m -u -n -- "$@"
    ;;
openstack)
    need_up
    venv
    OS_CLIENT_CONFIG_FILE=$D/clouds.yaml OS_CLOUD=${OS_CLOUD:-stack-admin} PYTHONWARNINGS=ignore \
        exec "$VENV/bin/openstack" "$@"
    ;;
test)
    venv
    cd "$ROOT"
    # the tests of the backend that is up (the other one's would replace it)
    tests=tests/stack
    [ "$(backend)" = ovn ] && tests=tests/stack/test_netpath_ovn.py
    [ "$(l3_mode)" = dvr ] && tests=tests/stack/test_netpath_dvr.py
    NETPATH_STACK=1 NETPATH_STACK_REUSE=1 exec "$VENV/bin/python" -m pytest -ra "$tests" "$@"
    ;;
*) sed -n '2,15p' "$0"; exit 2 ;;
esac
