"""Orders as shoppers place them: REST order records with their lines, money bags, taxes,
discounts, shipping and totals; checkout commits stock."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from omnisync.sim import SoldOut
from omnisync_shopify._sim._catalogue import CatalogueMixin, level_quantity
from omnisync_shopify._sim._values import LOCATION_ID, Record, as_rest, cents, gid

__all__ = [
    "DISCOUNT_PERCENT",
    "RATES",
    "RISK_LEVELS",
    "SHIPPING_PRICE",
    "TAX_RATE",
    "TAX_TITLE",
    "OrdersMixin",
]

TAX_RATE = Decimal("0.19")
TAX_TITLE = "DE MwSt."
DISCOUNT_PERCENT = Decimal(10)  # every discount code takes 10 % off every line
SHIPPING_PRICE = Decimal("4.90")
# Exchange rates against EUR, for orders a shopper pays in another currency.
RATES = {
    "EUR": Decimal(1),
    "USD": Decimal("1.08"),
    "GBP": Decimal("0.85"),
    "CHF": Decimal("0.95"),
    "CAD": Decimal("1.47"),
    "SEK": Decimal("11.4"),
    "NOK": Decimal("11.6"),
    "DKK": Decimal("7.46"),
    "PLN": Decimal("4.3"),
}
RISK_LEVELS = ("HIGH", "MEDIUM", "LOW", "NONE", "PENDING")
_SHOPPERS = [
    ("Zoë", "Ångström"),
    ("José", "Müller"),
    ("Aiko", "Tanaka"),
    ("Chidi", "Okafor"),
    ("Łukasz", "Wójcik"),
]
_PLACES = [
    ("Berlin", "10115", "DE", "Germany"),
    ("Lyon", "69001", "FR", "France"),
    ("Kraków", "30-001", "PL", "Poland"),
    ("Dublin", "D02 X285", "IE", "Ireland"),
    ("Malmö", "211 19", "SE", "Sweden"),
]


class OrdersMixin(CatalogueMixin):
    """Shoppers' checkouts, and the REST order records they make."""

    # Money ---------------------------------------------------------------------------------

    def _bag(self, amount: Decimal, presentment: str) -> Record:
        """A REST money bag: shop money and the shopper's currency at the simulator's rate."""
        rate = RATES[presentment] / RATES[self.currency]
        return {
            "shop_money": {"amount": str(cents(amount)), "currency_code": self.currency},
            "presentment_money": {
                "amount": str(cents(amount * rate)),
                "currency_code": presentment,
            },
        }

    def _tax(self, amount: Decimal) -> Decimal:
        """The VAT in (taxes included) or on (excluded) an amount."""
        if self.taxes_included:
            return cents(amount * TAX_RATE / (1 + TAX_RATE))
        return cents(amount * TAX_RATE)

    def _tax_line(self, tax: Decimal, presentment: str) -> Record:
        return {
            "channel_liable": False,
            "price": str(tax),
            "price_set": self._bag(tax, presentment),
            "rate": float(TAX_RATE),
            "title": TAX_TITLE,
        }

    def _set(self, order: Record, name: str, amount: Decimal, *, scalar: bool = True) -> None:
        """Write a REST money field and its ``_set`` bag."""
        if scalar:
            order[name] = str(cents(amount))
        order[f"{name}_set"] = self._bag(amount, order["presentment_currency"])

    # Shoppers ------------------------------------------------------------------------------

    def buy(
        self,
        items: Mapping[str, int],
        *,
        currency: str | None = None,
        discount_code: str | None = None,
        risk: str = "LOW",
    ) -> dict[str, Any]:
        """A shopper checks out ``items`` (SKU → quantity) and pays; `SoldOut` if the
        location has less available. Stock is committed as Shopify does at checkout, an
        orders/create webhook is delivered, and the REST order is returned. ``currency`` is
        what the shopper pays in (presentment currency); a ``discount_code`` takes 10 % off
        every line; ``risk`` is Shopify's risk assessment of the order (`RISK_LEVELS`)."""
        with self.lock:
            presentment = currency or self.currency
            if presentment not in RATES:
                raise ValueError(f"the simulator has no exchange rate for {presentment}")
            if risk not in RISK_LEVELS:
                raise ValueError(f"risk must be one of {', '.join(RISK_LEVELS)}")
            chosen = self._check_stock(items)
            now = self.stamp()
            order = self._new_order(presentment, now, risk)
            order["line_items"] = [
                self._new_line(order, variant, quantity, discount_code is not None)
                for variant, quantity in chosen
            ]
            self._add_discount(order, discount_code)
            order["_fulfillment_orders"] = [self._new_fulfillment_order(order, now)]
            self._totals(order)
            self.orders[order["id"]] = order
            self._webhook("orders/create", order, now)
            for variant, quantity in chosen:
                self._commit(variant["id"], quantity, now)
            return dict(as_rest(order))

    def _check_stock(self, items: Mapping[str, int]) -> list[tuple[Record, int]]:
        chosen = []
        for sku, quantity in items.items():
            try:
                variant = self._variant(sku)
            except KeyError:
                raise SoldOut(f"{self.name}: no product has SKU {sku}") from None
            stock = self._stock(variant["id"])
            available = level_quantity(stock[1], "available") if stock else 0
            if available < quantity:
                raise SoldOut(f"{self.name}: {sku} has {available} available")
            chosen.append((variant, quantity))
        return chosen

    def _commit(self, variant_id: int, quantity: int, now: str) -> None:
        """Checkout moves units from available to committed (on hand is unchanged)."""
        stock = self._stock(variant_id)
        assert stock is not None
        item, level = stock
        level["available"] -= quantity
        level["committed"] += quantity
        self._level_changed(item, level, now)

    def _new_order(self, presentment: str, now: str, risk: str) -> Record:
        order_id = self.next_number()
        self._order_number += 1
        first, last = self.rng.choice(_SHOPPERS)
        email = f"{first.lower()}.{self._order_number}@example.com"
        customer = self._customer(first, last, email, now)
        address = self._address(first, last)
        return {
            "id": order_id,
            "admin_graphql_api_id": gid("Order", order_id),
            "name": f"#{self._order_number}",
            "number": self._order_number - 1000,
            "order_number": self._order_number,
            "email": email,
            "contact_email": email,
            "phone": None,
            "created_at": now,
            "updated_at": now,
            "processed_at": now,
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "confirmed": True,
            "currency": self.currency,
            "presentment_currency": presentment,
            "financial_status": "paid",
            "fulfillment_status": None,
            "taxes_included": self.taxes_included,
            "tax_exempt": False,
            "test": False,
            "tags": "",
            "note": None,
            "note_attributes": [],
            "source_name": "web",
            "source_identifier": None,
            "payment_gateway_names": ["bogus"],
            "payment_terms": None,
            "buyer_accepts_marketing": False,
            "confirmation_number": f"SIM{order_id % 10**9:09d}",
            "customer_locale": "de",
            "duties_included": False,
            "estimated_taxes": False,
            "location_id": None,
            "po_number": None,
            "total_tip_received": "0.00",
            "total_weight": 0,
            "user_id": None,
            "app_id": None,
            "discount_codes": [],
            "discount_applications": [],
            "customer": customer,
            "billing_address": address,
            "shipping_address": {**address, "_id": self.next_number()},
            "line_items": [],
            "shipping_lines": [self._shipping_line(presentment)],
            "fulfillments": [],
            "refunds": [],
            "_risk_level": risk,
            "_sale_transaction_id": self.next_number(),
            "_shipping_refunded": False,
        }

    def _customer(self, first: str, last: str, email: str, now: str) -> Record:
        customer_id = self.next_number()
        return {
            "id": customer_id,
            "admin_graphql_api_id": gid("Customer", customer_id),
            "email": email,
            "first_name": first,
            "last_name": last,
            "phone": None,
            "state": "disabled",
            "note": None,
            "verified_email": True,
            "tax_exempt": False,
            "tax_exemptions": [],
            "tags": "",
            "currency": self.currency,
            "email_marketing_consent": {
                "state": "not_subscribed",
                "opt_in_level": "single_opt_in",
                "consent_updated_at": None,
            },
            "created_at": now,
            "updated_at": now,
        }

    def _address(self, first: str, last: str) -> Record:
        city, postal, country_code, country = self.rng.choice(_PLACES)
        return {
            "_id": self.next_number(),
            "first_name": first,
            "last_name": last,
            "name": f"{first} {last}",
            "company": None,
            "address1": f"{self.rng.randrange(1, 200)} Hauptstraße",
            "address2": "",
            "city": city,
            "province": None,
            "province_code": None,
            "zip": postal,
            "country": country,
            "country_code": country_code,
            "phone": None,
            "latitude": None,
            "longitude": None,
        }

    def _new_line(self, order: Record, variant: Record, quantity: int, discounted: bool) -> Record:
        presentment = order["presentment_currency"]
        product = self.products[variant["product_id"]]
        price = Decimal(variant["price"])
        gross = price * quantity
        discount = cents(gross * DISCOUNT_PERCENT / 100) if discounted else Decimal(0)
        allocations = (
            [
                {
                    "amount": str(discount),
                    "amount_set": self._bag(discount, presentment),
                    "discount_application_index": 0,
                }
            ]
            if discounted
            else []
        )
        line_id = self.next_number()
        return {
            "id": line_id,
            "admin_graphql_api_id": gid("LineItem", line_id),
            "variant_id": variant["id"],
            "product_id": product["id"],
            "sku": variant["sku"],
            "title": product["title"],
            "variant_title": None,
            "name": product["title"],
            "vendor": None,
            "quantity": quantity,
            "current_quantity": quantity,
            "fulfillable_quantity": quantity,
            "fulfillment_status": None,
            "fulfillment_service": "manual",
            "price": str(cents(price)),
            "price_set": self._bag(price, presentment),
            "total_discount": "0.00",
            "total_discount_set": self._bag(Decimal(0), presentment),
            "discount_allocations": allocations,
            "tax_lines": [self._tax_line(self._tax(gross - discount), presentment)],
            "duties": [],
            "properties": [],
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "grams": 0,
            "product_exists": True,
            "variant_inventory_management": "shopify",
            "attributed_staffs": [],
        }

    def _shipping_line(self, presentment: str) -> Record:
        line_id = self.next_number()
        price_set = self._bag(SHIPPING_PRICE, presentment)
        return {
            "id": line_id,
            "title": "Standard",
            "code": "Standard",
            "source": "shopify",
            "carrier_identifier": None,
            "phone": None,
            "requested_fulfillment_service_id": None,
            "is_removed": False,
            "price": str(SHIPPING_PRICE),
            "price_set": price_set,
            "discounted_price": str(SHIPPING_PRICE),
            "discounted_price_set": price_set,
            "current_discounted_price_set": price_set,
            "tax_lines": [self._tax_line(self._tax(SHIPPING_PRICE), presentment)],
            "discount_allocations": [],
        }

    def _add_discount(self, order: Record, code: str | None) -> None:
        if code is None:
            return
        total = sum(
            (
                Decimal(a["amount"])
                for line in order["line_items"]
                for a in line["discount_allocations"]
            ),
            Decimal(0),
        )
        order["discount_codes"] = [{"code": code, "amount": str(total), "type": "percentage"}]
        order["discount_applications"] = [
            {
                "target_type": "line_item",
                "type": "discount_code",
                "value": str(DISCOUNT_PERCENT.quantize(Decimal("0.1"))),
                "value_type": "percentage",
                "allocation_method": "across",
                "target_selection": "all",
                "code": code,
            }
        ]

    def _new_fulfillment_order(self, order: Record, now: str) -> Record:
        """One fulfillment order per order, at the one location (REST FulfillmentOrder)."""
        fo_id = self.next_number()
        return {
            "id": fo_id,
            "order_id": order["id"],
            "assigned_location_id": LOCATION_ID,
            "status": "open",
            "request_status": "unsubmitted",
            "created_at": now,
            "updated_at": now,
            "line_items": [
                {
                    "id": self.next_number(),
                    "fulfillment_order_id": fo_id,
                    "line_item_id": line["id"],
                    "variant_id": line["variant_id"],
                    "inventory_item_id": self.variants[line["variant_id"]]["inventory_item_id"],
                    "quantity": line["quantity"],
                    "fulfillable_quantity": line["quantity"],
                }
                for line in order["line_items"]
            ],
        }

    def _totals(self, order: Record) -> None:
        """Recompute an order's totals from its lines (REST Order field definitions):
        subtotal after discounts; total adds shipping, and tax unless prices include it;
        ``current_*`` leave out refunded and removed units."""
        included = order["taxes_included"]
        lines = order["line_items"]
        shipping = sum((Decimal(s["price"]) for s in order["shipping_lines"]), Decimal(0))
        shipping_tax = sum(
            (Decimal(t["price"]) for s in order["shipping_lines"] for t in s["tax_lines"]),
            Decimal(0),
        )
        gross = sum((Decimal(line["price"]) * line["quantity"] for line in lines), Decimal(0))
        discounts = sum((self._line_discount(line) for line in lines), Decimal(0))
        tax = sum((self._line_tax(line) for line in lines), Decimal(0)) + shipping_tax
        self._set(order, "total_line_items_price", gross)
        self._set(order, "total_discounts", discounts)
        self._set(order, "subtotal_price", gross - discounts)
        self._set(order, "total_tax", tax)
        self._set(order, "total_shipping_price", shipping, scalar=False)
        self._set(order, "total_price", gross - discounts + shipping + (0 if included else tax))
        self._current_totals(order, shipping, shipping_tax)
        order["tax_lines"] = [self._tax_line(tax, order["presentment_currency"])]

    def _current_totals(self, order: Record, shipping: Decimal, shipping_tax: Decimal) -> None:
        lines = order["line_items"]
        if order["_shipping_refunded"]:
            shipping = shipping_tax = Decimal(0)

        def share(amount: Decimal, line: Record) -> Decimal:
            return cents(amount * line["current_quantity"] / line["quantity"])

        gross = sum((Decimal(ln["price"]) * ln["current_quantity"] for ln in lines), Decimal(0))
        discounts = sum((share(self._line_discount(ln), ln) for ln in lines), Decimal(0))
        tax = sum((share(self._line_tax(ln), ln) for ln in lines), Decimal(0)) + shipping_tax
        total = gross - discounts + shipping + (0 if order["taxes_included"] else tax)
        self._set(order, "current_subtotal_price", gross - discounts)
        self._set(order, "current_total_discounts", discounts)
        self._set(order, "current_total_tax", tax)
        self._set(order, "current_total_price", total)
        order["total_outstanding"] = "0.00"

    @staticmethod
    def _line_discount(line: Record) -> Decimal:
        return sum((Decimal(a["amount"]) for a in line["discount_allocations"]), Decimal(0))

    @staticmethod
    def _line_tax(line: Record) -> Decimal:
        return sum((Decimal(t["price"]) for t in line["tax_lines"]), Decimal(0))
