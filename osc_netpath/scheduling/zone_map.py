"""The zone map: zones -> aggregates -> hosts, where a flavor can land, and findings. Pure.

The order of the checks for one host follows what Nova does for a boot request:

1. API: the requested zone must be available (``nova/compute/api.py``);
2. Placement pre-filters (``nova/scheduler/request_filter.py``): the zone
   (``map_az_to_placement_aggregate``), disabled computes (``compute_status_filter``), isolated
   aggregates (``isolate_aggregates``, only with ``enable_isolated_aggregate_filtering``), then the
   flavor's required traits in Placement;
3. host filters in ``enabled_filters`` order: ComputeFilter (in Nova's defaults: a down compute is
   out), then the aggregate filters chosen here (``--filters``).

A host that an earlier step removed never reaches a later filter, so it cannot make that filter
raise; but one host that reaches a raising comparison makes the whole request fail.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from osc_netpath.scheduling import aggregate_filters as af
from osc_netpath.scheduling import availability_zones as azs
from osc_netpath.scheduling import candidates, capabilities, extra_specs_ops, placement
from osc_netpath.scheduling.model import Aggregate, ComputeService, Flavor, TraitCheck, ZoneFacts

DEFAULT_FILTERS = (af.EXTRA_SPECS_FILTER, af.MULTITENANCY_FILTER)
KNOWN_FILTERS = DEFAULT_FILTERS
# Nova host filters that may be named in --filters (as in enabled_filters) without being
# modelled: naming them says they are enabled (read by the spec-without-filter findings).
OTHER_FILTERS = (
    "ComputeFilter", "ComputeCapabilitiesFilter", "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter", "NUMATopologyFilter",
    "PciPassthroughFilter", "AggregateImagePropertiesIsolation", "AggregateIoOpsFilter",
    "AggregateNumInstancesFilter", "AggregateTypeAffinityFilter", "AllHostsFilter",
    "DifferentHostFilter", "SameHostFilter", "SimpleCIDRAffinityFilter", "IoOpsFilter",
    "IsolatedHostsFilter", "JsonFilter", "MetricsFilter", "NumInstancesFilter",
)
# extra spec (prefix) -> the host filter that reads it (nova/scheduler/filters/)
SPEC_FILTERS = (
    ("hw:numa_", "NUMATopologyFilter"),
    ("hw:mem_page_size", "NUMATopologyFilter"),
    ("pci_passthrough:alias", "PciPassthroughFilter"),
)


class ZoneMapError(ValueError):
    """The request itself is wrong (unknown zone, unknown filter...): one line for the user."""


class Lands(enum.Enum):
    YES = "yes"
    NO = "no"
    ERROR = "error"  # Nova's scheduler raises on this host: the whole request fails
    DEPENDS = "depends"  # depends on the project (AggregateMultiTenancyIsolation without one)


@dataclass
class Request:
    flavor: Flavor | None = None
    project_id: str | None = None
    project_label: str | None = None  # how to name the project in messages (default: its ID)
    zone: str | None = None
    default_zone: str = "nova"
    filters: Sequence[str] = DEFAULT_FILTERS
    placement_isolation: bool = False
    other_filters: Sequence[str] = ()  # named in --filters, enabled but not modelled
    prefilters: candidates.PreFilters | None = None  # None: Placement not asked
    placement: candidates.PlacementView | None = None
    image: candidates.Image | None = None


@dataclass
class Finding:
    code: str  # stable, for scripts and tests
    message: str


@dataclass
class HostVerdict:
    lands: Lands
    reasons: list[str] = field(default_factory=list)
    # True when only the compute service (disabled/down) keeps the flavor off this host
    service_only: bool = False


@dataclass
class FlavorResult:
    flavor: Flavor
    verdicts: dict[str, HostVerdict]
    summary: str
    lands_nowhere: bool


@dataclass
class AggregateNode:
    aggregate: Aggregate | None  # None: hosts of the zone that are in no aggregate at all
    hosts: list[str]


@dataclass
class ZoneNode:
    name: str | None  # None: aggregates without a zone and without hosts
    available: bool
    default: bool
    aggregates: list[AggregateNode]


@dataclass
class ZoneMap:
    zones: list[ZoneNode]
    services: dict[str, ComputeService]
    host_zones: dict[str, list[str]]
    applied: list[str]
    notes: list[str]
    findings: list[Finding]
    flavor: FlavorResult | None = None
    placement: candidates.PlacementView | None = None


def parse_filters(text: str | None) -> list[str]:
    """``--filters`` value -> filter names (empty for 'none'); ZoneMapError when unknown."""
    if text is None:
        return list(DEFAULT_FILTERS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in KNOWN_FILTERS and n not in OTHER_FILTERS]
    if unknown:
        raise ZoneMapError(
            f"unknown or unsupported filter {', '.join(unknown)}: zone-map can apply "
            f"{', '.join(KNOWN_FILTERS)} (or 'none'), and takes Nova's other filter names "
            "as enabled")
    return list(dict.fromkeys(names))


def split_filters(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(modelled filters, other enabled filters) of a parse_filters() list."""
    return ([n for n in names if n in KNOWN_FILTERS], [n for n in names if n not in KNOWN_FILTERS])


def find_flavor(flavors: Iterable[Flavor], name_or_id: str) -> Flavor:
    """The flavor with that ID, else that name (ZoneMapError when none or several)."""
    flavors = list(flavors)
    by_id = [f for f in flavors if f.id == name_or_id]
    if by_id:
        return by_id[0]
    by_name = [f for f in flavors if f.name == name_or_id]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        ids = ", ".join(f.id for f in by_name)
        raise ZoneMapError(f"more than one flavor is named {name_or_id!r} ({ids}): give its ID")
    raise ZoneMapError(f"no flavor with name or ID {name_or_id!r}")


class _Context:
    """What every flavor evaluation shares: hosts, their aggregates and metadata, the zone."""

    def __init__(self, facts: ZoneFacts, request: Request) -> None:
        self.facts = facts
        self.request = request
        self.services: dict[str, ComputeService] = {}
        for svc in facts.services:
            self.services.setdefault(svc.host, svc)
        hosts: dict[str, None] = dict.fromkeys(sorted(self.services))
        for agg in facts.aggregates:
            hosts.update(dict.fromkeys(agg.hosts))
        self.hosts = sorted(hosts)
        self.aggs_of: dict[str, list[Aggregate]] = {h: [] for h in self.hosts}
        for agg in facts.aggregates:
            for host in dict.fromkeys(agg.hosts):
                self.aggs_of[host].append(agg)
        self.zones = azs.host_zones(facts.aggregates, self.hosts, request.default_zone)
        self.available = azs.available_zones(self.zones, facts.services)
        # Hosts with the same aggregates share their metadata and filter verdicts.
        self.signature = {h: tuple(id(a) for a in self.aggs_of[h]) for h in self.hosts}
        self._metadata: dict[tuple[int, ...], af.HostMetadata] = {}
        self._tenancy: dict[tuple[int, ...], tuple[tuple[str, tuple[str, ...]], ...]] = {}
        self._items: dict[tuple[tuple[int, ...], str], tuple[str, ...] | None] = {}
        self._base: dict[str, tuple[tuple[str, ...], bool, bool]] = {}
        # Every distinct value-item set per metadata key, to decide once whether a flavor's
        # numeric operators can raise anywhere.
        self.items_by_key: dict[str, set[tuple[str, ...]]] = {}
        for agg in facts.aggregates:
            for key, raw in agg.metadata.items():
                self.items_by_key.setdefault(key, set()).add(
                    tuple(i.strip() for i in raw.split(",")))
        self.zone_known = True
        self.zone_available = True
        self.candidates: set[str] | None = None  # hosts a zone request can reach (None: all)
        if request.zone is not None:
            known = {z for zs in self.zones.values() for z in zs}
            known.update(a.zone for a in facts.aggregates if a.zone is not None)
            if request.zone not in known and request.zone not in self.available:
                listed = ", ".join(sorted(known)) or "none"
                raise ZoneMapError(f"no availability zone {request.zone!r} (known: {listed})")
            self.zone_available = request.zone in self.available
            self.candidates = azs.zone_request_hosts(request.zone, facts.aggregates)

    def metadata(self, host: str) -> af.HostMetadata:
        sig = self.signature[host]
        if sig not in self._metadata:
            self._metadata[sig] = af.host_metadata(self.aggs_of[host])
        return self._metadata[sig]

    def items(self, host: str, key: str) -> tuple[str, ...] | None:
        """The sorted value items a host has for ``key`` (None when it lacks the key)."""
        cache_key = (self.signature[host], key)
        if cache_key not in self._items:
            found = self.metadata(host).get(key)
            self._items[cache_key] = tuple(sorted(found)) if found else None
        return self._items[cache_key]

    def base(self, host: str) -> tuple[tuple[str, ...], bool, bool]:
        """Flavor-independent part of a host's verdict: (reasons, excluded, service out)."""
        if host not in self._base:
            self._base[host] = self._compute_base(host)
        return self._base[host]

    def _compute_base(self, host: str) -> tuple[tuple[str, ...], bool, bool]:
        reasons = []
        excluded = service_out = False
        if self.candidates is not None and host not in self.candidates:
            reasons.append(f"outside zone {self.request.zone}")
            excluded = True
        svc = self.services.get(host)
        if svc is None:
            reasons.append("no nova-compute service on this host")
            excluded = True
        elif not svc.enabled:
            why = f" ({svc.disabled_reason})" if svc.disabled_reason else ""
            reasons.append(f"nova-compute {svc.status.lower()}{why}")
            service_out = True
        return tuple(reasons), excluded, service_out

    def tenancy(self, host: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The host's filter_tenant_id* restriction, hashable (with the aggregates' names)."""
        sig = self.signature[host]
        if sig not in self._tenancy:
            allowed = af.allowed_projects(self.metadata(host))
            self._tenancy[sig] = tuple(sorted((p, tuple(a)) for p, a in allowed.items()))
        return self._tenancy[sig]

    def shown_hosts(self) -> list[str]:
        if self.candidates is None:
            return self.hosts
        return [h for h in self.hosts if h in self.candidates]


def evaluate(facts: ZoneFacts, request: Request) -> ZoneMap:
    """Build the zone map for ``request`` from ``facts``."""
    ctx = _Context(facts, request)
    findings: list[Finding] = []
    notes = list(facts.notes)
    if request.placement is not None:
        notes.extend(request.placement.request.notes + request.placement.notes)
    notes.extend(_tenant_list_notes(ctx))
    findings.extend(_static_findings(ctx))
    flavor_result = None
    if request.flavor is not None:
        flavor_result = evaluate_flavor(ctx, request.flavor, trait_checks=True)
        findings.extend(_flavor_findings(ctx, flavor_result))
    else:
        findings.extend(_sweep(ctx, notes))
    if request.zone is not None and ctx.candidates is None:
        notes.append(
            f"no aggregate sets availability_zone={request.zone}: Nova does not restrict a "
            f"request for zone {request.zone!r}, so every host below is a candidate")
    return ZoneMap(
        zones=_tree(ctx),
        services=ctx.services,
        host_zones=ctx.zones,
        applied=_applied(ctx),
        notes=notes,
        findings=_dedupe(findings),
        flavor=flavor_result,
        placement=request.placement,
    )


def evaluate_flavor(
    ctx: _Context, flavor: Flavor, *, trait_checks: bool, first_yes: bool = False
) -> FlavorResult:
    """Where ``flavor`` can land. ``first_yes`` stops at the first host that takes it."""
    request = ctx.request
    specs = flavor.extra_specs or {}
    isolated = placement.isolated_aggregates(ctx.facts.aggregates, specs) \
        if request.placement_isolation else {}
    checks = (ctx.facts.trait_checks or []) if trait_checks else []
    check_hosts = [(c, set(c.hosts)) for c in checks]
    cache: dict[object, list[af.Verdict]] = {}
    verdicts: dict[str, HostVerdict] = {}
    meta_keys = tuple(dict.fromkeys(k for _, k, _ in af.relevant_specs(specs)))
    # One raising host fails the whole request, so stopping early is only safe when none can.
    first_yes = first_yes and not _can_raise(ctx, specs)
    for host in ctx.hosts:
        verdict = _host_verdict(ctx, host, specs, meta_keys, isolated, check_hosts, cache)
        verdicts[host] = verdict
        if first_yes and verdict.lands is Lands.YES:
            break
    return _flavor_result(ctx, flavor, verdicts)


def _can_raise(ctx: _Context, specs: dict[str, str]) -> bool:
    """Whether any comparison of this flavor against any aggregate value raises in Nova."""
    for _, meta_key, req in af.relevant_specs(specs):
        words = req.split()
        if not words or words[0] not in (*extra_specs_ops.NUMERIC_OPERATORS, "<or>"):
            continue  # string operators and plain values never raise
        for items in ctx.items_by_key.get(meta_key, ()):
            for item in items:
                try:
                    extra_specs_ops.match(item, req)
                except extra_specs_ops.SpecError:
                    return True
    return False


def _host_verdict(
    ctx: _Context,
    host: str,
    specs: dict[str, str],
    meta_keys: tuple[str, ...],
    isolated: dict[str, list[str]],
    check_hosts: list[tuple[TraitCheck, set[str]]],
    cache: dict[object, list[af.Verdict]],
) -> HostVerdict:
    base_reasons, excluded, service_excluded = ctx.base(host)
    reasons = list(base_reasons)
    svc = ctx.services.get(host)
    for agg in ctx.aggs_of[host] if isolated else ():
        if agg.name in isolated:
            traits = ", ".join(isolated[agg.name])
            reasons.append(f"aggregate {agg.name} is isolated for trait {traits} "
                           "(trait:...=required) that the flavor does not require")
            excluded = True
    live = request_placement(ctx, host)
    if live is not None and not live.in_answer:
        reasons.append(live.reason)
        if live.removed_by == [_STATUS_LABEL] and svc is not None and not svc.enabled:
            service_excluded = True  # only compute_status_filter: the service's state
        else:
            excluded = True
    for check, hosts in check_hosts:
        if host not in hosts:
            label = f"trait{check.group}" if check.group else "trait"
            traits = ",".join(check.traits)
            reasons.append(f"placement: no resource provider of the host has {label} {traits}")
            excluded = True
    if svc is not None and svc.enabled and not svc.up:
        reasons.append("nova-compute is down" + (" (forced down)" if svc.forced_down else ""))
        service_excluded = True
    lands = Lands.NO if (excluded or service_excluded) else Lands.YES
    # The filters only see the flavor's keys and the tenant keys of the host's metadata: hosts
    # that agree on those share one evaluation (what keeps 1000 x 1000 fast).
    key = (tuple(ctx.items(host, k) for k in meta_keys), ctx.tenancy(host))
    if key not in cache:
        cache[key] = _filter_verdicts(ctx, host, specs)
    filters_pass = True
    for verdict in cache[key]:
        reasons.extend(verdict.reasons)
        if verdict.outcome is af.Outcome.FAIL:
            filters_pass = False
        if lands in (Lands.YES, Lands.DEPENDS):
            if verdict.outcome is af.Outcome.FAIL:
                lands = Lands.NO
            elif verdict.outcome is af.Outcome.ERROR:
                lands = Lands.ERROR
            elif verdict.outcome is af.Outcome.DEPENDS:
                lands = Lands.DEPENDS
    service_only = service_excluded and not excluded and filters_pass
    return HostVerdict(lands, reasons, service_only)


_STATUS_LABEL = f"root_required !{candidates.DISABLED_TRAIT}"


def request_placement(ctx: _Context, host: str) -> candidates.HostPlacement | None:
    view = ctx.request.placement
    if view is None:
        return None
    return view.hosts.get(host)


def _filter_verdicts(ctx: _Context, host: str, specs: dict[str, str]) -> list[af.Verdict]:
    metadata = ctx.metadata(host)
    out = []
    for name in ctx.request.filters:
        if name == af.EXTRA_SPECS_FILTER:
            out.append(af.extra_specs_filter(specs, metadata) if specs else af.Verdict(
                af.Outcome.PASS))
        elif name == af.MULTITENANCY_FILTER:
            out.append(af.multitenancy_filter(ctx.request.project_id, metadata))
    return out


def _flavor_result(ctx: _Context, flavor: Flavor, verdicts: dict[str, HostVerdict]) -> FlavorResult:
    request = ctx.request
    scope = ""
    if request.zone is not None:
        scope += f" in zone {request.zone}"
    if request.project_id is not None:
        scope += f" for project {request.project_label or request.project_id}"
    label = f"flavor {flavor.name}{scope}"
    yes = [h for h, v in verdicts.items() if v.lands is Lands.YES]
    depends = [h for h, v in verdicts.items() if v.lands is Lands.DEPENDS]
    errors = [h for h, v in verdicts.items() if v.lands is Lands.ERROR]
    if request.zone is not None and not ctx.zone_available:
        summary = (f"{label} lands nowhere: zone {request.zone} has no enabled compute, so "
                   "Nova's API rejects the request")
        return FlavorResult(flavor, verdicts, summary, True)
    if request.placement is not None and request.placement.request.refused:
        for verdict in verdicts.values():
            verdict.lands = Lands.NO
            verdict.reasons.append("require_tenant_aggregate: no aggregate for the project")
        summary = f"{label} lands nowhere: {request.placement.request.refused}"
        return FlavorResult(flavor, verdicts, summary, True)
    if errors:
        summary = (f"{label} lands nowhere: Nova's scheduler raises while filtering "
                   f"{', '.join(errors)} (see Why), so the server goes to ERROR")
        return FlavorResult(flavor, verdicts, summary, True)
    if yes or depends:
        parts = []
        if yes:
            parts.append(f"lands on {', '.join(yes)}")
        if depends:
            parts.append(f"depending on the project, on {', '.join(depends)}")
        return FlavorResult(flavor, verdicts, f"{label} " + "; ".join(parts), False)
    summary = f"{label} lands on no enabled, up host (NoValidHost)"
    unusable = [h for h, v in verdicts.items() if v.service_only]
    if unusable:
        summary += f"; it would match {', '.join(unusable)} if their nova-compute were enabled and up"
    return FlavorResult(flavor, verdicts, summary, True)


def _flavor_findings(ctx: _Context, result: FlavorResult) -> list[Finding]:
    out = []
    if result.lands_nowhere:
        out.append(Finding("flavor-lands-nowhere", result.summary))
    out.extend(_spec_findings(result.flavor))
    out.extend(_bad_value_findings(ctx, result.flavor))
    out.extend(_unfiltered_spec_findings(ctx, result.flavor))
    out.extend(_placement_findings(ctx))
    return out


def _unfiltered_spec_findings(ctx: _Context, flavor: Flavor) -> list[Finding]:
    """Extra specs read only by a host filter that is not among the filters given."""
    enabled = set(ctx.request.filters) | set(ctx.request.other_filters)
    out = []
    for key in sorted(flavor.extra_specs or {}):
        for prefix, name in SPEC_FILTERS:
            if key.startswith(prefix) and name not in enabled:
                out.append(Finding(
                    "spec-filter-not-enabled",
                    f"flavor {flavor.name}: extra spec {key!r} is read by {name}, which is "
                    "not among the filters given (--filters, as nova.conf [filter_scheduler] "
                    f"enabled_filters): without it the spec is not checked when scheduling; "
                    f"if nova.conf enables it, add {name} to --filters"))
    return out


def _placement_findings(ctx: _Context) -> list[Finding]:
    """A Nova aggregate whose hosts' providers are not in its Placement mirror; tenant lists."""
    out = []
    facts = ctx.facts
    if facts.nodes is not None:
        for agg in facts.aggregates:
            if agg.uuid is None or agg.uuid not in facts.placement_members:
                continue
            missing = candidates.mirror_drift(agg, facts.placement_members[agg.uuid],
                                              facts.nodes)
            if missing:
                what = (f"zone {agg.zone} does not reach them through Placement"
                        if agg.zone else "the pre-filters that use it do not reach them")
                out.append(Finding(
                    "placement-aggregate-drift",
                    f"aggregate {agg.name} lists {', '.join(missing)} in Nova, but their "
                    f"resource providers are not in its Placement aggregate ({agg.uuid}): "
                    f"{what}; run 'nova-manage placement sync_aggregates'"))
    return out


def _tenant_list_notes(ctx: _Context) -> list[str]:
    """filter_tenant_id* lists that require_tenant_aggregate cannot see (said, not warned:
    whether the projects were meant to be limited to the aggregate is the operator's call)."""
    pre = ctx.request.prefilters
    if pre is None or not pre.tenant_aggregates:
        return []
    return [f"aggregate {agg.name}: {key} lists several projects; require_tenant_aggregate "
            "matches only a value that is one project ID, so it does not limit these projects "
            "to this aggregate (one filter_tenant_id<N> key per project would)"
            for agg, key in candidates.listed_tenant_aggregates(ctx.facts.aggregates)]


def _spec_findings(flavor: Flavor) -> list[Finding]:
    out = []
    for key, req in (flavor.extra_specs or {}).items():
        if capabilities.consumed_by_capabilities_filter(key):
            out.append(Finding(
                "capabilities-key",
                f"flavor {flavor.name}: unscoped extra spec {key!r} is also checked by "
                f"ComputeCapabilitiesFilter against the host itself; scope it as "
                f"'{af.AGGREGATE_SCOPE}:{key}' (or 'capabilities:{key}')"))
        if af.scoped_key(key) is not None:
            problem = extra_specs_ops.requirement_problem(req)
            if problem:
                out.append(Finding("bad-extra-spec", f"flavor {flavor.name}: {key}={req!r}: {problem}"))
    return out


def _bad_value_findings(ctx: _Context, flavor: Flavor) -> list[Finding]:
    """Aggregate metadata values that break an operator of ``flavor`` (whoever reaches them)."""
    out = []
    for flavor_key, meta_key, req in af.relevant_specs(flavor.extra_specs or {}):
        for agg in ctx.facts.aggregates:
            if meta_key not in agg.metadata:
                continue
            for item in dict.fromkeys(i.strip() for i in agg.metadata[meta_key].split(",")):
                try:
                    extra_specs_ops.match(item, req)
                except extra_specs_ops.SpecError as exc:
                    if exc.side == "value":
                        out.append(Finding(
                            "bad-metadata-value",
                            f"aggregate {agg.name}: {meta_key}={item!r} breaks flavor "
                            f"{flavor.name}'s {flavor_key}={req!r} ({exc})"))
    return out


def _sweep(ctx: _Context, notes: list[str]) -> list[Finding]:
    """Without --flavor: every flavor that lands nowhere, and every flavor's spec problems."""
    out: list[Finding] = []
    hidden = [f.name for f in ctx.facts.flavors if f.extra_specs is None]
    if hidden:
        notes.append(f"extra specs not visible for {len(hidden)} flavor(s); not evaluated")
    with_traits = 0
    for flavor in ctx.facts.flavors:
        if flavor.extra_specs is None or flavor.disabled:
            continue
        if placement.required_traits(flavor.extra_specs):
            with_traits += 1
        result = evaluate_flavor(ctx, flavor, trait_checks=False, first_yes=True)
        if result.lands_nowhere:
            out.append(Finding("flavor-lands-nowhere", result.summary))
        out.extend(_spec_findings(flavor))
        if _can_raise(ctx, flavor.extra_specs):
            out.extend(_bad_value_findings(ctx, flavor))
    if with_traits:
        notes.append(f"{with_traits} flavor(s) require traits: Placement is consulted only with "
                     "--flavor")
    return out


def _static_findings(ctx: _Context) -> list[Finding]:
    out: list[Finding] = []
    # With --zone, only what that request can reach is the operator's concern.
    shown = ctx.shown_hosts()
    aggs = ctx.facts.aggregates
    if ctx.candidates is not None:
        aggs = [a for a in aggs if a.zone == ctx.request.zone or set(a.hosts) & ctx.candidates]
    for host in shown:
        zones = ctx.zones[host]
        if len(zones) > 1:
            via = ", ".join(f"{a.name}={a.zone}" for a in ctx.aggs_of[host] if a.zone)
            out.append(Finding(
                "host-in-several-zones",
                f"host {host} is in {len(zones)} zones ({via}); a host can be in only one zone "
                f"(Nova shows it as {azs.service_zone(zones)!r})"))
    default = ctx.request.default_zone
    carrying = [a.name for a in aggs if a.zone == default]
    loose = [h for h in ctx.hosts  # all hosts: the ones a 'nova' request misses matter most
             if ctx.zones[h] == [default] and not any(a.zone == default for a in ctx.aggs_of[h])]
    if carrying and loose:
        out.append(Finding(
            "default-zone-split",
            f"aggregate {', '.join(carrying)} sets availability_zone={default}, the default "
            f"zone: a request for zone {default} reaches only its hosts, not "
            f"{', '.join(loose)} (in no zone aggregate, yet shown in zone {default})"))
    for agg in aggs:
        if agg.zone is not None and not agg.hosts:
            out.append(Finding("empty-zone-aggregate",
                               f"aggregate {agg.name} (zone {agg.zone}) has no hosts"))
        for key, raw in agg.metadata.items():
            if key == "availability_zone":
                continue  # a zone name is not a list
            if len(raw.split(",")) > 1 and any(not i.strip() for i in raw.split(",")):
                out.append(Finding(
                    "bad-metadata-value",
                    f"aggregate {agg.name}: {key}={raw!r} has an empty item between commas; "
                    "Nova keeps it as the empty string ''"))
            if (key.lower().startswith(placement.ISOLATION_PREFIX)
                    and raw != placement.ISOLATION_VALUE):
                if placement.isolating_key(key, raw):
                    msg = (f"isolates like {placement.ISOLATION_VALUE!r} only because Nova's "
                           "MySQL tables compare metadata without case (not on PostgreSQL); "
                           f"write {placement.ISOLATION_PREFIX}NAME={placement.ISOLATION_VALUE}")
                else:
                    msg = (f"does not isolate anything: only the value "
                           f"{placement.ISOLATION_VALUE!r} does")
                out.append(Finding("bad-metadata-value",
                                   f"aggregate {agg.name}: {key}={raw!r} {msg}"))
    for host in shown:
        svc = ctx.services.get(host)
        zone_names = ",".join(ctx.zones[host])
        if svc is None:
            names = ", ".join(a.name for a in ctx.aggs_of[host])
            out.append(Finding("unknown-host",
                               f"aggregate {names} lists host {host}, which has no nova-compute "
                               "service"))
            continue
        problems = []
        if not svc.enabled:
            problems.append(f"{svc.status.lower()}" + (
                f" ({svc.disabled_reason})" if svc.disabled_reason else ""))
        if not svc.up:
            problems.append("forced down" if svc.forced_down else (svc.state or "state unknown"))
        if problems:
            out.append(Finding("compute-unavailable",
                               f"nova-compute on {host} in zone {zone_names} is {', '.join(problems)}"))
    if ctx.request.zone is not None and not ctx.zone_available:
        out.append(Finding(
            "zone-not-available",
            f"zone {ctx.request.zone} has no enabled nova-compute: Nova's API answers "
            "'The requested availability zone is not available'"))
    return out


def _applied(ctx: _Context) -> list[str]:
    request = ctx.request
    rules = []
    if request.zone is not None:
        rules.append(f"zone {request.zone} (map_az_to_placement_aggregate)")
    rules.append("disabled computes out (compute_status_filter)")
    if request.placement_isolation:
        rules.append("isolated aggregates (enable_isolated_aggregate_filtering)")
    if request.flavor is not None and ctx.facts.trait_checks:
        rules.append("required traits (Placement)")
    if request.placement is not None:
        rules.append("Placement allocation candidates: " + ", ".join(
            request.placement.request.applied))
    rules.append("ComputeFilter (down computes out)")
    for name in request.filters:
        if name == af.MULTITENANCY_FILTER and request.project_id is None:
            rules.append(f"{name} (no --project: restricted hosts shown as 'depends')")
        else:
            rules.append(name)
    lines = ["applied: " + "; ".join(rules)]
    skipped = [n for n in KNOWN_FILTERS if n not in request.filters]
    if skipped:
        lines.append("not applied: " + ", ".join(skipped))
    if not request.placement_isolation and any(
            placement.isolating_traits(a) for a in ctx.facts.aggregates):
        lines.append("not applied: isolated aggregates (trait:...=required metadata); "
                     "add --placement-isolation if nova.conf sets "
                     "[scheduler] enable_isolated_aggregate_filtering")
    if request.other_filters:
        lines.append("enabled, not modelled: " + ", ".join(request.other_filters))
    pre = request.prefilters
    if pre is not None:
        off = [name for name, on in (
            ("limit_tenants_to_placement_aggregate", pre.tenant_aggregates),
            ("placement_aggregate_required_for_tenants", pre.tenant_aggregate_required),
            ("query_placement_for_image_type_support", pre.image_type_support),
            ("image_metadata_prefilter", pre.image_metadata)) if not on]
        if off:
            lines.append("not applied: " + ", ".join(off) + " ([scheduler] options, off unless "
                         "given)")
    lines.append("nova.conf [filter_scheduler] enabled_filters cannot be read through the API: "
                 "choose the set with --filters")
    return lines


def _tree(ctx: _Context) -> list[ZoneNode]:
    shown = set(ctx.shown_hosts())
    zone_names: set[str] = set()
    for host in shown:
        zone_names.update(ctx.zones[host])
    zone_names.update(a.zone for a in ctx.facts.aggregates if a.zone is not None)
    if ctx.candidates is not None and ctx.request.zone is not None:
        zone_names = {ctx.request.zone}
    aggs = sorted(ctx.facts.aggregates, key=lambda a: (a.name, a.id))
    in_any_aggregate = {h for a in aggs for h in a.hosts}
    out = []
    for zone in sorted(zone_names):
        nodes = []
        for agg in aggs:
            if agg.zone == zone:
                nodes.append(AggregateNode(agg, sorted(h for h in set(agg.hosts) if h in shown)))
        for agg in aggs:
            if agg.zone is None:
                members = sorted(h for h in set(agg.hosts) if h in shown and zone in ctx.zones[h])
                if members:
                    nodes.append(AggregateNode(agg, members))
        loose = sorted(h for h in shown if zone in ctx.zones[h] and h not in in_any_aggregate)
        if loose:
            nodes.append(AggregateNode(None, loose))
        default = zone == ctx.request.default_zone and not any(a.zone == zone for a in aggs)
        out.append(ZoneNode(zone, zone in ctx.available, default, nodes))
    if ctx.candidates is None:
        empty = [AggregateNode(a, []) for a in aggs if a.zone is None and not a.hosts]
        if empty:
            out.append(ZoneNode(None, False, False, empty))
    return out


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for f in findings:
        if (f.code, f.message) not in seen:
            seen.add((f.code, f.message))
            out.append(f)
    return out
