"""AggregateInstanceExtraSpecsFilter and AggregateMultiTenancyIsolation, table-driven.

Semantics from nova/scheduler/filters/aggregate_instance_extra_specs.py,
nova/scheduler/filters/aggregate_multitenancy_isolation.py and nova/scheduler/filters/utils.py.
"""
from __future__ import annotations

import pytest

from osc_netpath.scheduling import aggregate_filters as af
from osc_netpath.scheduling.model import Aggregate

O = af.Outcome


def agg(name: str, **metadata: str) -> Aggregate:
    return Aggregate(id=len(name), name=name, hosts=["h"], metadata=metadata)


def meta(*aggs: Aggregate) -> af.HostMetadata:
    return af.host_metadata(aggs)


# --- the metadata a host has --------------------------------------------------------------------

def test_metadata_is_the_union_over_aggregates_split_on_commas_and_stripped() -> None:
    m = meta(agg("a", ssd="true", cpu=" x86 , arm"), agg("b", ssd="false", gpu="yes"))
    assert {k: sorted(v) for k, v in m.items()} == {
        "ssd": ["false", "true"], "cpu": ["arm", "x86"], "gpu": ["yes"]}
    assert m["ssd"]["true"] == ["a"] and m["ssd"]["false"] == ["b"]


def test_metadata_keeps_empty_items() -> None:
    assert sorted(meta(agg("a", k="x,,y"))["k"]) == ["", "x", "y"]


# --- which flavor keys the filter reads ---------------------------------------------------------

SCOPES = [
    ("ssd", "ssd"),  # unscoped: checked as is
    ("aggregate_instance_extra_specs:ssd", "ssd"),
    ("aggregate_instance_extra_specs:a:b", "a:b"),  # split on the first ':' only
    ("aggregate_instance_extra_specs:", ""),
    ("hw:cpu_policy", None),
    ("trait:CUSTOM_X", None),
    ("resources:VGPU", None),
    ("capabilities:cpu_info:arch", None),
    ("quota:disk_read_bytes_sec", None),
    (":ssd", None),  # empty scope is still a scope
    ("Aggregate_Instance_Extra_Specs:ssd", None),  # scopes are case-sensitive
]


@pytest.mark.parametrize(("key", "expected"), SCOPES)
def test_scoped_key(key: str, expected: str | None) -> None:
    assert af.scoped_key(key) == expected


# --- AggregateInstanceExtraSpecsFilter ----------------------------------------------------------

SSD = agg("ssd-agg", ssd="true", disk="ssd,nvme", cores="16")
GPU = agg("gpu-agg", gpu="a100", cores="8")
BAD = agg("bad-agg", cores="many")

EXTRA_SPECS = [
    # (flavor extra specs, host aggregates, outcome)
    ({}, [], O.PASS),  # no extra specs: every host
    ({"hw:cpu_policy": "dedicated", "trait:CUSTOM_X": "required"}, [], O.PASS),  # only ignored
    ({"ssd": "true"}, [SSD], O.PASS),
    ({"ssd": "true"}, [], O.FAIL),  # key missing
    ({"ssd": "true"}, [GPU], O.FAIL),
    ({"ssd": "false"}, [SSD], O.FAIL),  # no value matches
    ({"aggregate_instance_extra_specs:ssd": "true"}, [SSD], O.PASS),
    ({"aggregate_instance_extra_specs:disk": "nvme"}, [SSD], O.PASS),  # one comma item matches
    ({"disk": "ssd,nvme"}, [SSD], O.FAIL),  # the requirement is not split
    ({"disk": "<or> hdd <or> nvme"}, [SSD], O.PASS),
    ({"cores": "= 12"}, [SSD], O.PASS),  # numeric >=
    ({"cores": "= 12"}, [GPU], O.FAIL),
    ({"cores": "= 12"}, [SSD, GPU], O.PASS),  # union: 16 or 8, one is enough
    ({"ssd": "true", "gpu": "a100"}, [SSD], O.FAIL),  # every relevant key must match
    ({"ssd": "true", "gpu": "a100"}, [SSD, GPU], O.PASS),  # ... over the union
    ({"ssd": "true", "hw:mem_page_size": "large"}, [SSD], O.PASS),
    ({"cores": "= 12"}, [BAD], O.ERROR),  # float('many'): Nova raises
    ({"cores": "= 12"}, [BAD, GPU], O.ERROR),  # 8 fails, 'many' raises: certain
    ({"cores": "= 12"}, [BAD, SSD], O.ERROR),  # 16 matches but set order may raise first
    ({"cores": "s== many"}, [BAD], O.PASS),  # string operators never raise
    ({"ssd": "false", "cores": "= 12"}, [SSD, BAD], O.FAIL),  # returned before the bad key
    ({"cores": "= 12", "ssd": "false"}, [SSD, BAD], O.ERROR),  # the bad key comes first
    ({"cores": "= lots"}, [SSD], O.ERROR),  # non-numeric operand, key present
    ({"cores": "= lots"}, [], O.FAIL),  # ... but a host without the key never compares
    ({"aggregate_instance_extra_specs:a:b": "1"}, [agg("x", **{"a:b": "1"})], O.PASS),
]


@pytest.mark.parametrize(("specs", "aggs", "outcome"), EXTRA_SPECS)
def test_extra_specs_filter(specs: dict[str, str], aggs: list[Aggregate], outcome: af.Outcome
                            ) -> None:
    assert af.extra_specs_filter(specs, meta(*aggs)).outcome is outcome


def test_reasons_name_every_failing_key() -> None:
    verdict = af.extra_specs_filter({"ssd": "false", "gpu": "a100"}, meta(SSD))
    assert verdict.reasons == [
        "ssd='false' does not match ssd='true'",
        "gpu: no aggregate of the host sets 'gpu'",
    ]


def test_bad_value_is_attributed_to_its_aggregate() -> None:
    verdict = af.extra_specs_filter({"cores": "= 12"}, meta(BAD, SSD))
    assert [(aggs, key, item) for aggs, key, item, _ in verdict.bad_values] == [
        (("bad-agg",), "cores", "many")]
    assert "may raise" in verdict.reasons[0]


def test_bad_operand_is_not_blamed_on_the_aggregate() -> None:
    verdict = af.extra_specs_filter({"cores": "= lots"}, meta(SSD))
    assert verdict.outcome is O.ERROR and verdict.bad_values == []


# --- AggregateMultiTenancyIsolation -------------------------------------------------------------

P1, P2, P3 = "p1", "p2", "p3"
TENANCY = [
    # (aggregates, project, outcome)
    ([], P1, O.PASS),  # no aggregate: anyone
    ([agg("plain", ssd="true")], P1, O.PASS),  # aggregates without filter_tenant_id*: anyone
    ([agg("t", filter_tenant_id=P1)], P1, O.PASS),
    ([agg("t", filter_tenant_id=P1)], P2, O.FAIL),
    ([agg("t", filter_tenant_id=f"{P1}, {P2}")], P2, O.PASS),  # comma list, stripped
    ([agg("t", filter_tenant_id=P1, filter_tenant_id2=P2)], P2, O.PASS),  # several keys
    ([agg("t", filter_tenant_id_extra=P3)], P3, O.PASS),  # any key with the prefix
    ([agg("t", filter_tenant_id_extra=P3)], P1, O.FAIL),
    ([agg("a", filter_tenant_id=P1), agg("b", filter_tenant_id=P2)], P2, O.PASS),  # union
    ([agg("a", filter_tenant_id=P1), agg("b", ssd="true")], P2, O.FAIL),  # one restricts all
    ([agg("t", tenant_filter_id=P1)], P2, O.PASS),  # wrong prefix: no restriction
    ([agg("t", filter_tenant_id="")], P1, O.FAIL),  # an empty value admits nobody
    ([agg("t", filter_tenant_id=P1)], None, O.DEPENDS),  # no project given
    ([agg("plain")], None, O.PASS),
]


@pytest.mark.parametrize(("aggs", "project", "outcome"), TENANCY)
def test_multitenancy_filter(aggs: list[Aggregate], project: str | None, outcome: af.Outcome
                             ) -> None:
    assert af.multitenancy_filter(project, meta(*aggs)).outcome is outcome


def test_multitenancy_reason_names_aggregates_and_projects() -> None:
    verdict = af.multitenancy_filter(P3, meta(agg("a", filter_tenant_id=f"{P2},{P1}")))
    assert verdict.reasons == ["project p3 is not in filter_tenant_id* of a (p1,p2)"]
