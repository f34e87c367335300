"""Stock on shelves, listings on channels, and the quantities pushed to them."""

from __future__ import annotations

from pydantic import Field

from omnisync.models._base import MAX_UNITS, SKU, Frozen, Identifier, Timestamp

__all__ = ["Listing", "StockLevel", "StockPushResult", "StockUpdate"]


class StockLevel(Frozen):
    """How many units of ``sku`` are physically on hand at ``location``.

    ``as_of`` is when the source last changed this count. It matters: a shipment's reservation
    is released only by a count whose ``as_of`` is after the shipment, because only such a count
    can already reflect it. A source that cannot say leaves it out, and the engine stamps the
    time its pull began. ``on_hand`` may be negative: some ERPs allow it,
    and omnisync reports it as it is rather than hide it.
    """

    sku: SKU
    location: Identifier
    on_hand: int = Field(ge=-MAX_UNITS, le=MAX_UNITS)
    as_of: Timestamp | None = None


class Listing(Frozen):
    """Where one of our SKUs lives on a channel: the channel's own ids for it."""

    channel: str = Field(min_length=1)
    sku: SKU
    product_id: str | None = None
    variant_id: str | None = None
    inventory_item_id: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)


class StockUpdate(Frozen):
    """A quantity for a channel to show for ``sku``.

    ``previous`` is the quantity the channel last acknowledged (``None`` if never pushed):
    adapters whose API supports compare-and-set send it, so a push never overwrites a sale it
    has not seen. ``listing`` is the channel's ids for the SKU, when the adapter discovers them.
    """

    sku: SKU
    quantity: int = Field(ge=0, le=MAX_UNITS)
    previous: int | None = None
    listing: Listing | None = None


class StockPushResult(Frozen):
    """What a channel said about one item of a stock push.

    ``ok`` with the ``quantity`` it now shows, or not ``ok`` with the channel's ``error``.
    ``retryable`` marks errors worth another attempt (a stale compare-and-set, say); others are
    quarantined.
    """

    sku: SKU
    ok: bool
    quantity: int | None = None
    error: str | None = None
    retryable: bool = False
