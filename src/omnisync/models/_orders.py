"""Orders and their lines, as every channel's orders are mapped to them."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from omnisync.models._base import MAX_UNITS, Frozen, Identifier, Timestamp
from omnisync.models._enums import FinancialStatus, FulfilmentStatus, OrderStatus, RiskLevel
from omnisync.models._money import Currency, Money
from omnisync.models._party import Address, Customer

__all__ = ["Discount", "Order", "OrderLine", "ShippingLine", "TaxLine"]


class TaxLine(Frozen):
    """One tax charged on a line or on shipping. ``rate`` is a fraction: 0.19 for 19 %."""

    title: str
    amount: Money
    rate: float | None = None


class Discount(Frozen):
    """One discount applied to a line: its code or title, and the amount taken off the line."""

    title: str
    amount: Money


def _total(items: Iterable[TaxLine | Discount], currency: str) -> Money:
    return Money.total((item.amount for item in items), currency)


class OrderLine(Frozen):
    """One line of an order.

    ``quantity`` is what was ordered. Of it, ``fulfilled_quantity`` has shipped and
    ``cancelled_quantity`` was removed before shipping; the rest is ``open_quantity``, which is
    what the line reserves. ``sku`` is ``None`` for lines that are not stock (a tip, a custom item).
    """

    line_id: Identifier
    sku: Annotated[str, StringConstraints(max_length=255)] | None = None
    title: str = ""
    quantity: int = Field(ge=0, le=MAX_UNITS)
    unit_price: Money
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[TaxLine, ...] = ()
    fulfilled_quantity: int = Field(default=0, ge=0, le=MAX_UNITS)
    cancelled_quantity: int = Field(default=0, ge=0, le=MAX_UNITS)

    @field_validator("sku", mode="before")
    @classmethod
    def _blank_sku_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.fulfilled_quantity + self.cancelled_quantity > self.quantity:
            raise ValueError(
                f"line {self.line_id}: fulfilled ({self.fulfilled_quantity}) plus cancelled "
                f"({self.cancelled_quantity}) exceeds the quantity ordered ({self.quantity})"
            )
        _in_currency(f"line {self.line_id}", "line", self.unit_price.currency, self.discounts)
        _in_currency(f"line {self.line_id}", "line", self.unit_price.currency, self.taxes)
        return self

    @property
    def open_quantity(self) -> int:
        """Units neither shipped nor cancelled: what this line reserves while its order is live."""
        return self.quantity - self.fulfilled_quantity - self.cancelled_quantity

    @property
    def subtotal(self) -> Money:
        """Unit price times quantity, before discounts and taxes."""
        return self.unit_price * self.quantity

    @property
    def discount_total(self) -> Money:
        """All discounts on this line added up."""
        return _total(self.discounts, self.unit_price.currency)

    @property
    def tax_total(self) -> Money:
        """All taxes on this line added up."""
        return _total(self.taxes, self.unit_price.currency)


def _in_currency(where: str, what: str, currency: str, parts: Iterable[Discount | TaxLine]) -> None:
    """Refuse a discount or tax of ``where`` (a ``what``, in ``currency``) in another currency."""
    for part in parts:
        if part.amount.currency != currency:
            raise ValueError(
                f"{where}: {part.title!r} is in {part.amount.currency}, the {what} in {currency}"
            )


class ShippingLine(Frozen):
    """A shipping charge: the method's title and code, its price and its taxes."""

    title: str = ""
    code: str | None = None
    price: Money
    taxes: tuple[TaxLine, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _in_currency(f"shipping {self.title!r}", "charge", self.price.currency, self.taxes)
        return self

    @property
    def tax_total(self) -> Money:
        """All taxes on this shipping charge added up."""
        return _total(self.taxes, self.price.currency)


# Left out, these are derived from the lines before validation; the default only shows up
# (and fails validation) when the input is too malformed to derive anything from.
def _derived() -> Any:
    return Field(default=None, validate_default=True)


class Order(Frozen):
    """An order as one channel reports it, keyed by ``(channel, external_id)``.

    Totals and the fulfilment status the channel reports are kept as it reports them; those it
    leaves out are derived from the lines. ``raw`` keeps the channel's own payload for audit
    (its numbers as Decimal where omnisync parsed them).
    Every amount is in the order's ``currency`` (the shop's currency); what the buyer saw in
    another currency is in ``presentment_total``.
    """

    channel: Identifier
    external_id: Identifier
    number: Annotated[str, StringConstraints(max_length=255)] = ""
    status: OrderStatus = OrderStatus.OPEN
    financial_status: FinancialStatus = FinancialStatus.PENDING
    fulfilment_status: FulfilmentStatus = _derived()
    currency: Currency
    lines: tuple[OrderLine, ...] = ()
    shipping_lines: tuple[ShippingLine, ...] = ()
    customer: Customer | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    taxes_included: bool = False
    subtotal: Money = _derived()
    discount_total: Money = _derived()
    shipping_total: Money = _derived()
    tax_total: Money = _derived()
    total: Money = _derived()
    presentment_total: Money | None = None
    created_at: Timestamp
    updated_at: Timestamp
    cancelled_at: Timestamp | None = None
    cancel_reason: str | None = None
    risk: RiskLevel | None = None
    note: str | None = None
    tags: tuple[str, ...] = ()
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _derive_totals(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "currency" not in data:
            return data
        try:
            return _with_derived_totals(dict(data))
        except (TypeError, ValueError, AttributeError):
            # Leave malformed input for field validation to report properly.
            return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        seen: set[str] = set()
        for line in self.lines:
            if line.line_id in seen:
                raise ValueError(f"line id {line.line_id!r} appears twice")
            seen.add(line.line_id)
        amounts = [line.unit_price for line in self.lines]
        amounts += [shipping.price for shipping in self.shipping_lines]
        amounts += [self.subtotal, self.discount_total, self.shipping_total, self.tax_total]
        amounts.append(self.total)
        for amount in amounts:
            if amount.currency != self.currency:
                raise ValueError(
                    f"order is in {self.currency} but has an amount in {amount.currency}; "
                    "keep presentment-currency amounts in presentment_total"
                )
        return self

    @property
    def key(self) -> tuple[str, str]:
        """``(channel, external_id)``: what identifies this order everywhere in omnisync."""
        return (self.channel, self.external_id)

    @property
    def reference(self) -> str:
        """A human reference, ``channel:number``, used in documents pushed to back offices.

        An order without a number is ``channel:id:external_id``, which no number can collide
        with.
        """
        return (
            f"{self.channel}:{self.number}"
            if self.number
            else (f"{self.channel}:id:{self.external_id}")
        )

    @property
    def is_cancelled(self) -> bool:
        """Whether the order is cancelled."""
        return self.status is OrderStatus.CANCELLED


def _as_money(value: Any) -> Money:
    return value if isinstance(value, Money) else Money.model_validate(value)


def _fulfilment_status(lines: list[OrderLine]) -> FulfilmentStatus:
    shipped = sum(line.fulfilled_quantity for line in lines)
    if shipped == 0:
        return FulfilmentStatus.UNFULFILLED
    if all(line.open_quantity == 0 for line in lines):
        return FulfilmentStatus.FULFILLED
    return FulfilmentStatus.PARTIAL


_SUMMED = ("subtotal", "discount_total", "shipping_total", "tax_total")


def _with_derived_totals(data: dict[str, Any]) -> dict[str, Any]:
    """Fill in the totals and fulfilment status the channel left out, from the lines."""
    lines = [
        line if isinstance(line, OrderLine) else OrderLine.model_validate(line)
        for line in data.get("lines", ())
    ]
    data["lines"] = lines
    if "fulfilment_status" not in data:
        data["fulfilment_status"] = _fulfilment_status(lines)
    shipping = [
        s if isinstance(s, ShippingLine) else ShippingLine.model_validate(s)
        for s in data.get("shipping_lines", ())
    ]
    data["shipping_lines"] = shipping
    # Sum in the lines' own currency: if it is not the order's, validation says so clearly.
    currency = lines[0].unit_price.currency if lines else str(data["currency"]).strip().upper()
    # Only the totals left out are summed: most channels give all but the subtotal.
    if "subtotal" not in data:
        data["subtotal"] = Money.total((line.subtotal for line in lines), currency)
    if "discount_total" not in data:
        discounts = (discount.amount for line in lines for discount in line.discounts)
        data["discount_total"] = Money.total(discounts, currency)
    if "shipping_total" not in data:
        data["shipping_total"] = Money.total((s.price for s in shipping), currency)
    if "tax_total" not in data:
        line_taxes = (tax.amount for line in lines for tax in line.taxes)
        shipping_taxes = (tax.amount for s in shipping for tax in s.taxes)
        data["tax_total"] = Money.total(chain(line_taxes, shipping_taxes), currency)
    if "total" not in data:
        parts = {name: _as_money(data[name]) for name in _SUMMED}
        total = parts["subtotal"] - parts["discount_total"] + parts["shipping_total"]
        if not data.get("taxes_included", False):
            total = total + parts["tax_total"]
        data["total"] = total
    return data
