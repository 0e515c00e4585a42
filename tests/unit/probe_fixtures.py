"""Recorded probe outputs (tests/fixtures/probe/, re-recorded by record.sh there)."""
from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probe"

# What record.sh builds: names and ids it chose (kernel MACs and OVS UUIDs change per recording).
HYBRID = "3a9c5e1f-7d"  # tap/qbr/qvb/qvo suffix, VLAN 101 network, local VLAN 3
FLAT = "5c6d7e8f-9a"  # tap on br-int via libvirt virtualport, flat network, local VLAN 1
NATIVE = "7f1e2d3c-4b"  # tap on br-int (type=ethernet), VXLAN VNI 1001, local VLAN 2
QDHCP = "qdhcp-6b1f0e3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b"
QROUTER = "qrouter-4d5e6f70-8192-4a3b-9c4d-5e6f70819203"


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")
