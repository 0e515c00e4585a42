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
import re
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


_DECODER = json.JSONDecoder(parse_constant=_reject)
_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace
_DATA_OPEN = re.compile(r'[ \t\n\r]*\{[ \t\n\r]*"data"[ \t\n\r]*:[ \t\n\r]*\[')
_HEADINGS_KEY = re.compile(r'"headings"[ \t\n\r]*:[ \t\n\r]*')
_LINE = re.compile(r"[^\n]+")  # what splitlines() cuts into lines, as far as JSON text goes
_CLOSE = re.compile(r"[ \t\n\r]*\}[ \t\n\r]*\Z")


def _decode(table: str, text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except RecursionError:
        raise Malformed(f"{table}: JSON nested too deeply") from None
    except ValueError as exc:
        raise Malformed(f"{table}: {exc}") from None


def _streamed(table: str, line: str) -> tuple[Any, Iterator[Any]] | None:
    """(headings, rows decoded one at a time) for ovs-vsctl's own layout
    ``{"data":[row, ...],"headings":[...]}``, so a 10k-row table never exists twice in memory;
    None for any other layout (then it is decoded whole)."""
    opening = _DATA_OPEN.match(line)
    at = line.rfind('"headings"')
    key = _HEADINGS_KEY.match(line, at) if opening and at > 0 else None
    if opening is None or key is None:
        return None
    headings, end = _decode(table, line, key.end())
    if not _CLOSE.match(line, end):
        return None

    def rows() -> Iterator[Any]:
        pos = _WS.match(line, opening.end()).end()  # type: ignore[union-attr]
        if line.startswith("]", pos):
            pos += 1
        else:
            while True:
                row, pos = _decode(table, line, pos)
                yield row
                pos = _WS.match(line, pos).end()  # type: ignore[union-attr]
                if not line.startswith((",", "]"), pos):
                    raise Malformed(f"{table}: data is not a list of rows")
                pos += 1
                if line[pos - 1] == "]":
                    break
                pos = _WS.match(line, pos).end()  # type: ignore[union-attr]
        pos = _WS.match(line, pos).end()  # type: ignore[union-attr]
        if not line.startswith(",", pos) or _WS.match(line, pos + 1).end() != at:  # type: ignore[union-attr]
            raise Malformed(f"{table}: data is not followed by its headings")

    return headings, rows()


class _Table:
    """One ``list`` result: its headings, and its rows as lists read by column name."""

    def __init__(self, table: str, headings: Any, data: Iterator[Any]) -> None:
        self.table = table
        if not isinstance(headings, list) or not all(isinstance(h, str) for h in headings) \
                or len(set(headings)) != len(headings):
            raise Malformed(f"{table}: headings are not a list of distinct names")
        self.index = {h: i for i, h in enumerate(headings)}
        self._data = data

    @classmethod
    def parse(cls, table: str, line: str) -> _Table:
        streamed = _streamed(table, line)
        if streamed is not None:
            return cls(table, *streamed)
        doc, end = _decode(table, line, _WS.match(line).end())  # type: ignore[union-attr]
        if line[end:].strip():
            raise Malformed(f"{table}: extra data after the JSON document")
        return cls.of(table, doc)

    @classmethod
    def of(cls, table: str, doc: Any) -> _Table:
        if not isinstance(doc, dict):
            raise Malformed(f"{table}: expected a JSON object, got {_short(doc)}")
        if not isinstance(doc.get("data"), list):
            raise Malformed(f"{table}: data is not a list of rows")
        return cls(table, doc.get("headings"), iter(doc["data"]))

    def column(self, name: str) -> int:
        if name not in self.index:
            raise Malformed(f"{self.table}: no column {name!r}")
        return self.index[name]

    def data(self) -> Iterator[list[Any]]:
        """Each row once, checked to be a list of one value per heading."""
        for i, row in enumerate(self._data):
            if not isinstance(row, list) or len(row) != len(self.index):
                raise Malformed(f"{self.table}: row {i} does not match the {len(self.index)} "
                                "headings")
            yield row

    def rows(self, *columns: str) -> Iterator[tuple[Any, ...]]:
        """The named columns of every row, the first two (UUID and name, or a name) checked
        to be strings."""
        pick = operator.itemgetter(*[self.column(c) for c in columns])
        for row in self.data():
            values = pick(row)
            for column, value in zip(columns[:2], values[:2]):
                if column in ("_uuid", "name") and not isinstance(atom(value), str):
                    raise Malformed(f"{self.table}: {column} is not a string: {_short(value)}")
            yield (atom(values[0]),) + values[1:]


def rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``list`` result -> rows as {column: raw JSON value}."""
    table = _Table.of("table", document)
    return [{h: row[i] for h, i in table.index.items()} for row in table.data()]


def parse_vsctl(text: str) -> Ovs:
    """The probe's ovs-vsctl section (four JSON documents) -> Ovs, UUIDs resolved to names."""
    spans = [m.span() for m in _LINE.finditer(text) if not m.group().isspace()]
    if len(spans) != len(TABLES):
        raise Malformed(f"expected {len(TABLES)} ovs-vsctl tables, got {len(spans)}")

    def line(n: int) -> str:  # sliced when read: one big line in memory at a time
        return text[spans[n][0]:spans[n][1]]

    ovs = Ovs()

    iface_names: dict[str, str] = {}  # UUID -> name
    for (uuid, name, type_, ofport, mac, mtu, admin, link, options, ext, error) in _Table.parse(
            "Interface", line(3)).rows(
            "_uuid", "name", "type", "ofport", "mac_in_use", "mtu", "admin_state", "link_state",
            "options", "external_ids", "error"):
        iface_names[uuid] = name = atom(name)
        ovs.interfaces[name] = OvsInterface(
            name=name, type=_str(type_) or "", ofport=_int(ofport), mac_in_use=_str(mac),
            mtu=_int(mtu), admin_state=_str(admin), link_state=_str(link),
            options=as_map(options), external_ids=as_map(ext), error=_str(error))

    port_names: dict[str, str] = {}
    for (uuid, name, tag, trunks, vlan_mode, interfaces, other, ext) in _Table.parse(
            "Port", line(2)).rows("_uuid", "name", "tag", "trunks", "vlan_mode", "interfaces",
                                   "other_config", "external_ids"):
        port_names[uuid] = name = atom(name)
        ovs.ports[name] = OvsPort(
            name=name, bridge="", tag=_int(tag),
            trunks=sorted({t for t in as_set(trunks)
                           if isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 4096}),
            vlan_mode=_str(vlan_mode),
            interfaces=sorted(iface_names.get(u, u) for u in _strings(interfaces)),
            other_config=as_map(other), external_ids=as_map(ext))

    for (name, datapath, fail_mode, members, ext, protocols) in _Table.parse(
            "Bridge", line(1)).rows(
            "name", "datapath_type", "fail_mode", "ports", "external_ids", "protocols"):
        member_names = sorted(port_names.get(u, u) for u in _strings(members))
        ovs.bridges[name] = OvsBridge(
            name=name, datapath_type=_str(datapath) or None,  # "" means the default, "system"
            fail_mode=_str(fail_mode), ports=member_names, external_ids=as_map(ext),
            protocols=_strings(protocols))
        for member in member_names:
            if member in ovs.ports:
                ovs.ports[member].bridge = name

    for version, ext in _Table.parse("Open_vSwitch", line(0)).rows(
            "ovs_version", "external_ids"):
        ovs.ovs_version, ovs.external_ids = _str(version), as_map(ext)
        break  # one row: the database's own
    return ovs
