"""The contract kit's pytest plugin (entry point ``pytest11``: ``omnisync``).

It marks every contract check ``omnisync_contract`` (run just those with
``pytest -m omnisync_contract``) and leaves out the checks for capabilities an adapter does
not declare, so each adapter runs exactly the checks that apply to it.
"""

from __future__ import annotations

import pytest

from omnisync.testing._contract import AdapterContract, applies


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker."""
    config.addinivalue_line(
        "markers", "omnisync_contract: a check of the omnisync adapter contract kit"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark contract checks, and deselect those that do not apply to their adapter."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is None or not issubclass(cls, AdapterContract):
            kept.append(item)
            continue
        item.add_marker(pytest.mark.omnisync_contract)
        check = getattr(cls, getattr(item, "originalname", item.name), None)
        (kept if check is None or applies(check, cls.adapter) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
