# shellcheck shell=bash disable=SC2034  # the variables set here are used by the scripts that source it
# Common settings and helpers of the stack tier (sourced by up.sh and down.sh).
#
# Everything this tier creates is named npstack-* (network namespaces, veths,
# linux bridges) and lives under $NPSTACK_DIR (state, logs, pid files).

NPSTACK_SRC=${NPSTACK_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
NPSTACK_DIR=${NPSTACK_DIR:-/var/tmp/npstack}
# /24 of the management network between the root namespace (.1) and the
# compute hosts (.11, .12, ...): sshd, VXLAN local_ip and nova's my_ip live there.
NPSTACK_NET=${NPSTACK_NET:-172.30.77}
NPSTACK_PW=${NPSTACK_PW:-secret}
# the Neutron backend: "ovs" (ML2/OVS, neutron-openvswitch-agent) or "ovn" (ML2/OVN: OVN
# central in the root namespace, ovn-controller and the OVN metadata agent on every host)
NPSTACK_BACKEND=${NPSTACK_BACKEND:-ovs}
case "$NPSTACK_BACKEND" in ovs|ovn) ;; *) echo "npstack: NPSTACK_BACKEND must be ovs or ovn" >&2; exit 1 ;; esac
# ML2/OVS routers: "legacy" (the network node's L3 agent) or "dvr" (an L3 agent on every
# compute in agent_mode dvr, the network node in dvr_snat; l2population on every agent)
NPSTACK_L3=${NPSTACK_L3:-legacy}
case "$NPSTACK_L3" in legacy|dvr) ;; *) echo "npstack: NPSTACK_L3 must be legacy or dvr" >&2; exit 1 ;; esac
# name:firewall_driver[:virt_driver[:agents]] per host; each is its own network, mount and
# UTS namespace with its own OVS, agent and sshd. virt_driver "libvirt": a compute (libvirtd,
# nova-compute); "none": no hypervisor (a network node). agents: Neutron agents beside the
# OVS agent, comma separated ("l3", "dhcp": ML2/OVS only).
# On OVN the second field is "ovn" (security groups are OVN ACLs, no firewall driver).
if [ "$NPSTACK_BACKEND" = ovn ]; then
    NPSTACK_HOSTS=${NPSTACK_HOSTS:-"compute1:ovn:libvirt compute2:ovn:libvirt"}
elif [ "$NPSTACK_L3" = dvr ]; then
    NPSTACK_HOSTS=${NPSTACK_HOSTS:-"compute1:iptables_hybrid:libvirt:l3 compute2:openvswitch:libvirt:l3 network1:openvswitch:none:l3,dhcp"}
else
    NPSTACK_HOSTS=${NPSTACK_HOSTS:-"compute1:iptables_hybrid:libvirt compute2:openvswitch:libvirt network1:openvswitch:none:l3,dhcp"}
fi
# OVN only: the Geneve underlay between the hosts (each host's ovn-encap-ip .1x sits on the
# internal port of its br-phy: the userspace datapath sends tunnels only out of an OVS
# port it has a route for), and the NB/SB databases' UNIX sockets
NPSTACK_TUN_NET=${NPSTACK_TUN_NET:-172.30.78}
NPSTACK_AMQP_PORT=${NPSTACK_AMQP_PORT:-5672}
# the control plane ports relayed into every host namespace (see fwd.py)
NPSTACK_RELAY_PORTS=("$NPSTACK_AMQP_PORT" 5000 8774 8778 9292 9696)
# the interpreter the stack's venv is made from (a venv's python resolves to its base)
NPSTACK_PYTHON=${NPSTACK_PYTHON:-$(python3 -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')}

D=$NPSTACK_DIR
V=$D/venv/bin
E=$D/etc
L=$D/logs
R=$D/run
OVN_DIR=$D/ovn
OVN_NB=unix:$OVN_DIR/ovnnb_db.sock
OVN_SB=unix:$OVN_DIR/ovnsb_db.sock

export PYTHONWARNINGS=ignore
export OS_NOVA_DISABLE_EVENTLET_PATCHING=true
# every endpoint is local: never through a proxy the environment may name
export no_proxy="127.0.0.1,localhost,$NPSTACK_NET.0/24" NO_PROXY="127.0.0.1,localhost,$NPSTACK_NET.0/24"

# ------------------------------------------------------------------ timing
NPSTACK_T0=${NPSTACK_T0:-$(date +%s.%N)}
stamp() {
    local now; now=$(date +%s.%N)
    printf '%7.1fs  %s\n' "$(awk "BEGIN {print $now - $NPSTACK_T0}")" "$*" | tee -a "$L/up-timing.log"
}
# record a named duration (seconds) into $D/timings.env for the test tier
timing() { echo "$1=$2" >> "$D/timings.env"; }
now() { date +%s.%N; }
since() { awk "BEGIN {printf \"%.1f\", $(now) - $1}"; }

die() {
    echo "npstack: ERROR: $*" >&2
    exit 1
}

# ------------------------------------------------------------------ hosts
# host_field SPEC N -> field N (1=name 2=firewall 3=virt driver 4=agents) of a host spec
host_field() { echo "$1" | cut -s -d: -f"$2"; }
host_names() { local h; for h in $NPSTACK_HOSTS; do echo "${h%%:*}"; done; }
host_spec() { local h; for h in $NPSTACK_HOSTS; do [ "${h%%:*}" = "$1" ] && echo "$h"; done; }
# the hosts with a hypervisor (nova-compute, libvirtd)
compute_names() {
    local h v
    for h in $NPSTACK_HOSTS; do v=$(host_field "$h" 3); [ "${v:-libvirt}" = none ] || echo "${h%%:*}"; done
}
# host_has_agent NAME AGENT: does the host run that Neutron agent (l3, dhcp) besides OVS's
host_has_agent() { case ",$(host_field "$(host_spec "$1")" 4)," in *",$2,"*) return 0 ;; esac; return 1; }
host_index() { # 1-based position of host NAME
    local i=0 h
    for h in $NPSTACK_HOSTS; do i=$((i + 1)); [ "$(host_field "$h" 1)" = "$1" ] && { echo $i; return; }; done
    return 1
}
host_ns() { echo "npstack-$1"; }
host_addr() { echo "$NPSTACK_NET.$((10 + $(host_index "$1")))"; }
host_dir() { echo "$D/hosts/$1"; }
host_encap() { echo "$NPSTACK_TUN_NET.$((10 + $(host_index "$1")))"; }
# run a command inside a host: its network, mount and UTS namespaces, i.e. what
# a process started by that host's init would see (its own OVS, libvirtd, /etc/hosts)
hx() {
    local h=$1; shift
    nsenter -t "$(cat "$(host_dir "$h")/anchor.pid")" -m -u -n -- "$@"
}

# ------------------------------------------------------------------ services
# svc NAME CMD... : start a service detached in its own session (process group
# = its pid), log to $L/NAME.out, pid in $R/NAME.pid.
svc() {
    local n=$1; shift
    (cd "$D" && PATH=$V:$PATH exec setsid "$@" >"$L/$n.out" 2>&1 </dev/null) &
    echo $! >"$R/$n.pid"
}
# hsvc HOST NAME CMD... : the same inside a compute host's namespaces
hsvc() {
    local h=$1 n=$2; shift 2
    local anchor; anchor=$(cat "$(host_dir "$h")/anchor.pid")
    mkdir -p "$L/$h"
    (cd "$D" && PATH=$V:$PATH exec setsid nsenter -t "$anchor" -m -u -n -- "$@" \
        >"$L/$h/$n.out" 2>&1 </dev/null) &
    echo $! >"$(host_dir "$h")/run/$n.pid"
}
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# the tail of a service's logs, for failures
show_log() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 40 "$f" >&2
    done
}

wait_for() { # DESCRIPTION TIMEOUT_S LOGFILE... -- CMD...
    local what=$1 timeout=$2; shift 2
    local logs=()
    while [ "$1" != "--" ]; do logs+=("$1"); shift; done
    shift
    local end=$(( $(date +%s) + timeout ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            echo "npstack: ERROR: $what not ready after ${timeout}s" >&2
            show_log "${logs[@]}"
            exit 1
        fi
        sleep 0.5
    done
    stamp "$what ready"
}
http_ok() { curl --noproxy '*' -s -o /dev/null -m 5 -w '%{http_code}' "$1" | grep -qE '^(200|300)$'; }
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
