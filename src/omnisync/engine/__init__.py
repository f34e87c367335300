"""The sync engine: pulls, reservations, availability, pushes."""

from omnisync.engine._availability import Availability, ChannelRules, Step
from omnisync.engine._engine import Engine
from omnisync.engine._importer import ImportOutcome
from omnisync.engine._report import ChannelReport, SyncReport

__all__ = [
    "Availability",
    "ChannelReport",
    "ChannelRules",
    "Engine",
    "ImportOutcome",
    "Step",
    "SyncReport",
]
