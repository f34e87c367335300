"""The adapter contract kit, against a real Tryton server behind the simulators' faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from omnisync.testing import AdapterContract
from omnisync_tryton import TrytonAdapter
from omnisync_tryton.testing import TrytonContractSystem, TrytonServer


class TestTrytonContract(AdapterContract):
    adapter = TrytonAdapter
    distribution = "omnisync-tryton"
    # The kit's FaultProxy sends every request on to the real server, whatever this host.
    settings: ClassVar = {
        "base_url": "http://tryton.invalid",
        "database": "omnisync",
        "username": "admin",
        "password": "admin",
    }
    invalid_settings: ClassVar = {**settings, "page_size": 0}
    invalid_key = "page_size"
    servers: ClassVar[list[TrytonServer]] = []

    @pytest.fixture(autouse=True)
    def _stop_servers(self, tryton_ready: None) -> Iterator[None]:
        yield
        while self.servers:
            self.servers.pop().close()

    def simulator(self) -> TrytonContractSystem:
        server = TrytonServer()
        server.start()
        self.servers.append(server)
        return TrytonContractSystem(server)
