"""What every engine step needs: the checked configuration and the store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from omnisync.config import LoadedConfig, ResolvedChannel
from omnisync.engine._availability import ChannelRules
from omnisync.store import Store

__all__ = ["EngineContext"]


@dataclass
class EngineContext:
    """The configuration as the engine reads it, and the store it writes to."""

    loaded: LoadedConfig
    store: Store
    local_locations: frozenset[str] = field(init=False)
    fingerprints: dict[str, str] = field(init=False, default_factory=dict)
    """Each channel's `plan_fingerprint`, once computed."""

    def __post_init__(self) -> None:
        self.local_locations = self.loaded.local_locations()

    @property
    def channels(self) -> dict[str, ResolvedChannel]:
        """Configured channels by name."""
        return self.loaded.channels

    @property
    def bundles(self) -> dict[str, dict[str, int]]:
        """Bundle SKUs and their components' quantities."""
        return self.loaded.config.bundles

    @cached_property
    def bundles_json(self) -> str:
        """`bundles` as JSON, keys sorted."""
        return json.dumps(self.bundles, sort_keys=True)

    @property
    def hold_oversold(self) -> bool:
        """Whether an order that oversells is put on hold."""
        return self.loaded.config.engine.hold_oversold

    def overlap(self, channel: ResolvedChannel) -> timedelta:
        """How far back each incremental pull of ``channel`` re-reads."""
        seconds = channel.config.overlap_seconds
        if seconds is None:
            seconds = self.loaded.config.engine.overlap_seconds
        return timedelta(seconds=seconds)

    def rules(self, channel: ResolvedChannel) -> ChannelRules:
        """The quantity rules of ``channel``."""
        cfg = channel.config
        return ChannelRules(
            buffer=cfg.buffer,
            percentage=cfg.percentage,
            zero_below=cfg.zero_below,
            max_quantity=cfg.max_quantity,
        )
