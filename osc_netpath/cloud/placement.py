"""Placement's live view for ``openstack aggregate zone-map --flavor``: API facts only.

Requests, whatever the number of hosts:

* ``GET /os-hypervisors/detail`` (compute node UUID = root resource provider -> service host);
* Placement version discovery, then ``GET /allocation_candidates?...`` once, at 1.36 as Nova;
* only when a compute host is missing from that answer: one more ``GET /allocation_candidates``
  per constraint of the request, each with that one constraint left out, at most
  ``candidates.MAX_RELAXED``;
* one ``GET /resource_providers?member_of=<uuid>`` per aggregate the request names in
  ``member_of`` (the zone's, the project's, the isolated ones): the Placement mirror of that
  Nova aggregate.

The interpretation is in ``osc_netpath.scheduling.candidates`` (pure).
"""
from __future__ import annotations

from typing import Any

from osc_netpath.cloud.errors import unreachable
from osc_netpath.cloud.zones import HYPERVISOR_MICROVERSION, ZonesError, _get, _pages, _version
from osc_netpath.scheduling import candidates
from osc_netpath.scheduling.model import ZoneFacts

MEMBER_OF_MICROVERSION = "1.3"  # GET /resource_providers?member_of=


def host_nodes(conn: Any, mv: str | None) -> dict[str, list[str]]:
    """Compute host -> its compute node UUIDs (one ``GET /os-hypervisors/detail``)."""
    hyp_mv = HYPERVISOR_MICROVERSION if _version(mv) >= _version(HYPERVISOR_MICROVERSION) else mv
    nodes = _pages(conn.compute, "/os-hypervisors/detail", "hypervisors", "list hypervisors",
                   microversion=hyp_mv)
    out: dict[str, list[str]] = {}
    for node in nodes:
        host = (node.get("service") or {}).get("host")
        if host:
            out.setdefault(host, []).append(str(node.get("id")))
    return out


def _ask(placement: Any, request: candidates.PlacementRequest,
         without: candidates.Constraint | None, host_by_root: dict[str, str]) -> candidates.Answer:
    what = "ask Placement for allocation candidates" + (
        f" without {without.label}" if without else "")
    body = _get(placement, "/allocation_candidates", what, params=request.params(without),
                microversion=candidates.MICROVERSION)
    return candidates.parse_answer(body, host_by_root)


def fetch_view(
    conn: Any, facts: ZoneFacts, request: candidates.PlacementRequest, mv: str | None
) -> tuple[candidates.PlacementView | None, list[str]]:
    """Placement's answer for ``request``, per host; (None, notes) when it cannot be read.

    Fills ``facts.nodes`` and ``facts.placement_members`` on the way."""
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    notes: list[str] = []
    try:
        facts.nodes = host_nodes(conn, mv)
    except ZonesError as exc:
        return None, [f"Placement not asked: {exc}"]
    host_by_root = {node: host for host, ns in facts.nodes.items() for node in ns}
    if request.refused:
        return candidates.view(request, candidates.Answer(set()), {}, []), notes
    try:
        placement = conn.placement  # building the proxy runs Placement version discovery
    except (ksa_exc.ClientException, sdk_exc.SDKException) as exc:
        return None, [f"Placement not asked: {unreachable('Placement', exc)}"]
    try:
        answer = _ask(placement, request, None, host_by_root)
        hosts = sorted({s.host for s in facts.services} | set(facts.nodes))
        relaxed: dict[candidates.Constraint, candidates.Answer] = {}
        skipped = 0
        if any(h not in answer.hosts for h in hosts if h in facts.nodes):
            constraints = request.constraints()
            skipped = max(0, len(constraints) - candidates.MAX_RELAXED)
            for constraint in constraints[:candidates.MAX_RELAXED]:
                relaxed[constraint] = _ask(placement, request, constraint, host_by_root)
        for _, aggs in request.member_of:
            for agg in aggs:
                _mirror(placement, agg.uuid, facts)
        for agg in request.not_member_of:
            _mirror(placement, agg.uuid, facts)
    except ZonesError as exc:
        return None, [f"Placement view not available: {exc}"]
    return candidates.view(request, answer, relaxed, hosts, skipped), notes


def _mirror(placement: Any, uuid: str | None, facts: ZoneFacts) -> None:
    if uuid is None or uuid in facts.placement_members:
        return
    body = _get(placement, "/resource_providers", f"list the providers of aggregate {uuid}",
                params={"member_of": uuid}, microversion=MEMBER_OF_MICROVERSION)
    facts.placement_members[uuid] = [str(rp.get("uuid"))
                                     for rp in body.get("resource_providers") or []]


_STANDARD_IMAGE_KEYS = frozenset({
    "id", "name", "status", "disk_format", "container_format", "visibility", "protected",
    "min_disk", "min_ram", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
    "tags", "created_at", "updated_at", "owner", "self", "file", "schema", "locations",
    "direct_url", "stores", "os_hidden"})


def fetch_image(conn: Any, name_or_id: str) -> candidates.Image:
    """The image the request boots, as Glance shows it (its properties are top-level keys):
    ``GET /v2/images/<id>``, else ``GET /v2/images?name=``."""
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    what = f"look up image {name_or_id!r}"
    try:
        glance = conn.image
    except (ksa_exc.ClientException, sdk_exc.SDKException) as exc:
        raise ZonesError(f"cannot {what}: {unreachable('Glance', exc)}") from None
    resp = None
    try:
        resp = glance.get(f"/images/{name_or_id}", raise_exc=False)
    except ksa_exc.ClientException as exc:
        raise ZonesError(f"cannot {what}: {unreachable('Glance', exc)}") from None
    if resp.status_code == 200:
        body: dict[str, Any] = resp.json()
    else:
        found = _get(glance, "/images", what, params={"name": name_or_id}).get("images") or []
        if not found:
            raise ZonesError(f"no image with name or ID {name_or_id!r}")
        if len(found) > 1:
            ids = ", ".join(str(i.get("id")) for i in found)
            raise ZonesError(f"more than one image is named {name_or_id!r} ({ids}): give its ID")
        body = found[0]
    props = {str(k): str(v) for k, v in body.items()
             if k not in _STANDARD_IMAGE_KEYS and isinstance(v, (str, int, float, bool))}
    return candidates.Image(id=str(body.get("id")), name=str(body.get("name") or body.get("id")),
                            disk_format=body.get("disk_format"), properties=props)
