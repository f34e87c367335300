"""A real Vendure standing where omnisync's contract kit expects a simulator."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter, deque
from collections.abc import Callable

import httpx

from omnisync.sim import Faults
from omnisync.testing import FaultProxy
from omnisync_vendure.testing._client import check
from omnisync_vendure.testing._install import VendureInstall
from omnisync_vendure.testing._server import Variant, VendureServer

__all__ = ["VendureServerPool", "VendureSimulator"]

# A country a merchant might define with a code that is not ISO 3166-1 alpha-2 (Kosovo's
# unofficial three-letter code): Vendure accepts it, omnisync's model does not.
_ODD_COUNTRY = "XKX"


class VendureServerPool:
    """Hands out fresh servers, keeping ``spares`` of them booting ahead of time.

    A server takes a few seconds to start; tests that each want an empty shop get one that
    booted while the previous test ran. `close` stops the spares.
    """

    def __init__(self, install: VendureInstall, *, spares: int = 1) -> None:
        self.install = install
        self.spares = spares
        self._booting: deque[VendureServer] = deque()

    def take(self) -> VendureServer:
        """A fresh, running server; the caller stops it."""
        server = self._booting.popleft() if self._booting else self._launch()
        while len(self._booting) < self.spares:
            self._booting.append(self._launch())
        return server.wait_ready()

    def _launch(self) -> VendureServer:
        return VendureServer(self.install).launch()

    def close(self) -> None:
        """Stop the servers still booting."""
        while self._booting:
            self._booting.popleft().stop()


class _SimulatorTransport(httpx.AsyncBaseTransport):
    """Starts the simulator's server on the first request, then passes requests on, noting
    how many variants each stock-setting mutation carries."""

    def __init__(self, simulator: VendureSimulator) -> None:
        self.simulator = simulator
        self.inner = simulator.proxy.transport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.simulator.started is None:
            # Booting blocks: let the event loop's other tasks run meanwhile.
            await asyncio.to_thread(lambda: self.simulator.server)
        body = await request.aread()
        if b"updateProductVariants" in body:
            variables = json.loads(body).get("variables") or {}
            self.simulator.batches.append(len(variables.get("input") or []))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class VendureSimulator:
    """A `ContractSimulator` backed by a real Vendure server.

    ``start`` gives the server (a fresh one, say `VendureServerPool.take`); it is called
    when the server is first needed, so a check that never reaches Vendure (an undeclared
    capability refused) never waits for one. The adapter's requests go through a
    `FaultProxy` (``faults``, ``calls``, `transport`); the set-up methods go straight to the
    server, as a merchant and shoppers would: `add_listing` creates a variant, `place_order`
    checks out through the Shop API, `touch_order` adds a note to the order's history, and
    `break_order` moves the order's shipping address, through an order modification, to a
    country the shop defined with a code that is not ISO 3166-1 (Vendure allows it; the
    adapter cannot map the order). `close` stops the server.
    """

    def __init__(self, start: Callable[[], VendureServer], faults: Faults | None = None) -> None:
        self._start = start
        self.started: VendureServer | None = None
        # Requests are forwarded to the address the server gets once started.
        self.proxy = FaultProxy("http://127.0.0.1:0", faults)
        self.faults = self.proxy.faults
        self.calls: Counter[str] = self.proxy.calls
        self.variants: dict[str, Variant] = {}
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<VendureSimulator {self.started!r}>"

    @property
    def server(self) -> VendureServer:
        """The server, started on first use."""
        with self._lock:
            if self.started is None:
                self.started = self._start()
                self.proxy.base_url = self.started.url
            return self.started

    def transport(self) -> httpx.AsyncBaseTransport:
        """The adapter's way to the server: through the faults, counting stock calls."""
        return _SimulatorTransport(self)

    def close(self) -> None:
        """Stop the server, if it was started."""
        if self.started is not None:
            self.started.stop()

    def add_listing(self, sku: str, quantity: int) -> None:
        """A variant with ``sku`` and ``quantity`` on hand."""
        self.variants[sku] = self.server.create_variant(sku, stock=quantity)

    def place_order(self, sku: str, quantity: int) -> str:
        """A guest checkout of ``quantity`` units of ``sku``; returns the order's id."""
        return self.server.checkout([(self.variants[sku].variant_id, quantity)]).id

    def touch_order(self, order_id: str) -> None:
        """Change the order the way a merchant often does: a note in its history."""
        self.server.add_note(order_id, "Called the buyer about the delivery date")

    def break_order(self, order_id: str) -> None:
        """Ship the order to a country whose code is not ISO 3166-1 alpha-2."""
        admin = self.server.admin
        known = admin("{ countries(options: {take: 1000}) { items { code } } }")
        if _ODD_COUNTRY not in {c["code"] for c in known["countries"]["items"]}:
            admin(
                """mutation($code: String!) {
                     createCountry(input: {code: $code, enabled: true,
                       translations: [{languageCode: en, name: "Kosovo"}]}) { id }
                   }""",
                code=_ODD_COUNTRY,
            )
        state = self.server.order(order_id)["state"]
        self._transition(order_id, "Modifying")
        result = admin(
            """mutation($input: ModifyOrderInput!) {
                 modifyOrder(input: $input) { __typename ... on ErrorResult { errorCode message } }
               }""",
            input={
                "dryRun": False,
                "orderId": order_id,
                "updateShippingAddress": {"countryCode": _ODD_COUNTRY},
            },
        )["modifyOrder"]
        check(result, "Order")
        self._transition(order_id, state)

    def _transition(self, order_id: str, state: str) -> None:
        result = self.server.admin(
            """mutation($id: ID!, $state: String!) {
                 transitionOrderToState(id: $id, state: $state) {
                   __typename ... on ErrorResult { errorCode message }
                 }
               }""",
            id=order_id,
            state=state,
        )["transitionOrderToState"]
        check(result, "Order")

    def shown(self, sku: str) -> int:
        """What Vendure can sell of ``sku``: on hand less allocated."""
        return self.server.stock(self.variants[sku].variant_id).saleable

    def stock_batches(self) -> list[int]:
        """How many variants each stock-setting call carried."""
        return list(self.batches)
