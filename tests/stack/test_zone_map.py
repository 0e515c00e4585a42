"""`openstack aggregate zone-map` against Nova's real scheduler.

The stack's nova.conf enables AggregateInstanceExtraSpecsFilter and
AggregateMultiTenancyIsolation next to Nova's default filters, and
``[scheduler] enable_isolated_aggregate_filtering`` and
``limit_tenants_to_placement_aggregate`` (tests/stack/up.sh).  Through the
real APIs this module creates three projects, aggregates (metadata, tenant isolation, an
empty zone, later an isolated aggregate with a trait set on compute2's resource
provider, a broken Placement mirror of a zone aggregate, a full host, a project's own
Placement aggregate) and flavors with extra specs.  zone-map's predictions come from
Placement's live answer (GET /allocation_candidates).  For every (flavor, project[, zone]) case:

* zone-map predicts (the real CLI, ``-f json``): the hosts whose ``Lands`` is ``yes``;
* Nova decides: a server booted as that project (a token scoped to it) must land on a
  predicted host, or end in ERROR with "No valid host was found" when zone-map says it
  lands nowhere (or be refused by the API for a zone without computes);
* per host (compute microversion 2.74 ``host``, filters run on that host only): every
  host zone-map rules out really gives NoValidHost, and every predicted host the
  unpinned boot did not use really takes the server.

A server that lands is deleted as soon as ``OS-EXT-SRV-ATTR:host`` is set; boots run in
parallel, the ones that may land at most as many at a time as the hosts have free VCPUs.
Everything created here is removed at the end (and first, if an earlier run left it).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import re
import threading
import time
from typing import Any

import pytest

from tests.stack import conftest as stack_conftest

C1, C2 = "compute1", "compute2"
PREFIX = "zmtest-"  # servers
PROJECTS = ("zm-a", "zm-b", "zm-c")
AGGREGATES = ("zm-ssd", "zm-tenant", "zm-empty", "zm-iso", "zm-ptenant")
TRAIT = "CUSTOM_ZM_X"
FLAVORS = {
    "zm.ssd": {"aggregate_instance_extra_specs:ssd": "true"},
    "zm.unscoped": {"ssd": "true"},  # deprecated, unscoped: still read by the filter
    "zm.cores": {"aggregate_instance_extra_specs:cores": "= 12"},  # numeric >=
    "zm.or": {"aggregate_instance_extra_specs:cores": "<or> 8 <or> 16"},
    "zm.plain": {},
    "zm.nowhere": {"aggregate_instance_extra_specs:ssd": "false"},
    # numeric against ssd=true: Nova's filter raises ValueError (the request dies, no NoValidHost)
    "zm.badnum": {"aggregate_instance_extra_specs:ssd": "= 1"},
    "zm.trait": {f"trait:{TRAIT}": "required"},
    "zm.huge": {},  # more memory than any host has: Placement's answer is empty
}
SIZES = {"zm.huge": {"ram": 1_000_000}}  # MiB; every other flavor: 1 VCPU, 64 MiB, 1 GiB
# the Placement consumer that fills compute1's memory in the capacity phase
FILLER = "5e1f0c2a-7b3d-4c8e-9a6f-2d4b8c0e1f3a"
MICROVERSION = "2.74"  # host= on create; networks "none" (2.37)
NOVALIDHOST = "No valid host was found"
ZONE_REFUSED = "The requested availability zone is not available"
BOOT_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    flavor: str
    project: str
    expect: frozenset[str]  # the hosts this setup is built to offer (sanity of the setup)
    zone: str | None = None
    project_by_id: bool = False  # pass --project as the ID instead of the name
    refused: bool = False  # Nova's API refuses the zone (no enabled compute in it)
    raises: str | None = None  # the fault of a request Nova's scheduler dies on

    @property
    def pin(self) -> bool:
        """Per-host boots too (cheap only without a zone: a host outside it is trivially out)."""
        return self.zone is None


def _case(id, flavor, project, expect, **kw):
    return Case(id, flavor, project, frozenset(expect), **kw)


# compute1: agg-compute1 (az-compute1) + zm-ssd (ssd=true, cores=16)
# compute2: agg-compute2 (az-compute2) + zm-tenant (filter_tenant_id=<zm-a>,<zm-c>, cores=8:
#   a list, which AggregateMultiTenancyIsolation reads and require_tenant_aggregate does not)
# zm-empty: availability_zone=zm-empty, no hosts
CASES = [
    _case("scoped-key", "zm.ssd", "zm-a", {C1}),
    _case("unscoped-key", "zm.unscoped", "zm-a", {C1}),
    _case("numeric-at-least", "zm.cores", "zm-a", {C1}),  # 16 >= 12 yes, 8 no
    _case("or-two-hosts", "zm.or", "zm-a", {C1, C2}),
    _case("tenant-isolated-out", "zm.or", "zm-b", {C1}, project_by_id=True),
    _case("zone", "zm.plain", "zm-a", {C2}, zone="az-compute2"),
    _case("zone-tenant-nowhere", "zm.plain", "zm-b", set(), zone="az-compute2"),
    _case("zone-spec-nowhere", "zm.ssd", "zm-a", set(), zone="az-compute2"),
    _case("nowhere", "zm.nowhere", "zm-b", set()),
    _case("filter-raises", "zm.badnum", "zm-a", set(), raises="ValueError"),
    _case("empty-zone", "zm.plain", "zm-a", set(), zone="zm-empty", refused=True),
    _case("capacity-empty", "zm.huge", "zm-a", set()),
]
# after zm-iso (trait:CUSTOM_ZM_X=required) joins compute2 and compute2's resource
# provider gets CUSTOM_ZM_X
ISOLATED_CASES = [
    _case("trait-required", "zm.trait", "zm-a", {C2}),
    _case("trait-tenant-nowhere", "zm.trait", "zm-b", set()),
    _case("isolated-out", "zm.plain", "zm-a", {C1}),
]
# then zm-iso's value becomes "Required": Nova matches aggregate metadata in MySQL, whose
# collation (utf8mb3_general_ci, from Nova's models) ignores case: it still isolates compute2
CASE_INSENSITIVE = _case("isolation-value-any-case", "zm.plain", "zm-a", {C1})
TIMES: dict[str, float] = {}
# nova-scheduler.log (INFO): nova/filters.py and nova/scheduler/manager.py
_FILTERED = re.compile(r"Filtering removed all hosts for the request with instance ID "
                       r"'([0-9a-f-]+)'\. Filter results: \[(.*?)\]$", re.MULTILINE)
_FILTER_RESULT = re.compile(r"'(\w+): \(start: (\d+), end: (\d+)\)'")
_NO_CANDIDATES = re.compile(r"\[\S+ (req-[0-9a-f-]+) [^]]*\] Got no allocation candidates")
# zone-map's "Why" -> the step of Nova's scheduler that drops the host for that reason
PLACEMENT = "placement"


def nova_step(reason: str) -> str:
    if "filter_tenant_id" in reason:
        return "AggregateMultiTenancyIsolation"
    if (reason.startswith(("outside zone", "placement:", "nova-compute disabled"))
            or " is isolated for trait " in reason):
        return PLACEMENT
    if reason.startswith("nova-compute is down"):
        return "ComputeFilter"
    return "AggregateInstanceExtraSpecsFilter"


# ----------------------------------------------------------------------------- results


@dataclasses.dataclass
class Prediction:
    rc: int
    yes: set[str]
    lands: dict[str, str]  # host -> yes/no/error/depends
    why: dict[str, list[str]]
    stderr: str
    ready: float = 0.0  # seconds after the phase began (the CLI runs 3 at a time)


@dataclasses.dataclass
class Boot:
    kind: str  # host | error | refused | timeout | failed
    detail: str  # the host, or Nova's message
    seconds: float
    requested_host: str | None = None
    server_id: str | None = None
    request_id: str | None = None
    # where Nova's scheduler dropped the hosts of a NoValidHost boot (its log):
    # {"placement": n} (no allocation candidates) or {filter: hosts it removed}
    dropped: dict[str, int] | None = None

    def __str__(self) -> str:
        where = f" (host={self.requested_host})" if self.requested_host else ""
        why = f" [scheduler: {self.dropped}]" if self.dropped else ""
        return f"{self.kind}: {self.detail}{where}{why} after {self.seconds:.1f}s"


@dataclasses.dataclass
class CaseResult:
    prediction: Prediction | None = None
    unpinned: Boot | None = None
    pinned: dict[str, Boot] = dataclasses.field(default_factory=dict)
    error: str | None = None


# ----------------------------------------------------------------------------- the world


class Watcher:
    """One listing of this module's servers per interval (instead of one GET per server)."""

    def __init__(self, conn, interval: float = 0.7) -> None:
        self.conn = conn
        self.interval = interval
        self.cond = threading.Condition()
        self.servers: dict[str, dict] = {}
        self.generation = 0
        self.failure: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="zm-watcher")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            servers = None
            try:
                resp = self.conn.compute.get(
                    "/servers/detail", params={"all_tenants": "True", "name": "^" + PREFIX},
                    microversion=MICROVERSION, raise_exc=False)
                if resp.status_code == 200:
                    servers = {s["id"]: s for s in resp.json()["servers"]}
                else:
                    self.failure = f"GET /servers/detail: HTTP {resp.status_code}"
            except Exception as exc:  # noqa: BLE001 - keep polling, report at the end
                self.failure = f"GET /servers/detail: {exc}"
            with self.cond:
                if servers is not None:
                    self.servers = servers
                self.generation += 1
                self.cond.notify_all()
            self._stop.wait(self.interval)

    def wait(self, predicate, timeout: float, fresh: int = 1):
        """predicate(servers) -> not None, checked on listings started after this call."""
        end = time.monotonic() + timeout
        with self.cond:
            start = self.generation
            while True:
                if self.generation >= start + fresh:
                    found = predicate(self.servers)
                    if found is not None:
                        return found
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _message(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()
    for value in body.values() if isinstance(body, dict) else ():
        if isinstance(value, dict) and "message" in value:
            return str(value["message"])
    return str(body)


class ZoneMapWorld:
    """What this module creates through the real APIs, and how it boots and predicts."""

    def __init__(self, stack) -> None:
        import openstack.config
        import openstack.connection

        self.stack = stack
        self.admin = stack.connection()
        self._config = openstack.config.OpenStackConfig(config_files=[stack.clouds_yaml])
        self._connection = openstack.connection.Connection
        self.projects: dict[str, str] = {}  # name -> id
        self.flavors: dict[str, str] = {}  # name -> id
        self.conns: dict[str, Any] = {}
        self.image_id: str | None = None
        self.cli_slots = threading.Semaphore(3)  # the CLI is CPU-bound at start-up
        self.landing_slots: threading.Semaphore | None = None
        self.watcher: Watcher | None = None
        self.phase_start = time.monotonic()

    # -- set-up ------------------------------------------------------------------------

    def create(self) -> None:
        a = self.admin
        idn = a.identity
        admin_user = idn.find_user("admin", ignore_missing=False)
        admin_role = idn.find_role("admin", ignore_missing=False)
        for name in PROJECTS:
            p = idn.create_project(name=name, domain_id="default",
                                   description="zone-map stack test (tests/stack/test_zone_map.py)")
            self.projects[name] = p.id
            idn.assign_project_role_to_user(p, admin_user, admin_role)
            # ERROR servers count against the instance quota until deleted
            a.compute.put(f"/os-quota-sets/{p.id}", json={"quota_set": {
                "instances": -1, "cores": -1, "ram": -1}}, raise_exc=True)
        for name, specs in FLAVORS.items():
            f = a.compute.create_flavor(name=name, **{"vcpus": 1, "ram": 64, "disk": 1,
                                                      **SIZES.get(name, {})})
            self.flavors[name] = f.id
            if specs:
                a.compute.create_flavor_extra_specs(f, specs)
        self._aggregate("zm-ssd", {"ssd": "true", "cores": "16"}, [C1])
        self._aggregate("zm-tenant", {"filter_tenant_id": self.tenant_list(), "cores": "8"}, [C2])
        self._aggregate("zm-empty", {"availability_zone": "zm-empty"}, [])
        self.image_id = a.image.find_image("halt", ignore_missing=False).id
        for name in PROJECTS:
            conn = self._connection(config=self._config.get_one(
                self.stack.admin_cloud, project_name=name))
            conn.session.get_token()  # authenticate once, before the threads share it
            self.conns[name] = conn
        self.landing_slots = threading.Semaphore(self._free_vcpus())
        self.watcher = Watcher(a)

    def tenant_list(self) -> str:
        return f"{self.projects['zm-a']},{self.projects['zm-c']}"

    def _aggregate(self, name: str, metadata: dict[str, str], hosts: list[str]) -> None:
        c = self.admin.compute
        agg = c.create_aggregate(name=name)
        c.set_aggregate_metadata(agg, **metadata)
        for host in hosts:
            c.add_host_to_aggregate(agg, host)

    def _free_vcpus(self) -> int:
        """How many servers may land at once: the fewest free VCPUs of any host (at most 4)."""
        pl = self.admin.placement
        free = []
        for rp in pl.get("/resource_providers").json()["resource_providers"]:
            inv = pl.get(f"/resource_providers/{rp['uuid']}/inventories").json()["inventories"]
            used = pl.get(f"/resource_providers/{rp['uuid']}/usages").json()["usages"]
            vcpu = inv["VCPU"]
            free.append(int((vcpu["total"] - vcpu["reserved"]) * vcpu["allocation_ratio"])
                        - used.get("VCPU", 0))
        slots = min(free + [4])
        assert slots >= 1, f"no free VCPU on some compute host (free: {free}): cannot boot"
        return slots

    def isolate(self) -> None:
        """compute2 gets trait CUSTOM_ZM_X in Placement and joins zm-iso
        (trait:CUSTOM_ZM_X=required): only flavors requiring the trait may use it."""
        pl = self.admin.placement
        pl.put(f"/traits/{TRAIT}", microversion="1.6", raise_exc=True)
        rps = pl.get("/resource_providers", params={"name": C2}).json()["resource_providers"]
        self._set_traits(rps[0]["uuid"], add=TRAIT)
        self._aggregate("zm-iso", {f"trait:{TRAIT}": "required"}, [C2])

    def _set_traits(self, rp: str, add: str | None = None, remove: str | None = None) -> None:
        pl = self.admin.placement
        url = f"/resource_providers/{rp}/traits"
        for _ in range(10):  # nova-compute may bump the generation meanwhile
            body = pl.get(url, microversion="1.6").json()
            traits = set(body["traits"])
            if add:
                traits.add(add)
            if remove:
                traits.discard(remove)
            resp = pl.put(url, json={"traits": sorted(traits),
                                     "resource_provider_generation":
                                         body["resource_provider_generation"]},
                          microversion="1.6", raise_exc=False)
            if resp.status_code == 200:
                return
            assert resp.status_code == 409, f"PUT {url}: HTTP {resp.status_code} {resp.text}"
            time.sleep(0.3)
        raise AssertionError(f"PUT {url}: generation conflicts")

    def rp_uuid(self, host: str) -> str:
        rps = self.admin.placement.get("/resource_providers", params={"name": host}).json()
        return rps["resource_providers"][0]["uuid"]

    def nova_aggregate(self, name: str):
        return next(a for a in self.admin.compute.aggregates() if a.name == name)

    def set_mirror(self, host: str, aggregate_uuid: str, present: bool) -> None:
        """Put ``host``'s provider in (or out of) the Placement aggregate, behind Nova's back."""
        pl = self.admin.placement
        url = f"/resource_providers/{self.rp_uuid(host)}/aggregates"
        for _ in range(10):
            body = pl.get(url, microversion="1.19").json()
            aggs = set(body["aggregates"])
            if (aggregate_uuid in aggs) == present:
                return
            aggs = aggs | {aggregate_uuid} if present else aggs - {aggregate_uuid}
            resp = pl.put(url, json={"aggregates": sorted(aggs), "resource_provider_generation":
                                     body["resource_provider_generation"]},
                          microversion="1.19", raise_exc=False)
            if resp.status_code == 200:
                return
            assert resp.status_code == 409, f"PUT {url}: HTTP {resp.status_code} {resp.text}"
            time.sleep(0.3)
        raise AssertionError(f"PUT {url}: generation conflicts")

    def free_memory(self, host: str) -> int:
        pl = self.admin.placement
        rp = self.rp_uuid(host)
        inv = pl.get(f"/resource_providers/{rp}/inventories").json()["inventories"]["MEMORY_MB"]
        used = pl.get(f"/resource_providers/{rp}/usages").json()["usages"].get("MEMORY_MB", 0)
        return int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"]) - used

    def fill(self, host: str, leave_mb: int) -> None:
        """A Placement consumer that takes all of ``host``'s memory but ``leave_mb``: to the
        scheduler the host is as full as if servers used it (nova-compute leaves consumers
        that are not its instances alone)."""
        pl = self.admin.placement
        take = self.free_memory(host) - leave_mb
        assert take > 0, f"{host} has less than {leave_mb} MiB free"
        project = self.projects["zm-a"]
        user = self.admin.current_user_id
        resp = pl.put(f"/allocations/{FILLER}", microversion="1.28", raise_exc=False, json={
            "allocations": {self.rp_uuid(host): {"resources": {"MEMORY_MB": take}}},
            "project_id": project, "user_id": user, "consumer_generation": None})
        assert resp.status_code == 204, f"PUT /allocations: HTTP {resp.status_code} {resp.text}"

    def nova_manage(self, *args: str) -> str:
        import subprocess

        d = self.stack.dir
        proc = subprocess.run([f"{d}/venv/bin/nova-manage", "--config-file",
                               f"{d}/etc/nova/nova.conf", *args],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, f"nova-manage {' '.join(args)}: {proc.stderr[-2000:]}"
        return proc.stdout

    # -- clean-up ----------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Remove everything named like this module's objects (also an earlier run's)."""
        problems: list[str] = []

        def attempt(what, fn, *args, **kw):
            try:
                fn(*args, **kw)
            except Exception as exc:  # noqa: BLE001 - go on, report all at the end
                problems.append(f"{what}: {exc}")

        a = self.admin
        if self.watcher is not None:
            self.watcher.stop()
        attempt("servers", self._delete_servers)
        attempt("filler allocation", a.placement.delete, f"/allocations/{FILLER}",
                raise_exc=False)
        resp = a.placement.get("/resource_providers", params={"required": TRAIT},
                               microversion="1.18", raise_exc=False)
        for rp in resp.json()["resource_providers"] if resp.status_code == 200 else ():
            attempt(f"trait of {rp['name']}", self._set_traits, rp["uuid"], remove=TRAIT)
        for agg in a.compute.aggregates():
            if agg.name == "agg-compute2":  # the mirror phase breaks its Placement mirror
                attempt("mirror of agg-compute2", self.set_mirror, C2, agg.uuid, True)
            if agg.name in AGGREGATES:
                for host in agg.hosts or []:
                    attempt(f"aggregate {agg.name} host {host}",
                            a.compute.remove_host_from_aggregate, agg, host)
                attempt(f"aggregate {agg.name}", a.compute.delete_aggregate, agg)
        for flavor in a.compute.flavors(is_public=None):
            if flavor.name in FLAVORS:
                attempt(f"flavor {flavor.name}", a.compute.delete_flavor, flavor)
        for project in a.identity.projects():
            if project.name in PROJECTS:
                attempt(f"project {project.name}", a.identity.delete_project, project)
        resp = a.placement.get(f"/traits/{TRAIT}", microversion="1.6", raise_exc=False)
        if resp.status_code == 204:
            attempt("trait", a.placement.delete, f"/traits/{TRAIT}", microversion="1.6",
                    raise_exc=True)
        return problems

    def _delete_servers(self) -> None:
        c = self.admin.compute

        def listing():
            return c.get("/servers/detail", params={"all_tenants": "True", "name": "^" + PREFIX},
                         microversion=MICROVERSION).json()["servers"]

        left = listing()
        for s in left:
            c.delete(f"/servers/{s['id']}", raise_exc=False)
        end = time.monotonic() + 180
        while left and time.monotonic() < end:
            time.sleep(1)
            left = listing()
        assert not left, f"servers not deleted: {[s['name'] for s in left]}"

    # -- zone-map ----------------------------------------------------------------------

    def zone_map(self, *args: str, strict: bool = False) -> tuple[int, list[dict], str]:
        argv = ["aggregate", "zone-map", *args, "-f", "json"] + (["--strict"] if strict else [])
        with self.cli_slots:
            proc = self.stack.openstack(*argv, check=False)
        try:
            rows = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"openstack {' '.join(argv)} exited {proc.returncode}, "
                                 f"no JSON:\n{proc.stdout[-1000:]}\n{proc.stderr[-2000:]}") from None
        return proc.returncode, rows, proc.stderr

    def predict(self, case: Case) -> Prediction:
        project = self.projects[case.project] if case.project_by_id else case.project
        args = ["--flavor", case.flavor, "--project", project, "--placement-isolation",
                "--tenant-aggregates"]
        if case.zone:
            args += ["--zone", case.zone]
        # with a zone, zone-map's findings are only about that zone: --strict then says
        # exactly whether the flavor lands nowhere
        rc, rows, stderr = self.zone_map(*args, strict=case.zone is not None)
        lands = {r["Host"]: r["Lands"] for r in rows if r["Host"]}
        why = {r["Host"]: r["Why"] for r in rows if r["Host"]}
        return Prediction(rc, {h for h, v in lands.items() if v == "yes"}, lands, why, stderr,
                          time.monotonic() - self.phase_start)

    # -- Nova --------------------------------------------------------------------------

    def boot(self, case: Case, host: str | None = None, may_land: bool = True,
             keep: bool = False) -> Boot:
        slots = self.landing_slots if may_land else None
        if slots:
            slots.acquire()
        try:
            return self._boot(case, host, keep)
        finally:
            if slots:
                slots.release()

    def _boot(self, case: Case, host: str | None, keep: bool = False) -> Boot:
        t0 = time.monotonic()
        server = {"name": f"{PREFIX}{case.id}" + (f"-{host}" if host else ""),
                  "flavorRef": self.flavors[case.flavor], "imageRef": self.image_id,
                  "networks": "none"}
        if case.zone:
            server["availability_zone"] = case.zone
        if host:
            server["host"] = host
        resp = self.conns[case.project].compute.post(
            "/servers", json={"server": server}, microversion=MICROVERSION, raise_exc=False)
        if resp.status_code >= 400:
            return Boot("refused", f"HTTP {resp.status_code} {_message(resp)}",
                        time.monotonic() - t0, host)
        sid = resp.json()["server"]["id"]
        rid = resp.headers.get("x-openstack-request-id")

        def decided(servers):
            s = servers.get(sid)
            if s is None:
                return None
            if s.get("OS-EXT-SRV-ATTR:host"):
                return ("host", s["OS-EXT-SRV-ATTR:host"])
            if s["status"] == "ERROR":
                return ("error", (s.get("fault") or {}).get("message") or "ERROR without fault")
            return None

        assert self.watcher is not None
        found = self.watcher.wait(decided, BOOT_TIMEOUT)
        seconds = time.monotonic() - t0
        c = self.admin.compute
        if keep and found is not None and found[0] == "host":
            return Boot(found[0], found[1], seconds, host, sid, rid)
        c.delete(f"/servers/{sid}", raise_exc=False)
        if found is None:
            return Boot("timeout", f"neither a host nor ERROR after {BOOT_TIMEOUT:.0f}s"
                        + (f" ({self.watcher.failure})" if self.watcher.failure else ""),
                        seconds, host, sid, rid)
        if found[0] == "host":
            # free the VCPU before the next boot that may land takes this slot
            gone = self.watcher.wait(lambda servers: True if sid not in servers else None,
                                     BOOT_TIMEOUT, fresh=2)
            if gone is None:
                return Boot("failed", f"landed on {found[1]} but not deleted in time",
                            seconds, host, sid, rid)
        return Boot(found[0], found[1], seconds, host, sid, rid)

    def run_case(self, case: Case) -> CaseResult:
        result = CaseResult()
        try:
            result.prediction = p = self.predict(case)
            hosts = sorted(p.lands)
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                unpinned = pool.submit(self.boot, case, None, bool(p.yes))
                pinned = {h: pool.submit(self.boot, case, h, False)
                          for h in hosts if case.pin and h not in p.yes}
                result.unpinned = unpinned.result()
                # every predicted host the scheduler did not choose must take it when pinned
                for h in hosts:
                    if case.pin and h in p.yes and h != result.unpinned.detail:
                        pinned[h] = pool.submit(self.boot, case, h, True)
                result.pinned = {h: f.result() for h, f in sorted(pinned.items())}
        except Exception as exc:  # noqa: BLE001 - reported by the case's test
            result.error = f"{type(exc).__name__}: {exc}"
        return result

    def read_scheduler_log(self, results: dict) -> None:
        """Where Nova's scheduler dropped the hosts of every NoValidHost boot."""
        with open(f"{self.stack.state['logs']}/nova-scheduler.log", errors="replace") as f:
            log = f.read()
        by_instance = {m.group(1): m.group(2) for m in _FILTERED.finditer(log)}
        no_candidates = set(_NO_CANDIDATES.findall(log))
        for r in results.values():
            if not isinstance(r, CaseResult):
                continue
            for b in [r.unpinned, *r.pinned.values()]:
                if b is None or b.kind != "error":
                    continue
                if b.request_id in no_candidates:
                    b.dropped = {"placement": 0}
                elif b.server_id in by_instance:
                    b.dropped = {}
                    for name, start, end in _FILTER_RESULT.findall(by_instance[b.server_id]):
                        if int(start) > int(end):
                            b.dropped[name] = int(start) - int(end)

    def run_cases(self, cases: list[Case], extra: dict | None = None) -> dict[str, Any]:
        """Every case in parallel (prediction, then its boots); ``extra``: name -> callable."""
        self.phase_start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(len(cases) + len(extra or {})) as pool:
            futures = {c.id: pool.submit(self.run_case, c) for c in cases}
            others = {k: pool.submit(fn) for k, fn in (extra or {}).items()}
            out: dict[str, Any] = {k: f.result() for k, f in futures.items()}
            for k, f in others.items():
                try:
                    out[k] = f.result()
                except Exception as exc:  # noqa: BLE001
                    out[k] = exc
        self.read_scheduler_log(out)
        return out


def _verdict(case: Case, r: CaseResult) -> list[str]:
    """Every disagreement between zone-map and Nova for one case (empty: they agree)."""
    if r.error or r.prediction is None or r.unpinned is None:
        return [f"case did not run: {r.error}"]
    p = r.prediction
    why = "; ".join(f"{h}: {p.lands[h]} ({', '.join(p.why[h]) or '-'})" for h in sorted(p.lands))
    ctx = f"zone-map: lands on {sorted(p.yes) or 'nothing'} [{why}]"
    bad = []
    u = r.unpinned
    if p.yes:
        if not (u.kind == "host" and u.detail in p.yes):
            bad.append(f"Nova: {u}, but {ctx}")
    elif case.refused:
        if not (u.kind == "refused" and ZONE_REFUSED in u.detail):
            bad.append(f"Nova: {u}; expected the API to refuse the zone; {ctx}")
        if "rejects" not in p.stderr:
            bad.append(f"zone-map does not say that Nova's API rejects the zone: {p.stderr}")
    elif "error" in p.lands.values():
        if not (u.kind == "error" and u.detail == case.raises):
            bad.append(f"Nova: {u}; zone-map says its scheduler raises; {ctx}")
        if "raises" not in p.stderr:
            bad.append(f"zone-map's summary does not say Nova's scheduler raises: {p.stderr}")
    else:
        if not (u.kind == "error" and NOVALIDHOST in u.detail):
            bad.append(f"Nova: {u}; expected {NOVALIDHOST}; {ctx}")
        if "NoValidHost" not in p.stderr:
            bad.append(f"zone-map's summary does not say NoValidHost: {p.stderr}")
    if not p.yes and u.kind == "error" and NOVALIDHOST in u.detail:
        # the step that dropped each host: the first reason zone-map gives for it
        steps = [nova_step(p.why[h][0]) if p.why[h] else "?" for h in sorted(p.lands)]
        want = ({PLACEMENT: 0} if set(steps) == {PLACEMENT} else
                {s: steps.count(s) for s in steps if s != PLACEMENT})
        if u.dropped != want:
            bad.append(f"Nova's scheduler dropped the hosts at {u.dropped}, zone-map's reasons "
                       f"say {want}; {ctx}")
    for host, b in r.pinned.items():
        if host in p.yes:
            if not (b.kind == "host" and b.detail == host):
                bad.append(f"Nova with host={host}: {b}, but {ctx}")
        elif p.lands[host] == "error":
            if not (b.kind == "error" and b.detail == case.raises):
                bad.append(f"Nova with host={host}: {b}; zone-map says its scheduler raises "
                           f"there ({', '.join(p.why[host])})")
        elif not (b.kind == "error" and NOVALIDHOST in b.detail):
            bad.append(f"Nova with host={host}: {b}; zone-map says {p.lands[host]} there "
                       f"({', '.join(p.why[host])})")
        else:
            step = nova_step(p.why[host][0]) if p.why[host] else "?"
            want = {PLACEMENT: 0} if step == PLACEMENT else {step: 1}
            if b.dropped != want:
                bad.append(f"Nova with host={host} dropped it at {b.dropped}, zone-map's first "
                           f"reason is {p.why[host][:1]} ({want})")
    if case.zone is not None:
        want_rc = 1 if not p.yes else 0
        if p.rc != want_rc:
            bad.append(f"zone-map --strict exited {p.rc}, expected {want_rc}: {p.stderr}")
    elif p.rc != 0:
        bad.append(f"zone-map exited {p.rc} without --strict: {p.stderr}")
    # last: the set-up offers what the case is meant to test (zone-map and Nova may agree
    # on something else, e.g. nothing at all)
    if not bad and p.yes != set(case.expect):
        bad.append(f"set-up: both say {sorted(p.yes)}, the case was built for "
                   f"{sorted(case.expect)}; {ctx}")
    if case.pin and not bad and set(r.pinned) | ({u.detail} if p.yes else set()) != set(p.lands):
        bad.append(f"not every host was checked: pinned {sorted(r.pinned)}, unpinned {u}")
    return bad


# ----------------------------------------------------------------------------- fixtures


def _note(text: str) -> None:
    stack_conftest.NOTES.append(text)


def _note_cases(cases: list[Case], out: dict) -> None:
    lines = []
    for case in cases:
        r = out[case.id]
        if r.error or r.prediction is None:
            lines.append(f"  {case.id}: {r.error}")
            continue
        nova = [f"Nova {r.unpinned}"] + [str(b) for b in r.pinned.values()]
        p = r.prediction
        lines.append(f"  {case.id} ({case.flavor}, {case.project}"
                     f"{', ' + case.zone if case.zone else ''}): zone-map "
                     f"{','.join(sorted(p.yes)) or 'nowhere'} (ready at {p.ready:.1f}s); "
                     + "; ".join(nova))
    _note("zone-map cases:\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def world(stack):
    t0 = time.monotonic()
    w = ZoneMapWorld(stack)
    left = w.cleanup()  # whatever an interrupted earlier run left
    assert not left, f"could not remove an earlier run's objects: {left}"
    problems: list[str] = []
    try:
        w.create()
        TIMES["setup"] = time.monotonic() - t0
        yield w
    finally:
        t1 = time.monotonic()
        problems = w.cleanup()
        TIMES["cleanup"] = time.monotonic() - t1
        TIMES["total"] = time.monotonic() - t0
        order = ("setup", "cases", "isolated cases", "case-insensitive case", "mirror cases",
                 "capacity", "tenant case", "cleanup", "total")
        _note("zone-map vs Nova's scheduler (tests/stack/test_zone_map.py): " + ", ".join(
            f"{k} {TIMES[k]:.1f}s" for k in order if k in TIMES))
        if problems:
            _note("zone-map tests: CLEAN-UP PROBLEMS: " + "; ".join(problems))
    assert not problems, problems


@pytest.fixture(scope="module")
def results(world):
    t0 = time.monotonic()
    out = world.run_cases(CASES, extra={
        "map": lambda: world.zone_map(strict=True),
        "nova-zones": lambda: world.admin.compute.get(
            "/os-availability-zone/detail").json()["availabilityZoneInfo"],
    })
    TIMES["cases"] = time.monotonic() - t0
    _note_cases(CASES, out)
    return out


@pytest.fixture(scope="module")
def isolated_results(world, results):
    t0 = time.monotonic()
    world.isolate()
    plain = ISOLATED_CASES[-1]
    out = world.run_cases(ISOLATED_CASES, extra={
        # without --placement-isolation zone-map does not apply it (it cannot read nova.conf)
        "unisolated": lambda: world.zone_map("--flavor", plain.flavor, "--project",
                                             plain.project),
    })
    TIMES["isolated cases"] = time.monotonic() - t0
    _note_cases(ISOLATED_CASES, out)
    return out


@pytest.fixture(scope="module")
def case_insensitive_results(world, isolated_results):
    t0 = time.monotonic()
    c = world.admin.compute
    iso = next(a for a in c.aggregates() if a.name == "zm-iso")
    c.set_aggregate_metadata(iso, **{f"trait:{TRAIT}": "Required"})
    out = world.run_cases([CASE_INSENSITIVE])
    TIMES["case-insensitive case"] = time.monotonic() - t0
    _note_cases([CASE_INSENSITIVE], out)
    return out


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_nova_schedules_where_zone_map_predicts(results, case):
    problems = _verdict(case, results[case.id])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", ISOLATED_CASES, ids=[c.id for c in ISOLATED_CASES])
def test_isolated_aggregate_and_required_trait(isolated_results, case):
    problems = _verdict(case, isolated_results[case.id])
    assert not problems, "\n".join(problems)


def test_isolation_value_is_matched_like_nova(case_insensitive_results):
    problems = _verdict(CASE_INSENSITIVE, case_insensitive_results[CASE_INSENSITIVE.id])
    assert not problems, "\n".join(problems)


def _extra(results: dict[str, Any], key: str) -> Any:
    found = results[key]
    if isinstance(found, Exception):
        raise found
    return found


def test_isolation_is_applied_only_when_asked(isolated_results):
    rc, rows, stderr = _extra(isolated_results, "unisolated")
    assert rc == 0, stderr
    assert {r["Host"] for r in rows if r["Lands"] == "yes"} == {C1, C2}
    assert "not applied: isolated aggregates" in stderr


def test_zone_map_shows_zones_aggregates_hosts_as_nova_does(world, results):
    _, rows, _ = _extra(results, "map")
    by_agg = {r["Aggregate"]: r for r in rows}
    hosts: dict[str, dict] = {}
    for r in rows:
        if r["Host"]:
            hosts.setdefault(r["Host"], {"zones": set(), "aggregates": set(), "row": r})
            hosts[r["Host"]]["zones"].add(r["Zone"])
            hosts[r["Host"]]["aggregates"].add(r["Aggregate"])
    assert hosts[C1]["zones"] == {"az-compute1"}
    assert hosts[C2]["zones"] == {"az-compute2"}
    assert hosts[C1]["aggregates"] == {"agg-compute1", "zm-ssd"}
    assert hosts[C2]["aggregates"] == {"agg-compute2", "zm-tenant"}
    for h in (C1, C2):
        assert (hosts[h]["row"]["Status"], hosts[h]["row"]["State"]) == ("enabled", "up")
    assert by_agg["zm-ssd"]["Metadata"] == {"ssd": "true", "cores": "16"}
    assert by_agg["zm-tenant"]["Metadata"] == {"filter_tenant_id": world.tenant_list(),
                                               "cores": "8"}
    empty = by_agg["zm-empty"]
    assert (empty["Zone"], empty["Zone Available"], empty["Host"]) == ("zm-empty", False, None)
    # Nova's own view of the zones (os-availability-zone/detail: zones with services)
    nova = {}
    nova_zones = _extra(results, "nova-zones")
    for zone in nova_zones:
        for host, services in (zone.get("hosts") or {}).items():
            if "nova-compute" in services:
                nova[host] = zone["zoneName"]
                assert zone["zoneState"]["available"] is True
    assert nova == {h: next(iter(v["zones"])) for h, v in hosts.items()}
    available = {r["Zone"] for r in rows if r["Zone Available"]}
    assert available == {z["zoneName"] for z in nova_zones
                         if z["zoneState"]["available"] and z["zoneName"] != "internal"}


def test_findings_and_strict_exit(results):
    rc, _, stderr = _extra(results, "map")
    assert rc == 1, "--strict with findings must exit 1"
    assert "warning: [empty-zone-aggregate] aggregate zm-empty (zone zm-empty) has no hosts" \
        in stderr
    nowhere = [ln for ln in stderr.splitlines() if ln.startswith("warning: [flavor-lands-nowhere]")]
    assert any("zm.nowhere" in ln for ln in nowhere), stderr
    assert ("warning: [bad-metadata-value] aggregate zm-ssd: ssd='true' breaks flavor "
            "zm.badnum's aggregate_instance_extra_specs:ssd='= 1'") in stderr
    # zm.plain lands (somewhere, for some project); zm.trait has no host with the trait yet,
    # but the sweep without --flavor does not ask Placement
    assert not any("flavor zm.plain " in ln for ln in nowhere), stderr


# ----------------------------------------------------------------------------- Placement phases
# (after the isolation phases: compute2 leaves zm-iso first)

LIKE_NOVA_CONF = ("--project", "zm-a", "--placement-isolation", "--tenant-aggregates")
MIRROR_CASE = _case("broken-mirror", "zm.plain", "zm-a", set(), zone="az-compute2")
SYNCED_CASE = _case("mirror-synced", "zm.plain", "zm-a", {C2}, zone="az-compute2")
TENANT_CASE = _case("tenant-through-placement", "zm.plain", "zm-c", {C1})
DRIFT = "warning: [placement-aggregate-drift] aggregate agg-compute2 lists compute2 in Nova"


@pytest.fixture(scope="module")
def mirror_results(world, case_insensitive_results):
    """compute2's provider leaves agg-compute2's Placement aggregate (Nova still lists it):
    zone az-compute2 reaches nothing; then nova-manage placement sync_aggregates mends it."""
    t0 = time.monotonic()
    c = world.admin.compute
    c.remove_host_from_aggregate(world.nova_aggregate("zm-iso"), C2)
    agg = world.nova_aggregate("agg-compute2")
    world.set_mirror(C2, agg.uuid, False)
    out = world.run_cases([MIRROR_CASE])
    out["sync"] = world.nova_manage("placement", "sync_aggregates")
    out.update(world.run_cases([SYNCED_CASE]))
    TIMES["mirror cases"] = time.monotonic() - t0
    _note_cases([MIRROR_CASE, SYNCED_CASE], out)
    return out


def test_broken_placement_mirror_is_said_and_nova_agrees(mirror_results):
    problems = _verdict(MIRROR_CASE, mirror_results[MIRROR_CASE.id])
    assert not problems, "\n".join(problems)
    p = mirror_results[MIRROR_CASE.id].prediction
    assert p.why[C2][0] == "placement: removed by member_of agg-compute2 (zone az-compute2)"
    assert DRIFT in p.stderr and "run 'nova-manage placement sync_aggregates'" in p.stderr


def test_nova_manage_sync_aggregates_mends_what_zone_map_said(mirror_results):
    problems = _verdict(SYNCED_CASE, mirror_results[SYNCED_CASE.id])
    assert not problems, "\n".join(problems)
    assert DRIFT not in mirror_results[SYNCED_CASE.id].prediction.stderr


@pytest.fixture(scope="module")
def capacity_results(world, mirror_results):
    """compute1 left with room for one zm.plain (64 MiB): zone-map says 1 more fits, one boot
    there lands; then it says 0 (memory), and the next boot there gets NoValidHost."""
    t0 = time.monotonic()
    plain = _case("full-host", "zm.plain", "zm-a", {C2})
    out: dict[str, Any] = {}
    world.fill(C1, leave_mb=96)
    out["before"] = world.zone_map("--flavor", "zm.plain", *LIKE_NOVA_CONF)
    out["first"] = world.boot(plain, C1, keep=True)
    out["after"] = world.zone_map("--flavor", "zm.plain", *LIKE_NOVA_CONF)
    out["second"] = world.boot(plain, C1, may_land=False)
    out["unpinned"] = world.boot(plain, None)
    world.admin.placement.delete(f"/allocations/{FILLER}", raise_exc=False)
    if out["first"].server_id:
        world.admin.compute.delete(f"/servers/{out['first'].server_id}", raise_exc=False)
    TIMES["capacity"] = time.monotonic() - t0
    _note("zone-map capacity: " + "; ".join(
        f"{k} {v}" for k, v in out.items() if isinstance(v, Boot)))
    return out


def _host_row(result, host: str) -> dict:
    rc, rows, stderr = result
    assert rc == 0, stderr
    return next(r for r in rows if r["Host"] == host)


def test_capacity_of_a_host_agrees_with_nova(capacity_results):
    out = capacity_results
    before = _host_row(out["before"], C1)
    assert (before["Lands"], before["Fits"], before["Runs Out First"]) == (
        "yes", 1, "MEMORY_MB"), before
    assert (out["first"].kind, out["first"].detail) == ("host", C1), out["first"]
    after = _host_row(out["after"], C1)
    assert (after["Lands"], after["Fits"], after["Runs Out First"]) == (
        "no", 0, "MEMORY_MB"), after
    assert after["Why"] == ["placement: removed by MEMORY_MB:64"]
    assert out["second"].kind == "error" and NOVALIDHOST in out["second"].detail, out["second"]
    assert _host_row(out["after"], C2)["Lands"] == "yes"
    assert (out["unpinned"].kind, out["unpinned"].detail) == ("host", C2), out["unpinned"]


def test_empty_answer_names_the_constraint_and_nova_agrees(results):
    r = results["capacity-empty"]
    problems = _verdict(_case("capacity-empty", "zm.huge", "zm-a", set()), r)
    assert not problems, "\n".join(problems)
    assert ("placement: no allocation candidates; the single constraint that empties the "
            "answer is MEMORY_MB:1000000") in r.prediction.stderr


@pytest.fixture(scope="module")
def tenant_results(world, capacity_results):
    """zm-ptenant (filter_tenant_id=<zm-c>, one ID) holds compute1: with
    limit_tenants_to_placement_aggregate zm-c may use only compute1, though
    AggregateMultiTenancyIsolation would let it onto compute2 too (zm-tenant lists it)."""
    t0 = time.monotonic()
    world._aggregate("zm-ptenant", {"filter_tenant_id": world.projects["zm-c"]}, [C1])
    out = world.run_cases([TENANT_CASE])
    TIMES["tenant case"] = time.monotonic() - t0
    _note_cases([TENANT_CASE], out)
    return out


def test_tenant_isolation_through_placement(tenant_results):
    r = tenant_results[TENANT_CASE.id]
    problems = _verdict(TENANT_CASE, r)
    assert not problems, "\n".join(problems)
    assert r.prediction.why[C2][0].startswith("placement: removed by member_of zm-ptenant")
    assert "require_tenant_aggregate (member_of zm-ptenant)" in r.prediction.stderr
    assert "note: aggregate zm-tenant: filter_tenant_id lists several projects" in \
        r.prediction.stderr
