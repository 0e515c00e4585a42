"""iproute2 JSON (``ip -j -d link``, ``ip -j addr``, ``ip -j netns list``), sysfs and ethtool.

Veth peers: ``ip -d link`` names the peer (``link``) when it is in the same namespace; otherwise
it gives ``link_index`` (the peer's ifindex in its own namespace) and ``link_netnsid`` (that
namespace's id as seen from here, which ``ip netns list`` maps to a name).
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from typing import Any, NamedTuple

from osc_netpath.host.facts import Link


def _json_list(text: str, what: str) -> list[dict[str, Any]]:
    # Old iproute2 prints nothing at all for an empty `netns list`.
    try:
        data = json.loads(text) if text.strip() else []
    except RecursionError:
        raise ValueError(f"{what}: JSON nested too deeply") from None
    if not isinstance(data, list):
        raise TypeError(f"{what}: expected a JSON list")
    return data


def parse_links(text: str, namespace: str = "") -> list[Link]:
    """``ip -j -d link show`` -> Links (no addresses yet: see :func:`merge_addresses`)."""
    return [_link(item, namespace) for item in _json_list(text, "ip link")]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    """An int the kernel could have given (JSON from a host is not trusted to be typed)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and -2**31 <= value < 2**32
    return value if ok else None


def _link(item: dict[str, Any], namespace: str) -> Link:
    if not isinstance(item, dict):
        raise TypeError("ip link: a device is not a JSON object")
    info = item.get("linkinfo")
    info = info if isinstance(info, dict) else {}
    ifindex, name = _int(item.get("ifindex")), _str(item.get("ifname"))
    if ifindex is None or not name:
        raise ValueError("ip link: a device without ifindex or ifname")
    kind = _str(info.get("info_kind"))
    flags = item.get("flags")
    link = Link(
        ifindex=ifindex,
        name=name,
        kind=kind,
        mac=_str(item.get("address")),
        mtu=_int(item.get("mtu")),
        operstate=_str(item.get("operstate")),
        flags=[f for f in flags if isinstance(f, str)] if isinstance(flags, list) else [],
        master=_str(item.get("master")),
        slave_kind=_str(info.get("info_slave_kind")),
        namespace=namespace,
    )
    # "link" is the far end only for a veth (for a vlan or macvlan it is the lower device).
    if kind == "veth":
        link.peer_name = _str(item.get("link"))
        link.peer_ifindex = _int(item.get("link_index"))
        link.peer_netnsid = _int(item.get("link_netnsid"))
    return link


def merge_addresses(links: list[Link], text: str) -> list[Link]:
    """Add the addresses of ``ip -j addr show`` to the links with the same ifindex.

    IPv6 link-local addresses (fe80::, on every device) are left out: noise on a path.
    """
    by_index: dict[int, list[str]] = {}
    for item in _json_list(text, "ip addr"):
        if not isinstance(item, dict) or (index := _int(item.get("ifindex"))) is None:
            continue
        infos = item.get("addr_info")
        by_index[index] = [
            f"{a['local']}/{a.get('prefixlen', '?')}"
            for a in (infos if isinstance(infos, list) else [])
            if isinstance(a, dict) and isinstance(a.get("local"), str)
            and not (a.get("family") == "inet6" and a.get("scope") == "link")
        ]
    return [dataclasses.replace(x, addresses=by_index.get(x.ifindex, x.addresses)) for x in links]


def parse_netns(text: str) -> dict[str, int | None]:
    """``ip -j netns list`` -> {name: nsid} (nsid None until the kernel assigned one)."""
    return {item["name"]: _int(item.get("id")) for item in _json_list(text, "ip netns list")
            if isinstance(item, dict) and isinstance(item.get("name"), str)}


class SysfsDevice(NamedTuple):
    """A line of the probe's sysfs-net section; None where sysfs gave nothing."""

    ifindex: int
    iflink: int | None = None
    mtu: int | None = None
    operstate: str | None = None
    mac: str | None = None
    master: str | None = None


def _sysfs_int(word: str) -> int | None:
    return int(word) if word.isdigit() and len(word) < 12 else None


def parse_sysfs(text: str) -> dict[str, SysfsDevice]:
    """The probe's sysfs-net section -> {name: SysfsDevice}.

    Lines read ``NAME IFINDEX IFLINK MTU OPERSTATE ADDRESS MASTER`` ('-' = unreadable); captures
    from older probes have the first three columns only.
    """
    out: dict[str, SysfsDevice] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or _sysfs_int(parts[1]) is None:
            continue
        cols = [None if p == "-" else p for p in parts[2:7]] + [None] * 5
        iflink, mtu, oper, mac, master = cols[:5]
        out[parts[0]] = SysfsDevice(
            ifindex=int(parts[1]), iflink=_sysfs_int(iflink or ""), mtu=_sysfs_int(mtu or ""),
            operstate=oper.upper() if oper else None, mac=mac, master=master)
    return out


_PEER_IFINDEX = re.compile(r"^\s*peer_ifindex:\s*(\d+)\s*$", re.MULTILINE)


def parse_ethtool_peer(text: str) -> int | None:
    """``ethtool -S VETH`` -> the ``peer_ifindex`` statistic, if there is one."""
    match = _PEER_IFINDEX.search(text)
    return int(match.group(1)) if match else None


def links_from_sysfs(sysfs: dict[str, SysfsDevice], ethtool_peers: dict[str, int]) -> list[Link]:
    """Links when ``ip`` gave nothing: what sysfs holds, veth peers from ethtool.

    A device with a peer_ifindex statistic is a veth; sysfs cannot tell the other kinds apart.
    """
    return [
        Link(ifindex=dev.ifindex, name=name, kind="veth" if name in ethtool_peers else None,
             mac=dev.mac, mtu=dev.mtu, operstate=dev.operstate, master=dev.master,
             peer_ifindex=ethtool_peers.get(name))
        for name, dev in sorted(sysfs.items(), key=lambda kv: kv[1].ifindex)
    ]


def fill_peers(links: list[Link], sysfs: dict[str, SysfsDevice],
               ethtool_peers: dict[str, int]) -> list[Link]:
    """A veth whose peer ip did not report gets it from sysfs ``iflink`` (the same kernel value),
    else from ethtool's ``peer_ifindex`` (old kernels give veths no iflink)."""
    out = []
    for link in links:
        if link.kind == "veth" and link.peer_ifindex is None:
            iflink = sysfs[link.name].iflink if link.name in sysfs else None
            if link.peer_name is None and link.name in ethtool_peers:
                link = dataclasses.replace(link, peer_ifindex=ethtool_peers[link.name])
            elif iflink not in (None, link.ifindex):
                link = dataclasses.replace(link, peer_ifindex=iflink)
        out.append(link)
    return out


def resolve_peers(links: list[Link], nsids: dict[str, int | None]) -> list[Link]:
    """Name every veth peer that can be named, across the root and the listed namespaces.

    ``nsids`` (from the root's ``ip netns list``) resolve a root link's ``link_netnsid``; the
    namespace side of such a pair then learns its peer is in the root namespace.
    """
    ns_by_id = {nsid: name for name, nsid in nsids.items() if nsid is not None}
    by_index = {(x.namespace, x.ifindex): x for x in links}
    by_name = {(x.namespace, x.name): x for x in links}
    by_peer: dict[tuple[int, int | None], list[Link]] = defaultdict(list)  # (ifindex, peer's)
    for x in links:
        if x.kind == "veth" and x.peer_netnsid is not None:
            by_peer[(x.ifindex, x.peer_ifindex)].append(x)
    updates: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    for link in links:
        if link.kind != "veth":
            continue
        key = (link.namespace, link.ifindex)
        if link.peer_netnsid is None and link.peer_namespace is None:
            peer = (by_name.get((link.namespace, link.peer_name)) if link.peer_name
                    else by_index.get((link.namespace, link.peer_ifindex or -1)))
            # An index alone may be a same-numbered device of another namespace (sysfs and
            # ethtool cannot tell): only two veths pointing at each other are a pair.
            if peer is not None and (link.peer_name or peer.peer_ifindex == link.ifindex):
                updates[key].update(peer_name=peer.name, peer_ifindex=peer.ifindex,
                                    peer_namespace=link.namespace)
        elif link.namespace == "" and (link.peer_namespace or link.peer_netnsid in ns_by_id):
            # text output of a newer ip names the namespace itself (link-netns NAME)
            ns = link.peer_namespace or ns_by_id[link.peer_netnsid or 0]
            updates[key]["peer_namespace"] = ns
            peer = by_index.get((ns, link.peer_ifindex or -1))
            if peer is not None:
                updates[key]["peer_name"] = peer.name
                updates[(ns, peer.ifindex)].update(peer_namespace="", peer_name=link.name)
        elif link.namespace and link.peer_namespace is None and link.peer_ifindex is not None:
            # namespace to namespace (DVR's rfp- ⇄ fpr-): link_netnsid is an id in this
            # namespace's own table, which the root's list cannot name; a veth elsewhere that
            # points back at this one is the peer, when exactly one does
            back = [x for x in by_peer.get((link.peer_ifindex, link.ifindex), [])
                    if x.namespace not in ("", link.namespace)]
            if len(back) == 1:
                updates[key].update(peer_name=back[0].name, peer_namespace=back[0].namespace)
    return [dataclasses.replace(x, **updates.get((x.namespace, x.ifindex), {})) for x in links]


# --------------------------------------------------------------------------- text (no `ip -j`)
# iproute2 before 4.13 has no JSON output. ``ip -d -o link show`` prints one record per device
# (``-o`` joins its lines with "\"; without -o, continuation lines are indented):
#   5: qvbX@qvoX: <BROADCAST,UP,LOWER_UP> mtu 1450 qdisc noqueue master qbrX state UP mode …
#   \    link/ether 06:9f:… brd ff:… [link-netns NAME | link-netnsid N] promiscuity 1 …
#   \    veth \    bridge_slave state forwarding …
# "@PEER" names a same-namespace peer, "@ifN" gives its ifindex (another namespace), "@NONE" none.

_LINK_HEAD = re.compile(
    r"^(?P<index>\d+):\s+(?P<name>[^\s:@]+)(?:@(?P<at>[^\s:]+))?:\s+<(?P<flags>[^>]*)>(?P<rest>.*)$")
_NOT_KIND = frozenset({"addrgenmode", "altname", "vf", "prop", "alias", "inet6"})


def _records(text: str) -> list[str]:
    """One string per device: -o records, or a head line plus its indented continuation lines."""
    records: list[str] = []
    for line in text.splitlines():
        if _LINK_HEAD.match(line) or not records:
            records.append(line)
        elif line[:1].isspace():
            records[-1] += "\\" + line
    return [r for r in records if _LINK_HEAD.match(r)]


def _word_after(words: list[str], key: str) -> str | None:
    try:
        return words[words.index(key) + 1]
    except (ValueError, IndexError):
        return None


def _text_link(record: str, namespace: str) -> Link:
    head, *segments = [s.strip() for s in record.split("\\")]
    m = _LINK_HEAD.match(head)
    assert m is not None  # _records keeps matching records only
    words = m["rest"].split()
    mtu = _word_after(words, "mtu")
    link = Link(ifindex=int(m["index"]), name=m["name"], flags=m["flags"].split(",") if m["flags"] else [],
                mtu=int(mtu) if mtu and mtu.isdigit() else None, master=_word_after(words, "master"),
                operstate=_word_after(words, "state"), namespace=namespace)
    netnsid: int | None = None
    netns_name: str | None = None
    for seg in segments:
        seg_words = seg.split()
        if not seg_words:
            continue
        first = seg_words[0]
        if first.startswith("link/"):
            if first != "link/none" and len(seg_words) > 1:
                link.mac = seg_words[1]
            nsid = _word_after(seg_words, "link-netnsid")
            netnsid = int(nsid) if nsid and nsid.isdigit() else None
            netns_name = _word_after(seg_words, "link-netns")
        elif first.endswith("_slave"):
            link.slave_kind = link.slave_kind or first[: -len("_slave")]
        elif first not in _NOT_KIND and link.kind is None:
            link.kind = first
    at = m["at"]
    if link.kind == "veth" and at and at != "NONE":
        if at.startswith("if") and at[2:].isdigit():
            link.peer_ifindex = int(at[2:])
            link.peer_netnsid = netnsid
            if netns_name is not None:  # newer ip names the peer's namespace itself
                link.peer_namespace = netns_name
        else:
            link.peer_name = at
    return link


def parse_links_text(text: str, namespace: str = "") -> list[Link]:
    """``ip -d -o link show`` (or without ``-o``) -> Links, as :func:`parse_links` gives them."""
    return [_text_link(r, namespace) for r in _records(text)]


_ADDR_LINE = re.compile(r"^(?P<index>\d+):\s+(?P<name>\S+)\s+(?P<family>inet6?)\s+(?P<addr>\S+)(?P<rest>.*)$")


def merge_addresses_text(links: list[Link], text: str) -> list[Link]:
    """``ip -o addr show`` -> addresses on the links with the same ifindex (IPv6 link-local out)."""
    by_index: dict[int, list[str]] = {}
    for line in text.splitlines():
        m = _ADDR_LINE.match(line.strip())
        if not m:
            continue
        rest = m["rest"].split("\\")[0].split()
        if m["family"] == "inet6" and _word_after(rest, "scope") == "link":
            continue
        by_index.setdefault(int(m["index"]), []).append(m["addr"])
    return [dataclasses.replace(x, addresses=by_index.get(x.ifindex, x.addresses)) for x in links]


def parse_netns_text(text: str) -> dict[str, int | None]:
    """``ip netns list`` -> {name: nsid}: ``qdhcp-… (id: 3)`` or a bare name."""
    out: dict[str, int | None] = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)(?:\s+\(id:\s*(\d+)\))?\s*$", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2)) if m.group(2) else None
    return out
