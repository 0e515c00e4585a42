"""Rows of a ZoneMap for cliff's formatters: a flat table, or a tree-shaped one. Pure.

Flat rows (the machine-readable form, default for ``-f json|yaml|csv|value``) have one row per
(zone, aggregate, host) membership, with plain values: metadata is a dict, the reasons a list.
Tree rows (default for ``-f table``) put zone, aggregate and host in one indented first column
and only fill the columns that make sense on each level.
"""
from __future__ import annotations

from typing import Any

from osc_netpath.scheduling.zone_map import AggregateNode, ZoneMap, ZoneNode

FLAT_COLUMNS = (
    "Zone", "Zone Available", "Aggregate", "Metadata", "Host", "Status", "State",
    "Disabled Reason",
)
TREE_COLUMNS = ("Zone / Aggregate / Host", "Metadata", "Status", "State", "Disabled Reason")
FLAVOR_COLUMNS = ("Lands", "Why")
PLACEMENT_COLUMNS = ("Fits", "Runs Out First")
NO_AGGREGATE = "(no aggregate)"
NO_ZONE = "(no zone)"
INDENT = "  "


def columns(zmap: ZoneMap, tree: bool) -> tuple[str, ...]:
    base = TREE_COLUMNS if tree else FLAT_COLUMNS
    if zmap.flavor is None:
        return base
    return base + FLAVOR_COLUMNS + (PLACEMENT_COLUMNS if zmap.placement is not None else ())


def flat_rows(zmap: ZoneMap) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for zone in zmap.zones:
        available = zone.available if zone.name is not None else None
        for node in zone.aggregates:
            agg_name = node.aggregate.name if node.aggregate else None
            metadata = dict(node.aggregate.metadata) if node.aggregate else None
            if not node.hosts:
                out.append((zone.name, available, agg_name, metadata, None, None, None, None)
                           + _no_flavor(zmap))
            for host in node.hosts:
                out.append((zone.name, available, agg_name, metadata, host)
                           + _service(zmap, host) + _flavor(zmap, host, as_list=True))
    return out


def tree_rows(zmap: ZoneMap) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for zone in zmap.zones:
        out.append((_zone_label(zone), "", _zone_status(zone), "", "") + _blank(zmap))
        for node in zone.aggregates:
            out.append((INDENT + _aggregate_label(node), _metadata_text(node), "", "", "")
                       + _blank(zmap))
            for host in node.hosts:
                out.append((INDENT * 2 + host, "") + tuple(v or "" for v in _service(zmap, host))
                           + _flavor(zmap, host, as_list=False))
    return out


def _zone_label(zone: ZoneNode) -> str:
    if zone.name is None:
        return NO_ZONE
    return f"{zone.name} (default zone)" if zone.default else zone.name


def _zone_status(zone: ZoneNode) -> str:
    if zone.name is None:
        return ""
    return "available" if zone.available else "not available"


def _aggregate_label(node: AggregateNode) -> str:
    return node.aggregate.name if node.aggregate else NO_AGGREGATE


def _metadata_text(node: AggregateNode) -> str:
    if node.aggregate is None:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(node.aggregate.metadata.items()))


def _service(zmap: ZoneMap, host: str) -> tuple[Any, ...]:
    svc = zmap.services.get(host)
    if svc is None:
        return ("no service", None, None)
    return (svc.status, svc.state if not svc.forced_down else "down (forced)",
            svc.disabled_reason)


def _flavor(zmap: ZoneMap, host: str, as_list: bool) -> tuple[Any, ...]:
    if zmap.flavor is None:
        return ()
    verdict = zmap.flavor.verdicts[host]
    why: Any = list(verdict.reasons) if as_list else "; ".join(verdict.reasons)
    return (verdict.lands.value, why) + _capacity(zmap, host, as_list)


def _capacity(zmap: ZoneMap, host: str, as_list: bool) -> tuple[Any, ...]:
    """How many more servers of the flavor fit (Placement), and what runs out first."""
    if zmap.placement is None:
        return ()
    live = zmap.placement.hosts.get(host)
    if live is None or live.fits is None:
        return (None, None) if as_list else ("", "")
    return (live.fits, live.first_out) if as_list else (str(live.fits), live.first_out or "")


def _extra(zmap: ZoneMap, blank: Any) -> int:
    if zmap.flavor is None:
        return 0
    return 2 + (2 if zmap.placement is not None else 0)


def _no_flavor(zmap: ZoneMap) -> tuple[Any, ...]:
    return (None,) * _extra(zmap, None)


def _blank(zmap: ZoneMap) -> tuple[Any, ...]:
    return ("",) * _extra(zmap, "")


def header(zmap: ZoneMap) -> list[str]:
    """Lines that say what was applied and the flavor's verdict (above the table)."""
    lines = list(zmap.applied)
    lines.extend(f"note: {n}" for n in zmap.notes)
    if zmap.placement is not None:
        lines.append(zmap.placement.summary)
    if zmap.flavor is not None:
        lines.append(zmap.flavor.summary)
    return lines
