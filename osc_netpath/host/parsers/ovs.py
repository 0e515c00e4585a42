"""``ovs-vsctl --format=json --data=json list TABLE`` -> :class:`Ovs`.

The probe runs one ovs-vsctl with four ``list`` commands (Open_vSwitch, Bridge, Port, Interface,
in that order): one JSON document per line, ``{"headings": [...], "data": [[...], ...]}``.
``--data=json`` encodes OVSDB values as RFC 7047 does: an atom (string, integer, boolean, real),
``["uuid", U]``, ``["set", [atoms]]`` or ``["map", [[key, value], ...]]``; a set of exactly
one element is written as that bare element, and an empty optional column as ``["set", []]``.

The text comes from the host: anything that is not that shape is a ValueError naming the table,
never another exception. A big host lists 10k interfaces, so the documents are read one at a time
(Interface first, to name the ports' interfaces) and each is dropped once its rows are built.
"""
from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from typing import Any

from osc_netpath.host.facts import Ovs, OvsBridge, OvsInterface, OvsPort

TABLES = ("Open_vSwitch", "Bridge", "Port", "Interface")  # the probe's order


class Malformed(ValueError):
    """Output that is not what ovs-vsctl prints (a ValueError: the probe reports it as such)."""
MAX_INT = 2**63
_SCALARS = (str, int, float, bool)
_STR = {str}


def atom(value: Any) -> Any:
    """A single OVSDB atom; a UUID reference becomes its UUID string."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ("uuid", "named-uuid"):
        return value[1]
    return value


def as_set(value: Any) -> list[Any]:
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        if not isinstance(value[1], list):
            raise Malformed(f"malformed set: {_short(value)}")
        return [atom(v) for v in value[1]]
    return [atom(value)]


def _text(value: Any) -> str:
    value = atom(value)
    if not isinstance(value, _SCALARS):
        raise Malformed(f"expected an atom, got {_short(value)}")
    return value if isinstance(value, str) else json.dumps(value)


def as_map(value: Any) -> dict[str, str]:
    if isinstance(value, list) and len(value) == 2 and value[0] == "map":
        try:
            pairs = dict(value[1])  # C speed for the usual list of [string, string] pairs
            if set(map(type, pairs)) | set(map(type, pairs.values())) <= _STR:
                return pairs
        except (TypeError, ValueError):  # a UUID key, a malformed pair: checked one by one
            pass
        if not isinstance(value[1], list) or not all(
                isinstance(p, list) and len(p) == 2 for p in value[1]):
            raise Malformed(f"malformed map: {_short(value)}")
        return {_text(k): _text(v) for k, v in value[1]}
    return {}


def optional(value: Any) -> Any:
    """An optional column (min 0, max 1): its value, or None when empty."""
    items = as_set(value)
    return items[0] if items else None


def _int(value: Any) -> int | None:
    v = value if type(value) is int else optional(value)  # the bare value: the usual case
    return v if isinstance(v, int) and not isinstance(v, bool) and abs(v) < MAX_INT else None


def _str(value: Any) -> str | None:
    if type(value) is str:
        return value
    v = optional(value)
    return v if isinstance(v, str) else None


def _strings(value: Any) -> list[str]:
    return [v for v in as_set(value) if isinstance(v, str)]


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _reject(name: str) -> Any:
    raise Malformed(f"{name} is not a JSON number")


class _Table:
    """One ``list`` result: its rows as lists, read by column name."""

    def __init__(self, table: str, doc: Any) -> None:
        self.table = table
        if not isinstance(doc, dict):
            raise Malformed(f"{table}: expected a JSON object, got {_short(doc)}")
        headings, data = doc.get("headings"), doc.get("data")
        if not isinstance(headings, list) or not all(isinstance(h, str) for h in headings):
            raise Malformed(f"{table}: headings are not a list of names")
        if not isinstance(data, list):
            raise Malformed(f"{table}: data is not a list of rows")
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(headings):
                raise Malformed(f"{table}: row {i} does not match the {len(headings)} headings")
        self.index = {h: i for i, h in enumerate(headings)}
        self.data: list[list[Any]] = data

    @classmethod
    def parse(cls, table: str, line: str) -> _Table:
        try:
            doc = json.loads(line, parse_constant=_reject)
        except RecursionError:
            raise Malformed(f"{table}: JSON nested too deeply") from None
        except ValueError as exc:
            raise Malformed(f"{table}: {exc}") from None
        return cls(table, doc)

    def column(self, name: str) -> int:
        if name not in self.index:
            raise Malformed(f"{self.table}: no column {name!r}")
        return self.index[name]

    def rows(self, *columns: str) -> Iterator[tuple[Any, ...]]:
        """The named columns of every row, the first (a name or UUID) checked to be a string."""
        pick = operator.itemgetter(*[self.column(c) for c in columns])
        for row in self.data:
            values = pick(row)
            key = atom(values[0])
            if not isinstance(key, str):
                raise Malformed(f"{self.table}: {columns[0]} is not a string: {_short(key)}")
            yield (key,) + values[1:]


def rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``list`` result -> rows as {column: raw JSON value}."""
    table = _Table("table", document)
    return [{h: row[i] for h, i in table.index.items()} for row in table.data]


def _names(table: _Table) -> dict[str, str]:
    """UUID -> name of a table's rows."""
    names = dict(table.rows("_uuid", "name"))
    if not all(isinstance(n, str) for n in names.values()):
        raise Malformed(f"{table.table}: a name is not a string")
    return names


def parse_vsctl(text: str) -> Ovs:
    """The probe's ovs-vsctl section (four JSON documents) -> Ovs, UUIDs resolved to names."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != len(TABLES):
        raise Malformed(f"expected {len(TABLES)} ovs-vsctl tables, got {len(lines)}")
    ovs = Ovs()

    ifaces = _Table.parse("Interface", lines[3])
    iface_names = _names(ifaces)
    for (name, type_, ofport, mac, mtu, admin, link, options, ext, error) in ifaces.rows(
            "name", "type", "ofport", "mac_in_use", "mtu", "admin_state", "link_state",
            "options", "external_ids", "error"):
        ovs.interfaces[name] = OvsInterface(
            name=name, type=_str(type_) or "", ofport=_int(ofport), mac_in_use=_str(mac),
            mtu=_int(mtu), admin_state=_str(admin), link_state=_str(link),
            options=as_map(options), external_ids=as_map(ext), error=_str(error))
    del ifaces

    ports = _Table.parse("Port", lines[2])
    port_names = _names(ports)
    for (name, tag, trunks, vlan_mode, interfaces, other, ext) in ports.rows(
            "name", "tag", "trunks", "vlan_mode", "interfaces", "other_config", "external_ids"):
        ovs.ports[name] = OvsPort(
            name=name, bridge="", tag=_int(tag),
            trunks=sorted({t for t in as_set(trunks)
                           if isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 4096}),
            vlan_mode=_str(vlan_mode),
            interfaces=sorted(iface_names.get(u, u) for u in _strings(interfaces)),
            other_config=as_map(other), external_ids=as_map(ext))
    del ports

    bridges = _Table.parse("Bridge", lines[1])
    for (name, datapath, fail_mode, members, ext, protocols) in bridges.rows(
            "name", "datapath_type", "fail_mode", "ports", "external_ids", "protocols"):
        member_names = sorted(port_names.get(u, u) for u in _strings(members))
        ovs.bridges[name] = OvsBridge(
            name=name, datapath_type=_str(datapath) or None,  # "" means the default, "system"
            fail_mode=_str(fail_mode), ports=member_names, external_ids=as_map(ext),
            protocols=_strings(protocols))
        for member in member_names:
            if member in ovs.ports:
                ovs.ports[member].bridge = name

    system = _Table.parse("Open_vSwitch", lines[0])
    at_version, at_ext = system.column("ovs_version"), system.column("external_ids")
    if system.data:
        ovs.ovs_version = _str(system.data[0][at_version])
        ovs.external_ids = as_map(system.data[0][at_ext])
    return ovs
