"""Findings asked of Neutron again once the hosts have answered.

The port list is read before the probes, and a fleet's probes take minutes: a VM booted,
deleted or migrated meanwhile, a router created, would otherwise be a finding about the
past (an orphan that is the new VM's port, a missing interface of a port now gone, a
leftover namespace a new port put there). Each finding whose claim rests on Neutron's word
is re-asked, in chunks (requests grow with findings, not ports; none on a clean fleet), and
withdrawn when that word changed: what the host showed is no longer a contradiction of what
Neutron says. Withdrawn findings are recorded by key, so a replay withdraws the same ones.
"""
from __future__ import annotations

from typing import Any

from osc_lib.exceptions import CommandError

from osc_netpath.audit import checks
from osc_netpath.cloud.facts import CloudFacts, PortFacts

# a finding that names a port rests on that port as Neutron had it; but an interface in
# error is wrong on the host whatever Neutron says now
HOST_ONLY = frozenset({"interface-error"})
# the port attributes those claims read: any change and the claim is about the past
PORT_STATE = ("binding_host_id", "status", "admin_state_up", "binding_vif_type",
              "device_owner", "device_id")


def key(f: checks.Finding) -> str:
    return f"{f.host}|{f.cls}|{f.port}|{f.seen}"


def changed(before: PortFacts | None, now: PortFacts | None) -> bool:
    if before is None or now is None:
        return (before is None) != (now is None)
    return any(getattr(before, a) != getattr(now, a) for a in PORT_STATE)


def namespace_of(f: checks.Finding) -> tuple[str, str, str] | None:
    """(namespace, network/router, its id) of a namespace-leftover finding."""
    name = f.seen.removeprefix("namespace ")
    ref = checks._namespace_ref(name)
    return (name, *ref) if ref else None


def stale(conn: Any, cloud: CloudFacts, findings: list[checks.Finding],
          fresh_orphans: bool = False) -> set[str]:
    """Keys of the findings Neutron no longer backs. ``fresh_orphans``: the orphans' ports
    were already asked after the probes (a filtered run): not asked twice."""
    from osc_netpath.cloud import fleet

    notes = cloud.notes
    out: set[str] = set()
    claims = [f for f in findings if f.port and f.cls not in HOST_ONLY
              and not (fresh_orphans and f.cls == "orphan-port")]
    if claims:
        before = {p.id: p for p in cloud.ports}
        ids = sorted({f.port for f in claims})
        now = fleet.ports_by_id(conn, ids, notes)
        if now is not None:
            by_id = {p.id: p for p in now}
            out |= {key(f) for f in claims if changed(before.get(f.port), by_id.get(f.port))}
    out |= _stale_namespaces(conn, cloud, [f for f in findings
                                           if f.cls == "namespace-leftover"])
    return out


def _stale_namespaces(conn: Any, cloud: CloudFacts, leftovers: list[checks.Finding]
                      ) -> set[str]:
    """A leftover of a network/router Neutron did not have that it has now; one no bound
    port accounted for that a port bound there now does."""
    from osc_netpath.cloud import fleet

    refs = {key(f): (f, ref) for f in leftovers if (ref := namespace_of(f))}
    def was_gone(kind: str, rid: str) -> bool:  # as namespace_leftover decided it
        return rid not in cloud.networks if kind == "network" else \
            cloud.routers is not None and rid not in cloud.routers

    gone = {kind: sorted({rid for _, (_, k, rid) in refs.values()
                          if k == kind and was_gone(k, rid)}) for kind in ("network", "router")}
    out: set[str] = set()
    for kind, path in (("network", "/networks"), ("router", "/routers")):
        if gone[kind] and (now := fleet.existing_ids(conn, path, gone[kind], cloud.notes)):
            out |= {k for k, (_, (_, kd, rid)) in refs.items() if kd == kind and rid in now}
    unhosted = {k: (f, name) for k, (f, (name, kd, rid)) in refs.items()
                if rid not in gone[kd] and k not in out}
    hosts = sorted({f.host for f, _ in unhosted.values()})
    if not hosts:
        return out
    try:
        fresh = fleet.ports(conn, hosts=hosts)
    except CommandError as exc:  # the findings stand, and the note says why
        cloud.notes.append(f"ports of {', '.join(hosts)} not asked again: {exc}")
        return out
    ports = [p for p in cloud.ports if p.binding_host_id not in hosts] + fresh
    gateways = {a.host for a in cloud.agents if a.agent_type == checks.OVN_GATEWAY_AGENT}
    hosted = checks.hosted_namespaces(ports, set(cloud.snat_hosts), gateways)
    return out | {k for k, (f, name) in unhosted.items() if name in hosted.get(f.host, ())}
