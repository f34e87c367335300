"""The Tryton adapter: stock in, sales and parties out, done shipments back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, JsonValue, SecretStr

from omnisync.adapters import (
    Capability,
    HTTPAdapter,
    HTTPSettings,
    Limits,
    Page,
    RateLimit,
    map_records,
    secret,
)
from omnisync.adapters._base import AdapterSettings, ChannelContext
from omnisync.errors import InvalidPayloadError
from omnisync.models import (
    Customer,
    DocumentReceipt,
    SalesDocument,
    Shipment,
    ShipmentLine,
    StockLevel,
)
from omnisync_tryton._rpc import TrytonRPC
from omnisync_tryton._sales import SaleBook

__all__ = ["TrytonAdapter", "TrytonSettings"]


class TrytonSettings(HTTPSettings):
    """Settings of the ``tryton`` adapter.

    ``base_url`` is the trytond server (``http://erp.internal:8000``), ``database`` the
    database on it; ``username`` and ``password`` a Tryton user allowed to read stock and
    products and to create parties and sales. ``warehouses`` limits the counts read to these
    warehouse codes (default: every warehouse); their codes are the ``source_id`` of
    omnisync's locations. ``shipping_product`` is the code of a service product that carries
    an order's shipping charge on the sale (none: the charge is left out).
    """

    database: str = Field(min_length=1)
    username: str = Field(default="admin", min_length=1)
    password: SecretStr = secret(env="OMNISYNC_TRYTON_PASSWORD")
    warehouses: list[str] | None = None
    shipping_product: str | None = "SHIPPING"
    page_size: int = Field(default=200, ge=1, le=1000)


class TrytonAdapter(HTTPAdapter):
    """Tryton ERP over JSON-RPC: the inventory source and the books.

    Reads on-hand per SKU (product code) and warehouse, incrementally from the stock moves
    changed since the last read; records every order as a sale (its reference the order's
    ``channel:number``), quoted and confirmed, exactly once; cancels the sale when the order
    is cancelled while Tryton still allows it; reads done customer shipments back so each
    order's channel hears it shipped.
    """

    name = "tryton"
    description = "Tryton ERP (JSON-RPC): stock counts in, sales and parties out, shipments back"
    capabilities = frozenset(
        {
            Capability.PULL_STOCK,
            Capability.PUSH_DOCUMENTS,
            Capability.PUSH_CUSTOMERS,
            Capability.PULL_SHIPMENTS,
        }
    )
    # trytond has no documented request limit; pace a single client politely.
    limits = Limits(rate_limit=RateLimit(rate=20, burst=20))
    Settings: ClassVar[type[AdapterSettings]] = TrytonSettings
    settings: TrytonSettings

    def __init__(self, settings: AdapterSettings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        self.rpc = TrytonRPC(
            self.http,
            self.settings.database,
            self.settings.username,
            self.settings.password,
            self.channel,
        )
        self.book = SaleBook(self.rpc, self.settings.shipping_product, self.channel)

    # Stock --------------------------------------------------------------------------------

    async def _warehouses(self) -> dict[int, str]:
        """Warehouse ids and codes, as ``settings.warehouses`` limits them."""
        found = await self.rpc.call(
            "model.stock.location.search_read",
            [("type", "=", "warehouse")],
            0,
            None,
            None,
            ["code", "name"],
        )
        wanted = self.settings.warehouses
        return {
            row["id"]: row["code"] or row["name"]
            for row in found
            if wanted is None or row["code"] in wanted
        }

    async def pull_stock(self, since: datetime | None) -> AsyncIterator[Page[StockLevel]]:
        """On hand per product code and warehouse. After the first read, only products with
        a stock move written since ``since`` are read again (a done, cancelled or edited move
        is what changes a quantity)."""
        warehouses = await self._warehouses()
        if since is None:
            products = await self.rpc.call(
                "model.product.product.search", [("type", "=", "goods")], 0, None, [("id", "ASC")]
            )
            # Read to the latest move now: the next pull starts from there.
            latest = await self._moves_since(None, limit=1)
            checkpoint = _changed(latest[0]) if latest else None
        else:
            moves = await self._moves_since(since)
            products = sorted({move["product"] for move in moves})
            checkpoint = max((_changed(move) for move in moves), default=None)
        size = self.settings.page_size
        for start in range(0, len(products), size):
            chunk = products[start : start + size]
            levels: list[StockLevel] = []
            rejects = []
            for warehouse_id, code in warehouses.items():
                rows = await self.rpc.call(
                    "model.product.product.read",
                    chunk,
                    ["code", "quantity"],
                    context={"locations": [warehouse_id]},
                )
                found, refused = map_records(
                    [{**row, "warehouse": code} for row in rows if row.get("code")],
                    _level,
                    kind="stock_level",
                    key=lambda row: f"{_field(row, 'code')}@{code}",
                )
                levels += found
                rejects += refused
            last = start + size >= len(products)
            yield Page(levels, rejects, checkpoint if last else None)

    async def _moves_since(
        self, since: datetime | None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Stock moves created or written since ``since``, latest first. (A move's
        ``write_date`` is empty until its first change, so both dates count.)"""
        domain: list[Any] = []
        if since is not None:
            domain = ["OR", ("write_date", ">=", since), ("create_date", ">=", since)]
        order = [("write_date", "DESC NULLS LAST"), ("create_date", "DESC")]
        rows = await self.rpc.call(
            "model.stock.move.search_read",
            domain,
            0,
            limit,
            order,
            ["product", "write_date", "create_date"],
        )
        return list(rows)

    # Sales and parties ---------------------------------------------------------------------

    async def push_document(self, document: SalesDocument) -> DocumentReceipt:
        """Record the order as a sale (see `SaleBook.record`)."""
        return await self.book.record(document)

    async def push_customer(self, customer: Customer) -> str:
        """The party for ``customer``: found by e-mail address, else created."""
        return str(await self.book.party(customer, fallback_name=customer.name or "Customer"))

    # Shipments -----------------------------------------------------------------------------

    async def pull_shipments(self, since: datetime | None) -> AsyncIterator[Page[Shipment]]:
        """Customer shipments done since ``since``, one per sale they ship."""
        domain: list[Any] = [("state", "=", "done")]
        if since is not None:
            domain.append(("write_date", ">=", since))
        offset, size = 0, self.settings.page_size
        while True:
            rows = await self.rpc.call(
                "model.stock.shipment.out.search_read",
                domain,
                offset,
                size,
                [("write_date", "ASC"), ("id", "ASC")],
                ["number", "effective_date", "write_date", "outgoing_moves", "warehouse.code"],
            )
            payloads = await self._with_sales(rows)
            found, rejects = map_records(payloads, _shipment, kind="shipment", key=_source_id)
            newest = max((row["write_date"] for row in rows), default=None)
            yield Page(found, rejects, newest if len(rows) < size else None)
            if len(rows) < size:
                return
            offset += size

    async def _with_sales(self, shipments: list[dict[str, Any]]) -> list[JsonValue]:
        """Each shipment split by the sale its moves come from, with the sale's reference."""
        move_ids = [move for row in shipments for move in row["outgoing_moves"]]
        moves = await self.rpc.call(
            "model.stock.move.read", move_ids, ["product.code", "quantity", "origin", "shipment"]
        )
        line_ids = sorted(
            {int(m["origin"].split(",")[1]) for m in moves if _from_sale(m.get("origin"))}
        )
        lines = await self.rpc.call("model.sale.line.read", line_ids, ["sale.reference"])
        reference_of = {line["id"]: _field(line, "sale.", "reference") for line in lines}
        payloads: list[JsonValue] = []
        for row in shipments:
            by_reference: dict[str, list[dict[str, Any]]] = {}
            for move in moves:
                if move["shipment"] != f"stock.shipment.out,{row['id']}":
                    continue
                origin = move.get("origin")
                reference = (
                    reference_of.get(int(origin.split(",")[1])) if _from_sale(origin) else None
                )
                if reference:
                    by_reference.setdefault(reference, []).append(move)
            for reference, shipped in by_reference.items():
                source = row["number"] if len(by_reference) == 1 else f"{row['number']}/{reference}"
                payloads.append(
                    {
                        "source_id": source,
                        "reference": reference,
                        "warehouse": _field(row, "warehouse.", "code"),
                        "shipped_at": row["write_date"].isoformat(),
                        "lines": [
                            {"sku": _field(m, "product.", "code"), "quantity": str(m["quantity"])}
                            for m in shipped
                        ],
                    }
                )
        return payloads


def _changed(move: dict[str, Any]) -> datetime:
    """When a stock move last changed."""
    dates: list[datetime] = [d for d in (move.get("write_date"), move.get("create_date")) if d]
    return max(dates)


def _from_sale(origin: Any) -> bool:
    return isinstance(origin, str) and origin.startswith("sale.line,")


def _field(row: Any, *path: str) -> Any:
    """A value of a Tryton row, where dotted fields come back as ``{"product.": {...}}``."""
    value = row
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _whole(value: Any, what: str) -> int:
    number = float(value) if not isinstance(value, int) else value
    if number != int(number):
        raise InvalidPayloadError(f"{what} {value} is not a whole number of units")
    return int(number)


def _level(payload: JsonValue) -> StockLevel:
    row = payload if isinstance(payload, dict) else {}
    return StockLevel(
        sku=str(row["code"]),
        location=str(row["warehouse"]),
        on_hand=_whole(row["quantity"], "quantity"),
    )


def _source_id(payload: JsonValue) -> str:
    return str(payload.get("source_id", "unknown")) if isinstance(payload, dict) else "unknown"


def _shipment(payload: JsonValue) -> Shipment:
    row = payload if isinstance(payload, dict) else {}
    listed = row["lines"]
    lines = listed if isinstance(listed, list) else []
    return Shipment(
        source_id=str(row["source_id"]),
        reference=str(row["reference"]),
        location=row.get("warehouse") and str(row["warehouse"]),
        shipped_at=row["shipped_at"],
        lines=tuple(
            ShipmentLine(sku=str(line["sku"]), quantity=_whole(line["quantity"], "quantity"))
            for line in lines
            if isinstance(line, dict)
        ),
    )
