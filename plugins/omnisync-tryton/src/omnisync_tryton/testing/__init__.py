"""A real Tryton server for tests (yours and omnisync's): `TrytonServer`, `prepared_or_skip`
for pytest fixtures, and `TrytonContractSystem` to run omnisync's adapter contract kit
against it. Needs pytest (omnisync's ``test`` extra)."""

from omnisync_tryton.testing._contract import TrytonContractSystem
from omnisync_tryton.testing._fixtures import prepared_or_skip
from omnisync_tryton.testing._server import PACKAGES, TrytonServer

__all__ = ["PACKAGES", "TrytonContractSystem", "TrytonServer", "prepared_or_skip"]
