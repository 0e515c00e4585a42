"""``ovs-vsctl --format=json --data=json list TABLE`` -> :class:`Ovs`.

The probe runs one ovs-vsctl with four ``list`` commands (Open_vSwitch, Bridge, Port, Interface,
in that order): one JSON document per line, ``{"headings": [...], "data": [[...], ...]}``.
``--data=json`` encodes OVSDB values as RFC 7047 does: an atom (string, integer, boolean, real),
``["uuid", U]``, ``["set", [atoms]]`` or ``["map", [[key, value], ...]]``; a set of exactly
one element is written as that bare element, and an empty optional column as ``["set", []]``.
"""
from __future__ import annotations

import json
from typing import Any

from osc_netpath.host.facts import Ovs, OvsBridge, OvsInterface, OvsPort

TABLES = ("Open_vSwitch", "Bridge", "Port", "Interface")  # the probe's order


def atom(value: Any) -> Any:
    """A single OVSDB atom; a UUID reference becomes its UUID string."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ("uuid", "named-uuid"):
        return value[1]
    return value


def as_set(value: Any) -> list[Any]:
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return [atom(v) for v in value[1]]
    return [atom(value)]


def as_map(value: Any) -> dict[str, str]:
    if isinstance(value, list) and len(value) == 2 and value[0] == "map":
        return {str(atom(k)): str(atom(v)) for k, v in value[1]}
    return {}


def optional(value: Any) -> Any:
    """An optional column (min 0, max 1): its value, or None when empty."""
    items = as_set(value)
    return items[0] if items else None


def _int(value: Any) -> int | None:
    v = optional(value)
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _str(value: Any) -> str | None:
    v = optional(value)
    return v if isinstance(v, str) else None


def rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``list`` result -> rows as {column: raw JSON value}."""
    headings = document["headings"]
    return [dict(zip(headings, row)) for row in document["data"]]


def parse_vsctl(text: str) -> Ovs:
    """The probe's ovs-vsctl section (four JSON documents) -> Ovs, UUIDs resolved to names."""
    docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    if len(docs) != len(TABLES):
        raise ValueError(f"expected {len(TABLES)} ovs-vsctl tables, got {len(docs)}")
    system, bridges, ports, ifaces = (rows(d) for d in docs)

    iface_names = {atom(r["_uuid"]): r["name"] for r in ifaces}
    port_names = {atom(r["_uuid"]): r["name"] for r in ports}
    port_bridge = {
        port_names.get(uuid, uuid): b["name"] for b in bridges for uuid in as_set(b["ports"])
    }
    ovs = Ovs(
        ovs_version=_str(system[0]["ovs_version"]) if system else None,
        external_ids=as_map(system[0]["external_ids"]) if system else {},
    )
    for b in bridges:
        ovs.bridges[b["name"]] = OvsBridge(
            name=b["name"],
            datapath_type=_str(b["datapath_type"]) or None,  # "" means the default, "system"
            fail_mode=_str(b["fail_mode"]),
            ports=sorted(port_names.get(u, u) for u in as_set(b["ports"])),
            external_ids=as_map(b["external_ids"]),
            protocols=[str(p) for p in as_set(b["protocols"])],
        )
    for p in ports:
        ovs.ports[p["name"]] = OvsPort(
            name=p["name"],
            bridge=port_bridge.get(p["name"], ""),
            tag=_int(p["tag"]),
            trunks=sorted(int(t) for t in as_set(p["trunks"])),
            vlan_mode=_str(p["vlan_mode"]),
            interfaces=sorted(iface_names.get(u, u) for u in as_set(p["interfaces"])),
            other_config=as_map(p["other_config"]),
            external_ids=as_map(p["external_ids"]),
        )
    for i in ifaces:
        ovs.interfaces[i["name"]] = OvsInterface(
            name=i["name"],
            type=_str(i["type"]) or "",
            ofport=_int(i["ofport"]),
            mac_in_use=_str(i["mac_in_use"]),
            mtu=_int(i["mtu"]),
            admin_state=_str(i["admin_state"]),
            link_state=_str(i["link_state"]),
            options=as_map(i["options"]),
            external_ids=as_map(i["external_ids"]),
            error=_str(i["error"]),
        )
    return ovs
