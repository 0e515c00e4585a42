"""``virsh -r dumpxml DOMAIN`` (and ``domstate``) -> :class:`Domain`.

The XML comes from the hypervisor and carries tenant-chosen text (nova puts the server name in
its metadata): parsed with defusedxml, which refuses entities and external references.
"""
from __future__ import annotations

from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from osc_netpath.host.facts import Domain, DomainInterface


def _attr(parent: Element, path: str, name: str) -> str | None:
    node = parent.find(path)
    return node.get(name) if node is not None else None


def _size(text: str | None) -> int | None:
    """A plain decimal attribute (an MTU); None for anything else, "²" and 5000 digits too."""
    ok = text is not None and text.isascii() and text.isdigit() and len(text) <= 9
    return int(text) if ok and text is not None else None


def _interface(node: Element) -> DomainInterface:
    return DomainInterface(
        type=node.get("type", ""),
        mac=_attr(node, "mac", "address"),
        target_dev=_attr(node, "target", "dev"),
        source_bridge=_attr(node, "source", "bridge"),
        model=_attr(node, "model", "type"),
        mtu=_size(_attr(node, "mtu", "size")),
        virtualport_type=_attr(node, "virtualport", "type"),
        interface_id=_attr(node, "virtualport/parameters", "interfaceid"),
    )


def parse_domain(xml: str, state: str | None = None) -> Domain:
    """A domain's XML -> Domain with its network interfaces in device order."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:  # a SyntaxError: callers expect ValueError
        raise ValueError(f"malformed domain XML: {exc}") from None
    if root.tag != "domain":
        raise ValueError(f"expected <domain>, got <{root.tag}>")
    return Domain(
        name=root.findtext("name", ""),
        uuid=root.findtext("uuid"),
        state=state,
        interfaces=[_interface(n) for n in root.findall("devices/interface")],
    )


def parse_domstate(text: str) -> str | None:
    """``virsh domstate`` -> "running", "shut off", "paused"… (first line)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first or None
