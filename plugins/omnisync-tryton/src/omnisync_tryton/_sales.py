"""Orders as Tryton sales, and buyers as Tryton parties.

Sale workflow facts from trytond_sale 8.2 (sale.py ``_transitions`` and ``_buttons``): a sale
goes draft → quotation → confirmed → processing → done; ``cancel`` is allowed from draft and
quotation, ``draft`` from quotation and confirmed, and nothing leads from processing to
cancelled. Confirming processes the sale (shipments, invoices) unless the sale configuration
sets ``sale_process_after``, which keeps confirmed sales waiting that long.

Taxes are Tryton's: a sale line's unit price is before tax, and its taxes are those the
Tryton client gives a line of that product on that sale: Tryton's own ``on_change_product``
of ``sale.line`` is asked, over RPC as the client does, with the sale's party, company,
warehouse and addresses (trytond_sale ``SaleLine.compute_taxes``: the customer taxes of the
product's accounting category, mapped through the party's customer tax rule), so the books
follow the taxes set up in Tryton. An order whose prices include tax is booked at the prices
less the taxes the channel charged on them. Where Tryton's taxes come out other than the
channel's (a product without the tax in Tryton, a rate set differently), the sale is still
recorded and a warning says by how much.

An order edited on its channel after it was booked (a line added or removed, a quantity or a
price changed) is booked again on the same sale while Tryton allows it: the sale goes back to
draft (from quotation or confirmed), its lines are replaced by the order's, and it is quoted
and confirmed again. Its lines are compared first, so an order whose change does not touch
them (paid, shipped) leaves the sale alone. Once Tryton has processed the sale, it is not
edited: the edit is reported, to be booked in Tryton by hand. Units a channel reports as
removed while their line stays (``cancelled_quantity``) stay booked, as on a new sale.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from decimal import Decimal
from typing import Any

from omnisync.errors import PermanentError, UnknownSKUError
from omnisync.models import Address, Customer, DocumentReceipt, Money, Order, SalesDocument
from omnisync_tryton._rpc import TrytonRPC

__all__ = ["SaleBook"]

log = logging.getLogger("omnisync.tryton")

# The states a sale can go back to draft from, or is in: cancelled or edited there.
_UNPROCESSED = ("draft", "quotation", "confirmed")
# What a new sale line's taxes depend on, read back from a sale to book its lines again.
_TAX_CONTEXT = (
    "party",
    "company",
    "currency",
    "sale_date",
    "invoice_address",
    "shipment_address",
    "warehouse",
)


class SaleBook:
    """Records orders as sales: one per reference, whatever the retries."""

    def __init__(self, rpc: TrytonRPC, shipping_product: str | None, channel: str) -> None:
        self.rpc = rpc
        self.shipping_product = shipping_product
        self.channel = channel
        self._currencies: dict[str, int] = {}
        self._sale_defaults: dict[str, Any] | None = None  # read once

    async def record(self, document: SalesDocument) -> DocumentReceipt:
        """Create, quote and confirm the sale for ``document`` unless its reference is
        there already; finish an earlier attempt's quote and confirm; book an edited order's
        lines again, or cancel the sale when the order is cancelled, while Tryton still
        allows it, else say why not."""
        order = document.order
        existing = await self._find(document.reference)
        if existing is None:
            if order.is_cancelled:
                # Cancelled before it was ever recorded: there is nothing to book.
                return DocumentReceipt(reference=document.reference, external_id="", created=False)
            sale_id = await self._create(document)
            await self._advance(sale_id, "draft")
            await self._check_taxes(sale_id, document)
            return DocumentReceipt(
                reference=document.reference, external_id=str(sale_id), created=True
            )
        sale_id, state = existing["id"], existing["state"]
        if order.is_cancelled:
            await self._cancel(existing)
        else:
            if await self._rebook(existing, document):
                state = "draft"
            await self._advance(sale_id, state)
            if state in ("draft", "quotation"):  # an earlier attempt stopped before its check
                await self._check_taxes(sale_id, document)
        return DocumentReceipt(
            reference=document.reference, external_id=str(sale_id), created=False
        )

    async def _find(self, reference: str) -> dict[str, Any] | None:
        found = await self.rpc.call(
            "model.sale.sale.search_read",
            [("reference", "=", reference)],
            0,
            1,
            None,
            ["state", "number"],
        )
        return found[0] if found else None

    async def _advance(self, sale_id: int, state: str) -> None:
        """Quote, then confirm, as far as the sale has not gone yet."""
        if state == "draft":
            await self.rpc.call("model.sale.sale.quote", [sale_id])
            state = "quotation"
        if state == "quotation":
            await self.rpc.call("model.sale.sale.confirm", [sale_id])

    async def _cancel(self, sale: dict[str, Any]) -> None:
        state = sale["state"]
        if state == "cancelled":
            return
        if state not in _UNPROCESSED:
            raise PermanentError(
                f"the order is cancelled but Tryton sale {sale['number']} is already {state}: "
                "Tryton cancels only sales not yet processed",
                channel=self.channel,
                hint="cancel its shipment and invoice in Tryton, or take the goods back as a "
                "return; set sale_process_after in Tryton's sale configuration to leave "
                "time for cancellations",
            )
        if state == "confirmed":
            await self.rpc.call("model.sale.sale.draft", [sale["id"]])
        await self.rpc.call("model.sale.sale.cancel", [sale["id"]])

    async def _rebook(self, sale: dict[str, Any], document: SalesDocument) -> bool:
        """Replace the sale's lines by the order's when they differ (the order was edited
        on its channel), back in draft; False when they agree. One Tryton has processed is
        reported instead."""
        order = document.order
        booked = await self.rpc.call(
            "model.sale.line.search_read",
            [("sale", "=", sale["id"]), ("type", "=", "line")],
            0,
            None,
            None,
            ["product.code", "quantity", "unit_price"],
        )
        # By product code: a product Tryton has retired since is still the same line.
        as_booked = Counter(
            ((row["product."] or {}).get("code"), row["quantity"], row["unit_price"])
            for row in booked
        )
        as_ordered = Counter(
            (code, float(units), price) for code, units, price, _ in self._priced(order)
        )
        if as_booked == as_ordered:
            return False
        state = sale["state"]
        if state not in _UNPROCESSED:
            raise PermanentError(
                f"the order changed on its channel after Tryton sale {sale['number']} was "
                f"booked, and the sale is {state}: Tryton edits only sales not yet processed",
                channel=self.channel,
                hint="book the change in Tryton by hand (a return for what was taken off, a "
                "sale for what was added); set sale_process_after in Tryton's sale "
                "configuration to leave time for edits",
            )
        # The new lines first: one Tryton cannot book (a SKU it has no product for) leaves
        # the sale as it was, not back in draft.
        [values] = await self.rpc.call("model.sale.sale.read", [sale["id"]], list(_TAX_CONTEXT))
        values.pop("id", None)
        lines = await self._lines(order, values)
        if state != "draft":
            await self.rpc.call("model.sale.sale.draft", [sale["id"]])
        replaced = [["delete", [row["id"] for row in booked]], ["create", lines]]
        await self.rpc.call("model.sale.sale.write", [sale["id"]], {"lines": replaced})
        log.info(
            "Tryton sale %s of %s booked again: the order changed on its channel",
            sale["number"],
            document.reference,
        )
        return True

    # Creating ---------------------------------------------------------------------------

    async def _create(self, document: SalesDocument) -> int:
        order = document.order
        fallback = order.customer.name if order.customer else ""
        party = await self.party(order.customer, fallback_name=fallback or document.reference)
        shipping_to = order.shipping_address
        if shipping_to is None and order.customer is not None:
            shipping_to = order.customer.address
        billing_to = order.billing_address or shipping_to
        ship_address = await self._address(party, shipping_to)
        bill_address = (
            ship_address if billing_to == shipping_to else await self._address(party, billing_to)
        )
        terms = await self.rpc.call("model.account.invoice.payment_term.search", [], 0, 1, None)
        values: dict[str, Any] = {
            "party": party,
            "company": self.rpc._context.get("company"),
            "currency": await self._currency(order.currency),
            "sale_date": order.created_at.date(),
            "invoice_address": bill_address,
            "shipment_address": ship_address,
            # Tax rules by country read the warehouse the goods leave from.
            "warehouse": await self._default_warehouse(),
        }
        lines = await self._lines(order, values)
        values |= {
            "reference": document.reference,
            "description": f"{order.channel} order {order.number or order.external_id}",
            "payment_term": terms[0] if terms else None,
            "lines": [["create", lines]],
        }
        [sale_id] = await self.rpc.call("model.sale.sale.create", [values])
        return int(sale_id)

    async def _check_taxes(self, sale_id: int, document: SalesDocument) -> None:
        """Warn when Tryton's taxes on the sale are not those the channel charged on what
        the sale books (within a minor unit a sale line: each side rounds its own lines).
        Once quoted, so that the sale has its number."""
        [sale] = await self.rpc.call(
            "model.sale.sale.read", [sale_id], ["tax_amount", "number", "lines"]
        )
        booked_shipping = self._shipping_code(document.order) is not None
        charged = _charged_taxes(document.order, booked_shipping)
        difference = Decimal(sale["tax_amount"]) - charged.amount
        if abs(difference) > Decimal(1).scaleb(-charged.exponent) * len(sale["lines"]):
            log.warning(
                "Tryton sale %s of %s books %s %s of tax, the channel charged %s: check the "
                "customer taxes of its products' accounting categories in Tryton, and the "
                "customer tax rule of its party",
                sale["number"] or f"id {sale_id}",
                document.reference,
                sale["tax_amount"],
                charged.currency,
                charged,
            )

    def _shipping_code(self, order: Order) -> str | None:
        """The code of the product that books the order's shipping, if it is booked."""
        if self.shipping_product and order.shipping_total.amount:
            return self.shipping_product
        return None

    async def _products(self, order: Order) -> dict[str | None, dict[str, Any]]:
        """The Tryton products ``order``'s sale lines book, by code (its SKUs, and the
        shipping product when shipping is booked); ``None`` for lines without a SKU."""
        skus = sorted({line.sku for line in order.lines if line.sku})
        shipping_code = self._shipping_code(order)
        if shipping_code is not None:
            skus.append(shipping_code)
        products = await self.rpc.call(
            "model.product.product.search_read",
            [("code", "in", skus)],
            0,
            None,
            None,
            ["code", "sale_uom"],
        )
        by_code: dict[str | None, dict[str, Any]] = {row["code"]: row for row in products}
        missing = [sku for sku in skus if sku not in by_code]
        if missing:
            raise UnknownSKUError(
                f"Tryton has no product with code {', '.join(missing)}",
                sku=missing[0],
                hint="create the product in Tryton (its code is the SKU), then retry",
            )
        if any(line.sku is None for line in order.lines):
            # A line that is not stock (a tip, a custom item, a fee) is booked without a
            # product, as Tryton's client allows: its revenue account and taxes are the
            # account configuration's defaults (trytond_sale SaleLine.get_invoice_line).
            by_code[None] = {"id": None, "sale_uom": None}
        return by_code

    def _priced(self, order: Order) -> list[tuple[str | None, int, Decimal, str | None]]:
        """The sale lines of ``order`` as (product code, quantity, unit price, title)."""
        priced: list[tuple[str | None, int, Decimal, str | None]] = []
        for line in order.lines:
            net = line.subtotal - line.discount_total
            if order.taxes_included:
                net -= line.tax_total
            for quantity, price in _exact_prices(net, line.quantity):
                priced.append((line.sku, quantity, price, line.title))
        shipping_code = self._shipping_code(order)
        if shipping_code is not None:
            net = order.shipping_total
            if order.taxes_included:
                net -= _shipping_taxes(order)
            priced.append((shipping_code, 1, net.amount, "Shipping"))
        return priced

    async def _lines(self, order: Order, sale: dict[str, Any]) -> list[dict[str, Any]]:
        """The sale lines of ``order``, to be created on a sale of the values ``sale``."""
        products = await self._products(order)
        codes = list(products)
        taxes = await asyncio.gather(*(self._taxes(products[code], sale) for code in codes))
        taxed = dict(zip(codes, taxes, strict=True))
        return [
            _line(products[code], taxed[code], quantity, price, title)
            for code, quantity, price, title in self._priced(order)
        ]

    async def _taxes(self, product: dict[str, Any], sale: dict[str, Any]) -> list[int]:
        """The taxes Tryton's client would give a line of ``product`` (or of no product) on
        the sale: what ``sale.line``'s ``on_change_product`` answers for a new line of a sale
        not yet saved, whose values are ``sale``."""
        line = {"type": "line", "product": product["id"], "unit": product["sale_uom"]}
        line |= {"quantity": 1.0, "taxes": [], "sale": -1}
        line |= {f"_parent_sale.{name}": value for name, value in sale.items()}
        line["_parent_sale.invoice_party"] = None  # the sale's party is invoiced
        changes = await self.rpc.call("model.sale.line.on_change_product", line)
        return _added(changes.get("taxes"), self.channel)

    async def _default_warehouse(self) -> int | None:
        """The warehouse Tryton gives a new sale (trytond_sale ``Sale.default_warehouse``)."""
        if self._sale_defaults is None:
            self._sale_defaults = await self.rpc.call(
                "model.sale.sale.default_get", ["warehouse"], False
            )
        warehouse = self._sale_defaults.get("warehouse")
        return int(warehouse) if warehouse is not None else None

    async def _currency(self, code: str) -> int:
        if code not in self._currencies:
            found = await self.rpc.call(
                "model.currency.currency.search", [("code", "=", code)], 0, 1, None
            )
            if not found:
                raise PermanentError(
                    f"Tryton has no currency {code}",
                    channel=self.channel,
                    hint=f"add {code} (with a rate) to Tryton's currencies",
                )
            self._currencies[code] = int(found[0])
        return self._currencies[code]

    # Parties ----------------------------------------------------------------------------

    async def party(self, customer: Customer | None, *, fallback_name: str) -> int:
        """The party with the customer's e-mail address, or a new one."""
        if customer is not None and customer.email:
            found = await self.rpc.call(
                "model.party.contact_mechanism.search_read",
                [("type", "=", "email"), ("value", "=", customer.email)],
                0,
                1,
                None,
                ["party"],
            )
            if found:
                return int(found[0]["party"])
        values: dict[str, Any] = {"name": (customer and customer.name) or fallback_name}
        contacts = []
        if customer is not None and customer.email:
            contacts.append({"type": "email", "value": customer.email})
        if customer is not None and customer.phone:
            contacts.append({"type": "phone", "value": customer.phone})
        if contacts:
            values["contact_mechanisms"] = [["create", contacts]]
        [party] = await self.rpc.call("model.party.party.create", [values])
        return int(party)

    async def _address(self, party: int, address: Address | None) -> int:
        """The party's address matching ``address`` (street, postal code, city), created if
        it has none such; any address of the party when the order gives none."""
        fields = ["street", "postal_code", "city"]
        existing = await self.rpc.call(
            "model.party.address.search_read", [("party", "=", party)], 0, None, None, fields
        )
        wanted = _address_values(address) if address is not None else None
        for row in existing:
            if wanted is None or all((row.get(f) or "") == wanted.get(f, "") for f in fields):
                return int(row["id"])
        [created] = await self.rpc.call(
            "model.party.address.create", [{"party": party, **(wanted or {})}]
        )
        return int(created)


def _address_values(address: Address) -> dict[str, Any]:
    street = "\n".join(part for part in (address.line1, address.line2) if part)
    values: dict[str, Any] = {"street": street, "city": address.city or ""}
    values["postal_code"] = address.postal_code or ""
    if address.name:
        values["party_name"] = address.name
    return values


def _line(
    product: dict[str, Any], taxes: list[int], quantity: int, price: Decimal, title: str | None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "type": "line",
        "product": product["id"],
        "quantity": float(quantity),
        "unit": product["sale_uom"],
        "unit_price": price,
    }
    if taxes:
        values["taxes"] = [["add", taxes]]
    if title or product["id"] is None:  # a line of no product says what it was
        values["description"] = title or "item without a SKU"
    return values


def _added(changes: Any, channel: str) -> list[int]:
    """The ids of a Many2Many's records in an on_change answer for a new record: ``{"add":
    [[index, {"id": 7, ...}], ...]}`` (trytond ``ModelView._changed_values``), or nothing
    when there are none."""
    if changes is None:
        return []
    if isinstance(changes, dict) and not changes.get("remove"):
        try:
            return [int(record["id"]) for _, record in changes.get("add", [])]
        except (TypeError, KeyError, ValueError):
            pass
    raise PermanentError(
        f"Tryton answered the taxes of a new sale line as {changes!r}, a form omnisync does "
        "not read",
        channel=channel,
        hint="report it with your Tryton version: omnisync is written against Tryton 8.2",
    )


def _shipping_taxes(order: Order) -> Money:
    return Money.total(
        (tax.amount for shipping in order.shipping_lines for tax in shipping.taxes),
        order.currency,
    )


def _charged_taxes(order: Order, shipping: bool) -> Money:
    """The taxes the channel charged on what the sale books: its lines, and shipping when
    it is booked."""
    lines = Money.total((line.tax_total for line in order.lines), order.currency)
    return lines + _shipping_taxes(order) if shipping else lines


def _exact_prices(net: Money, quantity: int) -> list[tuple[int, Decimal]]:
    """``quantity`` units at unit prices in whole minor units that add up to ``net`` exactly:
    one price for all when it divides evenly, else the last unit takes the remainder."""
    if quantity <= 0:
        return []
    step = Decimal(1).scaleb(-net.exponent)
    unit = (net.amount / quantity).quantize(step, rounding="ROUND_DOWN")
    remainder = net.amount - unit * quantity
    if not remainder:
        return [(quantity, unit)]
    if quantity == 1:
        return [(1, net.amount)]
    return [(quantity - 1, unit), (1, unit + remainder)]
