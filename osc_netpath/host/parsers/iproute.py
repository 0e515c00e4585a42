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
from typing import Any

from osc_netpath.host.facts import Link


def _json_list(text: str, what: str) -> list[dict[str, Any]]:
    # Old iproute2 prints nothing at all for an empty `netns list`.
    data = json.loads(text) if text.strip() else []
    if not isinstance(data, list):
        raise TypeError(f"{what}: expected a JSON list")
    return data


def parse_links(text: str, namespace: str = "") -> list[Link]:
    """``ip -j -d link show`` -> Links (no addresses yet: see :func:`merge_addresses`)."""
    return [_link(item, namespace) for item in _json_list(text, "ip link")]


def _link(item: dict[str, Any], namespace: str) -> Link:
    info = item.get("linkinfo") or {}
    kind = info.get("info_kind")
    link = Link(
        ifindex=int(item["ifindex"]),
        name=item["ifname"],
        kind=kind,
        mac=item.get("address"),
        mtu=item.get("mtu"),
        operstate=item.get("operstate"),
        flags=list(item.get("flags") or []),
        master=item.get("master"),
        slave_kind=info.get("info_slave_kind"),
        namespace=namespace,
    )
    # "link" is the far end only for a veth (for a vlan or macvlan it is the lower device).
    if kind == "veth":
        link.peer_name = item.get("link")
        link.peer_ifindex = item.get("link_index")
        link.peer_netnsid = item.get("link_netnsid")
    return link


def merge_addresses(links: list[Link], text: str) -> list[Link]:
    """Add the addresses of ``ip -j addr show`` to the links with the same ifindex.

    IPv6 link-local addresses (fe80::, on every device) are left out: noise on a path.
    """
    by_index: dict[int, list[str]] = {}
    for item in _json_list(text, "ip addr"):
        by_index[int(item["ifindex"])] = [
            f"{a['local']}/{a['prefixlen']}"
            for a in item.get("addr_info") or []
            if "local" in a and not (a.get("family") == "inet6" and a.get("scope") == "link")
        ]
    return [dataclasses.replace(x, addresses=by_index.get(x.ifindex, x.addresses)) for x in links]


def parse_netns(text: str) -> dict[str, int | None]:
    """``ip -j netns list`` -> {name: nsid} (nsid None until the kernel assigned one)."""
    return {item["name"]: item.get("id") for item in _json_list(text, "ip netns list")}


def parse_sysfs(text: str) -> dict[str, tuple[int, int | None]]:
    """The probe's sysfs-net section (``NAME IFINDEX IFLINK`` lines) -> {name: (ifindex, iflink)}."""
    out: dict[str, tuple[int, int | None]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            iflink = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
            out[parts[0]] = (int(parts[1]), iflink)
    return out


_PEER_IFINDEX = re.compile(r"^\s*peer_ifindex:\s*(\d+)\s*$", re.MULTILINE)


def parse_ethtool_peer(text: str) -> int | None:
    """``ethtool -S VETH`` -> the ``peer_ifindex`` statistic, if there is one."""
    match = _PEER_IFINDEX.search(text)
    return int(match.group(1)) if match else None


def links_from_sysfs(
    sysfs: dict[str, tuple[int, int | None]], ethtool_peers: dict[str, int]
) -> list[Link]:
    """Bare links when ``ip`` gave nothing: names and ifindexes, veth peers from ethtool."""
    return [
        Link(ifindex=ifindex, name=name, kind="veth" if name in ethtool_peers else None,
             peer_ifindex=ethtool_peers.get(name))
        for name, (ifindex, _) in sorted(sysfs.items(), key=lambda kv: kv[1][0])
    ]


def fill_peers_from_sysfs(links: list[Link], sysfs: dict[str, tuple[int, int | None]]) -> list[Link]:
    """A veth whose peer ip did not report gets it from sysfs ``iflink`` (the same kernel value)."""
    out = []
    for link in links:
        _, iflink = sysfs.get(link.name, (link.ifindex, None))
        if link.kind == "veth" and link.peer_ifindex is None and iflink not in (None, link.ifindex):
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
    updates: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    for link in links:
        if link.kind != "veth":
            continue
        key = (link.namespace, link.ifindex)
        if link.peer_netnsid is None:
            peer = (by_name.get((link.namespace, link.peer_name)) if link.peer_name
                    else by_index.get((link.namespace, link.peer_ifindex or -1)))
            # An index alone may be a same-numbered device of another namespace (sysfs and
            # ethtool cannot tell): only two veths pointing at each other are a pair.
            if peer is not None and (link.peer_name or peer.peer_ifindex == link.ifindex):
                updates[key].update(peer_name=peer.name, peer_ifindex=peer.ifindex,
                                    peer_namespace=link.namespace)
        elif link.namespace == "" and link.peer_netnsid in ns_by_id:
            ns = ns_by_id[link.peer_netnsid]
            updates[key]["peer_namespace"] = ns
            peer = by_index.get((ns, link.peer_ifindex or -1))
            if peer is not None:
                updates[key]["peer_name"] = peer.name
                updates[(ns, peer.ifindex)].update(peer_namespace="", peer_name=link.name)
    return [dataclasses.replace(x, **updates.get((x.namespace, x.ifindex), {})) for x in links]
