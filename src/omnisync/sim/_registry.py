"""In-process simulators, one per channel name, living as long as the process."""

from __future__ import annotations

import threading
from collections.abc import Callable

from omnisync.sim._app import SimApp

__all__ = ["clear", "get", "register"]

_simulators: dict[str, SimApp] = {}
_lock = threading.Lock()


def get(name: str, factory: Callable[[], SimApp]) -> SimApp:
    """The simulator registered as ``name``, made by ``factory`` the first time."""
    with _lock:
        if name not in _simulators:
            _simulators[name] = factory()
        return _simulators[name]


def register(name: str, simulator: SimApp) -> None:
    """Make ``simulator`` the one channel ``name`` talks to when it has no ``base_url``."""
    with _lock:
        _simulators[name] = simulator


def clear() -> None:
    """Forget every in-process simulator (tests use this between cases)."""
    with _lock:
        _simulators.clear()
