"""The adapter contract kit: named checks every adapter should pass, against its simulator."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from omnisync import plugins
from omnisync._api import AsyncOmnisync
from omnisync.adapters import CAPABILITY_METHODS, Adapter, Capability, ChannelContext
from omnisync.config import LoadedConfig, parse_config
from omnisync.errors import AuthError, CapabilityError, ConfigError, PermanentError, SignatureError
from omnisync.http import RetryPolicy
from omnisync.models import (
    Customer,
    DocumentKind,
    Fulfilment,
    FulfilmentLine,
    Money,
    Order,
    OrderLine,
    Refund,
    SalesDocument,
    StockUpdate,
)
from omnisync.testing._simulator import ContractSimulator

__all__ = ["AdapterContract", "applies", "requires"]

T = TypeVar("T")
CHANNEL = "contract"
_FAST = RetryPolicy(max_attempts=3, initial_wait=0, max_wait=0, jitter=0)


_READS = frozenset(
    {
        Capability.PULL_ORDERS,
        Capability.PULL_STOCK,
        Capability.PULL_LISTINGS,
        Capability.PULL_RETURNS,
    }
)


F = TypeVar("F", bound=Callable[..., Any])


def requires(
    *capabilities: Capability, any_of: frozenset[Capability] = frozenset()
) -> Callable[[F], F]:
    """Mark a check as applying only to adapters that declare ``capabilities`` (and, with
    ``any_of``, at least one of those). The kit's pytest plugin leaves the others out."""

    def mark(check: F) -> F:
        check._omnisync_requires = (frozenset(capabilities), any_of)  # type: ignore[attr-defined]
        return check

    return mark


def applies(check: Any, adapter: type[Adapter]) -> bool:
    """Whether a check marked with `requires` applies to ``adapter``."""
    needed, any_of = getattr(check, "_omnisync_requires", (frozenset(), frozenset()))
    declared = adapter.capabilities
    return needed <= declared and (not any_of or bool(any_of & declared))


def _run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


async def _collect(pages: Any) -> list[Any]:
    """Every item of every page; a rejected record fails the check, saying why."""
    items: list[Any] = []
    async for page in pages:
        _no_rejects(page)
        items.extend(page.items)
    return items


def _no_rejects(page: Any) -> None:
    reasons = [f"{r.kind} {r.key}: {r.reason}" for r in page.rejects]
    assert not reasons, f"the adapter could not map: {'; '.join(reasons)}"


class AdapterContract:
    """Subclass this in an adapter's tests to run the contract checks against it.

    Set ``adapter`` (the class), ``settings`` (valid settings for it, without ``base_url``:
    the kit connects it to the simulator), ``invalid_settings`` (settings with one bad value,
    and ``invalid_key``, the setting an error must name), ``distribution`` (the package that
    registers the adapter through the ``omnisync`` entry point; ``None`` for omnisync's own)
    and implement `simulator`. Checks run only for the capabilities the adapter declares;
    for the others the kit checks that they are refused. A whole test file::

        from omnisync.testing import AdapterContract

        class TestAcme(AdapterContract):
            adapter = AcmeAdapter
            distribution = "omnisync-acme"
            settings = {"token": "t"}
            invalid_settings = {"token": "t", "page_size": 0}
            invalid_key = "page_size"

            def simulator(self):
                return AcmeSimulator()
    """

    adapter: ClassVar[type[Adapter]]
    distribution: ClassVar[str | None] = None
    settings: ClassVar[dict[str, Any]] = {}
    invalid_settings: ClassVar[dict[str, Any]] = {}
    invalid_key: ClassVar[str] = ""
    page_size_setting: ClassVar[str | None] = "page_size"

    def simulator(self) -> ContractSimulator:
        """A fresh simulator of the adapter's system, with nothing in it."""
        raise NotImplementedError("implement simulator() to return a fresh simulator")

    @classmethod
    def pytest_generate_tests(cls, metafunc: pytest.Metafunc) -> None:
        """Run capability checks for each declared capability, refusals for the others."""
        declared = sorted(cls.adapter.capabilities)
        undeclared = sorted(set(Capability) - cls.adapter.capabilities)
        if "declared" in metafunc.fixturenames:
            metafunc.parametrize("declared", declared, ids=[c.value for c in declared])
        if "undeclared" in metafunc.fixturenames:
            metafunc.parametrize("undeclared", undeclared, ids=[c.value for c in undeclared])

    # Building blocks ----------------------------------------------------------------------

    def _settings(self, **overrides: Any) -> Any:
        return self.adapter.Settings.model_validate({**self.settings, **overrides})

    def _adapter(self, sim: ContractSimulator, **overrides: Any) -> Adapter:
        context = ChannelContext(name=CHANNEL, transport=sim.transport(), retry=_FAST)
        return self.adapter(self._settings(**overrides), context)

    def _config(self, tmp_path: Path, enable: list[Capability]) -> LoadedConfig:
        channel = {
            "adapter": self.adapter.name,
            "enable": [c.value for c in enable],
            "settings": dict(self.settings),
            "retry": {"initial_wait": 0, "max_wait": 0, "jitter": 0},
        }
        return parse_config(
            {
                "store": {"url": f"sqlite:///{tmp_path / 'contract.db'}"},
                "locations": {"shelf": {}},
                "channels": {CHANNEL: channel},
            },
            base_dir=tmp_path,
        )

    async def _probe(self, adapter: Adapter) -> None:
        """One read call through the adapter, whatever it can read."""
        caps = adapter.capabilities
        if Capability.PULL_ORDERS in caps:
            await _collect(adapter.pull_orders(None))
        elif Capability.PULL_STOCK in caps:
            await _collect(adapter.pull_stock(None))
        elif Capability.PULL_LISTINGS in caps:
            await _collect(adapter.pull_listings())
        else:
            await _collect(adapter.pull_returns(None))

    # Discovery and configuration --------------------------------------------------------

    def test_is_discoverable_through_the_omnisync_entry_point(self) -> None:
        """The adapter is registered by its package's entry point (or built in)."""
        assert plugins.adapter_classes().get(self.adapter.name) is self.adapter
        if self.distribution is None:
            return
        names: list[str] = []
        for ep in entry_points(group="omnisync"):
            if ep.dist is not None and ep.dist.name == self.distribution:
                module = ep.load()
                module.register_adapters(register=lambda cls: names.append(cls.name))
        assert self.adapter.name in names, (
            f"no 'omnisync' entry point of {self.distribution} registers {self.adapter.name!r}"
        )

    def test_valid_settings_load_and_an_invalid_one_is_named(self) -> None:
        """Configuration is checked when it loads, and the error names the bad key."""
        channel = {"adapter": self.adapter.name, "enable": [], "settings": self.settings}
        parse_config({"channels": {CHANNEL: channel}, "locations": {"shelf": {}}})
        bad = {**channel, "settings": self.invalid_settings}
        with pytest.raises(ConfigError) as info:
            parse_config({"channels": {CHANNEL: bad}, "locations": {"shelf": {}}})
        assert f"channels.{CHANNEL}.settings.{self.invalid_key}" in str(info.value)

    # Pulling ----------------------------------------------------------------------------

    @requires(Capability.PULL_ORDERS)
    def test_pagination_reaches_the_end_without_duplicates_or_gaps(self) -> None:
        """Every order is read once, however many pages it takes."""
        sim: Any = self.simulator()
        sim.add_listing("KIT-SKU", 10_000)
        placed = [sim.place_order("KIT-SKU", 1) for _ in range(23)]
        small = {self.page_size_setting: 5} if self.page_size_setting else {}
        adapter = self._adapter(sim, **small)

        async def pull() -> tuple[list[str], int]:
            ids: list[str] = []
            pages = 0
            async for page in adapter.pull_orders(None):
                _no_rejects(page)
                pages += 1
                ids += [order.external_id for order in page.items]
            await adapter.aclose()
            return ids, pages

        ids, pages = _run(pull())
        assert len(ids) == len(set(ids)), "an order was read twice"
        assert sorted(ids) == sorted(placed), "orders were missed"
        if self.page_size_setting:
            assert pages >= 5, "a page size of 5 should take at least five pages"

    @requires(Capability.PULL_ORDERS)
    def test_the_cursor_advances_and_an_overlap_reread_imports_nothing_twice(
        self, tmp_path: Path
    ) -> None:
        """Incremental pulls through the engine: each order once, changes picked up."""
        sim: Any = self.simulator()
        sim.add_listing("KIT-SKU", 10_000)
        placed = [sim.place_order("KIT-SKU", 1) for _ in range(4)]

        async def scenario() -> None:
            loaded = self._config(tmp_path, [Capability.PULL_ORDERS])
            async with AsyncOmnisync(loaded, transports={CHANNEL: sim.transport()}) as om:
                await om.set_stock("KIT-SKU", 10_000)
                first = (await om.sync()).channels[CHANNEL]
                assert first.counts["orders_imported"] == 4, first.to_dict()
                with om.store.reading() as tx:
                    assert tx.cursor(CHANNEL, "orders") is not None, "the cursor did not move"
                sim.touch_order(placed[0])
                sim.place_order("KIT-SKU", 1)
                second = (await om.sync()).channels[CHANNEL]
                assert second.counts["orders_imported"] == 1, second.to_dict()
                assert second.counts["orders_changed"] == 1, second.to_dict()
                third = (await om.sync()).channels[CHANNEL]
                assert not third.counts["orders_imported"]
                assert not third.counts["orders_changed"]
                assert len(await om.orders(limit=100)) == 5

        _run(scenario())

    @requires(Capability.PULL_ORDERS)
    def test_a_malformed_order_is_quarantined_and_the_rest_import(self, tmp_path: Path) -> None:
        """One order that cannot be mapped becomes a dead letter holding its payload; the
        orders around it import, and the sync goes on past it."""
        sim: Any = self.simulator()
        sim.add_listing("KIT-SKU", 10_000)
        placed = [sim.place_order("KIT-SKU", 1) for _ in range(3)]
        sim.break_order(placed[1])

        async def scenario() -> None:
            loaded = self._config(tmp_path, [Capability.PULL_ORDERS])
            async with AsyncOmnisync(loaded, transports={CHANNEL: sim.transport()}) as om:
                await om.set_stock("KIT-SKU", 10_000)
                report = (await om.sync()).channels[CHANNEL]
                assert report.counts["orders_imported"] == 2, report.to_dict()
                letters = await om.dead_letters()
                assert [(d.kind, d.key) for d in letters] == [("order", placed[1])], letters
                assert letters[0].payload, "the dead letter lost the order's payload"
                stored = {s.order.external_id for s in await om.orders(limit=10)}
                assert stored == {placed[0], placed[2]}
                again = (await om.sync()).channels[CHANNEL]
                assert not again.counts["orders_imported"], "the cursor did not move past it"

        _run(scenario())

    @requires(Capability.PULL_ORDERS)
    def test_an_unknown_sku_is_quarantined_and_reserved_once_known(self, tmp_path: Path) -> None:
        """An order line naming a SKU omnisync does not know imports with the order, leaves a
        dead letter, and reserves its stock when the SKU is known and the letter retried."""
        sim: Any = self.simulator()
        sim.add_listing("KIT-SKU", 10_000)
        sim.add_listing("KIT-NEW", 10_000)
        sim.place_order("KIT-SKU", 1)
        sim.place_order("KIT-NEW", 2)

        async def scenario() -> None:
            loaded = self._config(tmp_path, [Capability.PULL_ORDERS])
            async with AsyncOmnisync(loaded, transports={CHANNEL: sim.transport()}) as om:
                await om.set_stock("KIT-SKU", 10)
                report = (await om.sync()).channels[CHANNEL]
                assert report.counts["orders_imported"] == 2, report.to_dict()
                assert report.counts["unknown_skus"] == 1, report.to_dict()
                letters = await om.dead_letters()
                assert [d.kind for d in letters] == ["unknown_sku"], letters
                await om.set_stock("KIT-NEW", 10)
                outcomes = await om.retry_dead_letters()
                assert all(outcome.ok for outcome in outcomes), outcomes
                assert not await om.dead_letters()
                cells = await om.stock_levels(["KIT-NEW"])
                assert cells["KIT-NEW"]["shelf"].held == 2

        _run(scenario())

    # Errors -----------------------------------------------------------------------------

    @requires(any_of=_READS)
    @pytest.mark.parametrize("status", [401, 403])
    def test_refused_credentials_are_an_auth_error_and_not_retried(self, status: int) -> None:
        """401 and 403 mean fix the credentials: no retry."""
        sim = self.simulator()
        adapter = self._adapter(sim)
        sim.faults.inject(status)
        with pytest.raises(AuthError):
            _run(self._closing(adapter, self._probe))
        assert _requests(adapter) == 1

    @requires(any_of=_READS)
    def test_rate_limiting_is_retried_after_the_delay_asked_for(self) -> None:
        """429 is waited out for its Retry-After, then the call succeeds."""
        sim = self.simulator()
        sim.faults.retry_after = 0.2
        adapter = self._adapter(sim)
        sim.faults.inject(429)
        started = time.monotonic()
        _run(self._closing(adapter, self._probe))
        assert time.monotonic() - started >= 0.2
        assert _requests(adapter) >= 2

    @requires(any_of=_READS)
    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_server_errors_are_retried(self, status: int) -> None:
        """5xx may pass: the call is tried again and succeeds."""
        sim = self.simulator()
        adapter = self._adapter(sim)
        sim.faults.inject(status)
        _run(self._closing(adapter, self._probe))
        assert _requests(adapter) >= 2

    @requires(any_of=_READS)
    @pytest.mark.parametrize("status", [400, 404, 422])
    def test_other_client_errors_are_permanent(self, status: int) -> None:
        """Other 4xx will not change on retry."""
        sim = self.simulator()
        adapter = self._adapter(sim)
        sim.faults.inject(status)
        with pytest.raises(PermanentError):
            _run(self._closing(adapter, self._probe))
        assert _requests(adapter) == 1

    async def _closing(self, adapter: Adapter, work: Callable[[Adapter], Awaitable[T]]) -> T:
        try:
            return await work(adapter)
        finally:
            await adapter.aclose()

    # Stock ------------------------------------------------------------------------------

    @requires(Capability.PUSH_STOCK)
    def test_stock_pushes_are_idempotent(self) -> None:
        """Pushing the same quantities twice lands them once and reports them both times."""
        sim: Any = self.simulator()
        for n in range(3):
            sim.add_listing(f"KIT-{n}", 1)
        adapter = self._adapter(sim)

        async def push_twice() -> None:
            listings = {}
            if Capability.PULL_LISTINGS in adapter.capabilities:
                listings = {item.sku: item for item in await _collect(adapter.pull_listings())}
            updates = [
                StockUpdate(sku=f"KIT-{n}", quantity=n + 5, listing=listings.get(f"KIT-{n}"))
                for n in range(3)
            ]
            for _ in range(2):
                results = await adapter.push_stock(updates)
                assert [r.sku for r in results] == [u.sku for u in updates]
                assert all(r.ok for r in results), results
                updates = [u.model_copy(update={"previous": u.quantity}) for u in updates]
            await adapter.aclose()

        _run(push_twice())
        assert [sim.shown(f"KIT-{n}") for n in range(3)] == [5, 6, 7]

    @requires(Capability.PUSH_STOCK)
    def test_stock_pushes_respect_the_declared_batch_limit(self, tmp_path: Path) -> None:
        """The engine never sends a call more items than the adapter declares it may carry."""
        limit = self.adapter.limits.stock_batch_size
        count = 2 * limit + 3
        sim: Any = self.simulator()
        for n in range(count):
            sim.add_listing(f"KIT-{n:05}", 0)
        enable = [Capability.PUSH_STOCK]
        if Capability.PULL_LISTINGS in self.adapter.capabilities:
            enable.append(Capability.PULL_LISTINGS)

        async def scenario() -> None:
            loaded = self._config(tmp_path, enable)
            async with AsyncOmnisync(loaded, transports={CHANNEL: sim.transport()}) as om:
                for n in range(count):
                    await om.set_stock(f"KIT-{n:05}", 3)
                report = (await om.sync()).channels[CHANNEL]
                assert report.counts["pushed"] == count, report.to_dict()

        _run(scenario())
        batches = sim.stock_batches()
        assert max(batches) <= limit, f"a call carried {max(batches)} items; the limit is {limit}"
        assert len(batches) == math.ceil(count / limit)

    # Capabilities -----------------------------------------------------------------------

    def test_a_declared_capability_works(self, declared: Capability) -> None:
        """Each capability the adapter declares does what it says, against the simulator."""
        sim: Any = self.simulator()
        adapter = self._adapter(sim)
        check = getattr(self, f"_works_{declared.value}")
        _run(self._closing(adapter, lambda a: check(sim, a)))

    def test_an_undeclared_capability_is_refused(self, undeclared: Capability) -> None:
        """Asking for what the adapter does not declare is a clear error, not a surprise."""
        adapter = self._adapter(self.simulator())
        method = getattr(adapter, CAPABILITY_METHODS[undeclared][0])
        with pytest.raises(CapabilityError):
            _run(_call_any(method))

    async def _works_pull_orders(self, sim: Any, adapter: Adapter) -> None:
        sim.add_listing("KIT-SKU", 10)
        placed = sim.place_order("KIT-SKU", 2)
        orders = await _collect(adapter.pull_orders(None))
        [order] = [o for o in orders if o.external_id == placed]
        assert order.channel == CHANNEL
        assert [(line.sku, line.quantity) for line in order.lines if line.sku] == [("KIT-SKU", 2)]

    async def _works_pull_listings(self, sim: Any, adapter: Adapter) -> None:
        sim.add_listing("KIT-LISTED", 3)
        listings = await _collect(adapter.pull_listings())
        assert "KIT-LISTED" in {listing.sku for listing in listings}

    async def _works_push_stock(self, sim: Any, adapter: Adapter) -> None:
        sim.add_listing("KIT-PUSH", 1)
        listings = {}
        if Capability.PULL_LISTINGS in adapter.capabilities:
            listings = {item.sku: item for item in await _collect(adapter.pull_listings())}
        [result] = await adapter.push_stock(
            [StockUpdate(sku="KIT-PUSH", quantity=9, listing=listings.get("KIT-PUSH"))]
        )
        assert result.ok, result
        assert sim.shown("KIT-PUSH") == 9

    async def _works_push_fulfilments(self, sim: Any, adapter: Adapter) -> None:
        sim.add_listing("KIT-SKU", 10)
        placed = sim.place_order("KIT-SKU", 2)
        [order] = [o for o in await _collect(adapter.pull_orders(None)) if o.external_id == placed]
        lines = tuple(
            FulfilmentLine(line_id=line.line_id, quantity=line.open_quantity)
            for line in order.lines
            if line.open_quantity
        )
        done = await adapter.push_fulfilment(
            Fulfilment(
                channel=CHANNEL,
                order_id=placed,
                lines=lines,
                carrier="DHL",
                tracking_number="KIT-0001",
                idempotency_key="kit-fulfilment-1",
            )
        )
        assert done.fulfilment_id
        [again] = [o for o in await _collect(adapter.pull_orders(None)) if o.external_id == placed]
        assert all(line.open_quantity == 0 for line in again.lines if line.sku)

    async def _works_pull_returns(self, sim: Any, adapter: Adapter) -> None:
        sim.add_listing("KIT-SKU", 10)
        placed = sim.place_order("KIT-SKU", 1)
        return_id = sim.return_order(placed)
        returns = await _collect(adapter.pull_returns(None))
        assert return_id in {ret.return_id for ret in returns}

    async def _works_push_refunds(self, sim: Any, adapter: Adapter) -> None:
        sim.add_listing("KIT-SKU", 10)
        placed = sim.place_order("KIT-SKU", 1)
        [order] = [o for o in await _collect(adapter.pull_orders(None)) if o.external_id == placed]
        done = await adapter.push_refund(
            Refund(
                channel=CHANNEL,
                order_id=placed,
                amount=Money.of("1.00", order.currency),
                idempotency_key="kit-refund-1",
            )
        )
        assert done.refund_id

    async def _works_pull_stock(self, sim: Any, adapter: Adapter) -> None:
        sim.set_count("KIT-COUNTED", 4)
        levels = await _collect(adapter.pull_stock(None))
        assert ("KIT-COUNTED", 4) in {(level.sku, level.on_hand) for level in levels}

    async def _works_push_documents(self, sim: Any, adapter: Adapter) -> None:
        document = SalesDocument(kind=DocumentKind.SALES_ORDER, reference="kit:#1", order=_order())
        first = await adapter.push_document(document)
        second = await adapter.push_document(document)
        assert first.created
        assert not second.created
        assert first.external_id == second.external_id

    async def _works_pull_shipments(self, sim: Any, adapter: Adapter) -> None:
        order = _order()
        document = SalesDocument(kind=DocumentKind.SALES_ORDER, reference="kit:#2", order=order)
        await adapter.push_document(document)
        shipment_id = sim.ship_document(document.reference)
        shipments = await _collect(adapter.pull_shipments(None))
        [shipment] = [s for s in shipments if s.source_id == shipment_id]
        assert shipment.reference == document.reference
        shipped = {(line.sku, line.quantity) for line in shipment.lines}
        assert shipped == {(line.sku, line.quantity) for line in order.lines if line.sku}

    async def _works_push_customers(self, sim: Any, adapter: Adapter) -> None:
        buyer = Customer(email="kit@example.com", first_name="Kit", last_name="Contract")
        assert await adapter.push_customer(buyer) == await adapter.push_customer(buyer)

    async def _works_webhooks(self, sim: Any, adapter: Adapter) -> None:
        headers, body = sim.order_webhook()
        adapter.verify_webhook(headers, body)
        event = adapter.parse_webhook(headers, body)
        assert event.event_id
        assert not event.rejects, f"the adapter could not map the delivery: {event.rejects}"
        assert event.orders or event.deleted_orders or event.offered or event.returns

    @requires(Capability.WEBHOOKS)
    def test_webhooks_with_a_bad_signature_are_rejected(self) -> None:
        """A tampered, forged or unsigned delivery raises SignatureError."""
        sim: Any = self.simulator()
        adapter = self._adapter(sim)
        headers, body = sim.order_webhook()
        adapter.verify_webhook(headers, body)
        with pytest.raises(SignatureError):
            adapter.verify_webhook(headers, body[:-1] + b" ")
        forged = {
            name: ("AAAA" + value[4:] if "sig" in name.lower() or "hmac" in name.lower() else value)
            for name, value in headers.items()
        }
        with pytest.raises(SignatureError):
            adapter.verify_webhook(forged, body)
        unsigned = {name: value for name, value in forged.items() if value == headers[name]}
        with pytest.raises(SignatureError):
            adapter.verify_webhook(unsigned, body)


def _requests(adapter: Adapter) -> int:
    http = getattr(adapter, "http", None)
    assert http is not None, "the kit's error checks need an HTTPAdapter"
    return int(http.stats.requests)


async def _call_any(method: Callable[..., Any]) -> None:
    """Call an adapter method with throwaway arguments, whatever its kind."""
    name = method.__name__
    if name in ("pull_orders", "pull_stock", "pull_returns", "pull_shipments"):
        await _collect(method(None))
    elif name == "pull_listings":
        await _collect(method())
    elif name in ("verify_webhook", "parse_webhook"):
        method({}, b"{}")
    elif name == "map_order":
        method({})
    else:
        await method(*_placeholder_args(name))


def _placeholder_args(name: str) -> list[Any]:
    order = _order()
    arguments: dict[str, list[Any]] = {
        "push_stock": [[StockUpdate(sku="X", quantity=1)]],
        "push_fulfilment": [
            Fulfilment(
                channel=CHANNEL, order_id="1", lines=(FulfilmentLine(line_id="1", quantity=1),)
            )
        ],
        "push_refund": [Refund(channel=CHANNEL, order_id="1", amount=Money.of(1, "EUR"))],
        "push_document": [SalesDocument(kind=DocumentKind.INVOICE, reference="x", order=order)],
        "push_customer": [Customer(email="x@example.com")],
    }
    return arguments[name]


def _order() -> Order:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    line = OrderLine(line_id="1", sku="KIT-SKU", quantity=2, unit_price=Money.of("9.50", "EUR"))
    return Order(
        channel="kit",
        external_id="1",
        number="#1",
        currency="EUR",
        lines=(line,),
        created_at=now,
        updated_at=now,
    )
