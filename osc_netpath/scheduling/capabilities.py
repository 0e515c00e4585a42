"""Which unscoped extra specs ComputeCapabilitiesFilter also consumes.

``nova/scheduler/filters/compute_capabilities_filter.py`` (``_satisfies_extra_specs``): a key
without ``:`` is checked against the host when ``HostState`` has an attribute of that name or the
compute node ``stats`` have that key (``hasattr(host_state, key) or key in stats``). Such a key is
then checked twice, once against aggregate metadata by AggregateInstanceExtraSpecsFilter and once
against the host's own state. ComputeCapabilitiesFilter is in Nova's default
``[filter_scheduler] enabled_filters``. The cure is to scope the key
(``aggregate_instance_extra_specs:KEY`` or ``capabilities:KEY``).

The attribute list follows ``nova/scheduler/host_manager.py`` (``HostState``); stats keys follow
``nova/compute/stats.py``. Driver-specific stats (e.g. Ironic node properties) cannot be seen
through the API, so a key not listed here may still be consumed on some hosts.
"""
from __future__ import annotations

import re

HOST_STATE_ATTRIBUTES = frozenset({
    "host", "nodename", "uuid", "total_usable_ram_mb", "total_usable_disk_gb", "disk_mb_used",
    "free_ram_mb", "free_disk_mb", "vcpus_total", "vcpus_used", "pci_stats", "numa_topology",
    "num_instances", "num_io_ops", "failed_builds", "host_ip", "hypervisor_type",
    "hypervisor_version", "hypervisor_hostname", "cpu_info", "supported_instances", "limits",
    "metrics", "aggregates", "instances", "ram_allocation_ratio", "cpu_allocation_ratio",
    "disk_allocation_ratio", "cell_uuid", "updated", "allocation_candidates", "service", "stats",
    # methods count too: hasattr() is true for them
    "update", "consume_from_request",
})
_STATS_KEY = re.compile(r"^(io_workload|failed_builds|num_instances|num_(vm|task|os_type|proj)_.+)$")


def consumed_by_capabilities_filter(key: str) -> bool:
    """True when ComputeCapabilitiesFilter would also check flavor extra spec ``key``."""
    if ":" in key:
        return False  # scoped: only 'capabilities:' is read by that filter, and it is not ours
    return key in HOST_STATE_ATTRIBUTES or bool(_STATS_KEY.match(key))
