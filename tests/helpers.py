"""Builders shared by the tests: orders, configurations and simulated worlds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from omnisync import AsyncOmnisync
from omnisync.config import LoadedConfig, parse_config
from omnisync.models import Money, Order, OrderLine, OrderStatus
from omnisync.sim import SimApp, SimMarket, SimWarehouse
from omnisync.sim._app import SimError

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FAST_RETRY = {"initial_wait": 0.0, "max_wait": 0.0, "jitter": 0.0}
# The simulators' adapters pace themselves to a modest rate; tests need not wait for it.
FAST = {"rate_limit": {"rate": 10_000, "burst": 10_000}}


def line(
    line_id: str = "1",
    sku: str | None = "SKU-A",
    quantity: int = 1,
    price: str = "10.00",
    **extra: Any,
) -> OrderLine:
    """An order line in EUR."""
    return OrderLine(
        line_id=line_id, sku=sku, quantity=quantity, unit_price=Money.of(price, "EUR"), **extra
    )


def order(
    external_id: str = "1",
    *lines: OrderLine,
    channel: str = "shop",
    minutes: int = 0,
    status: OrderStatus = OrderStatus.OPEN,
    **extra: Any,
) -> Order:
    """An order in EUR, created and updated ``minutes`` after `T0`."""
    moment = T0 + timedelta(minutes=minutes)
    extra.setdefault("created_at", moment)
    return Order(
        channel=channel,
        external_id=external_id,
        number=f"#{external_id}",
        status=status,
        currency="EUR",
        lines=lines or (line(),),
        updated_at=moment,
        **extra,
    )


class Stores:
    """Where the tests' stores live: SQLite files by default; under the ``backend`` fixture's
    PostgreSQL parameter, a fresh database for each place a test builds a world in."""

    def __init__(self) -> None:
        self.new_database: Callable[[], str] | None = None
        self._urls: dict[Path, str] = {}

    def url(self, place: Path) -> str:
        """The store URL for a world built in ``place`` (the same URL for the same place)."""
        if self.new_database is None:
            return f"sqlite:///{place / 'omnisync.db'}"
        if place not in self._urls:
            self._urls[place] = self.new_database()
        return self._urls[place]

    @contextmanager
    def on(self, new_database: Callable[[], str]) -> Iterator[None]:
        """Put the stores in databases ``new_database`` makes, for the block."""
        self.new_database, self._urls = new_database, {}
        try:
            yield
        finally:
            self.new_database, self._urls = None, {}


stores = Stores()


def config(tmp_path: Path, channels: dict[str, Any], **sections: Any) -> LoadedConfig:
    """A checked configuration with its store at ``stores.url(tmp_path)`` and fast retries
    everywhere."""
    for channel in channels.values():
        channel.setdefault("retry", dict(FAST_RETRY))
    data = {
        "store": {"url": stores.url(tmp_path)},
        "channels": channels,
        **sections,
    }
    return parse_config(data, base_dir=tmp_path)


@dataclass
class World:
    """An omnisync client wired to an in-process ERP and marketplaces."""

    client: AsyncOmnisync
    erp: SimWarehouse
    markets: dict[str, SimMarket] = field(default_factory=dict)

    def market(self, name: str = "shop") -> SimMarket:
        return self.markets[name]


def world(
    tmp_path: Path,
    *,
    stock: dict[str, int],
    markets: tuple[str, ...] = ("shop",),
    products: tuple[str, ...] | None = None,
    channel_options: dict[str, Any] | None = None,
    **sections: Any,
) -> World:
    """An ERP counting ``stock`` at WH1 and marketplaces listing ``products`` (default: the
    stocked SKUs and any bundles)."""
    erp = SimWarehouse("erp")
    for sku, count in stock.items():
        erp.set(sku, count, "WH1")
    listed = products or (*stock, *sections.get("bundles", {}))
    sims: dict[str, SimMarket] = {}
    channels: dict[str, Any] = {"erp": {"adapter": "sim-inventory", "settings": dict(FAST)}}
    for name in markets:
        sims[name] = SimMarket(name)
        for sku in listed:
            sims[name].add_product(sku)
        channels[name] = {
            "adapter": "sim",
            "settings": dict(FAST),
            **(channel_options or {}).get(name, {}),
        }
    loaded = config(
        tmp_path, channels, locations={"main": {"source": "erp", "source_id": "WH1"}}, **sections
    )
    transports = {"erp": erp.transport(), **{n: m.transport() for n, m in sims.items()}}
    return World(AsyncOmnisync(loaded, transports=transports), erp, sims)


@contextmanager
def refusing(
    app: SimApp,
    route: str,
    message: str,
    *,
    status: int = 422,
    when: Callable[[httpx.Request], bool] = lambda request: True,
) -> Iterator[None]:
    """Make a simulator's ``route`` handler answer ``status`` (while ``when`` holds)."""
    original = getattr(app, route)

    def refuse(request: httpx.Request, **groups: Any) -> Any:
        if when(request):
            raise SimError(status, message)
        return original(request, **groups)

    app._routes = [(m, p, refuse if h == original else h) for m, p, h in app._routes]
    try:
        yield
    finally:
        app._routes = [(m, p, original if h == refuse else h) for m, p, h in app._routes]
