"""Provision the stack through its real APIs (runs in the stack's own venv).

    provision.py catalog    projects, users, roles, services and endpoints
    provision.py hosts      wait for the hosts' agents (OVS/OVN, L3, DHCP) and the computes'
                            nova-compute services, map cells
    provision.py topology   flavor, image, networks; ML2/OVS with a network node: router1
                            from tenant-vx to the external provider-flat
    provision.py aggregates one availability zone per compute host
    provision.py boot       the test servers; waits until ACTIVE with ACTIVE ports

Configuration comes from the environment (set by up.sh): NPSTACK_DIR,
NPSTACK_PW, NPSTACK_HOSTS, NPSTACK_BACKEND (ovs or ovn).  One process per phase,
openstacksdk only.
"""

import json
import os
import struct
import subprocess
import sys
import time

import openstack

D = os.environ.get("NPSTACK_DIR", "/var/tmp/npstack")
PW = os.environ.get("NPSTACK_PW", "secret")
AUTH_URL = "http://127.0.0.1:5000/v3"
BACKEND = os.environ.get("NPSTACK_BACKEND", "ovs")
L3_MODE = os.environ.get("NPSTACK_L3", "legacy")  # ML2/OVS routers: legacy or dvr
HOST_SPECS = [(h.split(":") + ["", "libvirt", ""])[:4] for h in os.environ.get(
    "NPSTACK_HOSTS", "compute1:iptables_hybrid:libvirt compute2:openvswitch:libvirt").split()]
HOSTS = [h[0] for h in HOST_SPECS]
COMPUTES = [h[0] for h in HOST_SPECS if (h[2] or "libvirt") != "none"]
# host -> the Neutron agents it runs beside the OVS agent ("l3", "dhcp")
AGENTS = {h[0]: [a for a in h[3].split(",") if a] for h in HOST_SPECS}
L3_HOSTS = [h for h, a in AGENTS.items() if "l3" in a]
DHCP_HOSTS = [h for h, a in AGENTS.items() if "dhcp" in a]

SERVICE_USERS = ("placement", "glance", "nova", "neutron")
ENDPOINTS = (  # name, type, url
    ("placement", "placement", "http://127.0.0.1:8778"),
    ("glance", "image", "http://127.0.0.1:9292"),
    ("nova", "compute", "http://127.0.0.1:8774/v2.1"),
    ("neutron", "network", "http://127.0.0.1:9696"),
)
MEMBER_PROJECT = "demo"
MEMBER_USER = "demo"

# The servers the tier boots.  Every firewall driver (host) x network type
# (flat, vlan, vxlan) is covered by vm1 and vm2; vm3 belongs to the non-admin
# project, on its own VXLAN network.
NETWORKS = {
    # name: (project, provider attributes or None for a tenant network, cidr)
    "provider-flat": ("admin", {"provider:network_type": "flat",
                                "provider:physical_network": "physnet1"}, "203.0.113.0/24"),
    "provider-vlan101": ("admin", {"provider:network_type": "vlan",
                                   "provider:physical_network": "physnet1",
                                   "provider:segmentation_id": 101}, "198.51.100.0/24"),
    "tenant-vx": ("admin", None, "10.77.1.0/24"),
    "member-vx": (MEMBER_PROJECT, None, "10.77.2.0/24"),
}
# the network node's router (ML2/OVS with an L3 agent): tenant-vx routed to provider-flat,
# the external network; vm1's tenant-vx port gets a floating IP from it
ROUTER = "router1"
EXTERNAL = "provider-flat"
ROUTED = "tenant-vx"
FIP_ON = ("vm1", ROUTED)
SERVERS = {
    # label: (name, project, availability zone (= host), networks in NIC order, then)
    "vm1": ("vm1", "admin", "az-compute1", ["provider-vlan101", "provider-flat", "tenant-vx"], None),
    "vm2": ("vm2", "admin", "az-compute2", ["provider-vlan101", "provider-flat", "tenant-vx"], None),
    "vm3": ("vm3", MEMBER_PROJECT, "az-compute1", ["member-vx"], None),
    # the error cases a real cloud gives: a stopped server, two servers with
    # one name, a server that existed (its ID is kept in stack.json)
    "vm-off": ("vm-off", "admin", "az-compute2", ["provider-flat"], "stop"),
    "twin-a": ("twin", "admin", "az-compute1", ["tenant-vx"], None),
    "twin-b": ("twin", "admin", "az-compute2", ["tenant-vx"], None),
    "vm-gone": ("vm-gone", "admin", "az-compute1", ["tenant-vx"], "delete"),
}
if BACKEND == "ovn":
    # ML2/OVN: Geneve instead of VXLAN; DHCP on (OVN's native DHCP, no agent): the OVN
    # metadata port takes its IP from the subnets, without one no ovnmeta- namespace
    NETWORKS = {
        "provider-flat": NETWORKS["provider-flat"],
        "provider-vlan101": NETWORKS["provider-vlan101"],
        "tenant-gnv": ("admin", None, "10.78.1.0/24"),
        "member-gnv": (MEMBER_PROJECT, None, "10.78.2.0/24"),
    }
    # a Geneve port on each host on one network (so tunnels exist), provider ports on both;
    # stopped and deleted servers as on ML2/OVS
    SERVERS = {
        "vm1": ("vm1", "admin", "az-compute1", ["provider-vlan101", "provider-flat", "tenant-gnv"], None),
        "vm2": ("vm2", "admin", "az-compute2", ["provider-vlan101", "provider-flat", "tenant-gnv"], None),
        "vm3": ("vm3", MEMBER_PROJECT, "az-compute1", ["member-gnv"], None),
        "vm-off": ("vm-off", "admin", "az-compute2", ["tenant-gnv"], "stop"),
        "vm-gone": ("vm-gone", "admin", "az-compute1", ["tenant-gnv"], "delete"),
    }
    # a router from tenant-gnv out to provider-flat (external), gateway on the gateway chassis
    # (compute1, up.sh), a floating IP on vm1's tenant-gnv port
    EXTERNAL = "provider-flat"
    ROUTED = "tenant-gnv"
AGENT_TYPE = "OVN Controller agent" if BACKEND == "ovn" else "Open vSwitch agent"
ROUTING = BACKEND == "ovs" and bool(L3_HOSTS)
# DHCP: OVN's native DHCP on every subnet; ML2/OVS with a DHCP agent on the routed network
DHCP = set(NETWORKS) if BACKEND == "ovn" else ({ROUTED} if DHCP_HOSTS else set())
FLAVOR = "m1.tiny"
IMAGE = "halt"


def log(msg):
    print(f"provision: {msg}", flush=True)


def connect(user="admin", project="admin"):
    return openstack.connect(
        auth_url=AUTH_URL, username=user, password=PW, project_name=project,
        user_domain_name="Default", project_domain_name="Default",
        region_name="RegionOne", identity_api_version="3", interface="public")


def wait(what, fn, timeout, interval=1.0):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last is True:
            return
        time.sleep(interval)
    sys.exit(f"provision: {what} not reached after {timeout}s (last: {last!r})")


def catalog():
    c = connect()
    idn = c.identity
    roles = {r.name: r for r in idn.roles()}
    for name in ("admin", "member", "reader", "service"):
        if name not in roles:
            roles[name] = idn.create_role(name=name)
    projects = {p.name: p for p in idn.projects()}
    for name in ("service", MEMBER_PROJECT):
        if name not in projects:
            projects[name] = idn.create_project(name=name, domain_id="default")
    for name in SERVICE_USERS:
        u = idn.create_user(name=name, password=PW, domain_id="default",
                            default_project_id=projects["service"].id)
        for role in ("admin", "service"):
            idn.assign_project_role_to_user(projects["service"], u, roles[role])
    u = idn.create_user(name=MEMBER_USER, password=PW, domain_id="default",
                        default_project_id=projects[MEMBER_PROJECT].id)
    idn.assign_project_role_to_user(projects[MEMBER_PROJECT], u, roles["member"])
    for name, stype, url in ENDPOINTS:
        s = idn.create_service(name=name, type=stype)
        for iface in ("public", "internal"):
            idn.create_endpoint(service_id=s.id, interface=iface, url=url, region_id="RegionOne")
    log(f"catalog: {len(ENDPOINTS)} services, users {', '.join(SERVICE_USERS + (MEMBER_USER,))}")


def hosts():
    c = connect()
    n = len(HOSTS) if BACKEND == "ovs" else len(COMPUTES)

    def computes_up():
        up = [s for s in c.compute.services(binary="nova-compute") if s.state == "up"]
        return True if len(up) >= len(COMPUTES) else f"{len(up)} nova-compute up"

    def agents_alive(agent_type=AGENT_TYPE, want=n):
        # a gateway chassis (ovn-cms-options enable-chassis-as-gw) is an "OVN Controller
        # Gateway agent" in Neutron's words
        types = (agent_type, "OVN Controller Gateway agent") if agent_type == AGENT_TYPE \
            and BACKEND == "ovn" else (agent_type,)
        alive = [a for a in c.network.agents() if a.is_alive and a.agent_type in types]
        return True if len(alive) >= want else f"{len(alive)} {agent_type}s alive"

    wait(f"{n} {AGENT_TYPE}s alive", agents_alive, 240, 1)
    log(f"{n} {AGENT_TYPE}s alive")
    if BACKEND == "ovs":
        for agent_type, on in (("L3 agent", L3_HOSTS), ("DHCP agent", DHCP_HOSTS)):
            if on:
                want = len(on)
                wait(f"{want} {agent_type}s alive",
                     lambda t=agent_type, w=want: agents_alive(t, w), 240, 1)
                log(f"{agent_type}s alive on {', '.join(on)}")
    n = len(COMPUTES)
    if BACKEND == "ovn":
        wait(f"{n} OVN Metadata agents alive", lambda: agents_alive("OVN Metadata agent"), 240, 1)
        log(f"{n} OVN Metadata agents alive")
    wait(f"{n} nova-compute up", computes_up, 240, 1)
    log(f"{n} nova-compute up")
    nova_manage = [os.path.join(D, "venv/bin/nova-manage"), "--config-file",
                   os.path.join(D, "etc/nova/nova.conf"), "cell_v2", "discover_hosts"]

    def discovered():
        subprocess.run(nova_manage, check=False, capture_output=True)
        hv = list(c.compute.hypervisors())
        return True if len(hv) >= n else f"{len(hv)} hypervisors"

    wait(f"{n} hypervisors discovered", discovered, 120, 2)
    log(f"{n} hypervisors mapped")


def boot_image(path):
    """A 1 MiB raw disk whose boot sector halts the CPU: real enough for QEMU
    to boot (SeaBIOS loads it), idle afterwards, made here, no download."""
    img = bytearray(1024 * 1024)
    code = bytes([0xFA, 0xF4, 0xEB, 0xFD])  # cli; hlt; jmp $-3
    img[: len(code)] = code
    # one primary partition (type 0x83, LBA 1..2047): image format inspectors
    # reject an MBR that defines none
    img[446:462] = struct.pack("<B3BB3BII", 0x80, 0, 2, 0, 0x83, 0, 0, 0, 1, 2047)
    img[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(img)


def topology():
    """Idempotent: what exists already (by name) is kept."""
    c = connect()
    if not c.compute.find_flavor(FLAVOR):
        c.compute.create_flavor(name=FLAVOR, vcpus=1, ram=64, disk=1)
    if not c.image.find_image(IMAGE):
        path = os.path.join(D, "data", "halt.raw")
        boot_image(path)
        # the guest halts and never answers ACPI: stop it at once instead of
        # nova's 60 s clean-shutdown wait
        c.image.create_image(name=IMAGE, filename=path, disk_format="raw",
                             container_format="bare", visibility="public", wait=True,
                             os_shutdown_timeout="0")
    member = connect(MEMBER_USER, MEMBER_PROJECT)
    for name, (project, provider, cidr) in NETWORKS.items():
        conn = c if project == "admin" else member
        if conn.network.find_network(name):
            continue
        attrs = {"name": name}
        if provider:
            attrs.update(provider)
            attrs["is_shared"] = True
        if (ROUTING or BACKEND == "ovn") and name == EXTERNAL:
            attrs["is_router_external"] = True
        net = conn.network.create_network(**attrs)
        conn.network.create_subnet(network_id=net.id, name=name + "-v4", ip_version=4,
                                   cidr=cidr, is_dhcp_enabled=name in DHCP)
    log(f"topology: flavor {FLAVOR}, image {IMAGE}, networks {', '.join(NETWORKS)}")
    if ROUTING and not c.network.find_router(ROUTER):
        ext = c.network.find_network(EXTERNAL)
        router = c.network.create_router(name=ROUTER, is_distributed=L3_MODE == "dvr",
                                         external_gateway_info={"network_id": ext.id})
        subnet = c.network.find_subnet(ROUTED + "-v4")
        c.network.add_interface_to_router(router, subnet_id=subnet.id)
        log(f"router {ROUTER} ({L3_MODE}): {ROUTED} -> {EXTERNAL} (external)")


def aggregates():
    """One availability zone per compute host (needs the hosts mapped)."""
    c = connect()
    aggs = {a.name: a for a in c.compute.aggregates()}
    for host in COMPUTES:
        agg = aggs.get("agg-" + host) or c.compute.create_aggregate(
            name="agg-" + host, availability_zone="az-" + host)
        if host not in (agg.hosts or []):
            c.compute.add_host_to_aggregate(agg, host)
    log(f"availability zones: {', '.join('az-' + h for h in COMPUTES)}")


def boot():
    conns = {"admin": connect(), MEMBER_PROJECT: connect(MEMBER_USER, MEMBER_PROJECT)}
    admin = conns["admin"]
    nets = {n.name: n for n in admin.network.networks()}
    flavor = admin.compute.find_flavor(FLAVOR)
    image = admin.image.find_image(IMAGE)
    ids = {}
    for label, (name, project, az, networks, _) in SERVERS.items():
        srv = conns[project].compute.create_server(
            name=name, flavor_id=flavor.id, image_id=image.id, availability_zone=az,
            networks=[{"uuid": nets[n].id} for n in networks])
        ids[label] = srv.id

    def all_in(wanted, labels):
        states = {}
        for label in labels:
            s = admin.compute.get_server(ids[label])
            if s.status == "ERROR":
                sys.exit(f"provision: server {label} ERROR: {s.fault}")
            states[label] = s.status
        return True if set(states.values()) == {wanted} else states

    wait("servers ACTIVE", lambda: all_in("ACTIVE", ids), 300, 2)
    log("servers ACTIVE: {}".format(", ".join(ids)))

    def ports_active():
        ports = [p for p in admin.network.ports() if p.device_id in ids.values()]
        st = sorted(p.status for p in ports)
        want = sum(len(v[3]) for v in SERVERS.values())
        return True if len(ports) == want and set(st) == {"ACTIVE"} else st

    wait("server ports ACTIVE", ports_active, 120, 1)
    log("server ports ACTIVE")
    if ROUTING:
        floating_ip(admin, ids)
    deleted = {}
    for label, spec in SERVERS.items():
        if spec[4] == "stop":
            admin.compute.stop_server(ids[label])
        elif spec[4] == "delete":
            admin.compute.delete_server(ids[label])
            deleted[label] = {"id": ids.pop(label), "name": spec[0]}
    stopped = [label for label, spec in SERVERS.items() if spec[4] == "stop"]
    if stopped:
        wait("servers SHUTOFF", lambda: all_in("SHUTOFF", stopped), 120, 1)

    def gone():
        left = [lb for lb, d in deleted.items() if admin.compute.find_server(d["id"]) is not None]
        return True if not left else left

    if deleted:
        wait("servers deleted", gone, 120, 1)
    log("stopped {}, deleted {}".format(", ".join(stopped), ", ".join(deleted)))
    router = ovn_router(admin, nets, ids["vm1"]) if BACKEND == "ovn" else None
    write_state(admin, ids, deleted, router)


def ovn_router(admin, nets, vm1):
    """router1: gateway on the external network, interface on the routed one, a floating IP
    on vm1's port there; waits until ML2/OVN has bound the gateway port to a chassis.

    Neutron binds the gateway port when it sees the SB Port_Binding of ``cr-lrp-<port>`` get
    its chassis as an UPDATE (PortBindingChassisEvent). When ovn-controller claims it within
    the same IDL batch that creates the row (seen here on a loaded machine), Neutron sees only
    a CREATE and never binds it: the gateway is cleared and set again (a new cr-lrp) until it
    is bound, before the floating IP exists (that forbids clearing it)."""
    ext, routed = nets[EXTERNAL], nets[ROUTED]
    router = admin.network.create_router(name="router1",
                                         external_gateway_info={"network_id": ext.id})

    def gateway(timeout: float):
        end = time.time() + timeout
        while True:
            gw = next(admin.network.ports(device_id=router.id,
                                          device_owner="network:router_gateway"), None)
            if (gw is not None and gw.binding_host_id) or time.time() > end:
                return gw
            time.sleep(1)

    gw = gateway(30)
    for attempt in range(2):  # not fatal at the end: a gateway left unbound is for the tests
        if gw is not None and gw.binding_host_id:
            break
        log(f"router1: gateway port not bound after {30 * (attempt + 1)}s: set again")
        admin.network.update_router(router, external_gateway_info={})
        admin.network.update_router(router, external_gateway_info={"network_id": ext.id})
        gw = gateway(30)
    admin.network.add_interface_to_router(router, subnet_id=routed.subnet_ids[0])
    port = next(p for p in admin.network.ports(device_id=vm1) if p.network_id == routed.id)
    fip = admin.network.create_ip(floating_network_id=ext.id, port_id=port.id)
    gw = gateway(10) or gw
    log(f"router1: gateway {gw.id} on {gw.binding_host_id}, floating IP "
        f"{fip.floating_ip_address} -> vm1")
    return {"id": router.id, "gateway_port": gw.id, "gateway_host": gw.binding_host_id,
            "external_network": ext.id, "floating_ip": fip.floating_ip_address,
            "fixed_ip": fip.fixed_ip_address, "port": port.id}


def floating_ip(admin, ids):
    """A floating IP on vm1's routed port; waits until the L3 agent has it ACTIVE and every
    router port (qr-, qg-) and the DHCP port are ACTIVE on the network node."""
    label, net = FIP_ON
    ext = admin.network.find_network(EXTERNAL)
    routed = admin.network.find_network(net)
    port = next(p for p in admin.network.ports(device_id=ids[label]) if p.network_id == routed.id)
    fip = admin.network.create_ip(floating_network_id=ext.id, port_id=port.id)

    def ready():
        f = admin.network.get_ip(fip.id)
        agent_ports = [p for p in admin.network.ports(network_id=[routed.id, ext.id])
                       if (p.device_owner or "").startswith("network:")
                       and p.device_owner != "network:floatingip"]
        st = sorted((p.device_owner, p.status) for p in agent_ports)
        owners = {o for o, _ in st}
        want = {"network:router_interface", "network:router_gateway"}
        if L3_MODE == "dvr":
            want = {"network:router_interface_distributed", "network:router_centralized_snat",
                    "network:router_gateway", "network:floatingip_agent_gateway"}
        if DHCP_HOSTS:
            want.add("network:dhcp")
        # a distributed interface is bound on every host with a port: it has no one status
        up = all(s == "ACTIVE" for o, s in st if o != "network:router_interface_distributed")
        ok = f.status == "ACTIVE" and want <= owners and up
        return True if ok else (f.status, st)

    wait("floating IP and router ports ACTIVE", ready, 120, 1)
    log(f"floating IP {fip.floating_ip_address} on {label}'s {net} port")


def write_state(admin, ids, deleted, router=None):
    nets = {n.id: n for n in admin.network.networks()}
    projects = {p.id: p.name for p in admin.identity.projects()}
    servers = {}
    for label, sid in ids.items():
        s = admin.compute.get_server(sid)
        ports = []
        for p in admin.network.ports(device_id=sid):
            n = nets[p.network_id]
            ports.append({
                "id": p.id, "mac": p.mac_address, "network": n.name, "network_id": n.id,
                "network_type": n.provider_network_type,
                "physical_network": n.provider_physical_network,
                "segmentation_id": n.provider_segmentation_id,
                "host": p.binding_host_id, "vif_type": p.binding_vif_type,
                "vif_details": p.binding_vif_details, "status": p.status,
                "fixed_ips": [ip["ip_address"] for ip in p.fixed_ips],
                "mtu": n.mtu,
            })
        order = SERVERS[label][3]
        ports.sort(key=lambda p: order.index(p["network"]))
        servers[label] = {
            "id": sid, "name": s.name, "label": label,
            "project": projects.get(s.project_id, s.project_id),
            "host": s.compute_host, "hypervisor_hostname": s.hypervisor_hostname,
            "instance_name": s.instance_name, "status": s.status,
            "availability_zone": s.availability_zone, "ports": ports,
        }
    with open(os.path.join(D, "servers.json"), "w") as f:
        json.dump({"servers": servers, "deleted": deleted, "router": router}, f, indent=2,
                  sort_keys=True)
    log("wrote {}".format(os.path.join(D, "servers.json")))


def state():
    """stack.json: the handles the test tier needs."""
    net = os.environ.get("NPSTACK_NET", "172.30.77")
    hosts = {}
    for i, (name, fw, virt, agents) in enumerate(HOST_SPECS, 1):
        virt = virt or "libvirt"
        h = os.path.join(D, "hosts", name)
        with open(os.path.join(h, "anchor.pid")) as f:
            anchor = int(f.read())
        hosts[name] = {
            "name": name, "namespace": "npstack-" + name, "address": f"{net}.{10 + i}",
            "firewall_driver": fw, "virt_driver": virt, "anchor_pid": anchor,
            "agents": [a for a in agents.split(",") if a],
            "dir": h, "logs": os.path.join(D, "logs", name),
        }
    booted = {"servers": {}, "deleted": {}}
    if os.path.exists(os.path.join(D, "servers.json")):
        with open(os.path.join(D, "servers.json")) as f:
            booted = json.load(f)
    doc = {
        "dir": D, "clouds_yaml": os.path.join(D, "clouds.yaml"),
        "clouds": {"admin": "stack-admin", "member": "stack-member"},
        "venv": os.path.join(D, "venv"), "logs": os.path.join(D, "logs"),
        "ssh": {"user": "root", "identity_file": os.path.join(D, "ssh", "id_ed25519"),
                "known_hosts": os.path.join(D, "ssh", "known_hosts")},
        "backend": BACKEND, "hosts": hosts, "servers": booted["servers"], "deleted_servers": booted["deleted"],
        "router": booted.get("router"),
        "networks": {name: {"project": v[0], "cidr": v[2]} for name, v in NETWORKS.items()},
        "member": {"project": MEMBER_PROJECT, "user": MEMBER_USER},
        "computes": COMPUTES,
    }
    if ROUTING:
        doc["router"] = {"name": ROUTER, "mode": L3_MODE, "external": EXTERNAL, "routed": ROUTED,
                         "floating_ip_on": list(FIP_ON), "l3_hosts": L3_HOSTS,
                         "dhcp_hosts": DHCP_HOSTS}
    if BACKEND == "ovn":  # the databases' sockets (up.sh: $OVN_NB, $OVN_SB), for ground truth
        doc["ovn"] = {"nb_db": "unix:" + os.path.join(D, "ovn", "ovnnb_db.sock"),
                      "sb_db": "unix:" + os.path.join(D, "ovn", "ovnsb_db.sock")}
    with open(os.path.join(D, "stack.json"), "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    log("wrote {}".format(os.path.join(D, "stack.json")))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "catalog":
        catalog()
    elif cmd == "hosts":
        hosts()
    elif cmd == "topology":
        topology()
    elif cmd == "aggregates":
        aggregates()
    elif cmd == "boot":
        boot()
    elif cmd == "state":
        state()
    else:
        sys.exit(__doc__)
