"""The process's heap once omnisync has started: kept out of the garbage collector's way."""

from __future__ import annotations

import gc

__all__ = ["freeze_started"]


def freeze_started() -> None:
    """Move every object alive now (the imported modules, the configuration, the plugins, an
    open store) to the garbage collector's permanent generation.

    They live as long as the process, yet each full collection traces them all again, and a
    sync that keeps tens of thousands of objects for a while (a push planning thousands of
    SKUs, a page of orders) sets one off. With omnisync's dependencies imported, that costs
    tens of milliseconds each time. Frozen, they are not traced again; what the sync makes
    afterwards is collected as before. ``omnisync sync`` and ``omnisync worker`` call this once
    they have started; an application can do the same once its own start-up is done.
    """
    gc.collect()
    gc.freeze()
