"""Zones, placement isolation, capabilities keys, and the whole zone-map evaluation.

Semantics from nova/availability_zones.py, nova/scheduler/request_filter.py,
nova/objects/aggregate.py, nova/scheduler/utils.py and
nova/scheduler/filters/compute_capabilities_filter.py.
"""
from __future__ import annotations

import copy

import pytest

from osc_netpath.scheduling import availability_zones as azs
from osc_netpath.scheduling import capabilities, placement, view
from osc_netpath.scheduling import zone_map as zm
from osc_netpath.scheduling.model import (
    Aggregate,
    ComputeService,
    Flavor,
    TraitCheck,
    ZoneFacts,
)
from osc_netpath.serial import from_data, to_data

P1, P2 = "11111111111111111111111111111111", "22222222222222222222222222222222"


def facts() -> ZoneFacts:
    """az1 = {c1, c2}, az2 = {c3 (disabled)}, az3 = {} , nova (default) = {c4, c5 (down)}."""
    return ZoneFacts(
        aggregates=[
            Aggregate(1, "agg-ssd", ["c1", "c2"], {"availability_zone": "az1", "ssd": "true"}),
            Aggregate(2, "agg-gpu", ["c2", "c3"], {"gpu": "a100"}),
            Aggregate(3, "agg-az2", ["c3"], {"availability_zone": "az2"}),
            Aggregate(4, "agg-tenant", ["c4"], {"filter_tenant_id": P1}),
            Aggregate(5, "agg-az3", [], {"availability_zone": "az3"}),
            Aggregate(6, "agg-empty", [], {}),
        ],
        services=[
            ComputeService("c1"),
            ComputeService("c2"),
            ComputeService("c3", status="disabled", disabled_reason="maintenance"),
            ComputeService("c4"),
            ComputeService("c5", state="down"),
        ],
        flavors=[
            Flavor("1", "m1.ssd", {"aggregate_instance_extra_specs:ssd": "true"}),
            Flavor("2", "m1.gpu", {"gpu": "a100", "hw:cpu_policy": "dedicated"}),
            Flavor("3", "m1.any", {}),
            Flavor("4", "m1.none", {"ssd": "false"}),
        ],
    )


def run(f: ZoneFacts | None = None, flavor: str | None = None, **kw: object) -> zm.ZoneMap:
    f = f or facts()
    chosen = zm.find_flavor(f.flavors, flavor) if flavor else None
    return zm.evaluate(f, zm.Request(flavor=chosen, **kw))  # type: ignore[arg-type]


def lands(zmap: zm.ZoneMap) -> dict[str, str]:
    assert zmap.flavor is not None
    return {h: v.lands.value for h, v in zmap.flavor.verdicts.items()}


def codes(zmap: zm.ZoneMap) -> list[str]:
    return [f.code for f in zmap.findings]


# --- availability zones -------------------------------------------------------------------------

def test_host_zones_default_and_several() -> None:
    aggs = [Aggregate(1, "a", ["h1", "h2"], {"availability_zone": "z1"}),
            Aggregate(2, "b", ["h2"], {"availability_zone": "z2"}),
            Aggregate(3, "c", ["h3"], {"ssd": "true"})]
    assert azs.host_zones(aggs, ["h1", "h2", "h3", "h4"], "nova") == {
        "h1": ["z1"], "h2": ["z1", "z2"], "h3": ["nova"], "h4": ["nova"]}


def test_available_zones_need_an_enabled_service_and_use_the_joined_name() -> None:
    zones = {"h1": ["z1"], "h2": ["z1", "z2"], "h3": ["z3"]}
    services = [ComputeService("h1", status="disabled"), ComputeService("h2"),
                ComputeService("h3")]
    # h2 counts as "z1,z2", which nobody can request; z1 has only a disabled service
    assert azs.available_zones(zones, services) == {"z1,z2", "z3"}


def test_available_zones_count_a_down_but_enabled_service() -> None:
    assert azs.available_zones({"h": ["z"]}, [ComputeService("h", state="down")]) == {"z"}


ZONE_REQUESTS = [
    ("z1", {"h1", "h2"}),  # union over every aggregate carrying the zone
    ("z2", {"h3"}),
    ("nova", None),  # no aggregate carries it: Nova adds no restriction
]


@pytest.mark.parametrize(("zone", "hosts"), ZONE_REQUESTS)
def test_zone_request_hosts(zone: str, hosts: set[str] | None) -> None:
    aggs = [Aggregate(1, "a", ["h1"], {"availability_zone": "z1"}),
            Aggregate(2, "b", ["h2"], {"availability_zone": "z1"}),
            Aggregate(3, "c", ["h3"], {"availability_zone": "z2"}),
            Aggregate(4, "d", ["h4"], {})]
    assert azs.zone_request_hosts(zone, aggs) == hosts


# --- placement: traits and isolated aggregates --------------------------------------------------

TRAIT_SPECS = [
    ({"trait:CUSTOM_A": "required"}, {"": ({"CUSTOM_A"}, set())}),
    ({"trait:CUSTOM_A": "forbidden"}, {"": (set(), {"CUSTOM_A"})}),
    ({"trait1:CUSTOM_A": "required", "trait:CUSTOM_B": "required"},
     {"1": ({"CUSTOM_A"}, set()), "": ({"CUSTOM_B"}, set())}),
    ({"trait_gpu-2:CUSTOM_A": "required"}, {"_gpu-2": ({"CUSTOM_A"}, set())}),
    ({"trait:CUSTOM_A": "Required"}, {}),  # only 'required'/'forbidden' count
    ({"traits:CUSTOM_A": "required"}, {"s": ({"CUSTOM_A"}, set())}),  # 's' is a group suffix
    ({"resources:VGPU": "1", "hw:x": "required"}, {}),
]


@pytest.mark.parametrize(("specs", "expected"), TRAIT_SPECS)
def test_trait_groups(specs: dict[str, str], expected: dict[str, tuple[set[str], set[str]]]
                      ) -> None:
    groups = placement.trait_groups(specs)
    assert {s: (g.required, g.forbidden) for s, g in groups.items()} == expected


ISOLATION = [
    # (aggregate metadata, flavor specs, isolated?)
    ({"trait:CUSTOM_GPU": "required"}, {}, True),
    ({"trait:CUSTOM_GPU": "required"}, {"trait:CUSTOM_GPU": "required"}, False),
    ({"trait:CUSTOM_GPU": "required"}, {"trait1:CUSTOM_GPU": "required"}, False),  # any group
    ({"trait:CUSTOM_GPU": "required", "trait:CUSTOM_FPGA": "required"},
     {"trait:CUSTOM_GPU": "required"}, True),  # every isolating trait must be required
    ({"trait:CUSTOM_GPU": "forbidden"}, {}, False),  # only the value 'required' isolates
    ({"trait:CUSTOM_GPU": "required"}, {"trait:CUSTOM_GPU": "forbidden"}, True),
    ({"CUSTOM_GPU": "required"}, {}, False),
    # Nova selects isolating aggregates in SQL; MySQL's collation ignores case/trailing spaces
    ({"trait:CUSTOM_GPU": "Required "}, {}, True),
    ({"TRAIT:CUSTOM_GPU": "required"}, {"trait:custom_gpu": "required"}, False),
]


@pytest.mark.parametrize(("metadata", "specs", "isolated"), ISOLATION)
def test_isolated_aggregates(metadata: dict[str, str], specs: dict[str, str], isolated: bool
                             ) -> None:
    aggregate = Aggregate(1, "a", ["h"], metadata)
    assert ("a" in placement.isolated_aggregates([aggregate], specs)) is isolated


# --- ComputeCapabilitiesFilter overlap ----------------------------------------------------------

@pytest.mark.parametrize(("key", "consumed"), [
    ("hypervisor_type", True),
    ("free_ram_mb", True),
    ("num_proj_abc", True),
    ("io_workload", True),
    ("ssd", False),
    ("aggregate_instance_extra_specs:hypervisor_type", False),
    ("capabilities:hypervisor_type", False),
])
def test_consumed_by_capabilities_filter(key: str, consumed: bool) -> None:
    assert capabilities.consumed_by_capabilities_filter(key) is consumed


# --- the zone map: tree -------------------------------------------------------------------------

def test_tree_zones_aggregates_hosts() -> None:
    zmap = run()
    shape = [(z.name, z.available, z.default,
              [(n.aggregate.name if n.aggregate else None, n.hosts) for n in z.aggregates])
             for z in zmap.zones]
    assert shape == [
        ("az1", True, False, [("agg-ssd", ["c1", "c2"]), ("agg-gpu", ["c2"])]),
        ("az2", False, False, [("agg-az2", ["c3"]), ("agg-gpu", ["c3"])]),
        ("az3", False, False, [("agg-az3", [])]),
        ("nova", True, True, [("agg-tenant", ["c4"]), (None, ["c5"])]),
        (None, False, False, [("agg-empty", [])]),
    ]


def test_default_zone_option() -> None:
    assert [z.name for z in run(default_zone="internal-az").zones][3] == "internal-az"


def test_static_findings() -> None:
    zmap = run()
    assert codes(zmap) == [
        "empty-zone-aggregate", "compute-unavailable", "compute-unavailable",
        "flavor-lands-nowhere"]
    assert "nova-compute on c3 in zone az2 is disabled (maintenance)" in [
        f.message for f in zmap.findings]
    assert "nova-compute on c5 in zone nova is down" in [f.message for f in zmap.findings]
    assert "flavor m1.none lands on no enabled, up host" in zmap.findings[-1].message


def test_host_in_two_zones_and_unknown_host() -> None:
    f = facts()
    f.aggregates[2].hosts.append("c1")  # c1 now in az1 and az2
    f.aggregates[5].hosts.append("ghost")  # no nova-compute service
    zmap = run(f)
    messages = {x.code: x.message for x in zmap.findings}
    assert messages["host-in-several-zones"].startswith(
        "host c1 is in 2 zones (agg-ssd=az1, agg-az2=az2)")
    assert messages["unknown-host"] == (
        "aggregate agg-empty lists host ghost, which has no nova-compute service")
    assert [z.name for z in zmap.zones if any("c1" in n.hosts for n in z.aggregates)] == [
        "az1", "az2"]


def test_default_zone_set_on_an_aggregate_splits_the_zone() -> None:
    f = facts()
    f.aggregates.append(Aggregate(8, "agg-nova", ["c1"], {"availability_zone": "nova"}))
    f.aggregates[0].hosts.remove("c1")
    zmap = run(f, flavor="m1.any", zone="nova")
    assert lands(zmap) == {"c1": "yes", "c2": "no", "c3": "no", "c4": "no", "c5": "no"}
    assert zmap.flavor is not None
    assert zmap.flavor.verdicts["c4"].reasons[0] == "outside zone nova"
    split = [x.message for x in zmap.findings if x.code == "default-zone-split"]
    assert split == [
        ("aggregate agg-nova sets availability_zone=nova, the default zone: a request for zone "
         "nova reaches only its hosts, not c4, c5 (in no zone aggregate, yet shown in zone nova)")]
    assert [n.hosts for z in zmap.zones for n in z.aggregates] == [["c1"]]


def test_bad_metadata_values_are_static_findings_too() -> None:
    f = facts()
    f.aggregates[1].metadata.update({"gpu": "a100,,v100", "trait:CUSTOM_GPU": "Required"})
    messages = [x.message for x in run(f).findings if x.code == "bad-metadata-value"]
    assert messages == [
        ("aggregate agg-gpu: gpu='a100,,v100' has an empty item between commas; Nova keeps it "
         "as the empty string ''"),
        ("aggregate agg-gpu: trait:CUSTOM_GPU='Required' isolates like 'required' only because "
         "Nova's MySQL tables compare metadata without case (not on PostgreSQL); write "
         "trait:NAME=required"),
    ]


# --- the zone map: where a flavor lands ---------------------------------------------------------

def test_flavor_lands_on_matching_enabled_up_hosts() -> None:
    zmap = run(flavor="m1.ssd")
    assert lands(zmap) == {"c1": "yes", "c2": "yes", "c3": "no", "c4": "no", "c5": "no"}
    assert zmap.flavor is not None and zmap.flavor.summary == "flavor m1.ssd lands on c1, c2"
    assert zmap.flavor.verdicts["c4"].reasons == [
        "aggregate_instance_extra_specs:ssd: no aggregate of the host sets 'ssd'",
        f"only projects {P1} (filter_tenant_id* of agg-tenant); give --project"]


def test_flavor_by_id_and_unknown_flavor() -> None:
    assert run(flavor="2").flavor.flavor.name == "m1.gpu"  # type: ignore[union-attr]
    with pytest.raises(zm.ZoneMapError, match="no flavor with name or ID 'm9'"):
        zm.find_flavor(facts().flavors, "m9")


def test_ambiguous_flavor_name() -> None:
    f = facts()
    f.flavors.append(Flavor("9", "m1.ssd", {}))
    with pytest.raises(zm.ZoneMapError, match=r"more than one flavor is named 'm1.ssd' \(1, 9\)"):
        zm.find_flavor(f.flavors, "m1.ssd")


def test_disabled_compute_matching_flavor_is_reported_as_the_reason() -> None:
    f = facts()
    f.services[1].status, f.services[1].disabled_reason = "disabled", "drain"  # c2 disabled
    zmap = run(f, flavor="m1.gpu")
    assert lands(zmap)["c2"] == "no" and lands(zmap)["c3"] == "no"
    assert zmap.flavor is not None and zmap.flavor.lands_nowhere
    assert zmap.flavor.summary == (
        "flavor m1.gpu lands on no enabled, up host (NoValidHost); it would match c2, c3 if "
        "their nova-compute were enabled and up")
    assert "flavor-lands-nowhere" in codes(zmap)


def test_project_isolation() -> None:
    assert lands(run(flavor="m1.any", project_id=P1)) == {
        "c1": "yes", "c2": "yes", "c3": "no", "c4": "yes", "c5": "no"}
    zmap = run(flavor="m1.any", project_id=P2)
    assert lands(zmap)["c4"] == "no"
    assert lands(run(flavor="m1.any"))["c4"] == "depends"


def test_zone_request_restricts_hosts_and_tree() -> None:
    zmap = run(flavor="m1.gpu", zone="az1")
    assert lands(zmap) == {"c1": "no", "c2": "yes", "c3": "no", "c4": "no", "c5": "no"}
    assert zmap.flavor is not None and zmap.flavor.verdicts["c3"].reasons[0] == "outside zone az1"
    assert [z.name for z in zmap.zones] == ["az1"]
    # findings stay within the zone: c3 (az2) and c5 (nova) are not this request's concern
    assert codes(zmap) == []


def test_zone_without_enabled_compute_is_rejected_by_the_api() -> None:
    zmap = run(flavor="m1.any", zone="az2")
    assert zmap.flavor is not None and zmap.flavor.lands_nowhere
    assert "Nova's API rejects the request" in zmap.flavor.summary
    assert "zone-not-available" in codes(zmap)


def test_default_zone_request_is_not_restricted_by_nova() -> None:
    zmap = run(flavor="m1.ssd", zone="nova")
    assert lands(zmap)["c1"] == "yes"  # c1 is in az1, yet a request for 'nova' may land there
    assert any("Nova does not restrict a request for zone 'nova'" in n for n in zmap.notes)


def test_unknown_zone() -> None:
    with pytest.raises(zm.ZoneMapError, match=r"no availability zone 'az9' \(known: az1, az2"):
        run(zone="az9")


def test_filters_none_and_order() -> None:
    assert lands(run(flavor="m1.none", filters=[]))["c1"] == "yes"
    assert lands(run(flavor="m1.any", filters=[zm.af.EXTRA_SPECS_FILTER]))["c4"] == "yes"


@pytest.mark.parametrize(("text", "expected"), [
    (None, list(zm.DEFAULT_FILTERS)),
    ("none", []),
    ("AggregateMultiTenancyIsolation", ["AggregateMultiTenancyIsolation"]),
    (" AggregateMultiTenancyIsolation , AggregateInstanceExtraSpecsFilter ",
     ["AggregateMultiTenancyIsolation", "AggregateInstanceExtraSpecsFilter"]),
])
def test_parse_filters(text: str | None, expected: list[str]) -> None:
    assert zm.parse_filters(text) == expected


def test_parse_filters_rejects_what_cannot_be_evaluated() -> None:
    with pytest.raises(zm.ZoneMapError, match="unknown or unsupported filter "
                                              "NoSuchFilter"):
        zm.parse_filters("ComputeCapabilitiesFilter,NoSuchFilter")
    # Nova's other filters are taken as enabled, not modelled
    assert zm.split_filters(zm.parse_filters("ComputeCapabilitiesFilter")) == (
        [], ["ComputeCapabilitiesFilter"])


def _bad_cores(host_enabled: bool) -> ZoneFacts:
    f = facts()
    f.aggregates.append(Aggregate(7, "agg-bad", ["c5"], {"cores": "many"}))
    f.aggregates[0].metadata["cores"] = "16"
    f.flavors.append(Flavor("5", "m1.cores", {"cores": "= 8"}))
    if host_enabled:
        f.services[4].state = "up"
    return f


def test_raising_comparison_on_a_reachable_host_fails_the_request() -> None:
    zmap = run(_bad_cores(host_enabled=True), flavor="m1.cores")
    assert lands(zmap)["c5"] == "error" and lands(zmap)["c1"] == "yes"
    assert zmap.flavor is not None and zmap.flavor.lands_nowhere
    assert "Nova's scheduler raises while filtering c5" in zmap.flavor.summary
    bad = [x.message for x in zmap.findings if x.code == "bad-metadata-value"]
    assert bad == [("aggregate agg-bad: cores='many' breaks flavor m1.cores's cores='= 8' "
                    "('many' is not a number)")]


def test_raising_comparison_on_a_host_removed_earlier_does_not_fire() -> None:
    zmap = run(_bad_cores(host_enabled=False), flavor="m1.cores")  # c5 is down
    assert lands(zmap)["c5"] == "no" and not zmap.flavor.lands_nowhere  # type: ignore[union-attr]
    # ... but the value is still reported, it will bite once c5 is back
    assert "bad-metadata-value" in codes(zmap)


def test_sweep_finds_a_raising_flavor_even_after_a_good_host() -> None:
    zmap = run(_bad_cores(host_enabled=True))
    nowhere = [x.message for x in zmap.findings if x.code == "flavor-lands-nowhere"]
    assert any(m.startswith("flavor m1.cores lands nowhere: Nova's scheduler raises")
               for m in nowhere)


def test_placement_isolation_and_required_traits() -> None:
    f = facts()
    f.aggregates[1].metadata["trait:CUSTOM_GPU"] = "required"
    f.flavors.append(Flavor("6", "m1.vgpu", {"trait:CUSTOM_GPU": "required"}))
    # without the option: shown, not applied
    assert lands(run(f, flavor="m1.any"))["c2"] == "yes"
    assert any("add --placement-isolation" in line for line in run(f).applied)
    # with it: the GPU aggregate's hosts are reserved
    zmap = run(f, flavor="m1.any", placement_isolation=True)
    assert lands(zmap)["c2"] == "no" and lands(zmap)["c1"] == "yes"
    assert zmap.flavor is not None and zmap.flavor.verdicts["c2"].reasons == [
        ("aggregate agg-gpu is isolated for trait CUSTOM_GPU (trait:...=required) that the "
         "flavor does not require")]
    # a flavor requiring the trait may go there, and only where Placement has the trait
    f.trait_checks = [TraitCheck("", ["CUSTOM_GPU"], ["c2"])]
    got = lands(run(f, flavor="m1.vgpu", placement_isolation=True))
    assert got == {"c1": "no", "c2": "yes", "c3": "no", "c4": "no", "c5": "no"}


def test_capabilities_and_bad_spec_findings() -> None:
    f = facts()
    f.flavors.append(Flavor("7", "m1.hv", {"hypervisor_type": "QEMU",
                                             "aggregate_instance_extra_specs:cores": "= x"}))
    messages = {x.code: x.message for x in run(f, flavor="m1.hv").findings}
    assert messages["capabilities-key"].startswith(
        "flavor m1.hv: unscoped extra spec 'hypervisor_type' is also checked by "
        "ComputeCapabilitiesFilter")
    assert messages["bad-extra-spec"].startswith(
        "flavor m1.hv: aggregate_instance_extra_specs:cores='= x': numeric operator '='")


def test_applied_says_what_was_and_was_not_applied() -> None:
    applied = run(filters=[zm.af.EXTRA_SPECS_FILTER]).applied
    assert applied[0] == ("applied: disabled computes out (compute_status_filter); "
                          "ComputeFilter (down computes out); AggregateInstanceExtraSpecsFilter")
    assert applied[1] == "not applied: AggregateMultiTenancyIsolation"


def test_facts_round_trip_through_json() -> None:
    f = facts()
    f.trait_checks = [TraitCheck("1", ["CUSTOM_A"], ["c1"])]
    assert from_data(ZoneFacts, copy.deepcopy(to_data(f))) == f


# --- rows ---------------------------------------------------------------------------------------

def test_tree_rows() -> None:
    f = ZoneFacts(
        aggregates=[Aggregate(1, "agg-ssd", ["c1"], {"availability_zone": "az1", "ssd": "true"})],
        services=[ComputeService("c1"), ComputeService("c2", status="disabled",
                                                        disabled_reason="broken")],
        flavors=[Flavor("1", "m1.ssd", {"ssd": "true"})],
    )
    zmap = run(f, flavor="m1.ssd")
    assert view.columns(zmap, tree=True) == (
        "Zone / Aggregate / Host", "Metadata", "Status", "State", "Disabled Reason", "Lands",
        "Why")
    assert view.tree_rows(zmap) == [
        ("az1", "", "available", "", "", "", ""),
        ("  agg-ssd", "availability_zone=az1, ssd=true", "", "", "", "", ""),
        ("    c1", "", "enabled", "up", "", "yes", ""),
        ("nova (default zone)", "", "not available", "", "", "", ""),
        ("  (no aggregate)", "", "", "", "", "", ""),
        ("    c2", "", "disabled", "up", "broken", "no",
         "nova-compute disabled (broken); ssd: no aggregate of the host sets 'ssd'"),
    ]
    assert view.flat_rows(zmap) == [
        ("az1", True, "agg-ssd", {"availability_zone": "az1", "ssd": "true"}, "c1", "enabled",
         "up", None, "yes", []),
        ("nova", False, None, None, "c2", "disabled", "up", "broken", "no",
         ["nova-compute disabled (broken)", "ssd: no aggregate of the host sets 'ssd'"]),
    ]


def test_flat_rows_of_empty_aggregates() -> None:
    zmap = run(ZoneFacts(aggregates=[Aggregate(1, "a", [], {"availability_zone": "z"}),
                                     Aggregate(2, "b", [], {})]))
    assert view.columns(zmap, tree=False) == view.FLAT_COLUMNS
    assert view.flat_rows(zmap) == [
        ("z", False, "a", {"availability_zone": "z"}, None, None, None, None),
        (None, None, "b", {}, None, None, None, None),
    ]
