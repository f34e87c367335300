"""Capture the order payloads the mapping tests use, from a real Vendure.

Run ``python plugins/omnisync-vendure/tests/payloads/capture.py [FOLDER]`` (it starts its own
servers with `omnisync_vendure.testing.VendureServer`; FOLDER defaults to this one). Each file
is one ``Order`` exactly as the adapter's query (`omnisync_vendure._queries.ORDERS`) returns
it. Codes and times differ from run to run, and the tests name them: update them with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from omnisync_vendure import _queries as q
from omnisync_vendure.testing import VendureServer
from omnisync_vendure.testing._client import check

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent


def fetch(server: VendureServer, order_id: str) -> dict[str, Any]:
    options = {"filter": {"id": {"eq": order_id}}}
    # The raw text, parsed without Decimal: numbers stay exactly as Vendure wrote them.
    response = server.admin.post(q.ORDERS, options=options)
    [order] = json.loads(response.text)["data"]["orders"]["items"]
    return dict(order)


def save(name: str, order: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(order, indent=1, ensure_ascii=False) + "\n")


def promotion(
    server: VendureServer, name: str, action: str, args: dict[str, str], **extra: Any
) -> None:
    arguments = [{"name": key, "value": value} for key, value in args.items()]
    result = server.admin(
        """mutation($input: CreatePromotionInput!) {
             createPromotion(input: $input) { __typename ... on ErrorResult { errorCode message } }
           }""",
        input={
            "enabled": True,
            "conditions": [],
            **extra,
            "actions": [{"code": action, "arguments": arguments}],
            "translations": [{"languageCode": "en", "name": name}],
        },
    )["createPromotion"]
    check(result, "Promotion")


def fulfil(server: VendureServer, lines: list[tuple[str, int]], tracking: str) -> None:
    created = server.admin(
        q.ADD_FULFILLMENT,
        input={
            "lines": [{"orderLineId": line, "quantity": quantity} for line, quantity in lines],
            "handler": {
                "code": "manual-fulfillment",
                "arguments": [
                    {"name": "method", "value": "DHL"},
                    {"name": "trackingCode", "value": tracking},
                ],
            },
        },
    )["addFulfillmentToOrder"]
    check(
        server.admin(q.FULFILMENT_STATE, id=created["id"], state="Shipped")[
            "transitionFulfillmentToState"
        ]
    )


def transition(server: VendureServer, order_id: str, state: str) -> None:
    result = server.admin(
        """mutation($id: ID!, $state: String!) {
             transitionOrderToState(id: $id, state: $state) {
               __typename ... on ErrorResult { errorCode message }
             }
           }""",
        id=order_id,
        state=state,
    )["transitionOrderToState"]
    check(result, "Order")


def modify(server: VendureServer, order_id: str, **changes: Any) -> None:
    result = server.admin(
        """mutation($input: ModifyOrderInput!) {
             modifyOrder(input: $input) { __typename ... on ErrorResult { errorCode message } }
           }""",
        input={"dryRun": False, "orderId": order_id, **changes},
    )["modifyOrder"]
    check(result, "Order")


def discounts_taxes_and_a_partial_shipment(server: VendureServer) -> None:
    """Prices without tax (the default channel), 20 % tax to Germany, a 15 % product
    promotion on the mug, a 10 % order coupon, the payment settled, two of three mugs
    shipped, and a note."""
    mug = server.create_variant("MUG-BLUE", stock=20, price=1199, name="Blue mug")
    tee = server.create_variant("TEE-L", stock=20, price=1999, name="T-shirt L")
    cap = server.create_variant("CAP", stock=20, price=333, name="Cap")
    promotion(
        server,
        "Mugs 15 % off",
        "products_percentage_discount",
        {"discount": "15", "productVariantIds": json.dumps([mug.variant_id])},
        # A promotion needs a condition or a coupon: an order of any amount.
        conditions=[
            {
                "code": "minimum_order_amount",
                "arguments": [
                    {"name": "amount", "value": "0"},
                    {"name": "taxInclusive", "value": "false"},
                ],
            }
        ],
    )
    promotion(
        server, "10 % off", "order_percentage_discount", {"discount": "10"}, couponCode="TENOFF"
    )
    placed = server.checkout(
        [(mug.variant_id, 3), (tee.variant_id, 2), (cap.variant_id, 1)], coupon="TENOFF"
    )
    server.settle_payments(placed.id)
    mug_line = next(
        line["id"]
        for line in server.order(placed.id)["lines"]
        if line["productVariant"]["sku"] == "MUG-BLUE"
    )
    fulfil(server, [(mug_line, 2)], "DHL-0001")
    server.add_note(placed.id, "Gift wrap the mugs, please")
    save("order_discounts_partially_shipped.json", fetch(server, placed.id))


def cancelled(server: VendureServer) -> None:
    """An order the merchant cancelled, with a reason."""
    lamp = server.create_variant("LAMP", stock=5, price=4500, name="Lamp")
    placed = server.checkout([(lamp.variant_id, 1)])
    server.cancel_order(placed.id, reason="customer changed their mind")
    save("order_cancelled.json", fetch(server, placed.id))


def modified_with_a_surcharge(server: VendureServer) -> None:
    """An order modified after it was placed: a line added and a surcharge."""
    mug = server.create_variant("MUG-RED", stock=20, price=1000, name="Red mug")
    tee = server.create_variant("TEE-M", stock=20, price=1500, name="T-shirt M")
    placed = server.checkout([(mug.variant_id, 1)])
    transition(server, placed.id, "Modifying")
    modify(
        server,
        placed.id,
        addItems=[{"productVariantId": tee.variant_id, "quantity": 1}],
        surcharges=[
            {
                "description": "Gift wrapping",
                "sku": "WRAP",
                "price": 250,
                "priceIncludesTax": False,
                "taxRate": 20,
            }
        ],
    )
    transition(server, placed.id, "ArrangingAdditionalPayment")
    result = server.admin(
        """mutation($input: ManualPaymentInput!) {
             addManualPaymentToOrder(input: $input) {
               __typename ... on ErrorResult { errorCode message }
             }
           }""",
        input={
            "orderId": placed.id,
            "method": "standard-payment",
            "transactionId": "manual-1",
            # Left out, Vendure 3.7.3 fails on SQLite: NOT NULL constraint, payment.metadata.
            "metadata": {},
        },
    )["addManualPaymentToOrder"]
    check(result, "Order")
    save("order_modified_surcharge.json", fetch(server, placed.id))


def unmappable_country(server: VendureServer) -> None:
    """A shipping address in a country the shop defined with a non-ISO code (XKX)."""
    server.admin(
        """mutation { createCountry(input: {code: "XKX", enabled: true,
             translations: [{languageCode: en, name: "Kosovo"}]}) { id } }"""
    )
    mug = server.create_variant("MUG-GREY", stock=5, price=1000, name="Grey mug")
    placed = server.checkout([(mug.variant_id, 1)], country_code="XKX")
    save("order_country_not_iso.json", fetch(server, placed.id))


def gross_prices_in_yen(server: VendureServer) -> None:
    """A channel whose prices include tax, in yen, on a server whose amounts have no decimal
    places (MoneyStrategy precision 0, as a shop selling in yen would set it)."""
    server.admin(
        """mutation { updateChannel(input: {id: "1", pricesIncludeTax: true,
             defaultCurrencyCode: JPY, availableCurrencyCodes: [JPY]}) {
             __typename ... on ErrorResult { errorCode message } } }"""
    )
    bowl = server.create_variant("BOWL", stock=10, price=1500, name="Bowl")
    placed = server.checkout([(bowl.variant_id, 3)])
    save("order_gross_jpy.json", fetch(server, placed.id))


if __name__ == "__main__":
    with VendureServer() as server:
        discounts_taxes_and_a_partial_shipment(server)
        cancelled(server)
        modified_with_a_surcharge(server)
        unmappable_country(server)
    with VendureServer(money_precision=0) as server:
        gross_prices_in_yen(server)
