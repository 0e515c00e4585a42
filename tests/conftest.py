"""Suite-wide: run the tiers fastest first, whatever order the paths were collected in.

pytest collects directories alphabetically (commands, fuzz, lab, stack, unit), so a broken
parser would fail only after the lab's ~40 s and the stack's minutes. Items are stably sorted by
tier; within a tier the collection order (files, classes, parametrisations) is kept.
"""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# fast to slow; a directory not listed here runs last (add a new tier where it belongs)
TIERS = ("unit", "commands", "fuzz", "lab", "stack")


def tier_rank(path: Path) -> int:
    try:
        tier = path.resolve().relative_to(HERE).parts[0]
    except (ValueError, IndexError):
        return len(TIERS)
    return TIERS.index(tier) if tier in TIERS else len(TIERS)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: tier_rank(item.path))
