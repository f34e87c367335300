"""The fulfillmentCreate mutation: shipping the units of fulfillment orders."""

from __future__ import annotations

import copy

from graphql import GraphQLResolveInfo

from omnisync_shopify._sim._connections import Context
from omnisync_shopify._sim._order_views import OrderViewsMixin
from omnisync_shopify._sim._values import LOCATION_ID, Record, gid, gid_number

__all__ = ["FulfilmentMixin"]


class FulfilmentMixin(OrderViewsMixin):
    """Shipments: units of fulfillment orders leave the shelf and the order moves on."""

    def _fulfillment_create(
        self, info: GraphQLResolveInfo[Context], fulfillment: Record, message: str | None = None
    ) -> Record:
        """shopify.dev/docs/api/admin-graphql/2026-04/mutations/fulfillmentCreate; the
        message and notifyCustomer are accepted and have no effect here."""
        picks, errors = self._fulfilment_plan(fulfillment["lineItemsByFulfillmentOrder"])
        if errors:
            return {"fulfillment": None, "userErrors": errors}
        order = picks[0][0]
        record = self._fulfil(order, picks, fulfillment.get("trackingInfo") or {})
        return {"fulfillment": self._fulfillment_view(order, record), "userErrors": []}

    def _fulfilment_plan(
        self, groups: list[Record]
    ) -> tuple[list[tuple[Record, Record, Record, int]], list[Record]]:
        """What each fulfillment order line gives: (order, fulfillment order, its line,
        units), or the user errors that stop the fulfillment."""
        picks: list[tuple[Record, Record, Record, int]] = []
        errors: list[Record] = []
        for index, group in enumerate(groups):
            path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
            number = gid_number(group["fulfillmentOrderId"], "FulfillmentOrder")
            found = self._find_fulfillment_order(number) if number is not None else None
            if found is None:
                message = "Fulfillment order does not exist."  # [unconfirmed] wording
                errors.append({"field": [*path, "fulfillmentOrderId"], "message": message})
                continue
            order, fulfillment_order = found
            status = fulfillment_order["status"]
            if status not in ("open", "in_progress"):
                message = f"Fulfillment order {number} has an unfulfillable status= {status}."
                errors.append({"field": ["fulfillment"], "message": message})
                continue
            wanted = group.get("fulfillmentOrderLineItems")
            chosen, problems = _fulfilment_lines(fulfillment_order, wanted, path, picks)
            picks += [(order, fulfillment_order, line, units) for line, units in chosen]
            errors += problems
        if len({pick[0]["id"] for pick in picks}) > 1:
            message = "All fulfillment orders must belong to the same order."  # [unconfirmed]
            errors.append({"field": ["fulfillment"], "message": message})
        if not errors and not picks:
            errors.append({"field": ["fulfillment"], "message": "There is nothing to fulfill."})
        return picks, errors

    def _fulfil(
        self, order: Record, picks: list[tuple[Record, Record, Record, int]], tracking: Record
    ) -> Record:
        """Ship the picked units: remaining quantities fall, committed stock leaves the
        shelf, and a successful Fulfillment is recorded; delivers orders/fulfilled (or
        orders/partially_fulfilled) and orders/updated."""
        now = self.stamp()
        shipped = []
        for _, fulfillment_order, fo_line, units in picks:
            fo_line["fulfillable_quantity"] -= units
            line = self._order_line(order, fo_line["line_item_id"])
            line["fulfillable_quantity"] -= units
            stock = self._stock(line["variant_id"])
            if stock is not None:
                stock[1]["committed"] -= units
            item = {**copy.deepcopy(line), "quantity": units}
            shipped.append({**item, "_fulfillment_line_item_id": self.next_number()})
            self._settle(fulfillment_order, now)
        record = self._fulfillment_record(order, shipped, tracking, now)
        order["fulfillments"].append(record)
        self._refresh(order, now)
        complete = order["fulfillment_status"] == "fulfilled"
        self._webhook("orders/fulfilled" if complete else "orders/partially_fulfilled", order, now)
        self._webhook("orders/updated", order, now)
        return record

    def _fulfillment_record(
        self, order: Record, shipped: list[Record], tracking: Record, now: str
    ) -> Record:
        numbers = tracking.get("numbers") or [n for n in [tracking.get("number")] if n]
        urls = tracking.get("urls") or [u for u in [tracking.get("url")] if u]
        fulfillment_id = self.next_number()
        return {
            "id": fulfillment_id,
            "admin_graphql_api_id": gid("Fulfillment", fulfillment_id),
            "order_id": order["id"],
            "name": f"{order['name']}.{len(order['fulfillments']) + 1}",
            "status": "success",
            "service": "manual",
            "location_id": LOCATION_ID,
            "created_at": now,
            "updated_at": now,
            "shipment_status": None,
            "tracking_company": tracking.get("company"),
            "tracking_number": numbers[0] if numbers else None,
            "tracking_numbers": numbers,
            "tracking_url": urls[0] if urls else None,
            "tracking_urls": urls,
            "origin_address": {},
            "receipt": {},
            "line_items": shipped,
        }


def _fulfilment_lines(
    fulfillment_order: Record,
    wanted: list[Record] | None,
    path: list[str],
    taken: list[tuple[Record, Record, Record, int]],
) -> tuple[list[tuple[Record, int]], list[Record]]:
    """The lines of one fulfillment order to ship: those ``wanted`` (id and quantity), or
    every remaining unit when none are listed ("If left blank, all line items of the
    fulfillment order will be fulfilled", FulfillmentOrderLineItemsInput)."""
    lines = fulfillment_order["line_items"]
    if wanted is None:
        return [
            (line, line["fulfillable_quantity"]) for line in lines if line["fulfillable_quantity"]
        ], []
    used: dict[int, int] = {}
    for _, _, picked, units in taken:
        used[picked["id"]] = used.get(picked["id"], 0) + units
    chosen: list[tuple[Record, int]] = []
    errors: list[Record] = []
    for index, item in enumerate(wanted):
        field = [*path, "fulfillmentOrderLineItems", str(index)]
        number = gid_number(item["id"], "FulfillmentOrderLineItem")
        line: Record | None = next((ln for ln in lines if ln["id"] == number), None)
        if line is None:
            errors.append(
                {"field": [*field, "id"], "message": "Fulfillment order line item does not exist."}
            )
            continue
        left = line["fulfillable_quantity"] - used.get(line["id"], 0)
        if not 0 < item["quantity"] <= left:
            message = "Invalid fulfillment order line item quantity requested."
            errors.append({"field": [*field, "quantity"], "message": message})
            continue
        used[line["id"]] = used.get(line["id"], 0) + item["quantity"]
        chosen.append((line, item["quantity"]))
    return chosen, errors
