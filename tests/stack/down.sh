#!/bin/bash
# Tear down everything tests/stack/up.sh started: processes by recorded PID
# (each service is its own process group) and every process inside the
# npstack-* host namespaces, then the namespaces, veths and bridges.
# Keeps the venv and the logs; NPSTACK_PURGE=1 also removes $NPSTACK_DIR.
set -uo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ "$(id -u)" = 0 ] || die "needs root"

group_alive() { [ -n "$(pgrep -g "$1" 2>/dev/null)" ]; }
signal_group() { # SIG PIDFILE...
    local sig=$1 f p; shift
    for f in "$@"; do
        [ -f "$f" ] || continue
        p=$(cat "$f"); [ -n "$p" ] || continue
        group_alive "$p" && kill -"$sig" -- -"$p" 2>/dev/null
        kill -0 "$p" 2>/dev/null && kill -"$sig" "$p" 2>/dev/null
    done
}
wait_gone() { # TIMEOUT PIDFILE...
    local end=$(( $(date +%s) + $1 )) f p busy; shift
    while :; do
        busy=0
        for f in "$@"; do
            [ -f "$f" ] || continue; p=$(cat "$f")
            { group_alive "$p" || kill -0 "$p" 2>/dev/null; } && busy=1
        done
        [ $busy = 0 ] && return 0
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
}

# 0. what agents started inside the hosts' inner namespaces (ML2/OVN: haproxy of the OVN
#    metadata agent in ovnmeta-<net>; ML2/OVS: the DHCP agent's dnsmasq in qdhcp-<net>), listed
#    in the host's own /run/netns only, so not in `ip netns pids` below: by the agents' pid
#    files, checked against the command name. Once now and once more after the agents are
#    gone: an agent's process monitor respawns what is killed while it still runs.
stop_inner() {
    local f p
    for f in "$D"/hosts/*/neutron/external/pids/* "$D"/hosts/*/neutron/dhcp/*/pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        case "$p" in ''|*[!0-9]*) continue ;; esac
        case "$(cat "/proc/$p/comm" 2>/dev/null)" in
            haproxy|dnsmasq|keepalived) kill -KILL "$p" 2>/dev/null && echo "npstack: stopped $(basename "$f") ($p)" ;;
        esac
    done
}
stop_inner

# 1. compute hosts: everything that runs inside each host's network namespace
#    (agents, nova-compute and its privsep daemons, libvirtd and QEMU, OVS, sshd)
NSS=$(ip netns list | awk '{print $1}' | grep '^npstack-' || true)
ns_pids() { local ns; for ns in $NSS; do ip netns pids "$ns" 2>/dev/null; done | xargs; }
read -ra pids <<<"$(ns_pids)"
[ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null

# 2. control plane: OpenStack services get TERM; RabbitMQ, epmd and MariaDB
#    hold nothing worth a graceful stop (up.sh recreates their data) and get KILL
files=()
for f in "$R"/*.pid; do [ -f "$f" ] && files+=("$f"); done
soft=() hard=()
for f in "${files[@]}"; do
    case "$(basename "$f" .pid)" in
        rabbitmq|epmd|mysqld) hard+=("$f") ;;
        *) soft+=("$f") ;;
    esac
done
[ ${#soft[@]} -gt 0 ] && signal_group TERM "${soft[@]}"
end=$(( $(date +%s) + 8 ))
while [ "$(date +%s)" -lt "$end" ]; do
    [ -z "$(ns_pids)" ] && { [ ${#soft[@]} = 0 ] || wait_gone 0 "${soft[@]}"; } && break
    sleep 0.2
done
read -ra pids <<<"$(ns_pids)"
[ ${#pids[@]} -gt 0 ] && kill -KILL "${pids[@]}" 2>/dev/null
[ ${#soft[@]} -gt 0 ] && { wait_gone 0 "${soft[@]}" || signal_group KILL "${soft[@]}"; }
[ ${#hard[@]} -gt 0 ] && signal_group KILL "${hard[@]}"
[ ${#files[@]} -gt 0 ] && { wait_gone 5 "${files[@]}" || echo "npstack: WARNING: processes left in groups of ${files[*]}" >&2; }
for f in "${files[@]}"; do echo "npstack: stopped $(basename "$f" .pid)"; rm -f "$f"; done
for _ in $(seq 1 25); do [ -z "$(ns_pids)" ] && break; sleep 0.2; done
stop_inner  # what an agent respawned before it was stopped
for ns in $NSS; do ip netns del "$ns" && echo "npstack: removed namespace $ns"; done
# the anchors (and anything still in their process groups) of hosts whose namespace is gone
for f in "$D"/hosts/*/anchor.pid "$D"/hosts/*/run/*.pid; do
    [ -f "$f" ] || continue
    signal_group KILL "$f"
    rm -f "$f"
done

# 3. links and bridges in the root namespace
for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^npstack-' || true); do
    ip link del "$l" 2>/dev/null && echo "npstack: removed link $l"
done
rm -f "$D/stack.json" "$D/servers.json" "$R/mysql.sock" "$D"/fwd/*.sock
# data up.sh recreates anyway (databases, queues, images, instance disks); logs stay
rm -rf "$D/mysql" "$D/rabbit" "$D/data" "$D/ovn" "$D"/hosts/*/nova "$D"/hosts/*/libvirt "$D"/hosts/*/ovs \
    "$D"/hosts/*/ovn "$D"/hosts/*/netns "$D"/hosts/*/neutron
if [ "${NPSTACK_PURGE:-0}" = 1 ]; then
    rm -rf "$D" && echo "npstack: removed $D"
fi
exit 0
