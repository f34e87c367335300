"""The GraphQL views of orders, built from their REST records: lines, discounts, shipping,
fulfillment orders, fulfillments and refunds."""

from __future__ import annotations

from decimal import Decimal

from omnisync_shopify._sim._connections import connection, limited
from omnisync_shopify._sim._merchant import MerchantMixin
from omnisync_shopify._sim._values import Record, by_id, by_number, gid

__all__ = ["OrderViewsMixin"]

_DISPLAY_FULFILMENT = {
    None: "UNFULFILLED",
    "partial": "PARTIALLY_FULFILLED",
    "fulfilled": "FULFILLED",
    "restocked": "RESTOCKED",
}
_APPLICATION_TYPES = {
    "discount_code": "DiscountCodeApplication",
    "manual": "ManualDiscountApplication",
    "automatic": "AutomaticDiscountApplication",
}
_RECOMMENDATIONS = {"HIGH": "CANCEL", "MEDIUM": "INVESTIGATE", "LOW": "ACCEPT"}


def _decimal(amount: str) -> str:
    """Shopify's GraphQL Decimal: the fewest decimals, but at least one ("13.5", "0.0")."""
    text = format(Decimal(amount).normalize(), "f")
    return text if "." in text else f"{text}.0"


def _upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def _bag_view(bag: Record) -> Record:
    """A REST money bag as GraphQL's MoneyBag."""

    def money(part: Record) -> Record:
        return {"amount": _decimal(part["amount"]), "currencyCode": part["currency_code"]}

    return {
        "shopMoney": money(bag["shop_money"]),
        "presentmentMoney": money(bag["presentment_money"]),
    }


def _tax_line_view(line: Record) -> Record:
    return {
        "title": line["title"],
        "rate": line["rate"],
        "ratePercentage": round(line["rate"] * 100, 4),
        "priceSet": _bag_view(line["price_set"]),
        "channelLiable": line["channel_liable"],
    }


def _address_view(address: Record | None) -> Record | None:
    if address is None:
        return None
    return {
        "__typename": "MailingAddress",
        "id": gid("MailingAddress", address["_id"]) + "?model_name=Address",
        "name": address["name"],
        "firstName": address["first_name"],
        "lastName": address["last_name"],
        "company": address["company"],
        "address1": address["address1"],
        "address2": address["address2"],
        "city": address["city"],
        "province": address["province"],
        "provinceCode": address["province_code"],
        "zip": address["zip"],
        "country": address["country"],
        "countryCodeV2": address["country_code"],
        "phone": address["phone"],
    }


def _risk_view(level: str) -> Record:
    return {
        "assessments": [{"riskLevel": level}],
        "recommendation": _RECOMMENDATIONS.get(level, "NONE"),
    }


class OrderViewsMixin(MerchantMixin):
    """Orders as GraphQL shows them."""

    def _order_view(self, order: Record) -> Record:
        presentment = order["presentment_currency"]
        return {
            "__typename": "Order",
            "id": order["admin_graphql_api_id"],
            "legacyResourceId": str(order["id"]),
            "name": order["name"],
            "number": order["order_number"],
            "createdAt": order["created_at"],
            "updatedAt": order["updated_at"],
            "processedAt": order["processed_at"],
            "cancelledAt": order["cancelled_at"],
            "cancelReason": _upper(order["cancel_reason"]),
            "closed": order["closed_at"] is not None,
            "closedAt": order["closed_at"],
            "displayFinancialStatus": _upper(order["financial_status"]),
            "displayFulfillmentStatus": _DISPLAY_FULFILMENT[order["fulfillment_status"]],
            "currencyCode": order["currency"],
            "presentmentCurrencyCode": presentment,
            "taxesIncluded": order["taxes_included"],
            "test": order["test"],
            "email": order["email"],
            "phone": order["phone"],
            "note": order["note"],
            "tags": [tag for tag in order["tags"].split(", ") if tag],
            "customer": self._customer_view(order["customer"]),
            "billingAddress": _address_view(order["billing_address"]),
            "shippingAddress": _address_view(order["shipping_address"]),
            "subtotalPriceSet": _bag_view(order["subtotal_price_set"]),
            "totalDiscountsSet": _bag_view(order["total_discounts_set"]),
            "totalShippingPriceSet": _bag_view(order["total_shipping_price_set"]),
            "totalTaxSet": _bag_view(order["total_tax_set"]),
            "totalPriceSet": _bag_view(order["total_price_set"]),
            "currentSubtotalPriceSet": _bag_view(order["current_subtotal_price_set"]),
            "currentTotalTaxSet": _bag_view(order["current_total_tax_set"]),
            "currentTotalPriceSet": _bag_view(order["current_total_price_set"]),
            "totalRefundedSet": _bag_view(self._bag(self._refunded(order), presentment)),
            "taxLines": [_tax_line_view(line) for line in order["tax_lines"]],
            "risk": _risk_view(order["_risk_level"]),
            **self._order_lists(order),
        }

    def _order_lists(self, order: Record) -> Record:
        """An order's connections and lists, built when a query selects them."""
        applications = list(range(len(order["discount_applications"])))
        return {
            "discountApplications": lambda info, **args: connection(
                info,
                args,
                applications,
                by_number,
                lambda i: self._application_view(order, i),
            ),
            "lineItems": lambda info, **args: connection(
                info, args, order["line_items"], by_id, lambda ln: self._line_view(order, ln)
            ),
            "shippingLines": lambda info, **args: connection(
                info, args, order["shipping_lines"], by_id, lambda s: self._shipping_view(order, s)
            ),
            "fulfillmentOrders": lambda info, **args: connection(
                info,
                args,
                order["_fulfillment_orders"],
                by_id,
                lambda fo: self._fulfillment_order_view(order, fo),
            ),
            "fulfillments": lambda info, first=None: [
                self._fulfillment_view(order, f)
                for f in limited(info, order["fulfillments"], first)
            ],
            "refunds": lambda info, first=None: [
                self._refund_view(order, r) for r in limited(info, order["refunds"], first)
            ],
        }

    @staticmethod
    def _customer_view(customer: Record | None) -> Record | None:
        if customer is None:
            return None
        email = customer["email"]
        return {
            "__typename": "Customer",
            "id": customer["admin_graphql_api_id"],
            "legacyResourceId": str(customer["id"]),
            "firstName": customer["first_name"],
            "lastName": customer["last_name"],
            "displayName": f"{customer['first_name']} {customer['last_name']}".strip(),
            "defaultEmailAddress": {"emailAddress": email} if email else None,
            "createdAt": customer["created_at"],
            "updatedAt": customer["updated_at"],
        }

    def _line_view(self, order: Record, line: Record) -> Record:
        presentment = order["presentment_currency"]
        gross = Decimal(line["price"]) * line["quantity"]
        discount = self._line_discount(line)
        return {
            "__typename": "LineItem",
            "id": line["admin_graphql_api_id"],
            "sku": line["sku"],
            "title": line["title"],
            "name": line["name"],
            "variantTitle": line["variant_title"],
            "vendor": line["vendor"],
            "quantity": line["quantity"],
            "currentQuantity": line["current_quantity"],
            "refundableQuantity": line["current_quantity"],
            "unfulfilledQuantity": line["fulfillable_quantity"],
            "requiresShipping": line["requires_shipping"],
            "taxable": line["taxable"],
            "originalUnitPriceSet": _bag_view(line["price_set"]),
            "originalTotalSet": _bag_view(self._bag(gross, presentment)),
            "totalDiscountSet": _bag_view(self._bag(discount, presentment)),
            "discountedTotalSet": _bag_view(self._bag(gross - discount, presentment)),
            "discountAllocations": [
                self._allocation_view(order, a) for a in line["discount_allocations"]
            ],
            "taxLines": lambda info, first=None: [
                _tax_line_view(t) for t in limited(info, line["tax_lines"], first)
            ],
            "variant": lambda info: self._variant_view_by_id(line["variant_id"]),
            "product": lambda info: (
                self._product_view(self.products[line["product_id"]])
                if line["product_id"] in self.products
                else None
            ),
        }

    def _allocation_view(self, order: Record, allocation: Record) -> Record:
        return {
            "allocatedAmountSet": _bag_view(allocation["amount_set"]),
            "discountApplication": self._application_view(
                order, allocation["discount_application_index"]
            ),
        }

    @staticmethod
    def _application_view(order: Record, index: int) -> Record:
        application = order["discount_applications"][index]
        if application["value_type"] == "percentage":
            value = {
                "__typename": "PricingPercentageValue",
                "percentage": float(application["value"]),
            }
        else:
            value = {
                "__typename": "MoneyV2",
                "amount": _decimal(application["value"]),
                "currencyCode": order["presentment_currency"],
            }
        return {
            "__typename": _APPLICATION_TYPES[application["type"]],
            "allocationMethod": application["allocation_method"].upper(),
            "targetSelection": application["target_selection"].upper(),
            "targetType": application["target_type"].upper(),
            "index": index,
            "value": value,
            "code": application.get("code"),
            "title": application.get("title"),
            "description": application.get("description"),
        }

    def _shipping_view(self, order: Record, line: Record) -> Record:
        return {
            "id": gid("ShippingLine", line["id"]),
            "title": line["title"],
            "code": line["code"],
            "source": line["source"],
            "carrierIdentifier": line["carrier_identifier"],
            "custom": False,
            "isRemoved": line["is_removed"],
            "originalPriceSet": _bag_view(line["price_set"]),
            "discountedPriceSet": _bag_view(line["discounted_price_set"]),
            "currentDiscountedPriceSet": _bag_view(
                self._bag(Decimal(0), order["presentment_currency"])
                if order["_shipping_refunded"]
                else line["current_discounted_price_set"]
            ),
            "taxLines": [_tax_line_view(t) for t in line["tax_lines"]],
            "discountAllocations": [
                self._allocation_view(order, a) for a in line["discount_allocations"]
            ],
        }

    def _fulfillment_view(self, order: Record, fulfillment: Record) -> Record:
        numbers, urls = fulfillment["tracking_numbers"], fulfillment["tracking_urls"]
        tracking = [
            {
                "company": fulfillment["tracking_company"],
                "number": number,
                "url": urls[index] if index < len(urls) else None,
            }
            for index, number in enumerate(numbers)
        ]
        return {
            "__typename": "Fulfillment",
            "id": fulfillment["admin_graphql_api_id"],
            "legacyResourceId": str(fulfillment["id"]),
            "name": fulfillment["name"],
            "status": fulfillment["status"].upper(),
            "displayStatus": "FULFILLED",
            "createdAt": fulfillment["created_at"],
            "updatedAt": fulfillment["updated_at"],
            "trackingInfo": lambda info, first=None: limited(info, tracking, first),
            "fulfillmentLineItems": lambda info, **args: connection(
                info,
                args,
                fulfillment["line_items"],
                lambda item: by_number(item["_fulfillment_line_item_id"]),
                lambda item: self._fulfillment_line_view(order, item),
            ),
        }

    def _fulfillment_line_view(self, order: Record, item: Record) -> Record:
        total = Decimal(item["price"]) * item["quantity"]
        return {
            "__typename": "FulfillmentLineItem",
            "id": gid("FulfillmentLineItem", item["_fulfillment_line_item_id"]),
            "quantity": item["quantity"],
            "lineItem": lambda info: self._line_view(order, self._order_line(order, item["id"])),
            "originalTotalSet": _bag_view(self._bag(total, order["presentment_currency"])),
        }

    def _fulfillment_order_view(self, order: Record, fulfillment_order: Record) -> Record:
        return {
            "__typename": "FulfillmentOrder",
            "id": gid("FulfillmentOrder", fulfillment_order["id"]),
            "status": fulfillment_order["status"].upper(),
            "requestStatus": fulfillment_order["request_status"].upper(),
            "orderId": order["admin_graphql_api_id"],
            "orderName": order["name"],
            "createdAt": fulfillment_order["created_at"],
            "updatedAt": fulfillment_order["updated_at"],
            "assignedLocation": {"name": "Shop location", "location": self._location_view()},
            "lineItems": lambda info, **args: connection(
                info,
                args,
                fulfillment_order["line_items"],
                by_id,
                lambda line: self._fulfillment_order_line_view(order, line),
            ),
        }

    def _fulfillment_order_line_view(self, order: Record, fo_line: Record) -> Record:
        line = self._order_line(order, fo_line["line_item_id"])
        return {
            "__typename": "FulfillmentOrderLineItem",
            "id": gid("FulfillmentOrderLineItem", fo_line["id"]),
            "totalQuantity": fo_line["quantity"],
            "remainingQuantity": fo_line["fulfillable_quantity"],
            "sku": line["sku"],
            "inventoryItemId": gid("InventoryItem", fo_line["inventory_item_id"]),
            "productTitle": line["title"],
            "variantTitle": line["variant_title"],
            "lineItem": lambda info: self._line_view(order, line),
        }

    def _fulfillment_order_by_id(self, number: int) -> Record | None:
        found = self._find_fulfillment_order(number)
        return self._fulfillment_order_view(*found) if found else None

    def _find_fulfillment_order(self, number: int) -> tuple[Record, Record] | None:
        for order in self.orders.values():
            for fulfillment_order in order["_fulfillment_orders"]:
                if fulfillment_order["id"] == number:
                    return order, fulfillment_order
        return None

    def _refund_view(self, order: Record, refund: Record) -> Record:
        amount = sum((Decimal(t["amount"]) for t in refund["transactions"]), Decimal(0))
        return {
            "__typename": "Refund",
            "id": refund["admin_graphql_api_id"],
            "legacyResourceId": str(refund["id"]),
            "createdAt": refund["created_at"],
            "updatedAt": refund["created_at"],
            "note": refund["note"],
            "totalRefundedSet": _bag_view(self._bag(amount, order["presentment_currency"])),
            "refundLineItems": lambda info, **args: connection(
                info,
                args,
                refund["refund_line_items"],
                by_id,
                lambda row: self._refund_line_view(order, row),
            ),
        }

    def _refund_line_view(self, order: Record, row: Record) -> Record:
        restock = row["restock_type"]
        return {
            "id": gid("RefundLineItem", row["id"]),
            "lineItem": lambda info: self._line_view(
                order, self._order_line(order, row["line_item_id"])
            ),
            "quantity": row["quantity"],
            "restockType": restock.upper(),
            "restocked": restock in ("return", "cancel", "legacy_restock"),
            "location": self._location_view() if row["location_id"] else None,
            "priceSet": _bag_view(row["line_item"]["price_set"]),
            "subtotalSet": _bag_view(row["subtotal_set"]),
            "totalTaxSet": _bag_view(row["total_tax_set"]),
        }
