"""What the merchant does to orders: cancel, refund, touch; and the REST refunds, restocks
and status changes that follow."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from omnisync_shopify._sim._orders import OrdersMixin
from omnisync_shopify._sim._values import LOCATION_ID, Record, as_rest, cents, gid, legacy_id

__all__ = ["RESTOCK_TYPES", "MerchantMixin"]

RESTOCK_TYPES = ("return", "cancel", "no_restock")


class MerchantMixin(OrdersMixin):
    """Cancellations, refunds and edits of orders, and the statuses they move."""

    def _order_record(self, order_id: str | int) -> Record:
        try:
            order: Record = self.orders[legacy_id(order_id)]
        except (KeyError, ValueError):
            raise KeyError(f"no order {order_id}") from None
        return order

    @staticmethod
    def _order_line(order: Record, line_id: int) -> Record:
        lines: list[Record] = order["line_items"]
        for line in lines:
            if line["id"] == line_id:
                return line
        raise KeyError(f"order {order['id']} has no line {line_id}")

    def cancel(self, order_id: str | int) -> dict[str, Any]:
        """The customer cancels: unfulfilled units are refunded (with shipping, when nothing
        was shipped) and restocked, the fulfillment order closes, the order is closed.
        Delivers orders/cancelled, refunds/create and orders/updated."""
        with self.lock:
            order = self._order_record(order_id)
            if order["cancelled_at"] is not None:
                raise ValueError(f"order {order['id']} is already cancelled")
            if order["fulfillment_status"] == "fulfilled":
                raise ValueError(f"order {order['id']} is fulfilled and cannot be cancelled")
            now = self.stamp()
            order["cancelled_at"], order["cancel_reason"] = now, "customer"
            parts = [(ln, ln["fulfillable_quantity"]) for ln in order["line_items"]]
            shipped = any(self._fulfilled(order, line["id"]) for line in order["line_items"])
            parts = [(line, units) for line, units in parts if units]
            refund = self._record_refund(
                order, parts, "cancel", now, shipping=not shipped, note="Order canceled"
            )
            for fulfillment_order in order["_fulfillment_orders"]:
                fulfillment_order.update(status="closed", updated_at=now)
            self._refresh(order, now)
            self._webhook("orders/cancelled", order, now)
            self._webhook("refunds/create", refund, now)
            self._webhook("orders/updated", order, now)
            return dict(as_rest(order))

    def refund(
        self,
        order_id: str | int,
        line_id: str | int,
        quantity: int,
        *,
        restock_type: str = "return",
    ) -> dict[str, Any]:
        """The merchant refunds ``quantity`` units of a line: ``return`` (shipped units come
        back to stock), ``cancel`` (unshipped units are removed and restocked) or
        ``no_restock``. Delivers refunds/create and orders/updated; returns the REST Refund."""
        with self.lock:
            order = self._order_record(order_id)
            line = self._order_line(order, legacy_id(line_id))
            self._check_refund(order, line, quantity, restock_type)
            now = self.stamp()
            refund = self._record_refund(order, [(line, quantity)], restock_type, now)
            self._refresh(order, now)
            self._webhook("refunds/create", refund, now)
            self._webhook("orders/updated", order, now)
            return dict(as_rest(refund))

    def _check_refund(self, order: Record, line: Record, quantity: int, restock: str) -> None:
        shipped = line["current_quantity"] - line["fulfillable_quantity"]
        limits = {
            "return": shipped,
            "cancel": line["fulfillable_quantity"],
            "no_restock": line["current_quantity"],
        }
        if restock not in limits:
            raise ValueError(f"restock_type must be one of {', '.join(RESTOCK_TYPES)}")
        if not 0 < quantity <= limits[restock]:
            raise ValueError(
                f"line {line['id']} of order {order['id']} has {limits[restock]} units "
                f"that can be refunded with restock_type {restock}"
            )

    def touch_order(self, order_id: str | int) -> None:
        """The merchant edits the order's note, so its ``updatedAt`` moves; delivers
        orders/updated."""
        with self.lock:
            order = self._order_record(order_id)
            now = self.stamp()
            order["note"] = f"Edited by the merchant at {now}"
            order["updated_at"] = now
            self._webhook("orders/updated", order, now)

    def _fulfilled(self, order: Record, line_id: int) -> int:
        return sum(
            item["quantity"]
            for fulfillment in order["fulfillments"]
            for item in fulfillment["line_items"]
            if item["id"] == line_id
        )

    def _refresh(self, order: Record, now: str) -> None:
        """Bring statuses and totals up to date after a change, and move ``updated_at``.
        Orders close once fulfilled or all refunded (the admin's default auto-archive
        setting), and when cancelled."""
        shipped = False
        for line in order["line_items"]:
            fulfilled = self._fulfilled(order, line["id"])
            shipped = shipped or fulfilled > 0
            status = "fulfilled" if not line["fulfillable_quantity"] else "partial"
            line["fulfillment_status"] = status if fulfilled else None
        open_units = any(line["fulfillable_quantity"] for line in order["line_items"])
        if order["cancelled_at"] is not None and not shipped:
            order["fulfillment_status"] = "restocked"
        elif shipped:
            order["fulfillment_status"] = "partial" if open_units else "fulfilled"
        self._totals(order)
        order["financial_status"] = self._financial_status(order)
        done = (
            order["cancelled_at"] is not None
            or order["fulfillment_status"] == "fulfilled"
            or not any(line["current_quantity"] for line in order["line_items"])
        )
        if done and order["closed_at"] is None:
            order["closed_at"] = now
        order["updated_at"] = now

    def _financial_status(self, order: Record) -> str:
        refunded = self._refunded(order)
        if not refunded:
            return "paid"
        return "refunded" if refunded >= Decimal(order["total_price"]) else "partially_refunded"

    @staticmethod
    def _refunded(order: Record) -> Decimal:
        return sum(
            (Decimal(t["amount"]) for refund in order["refunds"] for t in refund["transactions"]),
            Decimal(0),
        )

    # Refunds -------------------------------------------------------------------------------

    def _record_refund(
        self,
        order: Record,
        parts: list[tuple[Record, int]],
        restock_type: str,
        now: str,
        *,
        shipping: bool = False,
        note: str | None = None,
    ) -> Record:
        """Add a REST Refund of ``parts`` (line, units) to the order, taking the units
        back; with ``shipping``, the shipping is refunded too."""
        refund_id = self.next_number()
        rows = [self._refund_row(order, line, units, restock_type) for line, units in parts]
        for line, units in parts:
            self._take_back(order, line, units, restock_type, now)
        shipping_rows = self._refund_shipping(order) if shipping else []
        amount = sum(
            (Decimal(row["subtotal_set"]["shop_money"]["amount"]) for row in rows), Decimal(0)
        )
        if not order["taxes_included"]:
            amount += sum((Decimal(str(row["total_tax"])) for row in rows), Decimal(0))
        amount += sum((Decimal(row["_amount"]) for row in shipping_rows), Decimal(0))
        refund = {
            "id": refund_id,
            "admin_graphql_api_id": gid("Refund", refund_id),
            "order_id": order["id"],
            "created_at": now,
            "processed_at": now,
            "note": note,
            "user_id": None,
            "restock": restock_type in ("return", "cancel"),
            "duties": [],
            "additional_fees": [],
            "total_duties_set": self._bag(Decimal(0), order["presentment_currency"]),
            "total_additional_fees_set": self._bag(Decimal(0), order["presentment_currency"]),
            "return": None,
            "refund_line_items": rows,
            "refund_shipping_lines": shipping_rows,
            "order_adjustments": [],
            "transactions": [self._refund_transaction(order, amount, now)],
        }
        order["refunds"].append(refund)
        return refund

    def _refund_row(self, order: Record, line: Record, units: int, restock_type: str) -> Record:
        presentment = order["presentment_currency"]
        quantity = line["quantity"]
        unit = (Decimal(line["price"]) * quantity - self._line_discount(line)) / quantity
        subtotal = cents(unit * units)
        tax = cents(self._line_tax(line) * units / line["quantity"])
        return {
            "id": self.next_number(),
            "line_item_id": line["id"],
            "location_id": LOCATION_ID if restock_type in ("return", "cancel") else None,
            "quantity": units,
            "restock_type": restock_type,
            "subtotal": float(subtotal),
            "subtotal_set": self._bag(subtotal, presentment),
            "total_tax": float(tax),
            "total_tax_set": self._bag(tax, presentment),
            "line_item": copy.deepcopy(line),
        }

    def _refund_shipping(self, order: Record) -> list[Record]:
        order["_shipping_refunded"] = True
        rows = []
        for shipping_line in order["shipping_lines"]:
            price = Decimal(shipping_line["price"])
            tax = sum((Decimal(t["price"]) for t in shipping_line["tax_lines"]), Decimal(0))
            amount = price + (0 if order["taxes_included"] else tax)
            rows.append(
                {
                    "id": self.next_number(),
                    "shipping_line_id": shipping_line["id"],
                    "subtotal_amount_set": self._bag(price, order["presentment_currency"]),
                    "shipping_line": copy.deepcopy(shipping_line),
                    "_amount": str(amount),
                }
            )
        return rows

    def _refund_transaction(self, order: Record, amount: Decimal, now: str) -> Record:
        transaction_id = self.next_number()
        return {
            "id": transaction_id,
            "admin_graphql_api_id": gid("OrderTransaction", transaction_id),
            "order_id": order["id"],
            "kind": "refund",
            "gateway": "bogus",
            "status": "success",
            "message": None,
            "created_at": now,
            "processed_at": now,
            "test": False,
            "authorization": None,
            "location_id": None,
            "user_id": None,
            "parent_id": order["_sale_transaction_id"],
            "device_id": None,
            "error_code": None,
            "source_name": "web",
            "receipt": {},
            "amount": str(cents(amount)),
            "currency": self.currency,
        }

    def _take_back(self, order: Record, line: Record, units: int, restock: str, now: str) -> None:
        """Remove refunded units from a line: unshipped ones first (unless they are a
        return), releasing what they committed; ``return`` and ``cancel`` restock."""
        unshipped = 0 if restock == "return" else min(units, line["fulfillable_quantity"])
        line["current_quantity"] -= units
        line["fulfillable_quantity"] -= unshipped
        for fulfillment_order in order["_fulfillment_orders"]:
            for fo_line in fulfillment_order["line_items"]:
                if fo_line["line_item_id"] == line["id"]:
                    fo_line["fulfillable_quantity"] -= unshipped
            self._settle(fulfillment_order, now)
        stock = self._stock(line["variant_id"])
        if stock is None:
            return
        item, level = stock
        level["committed"] -= unshipped
        if restock in ("return", "cancel"):
            level["available"] += units
            self._level_changed(item, level, now)

    @staticmethod
    def _settle(fulfillment_order: Record, now: str) -> None:
        """A fulfillment order with nothing left to ship closes; one started is in progress."""
        if fulfillment_order["status"] in ("closed", "cancelled"):
            return
        lines = fulfillment_order["line_items"]
        if not any(line["fulfillable_quantity"] for line in lines):
            fulfillment_order["status"] = "closed"
        elif any(line["fulfillable_quantity"] < line["quantity"] for line in lines):
            fulfillment_order["status"] = "in_progress"
        fulfillment_order["updated_at"] = now
