"""API facts for ``openstack aggregate zone-map``, through the openstacksdk Connection.

A fixed handful of requests, whatever the number of hosts, aggregates or flavors:

* compute: version discovery (for the microversion), ``GET /os-aggregates``,
  ``GET /os-services?binary=nova-compute``, ``GET /flavors/detail?is_public=None`` (extra specs
  inline from microversion 2.61; one more page per 1000 flavors);
* identity, only for ``--project NAME``: ``GET /v3/projects?name=NAME``;
* only when the evaluated flavor requires traits: ``GET /os-hypervisors/detail`` (compute node
  UUID -> service host), placement discovery and one ``GET /resource_providers?required=...`` per
  request group of the flavor.

Nothing here interprets the facts; ``osc_netpath.scheduling`` does, purely. A failed call is
told as the service answered it (``cloud.errors.answered``).
"""
from __future__ import annotations

from typing import Any

from osc_netpath.cloud.errors import answer_of, answered, proxy_profile, service_name, unreachable
from osc_netpath.scheduling.model import Aggregate, ComputeService, Flavor, TraitCheck, ZoneFacts
from osc_netpath.scheduling.placement import TraitGroup

WANTED_MICROVERSION = "2.61"  # flavors list their extra_specs inline
HYPERVISOR_MICROVERSION = "2.53"  # hypervisor id is the compute node (= root provider) UUID
PLACEMENT_MICROVERSION = "1.18"  # ?required= on GET /resource_providers (root uuid since 1.14)

# The APIs Nova's default policy keeps for admins (a 403 there means: use an admin profile).
_ADMIN_ONLY = ("/os-aggregates", "/os-services", "/os-hypervisors")


class ZonesError(Exception):
    """A fact zone-map cannot do without could not be read (one line, says what to do)."""


def _version(text: str | None) -> tuple[int, int]:
    if not text:
        return (2, 1)
    major, _, minor = text.partition(".")
    return (int(major), int(minor or 0))


def _get(
    adapter: Any, path: str, what: str, missing: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    from keystoneauth1 import exceptions as ksa_exc

    try:
        resp = adapter.get(path, **kwargs)
    except ksa_exc.ClientException as exc:  # a refused token, no endpoint, no connection
        raise ZonesError(f"cannot {what}: {answer_of(adapter, exc)}") from None
    if resp.status_code >= 400:
        admin_only = next((f"{p.lstrip('/')} is admin-only" for p in _ADMIN_ONLY
                           if path.startswith(p)), None)
        raise ZonesError(f"cannot {what}: " + answered(
            service_name(adapter), resp, missing=missing, admin_only=admin_only,
            profile=proxy_profile(adapter)))
    data: dict[str, Any] = resp.json()
    return data


def _pages(adapter: Any, path: str, key: str, what: str, **kwargs: Any) -> list[dict[str, Any]]:
    """All items of a paginated Nova list (follows the ``<key>_links`` 'next' href)."""
    items: list[dict[str, Any]] = []
    url: str | None = path
    while url:
        body = _get(adapter, url, what, **kwargs)
        items.extend(body.get(key) or [])
        kwargs.pop("params", None)  # the next href carries the query
        url = next((link["href"] for link in body.get(f"{key}_links") or []
                    if link.get("rel") == "next"), None)
    return items


def parse_aggregate(body: dict[str, Any]) -> Aggregate:
    return Aggregate(
        id=body["id"],
        name=body.get("name") or str(body["id"]),
        hosts=list(body.get("hosts") or []),
        metadata={str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
        uuid=body.get("uuid"),
    )


def parse_service(body: dict[str, Any]) -> ComputeService:
    return ComputeService(
        host=body["host"],
        status=body.get("status") or "UNKNOWN",
        state=body.get("state") or "unknown",
        disabled_reason=body.get("disabled_reason"),
        forced_down=bool(body.get("forced_down")),
        zone=body.get("zone"),
    )


def _whole(value: Any) -> int | None:
    if value in (None, ""):
        return 0 if value == "" else None  # Nova shows no swap as ""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_flavor(body: dict[str, Any]) -> Flavor:
    specs = body.get("extra_specs")
    return Flavor(
        vcpus=_whole(body.get("vcpus")),
        ram=_whole(body.get("ram")),
        disk=_whole(body.get("disk")),
        ephemeral=_whole(body.get("OS-FLV-EXT-DATA:ephemeral", 0)),
        swap=_whole(body.get("swap", "")),
        id=str(body["id"]),
        name=body.get("name") or str(body["id"]),
        extra_specs={str(k): str(v) for k, v in specs.items()} if specs is not None else None,
        is_public=bool(body.get("os-flavor-access:is_public", True)),
        disabled=bool(body.get("OS-FLV-DISABLED:disabled", False)),
    )


def compute_microversion(conn: Any) -> str | None:
    """The highest compute microversion up to 2.61 that both sides speak (one discovery GET).

    The first call of the command: a refused token or an unreachable cloud fails here.
    """
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import utils as sdk_utils

    try:
        found: str | None = sdk_utils.maximum_supported_microversion(
            conn.compute, WANTED_MICROVERSION)
    except ksa_exc.ClientException as exc:
        raise ZonesError(answer_of(None, exc, conn=conn)) from None
    return found


def fetch(conn: Any) -> ZoneFacts:
    """Aggregates, nova-compute services and every flavor with its extra specs."""
    mv = compute_microversion(conn)
    aggregates = _get(conn.compute, "/os-aggregates", "list host aggregates", microversion=mv)
    services = _get(conn.compute, "/os-services", "list compute services",
                    params={"binary": "nova-compute"}, microversion=mv)
    # is_public=None: every flavor, private ones included, for an admin (public ones otherwise).
    flavors = _pages(conn.compute, "/flavors/detail", "flavors", "list flavors",
                     params={"is_public": "None"}, microversion=mv)
    facts = ZoneFacts(
        aggregates=[parse_aggregate(a) for a in aggregates.get("aggregates") or []],
        services=[parse_service(s) for s in services.get("services") or []
                  if s.get("binary", "nova-compute") == "nova-compute"],
        flavors=[parse_flavor(f) for f in flavors],
    )
    if mv is None:  # discovery gave none: an endpoint without microversions, or it failed
        facts.notes.append("the compute endpoint's version discovery gave no microversion: "
                           "requests use 2.1, flavor extra specs are read one flavor at a time, "
                           "only for --flavor")
    elif _version(mv) < _version(WANTED_MICROVERSION):
        facts.notes.append(f"compute API microversion {mv} < 2.61: flavor extra specs "
                           "are read one flavor at a time, only for --flavor")
    return facts


def fetch_extra_specs(conn: Any, flavor: Flavor) -> Flavor:
    """The flavor with its extra specs, when the list did not carry them (one GET)."""
    if flavor.extra_specs is not None:
        return flavor
    body = _get(conn.compute, f"/flavors/{flavor.id}/os-extra_specs",
                f"read the extra specs of flavor {flavor.name}",
                missing=f"Nova knows no flavor {flavor.id} (deleted since it was listed?)")
    flavor.extra_specs = {str(k): str(v) for k, v in (body.get("extra_specs") or {}).items()}
    return flavor


def resolve_project(conn: Any, name_or_id: str) -> str:
    """A project ID (``cloud.projects``), its failure as zone-map's."""
    from osc_netpath.cloud import projects

    try:
        return projects.resolve(conn, name_or_id)
    except projects.ProjectError as exc:
        raise ZonesError(str(exc)) from None


def fetch_trait_checks(
    conn: Any, groups: dict[str, TraitGroup], mv: str | None
) -> tuple[list[TraitCheck] | None, list[str]]:
    """Which hosts satisfy each group of required traits; (None, notes) when not readable."""
    notes = []
    if any(g.forbidden for g in groups.values()):
        notes.append("forbidden traits (trait...=forbidden) are not checked")
    wanted = {s: g for s, g in sorted(groups.items()) if g.required}
    if not wanted:
        return [], notes
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    hyp_mv = HYPERVISOR_MICROVERSION if _version(mv) >= _version(HYPERVISOR_MICROVERSION) else mv
    try:
        placement = conn.placement  # building the proxy runs Placement version discovery
    except (ksa_exc.ClientException, sdk_exc.SDKException) as exc:
        notes.append(f"required traits not checked: {unreachable('Placement', exc)}")
        return None, notes
    try:
        nodes = _pages(conn.compute, "/os-hypervisors/detail", "hypervisors",
                       "list hypervisors", microversion=hyp_mv)
        host_by_node: dict[str, str] = {}
        for node in nodes:
            host = (node.get("service") or {}).get("host")
            if host:
                host_by_node[str(node.get("id"))] = host
                host_by_node.setdefault(f"name:{node.get('hypervisor_hostname')}", host)
        checks = []
        for suffix, group in wanted.items():
            traits = sorted(group.required)
            body = _get(placement, "/resource_providers",
                        f"ask Placement for providers with {','.join(traits)}",
                        params={"required": ",".join(traits)}, microversion=PLACEMENT_MICROVERSION)
            hosts = set()
            for rp in body.get("resource_providers") or []:
                root = rp.get("root_provider_uuid") or rp.get("uuid")
                host = host_by_node.get(str(root))
                if host is None and root == rp.get("uuid"):
                    host = host_by_node.get(f"name:{rp.get('name')}")
                if host:
                    hosts.add(host)
            checks.append(TraitCheck(group=suffix, traits=traits, hosts=sorted(hosts)))
    except ZonesError as exc:
        notes.append(f"required traits not checked: {exc}")
        return None, notes
    return checks, notes
