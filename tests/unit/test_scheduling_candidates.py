"""The allocation-candidates request zone-map builds (as Nova does) and how it reads answers."""
from __future__ import annotations

from osc_netpath.scheduling import candidates as cd
from osc_netpath.scheduling.model import Aggregate, Flavor

PROJECT = "9c1e2b5f0a7d4e6f8a3b2c1d0e9f8a7b"
AZ1 = Aggregate(1, "agg-az1", ["c1"], {"availability_zone": "az1"}, uuid="u-az1")
AZ1B = Aggregate(2, "agg-az1b", ["c2"], {"availability_zone": "AZ1 "}, uuid="u-az1b")
MINE = Aggregate(3, "agg-mine", ["c3"], {"filter_tenant_id2": PROJECT}, uuid="u-mine")
LISTED = Aggregate(4, "agg-listed", ["c4"], {"filter_tenant_id": f"{PROJECT},other"},
                   uuid="u-listed")
ISO = Aggregate(5, "agg-gpu", ["c5"], {"trait:CUSTOM_GPU": "required"}, uuid="u-gpu")
AGGS = [AZ1, AZ1B, MINE, LISTED, ISO]
OFF = cd.PreFilters()


def flavor(vcpus: int = 2, ram: int = 1024, disk: int = 10, **specs: str) -> Flavor:
    return Flavor("1", "f", dict(specs), vcpus=vcpus, ram=ram, disk=disk, ephemeral=0, swap=0)


def test_flavor_resources_and_the_always_on_status_filter() -> None:
    req = cd.build(flavor(), AGGS, zone=None, project_id=None, prefilters=OFF)
    assert req.query() == ("resources=DISK_GB:10,MEMORY_MB:1024,VCPU:2"
                           "&root_required=!COMPUTE_STATUS_DISABLED")


def test_swap_and_ephemeral_count_as_disk_and_zero_amounts_go() -> None:
    f = Flavor("1", "f", {"resources:VCPU": "0", "resources:CUSTOM_X": "1"}, vcpus=2, ram=512,
               disk=0, ephemeral=1, swap=1025)
    req = cd.build(f, [], zone=None, project_id=None, prefilters=OFF)
    assert dict(req.params())["resources"] == "CUSTOM_X:1,DISK_GB:3,MEMORY_MB:512"


def test_dedicated_cpus_become_pcpu_with_an_emulator_thread() -> None:
    f = flavor(**{"hw:cpu_policy": "dedicated", "hw:emulator_threads_policy": "isolate",
                  "hw:cpu_thread_policy": "isolate"})
    params = dict(cd.build(f, [], zone=None, project_id=None, prefilters=OFF).params())
    assert params["resources"] == "DISK_GB:10,MEMORY_MB:1024,PCPU:3"
    assert params["required"] == "!HW_CPU_HYPERTHREADING"


def test_granular_groups_traits_and_group_policy() -> None:
    f = flavor(**{"resources1:VGPU": "1", "trait1:CUSTOM_A": "required",
                  "trait:CUSTOM_B": "forbidden", "trait:CUSTOM_C": "preferred",
                  "group_policy": "isolate"})
    params = cd.build(f, [], zone=None, project_id=None, prefilters=OFF).params()
    assert ("resources1", "VGPU:1") in params and ("required1", "CUSTOM_A") in params
    assert ("required", "!CUSTOM_B") in params and ("group_policy", "isolate") in params
    assert "CUSTOM_C" not in str(params)  # only required/forbidden count


def test_zone_matches_like_mysql_and_isolation_forbids() -> None:
    pre = cd.PreFilters(isolated_aggregates=True)
    req = cd.build(flavor(), AGGS, zone="az1", project_id=None, prefilters=pre)
    params = req.params()
    assert ("member_of", "in:u-az1,u-az1b") in params
    assert ("member_of", "!in:u-gpu") in params
    wants_gpu = cd.build(flavor(**{"trait:CUSTOM_GPU": "required"}), AGGS, zone=None,
                         project_id=None, prefilters=pre)
    assert not wants_gpu.not_member_of


def test_tenant_aggregates_only_a_whole_value_matches() -> None:
    pre = cd.PreFilters(tenant_aggregates=True)
    req = cd.build(flavor(), AGGS, zone=None, project_id=PROJECT, prefilters=pre)
    assert [(why, [a.name for a in aggs]) for why, aggs in req.member_of] == [
        (f"project {PROJECT}", ["agg-mine"])]
    assert cd.listed_tenant_aggregates(AGGS) == [(LISTED, "filter_tenant_id")]
    alone = cd.build(flavor(), AGGS, zone=None, project_id="someone",
                     prefilters=cd.PreFilters(tenant_aggregates=True,
                                              tenant_aggregate_required=True))
    assert alone.refused and "No hosts available for tenant" in alone.refused


def test_image_traits_type_and_metadata_prefilters() -> None:
    image = cd.Image("i", "img", "qcow2", {"trait:CUSTOM_SEV": "required",
                                           "hw_video_model": "virtio", "hw_disk_bus": "scsi"})
    pre = cd.PreFilters(image_type_support=True, image_metadata=True)
    params = dict(cd.build(flavor(), [], zone=None, project_id=None, prefilters=pre,
                           image=image).params())
    assert params["required"] == "CUSTOM_SEV"
    assert params["root_required"] == ("COMPUTE_GRAPHICS_MODEL_VIRTIO,COMPUTE_IMAGE_TYPE_QCOW2,"
                                       "COMPUTE_STORAGE_BUS_SCSI,!COMPUTE_STATUS_DISABLED")


def test_each_constraint_can_be_left_out_once() -> None:
    req = cd.build(flavor(**{"trait:CUSTOM_A": "required"}), AGGS, zone="az1", project_id=None,
                   prefilters=OFF)
    labels = [c.label for c in req.constraints()]
    assert labels == ["DISK_GB:10", "MEMORY_MB:1024", "VCPU:2", "required trait CUSTOM_A",
                      "root_required !COMPUTE_STATUS_DISABLED",
                      "member_of agg-az1,agg-az1b (zone az1)"]
    without_zone = req.params(req.constraints()[-1])
    assert not [p for p in without_zone if p[0] == "member_of"]
    without_mem = dict(req.params(req.constraints()[1]))
    assert without_mem["resources"] == "DISK_GB:10,VCPU:2"


def _answer(*hosts: str, free: dict[str, dict[str, int]] | None = None) -> cd.Answer:
    return cd.Answer(set(hosts), free or {})


def test_capacity_is_the_scarcest_class() -> None:
    req = cd.build(flavor(), [], zone=None, project_id=None, prefilters=OFF)
    assert cd.fits(req, {"VCPU": 9, "MEMORY_MB": 3000, "DISK_GB": 100}) == (2, "MEMORY_MB")
    assert cd.fits(req, {"VCPU": 9, "MEMORY_MB": 3000}) == (0, "DISK_GB")


def test_the_one_constraint_that_removes_a_host_or_empties_the_answer() -> None:
    req = cd.build(flavor(), [], zone=None, project_id=None, prefilters=OFF)
    mem, vcpu, *_ = req.constraints()[1:]
    free = {"c1": {"VCPU": 8, "MEMORY_MB": 100, "DISK_GB": 50}}
    view = cd.view(req, _answer(), {mem: _answer("c1", free=free), vcpu: _answer()}, ["c1", "c2"])
    assert view.hosts["c1"].reason == "placement: removed by MEMORY_MB:1024"
    assert (view.hosts["c1"].fits, view.hosts["c1"].first_out) == (0, "MEMORY_MB")
    assert view.hosts["c2"].reason == "placement: no resource provider of this host in any answer"
    assert view.summary == ("placement: no allocation candidates; the single constraint that "
                            "empties the answer is MEMORY_MB:1024 (3 GET /allocation_candidates)")


def test_answer_maps_providers_to_hosts_through_their_root() -> None:
    body = {
        "allocation_requests": [{"allocations": {"child": {"resources": {"VGPU": 1}},
                                                 "root": {"resources": {"VCPU": 1}}}}],
        "provider_summaries": {
            "root": {"resources": {"VCPU": {"capacity": 32, "used": 2}},
                     "root_provider_uuid": "root"},
            "child": {"resources": {"VGPU": {"capacity": 4, "used": 1}},
                      "root_provider_uuid": "root"},
            "stray": {"resources": {}, "root_provider_uuid": "stray"}}}
    answer = cd.parse_answer(body, {"root": "c1"})
    assert answer.hosts == {"c1"}
    assert answer.free == {"c1": {"VCPU": 30, "VGPU": 3}}
    assert answer.unmapped == 1


def test_mirror_drift_names_the_hosts_missing_from_placement() -> None:
    agg = Aggregate(1, "agg", ["c1", "c2", "c3"], {}, uuid="u")
    nodes = {"c1": ["n1"], "c2": ["n2"]}  # c3: no compute node known, nothing said
    assert cd.mirror_drift(agg, ["n1"], nodes) == ["c2"]
