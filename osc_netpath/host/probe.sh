# osc-netpath host probe: read-only, POSIX sh (dash), sent on stdin as `sh -s -- ARGS`.
# shellcheck shell=sh
#
# Prints delimited sections, one per command:
#   @@netpath TOKEN begin NAME@@
#   <the command's stdout, verbatim>          (the parser drops the one newline added after it)
#   @@netpath TOKEN stderr NAME@@
#   <the command's stderr>
#   @@netpath TOKEN end NAME RC@@
# TOKEN comes from the client (--token) so no tool output can forge a marker.
# Never writes anything: no temp files; every command runs with stdin from /dev/null (stdin is
# this script) and under `timeout` when available (on the host, ovs-vsctl and ovs-ofctl under
# their own --timeout instead). A missing tool or a permission error is a section with its rc
# and stderr, never an abort.
#
# Arguments (the client validates them; re-checked here against the same character set):
#   --token HEX            marker token                 --timeout SECONDS  per command (10)
#   --domain NAME          virsh dumpxml/domstate       --flows BRIDGE:TABLE  ovs-ofctl dump-flows
#   --netns NAME           ip link/addr in a namespace  --neutron-netns    all qdhcp-/qrouter-/…
#   --tunnel-flows TABLE   that table of every bridge but trunk bridges (the tunnel bridge's
#                          name is the host's: [ovs] tunnel_bridge is not in the API)
#   --not-tunnel BRIDGE    …but this one (the agent's own word: its integration or a mapped
#                          provider bridge never holds its tunnels)
#   --runtime auto|host|docker|podman                   --ovs-container NAME  --libvirt-container NAME
#   --ovn                  ovn-controller's connection status (host or ovn_controller container)
#   --nat NAME             iptables-save -t nat inside that namespace (a router's floating IPs;
#                          nsenter --net: enters the network namespace only; needs root)

# English messages (the client matches a few); sbin for non-root ssh users (ip, ethtool).
LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export LC_ALL PATH
tok=0 tmo_s=10 domains='' flows='' tun_tables='' not_tun='' netns='' nat='' neutron_netns='' ovn=''
runtime=auto
ovs_ct='' virt_ct='' bad=
nl='
'

ok_name() {  # the character set every name shares; no leading '-' (not an option), <= 128
    case $1 in '' | -* | *[!A-Za-z0-9_.-]*) return 1 ;; esac
    [ ${#1} -le 128 ]
}
ok_num() {  # ok_num VALUE MIN MAX: a decimal number in range
    case $1 in '' | *[!0-9]*) return 1 ;; esac
    [ ${#1} -le 4 ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}
ok_bridge() { ok_name "$1" && [ ${#1} -le 15 ]; }  # IFNAMSIZ

# Each argument re-checked by its kind (the client checks them too): a wrong one is listed in
# the probe's own section and never used.
while [ $# -gt 0 ]; do
    case $1 in
        --neutron-netns) neutron_netns=1; shift; continue ;;
        --ovn) ovn=1; shift; continue ;;
    esac
    if [ $# -lt 2 ]; then bad="$bad $1"; break; fi
    _v=$2 _ok=1
    case $1 in
        --token) case $_v in '' | *[!0-9a-f]*) _ok= ;; *) tok=$_v ;; esac ;;
        --timeout) if ok_num "$_v" 1 600; then tmo_s=$_v; else _ok=; fi ;;
        --domain) if ok_name "$_v"; then domains="$domains $_v"; else _ok=; fi ;;
        --flows)  # BRIDGE:TABLE
            if ok_bridge "${_v%:*}" && ok_num "${_v##*:}" 0 254 && [ "${_v%:*}" != "$_v" ]; then
                flows="$flows $_v"
            else _ok=; fi ;;
        --tunnel-flows) if ok_num "$_v" 0 254; then tun_tables="$tun_tables $_v"; else _ok=; fi ;;
        --not-tunnel) if ok_bridge "$_v"; then not_tun="$not_tun $_v"; else _ok=; fi ;;
        --netns) if ok_name "$_v"; then netns="$netns $_v"; else _ok=; fi ;;
        --nat) if ok_name "$_v"; then nat="$nat $_v"; else _ok=; fi ;;
        --runtime) case $_v in auto | host | docker | podman) runtime=$_v ;; *) _ok= ;; esac ;;
        --ovs-container) if ok_name "$_v"; then ovs_ct=$_v; else _ok=; fi ;;
        --libvirt-container) if ok_name "$_v"; then virt_ct=$_v; else _ok=; fi ;;
        *) _ok= ;;
    esac
    [ -n "$_ok" ] || bad="$bad $1"
    shift 2
done

exec 3>&1  # the real stdout: commands write straight to it while $( ) captures their stderr
tmo=  # set to "timeout" when the command exists
command -v timeout >/dev/null 2>&1 && tmo=timeout

mark() { printf '@@netpath %s %s@@\n' "$tok" "$*"; }

# sect NAME WHERE CMD [ARG...]: WHERE is "host" or "RUNTIME:CONTAINER".
sect() {
    _n=$1 _w=$2
    shift 2
    mark begin "$_n"
    _e=$(run_at "$_w" "$@" </dev/null 2>&1 1>&3 3>&-; printf '\n%s' "$?")
    printf '\n'
    mark stderr "$_n"
    _err=${_e%"$nl"*}
    [ -n "$_err" ] && printf '%s\n' "$_err"
    rc=${_e##*"$nl"}
    mark end "$_n" "$rc"
}

# run_at WHERE CMD [ARG...]: run in WHERE ("host" or "RUNTIME:CONTAINER") under timeout;
# "own": on the host, a command given its own --timeout (ovs-vsctl, ovs-ofctl: a deadline their
# poll loop keeps, ending them with SIGALRM, rc 142), one fork less. Not a hard kill like
# `timeout -k`, but what would block them outside that loop (a stalled stdout) blocks the
# whole probe anyway, and the client's command timeout ends that.
# A timeout around `docker exec` kills only the client: the command runs on in the container.
# So where the container has a `timeout` (see where()) it times the command out in there, and
# the outer one, 3 s later, is only the backstop for a stuck client.
run_at() {
    _at=$1 _s=$tmo_s
    shift
    case $_at in
        host) ;;
        own) "$@"; return ;;  # on the host, under the command's own --timeout
        *)
            case "$ct_tmo$nl" in
                *"$nl$_at$nl"*) set -- timeout -k 2 "$tmo_s" "$@"; _s=$((tmo_s + 3)) ;;
            esac
            set -- "${_at%%:*}" exec "${_at#*:}" "$@" ;;
    esac
    if [ -n "$tmo" ]; then timeout -k 2 "$_s" "$@"; else "$@"; fi
}

# fake NAME RC MESSAGE: a section for a command the probe could not even start.
fake() {
    mark begin "$1"
    printf '\n'
    mark stderr "$1"
    printf '%s\n' "$3"
    mark end "$1" "$2"
}

have() { command -v "$1" >/dev/null 2>&1; }

# out WHERE CMD [ARG...]: the command's stdout in $_out and its status in $_rc (stderr dropped),
# run as sect() runs it.
out() {
    _out=$(run_at "$@" </dev/null 2>/dev/null)
    _rc=$?
}

# Containers by runtime, listed once and only when needed (kolla: docker; TripleO: podman).
# shellcheck disable=SC2034  # read through eval in ct_list
ps_docker=- ps_podman=- ct_tmo=
ct_list() {  # ct_list RUNTIME -> $names
    eval "names=\$ps_$1"
    [ "$names" != - ] && return
    names=
    if have "$1"; then
        if [ -n "$tmo" ]; then
            names=$(timeout -k 2 "$tmo_s" "$1" ps --format '{{.Names}}' </dev/null 2>/dev/null)
        else
            names=$("$1" ps --format '{{.Names}}' </dev/null 2>/dev/null)
        fi
    fi
    eval "ps_$1=\$names"
}

# where TOOL FORCED_CONTAINER CANDIDATE... -> $at: "host", "RUNTIME:CONTAINER" or "none".
where() {
    _t=$1 _f=$2
    shift 2
    case $runtime in
        docker | podman) _rts=$runtime ;;
        host) _rts= ;;
        *) _rts="docker podman" ;;
    esac
    if [ -n "$_f" ]; then
        at=${_rts%% *}:$_f  # no runtime installed: the exec fails and its section says so
        for _r in ${_rts:-docker podman}; do
            have "$_r" && { at=$_r:$_f; break; }
        done
    else
        at=host
        [ "$runtime" = auto ] && have "$_t" && return
        for _r in $_rts; do
            ct_list "$_r"
            for _c in "$@"; do
                case "$nl$names$nl" in *"$nl$_c$nl"*) at=$_r:$_c; break 2 ;; esac
            done
        done
        [ "$at" = host ] && { have "$_t" || at=none; return; }
    fi
    # Whether the container has a working `timeout` for sect(): one exec, once per container.
    case "$ct_tmo$nl" in *"$nl$at$nl"*) return ;; esac
    have "${at%%:*}" && ${tmo:+timeout -k 2 "$tmo_s"} "${at%%:*}" exec "${at#*:}" timeout 5 true \
        </dev/null >/dev/null 2>&1 && ct_tmo="$ct_tmo$nl$at"
}

where ovs-vsctl "$ovs_ct" openvswitch_vswitchd openvswitch_db ovs_vswitchd
ovs_at=$at
ovs_w=$at  # where the OVS tools run: their own --timeout is enough on the host
[ "$at" = host ] && ovs_w=own
virt_at=none
if [ -n "$domains" ]; then
    where virsh "$virt_ct" nova_libvirt nova_virtqemud libvirt
    virt_at=$at
fi
ovn_at=none
if [ -n "$ovn" ]; then
    where ovn-appctl "" ovn_controller ovn-controller
    ovn_at=$at
fi

_tt=none
[ -n "$tmo" ] && _tt=$tmo_s
mark begin probe
# timeout: what `timeout` bounds each command by (none: no `timeout` here); ovs_timeout: the
# OVS tools' own --timeout, which bounds them either way
printf 'version=1\nuid=%s\ntimeout=%s\novs_timeout=%s\novs=%s\nlibvirt=%s\novn=%s\n' \
    "$(id -u 2>/dev/null)" "$_tt" "$tmo_s" "$ovs_at" "$virt_at" "$ovn_at"
[ -n "$bad" ] && printf 'rejected=%s\n' "${bad# }"
printf '\n'
mark stderr probe
mark end probe 0

# The UTS nodename, as `uname -n` gives it, without its two forks (sect + timeout).
if read -r _h 2>/dev/null </proc/sys/kernel/hostname && [ -n "$_h" ]; then
    mark begin hostname
    printf '%s\n\n' "$_h"
    mark stderr hostname
    mark end hostname 0
else
    sect hostname host uname -n
fi
# iproute2 before 4.13 has no -j: then the same facts in text (-o: one line per device).
ipj=1
sect ip-link host ip -j -d link show
if [ "$rc" != 0 ] && have ip; then
    sect ip-link-text host ip -d -o link show
    [ "$rc" = 0 ] && ipj=0
fi
if [ "$ipj" = 1 ]; then
    sect ip-addr host ip -j addr show
    sect ip-netns host ip -j netns list
else
    sect ip-addr-text host ip -o addr show
    sect ip-netns-text host ip netns list
fi

# Every device from sysfs, builtins only (not a fork per device): "NAME IFINDEX
# IFLINK MTU OPERSTATE ADDRESS MASTER", '-' for a value that cannot be read. The veth peer's
# ifindex even where ip cannot say it, and the whole picture where there is no ip at all.
mark begin sysfs-net
for _d in /sys/class/net/*; do
    [ -r "$_d/ifindex" ] || continue
    read -r _i 2>/dev/null <"$_d/ifindex" || continue
    read -r _k 2>/dev/null <"$_d/iflink" || _k=-
    read -r _u 2>/dev/null <"$_d/mtu" || _u=-
    read -r _o 2>/dev/null <"$_d/operstate" || _o=-
    read -r _a 2>/dev/null <"$_d/address" || _a=-
    _m=-  # cd in this shell, not $(cd; pwd): a fork per enslaved device adds up (kernel
    # datapath: every OVS port's master is ovs-system); the commands below use no relative path
    [ -e "$_d/master" ] && cd -P "$_d/master" 2>/dev/null && _m=${PWD##*/}
    printf '%s %s %s %s %s %s %s\n' "${_d##*/}" "$_i" "${_k:--}" "${_u:--}" "${_o:--}" \
        "${_a:--}" "${_m:--}"
done
cd / 2>/dev/null
printf '\n'
mark stderr sysfs-net
mark end sysfs-net 0

# Without `ip -j` the kernel may not name veth peers (old kernels give veths no iflink):
# ethtool's peer_ifindex, for every device that is not a bridge or a tap.
if [ "$ipj" != 1 ] && have ethtool; then
    for _d in /sys/class/net/*; do
        _n=${_d##*/}
        [ "$_n" = lo ] || [ -d "$_d/bridge" ] || [ -e "$_d/tun_flags" ] && continue
        ok_name "$_n" && sect "ethtool:$_n" host ethtool -S "$_n"
    done
fi

if [ -n "$neutron_netns" ] && [ -d /run/netns ]; then
    for _d in /run/netns/*; do
        case ${_d##*/} in qdhcp-* | qrouter-* | snat-* | fip-* | ovnmeta-*) ;; *) continue ;; esac
        ok_name "${_d##*/}" && netns="$netns ${_d##*/}"
    done
fi
for _ns in $netns; do
    [ -e "/run/netns/$_ns" ] || continue  # absent: `ip netns list` already says so
    if [ "$ipj" = 1 ]; then
        sect "ip-link:$_ns" host ip -n "$_ns" -j -d link show
        sect "ip-addr:$_ns" host ip -n "$_ns" -j addr show
    else
        sect "ip-link-text:$_ns" host ip -n "$_ns" -d -o link show
        sect "ip-addr-text:$_ns" host ip -n "$_ns" -o addr show
    fi
done

for _ns in $nat; do
    [ -e "/run/netns/$_ns" ] || continue  # absent: `ip netns list` already says so
    if have nsenter; then
        sect "nat:$_ns" host nsenter --net="/run/netns/$_ns" iptables-save -t nat
    else
        sect "nat:$_ns" host ip netns exec "$_ns" iptables-save -t nat
    fi
done

# One ovs-vsctl call: four tables from one consistent database snapshot, one JSON document each.
if [ "$ovs_at" = none ]; then
    fake ovs-vsctl 127 "ovs-vsctl: not found on the host nor in an openvswitch container"
else
    sect ovs-vsctl "$ovs_w" ovs-vsctl --timeout="$tmo_s" --format=json --data=json \
        -- --columns=ovs_version,external_ids list Open_vSwitch \
        -- --columns=name,datapath_type,fail_mode,ports,external_ids,protocols list Bridge \
        -- --columns=_uuid,name,tag,trunks,vlan_mode,interfaces,other_config,external_ids \
        list Port \
        -- --columns=_uuid,name,type,ofport,mac_in_use,mtu,admin_state,link_state,options,external_ids,error \
        list Interface
fi

# The tunnel tables of every bridge but trunk bridges: which bridge is the tunnel bridge is the
# host's to say (patch ports), not a name to assume. Listed as a section of its own.
if [ -n "$tun_tables" ] && [ "$ovs_at" != none ]; then
    out "$ovs_w" ovs-vsctl --timeout="$tmo_s" list-br
    mark begin ovs-bridges
    printf '%s\n' "$_out"
    mark stderr ovs-bridges
    mark end ovs-bridges "$_rc"
    set -f  # names from OVS are never globbed
    for _b in $_out; do
        ok_bridge "$_b" || continue
        case $_b in tbr-*) continue ;; esac
        case " $not_tun " in *" $_b "*) continue ;; esac
        for _t in $tun_tables; do
            case " $flows " in *" $_b:$_t "*) ;; *) flows="$flows $_b:$_t" ;; esac
        done
    done
    set +f
fi

# Neutron may restrict a bridge to OpenFlow13+: retry with -O OpenFlow13 when the default
# (OpenFlow10) is refused.
for _f in $flows; do
    _b=${_f%:*} _t=${_f##*:}
    if [ "$ovs_at" = none ]; then
        fake "flows:$_b:$_t" 127 "ovs-ofctl: not found on the host nor in an openvswitch container"
        continue
    fi
    sect "flows:$_b:$_t" "$ovs_w" ovs-ofctl --timeout="$tmo_s" --names dump-flows "$_b" \
        "table=$_t"
    case $_err in
        *"version negotiation failed"*)
            sect "flows:$_b:$_t" "$ovs_w" ovs-ofctl --timeout="$tmo_s" -O OpenFlow13 --names \
                dump-flows "$_b" "table=$_t" ;;
    esac
done

# ovn-controller's own view of its Southbound connection (read-only; the databases themselves
# are usually out of a compute's reach). Only where an ovn-controller could be: no section else.
if [ "$ovn_at" != none ]; then
    sect ovn-controller "$ovn_at" ovn-appctl -t ovn-controller connection-status
fi

for _d in $domains; do
    if [ "$virt_at" = none ]; then
        fake "virsh-dumpxml:$_d" 127 "virsh: not found on the host nor in a libvirt container"
        continue
    fi
    # The URI explicitly: a non-root user's default is qemu:///session, which has no domains.
    sect "virsh-dumpxml:$_d" "$virt_at" virsh -r -c qemu:///system dumpxml --domain "$_d"
    sect "virsh-domstate:$_d" "$virt_at" virsh -r -c qemu:///system domstate --domain "$_d"
done
mark 'done'
