"""The ``GET /allocation_candidates`` request Nova's scheduler sends, and what its answer says. Pure.

What Nova puts in the query (``nova/scheduler/utils.py`` ``ResourceRequest.from_request_spec`` and
``to_querystring``, ``nova/objects/request_spec.py`` ``RequestGroup.to_queryparams``,
``nova/scheduler/request_filter.py``), at Placement microversion 1.36 as Nova's report client asks:

* resources: ``VCPU`` (the flavor's vcpus), ``MEMORY_MB`` (ram), ``DISK_GB`` (root + ephemeral +
  swap in GiB, rounded up) in the unsuffixed group, unless ``resources:RC`` extra specs set that
  class; ``resources$S:RC`` make granular groups; zero amounts are dropped;
  ``hw:cpu_policy=dedicated`` asks ``PCPU`` (+1 with ``hw:emulator_threads_policy=isolate``)
  instead of ``VCPU``; ``hw:cpu_thread_policy`` isolate/require forbid/require
  ``HW_CPU_HYPERTHREADING``;
* traits: ``trait[$S]:NAME=required|forbidden``, and the image's ``trait:NAME=required``
  properties (``traits_required``, unsuffixed group);
* ``root_required``: ``!COMPUTE_STATUS_DISABLED`` (``compute_status_filter``, always on), the
  image type trait (``require_image_type_support``), the image-metadata traits
  (``transform_image_metadata``);
* ``member_of=in:...``: the aggregates carrying the requested zone
  (``map_az_to_placement_aggregate``), the project's aggregates (``require_tenant_aggregate``);
  ``member_of=!in:...``: isolated aggregates (``isolate_aggregates``).

Nova also sends ``limit`` (``[scheduler] max_placement_results``); zone-map does not, so every
candidate is seen. The answer's ``provider_summaries`` (1.27+: every resource class of a
provider, with ``capacity`` = (total - reserved) x allocation_ratio and ``used``; 1.29+: the root)
give what is left on each host.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from osc_netpath.scheduling.model import Aggregate, Flavor
from osc_netpath.scheduling.placement import isolated_aggregates

MICROVERSION = "1.36"  # what Nova's report client uses (SAME_SUBTREE_VERSION)
MAX_RELAXED = 12  # at most this many extra requests to find the constraint that removes hosts
DISABLED_TRAIT = "COMPUTE_STATUS_DISABLED"
TENANT_KEY = "filter_tenant_id"
_KEY = re.compile(r"^(resources|trait)([a-zA-Z0-9_-]{1,64})?:(.+)$")
# nova/scheduler/request_filter.py transform_image_metadata: image property -> trait prefix
IMAGE_TRAIT_PREFIXES = {
    "hw_cdrom_bus": "COMPUTE_STORAGE_BUS",
    "hw_disk_bus": "COMPUTE_STORAGE_BUS",
    "hw_video_model": "COMPUTE_GRAPHICS_MODEL",
    "hw_vif_model": "COMPUTE_NET_VIF_MODEL",
    "hw_architecture": "HW_ARCH",
    "hw_emulation_architecture": "COMPUTE_ARCH",
    "hw_viommu_model": "COMPUTE_VIOMMU",
}


@dataclass
class PreFilters:
    """Nova request pre-filters that nova.conf turns on (the API cannot tell)."""

    isolated_aggregates: bool = False  # [scheduler] enable_isolated_aggregate_filtering
    tenant_aggregates: bool = False  # [scheduler] limit_tenants_to_placement_aggregate
    tenant_aggregate_required: bool = False  # [scheduler] placement_aggregate_required_for_tenants
    image_type_support: bool = False  # [scheduler] query_placement_for_image_type_support
    image_metadata: bool = False  # [scheduler] image_metadata_prefilter


@dataclass
class Image:
    """What the scheduler reads from a Glance image."""

    id: str
    name: str
    disk_format: str | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Constraint:
    """One thing of the request that can be left out of a re-ask."""

    kind: str  # resource | trait | root | member_of | not_member_of
    group: str  # request group suffix ("" unsuffixed) or the member_of list's index
    name: str  # resource class, "NAME"/"!NAME" trait, aggregate names
    label: str  # how the user reads it


@dataclass
class Group:
    resources: dict[str, int] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    forbidden: set[str] = field(default_factory=set)


@dataclass
class PlacementRequest:
    groups: dict[str, Group]
    root_required: set[str] = field(default_factory=set)
    root_forbidden: set[str] = field(default_factory=set)
    member_of: list[tuple[str, list[Aggregate]]] = field(default_factory=list)  # (why, any of)
    not_member_of: list[Aggregate] = field(default_factory=list)
    group_policy: str | None = None
    applied: list[str] = field(default_factory=list)  # pre-filters that changed the request
    notes: list[str] = field(default_factory=list)  # what is not modelled
    refused: str | None = None  # Nova fails the request before Placement (RequestFilterFailed)

    def constraints(self) -> list[Constraint]:
        out: list[Constraint] = []
        for suffix, group in sorted(self.groups.items()):
            where = f" (group {suffix})" if suffix else ""
            if len(group.resources) > 1 or suffix:
                out.extend(Constraint("resource", suffix, rc, f"{rc}:{amount}{where}")
                           for rc, amount in sorted(group.resources.items()))
            out.extend(Constraint("trait", suffix, t, f"required trait {t}{where}")
                       for t in sorted(group.required))
            out.extend(Constraint("trait", suffix, "!" + t, f"forbidden trait {t}{where}")
                       for t in sorted(group.forbidden))
        out.extend(Constraint("root", "", t, f"root_required {t}")
                   for t in sorted(self.root_required))
        out.extend(Constraint("root", "", "!" + t, f"root_required !{t}")
                   for t in sorted(self.root_forbidden))
        for i, (why, aggs) in enumerate(self.member_of):
            names = ",".join(a.name for a in aggs)
            out.append(Constraint("member_of", str(i), names, f"member_of {names} ({why})"))
        if self.not_member_of:
            names = ",".join(a.name for a in self.not_member_of)
            out.append(Constraint("not_member_of", "", names,
                                  f"member_of !{names} (isolated aggregates)"))
        return out

    def params(self, without: Constraint | None = None) -> list[tuple[str, str]]:
        """The query, sorted like Nova's; ``without`` leaves that one constraint out."""
        q: list[tuple[str, str]] = []
        if self.group_policy:
            q.append(("group_policy", self.group_policy))
        root = sorted(self.root_required) + ["!" + t for t in sorted(self.root_forbidden)]
        if without is not None and without.kind == "root":
            root.remove(without.name)
        if root:
            q.append(("root_required", ",".join(root)))
        for suffix, group in self.groups.items():
            res = dict(group.resources)
            traits = sorted(group.required) + ["!" + t for t in sorted(group.forbidden)]
            if without is not None and without.group == suffix:
                if without.kind == "resource":
                    res.pop(without.name, None)
                elif without.kind == "trait":
                    traits.remove(without.name)
            if res or suffix == "":
                if res:
                    q.append((f"resources{suffix}",
                              ",".join(f"{rc}:{n}" for rc, n in sorted(res.items()))))
                if traits:
                    q.append((f"required{suffix}", ",".join(traits)))
            if suffix == "":
                for i, (_, aggs) in enumerate(self.member_of):
                    if without is not None and without.kind == "member_of" \
                            and without.group == str(i):
                        continue
                    q.append(("member_of", "in:" + ",".join(sorted(_uuids(aggs)))))
                if self.not_member_of and not (without and without.kind == "not_member_of"):
                    q.append(("member_of", "!in:" + ",".join(sorted(_uuids(self.not_member_of)))))
        return sorted(q)

    def query(self, without: Constraint | None = None) -> str:
        return "&".join(f"{k}={v}" for k, v in self.params(without))


def _uuids(aggs: Iterable[Aggregate]) -> list[str]:
    return [a.uuid for a in aggs if a.uuid]


def _amount(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


def build(
    flavor: Flavor,
    aggregates: Sequence[Aggregate],
    *,
    zone: str | None,
    project_id: str | None,
    prefilters: PreFilters,
    image: Image | None = None,
) -> PlacementRequest:
    """The request Nova builds for a boot of ``flavor`` (as far as the APIs let it be seen)."""
    specs = flavor.extra_specs or {}
    groups: dict[str, Group] = {"": Group()}
    req = PlacementRequest(groups)
    for key, value in specs.items():
        if key == "group_policy":
            req.group_policy = value
            continue
        found = _KEY.match(key)
        if not found:
            continue
        prefix, suffix, name = found.group(1), found.group(2) or "", found.group(3)
        group = groups.setdefault(suffix, Group())
        if prefix == "resources":
            amount = _amount(value)
            if amount is None:
                req.notes.append(f"extra spec {key}={value!r} is not a whole number: Nova "
                                 "rejects the flavor")
                continue
            group.resources[name] = amount
        elif value == "required":
            group.required.add(name)
        elif value == "forbidden":
            group.forbidden.add(name)
    unsuffixed = groups[""]
    if image is not None:
        for key, value in image.properties.items():
            if key.startswith("trait:") and value == "required":
                unsuffixed.required.add(key[len("trait:"):])
    _pinning(flavor, specs, groups, req)
    merged = {rc for g in groups.values() for rc in g.resources}
    if "VCPU" not in merged and "PCPU" not in merged and flavor.vcpus is not None:
        unsuffixed.resources["VCPU"] = flavor.vcpus
    if "MEMORY_MB" not in merged and flavor.ram is not None:
        unsuffixed.resources["MEMORY_MB"] = flavor.ram
    if "DISK_GB" not in merged and flavor.disk is not None:
        unsuffixed.resources["DISK_GB"] = (flavor.disk + (flavor.ephemeral or 0)
                                           + math.ceil((flavor.swap or 0) / 1024))
    for group in groups.values():
        group.resources = {rc: n for rc, n in group.resources.items() if n}
    for suffix in [s for s, g in groups.items() if s and not g.resources]:
        del groups[suffix]
    # request pre-filters, in nova's order
    if prefilters.isolated_aggregates:
        wanted = {t for g in groups.values() for t in g.required}
        traited = dict(specs)
        traited.update({f"trait:{t}": "required" for t in wanted})
        iso = isolated_aggregates(aggregates, traited)
        req.not_member_of = [a for a in aggregates if a.name in iso]
        req.applied.append("isolate_aggregates" + (
            f" (member_of !{','.join(a.name for a in req.not_member_of)})"
            if req.not_member_of else ""))
    if prefilters.tenant_aggregates:
        if project_id is None:
            req.notes.append("require_tenant_aggregate is on but no --project was given: the "
                             "project's aggregates are not asked for")
        else:
            mine = tenant_aggregates(aggregates, project_id)
            if mine:
                req.member_of.append((f"project {project_id}", mine))
                req.applied.append(
                    f"require_tenant_aggregate (member_of {','.join(a.name for a in mine)})")
            elif prefilters.tenant_aggregate_required:
                req.refused = (f"project {project_id} has no aggregate with filter_tenant_id* "
                               "= its ID and placement_aggregate_required_for_tenants is on: "
                               "Nova fails the request ('No hosts available for tenant')")
                req.applied.append("require_tenant_aggregate (no aggregate: refused)")
            else:
                req.applied.append("require_tenant_aggregate (no aggregate of the project)")
    if zone is not None:
        zoned = [a for a in aggregates if a.zone is not None and _sql_eq(a.zone, zone)]
        if zoned:
            req.member_of.append((f"zone {zone}", zoned))
            req.applied.append(
                f"map_az_to_placement_aggregate (member_of {','.join(a.name for a in zoned)})")
    if prefilters.image_type_support:
        if image is None:
            req.notes.append("require_image_type_support is on but no --image was given")
        elif image.disk_format:
            trait = f"COMPUTE_IMAGE_TYPE_{image.disk_format.upper()}"
            req.root_required.add(trait)
            req.applied.append(f"require_image_type_support ({trait})")
    req.root_forbidden.add(DISABLED_TRAIT)
    req.applied.append(f"compute_status_filter (!{DISABLED_TRAIT})")
    if prefilters.image_metadata and image is not None:
        added = []
        for prop, trait_prefix in IMAGE_TRAIT_PREFIXES.items():
            if prop in image.properties:
                trait = f"{trait_prefix}_{image.properties[prop].replace('-', '_').upper()}"
                req.root_required.add(trait)
                added.append(trait)
        req.applied.append("transform_image_metadata" + (f" ({','.join(added)})" if added else ""))
    missing = [a.name for _, aggs in req.member_of for a in aggs if not a.uuid]
    missing += [a.name for a in req.not_member_of if not a.uuid]
    if missing:
        req.notes.append(f"aggregate {', '.join(missing)} has no uuid (compute API < 2.41): left "
                         "out of member_of")
    return req


def _pinning(flavor: Flavor, specs: Mapping[str, str], groups: dict[str, Group],
             req: PlacementRequest) -> None:
    policy = specs.get("hw:cpu_policy")
    unsuffixed = groups[""]
    if policy == "dedicated" and flavor.vcpus is not None:
        pcpus = flavor.vcpus + (1 if specs.get("hw:emulator_threads_policy") == "isolate" else 0)
        unsuffixed.resources["PCPU"] = pcpus
        unsuffixed.resources.pop("VCPU", None)
        unsuffixed.resources["VCPU"] = 0
    elif policy == "mixed":
        req.notes.append("hw:cpu_policy=mixed: the VCPU/PCPU split is not modelled; VCPU only")
    thread = specs.get("hw:cpu_thread_policy")
    if thread == "isolate":
        unsuffixed.forbidden.add("HW_CPU_HYPERTHREADING")
    elif thread == "require":
        unsuffixed.required.add("HW_CPU_HYPERTHREADING")


def _sql_eq(a: str, b: str) -> bool:
    """Nova matches aggregate metadata in MySQL (case and trailing spaces ignored)."""
    return a.rstrip(" ").lower() == b.rstrip(" ").lower()


def tenant_aggregates(aggregates: Iterable[Aggregate], project_id: str) -> list[Aggregate]:
    """Aggregates ``require_tenant_aggregate`` finds for a project: a ``filter_tenant_id*`` key
    whose whole value is the project ID (``AggregateList.get_by_metadata(value=project)``:
    a comma-separated list of projects does not match)."""
    out = []
    for agg in aggregates:
        if any(k.startswith(TENANT_KEY) and _sql_eq(v, project_id)
               for k, v in agg.metadata.items()):
            out.append(agg)
    return out


def listed_tenant_aggregates(aggregates: Iterable[Aggregate]) -> list[tuple[Aggregate, str]]:
    """(aggregate, key) whose filter_tenant_id* value lists several projects."""
    return [(a, k) for a in aggregates for k, v in sorted(a.metadata.items())
            if k.startswith(TENANT_KEY) and "," in v]


# ----------------------------------------------------------------------------- the answer


@dataclass
class Answer:
    """One ``GET /allocation_candidates`` answer, by host."""

    hosts: set[str]  # hosts with at least one allocation request
    # host -> resource class -> free (capacity - used, summed over the host's providers)
    free: dict[str, dict[str, int]] = field(default_factory=dict)
    unmapped: int = 0  # root providers with no compute host known to Nova


def parse_answer(body: Mapping[str, Any], host_by_root: Mapping[str, str]) -> Answer:
    summaries: Mapping[str, Any] = body.get("provider_summaries") or {}
    root_of = {rp: str(s.get("root_provider_uuid") or rp) for rp, s in summaries.items()}
    answer = Answer(set())
    unmapped = set()
    for rp, summary in summaries.items():
        host = host_by_root.get(root_of[rp])
        if host is None:
            unmapped.add(root_of[rp])
            continue
        free = answer.free.setdefault(host, {})
        for rc, res in (summary.get("resources") or {}).items():
            free[rc] = free.get(rc, 0) + int(res.get("capacity", 0)) - int(res.get("used", 0))
    for alloc in body.get("allocation_requests") or []:
        for rp in alloc.get("allocations") or {}:
            host = host_by_root.get(root_of.get(rp, rp))
            if host is not None:
                answer.hosts.add(host)
    answer.unmapped = len(unmapped)
    return answer


@dataclass
class HostPlacement:
    in_answer: bool
    fits: int | None = None  # how many more servers of this flavor fit (None: not known)
    first_out: str | None = None  # the resource class that runs out first
    removed_by: list[str] = field(default_factory=list)  # constraint labels
    reason: str = ""  # why it is not in the answer, in words


@dataclass
class PlacementView:
    request: PlacementRequest
    hosts: dict[str, HostPlacement]
    requests: int  # GET /allocation_candidates sent (1 + relaxed)
    relaxed: int
    emptied_by: list[str]  # when nothing came back: the single constraints that empty it
    summary: str
    notes: list[str] = field(default_factory=list)


def fits(request: PlacementRequest, free: Mapping[str, int]) -> tuple[int | None, str | None]:
    """How many more of the request fit in ``free``, and the class that runs out first."""
    need: dict[str, int] = {}
    for group in request.groups.values():
        for rc, n in group.resources.items():
            need[rc] = need.get(rc, 0) + n
    best: tuple[int, str] | None = None
    for rc, n in sorted(need.items()):
        if rc not in free:
            return 0, rc
        count = max(free[rc], 0) // n
        if best is None or count < best[0]:
            best = (count, rc)
    if best is None:
        return None, None
    return best


def view(
    request: PlacementRequest,
    answer: Answer,
    relaxed: Mapping[Constraint, Answer],
    hosts: Iterable[str],
    skipped: int = 0,
) -> PlacementView:
    """Per host: in the answer (and how many more fit), or the constraint that removes it."""
    out: dict[str, HostPlacement] = {}
    every_free: dict[str, dict[str, int]] = {}
    for ans in [answer, *relaxed.values()]:
        for host, free in ans.free.items():
            every_free.setdefault(host, free)
    for host in hosts:
        known = every_free.get(host)
        count, first = fits(request, known) if known is not None else (None, None)
        if host in answer.hosts:
            out[host] = HostPlacement(True, count, first)
            continue
        by = [c.label for c, ans in relaxed.items() if host in ans.hosts]
        hp = HostPlacement(False, count, first, by)
        if len(by) == 1:
            hp.reason = f"placement: removed by {by[0]}"
        elif by:
            hp.reason = f"placement: removed by any one of {'; '.join(by)}"
        elif relaxed or skipped:
            hp.reason = ("placement: not a candidate, and no single constraint brings it back "
                         "(more than one removes it)")
        else:
            hp.reason = "placement: not a candidate"
        if known is None and not by:
            hp.reason = "placement: no resource provider of this host in any answer"
        out[host] = hp
    emptied: list[str] = []
    if not answer.hosts:
        emptied = [c.label for c, ans in relaxed.items() if ans.hosts]
    n = 1 + len(relaxed)
    if answer.hosts:
        summary = (f"placement: {len(answer.hosts)} host(s) in the answer ({n} "
                   f"GET /allocation_candidates)")
    elif len(emptied) == 1:
        summary = (f"placement: no allocation candidates; the single constraint that empties "
                   f"the answer is {emptied[0]} ({n} GET /allocation_candidates)")
    elif emptied:
        summary = (f"placement: no allocation candidates; leaving out any one of "
                   f"{'; '.join(emptied)} gives some ({n} GET /allocation_candidates)")
    else:
        summary = (f"placement: no allocation candidates, and no single constraint left out "
                   f"gives any ({n} GET /allocation_candidates)")
    notes = []
    if skipped:
        notes.append(f"placement: {skipped} constraint(s) not re-asked (at most {MAX_RELAXED})")
    if answer.unmapped:
        notes.append(f"placement: {answer.unmapped} root provider(s) in the answer are no "
                     "compute node Nova lists")
    return PlacementView(request, out, n, len(relaxed), emptied, summary, notes)


def mirror_drift(
    aggregate: Aggregate, members: Iterable[str], node_of: Mapping[str, list[str]]
) -> list[str]:
    """Hosts of a Nova aggregate none of whose compute nodes is in its Placement mirror."""
    inside = set(members)
    return [h for h in sorted(set(aggregate.hosts))
            if node_of.get(h) and not inside & set(node_of[h])]
