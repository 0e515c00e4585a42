#!/bin/bash
# Bring up a real, small OpenStack on this machine for the end-to-end tier.
#
#   root namespace, 127.0.0.1 only:  MariaDB (UNIX socket only), RabbitMQ,
#     Keystone, Glance, Placement, Nova API (uwsgi), nova-conductor,
#     nova-scheduler, Neutron API (uwsgi) + neutron-rpc-server +
#     neutron-periodic-workers (ML2: flat, vlan, vxlan; openvswitch mech driver)
#   one network+mount+UTS namespace per compute host (npstack-computeN), each
#     with its own ovsdb-server/ovs-vswitchd (userspace datapath: br-int,
#     br-ex, br-tun by their real names), neutron-openvswitch-agent, libvirtd
#     (QEMU TCG), nova-compute (libvirt driver) and sshd on its management
#     address, reached over a veth from the root namespace.
#   a network node (npstack-network1): the same host namespace without a hypervisor, running
#     neutron-l3-agent and neutron-dhcp-agent beside its OVS agent (qrouter-/qdhcp- namespaces
#     under the host's own /run/netns; dnsmasq from Debian); provider-flat is the external
#     network, tenant-vx is routed to it by router1 (vm1 has a floating IP).
#   NPSTACK_L3=dvr: router1 distributed: an L3 agent (agent_mode dvr) on every compute, the
#     network node in dvr_snat; l2population on every agent.
#   NPSTACK_BACKEND=ovn: Neutron ML2/OVN instead (ovn mech driver; flat, vlan, geneve):
#     OVN central (NB/SB ovsdb-servers + ovn-northd on UNIX sockets) in the root
#     namespace, neutron-ovn-maintenance-worker; per host ovn-controller (br-int,
#     Geneve from ovn-encap-ip on br-phy), neutron-ovn-metadata-agent (haproxy in
#     ovnmeta- namespaces under the host's own /run/netns); no OVS agent.
#
# Usage: tests/stack/up.sh            (tear down: tests/stack/down.sh)
# Env:   NPSTACK_DIR (/var/tmp/npstack)  NPSTACK_SKIP_APT=1  NPSTACK_BOOT=0  NPSTACK_BACKEND (ovs)
#        NPSTACK_NET (172.30.77)  NPSTACK_HOSTS  NPSTACK_PW   (see lib.sh)
# Output: $NPSTACK_DIR/clouds.yaml (stack-admin, stack-member),
#         $NPSTACK_DIR/stack.json (hosts, namespaces, servers), logs in $NPSTACK_DIR/logs.
set -euo pipefail
NPSTACK_T0=$(date +%s.%N)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, OVS, libvirt)"
# background helpers (host setup, db syncs, waits): on failure stop them before
# exiting, so that nothing gets started after up.sh returns (down.sh runs next)
HELPERS=()
helper() { HELPERS+=("$!"); }
stop_helpers() {
    local rc=$?
    if [ $rc -ne 0 ] && [ ${#HELPERS[@]} -gt 0 ]; then
        kill "${HELPERS[@]}" 2>/dev/null
        wait "${HELPERS[@]}" 2>/dev/null
    fi
    return $rc
}
trap stop_helpers EXIT
if [ -f "$D/stack.json" ] || ls "$R"/*.pid >/dev/null 2>&1; then
    die "a stack seems to be up in $D (run tests/stack/down.sh first)"
fi
mkdir -p "$D" "$E" "$L" "$R" "$D/data" "$D/locks" "$D/fwd" "$D/hosts" "$D/ssh"
rm -f "$L"/*.log "$L"/*.out "$D/timings.env" "$D/servers.json"
: >"$L/up-timing.log"

# --------------------------------------------------------------- 1. packages
APT_PKGS="openvswitch-switch mariadb-server rabbitmq-server conntrack ipset iptables iproute2
 openssh-server openssh-client qemu-system-x86 qemu-utils libvirt-daemon-system
 libvirt-dev pkg-config gcc libc6-dev curl util-linux"
[ "$NPSTACK_BACKEND" = ovn ] && APT_PKGS="$APT_PKGS ovn-central ovn-host haproxy"
# the DHCP agent's dnsmasq (dnsmasq-utils: dhcp_release)
[ "$NPSTACK_BACKEND" = ovs ] && APT_PKGS="$APT_PKGS dnsmasq-base dnsmasq-utils"
t=$(now)
if [ "${NPSTACK_SKIP_APT:-0}" != 1 ]; then
    # a package is missing unless dpkg knows it as installed ("ii"); names only, never globbed
    read -ra pkgs <<<"$(echo "$APT_PKGS" | xargs)"
    read -ra missing <<<"$(for p in "${pkgs[@]}"; do
        [ "$(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || echo "$p"
    done | xargs)"
    if [ ${#missing[@]} -gt 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        { apt-get -o DPkg::Lock::Timeout=600 update &&
          apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"; } \
            >"$L/apt.log" 2>&1 || { show_log "$L/apt.log"; die "apt-get install failed: ${missing[*]}"; }
        stamp "apt packages installed: ${missing[*]}"
    else
        stamp "apt packages already installed"
    fi
fi
timing install_apt "$(since "$t")"

# --------------------------------------------------------------- 2. venv
t=$(now)
# bytecode is compiled at install time: this machine sets PYTHONDONTWRITEBYTECODE=1,
# and without .pyc files every service start recompiles nova/neutron (~3x slower)
LOCK_HASH=$({ cat "$NPSTACK_SRC/requirements.txt"; echo compile-bytecode; } | sha256sum | cut -d' ' -f1)
if [ "$(cat "$D/venv/.npstack-lock" 2>/dev/null)" != "$LOCK_HASH" ]; then
    # uv as a module of the base interpreter: a fresh `pip install uv` may land in a bin dir
    # that is not on PATH (pyenv shims, ~/.local/bin)
    "$NPSTACK_PYTHON" -m uv --version >/dev/null 2>&1 ||
        "$NPSTACK_PYTHON" -m pip install -q uv >"$L/pip.log" 2>&1 ||
        { show_log "$L/pip.log"; die "pip install uv failed"; }
    uv() { "$NPSTACK_PYTHON" -m uv "$@"; }
    rm -rf "$D/venv"
    export UV_PYTHON_DOWNLOADS=never
    uv venv -q --python "$NPSTACK_PYTHON" "$D/venv"
    uv pip install --compile-bytecode --python "$V/python" -r "$NPSTACK_SRC/requirements.txt" >"$L/pip.log" 2>&1 ||
        { show_log "$L/pip.log"; die "uv pip install failed"; }
    echo "$LOCK_HASH" >"$D/venv/.npstack-lock"
    stamp "python venv installed ($D/venv)"
else
    stamp "python venv up to date"
fi
timing install_venv "$(since "$t")"
T_START=$(now)

# --------------------------------------------------------------- 3. preflight
for port in "${NPSTACK_RELAY_PORTS[@]}"; do
    tcp_open 127.0.0.1 "$port" && die "127.0.0.1:$port is already in use; is another stack up?"
done
for h in $(host_names); do
    ip netns list | grep -qw "$(host_ns "$h")" && die "namespace $(host_ns "$h") exists; run down.sh"
done
PYFWD=$NPSTACK_PYTHON

# --------------------------------------------------------------- 4. MariaDB, RabbitMQ
rm -rf "$D/mysql" "$D/rabbit"
mkdir -p "$D/mysql" "$D/rabbit/home" "$D/rabbit/mnesia" "$L/rabbit" "$E/rabbitmq"
(
    mariadb-install-db --no-defaults --datadir="$D/mysql" --user=root \
        --auth-root-authentication-method=socket --skip-test-db >"$L/mysql-install.log" 2>&1 ||
        { show_log "$L/mysql-install.log"; exit 1; }
    svc mysqld /usr/sbin/mariadbd --no-defaults --datadir="$D/mysql" --socket="$R/mysql.sock" \
        --pid-file="$D/mysql/mariadbd.pid" --skip-networking --user=root --skip-log-bin \
        --skip-name-resolve --max-connections=1000 --performance-schema=off \
        --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --log-error="$L/mysqld.log"
    wait_for "mariadb" 60 "$L/mysqld.log" "$L/mysqld.out" -- \
        mariadb-admin --no-defaults -S "$R/mysql.sock" ping
) &
P_MYSQL=$!; helper

cat >"$E/rabbitmq/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$NPSTACK_AMQP_PORT
loopback_users = none
default_user = stack
default_pass = $NPSTACK_PW
log.file.level = warning
EOF
echo '[].' >"$E/rabbitmq/enabled_plugins"
: >"$E/rabbitmq/rabbitmq-env.conf"
export ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=14369
svc epmd epmd -address 127.0.0.1 -port 14369
sleep 0.3
svc rabbitmq env HOME="$D/rabbit/home" RABBITMQ_NODENAME=npstack@localhost \
    RABBITMQ_CONFIG_FILE="$E/rabbitmq/rabbitmq.conf" RABBITMQ_CONF_ENV_FILE="$E/rabbitmq/rabbitmq-env.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$E/rabbitmq/enabled_plugins" RABBITMQ_MNESIA_BASE="$D/rabbit/mnesia" \
    RABBITMQ_LOG_BASE="$L/rabbit" RABBITMQ_DIST_PORT=35672 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
(wait_for "rabbitmq" 120 "$L/rabbitmq.out" "$L/rabbit/npstack@localhost.log" -- \
    tcp_open 127.0.0.1 "$NPSTACK_AMQP_PORT") &
P_RABBIT=$!; helper

if [ "$NPSTACK_BACKEND" = ovn ]; then
    # OVN central on UNIX sockets under $OVN_DIR; explicit pid/ctl paths, never the root
    # namespace's /run/openvswitch or /run/ovn (another OVN may use them)
    rm -rf "$OVN_DIR" && mkdir -p "$OVN_DIR"
    for db in nb sb; do
        ovsdb-tool create "$OVN_DIR/ovn${db}_db.db" "/usr/share/ovn/ovn-$db.ovsschema"
        svc "ovn-$db" ovsdb-server "$OVN_DIR/ovn${db}_db.db" --remote="punix:$OVN_DIR/ovn${db}_db.sock" \
            --unixctl="$OVN_DIR/ovn${db}_db.ctl" --no-chdir --log-file="$L/ovn-$db.log"
    done
    svc ovn-northd env OVN_RUNDIR="$OVN_DIR" ovn-northd --ovnnb-db="$OVN_NB" --ovnsb-db="$OVN_SB" \
        --no-chdir --log-file="$L/ovn-northd.log"
    (wait_for "ovn central" 60 "$L/ovn-nb.log" "$L/ovn-sb.log" "$L/ovn-northd.log" -- \
        ovn-sbctl --db="$OVN_SB" --timeout=2 --no-leader-only show) &
    P_OVN=$!; helper
fi

# --------------------------------------------------------------- 5. compute host namespaces
# ssh: one client key for the tests, one host key per host, a known_hosts file
[ -f "$D/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C npstack-client -f "$D/ssh/id_ed25519"
cp "$D/ssh/id_ed25519.pub" "$D/ssh/authorized_keys"
: >"$D/ssh/known_hosts"
mkdir -p /run/sshd /run/openvswitch /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt

ip link add npstack-mgmt type bridge 2>/dev/null || true
ip addr replace "$NPSTACK_NET.1/24" dev npstack-mgmt
ip link set npstack-mgmt up
ip link add npstack-prov type bridge 2>/dev/null || true   # the provider wire (physnet1), no address
ip link set npstack-prov up
if [ "$NPSTACK_BACKEND" = ovn ]; then
    ip link add npstack-tun type bridge 2>/dev/null || true   # the Geneve underlay, no address
    ip link set npstack-tun up
    mkdir -p /run/ovn
fi
mkdir -p /run/netns

host_up() { # NAME FIREWALL VIRT
    local h=$1 fw=$2 virt=$3
    local ns; ns=$(host_ns "$h")
    local H; H=$(host_dir "$h")
    local i; i=$(host_index "$h")
    local addr; addr=$(host_addr "$h")
    mkdir -p "$H"/{run,ovs,ovn,netns,etc,ssh,locks,nova/instances} "$H"/libvirt/{run,lib,log,cache} "$L/$h"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # eth0: management (sshd, VXLAN local_ip, my_ip); eth1: the provider NIC in br-ex
    ip link add "npstack-c${i}m" type veth peer name eth0 netns "$ns"
    ip link add "npstack-c${i}p" type veth peer name eth1 netns "$ns"
    ip link set "npstack-c${i}m" master npstack-mgmt up
    ip link set "npstack-c${i}p" master npstack-prov up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set eth1 up
    # the host's own /run/netns (else the second host's ovnmeta-<net>, qdhcp- or qrouter-
    # collides with the first's, and every host would list the others' namespaces)
    local own="mount --bind $H/netns /run/netns; "
    # OVN: eth2, the Geneve underlay, goes into br-phy
    if [ "$NPSTACK_BACKEND" = ovn ]; then
        ip link add "npstack-c${i}t" type veth peer name eth2 netns "$ns"
        ip link set "npstack-c${i}t" master npstack-tun up
        ip -n "$ns" link set eth2 up
        # and /run/ovn (ovn-appctl -t ovn-controller finds its socket as on a real host)
        own="$own""mount --bind $H/ovn /run/ovn; "
    fi

    # the host's "init": a process that holds its private mount and UTS namespaces
    printf '127.0.0.1 localhost\n%s %s\n' "$addr" "$h" >"$H/etc/hosts"
    (exec setsid ip netns exec "$ns" unshare -m -u --propagation private \
        sh -c "hostname $h; mount --bind $H/ovs /run/openvswitch; $own""mount --bind $H/etc/hosts /etc/hosts; exec sleep infinity" \
        </dev/null >"$L/$h/anchor.out" 2>&1) &
    echo $! >"$H/anchor.pid"
    local n=0
    until [ "$(cat "/proc/$(cat "$H/anchor.pid")/comm" 2>/dev/null)" = sleep ]; do
        n=$((n + 1)); [ $n -lt 100 ] || { show_log "$L/$h/anchor.out"; die "$h: namespace anchor did not start"; }
        sleep 0.05
    done

    # Open vSwitch, userspace datapath
    hx "$h" ovsdb-tool create "$H/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    hsvc "$h" ovsdb-server ovsdb-server "$H/ovs/conf.db" --remote=punix:/run/openvswitch/db.sock \
        --pidfile --no-chdir --log-file="$L/$h/ovsdb-server.log"
    n=0; until hx "$h" ovs-vsctl --timeout=1 --no-wait show >/dev/null 2>&1; do
        n=$((n + 1)); [ $n -lt 100 ] || { show_log "$L/$h/ovsdb-server.log"; die "$h: ovsdb-server"; }
        sleep 0.1
    done
    hx "$h" ovs-vsctl --no-wait -- init -- set Open_vSwitch . \
        external_ids:system-id="$h" external_ids:hostname="$h"
    if [ "$NPSTACK_BACKEND" = ovn ]; then
        # what an OVN compute has before ovn-controller starts: the Neutron driver binds only
        # to the chassis whose hostname is the Nova host; netdev br-int (else vif_details lie)
        # the first host is also the gateway chassis (routers' cr-lrp ports are scheduled there)
        gw=()
        [ "$(host_index "$h")" = 1 ] && gw=(external_ids:ovn-cms-options=enable-chassis-as-gw)
        hx "$h" ovs-vsctl --no-wait set Open_vSwitch . external_ids:ovn-remote="$OVN_SB" \
            external_ids:ovn-encap-type=geneve external_ids:ovn-encap-ip="$(host_encap "$h")" \
            external_ids:ovn-bridge-mappings=physnet1:br-ex external_ids:ovn-bridge-datapath-type=netdev \
            "${gw[@]}"
    fi
    hsvc "$h" ovs-vswitchd ovs-vswitchd unix:/run/openvswitch/db.sock --pidfile --no-chdir \
        --log-file="$L/$h/ovs-vswitchd.log"
    hx "$h" ovs-vsctl --timeout=30 -- --may-exist add-br br-ex \
        -- set Bridge br-ex datapath_type=netdev -- --may-exist add-port br-ex eth1 ||
        { show_log "$L/$h/ovs-vswitchd.log"; die "$h: ovs-vswitchd"; }
    if [ "$NPSTACK_BACKEND" = ovn ]; then
        hx "$h" ovs-vsctl --timeout=30 -- --may-exist add-br br-phy -- set Bridge br-phy datapath_type=netdev \
            -- --may-exist add-port br-phy eth2 || { show_log "$L/$h/ovs-vswitchd.log"; die "$h: br-phy"; }
        hx "$h" ip addr add "$(host_encap "$h")/24" dev br-phy
        hx "$h" ip link set br-phy up
        # ovn-controller makes br-int itself; OVN_RUNDIR: 23.03 has no --unixctl
        # the pid file as a packaged host has it: ovn-appctl finds the control socket by it
        hsvc "$h" ovn-controller env OVN_RUNDIR=/run/ovn ovn-controller unix:/run/openvswitch/db.sock \
            --pidfile=/run/ovn/ovn-controller.pid --no-chdir --log-file="$L/$h/ovn-controller.log"
    fi

    # sshd on the management address
    ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$H/ssh/ssh_host_ed25519_key"
    echo "$addr,$h $(cut -d' ' -f1,2 "$H/ssh/ssh_host_ed25519_key.pub")" >>"$D/ssh/known_hosts"
    cat >"$H/etc/sshd_config" <<EOF
ListenAddress $addr
Port 22
HostKey $H/ssh/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $D/ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
UseDNS no
MaxStartups 50:30:100
Subsystem sftp internal-sftp
EOF
    hsvc "$h" sshd /usr/sbin/sshd -D -e -f "$H/etc/sshd_config"

    # the control plane's loopback ports, relayed into this host
    hsvc "$h" fwd "$PYFWD" "$NPSTACK_SRC/fwd.py" relay "$D/fwd" "${NPSTACK_RELAY_PORTS[@]}"

    # libvirtd with this host's own /etc/libvirt, /run/libvirt, /var/lib/libvirt
    if [ "$virt" = libvirt ]; then
        cp -a /etc/libvirt "$H/libvirt/etc"
        rm -f "$H"/libvirt/etc/qemu/networks/autostart/*.xml "$H"/libvirt/etc/qemu/networks/*.xml
        cat >>"$H/libvirt/etc/qemu.conf" <<'EOF'
# npstack: QEMU runs as root (no udev here: /dev/kvm permissions would make
# libvirt re-probe capabilities on every start), no cgroups, no extra namespaces
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
stdio_handler = "file"
namespaces = [ ]
cgroup_controllers = [ ]
EOF
        cat >>"$H/libvirt/etc/libvirtd.conf" <<EOF
log_outputs = "3:file:$L/$h/libvirtd.log"
EOF
        local m
        for m in run:/run/libvirt lib:/var/lib/libvirt log:/var/log/libvirt cache:/var/cache/libvirt etc:/etc/libvirt; do
            hx "$h" mount --bind "$H/libvirt/${m%%:*}" "${m#*:}"
        done
        hsvc "$h" libvirtd libvirtd -p "$H/run/libvirtd.pid.file"
    fi
    echo "$h: namespace $ns, $addr, firewall $fw, $virt"
}

T_HOSTS=$(now)
rm -rf "$D/hosts" && mkdir -p "$D/hosts"
HOST_PIDS=()
for spec in $NPSTACK_HOSTS; do
    host_up "$(host_field "$spec" 1)" "$(host_field "$spec" 2)" "$(host_field "$spec" 3)" \
        >"$L/host-$(host_field "$spec" 1).log" 2>&1 &
    HOST_PIDS+=($!); helper
done

# --------------------------------------------------------------- 6. configs
DB="mysql+pymysql://stack:$NPSTACK_PW@localhost"
DBQ="?unix_socket=$R/mysql.sock&charset=utf8mb4"
MQ="rabbit://stack:$NPSTACK_PW@127.0.0.1:$NPSTACK_AMQP_PORT/"
authtoken() { ksauth keystone_authtoken "$1"; cat <<'EOF'
www_authenticate_uri = http://127.0.0.1:5000/v3
service_token_roles_required = true
EOF
}
ksauth() { cat <<EOF
[$1]
region_name = RegionOne
auth_url = http://127.0.0.1:5000/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $NPSTACK_PW
EOF
}
uwsgi_ini() { # NAME PORT MODULE ENV...
    local n=$1 port=$2 module=$3; shift 3
    {
        cat <<EOF
[uwsgi]
http-socket = 127.0.0.1:$port
module = $module
virtualenv = $D/venv
master = true
processes = 1
threads = 4
enable-threads = true
lazy-apps = true
die-on-term = true
buffer-size = 65535
add-header = Connection: close
http-chunked-input = true
http-raw-body = true
thunder-lock = true
env = PYTHONWARNINGS=ignore
env = OS_NOVA_DISABLE_EVENTLET_PATCHING=true
EOF
        local e; for e in "$@"; do echo "env = $e"; done
    } >"$E/$n-uwsgi.ini"
}

mkdir -p "$E"/keystone/{fernet-keys,credential-keys} "$E/placement" "$E/glance" "$E/nova" \
    "$E/neutron/plugins/ml2" "$D"/data/glance/{images,staging,tasks} "$D/data/nova" "$D/data/neutron"
cat >"$E/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $L/keystone.log
[database]
connection = $DB/keystone$DBQ
[identity]
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = $E/keystone/fernet-keys
[fernet_receipts]
key_repository = $E/keystone/fernet-keys
[credential]
key_repository = $E/keystone/credential-keys
EOF
{ printf '[DEFAULT]\nlog_file = %s\n[placement_database]\nconnection = %s\n[api]\nauth_strategy = keystone\n' \
    "$L/placement.log" "$DB/placement$DBQ"; authtoken placement; } >"$E/placement/placement.conf"
cp "$D/venv/etc/glance/glance-api-paste.ini" "$E/glance/"
{ cat <<EOF
[DEFAULT]
log_file = $L/glance-api.log
enabled_backends = fs:file
[database]
connection = $DB/glance$DBQ
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $D/data/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $D/data/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $D/data/glance/tasks
[paste_deploy]
flavor = keystone
config_file = $E/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $D/locks
EOF
authtoken glance; } >"$E/glance/glance-api.conf"
cp "$D/venv/etc/nova/api-paste.ini" "$E/nova/"
{ cat <<EOF
[DEFAULT]
transport_url = $MQ
my_ip = 127.0.0.1
state_path = $D/data/nova
# a port that never goes ACTIVE fails the boot (what a real cloud does)
vif_plugging_is_fatal = true
vif_plugging_timeout = 120
[api]
auth_strategy = keystone
[api_database]
connection = $DB/nova_api$DBQ
[database]
connection = $DB/nova$DBQ
[wsgi]
api_paste_config = $E/nova/api-paste.ini
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
# isolated aggregates (trait:X=required metadata) and projects limited to their Placement
# aggregates (filter_tenant_id*=<one project ID>), for the zone-map tests
enable_isolated_aggregate_filtering = true
limit_tenants_to_placement_aggregate = true
[filter_scheduler]
# Nova's defaults plus the aggregate filters that openstack aggregate zone-map models
enabled_filters = ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,AggregateInstanceExtraSpecsFilter,AggregateMultiTenancyIsolation
[glance]
region_name = RegionOne
[oslo_concurrency]
lock_path = $D/locks
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[spice]
enabled = false
[serial_console]
enabled = false
[service_user]
send_service_user_token = true
auth_url = http://127.0.0.1:5000/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = $NPSTACK_PW
EOF
authtoken nova; ksauth placement placement; ksauth neutron neutron; } >"$E/nova/nova.conf"
printf '[DEFAULT]\nlog_file = %s\n' "$L/nova-api.log" >"$E/nova/nova-api.conf"
cp "$D/venv/etc/neutron/api-paste.ini" "$E/neutron/"
SERVICE_PLUGINS=router DHCP_NOTIFY=true DVR=false L2POP=false
[ "$NPSTACK_L3" = dvr ] && DVR=true L2POP=true
[ "$NPSTACK_BACKEND" = ovn ] && SERVICE_PLUGINS=ovn-router,segments DHCP_NOTIFY=false
# ML2/OVS: an agent that stops reporting is "not alive" within half a minute (the audit test
# freezes one), not after the default 75 s; its agents report every 4 s to match. ML2/OVN
# keeps the default: its chassis answer nb_cfg bumps, not reports.
AGENT_DOWN_TIME=24
[ "$NPSTACK_BACKEND" = ovn ] && AGENT_DOWN_TIME=75
{ cat <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = $SERVICE_PLUGINS
transport_url = $MQ
auth_strategy = keystone
state_path = $D/data/neutron
api_paste_config = $E/neutron/api-paste.ini
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
dhcp_agent_notification = $DHCP_NOTIFY
router_distributed = $DVR
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 1
agent_down_time = $AGENT_DOWN_TIME
[database]
connection = $DB/neutron$DBQ
[oslo_concurrency]
lock_path = $D/locks
[agent]
root_helper = env
report_interval = 4
EOF
authtoken neutron; ksauth nova nova; } >"$E/neutron/neutron.conf"
# the ML2 driver and its tunnel type; provider networks the same on both backends
if [ "$NPSTACK_BACKEND" = ovn ]; then
    ML2_TYPE=geneve ML2_MECH=ovn ML2_MORE="overlay_ip_version = 4"
else
    ML2_TYPE=vxlan ML2_MECH=openvswitch ML2_MORE=""
    # DVR: the DVR OVS agent exits without l2population (and tunnels then follow the ports)
    [ "$NPSTACK_L3" = dvr ] && ML2_MECH=openvswitch,l2population
fi
{ cat <<EOF
[ml2]
type_drivers = flat,vlan,$ML2_TYPE
tenant_network_types = $ML2_TYPE
mechanism_drivers = $ML2_MECH
extension_drivers = port_security
$ML2_MORE
[ml2_type_flat]
flat_networks = physnet1
[ml2_type_vlan]
network_vlan_ranges = physnet1:100:199
[ml2_type_$ML2_TYPE]
vni_ranges = 1000:1999
EOF
  if [ "$NPSTACK_BACKEND" = ovn ]; then cat <<EOF
max_header_size = 38
[ovn]
ovn_nb_connection = $OVN_NB
ovn_sb_connection = $OVN_SB
ovn_metadata_enabled = true
EOF
  fi
} >"$E/neutron/plugins/ml2/ml2_conf.ini"

host_configs() { # NAME FIREWALL VIRT
    local h=$1 fw=$2 virt=$3 H; H=$(host_dir "$h")
    local addr; addr=$(host_addr "$h")
    mkdir -p "$H/etc"
    cat >"$H/etc/ovn_metadata_agent.ini" <<EOF
[DEFAULT]
state_path = $H/neutron
metadata_proxy_shared_secret = $NPSTACK_PW
nova_metadata_host = 127.0.0.1
metadata_workers = 1
[oslo_concurrency]
lock_path = $H/locks
[agent]
root_helper = env
[ovs]
ovsdb_connection = unix:/run/openvswitch/db.sock
[ovn]
ovn_sb_connection = $OVN_SB
EOF
    cat >"$H/etc/openvswitch_agent.ini" <<EOF
[DEFAULT]
host = $h
state_path = $H/neutron
[oslo_concurrency]
lock_path = $H/locks
[ovs]
integration_bridge = br-int
tunnel_bridge = br-tun
bridge_mappings = physnet1:br-ex
datapath_type = netdev
local_ip = $addr
ovsdb_connection = unix:/run/openvswitch/db.sock
of_listen_address = 127.0.0.1
[agent]
root_helper = env
tunnel_types = vxlan
l2_population = $L2POP
enable_distributed_routing = $DVR
[securitygroup]
firewall_driver = $fw
enable_security_group = true
EOF
    local ph="$V/privsep-helper --config-file $E/nova/nova.conf --config-file $H/etc/nova-compute.conf"
    cat >"$H/etc/nova-compute.conf" <<EOF
[DEFAULT]
host = $h
my_ip = $addr
state_path = $H/nova
instances_path = $H/nova/instances
compute_driver = libvirt.LibvirtDriver
[oslo_concurrency]
lock_path = $H/locks
[libvirt]
virt_type = qemu
cpu_mode = none
connection_uri = qemu:///system
[os_vif_ovs]
ovsdb_connection = unix:/run/openvswitch/db.sock
[nova_sys_admin]
helper_command = $ph
[vif_plug_ovs_privileged]
helper_command = $ph
[vif_plug_linux_bridge_privileged]
helper_command = $ph
[privsep_osbrick]
helper_command = $ph
EOF
    case "$virt" in libvirt|none) ;; *) die "$h: virt driver must be libvirt or none" ;; esac
    # the network node's agents: ports as OVS internal ports on br-int moved into their
    # namespaces (interface_driver openvswitch), OVSDB on the host's own socket (else they dial
    # tcp:127.0.0.1:6640); no metadata proxy (this stack runs no Nova metadata API)
    local a extra mode=legacy
    if [ "$NPSTACK_L3" = dvr ]; then mode=dvr; [ "$virt" = none ] && mode=dvr_snat; fi
    for a in l3 dhcp; do
        extra="agent_mode = $mode
enable_metadata_proxy = false"
        [ $a = dhcp ] && extra="dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
enable_isolated_metadata = false"
        cat >"$H/etc/${a}_agent.ini" <<EOF
[DEFAULT]
host = $h
state_path = $H/neutron
interface_driver = openvswitch
$extra
[oslo_concurrency]
lock_path = $H/locks
[agent]
root_helper = env
[ovs]
integration_bridge = br-int
ovsdb_connection = unix:/run/openvswitch/db.sock
EOF
    done
}
for spec in $NPSTACK_HOSTS; do
    host_configs "$(host_field "$spec" 1)" "$(host_field "$spec" 2)" "$(host_field "$spec" 3)"
done
stamp "configs written"

# --------------------------------------------------------------- 7. databases
wait $P_MYSQL || die "mariadb did not start"
{
    echo "CREATE USER 'stack'@'localhost' IDENTIFIED BY '$NPSTACK_PW';"
    echo "GRANT ALL ON *.* TO 'stack'@'localhost';"
    for db in keystone placement glance nova_api nova_cell0 nova neutron; do
        echo "CREATE DATABASE $db CHARACTER SET utf8mb4;"
    done
} | mariadb --no-defaults -S "$R/mysql.sock" -u root
KC=(--config-file "$E/keystone/keystone.conf")
NM=("$V/nova-manage" --config-file "$E/nova/nova.conf")
(
    "$V/keystone-manage" "${KC[@]}" db_sync &&
    "$V/keystone-manage" "${KC[@]}" fernet_setup --keystone-user root --keystone-group root &&
    "$V/keystone-manage" "${KC[@]}" credential_setup --keystone-user root --keystone-group root &&
    "$V/keystone-manage" "${KC[@]}" bootstrap --bootstrap-password "$NPSTACK_PW" --bootstrap-region-id RegionOne \
        --bootstrap-admin-url http://127.0.0.1:5000/v3 --bootstrap-internal-url http://127.0.0.1:5000/v3 \
        --bootstrap-public-url http://127.0.0.1:5000/v3
) >"$L/db-keystone.log" 2>&1 &
P_KS=$!; helper
"$V/placement-manage" --config-file "$E/placement/placement.conf" db sync >"$L/db-placement.log" 2>&1 &
P_PL=$!; helper
"$V/glance-manage" --config-file "$E/glance/glance-api.conf" db_sync >"$L/db-glance.log" 2>&1 &
P_GL=$!; helper
( "${NM[@]}" api_db sync && "${NM[@]}" cell_v2 map_cell0 --database_connection "$DB/nova_cell0$DBQ" &&
  "${NM[@]}" cell_v2 create_cell --name cell1 && "${NM[@]}" db sync ) >"$L/db-nova.log" 2>&1 &
P_NV=$!; helper
"$V/neutron-db-manage" --config-file "$E/neutron/neutron.conf" \
    --config-file "$E/neutron/plugins/ml2/ml2_conf.ini" upgrade heads >"$L/db-neutron.log" 2>&1 &
P_NE=$!; helper

wait $P_KS || { show_log "$L/db-keystone.log"; die "keystone db sync/bootstrap failed"; }
stamp "keystone db synced + bootstrapped"
uwsgi_ini keystone 5000 keystone.wsgi.api:application "OS_KEYSTONE_CONFIG_DIR=$E/keystone"
svc keystone "$V/uwsgi" --ini "$E/keystone-uwsgi.ini"
wait_for keystone 120 "$L/keystone.out" "$L/keystone.log" -- http_ok http://127.0.0.1:5000/v3
export NPSTACK_DIR NPSTACK_PW NPSTACK_HOSTS NPSTACK_BACKEND NPSTACK_L3
"$V/python" "$NPSTACK_SRC/provision.py" catalog >"$L/provision-catalog.log" 2>&1 ||
    { show_log "$L/provision-catalog.log" "$L/keystone.log"; die "keystone catalog failed"; }
stamp "keystone catalog"

for p in "placement:$P_PL" "glance:$P_GL" "nova:$P_NV" "neutron:$P_NE"; do
    wait "${p#*:}" || { show_log "$L/db-${p%%:*}.log"; die "${p%%:*} db sync failed"; }
done
stamp "all schemas synced"

# --------------------------------------------------------------- 8. control plane services
uwsgi_ini placement 8778 placement.wsgi.api:application "OS_PLACEMENT_CONFIG_DIR=$E/placement"
uwsgi_ini glance 9292 glance.wsgi.api:application "OS_GLANCE_CONFIG_DIR=$E/glance"
uwsgi_ini nova-api 8774 nova.wsgi.osapi_compute:application "OS_NOVA_CONFIG_DIR=$E/nova" \
    "OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf;nova-api.conf"
uwsgi_ini neutron-api 9696 neutron.wsgi.api:application "OS_NEUTRON_CONFIG_DIR=$E/neutron"
for s in placement glance nova-api neutron-api; do svc "$s" "$V/uwsgi" --ini "$E/$s-uwsgi.ini"; done
NC=(--config-file "$E/neutron/neutron.conf" --config-file "$E/neutron/plugins/ml2/ml2_conf.ini")
wait $P_RABBIT || die "rabbitmq did not start"
svc neutron-rpc "$V/neutron-rpc-server" "${NC[@]}" --log-file "$L/neutron-rpc.log"
svc neutron-periodic "$V/neutron-periodic-workers" "${NC[@]}" --log-file "$L/neutron-periodic.log"
if [ "$NPSTACK_BACKEND" = ovn ]; then
    # the OVN driver's maintenance (and hash ring) tasks: the uwsgi API does not spawn it
    svc neutron-ovn-maint "$V/neutron-ovn-maintenance-worker" "${NC[@]}" --log-file "$L/neutron-ovn-maint.log"
fi
svc nova-conductor "$V/nova-conductor" --config-file "$E/nova/nova.conf" --log-file "$L/nova-conductor.log"
svc nova-scheduler "$V/nova-scheduler" --config-file "$E/nova/nova.conf" --log-file "$L/nova-scheduler.log"
svc fwd "$PYFWD" "$NPSTACK_SRC/fwd.py" serve "$D/fwd" "${NPSTACK_RELAY_PORTS[@]}"

# --------------------------------------------------------------- 9. compute hosts' services
read -ra SPECS <<<"$NPSTACK_HOSTS"
for i in "${!HOST_PIDS[@]}"; do
    spec=${SPECS[$i]}
    wait "${HOST_PIDS[$i]}" || { show_log "$L/host-$(host_field "$spec" 1).log"; die "host $(host_field "$spec" 1) setup failed"; }
done
stamp "host namespaces up (OVS, sshd, libvirtd): $(host_names | xargs) in $(since "$T_HOSTS" | cut -d. -f1)s"
# the agents need only RabbitMQ (and the rpc server, started above); nova-compute
# needs Placement up when it starts, or its resource provider waits for the next
# periodic run (60 s)
[ "$NPSTACK_BACKEND" = ovn ] && { wait "$P_OVN" || die "ovn central did not start"; }
for h in $(host_names); do
    if [ "$NPSTACK_BACKEND" = ovn ]; then
        # after ovn-controller registered the chassis: the agent gives up on a missing
        # Chassis_Private and never retries
        wait_for "$h chassis" 60 "$L/$h/ovn-controller.log" -- \
            sh -c "ovn-sbctl --db=$OVN_SB --timeout=2 --no-leader-only --bare --columns=name find Chassis_Private name=$h | grep -q ."
        hsvc "$h" ovn-metadata "$V/neutron-ovn-metadata-agent" \
            --config-file "$(host_dir "$h")/etc/ovn_metadata_agent.ini" --log-file "$L/$h/ovn-metadata.log"
    else
        hsvc "$h" ovs-agent "$V/neutron-openvswitch-agent" --config-file "$E/neutron/neutron.conf" \
            --config-file "$(host_dir "$h")/etc/openvswitch_agent.ini" --log-file "$L/$h/ovs-agent.log"
    fi
done
# the network node's L3 and DHCP agents, once its OVS agent has made br-int (they plug into it)
for h in $(host_names); do
    host_has_agent "$h" l3 || host_has_agent "$h" dhcp || continue
    wait_for "$h br-int" 120 "$L/$h/ovs-agent.log" "$L/$h/ovs-agent.out" -- hx "$h" ovs-vsctl --timeout=2 br-exists br-int
    for a in l3 dhcp; do
        host_has_agent "$h" $a || continue
        hsvc "$h" $a-agent "$V/neutron-$a-agent" --config-file "$E/neutron/neutron.conf" \
            --config-file "$(host_dir "$h")/etc/${a}_agent.ini" --log-file "$L/$h/$a-agent.log"
    done
done
wait_for placement 120 "$L/placement.out" "$L/placement.log" -- http_ok http://127.0.0.1:8778/
for h in $(compute_names); do
    hsvc "$h" nova-compute "$V/nova-compute" --config-file "$E/nova/nova.conf" \
        --config-file "$(host_dir "$h")/etc/nova-compute.conf" --log-file "$L/$h/nova-compute.log"
done
wait_for neutron-api 120 "$L/neutron-api.out" -- http_ok http://127.0.0.1:9696/
wait_for glance 120 "$L/glance.out" "$L/glance-api.log" -- http_ok http://127.0.0.1:9292/
wait_for nova-api 120 "$L/nova-api.out" "$L/nova-api.log" -- http_ok http://127.0.0.1:8774/
# flavor, image, networks meanwhile
"$V/python" "$NPSTACK_SRC/provision.py" topology >"$L/provision-topology.log" 2>&1 &
P_TOPO=$!; helper
"$V/python" "$NPSTACK_SRC/provision.py" hosts >"$L/provision-hosts.log" 2>&1 || {
    show_log "$L/provision-hosts.log"
    for h in $(host_names); do show_log "$L/$h/ovs-agent.log" "$L/$h/ovs-agent.out" "$L/$h/l3-agent.log" "$L/$h/l3-agent.out" "$L/$h/dhcp-agent.log" "$L/$h/dhcp-agent.out" "$L/$h/ovn-controller.log" "$L/$h/ovn-metadata.log" "$L/$h/ovn-metadata.out" "$L/$h/nova-compute.log" "$L/$h/nova-compute.out"; done
    die "compute hosts did not come up"
}
stamp "hosts up, computes mapped: $(host_names | xargs)"

# --------------------------------------------------------------- 10. clouds.yaml, state
HOSTS_YAML=$(for h in $(host_names); do printf '        %s: %s\n' "$h" "$(host_addr "$h")"; done)
cloud_yaml() { # NAME USER PROJECT
    cat <<EOF
  $1:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: $2
      password: $NPSTACK_PW
      project_name: $3
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
    interface: public
    netpath:
      user: root
      port: 22
      identity_file: $D/ssh/id_ed25519
      known_hosts: $D/ssh/known_hosts
      connect_timeout: 10
      command_timeout: 30
      hosts:
$HOSTS_YAML
EOF
}
{ echo "clouds:"; cloud_yaml stack-admin admin admin; cloud_yaml stack-member demo demo; } >"$D/clouds.yaml"
cat >"$D/adminrc" <<EOF
export OS_CLIENT_CONFIG_FILE=$D/clouds.yaml OS_CLOUD=stack-admin PYTHONWARNINGS=ignore
EOF

# --------------------------------------------------------------- 11. topology, servers
wait $P_TOPO ||
    { show_log "$L/provision-topology.log" "$L/neutron-api.out" "$L/glance-api.log"; die "topology failed"; }
"$V/python" "$NPSTACK_SRC/provision.py" aggregates >>"$L/provision-topology.log" 2>&1 ||
    { show_log "$L/provision-topology.log" "$L/nova-api.log"; die "availability zones failed"; }
stamp "topology: flavor, image, networks, AZs"
if [ "${NPSTACK_BOOT:-1}" = 1 ]; then
    "$V/python" "$NPSTACK_SRC/provision.py" boot >"$L/provision-boot.log" 2>&1 || {
        show_log "$L/provision-boot.log" "$L/nova-conductor.log" "$L/nova-scheduler.log"
        for h in $(host_names); do show_log "$L/$h/nova-compute.log" "$L/$h/ovs-agent.log" "$L/$h/ovn-controller.log" "$L/$h/dhcp-agent.log" "$L/$h/l3-agent.log"; done
        die "servers did not boot"
    }
    stamp "servers ACTIVE with ACTIVE ports"
fi

export NPSTACK_NET
"$V/python" "$NPSTACK_SRC/provision.py" state >>"$L/provision-boot.log" 2>&1 || die "writing stack.json failed"
timing start "$(since "$T_START")"
stamp "STACK READY: $D/clouds.yaml (stack-admin, stack-member), $D/stack.json"
