"""Plain, JSON round-trippable facts that the zone-map evaluation reads.

``osc_netpath.cloud.zones`` fills these from the Nova, Keystone and Placement APIs; everything in
``osc_netpath.scheduling`` is pure and only ever sees these dataclasses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

AZ_KEY = "availability_zone"


@dataclass
class Aggregate:
    """A Nova host aggregate (``GET /os-aggregates``)."""

    id: int
    name: str
    hosts: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    uuid: str | None = None

    @property
    def zone(self) -> str | None:
        """The availability zone this aggregate defines (its ``availability_zone`` metadata)."""
        return self.metadata.get(AZ_KEY)


@dataclass
class ComputeService:
    """One ``nova-compute`` service (``GET /os-services?binary=nova-compute``)."""

    host: str
    status: str = "enabled"  # enabled | disabled (| UNKNOWN for a down cell, 2.69+)
    state: str = "up"  # up | down (missing for a down cell)
    disabled_reason: str | None = None
    forced_down: bool = False
    zone: str | None = None  # what Nova itself reports, for cross-checking only

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"

    @property
    def up(self) -> bool:
        return self.state == "up" and not self.forced_down


@dataclass
class Flavor:
    """A flavor with its extra specs (inline from compute microversion 2.61).

    ``extra_specs`` is None when the API did not show them (older microversion or a policy that
    hides them): then nothing can be said about where the flavor lands.
    """

    id: str
    name: str
    extra_specs: dict[str, str] | None = None
    is_public: bool = True
    disabled: bool = False
    vcpus: int | None = None
    ram: int | None = None  # MiB
    disk: int | None = None  # GiB, root disk
    ephemeral: int | None = None  # GiB
    swap: int | None = None  # MiB


@dataclass
class TraitCheck:
    """What Placement said about one group of required traits (``trait[$S]:NAME=required``).

    ``hosts`` are the compute hosts with at least one resource provider in their tree that has all
    ``traits`` (``GET /resource_providers?required=...``, mapped to hosts through the compute node
    UUIDs of ``GET /os-hypervisors/detail``).
    """

    group: str  # "" for the unsuffixed group
    traits: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@dataclass
class ZoneFacts:
    """Everything zone-map knows about the cloud, as the APIs returned it."""

    aggregates: list[Aggregate] = field(default_factory=list)
    services: list[ComputeService] = field(default_factory=list)
    flavors: list[Flavor] = field(default_factory=list)
    # Placement view of the evaluated flavor's required traits; None when not asked/not readable.
    trait_checks: list[TraitCheck] | None = None
    notes: list[str] = field(default_factory=list)  # what could not be read, and why
    # compute host -> its compute node UUIDs (= root resource providers), when read
    nodes: dict[str, list[str]] | None = None
    # Nova aggregate uuid -> resource providers in its Placement mirror, for the aggregates read
    placement_members: dict[str, list[str]] = field(default_factory=dict)
