"""Availability zones as Nova computes them, from aggregates and compute services.

* a host's zone: ``nova/availability_zones.py`` (``set_availability_zones``): the
  ``availability_zone`` metadata of the host's aggregates, joined with ``,`` when there are
  several (a host "in two zones"), else ``[DEFAULT] default_availability_zone`` (``nova``);
* the zones a user may request: ``nova/compute/api.py`` (``create``) accepts only zones that have
  at least one *enabled* service (``get_availability_zones(get_only_available=True)``), else
  "The requested availability zone is not available";
* what a zone request does in the scheduler: ``nova/scheduler/request_filter.py``
  (``map_az_to_placement_aggregate``, mandatory since the AvailabilityZoneFilter was removed):
  the host must be in one of the aggregates whose ``availability_zone`` equals the request. When no
  aggregate carries that zone (typically the default zone) Nova adds *no* restriction at all.
"""
from __future__ import annotations

from collections.abc import Iterable

from osc_netpath.scheduling.model import Aggregate, ComputeService


def host_zones(
    aggregates: Iterable[Aggregate], hosts: Iterable[str], default_zone: str
) -> dict[str, list[str]]:
    """Every host's zones (sorted; one element unless the host is, wrongly, in several)."""
    zones: dict[str, set[str]] = {host: set() for host in hosts}
    for agg in aggregates:
        if agg.zone is None:
            continue
        for host in agg.hosts:
            zones.setdefault(host, set()).add(agg.zone)
    return {host: sorted(found) if found else [default_zone] for host, found in zones.items()}


def service_zone(zones: list[str]) -> str:
    """The zone string Nova shows for (and matches against) a service in ``zones``."""
    return ",".join(zones)


def available_zones(
    zones_by_host: dict[str, list[str]], services: Iterable[ComputeService]
) -> set[str]:
    """Zones with at least one enabled compute service: the ones Nova's API lets users request."""
    return {
        service_zone(zones_by_host.get(s.host) or [])
        for s in services
        if s.enabled and zones_by_host.get(s.host)
    }


def zone_request_hosts(zone: str, aggregates: Iterable[Aggregate]) -> set[str] | None:
    """Hosts a request for ``zone`` can reach; None when Nova does not restrict it at all."""
    carrying = [agg for agg in aggregates if agg.zone == zone]
    if not carrying:
        return None
    return {host for agg in carrying for host in agg.hosts}
