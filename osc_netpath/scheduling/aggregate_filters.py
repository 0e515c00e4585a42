"""Nova's aggregate host filters, re-implemented as pure functions over aggregate metadata.

* the metadata a host "has": ``nova/scheduler/filters/utils.py``
  (``aggregate_metadata_get_by_host``): the union over *all* aggregates of the host, each value
  split on ``,`` and stripped;
* ``nova/scheduler/filters/aggregate_instance_extra_specs.py``
  (AggregateInstanceExtraSpecsFilter);
* ``nova/scheduler/filters/aggregate_multitenancy_isolation.py``
  (AggregateMultiTenancyIsolation).
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from osc_netpath.scheduling import extra_specs_ops
from osc_netpath.scheduling.model import Aggregate

AGGREGATE_SCOPE = "aggregate_instance_extra_specs"
TENANT_PREFIX = "filter_tenant_id"

EXTRA_SPECS_FILTER = "AggregateInstanceExtraSpecsFilter"
MULTITENANCY_FILTER = "AggregateMultiTenancyIsolation"

# key -> value item -> names of the aggregates that carry it (the provenance is for messages only;
# Nova itself keeps just the set of value items).
HostMetadata = dict[str, dict[str, list[str]]]


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # Nova's scheduler raises for this request
    DEPENDS = "depends"  # cannot say without more input (e.g. the project)


@dataclass
class Verdict:
    outcome: Outcome
    reasons: list[str] = field(default_factory=list)
    # (aggregate names, key, value item, message): bad metadata values met while deciding
    bad_values: list[tuple[tuple[str, ...], str, str, str]] = field(default_factory=list)


def host_metadata(aggregates: Iterable[Aggregate]) -> HostMetadata:
    """The metadata Nova sees for a host that is a member of ``aggregates``."""
    merged: HostMetadata = {}
    for agg in aggregates:
        for key, raw in agg.metadata.items():
            items = merged.setdefault(key, {})
            for item in raw.split(","):
                names = items.setdefault(item.strip(), [])
                if agg.name not in names:
                    names.append(agg.name)
    return merged


def scoped_key(key: str) -> str | None:
    """The metadata key AggregateInstanceExtraSpecsFilter checks for flavor key ``key``, or None.

    Unscoped keys are checked as they are; ``aggregate_instance_extra_specs:`` is stripped, the
    split being on the first ``:`` only (``aggregate_instance_extra_specs:a:b`` checks ``a:b``);
    any other scope (``hw:``, ``trait:``, ``resources:``, ``capabilities:``...) is ignored.
    """
    scope, sep, rest = key.partition(":")
    if not sep:
        return key
    return rest if scope == AGGREGATE_SCOPE else None


def relevant_specs(extra_specs: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(flavor key, metadata key, requirement) that the filter checks, in the flavor's order."""
    out = []
    for key, req in extra_specs.items():
        meta_key = scoped_key(key)
        if meta_key is not None:
            out.append((key, meta_key, req))
    return out


def extra_specs_filter(extra_specs: Mapping[str, str], metadata: HostMetadata) -> Verdict:
    """AggregateInstanceExtraSpecsFilter for one host.

    Nova walks the flavor's keys in order and stops at the first key that fails (``return False``)
    or raises: that first decisive key gives the outcome. Every failing key is still listed in
    ``reasons`` so that an operator can fix them all at once.
    """
    verdict = Verdict(Outcome.PASS)
    for flavor_key, meta_key, req in relevant_specs(extra_specs):
        items = metadata.get(meta_key)
        if not items:
            verdict.reasons.append(f"{flavor_key}: no aggregate of the host sets {meta_key!r}")
            _decide(verdict, Outcome.FAIL)
            continue
        matched: list[str] = []
        raised: list[tuple[str, extra_specs_ops.SpecError]] = []
        for item in sorted(items):
            try:
                if extra_specs_ops.match(item, req):
                    matched.append(item)
            except extra_specs_ops.SpecError as err:
                raised.append((item, err))
        for item, error in raised:
            if error.side == "value":
                verdict.bad_values.append((tuple(items[item]), meta_key, item, str(error)))
        shown = ",".join(sorted(items))
        if raised and not matched:
            # No item matches, so Nova tries them all and certainly reaches a raising one.
            verdict.reasons.append(
                f"{flavor_key}={req!r} against {meta_key}={shown!r}: Nova's scheduler raises "
                f"({raised[0][1]})")
            _decide(verdict, Outcome.ERROR)
        elif raised:
            # Nova iterates a set: whether it meets the raising item before the match is luck.
            verdict.reasons.append(
                f"{flavor_key}={req!r} against {meta_key}={shown!r}: matches {matched[0]!r} but "
                f"Nova's scheduler may raise first ({raised[0][1]})")
            _decide(verdict, Outcome.ERROR)
        elif not matched:
            verdict.reasons.append(
                f"{flavor_key}={req!r} does not match {meta_key}={shown!r}")
            _decide(verdict, Outcome.FAIL)
    return verdict


def _decide(verdict: Verdict, outcome: Outcome) -> None:
    # Only the first decisive key counts: Nova has returned (or raised) by then.
    if verdict.outcome is Outcome.PASS:
        verdict.outcome = outcome


def allowed_projects(metadata: HostMetadata) -> dict[str, list[str]]:
    """Project IDs allowed on a host by ``filter_tenant_id*`` keys (empty: no restriction)."""
    allowed: dict[str, list[str]] = {}
    for key, items in metadata.items():
        if key.startswith(TENANT_PREFIX):
            for project, aggs in items.items():
                names = allowed.setdefault(project, [])
                for agg in aggs:
                    if agg not in names:
                        names.append(agg)
    return allowed


def multitenancy_filter(project_id: str | None, metadata: HostMetadata) -> Verdict:
    """AggregateMultiTenancyIsolation for one host: restricted hosts take only listed projects."""
    allowed = allowed_projects(metadata)
    if not allowed:
        return Verdict(Outcome.PASS)
    names = sorted({a for aggs in allowed.values() for a in aggs})
    listed = ",".join(sorted(allowed))
    if project_id is None:
        return Verdict(Outcome.DEPENDS, [
            f"only projects {listed} (filter_tenant_id* of {', '.join(names)}); give --project"])
    if project_id in allowed:
        return Verdict(Outcome.PASS)
    return Verdict(Outcome.FAIL, [
        f"project {project_id} is not in filter_tenant_id* of {', '.join(names)} ({listed})"])
