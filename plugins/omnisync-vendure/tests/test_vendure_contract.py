"""The adapter contract kit, against real Vendure servers (one fresh server per check)."""

from collections.abc import Iterator

import pytest

from omnisync.testing import AdapterContract
from omnisync_vendure import VendureAdapter
from omnisync_vendure.testing import VendureServerPool, VendureSimulator

SETTINGS = {
    # The host is never dialled: the simulator's transport carries requests to the server.
    "base_url": "http://vendure.test",
    "username": "superadmin",
    "password": "superadmin",
    "rate_limit": {"rate": 10_000, "burst": 10_000},
}


class TestVendureContract(AdapterContract):
    adapter = VendureAdapter
    distribution = "omnisync-vendure"
    settings = SETTINGS
    invalid_settings = {**SETTINGS, "page_size": 0}
    invalid_key = "page_size"

    @pytest.fixture(autouse=True)
    def _servers(self, request: pytest.FixtureRequest) -> Iterator[None]:
        # The kit asks for a simulator and never hands it back: stop each after its check.
        # Checks that need none (discovery, settings) need no Vendure either.
        self.request = request
        self.started: list[VendureSimulator] = []
        yield
        for simulator in self.started:
            simulator.close()

    def simulator(self) -> VendureSimulator:
        pool: VendureServerPool = self.request.getfixturevalue("vendure_pool")
        simulator = VendureSimulator(pool.take)
        self.started.append(simulator)
        return simulator
