"""The adapter contract kit: point it at an adapter and its simulator, get named checks.

See `AdapterContract`. The kit's pytest plugin is registered under the ``pytest11`` entry
point, so installing omnisync is enough for pytest to use it.
"""

try:
    import pytest  # noqa: F401 (the kit's checks are pytest tests)
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        "omnisync.testing is a pytest kit and needs pytest: pip install 'omnisync[test]'",
        name="pytest",
    ) from missing

from omnisync.testing._contract import AdapterContract, applies, requires
from omnisync.testing._proxy import FaultProxy
from omnisync.testing._servers import REQUIRE_REAL_SERVERS, server_unavailable
from omnisync.testing._simulator import ContractSimulator

__all__ = [
    "REQUIRE_REAL_SERVERS",
    "AdapterContract",
    "ContractSimulator",
    "FaultProxy",
    "applies",
    "requires",
    "server_unavailable",
]
