"""A consistent fake cloud — Keystone, Nova, Neutron — behind requests-mock (commands tier).

Bodies follow the API reference: a Keystone v3 token with its catalog; Nova servers at 2.1
(``OS-EXT-SRV-ATTR:*``, ``OS-EXT-STS:*``) and hypervisors (integer ids before 2.53, UUIDs from
2.53, slimmer from 2.88); Neutron v2.0 ports (``binding:*``), networks (``provider:*``, or a
``segments`` list when multi-segment), agents (``configurations``). The handlers behave like the
services wherever netpath depends on it:

- policy: a non-admin token gets no ``OS-EXT-SRV-ATTR:*`` keys, a 403 for ``all_tenants`` and
  for ``os-hypervisors``, ports without ``binding:host_id/vif_type/vif_details/profile``,
  networks without ``provider:*``/``segments``, and an empty agent list (Neutron drops what
  policy hides instead of refusing);
- scope: without ``all_tenants`` Nova lists the token's project only, admins included; an admin
  GETs any server by ID, a member only its project's (404 otherwise);
- Nova's ``name`` filter is a regex (``re.search``); ``hypervisor_hostname_pattern`` is a
  case-insensitive substring (SQL LIKE), 404 when nothing matches, honoured from 2.53 only;
  a microversion above ``MAX_MICROVERSION`` gets a 406;
- Neutron filters on any attribute, repeated values OR'ed; ``fields=`` trims the bodies.
Any other URL fails the test loudly (AssertionError or requests_mock.NoMockAddress).

Interface
---------
``scenario(mocker, ports=("ovs-hybrid-vlan",), *, admin=True, status="ACTIVE", name="web-1",
host="compute-1", node=None, cloud_name="fake-admin", noise=True)`` -> ``FakeCloud``.
    Registers a whole consistent cloud around one server (``cloud.server``):
    the server on ``host`` (node ``node``), one port per entry of ``ports`` (keys of
    ``PORT_KINDS``), each on a network of its own, the L2 agent(s) of ``host`` for the backends
    those kinds use, and ``host``'s hypervisor. ``status`` is a key of ``STATES``: unplaced
    states (SHELVED_OFFLOADED, ERROR, BUILD) have no host; shelved ports are unbound; ERROR and
    BUILD servers have no ports yet. ``noise=True`` (default) adds what surrounds a server in a
    real cloud, each a trap for a sloppy query: a server ``web-10`` in another project, a
    hypervisor ``compute-10``, a network node with OVS/DHCP/L3 agents, a DVR L3 agent on
    ``host``, a DHCP port and another server's port on the first network.
    ``mocker`` is a started ``requests_mock.Mocker`` (or pytest's ``requests_mock`` fixture).
    Ids are stable (``fake_id``); addresses: host_ip ``HOST_IP``, agent tunneling_ip
    ``TUNNEL_IP``, agent bridge_mappings ``BRIDGE_MAPPINGS``; segmentation ids start at the
    kind's base (VLAN 101, VNI 1001…) plus the port's position - 1.
    A command test wires it in with ``client_manager.sdk_connection = cloud.connection()``.
    To make one call fail, register a more specific URL after it (requests-mock tries the
    newest first), e.g. ``mocker.get(f"{NETWORK_URL}/v2.0/ports", status_code=500, ...)``.

``FakeCloud(mocker, *, admin=True, cloud_name="fake-admin")`` — an empty cloud, for hand-built
    cases. Its state is plain API-shaped dicts you may edit at any time: ``servers``, ``ports``,
    ``networks``, ``agents``, ``hypervisors``; ``server`` is the scenario's server body.
    ``add_server / add_network / add_port / add_agent / add_hypervisor`` build and store bodies.
    ``connection()`` -> ``openstack.connection.Connection`` whose ``config.name`` is
    ``cloud_name`` (as ``--os-cloud`` would set it); the token is requested on first use.
    ``calls()`` -> ``["POST keystone /v3/auth/tokens", "GET nova /v2.1/servers/<id>", …]``;
    ``requests()`` -> the same as ``Call`` tuples with the (case-kept) query and microversion.

``from_facts(mocker, facts, *, admin=True, cloud_name="fake-admin")`` -> ``FakeCloud`` serving
    what recorded ``CloudFacts`` say (the demo capture was recorded from the real stack): the
    servers, ports, networks, L2 agents and hypervisors, with their recorded ids; ``server`` is
    the first one's body.

Port kinds: ovs-hybrid-vlan, ovs-native-vlan, ovs-hybrid-vxlan, ovs-native-vxlan,
ovs-native-flat, ovs-native-multisegment (vlan + vxlan), ovn-geneve, ovn-vlan, linuxbridge-vlan.
Kinds of the same backend can be mixed on one server (ports plugged before a firewall-driver
change keep ovs_hybrid_plug); mixing backends raises ValueError.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

AUTH_URL = "https://identity.example/v3"
COMPUTE_URL = "https://compute.example/v2.1"
NETWORK_URL = "https://network.example:9696"  # versionless, as Neutron is usually registered
REGION = "RegionOne"
MAX_MICROVERSION = (2, 96)

PROJECT_ID = "9c1e2b5f0a7d4e6f8a3b2c1d0e9f8a7b"
OTHER_PROJECT_ID = "3f2e1d0c9b8a4f7e6d5c4b3a2f1e0d9c"
USER_ID = "6b5a4f3e2d1c4b0a9f8e7d6c5b4a3f2e"
SERVER_NAME = "web-1"
HOST = "compute-1"
HOST_IP = "192.0.2.11"
TUNNEL_IP = "198.51.100.11"
NETWORK_HOST = "network-1"
BRIDGE_MAPPINGS = {"physnet1": "br-vlan", "public": "br-ex"}
TIMESTAMP = "2024-05-06T07:08:09Z"
NEUTRON_TIMESTAMP = "2024-05-06 07:08:09"
JSON = {"Content-Type": "application/json"}  # requests-mock does not add it; the SDK reads it

# Faults as the services send them, and how netpath quotes them (on one line).
NOVA_500 = {"computeFault": {"code": 500, "message": (
    "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the "
    "Nova API log if possible.\n<class 'oslo_db.exception.DBConnectionError'>")}}
NOVA_500_SAID = ("(Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ "
                 "and attach the Nova API log if possible. "
                 "<class 'oslo_db.exception.DBConnectionError'>)")
NEUTRON_500 = {"NeutronError": {"type": "HTTPInternalServerError", "detail": "",
                                "message": "Request Failed: internal server error while "
                                           "processing your request."}}
HTML_503 = ("<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle "
            "this request.\n</body></html>\n")
REQUEST_ID = "req-5d7c1f0e-8a2b-4c3d-9e4f-0a1b2c3d4e5f"
WITH_REQUEST_ID = {"x-openstack-request-id": REQUEST_ID, **JSON}

_NS = uuid.UUID("0d7c3a58-4f6e-4c1b-9a0e-6f1d2b3c4a5e")
_LABELS = {
    urlsplit(AUTH_URL).netloc: "keystone",
    urlsplit(COMPUTE_URL).netloc: "nova",
    urlsplit(NETWORK_URL).netloc: "neutron",
}


def fake_id(*parts: object) -> str:
    """A stable UUID for a named fake object (same name -> same id, across runs)."""
    return str(uuid.uuid5(_NS, "/".join(map(str, parts))))


# --- what a port kind means ------------------------------------------------------------------


@dataclass(frozen=True)
class PortKind:
    backend: str  # ovs, ovn, linuxbridge: decides the agent on the host
    vif_type: str
    vif_details: dict[str, Any]
    segments: tuple[tuple[str, str | None, int | None], ...]  # (type, physnet, base seg id)
    mtu: int


def _ovs_details(hybrid: bool) -> dict[str, Any]:
    return {"connectivity": "l2", "port_filter": True, "ovs_hybrid_plug": hybrid,
            "datapath_type": "system", "bridge_name": "br-int"}


_OVN_DETAILS = {"connectivity": "l2", "port_filter": True, "datapath_type": "system",
                "bridge_name": "br-int"}
_VLAN = (("vlan", "physnet1", 101),)
_VXLAN = (("vxlan", None, 1001),)
_FLAT = (("flat", "public", None),)
PORT_KINDS: dict[str, PortKind] = {
    "ovs-hybrid-vlan": PortKind("ovs", "ovs", _ovs_details(True), _VLAN, 1500),
    "ovs-native-vlan": PortKind("ovs", "ovs", _ovs_details(False), _VLAN, 1500),
    "ovs-hybrid-vxlan": PortKind("ovs", "ovs", _ovs_details(True), _VXLAN, 1450),
    "ovs-native-vxlan": PortKind("ovs", "ovs", _ovs_details(False), _VXLAN, 1450),
    "ovs-native-flat": PortKind("ovs", "ovs", _ovs_details(False), _FLAT, 1500),
    "ovs-native-multisegment": PortKind(
        "ovs", "ovs", _ovs_details(False), (("vlan", "physnet1", 201), ("vxlan", None, 2001)), 1450
    ),
    "ovn-geneve": PortKind("ovn", "ovs", _OVN_DETAILS, (("geneve", None, 3001),), 1442),
    "ovn-vlan": PortKind("ovn", "ovs", _OVN_DETAILS, _VLAN, 1500),
    "linuxbridge-vlan": PortKind(
        "linuxbridge", "bridge", {"connectivity": "l2", "port_filter": True}, _VLAN, 1500
    ),
}


@dataclass(frozen=True)
class State:
    vm_state: str
    power_state: int  # 0 NOSTATE, 1 RUNNING, 4 SHUTDOWN
    task_state: str | None
    placed: bool  # on a host, with bound ports
    has_ports: bool = True


STATES = {
    "ACTIVE": State("active", 1, None, True),
    "SHUTOFF": State("stopped", 4, None, True),
    "SHELVED_OFFLOADED": State("shelved_offloaded", 4, None, False),
    "ERROR": State("error", 0, None, False, has_ports=False),  # NoValidHost: never plugged
    "BUILD": State("building", 0, "scheduling", False, has_ports=False),
}


class Call(NamedTuple):
    method: str
    service: str  # keystone, nova, neutron
    path: str
    query: dict[str, list[str]]
    microversion: str | None


# --- the cloud --------------------------------------------------------------------------------


class FakeCloud:
    """Keystone + Nova + Neutron state and handlers on a requests-mock Mocker."""

    def __init__(self, mocker: Any, *, admin: bool = True, cloud_name: str = "fake-admin"):
        self.mocker = mocker
        self.admin = admin
        self.cloud_name = cloud_name
        self.project_id = PROJECT_ID
        self.servers: list[dict[str, Any]] = []
        self.ports: list[dict[str, Any]] = []
        self.networks: list[dict[str, Any]] = []
        self.agents: list[dict[str, Any]] = []
        self.hypervisors: list[dict[str, Any]] = []
        self.floating_ips: list[dict[str, Any]] = []
        # "agents": DHCP/L3 agents host networks and routers (ML2/OVS); "ovn": as Neutron 29
        # ML2/OVN answers (no DHCP agents, a router's "L3 agents" are its gateway chassis'
        # OVN Controller Gateway agents); "none": the scheduler extensions absent (404)
        self.agent_schedulers = "agents"
        self.aggregates: list[dict[str, Any]] = []
        self.server: dict[str, Any] = {}
        mocker.post(f"{AUTH_URL}/auth/tokens", json=self._token, status_code=201,
                    headers={"X-Subject-Token": "fake-token", **JSON})
        base = re.escape(COMPUTE_URL.rsplit("/", 1)[0])
        mocker.get(re.compile(f"^{base}/"), json=self._nova, headers=JSON)
        mocker.get(re.compile(f"^{re.escape(NETWORK_URL)}/"), json=self._neutron, headers=JSON)
        # Keystone's project list, by name (the --project NAME lookup)
        self.projects = [{"id": PROJECT_ID, "name": "demo", "domain_id": "default"},
                         {"id": OTHER_PROJECT_ID, "name": "other", "domain_id": "default"}]
        mocker.get(re.compile(f"^{re.escape(AUTH_URL)}/projects"), json=self._projects,
                   headers=JSON)

    # -- client side --

    def connection(self) -> Any:
        from openstack import connection
        from openstack.config import loader

        auth = {"auth_url": AUTH_URL, "username": "netpath", "password": "secret",
                "project_id": self.project_id, "user_domain_id": "default"}
        # A clouds.yaml entry held in memory, so config.name is the profile name (--os-cloud).
        config = loader.OpenStackConfig(load_yaml_config=False, load_envvars=False)
        config.cloud_config["clouds"][self.cloud_name] = {
            "auth_type": "v3password", "auth": auth, "region_name": REGION}
        return connection.Connection(config=config.get_one(cloud=self.cloud_name))

    def requests(self) -> list[Call]:
        calls = []
        for req in self.mocker.request_history:
            url = urlsplit(req.url)
            version = req.headers.get("OpenStack-API-Version")
            calls.append(Call(req.method, _LABELS.get(url.netloc, url.netloc), unquote(url.path),
                              parse_qs(url.query, keep_blank_values=True),
                              version.split()[-1] if version else None))
        return calls

    def calls(self) -> list[str]:
        return [f"{c.method} {c.service} {c.path}" for c in self.requests()]

    # -- builders: API-shaped bodies, stored and returned --

    def add_server(self, name: str = SERVER_NAME, *, status: str = "ACTIVE",
                   host: str | None = HOST, node: str | None = None,
                   project_id: str | None = None, server_id: str | None = None) -> dict[str, Any]:
        state = STATES[status]
        server_id = server_id or fake_id("server", name, project_id or self.project_id, host)
        host = host if state.placed else None
        body = {
            "id": server_id, "name": name, "status": status,
            "tenant_id": project_id or self.project_id, "user_id": USER_ID,
            "metadata": {}, "hostId": fake_id("hostId", host).replace("-", "") if host else "",
            "image": {"id": fake_id("image"), "links": [
                {"rel": "bookmark", "href": f"{COMPUTE_URL}/images/{fake_id('image')}"}]},
            "flavor": {"id": "1", "links": [
                {"rel": "bookmark", "href": f"{COMPUTE_URL}/flavors/1"}]},
            "created": TIMESTAMP, "updated": TIMESTAMP, "addresses": {},
            "accessIPv4": "", "accessIPv6": "", "progress": 0, "config_drive": "",
            "key_name": None, "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": "nova" if host else "",
            "OS-EXT-SRV-ATTR:host": host,
            "OS-EXT-SRV-ATTR:hypervisor_hostname": (node or host) if host else None,
            "OS-EXT-SRV-ATTR:instance_name": f"instance-{len(self.servers) + 1:08x}",
            "OS-EXT-STS:power_state": state.power_state,
            "OS-EXT-STS:task_state": state.task_state,
            "OS-EXT-STS:vm_state": state.vm_state,
            "OS-SRV-USG:launched_at": TIMESTAMP if state.has_ports else None,
            "OS-SRV-USG:terminated_at": None,
            "os-extended-volumes:volumes_attached": [],
            "security_groups": [{"name": "default"}],
            "links": [{"rel": "self", "href": f"{COMPUTE_URL}/servers/{server_id}"},
                      {"rel": "bookmark", "href": f"{COMPUTE_URL}/servers/{server_id}"}],
        }
        self.servers.append(body)
        return body

    def add_network(self, name: str, segments: tuple[tuple[str, str | None, int | None], ...], *,
                    mtu: int = 1500, shared: bool = False) -> dict[str, Any]:
        net_id = fake_id("network", name)
        body: dict[str, Any] = {
            "id": net_id, "name": name, "admin_state_up": True, "status": "ACTIVE",
            "mtu": mtu, "shared": shared, "router:external": False,
            "project_id": self.project_id, "tenant_id": self.project_id,
            "subnets": [fake_id("subnet", name)], "availability_zone_hints": [],
            "availability_zones": ["nova"], "ipv4_address_scope": None,
            "ipv6_address_scope": None, "l2_adjacency": True, "port_security_enabled": True,
            "qos_policy_id": None, "revision_number": 2, "tags": [], "description": "",
            "dns_domain": "", "is_default": False, "vlan_transparent": False,
            "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        }
        provider = [{"provider:network_type": t, "provider:physical_network": p,
                     "provider:segmentation_id": s} for t, p, s in segments]
        if len(provider) == 1:
            body.update(provider[0])
        else:  # ML2 multiprovidernet: no provider:* keys on the network itself
            body["segments"] = provider
        self.networks.append(body)
        return body

    def add_port(self, network: dict[str, Any], *, device_id: str, host: str | None,
                 vif_type: str = "ovs", vif_details: dict[str, Any] | None = None,
                 device_owner: str = "compute:nova", index: int = 1,
                 name: str = "") -> dict[str, Any]:
        port_id = fake_id("port", device_id, network["id"], index)
        octet = len(self.ports) + 10
        body = {
            "id": port_id, "name": name, "network_id": network["id"],
            "mac_address": f"fa:16:3e:{index:02x}:{octet // 256:02x}:{octet % 256:02x}",
            "admin_state_up": True, "status": "ACTIVE" if host else "DOWN",
            "device_id": device_id, "device_owner": device_owner,
            "fixed_ips": [{"subnet_id": network["subnets"][0],
                           "ip_address": f"10.{len(self.networks)}.0.{octet}"}],
            "allowed_address_pairs": [], "extra_dhcp_opts": [], "security_groups": [
                fake_id("secgroup", "default")], "port_security_enabled": True,
            "project_id": network["project_id"], "tenant_id": network["project_id"],
            "binding:host_id": host or "", "binding:profile": {},
            "binding:vif_type": vif_type if host else "unbound",
            "binding:vif_details": (vif_details or {}) if host else {},
            "binding:vnic_type": "normal", "description": "", "qos_policy_id": None,
            "revision_number": 4, "tags": [], "ip_allocation": "immediate",
            "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
        }
        self.ports.append(body)
        return body

    def add_agent(self, host: str, agent_type: str, binary: str,
                  configurations: dict[str, Any]) -> dict[str, Any]:
        body = {
            "id": fake_id("agent", host, binary), "host": host, "agent_type": agent_type,
            "binary": binary, "alive": True, "admin_state_up": True, "topic": "N/A",
            "availability_zone": None, "description": None, "resources_synced": None,
            "configurations": configurations, "created_at": NEUTRON_TIMESTAMP,
            "started_at": NEUTRON_TIMESTAMP, "heartbeat_timestamp": NEUTRON_TIMESTAMP,
        }
        self.agents.append(body)
        return body

    def add_aggregate(self, name: str, hosts: list[str],
                      zone: str | None = None) -> dict[str, Any]:
        body = {"id": len(self.aggregates) + 1, "uuid": fake_id("aggregate", name), "name": name,
                "availability_zone": zone, "hosts": list(hosts),
                "metadata": {"availability_zone": zone} if zone else {}}
        self.aggregates.append(body)
        return body

    def add_hypervisor(self, host: str, host_ip: str, *, node: str | None = None) -> dict[str, Any]:
        node = node or host
        body = {
            "id": fake_id("compute-node", node), "hypervisor_hostname": node,
            "hypervisor_type": "QEMU", "hypervisor_version": 8002000, "host_ip": host_ip,
            "state": "up", "status": "enabled",
            "service": {"host": host, "id": fake_id("service", host), "disabled_reason": None},
            "vcpus": 16, "vcpus_used": 2, "memory_mb": 65536, "memory_mb_used": 4608,
            "local_gb": 500, "local_gb_used": 20, "free_ram_mb": 60928, "free_disk_gb": 480,
            "disk_available_least": 470, "current_workload": 0, "running_vms": 1,
            "cpu_info": {"arch": "x86_64", "model": "Cascadelake-Server", "vendor": "Intel",
                         "topology": {"cells": 1, "sockets": 1, "cores": 8, "threads": 2},
                         "features": ["vmx", "avx512f"]},
        }
        self.hypervisors.append(body)
        return body

    # -- Keystone --

    def _token(self, request: Any, context: Any) -> dict[str, Any]:
        roles = ["admin", "member", "reader"] if self.admin else ["member", "reader"]
        catalog = [_service("identity", "keystone", AUTH_URL),
                   _service("compute", "nova", COMPUTE_URL),
                   _service("network", "neutron", NETWORK_URL)]
        return {"token": {
            "methods": ["password"], "audit_ids": ["fake-audit"], "is_domain": False,
            "expires_at": "2099-01-01T00:00:00.000000Z", "issued_at": "2024-05-06T07:08:09.000000Z",
            "user": {"id": USER_ID, "name": "netpath", "password_expires_at": None,
                     "domain": {"id": "default", "name": "Default"}},
            "project": {"id": self.project_id, "name": "demo",
                        "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": fake_id("role", r), "name": r} for r in roles],
            "catalog": catalog,
        }}

    def _projects(self, request: Any, context: Any) -> dict[str, Any]:
        names = parse_qs(urlsplit(request.url).query).get("name")
        return {"links": {"self": f"{AUTH_URL}/projects", "previous": None, "next": None},
                "projects": [{"is_domain": False, "description": "", "enabled": True,
                              "parent_id": p["domain_id"], "tags": [], **p,
                              "links": {"self": f"{AUTH_URL}/projects/{p['id']}"}}
                             for p in self.projects if not names or p["name"] in names]}

    # -- Nova --

    def _nova(self, request: Any, context: Any) -> Any:
        url = urlsplit(request.url)
        path = unquote(url.path).removeprefix(urlsplit(COMPUTE_URL).path)
        query = parse_qs(url.query, keep_blank_values=True)
        version = _microversion(request)
        if version > MAX_MICROVERSION:
            return _fault(context, 406, "computeFault", "Version not supported")
        if path in ("", "/"):
            return _nova_version_doc()
        if path == "/servers/detail":
            return self._nova_servers(context, query)
        if m := re.fullmatch(r"/servers/([^/]+)", path):
            return self._nova_server(context, m.group(1))
        if path == "/os-hypervisors/detail":
            return _paged("hypervisors", self._nova_hypervisors(context, query, version), query)
        if path == "/os-aggregates":
            return {"aggregates": [dict(a) for a in self.aggregates]}
        raise AssertionError(f"fake nova: no route for GET {path}")

    def _nova_server(self, context: Any, server_id: str) -> Any:
        for body in self.servers:
            if body["id"] == server_id and (self.admin or body["tenant_id"] == self.project_id):
                return {"server": self._nova_view(body)}
        return _fault(context, 404, "itemNotFound", f"Instance {server_id} could not be found.")

    def _nova_servers(self, context: Any, query: dict[str, list[str]]) -> Any:
        all_tenants = "all_tenants" in query
        if all_tenants and not self.admin:
            return _fault(context, 403, "forbidden", "Policy doesn't allow "
                          "os_compute_api:servers:detail:get_all_tenants to be performed.")
        found = [s for s in self.servers if all_tenants or s["tenant_id"] == self.project_id]
        if "name" in query:
            found = [s for s in found if re.search(query["name"][-1], s["name"])]
        return {"servers": [self._nova_view(s) for s in found]}

    def _nova_view(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.admin:
            return dict(body)
        return {k: v for k, v in body.items() if not k.startswith("OS-EXT-SRV-ATTR:")}

    def _nova_hypervisors(self, context: Any, query: dict[str, list[str]],
                          version: tuple[int, int]) -> Any:
        if not self.admin:
            return _fault(context, 403, "forbidden", "Policy doesn't allow "
                          "os_compute_api:os-hypervisors:list-detail to be performed.")
        found = self.hypervisors
        pattern = query.get("hypervisor_hostname_pattern", [None])[-1]
        if pattern is not None and version >= (2, 53):
            found = [h for h in found if pattern.lower() in h["hypervisor_hostname"].lower()]
            if not found:
                return _fault(context, 404, "itemNotFound",
                              f"No hypervisor matching '{pattern}' could be found.")
        return {"hypervisors": [_hypervisor_view(h, i, version) for i, h in enumerate(found)]}

    # -- Neutron --

    def _neutron(self, request: Any, context: Any) -> Any:
        url = urlsplit(request.url)
        path = unquote(url.path)
        query = parse_qs(url.query, keep_blank_values=True)
        collections = {"/v2.0/ports": ("ports", self.ports, self._port_view),
                       "/v2.0/networks": ("networks", self.networks, self._network_view),
                       "/v2.0/agents": ("agents", self.agents, self._agent_view),
                       # the routers: those some port names as its device (router:* owners)
                       "/v2.0/routers": ("routers", [
                           {"id": r} for r in sorted({p["device_id"] for p in self.ports
                                                      if "router" in (p.get("device_owner")
                                                                      or "")})],
                           lambda r: r)}
        if path == "/v2.0/segments":  # one per provider segment, ids as Neutron gives them
            nets = set(query.get("network_id", []))
            return {"segments": [
                {"id": fake_id("segment", n["id"], i), "network_id": n["id"],
                 "network_type": s["provider:network_type"],
                 "physical_network": s["provider:physical_network"],
                 "segmentation_id": s["provider:segmentation_id"]}
                for n in self.networks if not nets or n["id"] in nets
                for i, s in enumerate(n.get("segments") or [n]) if "provider:network_type" in s]}
        if path == "/v2.0/floatingips":
            ports = set(query.get("port_id", []))
            return {"floatingips": [f for f in self.floating_ips
                                    if not ports or f["port_id"] in ports]}
        if path.endswith("/l3-agents") and self.agent_schedulers == "ovn":
            return {"agents": [self._agent_view(a) for a in self.agents
                               if a["agent_type"] == "OVN Controller Gateway agent"]}
        if path.endswith("/dhcp-agents") and self.agent_schedulers == "ovn":
            return {"agents": []}
        if path.endswith(("/dhcp-agents", "/l3-agents")) and self.agent_schedulers == "none":
            context.status_code = 404
            return {"NeutronError": {"type": "HTTPNotFound", "detail": "",
                                     "message": "The resource could not be found."}}
        if path.endswith(("/dhcp-agents", "/l3-agents")):
            # which agents host a network / a router: every agent of that binary here
            binary = "neutron-dhcp-agent" if path.endswith("/dhcp-agents") else "neutron-l3-agent"
            return {"agents": [self._agent_view(a) for a in self.agents
                               if a["binary"] == binary and self.admin]}
        if path.startswith("/v2.0/ports/"):  # GET /v2.0/ports/{id}
            body = next((p for p in self.ports if p["id"] == path.rsplit("/", 1)[1]), None)
            shown = self._port_view(body) if body is not None else None
            if shown is None:
                context.status_code = 404
                return {"NeutronError": {"type": "PortNotFound", "detail": "",
                                         "message": f"Port {path.rsplit('/', 1)[1]} could not "
                                                    "be found."}}
            fields = query.get("fields", [])
            return {"port": {k: v for k, v in shown.items() if not fields or k in fields}}
        if path not in collections:
            raise AssertionError(f"fake neutron: no route for GET {path}")
        key, items, view = collections[path]
        fields = query.pop("fields", [])
        paging = {name: query.pop(name) for name in ("limit", "marker") if name in query}
        for name in ("sort_key", "sort_dir", "page_reverse"):
            query.pop(name, None)
        views = [view(i) for i in items if all(_matches(i, k, v) for k, v in query.items())]
        found = [v for v in views if v is not None]
        if fields:  # Neutron pages by id whatever fields= asks for; the marker is an id
            found = [{k: v for k, v in i.items() if k in fields or k == "id" and paging}
                     for i in found]
        return _paged(key, {key: found}, paging)

    def _port_view(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.admin:
            return dict(body)
        if body["project_id"] != self.project_id:
            return None
        hidden = ("binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile")
        return {k: v for k, v in body.items() if k not in hidden}

    def _network_view(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if self.admin:
            return dict(body)
        if body["project_id"] != self.project_id and not body["shared"]:
            return None
        return {k: v for k, v in body.items() if not k.startswith("provider:") and k != "segments"}

    def _agent_view(self, body: dict[str, Any]) -> dict[str, Any] | None:
        return dict(body) if self.admin else None  # get_agent is admin-only


# --- the scenario -----------------------------------------------------------------------------


def scenario(mocker: Any, ports: tuple[str, ...] | list[str] = ("ovs-hybrid-vlan",), *,
             admin: bool = True, status: str = "ACTIVE", name: str = SERVER_NAME,
             host: str = HOST, node: str | None = None, cloud_name: str = "fake-admin",
             noise: bool = True) -> FakeCloud:
    """A whole consistent cloud around one server; see the module docstring."""
    kinds = [PORT_KINDS[k] for k in ports]
    backends = {k.backend for k in kinds}
    if len(backends) > 1:
        raise ValueError(f"one L2 backend per host, got {sorted(backends)}")
    cloud = FakeCloud(mocker, admin=admin, cloud_name=cloud_name)
    cloud.server = cloud.add_server(name, status=status, host=host, node=node)
    state = STATES[status]
    bound_host = host if state.placed else None
    for index, (kind_name, kind) in enumerate(zip(ports, kinds, strict=True), start=1):
        if not state.has_ports:
            break
        segments = tuple((t, p, s + index - 1 if s is not None else None)
                         for t, p, s in kind.segments)
        network = cloud.add_network(f"net-{kind_name}-{index}", segments, mtu=kind.mtu)
        port = cloud.add_port(network, device_id=cloud.server["id"], host=bound_host,
                              vif_type=kind.vif_type, vif_details=dict(kind.vif_details),
                              index=index)
        _add_address(cloud.server, network, port)
    hybrid = any(k.vif_details.get("ovs_hybrid_plug") for k in kinds)
    for backend in sorted(backends) or ["ovs"]:
        _add_l2_agent(cloud, host, backend, hybrid)
    cloud.add_hypervisor(host, HOST_IP, node=node)
    if noise:
        _add_noise(cloud, host)
    return cloud


def from_facts(mocker: Any, facts: list[Any], *, admin: bool = True,
               cloud_name: str = "fake-admin") -> FakeCloud:
    """A cloud whose API answers what recorded CloudFacts say; see the module docstring."""
    cloud = FakeCloud(mocker, admin=admin, cloud_name=cloud_name)
    networks: dict[str, dict[str, Any]] = {}
    for recorded in facts:
        server = _server_from(cloud, recorded.server)
        cloud.server = cloud.server or server
        for net in recorded.networks.values():
            if net.id not in networks:
                networks[net.id] = cloud.add_network(net.name, tuple(
                    (s.network_type, s.physical_network, s.segmentation_id)
                    for s in net.segments), mtu=net.mtu or 1500)
                networks[net.id]["id"] = net.id
        for port in recorded.ports:
            body = cloud.add_port(networks[port.network_id], device_id=server["id"],
                                  host=port.binding_host_id, vif_type=port.binding_vif_type,
                                  vif_details=dict(port.binding_vif_details))
            body.update(id=port.id, mac_address=port.mac_address, status=port.status,
                        fixed_ips=[{"subnet_id": i.subnet_id, "ip_address": i.ip_address}
                                   for i in port.fixed_ips])
            _add_address(server, networks[port.network_id], body)
        for agent in recorded.agents:
            if not any(a["id"] == agent.id for a in cloud.agents):
                cloud.add_agent(agent.host, agent.agent_type, agent.binary or "",
                                dict(agent.configurations))["id"] = agent.id
        for host, host_ip in recorded.host_ips.items():
            if not any(h["service"]["host"] == host for h in cloud.hypervisors):
                node = recorded.server.hypervisor_hostname if host == recorded.server.host else None
                cloud.add_hypervisor(host, host_ip, node=node)
    return cloud


def _server_from(cloud: FakeCloud, server: Any) -> dict[str, Any]:
    body = cloud.add_server(server.name, status=server.status, host=server.host,
                            node=server.hypervisor_hostname, project_id=server.project_id,
                            server_id=server.id)
    body["OS-EXT-SRV-ATTR:instance_name"] = server.instance_name
    if server.project_id:
        cloud.project_id = server.project_id  # the token's project, as when it was recorded
    return body


def _add_address(server: dict[str, Any], network: dict[str, Any], port: dict[str, Any]) -> None:
    server["addresses"].setdefault(network["name"], []).append({
        "OS-EXT-IPS-MAC:mac_addr": port["mac_address"], "OS-EXT-IPS:type": "fixed",
        "addr": port["fixed_ips"][0]["ip_address"], "version": 4,
    })


def ovs_agent_config(host: str, tunneling_ip: str, *, hybrid: bool = False) -> dict[str, Any]:
    """configurations of a neutron-openvswitch-agent, as GET /v2.0/agents reports them."""
    return {
        "arp_responder_enabled": False, "baremetal_smartnic": False,
        "bridge_mappings": dict(BRIDGE_MAPPINGS), "datapath_type": "system", "devices": 2,
        "enable_distributed_routing": False, "extensions": [], "in_distributed_mode": False,
        "integration_bridge": "br-int", "l2_population": False, "log_agent_heartbeats": False,
        "ovs_capabilities": {"datapath_types": ["netdev", "system"],
                             "iface_types": ["geneve", "gre", "internal", "patch", "system",
                                             "tap", "vxlan"]},
        "ovs_hybrid_plug": hybrid, "resource_provider_bandwidths": {},
        "resource_provider_hypervisors": {b: host for b in BRIDGE_MAPPINGS.values()},
        "resource_provider_inventory_defaults": {"allocation_ratio": 1.0, "min_unit": 1,
                                                 "reserved": 0, "step_size": 1},
        "tunnel_types": ["vxlan"], "tunneling_ip": tunneling_ip,
        "vhostuser_socket_dir": "/var/run/openvswitch",
    }


def _add_l2_agent(cloud: FakeCloud, host: str, backend: str, hybrid: bool) -> None:
    if backend == "ovs":
        cloud.add_agent(host, "Open vSwitch agent", "neutron-openvswitch-agent",
                        ovs_agent_config(host, TUNNEL_IP, hybrid=hybrid))
    elif backend == "ovn":
        mappings = ",".join(f"{k}:{v}" for k, v in BRIDGE_MAPPINGS.items())
        cloud.add_agent(host, "OVN Controller agent", "ovn-controller",
                        {"chassis_name": fake_id("chassis", host), "bridge-mappings": mappings})
        cloud.add_agent(host, "OVN Metadata agent", "neutron-ovn-metadata-agent",
                        {"chassis_name": fake_id("chassis", host), "bridge-mappings": mappings})
    else:
        cloud.add_agent(host, "Linux bridge agent", "neutron-linuxbridge-agent", {
            "bridge_mappings": {}, "devices": 1, "extensions": [],
            "interface_mappings": {"physnet1": "eth1"}, "l2_population": False,
            "tunnel_types": ["vxlan"], "tunneling_ip": TUNNEL_IP})


def _add_noise(cloud: FakeCloud, host: str) -> None:
    lookalike = cloud.add_server(f"{cloud.server['name']}0", host=f"{host}0",
                                 project_id=OTHER_PROJECT_ID)  # web-10 on compute-10
    cloud.add_hypervisor(f"{host}0", "192.0.2.20")
    cloud.add_agent(f"{host}0", "Open vSwitch agent", "neutron-openvswitch-agent",
                    ovs_agent_config(f"{host}0", "198.51.100.20"))
    cloud.add_agent(host, "L3 agent", "neutron-l3-agent", {
        "agent_mode": "dvr", "ex_gw_ports": 0, "floating_ips": 0, "gateway_external_network_id": "",
        "handle_internal_only_routers": True, "interface_driver": "openvswitch",
        "interfaces": 0, "log_agent_heartbeats": False, "routers": 0})
    cloud.add_agent(NETWORK_HOST, "Open vSwitch agent", "neutron-openvswitch-agent",
                    ovs_agent_config(NETWORK_HOST, "198.51.100.2"))
    cloud.add_agent(NETWORK_HOST, "DHCP agent", "neutron-dhcp-agent", {
        "dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq", "dhcp_lease_duration": 86400,
        "log_agent_heartbeats": False, "networks": 1, "ports": 2, "subnets": 1})
    mine = [n for n in cloud.networks if n["project_id"] == cloud.project_id]
    if mine:
        network = mine[0]
        cloud.add_port(network, device_id=f"dhcp{fake_id('dhcp')}-{network['id']}",
                       host=NETWORK_HOST, device_owner="network:dhcp",
                       vif_details={"ovs_hybrid_plug": False, "bridge_name": "br-int"})
        cloud.add_port(network, device_id=lookalike["id"], host=f"{host}0",
                       vif_details={"ovs_hybrid_plug": False, "bridge_name": "br-int"})


# --- helpers ----------------------------------------------------------------------------------


def _service(service_type: str, name: str, url: str) -> dict[str, Any]:
    return {"id": fake_id("service", name), "type": service_type, "name": name, "endpoints": [
        {"id": fake_id("endpoint", name, i), "interface": i, "region": REGION,
         "region_id": REGION, "url": url} for i in ("public", "internal", "admin")]}


def _microversion(request: Any) -> tuple[int, int]:
    header = (request.headers.get("OpenStack-API-Version", "").removeprefix("compute ").strip()
              or request.headers.get("X-OpenStack-Nova-API-Version", "2.1"))
    if header == "latest":
        return MAX_MICROVERSION
    major, minor = header.split(".")
    return int(major), int(minor)


def _nova_version_doc() -> dict[str, Any]:
    return {"version": {
        "id": "v2.1", "status": "CURRENT", "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
        "version": "{}.{}".format(*MAX_MICROVERSION),
        "links": [{"rel": "self", "href": f"{COMPUTE_URL}/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }}


_SLIMMED_AT_2_88 = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
                    "local_gb_used", "free_ram_mb", "free_disk_gb", "disk_available_least",
                    "current_workload", "running_vms", "cpu_info")


def _hypervisor_view(body: dict[str, Any], index: int, version: tuple[int, int]) -> dict[str, Any]:
    view = dict(body, service=dict(body["service"]))
    if version < (2, 53):  # integer ids before 2.53
        view["id"] = index + 1
        view["service"]["id"] = index + 6
    if version >= (2, 88):
        for key in _SLIMMED_AT_2_88:
            view.pop(key, None)
    return view


def _paged(key: str, body: Any, query: dict[str, list[str]]) -> Any:
    """Neutron's and Nova's marker paging: ``limit`` items after ``marker`` (an id), and a
    ``<key>_links`` next link while more remain. Without ``limit``: everything, as before."""
    if "limit" not in query or not isinstance(body, dict) or key not in body:
        return body
    items, limit = body[key], int(query["limit"][-1])
    marker = query.get("marker", [None])[-1]
    start = next((i + 1 for i, item in enumerate(items) if item.get("id") == marker), 0)
    page = items[start:start + limit]
    out = {key: page}
    if start + limit < len(items):
        out[f"{key}_links"] = [{"rel": "next", "href": f"?limit={limit}&marker={page[-1]['id']}"}]
    return out


def _matches(item: dict[str, Any], key: str, values: list[str]) -> bool:
    value = item.get(key)
    if isinstance(value, bool):
        return str(value).lower() in (v.lower() for v in values)
    return value is not None and str(value) in values


def _fault(context: Any, status: int, name: str, message: str) -> dict[str, Any]:
    context.status_code = status
    return {name: {"code": status, "message": message}}
