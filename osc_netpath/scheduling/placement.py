"""Placement-side rules visible through the APIs: required traits and isolated aggregates.

* trait requests in flavor extra specs: ``nova/scheduler/utils.py`` (``ResourceRequest``,
  ``XS_KEYPAT``: ``trait[$S]:NAME`` with ``$S`` of 1-64 ``[a-zA-Z0-9_-]``) and
  ``nova/objects/request_spec.py`` (``RequestGroup.add_trait``: only ``required`` and
  ``forbidden`` count, anything else is logged and ignored);
* ``nova/scheduler/request_filter.py`` (``isolate_aggregates``, on with
  ``[scheduler] enable_isolated_aggregate_filtering``) with
  ``nova/objects/aggregate.py`` (``get_non_matching_by_metadata_keys``): an aggregate that has any
  metadata ``trait:NAME=required`` whose NAME the request does not require is *forbidden*: none of
  its hosts may be used, whatever other aggregates they are in.

Only the flavor's explicit trait specs are modelled; traits Nova derives from the image or from
``hw:`` specs (secure boot, vTPM…) are not visible here.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from osc_netpath.scheduling.model import Aggregate

_TRAIT_KEY = re.compile(r"^trait([a-zA-Z0-9_-]{1,64})?:(.*)$")
ISOLATION_PREFIX = "trait:"
ISOLATION_VALUE = "required"


@dataclass
class TraitGroup:
    suffix: str  # "" for the unsuffixed group
    required: set[str] = field(default_factory=set)
    forbidden: set[str] = field(default_factory=set)


def trait_groups(extra_specs: Mapping[str, str]) -> dict[str, TraitGroup]:
    """The flavor's trait requests by request-group suffix ("" = unsuffixed)."""
    groups: dict[str, TraitGroup] = {}
    for key, value in extra_specs.items():
        found = _TRAIT_KEY.match(key)
        if not found or value not in ("required", "forbidden"):
            continue
        suffix, name = found.group(1) or "", found.group(2)
        group = groups.setdefault(suffix, TraitGroup(suffix))
        (group.required if value == "required" else group.forbidden).add(name)
    return groups


def required_traits(extra_specs: Mapping[str, str]) -> set[str]:
    """All required traits over every group (``ResourceRequest.all_required_traits``)."""
    return {t for g in trait_groups(extra_specs).values() for t in g.required}


def _sql_equal(a: str, b: str) -> bool:
    """Equality as MySQL compares Nova's aggregate metadata (utf8mb3_general_ci: case and
    trailing spaces ignored), in ``nova/objects/aggregate.py``
    (``_get_non_matching_by_metadata_keys_from_db``: ``value = 'required'``,
    ``key LIKE 'trait:%'``, ``key NOT IN (...)``)."""
    return a.rstrip(" ").lower() == b.rstrip(" ").lower()


def isolating_key(key: str, value: str) -> bool:
    """True when Nova's isolate_aggregates reads metadata ``key=value`` as trait:NAME=required."""
    return (_sql_equal(key[:len(ISOLATION_PREFIX)], ISOLATION_PREFIX)
            and _sql_equal(value, ISOLATION_VALUE))


def isolating_traits(aggregate: Aggregate) -> list[str]:
    """Traits an aggregate reserves for requests that require them (``trait:NAME=required``)."""
    return sorted(
        key[len(ISOLATION_PREFIX):]
        for key, value in aggregate.metadata.items()
        if isolating_key(key, value)
    )


def isolated_aggregates(
    aggregates: Iterable[Aggregate], extra_specs: Mapping[str, str]
) -> dict[str, list[str]]:
    """Aggregates forbidden to this flavor -> the isolating traits it does not require."""
    wanted = {t.rstrip(" ").lower() for t in required_traits(extra_specs)}
    out: dict[str, list[str]] = {}
    for agg in aggregates:
        missing = [t for t in isolating_traits(agg) if t.rstrip(" ").lower() not in wanted]
        if missing:
            out[agg.name] = missing
    return out
