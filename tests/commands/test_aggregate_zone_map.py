"""`openstack aggregate zone-map` through cliff, with requests-mock behind a real openstacksdk.

The fake cloud answers like Keystone v3, Nova (aggregates 2.41+, services 2.53+, flavors with
inline extra_specs from 2.61, hypervisors 2.53+, a 406 above its maximum microversion, admin-only
policies) and Placement (``required=`` from 1.18), with bodies shaped as in the API references.
Every request is recorded, so the tests pin the exact request count.
"""
from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests_mock
from osc_lib import exceptions
from osc_lib.test import fakes as osc_fakes

from osc_netpath.commands.aggregate import ZoneMapAggregate
from tests.commands import fakes

AUTH_URL = "https://keystone.example/v3"
COMPUTE_URL = "https://nova.example/v2.1"
PLACEMENT_URL = "https://placement.example"  # versionless, as Placement is registered
IMAGE_URL = "https://glance.example"  # versionless, as Glance is registered
REGION = "RegionOne"
JSON = {"Content-Type": "application/json"}
TIMESTAMP = "2024-05-06T07:08:09.000000"
DEMO_ID = "9c1e2b5f0a7d4e6f8a3b2c1d0e9f8a7b"
OTHER_ID = "3f2e1d0c9b8a4f7e6d5c4b3a2f1e0d9c"
_NS = uuid.UUID("6a1f1d5e-2c3b-4a5d-9e8f-7a6b5c4d3e2f")


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NS, "/".join(map(str, parts))))


def _fault(context: Any, code: int, kind: str, message: str) -> dict[str, Any]:
    context.status_code = code
    return {kind: {"code": code, "message": message}}


def _microversion(request: Any, service: str, default: tuple[int, int]) -> tuple[int, int]:
    header = request.headers.get("OpenStack-API-Version", "")
    if header.startswith(service + " "):
        major, minor = header.split()[1].split(".")
        return (int(major), int(minor))
    return default


class FakeCloud:
    """Keystone + Nova + Placement, holding API-shaped dicts the tests may edit."""

    def __init__(self, mocker: Any, *, admin: bool = True,
                 max_microversion: tuple[int, int] = (2, 96), page_size: int = 1000) -> None:
        self.mocker = mocker
        self.admin = admin
        self.max_microversion = max_microversion
        self.page_size = page_size  # Nova's [api] max_limit
        self.aggregates: list[dict[str, Any]] = []
        self.services: list[dict[str, Any]] = []
        self.flavors: list[dict[str, Any]] = []
        self.hypervisors: list[dict[str, Any]] = []
        # with "traits", "host", "inventories", "usages": not in the API view
        self.providers: list[dict[str, Any]] = []
        # (aggregate uuid, host) pairs Nova lists but Placement's mirror lacks (a broken sync)
        self.unmirrored: set[tuple[str, str]] = set()
        self.projects = [
            {"id": DEMO_ID, "name": "demo", "domain_id": "default"},
            {"id": OTHER_ID, "name": "other", "domain_id": "default"},
        ]
        mocker.post(f"{AUTH_URL}/auth/tokens", json=self._token, status_code=201,
                    headers={"X-Subject-Token": "fake-token", **JSON})
        mocker.get(re.compile(f"^{re.escape(AUTH_URL)}/projects"), json=self._projects,
                   headers=JSON)
        mocker.get(re.compile(f"^{re.escape(COMPUTE_URL)}"), json=self._nova, headers=JSON)
        mocker.get(re.compile(f"^{re.escape(PLACEMENT_URL)}/"), json=self._placement,
                   headers=JSON)
        mocker.get(re.compile(f"^{re.escape(IMAGE_URL)}"), json=self._glance, headers=JSON)
        self.images: list[dict[str, Any]] = []

    # -- client side --

    def connection(self) -> Any:
        from openstack import connection
        from openstack.config import loader

        auth = {"auth_url": AUTH_URL, "username": "admin", "password": "secret",
                "project_name": "admin", "user_domain_id": "default",
                "project_domain_id": "default"}
        config = loader.OpenStackConfig(load_yaml_config=False, load_envvars=False)
        config.cloud_config["clouds"]["fake"] = {
            "auth_type": "v3password", "auth": auth, "region_name": REGION}
        return connection.Connection(config=config.get_one(cloud="fake"))

    def calls(self) -> list[str]:
        """Every request as 'METHOD service path?query' (Nova paths without /v2.1)."""
        out = []
        for req in self.mocker.request_history:
            url = urlsplit(req.url)
            path = unquote(url.path)
            if url.netloc == urlsplit(COMPUTE_URL).netloc:
                path = path.removeprefix(urlsplit(COMPUTE_URL).path) or "/"
            query = f"?{unquote(url.query)}" if url.query else ""
            out.append(f"{req.method} {url.netloc.split('.')[0]} {path}{query}")
        return out

    # -- builders (API reference shapes) --

    def add_aggregate(self, name: str, hosts: list[str], **metadata: str) -> dict[str, Any]:
        body = {
            "availability_zone": metadata.get("availability_zone"),
            "created_at": TIMESTAMP, "deleted": False, "deleted_at": None,
            "hosts": list(hosts), "id": len(self.aggregates) + 1, "metadata": dict(metadata),
            "name": name, "updated_at": None, "uuid": _uuid("aggregate", name),
        }
        self.aggregates.append(body)
        return body

    def add_compute(self, host: str, *, status: str = "enabled", state: str = "up",
                    reason: str | None = None, traits: tuple[str, ...] = ()) -> None:
        node = _uuid("node", host)
        self.services.append({
            "id": _uuid("service", host), "binary": "nova-compute", "disabled_reason": reason,
            "host": host, "state": state, "status": status, "updated_at": TIMESTAMP,
            "forced_down": False, "zone": "nova",
        })
        self.hypervisors.append({
            "cpu_info": "{}", "current_workload": 0, "status": status, "state": state,
            "disk_available_least": 0, "host_ip": "192.0.2.1", "free_disk_gb": 100,
            "free_ram_mb": 8192, "hypervisor_hostname": f"{host}.example",
            "hypervisor_type": "QEMU", "hypervisor_version": 8002000, "id": node,
            "local_gb": 100, "local_gb_used": 0, "memory_mb": 8192, "memory_mb_used": 0,
            "running_vms": 0, "service": {"host": host, "id": _uuid("service", host),
                                          "disabled_reason": reason},
            "vcpus": 8, "vcpus_used": 0,
        })
        if status == "disabled":  # what nova-compute sets on a disabled service's node
            traits = (*traits, "COMPUTE_STATUS_DISABLED")
        self.providers.append({"uuid": node, "name": f"{host}.example", "generation": 1,
                               "parent_provider_uuid": None, "root_provider_uuid": node,
                               "traits": list(traits), "host": host,
                               "inventories": {
                                   "VCPU": {"total": 8, "reserved": 0, "allocation_ratio": 4.0,
                                            "max_unit": 8},
                                   "MEMORY_MB": {"total": 8192, "reserved": 512,
                                                 "allocation_ratio": 1.0, "max_unit": 8192},
                                   "DISK_GB": {"total": 100, "reserved": 0,
                                               "allocation_ratio": 1.0, "max_unit": 100}},
                               "usages": {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}})

    def add_flavor(self, name: str, flavor_id: str | None = None, **extra_specs: str) -> None:
        flavor_id = flavor_id or str(len(self.flavors) + 1)
        self.flavors.append({
            "OS-FLV-DISABLED:disabled": False, "disk": 1, "OS-FLV-EXT-DATA:ephemeral": 0,
            "os-flavor-access:is_public": True, "id": flavor_id,
            "links": [{"href": f"{COMPUTE_URL}/flavors/{flavor_id}", "rel": "self"},
                      {"href": f"https://nova.example/flavors/{flavor_id}", "rel": "bookmark"}],
            "name": name, "ram": 512, "swap": "", "vcpus": 1, "rxtx_factor": 1.0,
            "description": None, "extra_specs": dict(extra_specs),
        })

    # -- Keystone --

    def _token(self, request: Any, context: Any) -> dict[str, Any]:
        def service(kind: str, name: str, url: str) -> dict[str, Any]:
            return {"type": kind, "name": name, "id": _uuid("svc", kind), "endpoints": [
                {"id": _uuid("ep", kind), "interface": "public", "region": REGION,
                 "region_id": REGION, "url": url}]}

        roles = ["admin", "member", "reader"] if self.admin else ["member", "reader"]
        return {"token": {
            "methods": ["password"], "audit_ids": ["a"], "is_domain": False,
            "expires_at": "2099-01-01T00:00:00.000000Z", "issued_at": "2024-05-06T07:08:09Z",
            "user": {"id": _uuid("user"), "name": "admin", "password_expires_at": None,
                     "domain": {"id": "default", "name": "Default"}},
            "project": {"id": _uuid("project", "admin"), "name": "admin",
                        "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": _uuid("role", r), "name": r} for r in roles],
            "catalog": [service("identity", "keystone", AUTH_URL),
                        service("compute", "nova", COMPUTE_URL),
                        service("placement", "placement", PLACEMENT_URL),
                        service("image", "glance", IMAGE_URL)],
        }}

    def _projects(self, request: Any, context: Any) -> dict[str, Any]:
        query = parse_qs(urlsplit(request.url).query)
        found = [p for p in self.projects if p["name"] in query.get("name", [p["name"]])]
        return {"links": {"self": f"{AUTH_URL}/projects", "previous": None, "next": None},
                "projects": [{"is_domain": False, "description": "", "enabled": True,
                              "links": {"self": f"{AUTH_URL}/projects/{p['id']}"},
                              "parent_id": p["domain_id"], "tags": [], **p} for p in found]}

    # -- Nova --

    def _nova(self, request: Any, context: Any) -> Any:
        url = urlsplit(request.url)
        path = unquote(url.path).removeprefix(urlsplit(COMPUTE_URL).path)
        query = parse_qs(url.query, keep_blank_values=True)
        version = _microversion(request, "compute", (2, 1))
        if version > self.max_microversion:
            return _fault(context, 406, "computeFault",
                          f"Version {version[0]}.{version[1]} is not supported by the API.")
        if path in ("", "/"):
            return {"version": {
                "id": "v2.1", "status": "CURRENT", "updated": "2013-07-23T11:33:21Z",
                "version": "{}.{}".format(*self.max_microversion), "min_version": "2.1",
                "links": [{"rel": "self", "href": f"{COMPUTE_URL}/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}}
        admin_only = {"/os-aggregates": "os_compute_api:os-aggregates:index",
                      "/os-services": "os_compute_api:os-services:list",
                      "/os-hypervisors/detail": "os_compute_api:os-hypervisors:list-detail"}
        if path in admin_only and not self.admin:
            return _fault(context, 403, "forbidden",
                          f"Policy doesn't allow {admin_only[path]} to be performed.")
        if path == "/os-aggregates":
            return {"aggregates": self.aggregates}
        if path == "/os-services":
            binary = query.get("binary", [None])[-1]
            return {"services": [s for s in self.services if binary in (None, s["binary"])]}
        if path == "/flavors/detail":
            return self._nova_flavors(query, version)
        if m := re.fullmatch(r"/flavors/([^/]+)/os-extra_specs", path):
            flavor = next(f for f in self.flavors if f["id"] == m.group(1))
            return {"extra_specs": flavor["extra_specs"]}
        if path == "/os-hypervisors/detail":
            return {"hypervisors": self.hypervisors}
        raise AssertionError(f"fake nova: no route for GET {path}")

    def _nova_flavors(self, query: dict[str, list[str]], version: tuple[int, int]) -> Any:
        public = query.get("is_public", ["True"])[-1]
        found = [f for f in self.flavors
                 if public == "None" or f["os-flavor-access:is_public"]]
        marker = query.get("marker", [None])[-1]
        if marker is not None:
            ids = [f["id"] for f in found]
            found = found[ids.index(marker) + 1:]
        limit = min(int(query.get("limit", [self.page_size])[-1]), self.page_size)
        page = found[:limit]
        views = [f if version >= (2, 61) else {k: v for k, v in f.items() if k != "extra_specs"}
                 for f in page]
        body: dict[str, Any] = {"flavors": views}
        if len(page) == limit and len(found) > limit:
            body["flavors_links"] = [{"rel": "next", "href": (
                f"{COMPUTE_URL}/flavors/detail?is_public={public}&limit={limit}"
                f"&marker={page[-1]['id']}")}]
        return body

    # -- Glance (image properties are top-level keys of the image) --

    def add_image(self, name: str, disk_format: str = "qcow2", **properties: str) -> None:
        self.images.append({
            "id": _uuid("image", name), "name": name, "status": "active",
            "disk_format": disk_format, "container_format": "bare", "visibility": "public",
            "protected": False, "min_disk": 0, "min_ram": 0, "size": 1024, "tags": [],
            "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "owner": _uuid("project", "admin"),
            "self": f"/v2/images/{_uuid('image', name)}", "file": "", "schema": "/v2/schemas/image",
            **properties})

    def _glance(self, request: Any, context: Any) -> Any:
        url = urlsplit(request.url)
        path = unquote(url.path)
        if path in ("", "/"):
            return {"versions": [{"id": "v2.16", "status": "CURRENT", "links": [
                {"rel": "self", "href": f"{IMAGE_URL}/v2/"}]}]}
        if m := re.fullmatch(r"/v2/images/([^/]+)", path):
            found = [i for i in self.images if i["id"] == m.group(1)]
            if not found:
                context.status_code = 404
                return {"message": "No image found", "code": "404 Not Found"}
            return found[0]
        if path == "/v2/images":
            names = parse_qs(url.query).get("name")
            return {"images": [i for i in self.images if not names or i["name"] in names],
                    "schema": "/v2/schemas/images", "first": "/v2/images"}
        raise AssertionError(f"fake glance: no route for GET {path}")

    # -- Placement --

    def _placement(self, request: Any, context: Any) -> Any:
        url = urlsplit(request.url)
        path = unquote(url.path)
        query = parse_qs(url.query)
        if path in ("", "/"):
            return {"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0",
                                  "status": "CURRENT", "links": [{"rel": "self", "href": ""}]}]}
        if path == "/resource_providers":
            version = _microversion(request, "placement", (1, 0))
            if "required" in query and version < (1, 18):
                context.status_code = 400
                return {"errors": [{"status": 400, "title": "Bad Request",
                                    "detail": "Invalid query string parameters"}]}
            required = set(query.get("required", [""])[-1].split(",")) - {""}
            found = [rp for rp in self.providers if required <= set(rp["traits"])]
            for member_of in query.get("member_of", []):
                found = [rp for rp in found if self._member(rp, member_of)]
            return {"resource_providers": [
                {k: v for k, v in rp.items() if k in _RP_VIEW} | {"links": []}
                for rp in found]}
        if path == "/allocation_candidates":
            return self._candidates(request, context, query)
        raise AssertionError(f"fake placement: no route for GET {path}")

    def provider(self, host: str) -> dict[str, Any]:
        return next(rp for rp in self.providers if rp["host"] == host)

    def _aggregates_of(self, rp: dict[str, Any]) -> set[str]:
        """Placement's aggregates of a provider: Nova's mirror, less the broken pairs."""
        return {a["uuid"] for a in self.aggregates if rp["host"] in a["hosts"]
                and (a["uuid"], rp["host"]) not in self.unmirrored}

    def _member(self, rp: dict[str, Any], value: str) -> bool:
        negate = value.startswith("!")
        value = value.removeprefix("!").removeprefix("in:")
        hit = bool(set(value.split(",")) & self._aggregates_of(rp))
        return not hit if negate else hit

    def _candidates(self, request: Any, context: Any, query: dict[str, list[str]]) -> Any:
        """GET /allocation_candidates for root-only providers (no nesting, no sharing)."""
        if _microversion(request, "placement", (1, 0)) < (1, 36):
            raise AssertionError("fake placement: zone-map should ask at 1.36")
        assert not [k for k in query if k[len("resources"):] and k.startswith("resources")], \
            "fake placement: granular groups are not faked"
        wanted = {rc: int(n) for rc, n in (i.split(":") for i in query["resources"][-1].split(","))}
        traits = [t for t in query.get("required", [""])[-1].split(",") if t]
        root = [t for t in query.get("root_required", [""])[-1].split(",") if t]
        requests, summaries = [], {}
        for rp in self.providers:
            have = set(rp["traits"])
            if not all((t[1:] not in have) if t.startswith("!") else (t in have)
                       for t in traits + root):
                continue
            if not all(self._member(rp, m) for m in query.get("member_of", [])):
                continue
            fits = True
            for rc, n in wanted.items():
                inv = rp["inventories"].get(rc)
                if inv is None or n > inv["max_unit"] or rp["usages"].get(rc, 0) + n > int(
                        (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]):
                    fits = False
            if not fits:
                continue
            requests.append({"allocations": {rp["uuid"]: {"resources": wanted}},
                             "mappings": {"": [rp["uuid"]]}})
            summaries[rp["uuid"]] = {
                "resources": {rc: {"capacity": int((inv["total"] - inv["reserved"])
                                                   * inv["allocation_ratio"]),
                                   "used": rp["usages"].get(rc, 0)}
                              for rc, inv in rp["inventories"].items()},
                "traits": sorted(rp["traits"]), "parent_provider_uuid": None,
                "root_provider_uuid": rp["uuid"]}
        return {"allocation_requests": requests, "provider_summaries": summaries}


_RP_VIEW = ("uuid", "name", "generation", "parent_provider_uuid", "root_provider_uuid")


def standard(cloud: FakeCloud) -> FakeCloud:
    """az1 = {c1, c2 (ssd)}, az2 = {c3 (gpu, disabled)}, nova = {c4 (tenant demo)}."""
    cloud.add_aggregate("agg-az1", ["c1", "c2"], availability_zone="az1")
    cloud.add_aggregate("agg-ssd", ["c2"], ssd="true")
    cloud.add_aggregate("agg-az2", ["c3"], availability_zone="az2", gpu="a100")
    cloud.add_aggregate("agg-demo", ["c4"], filter_tenant_id=DEMO_ID)
    cloud.add_compute("c1")
    cloud.add_compute("c2")
    cloud.add_compute("c3", status="disabled", reason="maintenance", traits=("CUSTOM_GPU",))
    cloud.add_compute("c4")
    cloud.add_flavor("m1.small")
    cloud.add_flavor("m1.ssd", **{"aggregate_instance_extra_specs:ssd": "true"})
    cloud.add_flavor("m1.gpu", gpu="a100", **{"trait:CUSTOM_GPU": "required"})
    return cloud


class Run:
    def __init__(self, rc: int, stdout: str, stderr: str) -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(cloud: FakeCloud, *args: str, netpath: dict[str, Any] | None = None) -> Run:
    stdout, stderr = io.StringIO(), io.StringIO()
    app = osc_fakes.FakeApp(stdout, osc_fakes.FakeLog())  # type: ignore[arg-type]
    app.stderr = stderr  # type: ignore[assignment]
    app.client_manager = osc_fakes.FakeClientManager()
    if netpath is not None:  # the cloud profile's clouds.yaml netpath: section
        profile = app.client_manager.get_configuration()
        app.client_manager.get_configuration = lambda: {**profile, "netpath": netpath}
    app.client_manager.sdk_connection = cloud.connection()
    cmd = ZoneMapAggregate(app, None)  # type: ignore[arg-type]
    parsed = cmd.get_parser("openstack aggregate zone-map").parse_args(list(args))
    rc = cmd.run(parsed)
    return Run(rc, stdout.getvalue(), stderr.getvalue())


@pytest.fixture
def cloud() -> Any:
    with requests_mock.Mocker() as mocker:
        yield standard(FakeCloud(mocker))


BASE_CALLS = [
    "POST keystone /v3/auth/tokens",
    "GET nova /",  # version discovery: the microversion
    "GET nova /os-aggregates",
    "GET nova /os-services?binary=nova-compute",
    "GET nova /flavors/detail?is_public=None",
]


def test_default_tree_view(cloud: FakeCloud) -> None:
    out = run(cloud)
    assert out.rc == 0
    lines = out.stdout.splitlines()
    assert lines[0].startswith("applied: disabled computes out (compute_status_filter); "
                               "ComputeFilter (down computes out); "
                               "AggregateInstanceExtraSpecsFilter; AggregateMultiTenancyIsolation")
    table = [line for line in lines if line.startswith("|")]
    cells = [[c.rstrip() for c in line.strip("|").split("|")] for line in table]
    assert [c[0] for c in cells] == [
        " Zone / Aggregate / Host", " az1", "   agg-az1", "     c1", "     c2", "   agg-ssd",
        "     c2", " az2", "   agg-az2", "     c3", " nova (default zone)", "   agg-demo",
        "     c4"]
    c3 = cells[9]
    assert [c.strip() for c in c3[2:]] == ["disabled", "up", "maintenance"]
    assert cells[7][2].strip() == "not available"  # az2: its only compute is disabled
    assert "warning: [compute-unavailable] nova-compute on c3 in zone az2 is disabled " \
           "(maintenance)" in out.stderr


def test_json_is_flat_and_pure(cloud: FakeCloud) -> None:
    out = run(cloud, "-f", "json")
    rows = out.json()  # stdout is only the JSON document
    assert rows[0] == {
        "Zone": "az1", "Zone Available": True, "Aggregate": "agg-az1",
        "Metadata": {"availability_zone": "az1"}, "Host": "c1", "Status": "enabled",
        "State": "up", "Disabled Reason": None}
    assert [(r["Zone"], r["Aggregate"], r["Host"]) for r in rows] == [
        ("az1", "agg-az1", "c1"), ("az1", "agg-az1", "c2"), ("az1", "agg-ssd", "c2"),
        ("az2", "agg-az2", "c3"), ("nova", "agg-demo", "c4")]
    assert out.stderr.startswith("applied: ")  # the notes went to stderr


def test_request_count_is_fixed(cloud: FakeCloud) -> None:
    run(cloud, "-f", "json")
    assert cloud.calls() == BASE_CALLS


def test_request_count_does_not_grow_with_hosts_and_flavors() -> None:
    with requests_mock.Mocker() as mocker:
        big = standard(FakeCloud(mocker))
        for i in range(60):
            big.add_compute(f"x{i}")
            big.add_aggregate(f"agg-x{i}", [f"x{i}"], availability_zone=f"z{i % 7}")
            big.add_flavor(f"f{i}", **{"aggregate_instance_extra_specs:rack": f"r{i}"})
        run(big, "-f", "json", "--no-placement", "--flavor", "m1.ssd", "--project", "demo")
        assert big.calls() == BASE_CALLS + ["GET keystone /v3/projects?name=demo"]


def test_flavor_pages_are_followed() -> None:
    with requests_mock.Mocker() as mocker:
        cloud = standard(FakeCloud(mocker, page_size=2))
        out = run(cloud, "-f", "json", "--flavor", "m1.gpu", "--filters", "none")
        assert out.rc == 0
        assert cloud.calls()[4:6] == [
            "GET nova /flavors/detail?is_public=None",
            "GET nova /flavors/detail?is_public=None&limit=2&marker=2"]


def test_flavor_verdicts(cloud: FakeCloud) -> None:
    out = run(cloud, "-f", "json", "--no-placement", "--flavor", "m1.ssd")
    verdicts = {(r["Aggregate"], r["Host"]): (r["Lands"], r["Why"]) for r in out.json()}
    assert verdicts[("agg-ssd", "c2")] == ("yes", [])
    assert verdicts[("agg-az1", "c1")] == (
        "no", ["aggregate_instance_extra_specs:ssd: no aggregate of the host sets 'ssd'"])
    assert verdicts[("agg-demo", "c4")][0] == "no"
    assert "flavor m1.ssd lands on c2" in out.stderr
    assert cloud.calls() == BASE_CALLS  # the flavor came with the list: no extra request


def test_flavor_with_project_by_name_and_zone(cloud: FakeCloud) -> None:
    cloud.add_flavor("m1.plain")
    out = run(cloud, "-f", "json", "--no-placement", "--flavor", "m1.plain", "--project", "other", "--zone",
              "nova")
    rows = out.json()
    # no aggregate carries zone 'nova': Nova does not restrict the request, all hosts shown
    assert {r["Host"]: r["Lands"] for r in rows} == {
        "c1": "yes", "c2": "yes", "c3": "no", "c4": "no"}
    c4 = next(r for r in rows if r["Host"] == "c4")
    assert c4["Why"] == [
        f"project {OTHER_ID} is not in filter_tenant_id* of agg-demo ({DEMO_ID})"]
    assert "Nova does not restrict a request for zone 'nova'" in out.stderr
    assert cloud.calls() == BASE_CALLS + ["GET keystone /v3/projects?name=other"]


def test_project_id_needs_no_lookup(cloud: FakeCloud) -> None:
    out = run(cloud, "-f", "json", "--no-placement", "--flavor", "m1.small", "--project", DEMO_ID)
    assert {r["Host"]: r["Lands"] for r in out.json()}["c4"] == "yes"
    assert cloud.calls() == BASE_CALLS


def test_required_traits_ask_placement_once(cloud: FakeCloud) -> None:
    cloud.services[2].update(status="enabled", disabled_reason=None)  # c3 back in service
    out = run(cloud, "-f", "json", "--no-placement", "--flavor", "m1.gpu")
    assert {r["Host"]: r["Lands"] for r in out.json()} == {
        "c1": "no", "c2": "no", "c3": "yes", "c4": "no"}
    assert cloud.calls() == BASE_CALLS + [
        "GET placement /",  # placement version discovery
        "GET nova /os-hypervisors/detail",
        "GET placement /resource_providers?required=CUSTOM_GPU",
    ]


def test_trait_missing_in_placement_is_the_reason(cloud: FakeCloud) -> None:
    cloud.services[2].update(status="enabled", disabled_reason=None)
    cloud.providers[2]["traits"] = []
    out = run(cloud, "-f", "json", "--no-placement", "--flavor", "m1.gpu", "--strict")
    c3 = next(r for r in out.json() if r["Host"] == "c3")
    assert c3["Lands"] == "no"
    assert c3["Why"] == ["placement: no resource provider of the host has trait CUSTOM_GPU"]
    assert "warning: [flavor-lands-nowhere] flavor m1.gpu lands on no enabled, up host" in \
        out.stderr
    assert out.rc == 1


def test_disabled_host_is_named_when_the_flavor_lands_nowhere(cloud: FakeCloud) -> None:
    out = run(cloud, "--flavor", "m1.gpu", "--strict", "--filters",
              "AggregateInstanceExtraSpecsFilter")
    assert out.rc == 1
    assert ("flavor m1.gpu lands on no enabled, up host (NoValidHost); it would match c3 if "
            "their nova-compute were enabled and up") in out.stdout
    assert "not applied: AggregateMultiTenancyIsolation" in out.stdout


def test_strict_without_findings_exits_zero() -> None:
    with requests_mock.Mocker() as mocker:
        cloud = FakeCloud(mocker)
        cloud.add_aggregate("agg-az1", ["c1"], availability_zone="az1")
        cloud.add_compute("c1")
        cloud.add_flavor("m1.small")
        out = run(cloud, "--strict")
        assert (out.rc, out.stderr) == (0, "")


def test_tree_with_flavor_has_lands_columns(cloud: FakeCloud) -> None:
    out = run(cloud, "--flavor", "m1.ssd", "--zone", "az1")
    header = next(line for line in out.stdout.splitlines() if "Zone / Aggregate / Host" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "Zone / Aggregate / Host", "Metadata", "Status", "State", "Disabled Reason", "Lands",
        "Why", "Fits", "Runs Out First"]
    assert "az2" not in out.stdout.split("flavor m1.ssd in zone az1 lands on c2")[1]


def test_columns_option_gives_flat_rows(cloud: FakeCloud) -> None:
    out = run(cloud, "-c", "Host", "-c", "Zone", "-f", "value")
    assert out.stdout.splitlines() == ["az1 c1", "az1 c2", "az1 c2", "az2 c3", "nova c4"]


def test_columns_option_in_a_table_is_flat_too(cloud: FakeCloud) -> None:
    out = run(cloud, "-c", "Zone", "-c", "Host")
    table = [line for line in out.stdout.splitlines() if line.startswith("|")]
    assert [line.split("|")[1:3] for line in table][:2] == [
        [" Zone ", " Host "], [" az1  ", " c1   "]]


def test_tree_option_with_json(cloud: FakeCloud) -> None:
    rows = run(cloud, "-f", "json", "--tree").json()
    assert rows[1]["Zone / Aggregate / Host"] == "  agg-az1"


def test_sort_column_is_ignored_for_the_tree(cloud: FakeCloud) -> None:
    out = run(cloud, "--sort-column", "Status")
    first = [line for line in out.stdout.splitlines() if line.startswith("|")][1]
    assert "az1" in first


def test_old_compute_api_reads_the_one_flavor_extra_specs() -> None:
    with requests_mock.Mocker() as mocker:
        cloud = standard(FakeCloud(mocker, max_microversion=(2, 60)))
        out = run(cloud, "-f", "json", "--no-placement", "--flavor", "m1.ssd")
        assert {r["Host"]: r["Lands"] for r in out.json()}["c2"] == "yes"
        assert cloud.calls() == BASE_CALLS + ["GET nova /flavors/2/os-extra_specs"]
        assert "microversion 2.60 < 2.61" in out.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--no-placement", "--flavor", "m9"], "no flavor with name or ID 'm9'"),
    (["--zone", "az9"], "no availability zone 'az9' (known: az1, az2, nova)"),
    (["--filters", "RamFilter"], "unknown or unsupported filter RamFilter"),
    (["--project", "nobody"], "no project named 'nobody': pass the project ID"),
])
def test_bad_input_is_a_command_error(cloud: FakeCloud, args: list[str], message: str) -> None:
    with pytest.raises(exceptions.CommandError) as err:
        run(cloud, *args)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_non_admin_gets_a_clear_error() -> None:
    with requests_mock.Mocker() as mocker:
        cloud = standard(FakeCloud(mocker, admin=False))
        with pytest.raises(exceptions.CommandError) as err:
            run(cloud)
        assert str(err.value) == (
            "cannot list host aggregates: Nova answered HTTP 403 to GET /v2.1/os-aggregates "
            "(Policy doesn't allow os_compute_api:os-aggregates:index to be performed.): "
            "forbidden by policy (os-aggregates is admin-only by default): use an admin cloud "
            "profile")


# -- every API call says what it answered: status, request, the service's own message ---------

NOVA_500, NOVA_500_SAID, REQUEST_ID = fakes.NOVA_500, fakes.NOVA_500_SAID, fakes.REQUEST_ID


def _error(cloud: FakeCloud, *args: str) -> str:
    with pytest.raises(exceptions.CommandError) as err:
        run(cloud, *args)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_nova_500_on_aggregates_is_nova_failing(cloud: FakeCloud) -> None:
    cloud.mocker.get(f"{COMPUTE_URL}/os-aggregates", status_code=500,
                     headers=fakes.WITH_REQUEST_ID, json=NOVA_500)
    assert _error(cloud) == (
        f"cannot list host aggregates: Nova answered HTTP 500 to GET /v2.1/os-aggregates "
        f"{NOVA_500_SAID}: a server-side failure, see the nova-api log (request {REQUEST_ID})")


def test_html_503_on_services_is_said_without_its_tags(cloud: FakeCloud) -> None:
    cloud.mocker.get(f"{COMPUTE_URL}/os-services", status_code=503,
                     headers={"Content-Type": "text/html"}, text=fakes.HTML_503)
    assert _error(cloud) == (
        "cannot list compute services: Nova answered HTTP 503 to GET /v2.1/os-services "
        "(503 Service Unavailable: No server is available to handle this request.): a "
        "server-side failure, see the nova-api log")


def test_keystone_401_is_the_credentials(cloud: FakeCloud) -> None:
    cloud.mocker.post(f"{AUTH_URL}/auth/tokens", status_code=401, headers=JSON, json={
        "error": {"code": 401, "title": "Unauthorized",
                  "message": "The request you have made requires authentication."}})
    assert _error(cloud) == (
        "Keystone answered HTTP 401 to POST /v3/auth/tokens (The request you have made "
        "requires authentication.): the credentials of cloud profile 'fake' were refused: "
        "check the auth settings (clouds.yaml, or the OS_* variables)")


def test_nova_500_on_hypervisors_leaves_traits_unchecked_and_says_why(cloud: FakeCloud) -> None:
    cloud.mocker.get(f"{COMPUTE_URL}/os-hypervisors/detail", status_code=500, headers=JSON,
                     json=NOVA_500)
    out = run(cloud, "-f", "json", "--no-placement", "--flavor", "m1.gpu")
    assert (f"note: required traits not checked: cannot list hypervisors: Nova answered HTTP "
            f"500 to GET /v2.1/os-hypervisors/detail {NOVA_500_SAID}: a server-side failure, "
            "see the nova-api log") in out.stderr.splitlines()


def test_placement_500_leaves_traits_unchecked_and_says_why(cloud: FakeCloud) -> None:
    cloud.mocker.get(f"{PLACEMENT_URL}/resource_providers", status_code=500, headers=JSON,
                     json={"errors": [{"status": 500, "title": "Internal Server Error",
                                       "detail": "The server has either erred or is incapable "
                                                 "of performing the requested operation."}]})
    out = run(cloud, "-f", "json", "--no-placement", "--flavor", "m1.gpu")
    assert ("note: required traits not checked: cannot ask Placement for providers with "
            "CUSTOM_GPU: Placement answered HTTP 500 to GET /resource_providers (The server has "
            "either erred or is incapable of performing the requested operation.): a "
            "server-side failure, see the placement-api log") in out.stderr.splitlines()


@pytest.mark.parametrize(("status", "message", "said"), [
    (403, "You are not authorized to perform the requested action: identity:list_projects.",
     "forbidden by Keystone policy for cloud profile 'fake'; pass the project ID"),
    (500, "An unexpected error prevented the server from fulfilling your request.",
     "a server-side failure, see the keystone log"),
])
def test_project_lookup_says_what_keystone_answered(
        cloud: FakeCloud, status: int, message: str, said: str) -> None:
    cloud.mocker.get(f"{AUTH_URL}/projects", status_code=status, headers=JSON,
                     json={"error": {"code": status, "title": "x", "message": message}})
    assert _error(cloud, "--flavor", "m1.small", "--project", "demo") == (
        f"cannot look up project 'demo' by name: Keystone answered HTTP {status} to GET "
        f"/v3/projects ({message}): {said}")


def test_vanished_flavor_extra_specs_are_not_found() -> None:
    with requests_mock.Mocker() as mocker:
        cloud = standard(FakeCloud(mocker, max_microversion=(2, 60)))
        mocker.get(f"{COMPUTE_URL}/flavors/2/os-extra_specs", status_code=404, headers=JSON,
                   json={"itemNotFound": {"code": 404, "message": "Flavor 2 could not be found."}})
        assert _error(cloud, "--flavor", "m1.ssd") == (
            "cannot read the extra specs of flavor m1.ssd: Nova answered HTTP 404 to GET "
            "/v2.1/flavors/2/os-extra_specs (Flavor 2 could not be found.): Nova knows no "
            "flavor 2 (deleted since it was listed?)")


def test_version_discovery_without_microversions_is_said_as_such(cloud: FakeCloud) -> None:
    cloud.mocker.get(COMPUTE_URL, status_code=500, headers=JSON, json=NOVA_500)
    out = run(cloud, "-f", "json", "--flavor", "m1.ssd")
    assert out.rc == 0 and {r["Host"]: r["Lands"] for r in out.json()}["c2"] == "yes"
    assert ("note: the compute endpoint's version discovery gave no microversion: requests use "
            "2.1, flavor extra specs are read one flavor at a time, only for --flavor"
            ) in out.stderr.splitlines()
    assert "GET nova /flavors/2/os-extra_specs" in cloud.calls()


# -- through the real `openstack` shell: entry point, one-line errors, exit codes --------------

def _openstack(cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch, capsys: Any, *args: str
               ) -> Run:
    import os

    from openstackclient import shell

    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    cloud.mocker.get(AUTH_URL, json={"version": {
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{AUTH_URL}/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}]}})
    rc = shell.main([
        "--os-auth-url", AUTH_URL, "--os-username", "admin", "--os-password", "secret",
        "--os-project-name", "admin", "--os-user-domain-id", "default",
        "--os-project-domain-id", "default", "--os-region-name", REGION,
        "--os-identity-api-version", "3", "aggregate", "zone-map", *args])
    captured = capsys.readouterr()
    return Run(rc, captured.out, captured.err)


def test_shell_bad_flavor_is_one_line_and_exit_1(
        cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    out = _openstack(cloud, monkeypatch, capsys, "--flavor", "m9")
    assert (out.rc, out.stdout, out.stderr) == (1, "", "no flavor with name or ID 'm9'\n")


def test_shell_strict_exit_code(
        cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    out = _openstack(cloud, monkeypatch, capsys, "-f", "value", "-c", "Host", "--strict")
    assert out.rc == 1
    assert out.stdout.split() == ["c1", "c2", "c2", "c3", "c4"]
    assert "warning: [compute-unavailable]" in out.stderr
    out = _openstack(cloud, monkeypatch, capsys, "-f", "value", "-c", "Host")
    assert out.rc == 0


# ----------------------------------------------------------------------------- Placement live

LIVE_CALLS = BASE_CALLS + [
    "GET nova /os-hypervisors/detail",
    "GET placement /",  # placement version discovery
]
SMALL = "DISK_GB:1,MEMORY_MB:512,VCPU:1"


def _ac(query: str) -> str:
    return f"GET placement /allocation_candidates?{query}"


def _rows(out: Run) -> dict[str, dict[str, Any]]:
    return {r["Host"]: r for r in out.json() if r["Host"]}


def test_live_view_asks_once_then_one_relaxed_request_per_constraint(cloud: FakeCloud) -> None:
    out = run(cloud, "-f", "json", "--flavor", "m1.small")
    rows = _rows(out)
    # 8 VCPU x 4.0, 8192 - 512 MiB, 100 GiB: 15 more of 512 MiB, memory first
    assert (rows["c1"]["Lands"], rows["c1"]["Fits"], rows["c1"]["Runs Out First"]) == (
        "yes", 15, "MEMORY_MB")
    assert rows["c3"]["Lands"] == "no"
    assert "placement: removed by root_required !COMPUTE_STATUS_DISABLED" in rows["c3"]["Why"]
    root = "root_required=!COMPUTE_STATUS_DISABLED"
    assert cloud.calls() == LIVE_CALLS + [
        _ac(f"resources={SMALL}&{root}"),
        # c3 is missing: each constraint left out once (3 resources, the root trait)
        _ac(f"resources=MEMORY_MB:512,VCPU:1&{root}"),
        _ac(f"resources=DISK_GB:1,VCPU:1&{root}"),
        _ac(f"resources=DISK_GB:1,MEMORY_MB:512&{root}"),
        _ac(f"resources={SMALL}"),
    ]
    assert "placement: 3 host(s) in the answer (5 GET /allocation_candidates)" in out.stderr
    assert "Placement allocation candidates: compute_status_filter (!COMPUTE_STATUS_DISABLED)" \
        in out.stderr


def test_no_relaxed_request_when_every_host_is_a_candidate(cloud: FakeCloud) -> None:
    cloud.services[2].update(status="enabled", disabled_reason=None)
    cloud.provider("c3")["traits"].remove("COMPUTE_STATUS_DISABLED")
    out = run(cloud, "-f", "json", "--flavor", "m1.small")
    assert cloud.calls() == LIVE_CALLS + [
        _ac(f"resources={SMALL}&root_required=!COMPUTE_STATUS_DISABLED")]
    assert "(1 GET /allocation_candidates)" in out.stderr


def test_a_full_host_shows_no_room_and_what_ran_out(cloud: FakeCloud) -> None:
    cloud.provider("c1")["usages"]["MEMORY_MB"] = 7680 - 100  # 100 MiB left
    rows = _rows(run(cloud, "-f", "json", "--flavor", "m1.small"))
    assert (rows["c1"]["Lands"], rows["c1"]["Fits"], rows["c1"]["Runs Out First"]) == (
        "no", 0, "MEMORY_MB")
    assert rows["c1"]["Why"] == ["placement: removed by MEMORY_MB:512"]
    assert rows["c2"]["Lands"] == "yes"


def test_an_empty_answer_names_the_single_constraint_that_empties_it(cloud: FakeCloud) -> None:
    cloud.add_flavor("m1.huge")
    cloud.flavors[-1]["ram"] = 9000
    out = run(cloud, "--flavor", "m1.huge", "--strict")
    assert out.rc == 1
    assert ("placement: no allocation candidates; the single constraint that empties the "
            "answer is MEMORY_MB:9000 (5 GET /allocation_candidates)") in out.stdout
    assert "lands on no enabled, up host (NoValidHost)" in out.stdout


def test_relaxed_requests_are_bounded(cloud: FakeCloud) -> None:
    traits = {f"trait:CUSTOM_T{i:02}": "required" for i in range(20)}
    cloud.add_flavor("m1.traits", **traits)
    out = run(cloud, "-f", "json", "--flavor", "m1.traits")
    asked = [c for c in cloud.calls() if "/allocation_candidates" in c]
    assert len(asked) == 1 + 12
    assert ("note: placement: 12 constraint(s) not re-asked (at most 12)") in out.stderr.splitlines()
    assert "(13 GET /allocation_candidates)" in out.stderr


def test_zone_through_placement_and_a_broken_aggregate_mirror(cloud: FakeCloud) -> None:
    az1 = cloud.aggregates[0]
    cloud.unmirrored.add((az1["uuid"], "c1"))  # Nova lists c1 in agg-az1, Placement does not
    out = run(cloud, "-f", "json", "--flavor", "m1.small", "--zone", "az1")
    rows = _rows(out)
    assert rows["c1"]["Lands"] == "no"
    assert rows["c1"]["Why"] == [
        "placement: removed by member_of agg-az1 (zone az1)"]
    assert rows["c2"]["Lands"] == "yes"
    calls = cloud.calls()
    assert calls[len(LIVE_CALLS)] == _ac(
        f"member_of=in:{az1['uuid']}&resources={SMALL}&root_required=!COMPUTE_STATUS_DISABLED")
    assert calls[-1] == f"GET placement /resource_providers?member_of={az1['uuid']}"
    assert (f"warning: [placement-aggregate-drift] aggregate agg-az1 lists c1 in Nova, but their "
            f"resource providers are not in its Placement aggregate ({az1['uuid']}): zone az1 "
            "does not reach them through Placement; run 'nova-manage placement "
            "sync_aggregates'") in out.stderr.splitlines()


def test_tenant_aggregates_from_clouds_yaml_are_applied_and_said(cloud: FakeCloud) -> None:
    netpath = {"zone_map": {"limit_tenants_to_placement_aggregate": "true"}}
    out = run(cloud, "-f", "json", "--flavor", "m1.small", "--project", "demo",
              netpath=netpath)
    assert {h: r["Lands"] for h, r in _rows(out).items()} == {
        "c1": "no", "c2": "no", "c3": "no", "c4": "yes"}
    assert "placement: removed by member_of agg-demo (project " in _rows(out)["c1"]["Why"][0]
    assert "require_tenant_aggregate (member_of agg-demo)" in out.stderr
    plain = run(cloud, "-f", "json", "--flavor", "m1.small", "--project", "demo")
    assert "not applied: limit_tenants_to_placement_aggregate" in plain.stderr
    assert _rows(plain)["c1"]["Lands"] == "yes"


def test_tenant_aggregate_required_refuses_a_project_without_one(cloud: FakeCloud) -> None:
    out = run(cloud, "--flavor", "m1.small", "--project", "other", "--tenant-aggregates",
              "--tenant-aggregate-required")
    assert ("lands nowhere: project " + OTHER_ID + " has no aggregate with filter_tenant_id* = "
            "its ID and placement_aggregate_required_for_tenants is on") in out.stdout
    assert not [c for c in cloud.calls() if "allocation_candidates" in c]


def test_tenant_list_is_not_prefiltered_note(cloud: FakeCloud) -> None:
    cloud.aggregates[3]["metadata"]["filter_tenant_id"] = f"{DEMO_ID},{OTHER_ID}"
    out = run(cloud, "-f", "json", "--flavor", "m1.small", "--project", "demo",
              "--tenant-aggregates")
    assert _rows(out)["c1"]["Lands"] == "yes"  # the list matches no project: not limited
    assert "note: aggregate agg-demo: filter_tenant_id lists several projects; " \
        "require_tenant_aggregate matches only a value that is one project ID" in out.stderr


def test_spec_without_its_filter_is_said(cloud: FakeCloud) -> None:
    cloud.add_flavor("m1.numa", **{"hw:numa_nodes": "2"})
    out = run(cloud, "-f", "json", "--flavor", "m1.numa", "--no-placement")
    assert ("warning: [spec-filter-not-enabled] flavor m1.numa: extra spec 'hw:numa_nodes' is "
            "read by NUMATopologyFilter, which is not among the filters given") in out.stderr
    out = run(cloud, "-f", "json", "--flavor", "m1.numa", "--no-placement", "--filters",
              "AggregateInstanceExtraSpecsFilter,NUMATopologyFilter")
    assert "spec-filter-not-enabled" not in out.stderr
    assert "enabled, not modelled: NUMATopologyFilter" in out.stderr


def test_dedicated_cpus_ask_pcpu(cloud: FakeCloud) -> None:
    cloud.add_flavor("m1.pinned", **{"hw:cpu_policy": "dedicated"})
    out = run(cloud, "-f", "json", "--flavor", "m1.pinned")
    assert cloud.calls()[len(LIVE_CALLS)] == _ac(
        "resources=DISK_GB:1,MEMORY_MB:512,PCPU:1&root_required=!COMPUTE_STATUS_DISABLED")
    # no host has PCPU inventory
    assert _rows(out)["c1"]["Why"] == ["placement: removed by PCPU:1"]
    assert (_rows(out)["c1"]["Fits"], _rows(out)["c1"]["Runs Out First"]) == (0, "PCPU")


@pytest.mark.parametrize(("netpath", "message"), [
    ({"zone_map": {"limit_tenants_to_placement_aggregate": "maybe"}},
     ("clouds.yaml netpath: zone_map: limit_tenants_to_placement_aggregate: want true or false "
     "(got 'maybe')")),
    ({"zone_map": {"tenant_isolation": True}},
     ("clouds.yaml netpath: zone_map: unknown setting 'tenant_isolation'; known: "
     "default_availability_zone, enable_isolated_aggregate_filtering, enabled_filters, "
     "image_metadata_prefilter, limit_tenants_to_placement_aggregate, placement, "
     "placement_aggregate_required_for_tenants, query_placement_for_image_type_support")),
])
def test_bad_zone_map_settings_are_one_line(
        cloud: FakeCloud, netpath: dict[str, Any], message: str) -> None:
    with pytest.raises(exceptions.CommandError) as err:
        run(cloud, "--flavor", "m1.small", netpath=netpath)
    assert str(err.value) == message


def test_image_traits_and_image_prefilters(cloud: FakeCloud) -> None:
    cloud.add_image("cirros", disk_format="raw", **{"trait:CUSTOM_GPU": "required",
                                                    "hw_video_model": "virtio"})
    cloud.services[2].update(status="enabled", disabled_reason=None)
    cloud.provider("c3")["traits"] = ["CUSTOM_GPU", "COMPUTE_IMAGE_TYPE_RAW",
                                      "COMPUTE_GRAPHICS_MODEL_VIRTIO"]
    out = run(cloud, "-f", "json", "--flavor", "m1.small", "--image", "cirros",
              "--image-type-support", "--image-metadata-prefilter")
    assert {h: r["Lands"] for h, r in _rows(out).items()} == {
        "c1": "no", "c2": "no", "c3": "yes", "c4": "no"}
    asked = [c for c in cloud.calls() if "allocation_candidates" in c]
    assert asked[0] == _ac(f"required=CUSTOM_GPU&resources={SMALL}&root_required="
                           "COMPUTE_GRAPHICS_MODEL_VIRTIO,COMPUTE_IMAGE_TYPE_RAW,"
                           "!COMPUTE_STATUS_DISABLED")
    assert "require_image_type_support (COMPUTE_IMAGE_TYPE_RAW)" in out.stderr
    assert "transform_image_metadata (COMPUTE_GRAPHICS_MODEL_VIRTIO)" in out.stderr
    # version discovery, then the name is tried as an ID first (404), then as a name
    assert [c for c in cloud.calls() if "glance" in c] == [
        "GET glance /", "GET glance /v2/images/cirros", "GET glance /v2/images?name=cirros"]
    by_id = run(cloud, "-f", "json", "--flavor", "m1.small", "--image", cloud.images[0]["id"])
    assert by_id.rc == 0


def test_unknown_image_is_one_line(cloud: FakeCloud) -> None:
    assert _error(cloud, "--flavor", "m1.small", "--image", "nope") == (
        "no image with name or ID 'nope'")


def test_image_prefilters_need_an_image(cloud: FakeCloud) -> None:
    assert _error(cloud, "--flavor", "m1.small", "--image-type-support") == (
        "--image-type-support and --image-metadata-prefilter need --image")


def test_placement_failing_leaves_the_offline_model_and_says_why(cloud: FakeCloud) -> None:
    cloud.mocker.get(f"{PLACEMENT_URL}/allocation_candidates", status_code=500, headers=JSON,
                     json={"errors": [{"status": 500, "title": "Internal Server Error",
                                       "detail": "boom"}]})
    out = run(cloud, "-f", "json", "--flavor", "m1.small")
    assert out.rc == 0
    assert {h: r["Lands"] for h, r in _rows(out).items()} == {
        "c1": "yes", "c2": "yes", "c3": "no", "c4": "depends"}  # no --project
    assert ("note: Placement view not available: cannot ask Placement for allocation "
            "candidates: Placement answered HTTP 500 to GET /allocation_candidates (boom): a "
            "server-side failure, see the placement-api log") in out.stderr.splitlines()
    assert "Fits" not in out.json()[0]  # no capacity columns without Placement's answer


def test_placement_off_in_clouds_yaml(cloud: FakeCloud) -> None:
    out = run(cloud, "-f", "json", "--flavor", "m1.small",
              netpath={"zone_map": {"placement": False, "enabled_filters": ["none"]}})
    assert cloud.calls() == BASE_CALLS
    assert "not applied: AggregateInstanceExtraSpecsFilter, AggregateMultiTenancyIsolation" in \
        out.stderr
