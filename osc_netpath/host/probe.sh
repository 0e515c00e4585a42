# osc-netpath host probe: read-only, POSIX sh (dash), sent on stdin as `sh -s -- ARGS`.
#
# Prints delimited sections, one per command:
#   @@netpath TOKEN begin NAME@@
#   <the command's stdout, verbatim>          (the parser drops the one newline added after it)
#   @@netpath TOKEN stderr NAME@@
#   <the command's stderr>
#   @@netpath TOKEN end NAME RC@@
# TOKEN comes from the client (--token) so no tool output can forge a marker.
# Never writes anything: no temp files; every command runs with stdin from /dev/null (stdin is
# this script) and under `timeout` when available. A missing tool or a permission error is a
# section with its rc and stderr, never an abort.
#
# Arguments (the client validates them; re-checked here against the same character set):
#   --token HEX            marker token                 --timeout SECONDS  per command (10)
#   --domain NAME          virsh dumpxml/domstate       --flows BRIDGE:TABLE  ovs-ofctl dump-flows
#   --netns NAME           ip link/addr in a namespace  --neutron-netns    all qdhcp-/qrouter-/…
#   --runtime auto|host|docker|podman                   --ovs-container NAME  --libvirt-container NAME

# English messages (the client matches a few); sbin for non-root ssh users (ip, ethtool).
LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export LC_ALL PATH
tok=0 tmo_s=10 domains= flows= netns= neutron_netns= runtime=auto ovs_ct= virt_ct= bad=
nl='
'

ok_name() {  # the character set every argument shares; no leading '-' (not an option)
    case $1 in '' | -* | *[!A-Za-z0-9_.:-]*) return 1 ;; esac
}

while [ $# -gt 0 ]; do
    if [ $# -lt 2 ] && [ "$1" != --neutron-netns ]; then bad="$bad $1"; break; fi
    case $1 in
        --neutron-netns) neutron_netns=1; shift; continue ;;
    esac
    ok_name "$2" || { bad="$bad $1"; shift 2; continue; }
    case $1 in
        --token) tok=$2 ;;
        --timeout) tmo_s=$2 ;;
        --domain) domains="$domains $2" ;;
        --flows) flows="$flows $2" ;;
        --netns) netns="$netns $2" ;;
        --runtime) runtime=$2 ;;
        --ovs-container) ovs_ct=$2 ;;
        --libvirt-container) virt_ct=$2 ;;
        *) bad="$bad $1" ;;
    esac
    shift 2
done
case $tmo_s in *[!0-9]* | '') tmo_s=10 ;; esac

exec 3>&1  # the real stdout: commands write straight to it while $( ) captures their stderr
tmo=  # set to "timeout" when the command exists
command -v timeout >/dev/null 2>&1 && tmo=timeout

mark() { printf '@@netpath %s %s@@\n' "$tok" "$*"; }

# sect NAME WHERE CMD [ARG...]: WHERE is "host" or "RUNTIME:CONTAINER".
sect() {
    _n=$1 _w=$2
    shift 2
    case $_w in host) ;; *) set -- "${_w%%:*}" exec "${_w#*:}" "$@" ;; esac
    [ -n "$tmo" ] && set -- timeout -k 2 "$tmo_s" "$@"
    mark begin "$_n"
    _e=$("$@" </dev/null 2>&1 1>&3 3>&-; printf '\n%s' "$?")
    printf '\n'
    mark stderr "$_n"
    _err=${_e%"$nl"*}
    [ -n "$_err" ] && printf '%s\n' "$_err"
    rc=${_e##*"$nl"}
    mark end "$_n" "$rc"
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

# Containers by runtime, listed once and only when needed (kolla: docker; TripleO: podman).
ps_docker=- ps_podman=-
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
            have "$_r" && { at=$_r:$_f; return; }
        done
        return
    fi
    at=host
    [ "$runtime" = auto ] && have "$_t" && return
    for _r in $_rts; do
        ct_list "$_r"
        for _c in "$@"; do
            case "$nl$names$nl" in *"$nl$_c$nl"*) at=$_r:$_c; return ;; esac
        done
    done
    have "$_t" || at=none
}

where ovs-vsctl "$ovs_ct" openvswitch_vswitchd openvswitch_db ovs_vswitchd
ovs_at=$at
virt_at=none
if [ -n "$domains" ]; then
    where virsh "$virt_ct" nova_libvirt nova_virtqemud libvirt
    virt_at=$at
fi

_tt=none
[ -n "$tmo" ] && _tt=$tmo_s
mark begin probe
printf 'version=1\nuid=%s\ntimeout=%s\novs=%s\nlibvirt=%s\n' \
    "$(id -u 2>/dev/null)" "$_tt" "$ovs_at" "$virt_at"
[ -n "$bad" ] && printf 'rejected=%s\n' "${bad# }"
printf '\n'
mark stderr probe
mark end probe 0

sect hostname host uname -n
sect ip-link host ip -j -d link show
ip_rc=$rc
sect ip-addr host ip -j addr show
sect ip-netns host ip -j netns list

# ifindex and iflink of every device, builtins only: the veth peer's ifindex even where ip
# cannot say it.
mark begin sysfs-net
for _d in /sys/class/net/*; do
    [ -r "$_d/ifindex" ] || continue
    read -r _i 2>/dev/null <"$_d/ifindex" || continue
    read -r _k 2>/dev/null <"$_d/iflink" || _k=
    printf '%s %s %s\n' "${_d##*/}" "$_i" "$_k"
done
printf '\n'
mark stderr sysfs-net
mark end sysfs-net 0

# ethtool's peer_ifindex: only when ip gave no JSON, only for stacked devices (iflink != ifindex).
if [ "$ip_rc" != 0 ] && have ethtool; then
    for _d in /sys/class/net/*; do
        read -r _i 2>/dev/null <"$_d/ifindex" || continue
        read -r _k 2>/dev/null <"$_d/iflink" || continue
        [ "$_i" != "$_k" ] && sect "ethtool:${_d##*/}" host ethtool -S "${_d##*/}"
    done
fi

if [ -n "$neutron_netns" ] && [ -d /run/netns ]; then
    for _d in /run/netns/*; do
        case ${_d##*/} in qdhcp-* | qrouter-* | snat-* | fip-* | ovnmeta-*) ;; *) continue ;; esac
        ok_name "${_d##*/}" && netns="$netns ${_d##*/}"
    done
fi
for _s in $netns; do
    sect "ip-link:$_s" host ip -n "$_s" -j -d link show
    sect "ip-addr:$_s" host ip -n "$_s" -j addr show
done

# One ovs-vsctl call: four tables from one consistent database snapshot, one JSON document each.
if [ "$ovs_at" = none ]; then
    fake ovs-vsctl 127 "ovs-vsctl: not found on the host nor in an openvswitch container"
else
    sect ovs-vsctl "$ovs_at" ovs-vsctl --timeout="$tmo_s" --format=json --data=json \
        -- --columns=ovs_version,external_ids list Open_vSwitch \
        -- --columns=name,datapath_type,fail_mode,ports,external_ids,protocols list Bridge \
        -- --columns=_uuid,name,tag,trunks,vlan_mode,interfaces,other_config,external_ids \
        list Port \
        -- --columns=_uuid,name,type,ofport,mac_in_use,mtu,admin_state,link_state,options,external_ids,error \
        list Interface
fi

# Neutron may restrict a bridge to OpenFlow13+: retry with -O OpenFlow13 when the default
# (OpenFlow10) is refused.
for _f in $flows; do
    _b=${_f%:*} _t=${_f##*:}
    if [ "$ovs_at" = none ]; then
        fake "flows:$_b:$_t" 127 "ovs-ofctl: not found on the host nor in an openvswitch container"
        continue
    fi
    sect "flows:$_b:$_t" "$ovs_at" ovs-ofctl --names dump-flows "$_b" "table=$_t"
    case $_err in
        *"version negotiation failed"*)
            sect "flows:$_b:$_t" "$ovs_at" \
                ovs-ofctl -O OpenFlow13 --names dump-flows "$_b" "table=$_t" ;;
    esac
done

for _d in $domains; do
    if [ "$virt_at" = none ]; then
        fake "virsh-dumpxml:$_d" 127 "virsh: not found on the host nor in a libvirt container"
        continue
    fi
    # The URI explicitly: a non-root user's default is qemu:///session, which has no domains.
    sect "virsh-dumpxml:$_d" "$virt_at" virsh -r -c qemu:///system dumpxml --domain "$_d"
    sect "virsh-domstate:$_d" "$virt_at" virsh -r -c qemu:///system domstate --domain "$_d"
done
mark done
