"""The Shopify Admin GraphQL simulator on its own: the adapter's documents, run over HTTP."""

import json
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import graphql
import httpx
import pytest

from omnisync.errors import SignatureError
from omnisync.sim import SoldOut, serve
from omnisync.testing import ContractSimulator
from omnisync.webhooks import verify_hmac_sha256_base64
from omnisync_shopify import _queries as Q
from omnisync_shopify._sim import LOCATION_GID, STORAGE_HOST, ShopifySimulator, _cost, _shop
from omnisync_shopify._sim._schema import SCHEMA

pytestmark = pytest.mark.anyio
PAYLOADS = Path(__file__).parent / "payloads"
BASE = "https://acme.myshopify.com"
TOKEN = "shpat_simulated"
SECRET = "shopify-client-secret"
MINIMAL_DECIMAL = re.compile(r"-?\d+\.(0|\d*[1-9])")  # Shopify's Decimal: "13.5", "0.0"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def shop():
    """A shop that runs any query, whatever its cost: for checking shapes, not limits."""
    return ShopifySimulator(max_query_cost=None, maximum_available=1e9)


async def post(sim, query, variables=None, *, version="2026-04", token=TOKEN):
    async with httpx.AsyncClient(transport=sim.transport(), base_url=BASE) as client:
        return await client.post(
            f"/admin/api/{version}/graphql.json",
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": token} if token else {},
        )


async def gql(sim, query, variables=None, **options):
    response = await post(sim, query, variables, **options)
    assert response.status_code == 200, response.text
    return response.json()


async def data(sim, query, variables=None, **options):
    body = await gql(sim, query, variables, **options)
    assert "errors" not in body, body["errors"]
    return body["data"]


def assert_money(bag, currency="EUR"):
    for side in ("shopMoney", "presentmentMoney"):
        assert MINIMAL_DECIMAL.fullmatch(bag[side]["amount"]), bag[side]["amount"]
    assert bag["shopMoney"]["currencyCode"] == "EUR"
    assert bag["presentmentMoney"]["currencyCode"] == currency


def quantity_input(item, quantity, **extra):
    return {"inventoryItemId": item, "locationId": LOCATION_GID, "quantity": quantity, **extra}


def set_input(*quantities, name="available", reason="correction"):
    return {
        "name": name,
        "reason": reason,
        "referenceDocumentUri": "gid://omnisync/StockPush/1",
        "quantities": list(quantities),
    }


def topics(sim):
    return [headers["X-Shopify-Topic"] for headers, _ in sim.drain_webhooks()]


DOCUMENTS = {name: getattr(Q, name) for name in Q.__all__ if name.isupper()}
DOCUMENTS["bulk_orders()"] = Q.bulk_orders()
DOCUMENTS["bulk_orders(span)"] = Q.bulk_orders("created_at:<'2026-01-01T00:00:00Z'")


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_document_the_adapter_sends_is_valid_against_the_schema(name):
    document = graphql.parse(DOCUMENTS[name])
    assert graphql.validate(graphql.build_schema(SCHEMA), document) == []


# Orders ------------------------------------------------------------------------------------


async def test_the_orders_query_returns_orders_shaped_like_shopifys(shop):
    shop.add_product("MUG", quantity=5, price="12.50")
    shop.add_product("TEE", quantity=5, price="20.00")
    placed = shop.buy({"MUG": 2, "TEE": 1}, currency="USD", discount_code="TENOFF")
    page = await data(shop, Q.ORDERS, {"first": 10, "lines": 10})
    [order] = page["orders"]["nodes"]
    assert order["id"] == f"gid://shopify/Order/{placed['id']}"
    assert order["legacyResourceId"] == str(placed["id"])
    assert order["name"] == "#1001"
    assert order["createdAt"].endswith("Z") and len(order["createdAt"]) == 20
    assert (order["currencyCode"], order["presentmentCurrencyCode"]) == ("EUR", "USD")
    assert order["displayFinancialStatus"] == "PAID"
    assert order["displayFulfillmentStatus"] == "UNFULFILLED"
    assert (order["closed"], order["cancelledAt"], order["cancelReason"]) == (False, None, None)
    assert order["taxesIncluded"] is True and order["tags"] == []
    assert order["customer"]["defaultEmailAddress"]["emailAddress"] == placed["email"]
    assert order["shippingAddress"]["countryCodeV2"] == placed["shipping_address"]["country_code"]
    assert order["risk"] == {"assessments": [{"riskLevel": "LOW"}]}
    assert_money(order["totalPriceSet"], "USD")
    for name in ("totalTaxSet", "totalDiscountsSet", "totalShippingPriceSet"):
        assert set(order[name]) == {"shopMoney"}
    # 45.00 of goods, 10 % off, 4.90 shipping; the 19 % VAT is included in the prices.
    assert order["totalPriceSet"]["shopMoney"]["amount"] == "45.4"
    assert order["totalPriceSet"]["presentmentMoney"]["amount"] == "49.03"
    assert order["totalDiscountsSet"]["shopMoney"]["amount"] == "4.5"
    mug, tee = order["lineItems"]["nodes"]
    counts = (mug["quantity"], mug["currentQuantity"], mug["unfulfilledQuantity"])
    assert (mug["sku"], *counts) == ("MUG", 2, 2, 2)
    assert mug["originalUnitPriceSet"]["shopMoney"]["amount"] == "12.5"
    assert tee["originalUnitPriceSet"]["shopMoney"]["amount"] == "20.0"
    [allocation] = mug["discountAllocations"]
    assert allocation["discountApplication"] == {
        "__typename": "DiscountCodeApplication",
        "code": "TENOFF",
    }
    assert allocation["allocatedAmountSet"]["shopMoney"]["amount"] == "2.5"
    [tax] = mug["taxLines"]
    assert (tax["title"], tax["rate"]) == ("DE MwSt.", 0.19)
    assert tax["priceSet"]["shopMoney"]["amount"] == "3.59"  # 22.50 * 0.19 / 1.19
    [shipping] = order["shippingLines"]["nodes"]
    assert shipping["originalPriceSet"]["shopMoney"]["amount"] == "4.9"
    assert order["lineItems"]["pageInfo"]["hasNextPage"] is False


async def test_orders_page_by_update_time_with_opaque_cursors(shop):
    shop.add_listing("MUG", 100)
    placed = [shop.place_order("MUG", 1) for _ in range(5)]
    shop.touch_order(placed[0])
    seen, after = [], None
    while True:
        page = await data(shop, Q.ORDERS, {"first": 2, "lines": 5, "after": after})
        seen += [order["legacyResourceId"] for order in page["orders"]["nodes"]]
        if not page["orders"]["pageInfo"]["hasNextPage"]:
            break
        after = page["orders"]["pageInfo"]["endCursor"]
        assert placed[0] not in after
    assert seen == [*placed[1:], placed[0]], "sorted by updatedAt, the touched order last"


async def test_the_updated_at_filter_takes_quoted_times_and_drops_an_unquoted_values_time(
    shop,
):
    shop.add_listing("MUG", 100)
    first, second = shop.place_order("MUG", 1), shop.place_order("MUG", 1)
    stamp = shop.orders[int(first)]["updated_at"]

    async def found(query):
        page = await data(shop, Q.ORDERS, {"first": 10, "lines": 1, "query": query})
        return [order["legacyResourceId"] for order in page["orders"]["nodes"]]

    assert await found(f"updated_at:>'{stamp}'") == [second]
    assert await found(f'updated_at:>="{stamp}"') == [first, second]
    assert await found(f"updated_at:>={stamp}") == [first, second]
    assert await found(f"updated_at:>{stamp}") == [first, second], "the time part is ignored"
    assert await found("updated_at:>'2999-01-01T00:00:00Z' AND created_at:<'3000-01-01'") == []


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"first": 251, "lines": 1}, "250"),
        ({"first": None, "lines": 1}, "non-null type 'Int!'"),
    ],
)
async def test_page_sizes_are_bounded(shop, variables, message):
    body = await gql(shop, Q.ORDERS, variables)
    assert message in body["errors"][0]["message"]


async def test_a_connection_without_first_is_refused(shop):
    body = await gql(shop, "{ orders { nodes { id } } }")
    assert body["errors"][0]["message"] == "you must provide one of first or last"
    assert body["data"] is None


async def test_line_items_page_through_one_order(shop):
    for sku in ("A", "B", "C"):
        shop.add_listing(sku, 5)
    order_id = shop.buy({"A": 1, "B": 1, "C": 1})["admin_graphql_api_id"]
    skus, after = [], None
    while True:
        page = await data(shop, Q.LINE_ITEMS, {"id": order_id, "lines": 2, "after": after})
        items = page["order"]["lineItems"]
        skus += [item["sku"] for item in items["nodes"]]
        if not items["pageInfo"]["hasNextPage"]:
            break
        after = items["pageInfo"]["endCursor"]
    assert skus == ["A", "B", "C"]


async def test_node_and_nodes_find_what_exists_and_refuse_malformed_ids(shop):
    shop.add_listing("MUG", 5)
    order_id = shop.buy({"MUG": 1})["admin_graphql_api_id"]
    query = "query($id: ID!) { node(id: $id) { id ... on Order { name } } }"
    assert (await data(shop, query, {"id": order_id}))["node"] == {"id": order_id, "name": "#1001"}
    assert (await data(shop, query, {"id": "gid://shopify/Order/1"}))["node"] is None
    body = await gql(shop, query, {"id": "1001"})
    assert body["errors"][0]["message"] == "Invalid global id '1001'"


# Catalogue and stock -----------------------------------------------------------------------


async def test_variants_locations_and_levels(shop):
    mug = shop.add_product("MUG", quantity=7)
    shop.add_product("TEE", quantity=1)
    variants = await data(shop, Q.VARIANTS, {"first": 1})
    assert variants["productVariants"]["pageInfo"]["hasNextPage"] is True
    assert variants["productVariants"]["nodes"] == [
        {
            "id": mug["variant_id"],
            "sku": "MUG",
            "product": {"id": mug["product_id"]},
            "inventoryItem": {"id": mug["inventory_item_id"]},
        }
    ]
    by_sku = await data(shop, Q.VARIANTS, {"first": 10, "query": "sku:TEE"})
    assert [v["sku"] for v in by_sku["productVariants"]["nodes"]] == ["TEE"]
    locations = await data(shop, Q.LOCATIONS)
    assert locations["locations"]["nodes"] == [
        {
            "id": LOCATION_GID,
            "name": "Shop location",
            "isActive": True,
            "fulfillsOnlineOrders": True,
        }
    ]
    ids = [mug["inventory_item_id"], "gid://shopify/InventoryItem/1"]
    levels = await data(shop, Q.INVENTORY_LEVELS, {"ids": ids, "location": LOCATION_GID})
    assert levels["nodes"] == [
        {
            "id": mug["inventory_item_id"],
            "inventoryLevel": {"quantities": [{"name": "available", "quantity": 7}]},
        },
        None,
    ]


async def test_checkout_commits_stock_and_selling_out_is_refused(shop):
    mug = shop.add_product("MUG", quantity=3)
    shop.buy({"MUG": 2})
    assert shop.shown("MUG") == 1
    query = """query($id: ID!, $loc: ID!) { node(id: $id) { ... on InventoryItem {
        inventoryLevel(locationId: $loc) { quantities(names: ["available", "committed",
        "on_hand"]) { name quantity } } } } }"""
    variables = {"id": mug["inventory_item_id"], "loc": LOCATION_GID}
    found = await data(shop, query, variables)
    quantities = found["node"]["inventoryLevel"]["quantities"]
    assert {q["name"]: q["quantity"] for q in quantities} == {
        "available": 1,
        "committed": 2,
        "on_hand": 3,
    }
    with pytest.raises(SoldOut):
        shop.buy({"MUG": 2})
    with pytest.raises(SoldOut):
        shop.buy({"GHOST": 1})


async def test_merchant_stock_edits_deliver_inventory_level_webhooks(shop):
    mug = shop.add_product("MUG", quantity=3)
    shop.edit_quantity("MUG", 9)
    shop.buy({"MUG": 2})
    shop.set_count("MUG", 4)  # two of the four on hand are committed to the order
    assert shop.shown("MUG") == 2
    bodies = [
        json.loads(body)
        for headers, body in shop.drain_webhooks()
        if headers["X-Shopify-Topic"] == "inventory_levels/update"
    ]
    assert [b["available"] for b in bodies] == [9, 7, 2]
    item = int(mug["inventory_item_id"].rsplit("/", 1)[1])
    assert bodies[0]["inventory_item_id"] == item and bodies[0]["location_id"] == 1
    assert bodies[0]["admin_graphql_api_id"].endswith(f"?inventory_item_id={item}")


# inventorySetQuantities --------------------------------------------------------------------


async def test_setting_quantities_on_2026_04_needs_the_key_and_change_from(shop):
    mug = shop.add_product("MUG", quantity=4)
    item = mug["inventory_item_id"]
    no_key = INVENTORY_SET_WITHOUT_KEY
    body = await gql(shop, no_key, {"input": set_input(quantity_input(item, 5))})
    assert body["errors"][0]["message"] == (
        "The @idempotent directive is required for this mutation but was not provided."
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert body["data"] == {"inventorySetQuantities": None}
    variables = {"key": "k1", "input": set_input(quantity_input(item, 5))}
    body = await gql(shop, Q.INVENTORY_SET, variables)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_FIELD_ARGUMENTS"
    assert "changeFromQuantity" in body["errors"][0]["message"]
    assert shop.shown("MUG") == 4 and shop.stock_batches() == [1, 1], "refused calls count"
    explicit_null = set_input(quantity_input(item, 5, changeFromQuantity=None))
    done = await data(shop, Q.INVENTORY_SET, {"key": "k2", "input": explicit_null})
    assert done["inventorySetQuantities"]["userErrors"] == []
    assert done["inventorySetQuantities"]["inventoryAdjustmentGroup"]["id"].startswith(
        "gid://shopify/InventoryAdjustmentGroup/"
    )
    assert shop.shown("MUG") == 5 and shop.stock_batches() == [1, 1, 1]


async def test_on_2026_01_the_key_and_change_from_are_optional(shop):
    shop.add_product("MUG", quantity=4)
    item = shop.add_product("TEE", quantity=0)["inventory_item_id"]
    variables = {"input": set_input(quantity_input(item, 6), name="on_hand", reason="received")}
    done = await data(shop, INVENTORY_SET_WITHOUT_KEY, variables, version="2026-01")
    assert done["inventorySetQuantities"]["userErrors"] == []
    assert shop.shown("TEE") == 6


async def test_a_repeated_key_replays_the_first_answer_and_other_input_is_refused(shop):
    item = shop.add_product("MUG", quantity=4)["inventory_item_id"]
    first = {"key": "push-1", "input": set_input(quantity_input(item, 10, changeFromQuantity=4))}
    original = await data(shop, Q.INVENTORY_SET, first)
    shop.edit_quantity("MUG", 3)  # a sale in between: the replay must not undo it
    again = await data(shop, Q.INVENTORY_SET, first)
    assert again == original
    assert shop.shown("MUG") == 3
    other = {"key": "push-1", "input": set_input(quantity_input(item, 11, changeFromQuantity=3))}
    refused = await data(shop, Q.INVENTORY_SET, other)
    assert refused["inventorySetQuantities"] == {
        "inventoryAdjustmentGroup": None,
        "userErrors": [
            {
                "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                "field": None,
                "message": "The same idempotency key cannot be used with different operation "
                "parameters.",
            }
        ],
    }
    assert shop.stock_batches() == [1, 1, 1]


async def test_one_stale_quantity_stops_the_whole_batch(shop):
    items = [shop.add_product(f"SKU-{n}", quantity=n)["inventory_item_id"] for n in range(4)]
    quantities = [quantity_input(item, 20, changeFromQuantity=n) for n, item in enumerate(items)]
    quantities[3]["changeFromQuantity"] = 99
    result = await data(shop, Q.INVENTORY_SET, {"key": "k", "input": set_input(*quantities)})
    [error] = result["inventorySetQuantities"]["userErrors"]
    assert error["code"] == "CHANGE_FROM_QUANTITY_STALE"
    assert error["field"] == ["input", "quantities", "3", "changeFromQuantity"]
    assert result["inventorySetQuantities"]["inventoryAdjustmentGroup"] is None
    assert [shop.shown(f"SKU-{n}") for n in range(4)] == [0, 1, 2, 3], "nothing applied"
    assert shop.stock_batches() == [4]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        (
            {"inventoryItemId": "gid://shopify/InventoryItem/9"},
            "INVALID_INVENTORY_ITEM",
            "inventoryItemId",
        ),
        ({"locationId": "gid://shopify/Location/2"}, "INVALID_LOCATION", "locationId"),
        ({"quantity": -1}, "INVALID_QUANTITY_NEGATIVE", "quantity"),
        ({"name": "committed"}, "INVALID_NAME", None),
        ({"reason": "because"}, "INVALID_REASON", None),
        ({"referenceDocumentUri": "no scheme"}, "INVALID_REFERENCE_DOCUMENT", None),
    ],
)
async def test_user_errors_carry_shopifys_codes(shop, change, code, field):
    item = shop.add_product("MUG", quantity=1)["inventory_item_id"]
    quantity = quantity_input(item, 2, changeFromQuantity=None)
    quantity.update({k: v for k, v in change.items() if k in quantity})
    arguments = set_input(quantity)
    arguments.update({k: v for k, v in change.items() if k in arguments})
    result = await data(shop, Q.INVENTORY_SET, {"key": code, "input": arguments})
    [error] = result["inventorySetQuantities"]["userErrors"]
    assert error["code"] == code
    if field:
        assert error["field"] == ["input", "quantities", "0", field]
    assert shop.shown("MUG") == 1


async def test_an_item_not_stocked_at_the_location_is_refused(shop):
    item = shop.add_product("MUG", stocked=False)["inventory_item_id"]
    variables = {"key": "k", "input": set_input(quantity_input(item, 2, changeFromQuantity=None))}
    result = await data(shop, Q.INVENTORY_SET, variables)
    assert result["inventorySetQuantities"]["userErrors"][0]["code"] == (
        "ITEM_NOT_STOCKED_AT_LOCATION"
    )


async def test_more_than_250_quantities_are_refused(shop):
    item = shop.add_product("MUG", quantity=1)["inventory_item_id"]
    quantities = [quantity_input(item, 1, changeFromQuantity=None)] * 251
    body = await gql(shop, Q.INVENTORY_SET, {"key": "k", "input": set_input(*quantities)})
    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert shop.stock_batches() == [251]


# Fulfilments, cancellations, refunds -------------------------------------------------------


async def fulfillment_orders(sim, order_gid):
    found = await data(sim, Q.FULFILLMENT_ORDERS, {"id": order_gid})
    return found["order"]


async def the_fulfillment_order(sim, order_gid):
    [fulfillment_order] = (await fulfillment_orders(sim, order_gid))["fulfillmentOrders"]["nodes"]
    return fulfillment_order


async def fulfil(sim, fulfillment):
    return (await data(sim, Q.FULFILLMENT_CREATE, {"fulfillment": fulfillment}))[
        "fulfillmentCreate"
    ]


async def test_fulfilling_part_then_the_rest_closes_the_order(shop):
    shop.add_listing("MUG", 5)
    shop.add_listing("TEE", 5)
    order = shop.buy({"MUG": 2, "TEE": 1})
    shop.drain_webhooks()
    fo = await the_fulfillment_order(shop, order["admin_graphql_api_id"])
    assert fo["status"] == "OPEN"
    mug_line = fo["lineItems"]["nodes"][0]
    assert mug_line["remainingQuantity"] == 2
    partial = {
        "lineItemsByFulfillmentOrder": [
            {
                "fulfillmentOrderId": fo["id"],
                "fulfillmentOrderLineItems": [{"id": mug_line["id"], "quantity": 1}],
            }
        ],
        "trackingInfo": {"company": "DHL", "number": "JD0001", "url": "https://dhl.example/1"},
    }
    done = await fulfil(shop, partial)
    assert done["userErrors"] == []
    assert done["fulfillment"]["status"] == "SUCCESS"
    assert topics(shop) == ["orders/partially_fulfilled", "orders/updated"]
    state = await fulfillment_orders(shop, order["admin_graphql_api_id"])
    [fo] = state["fulfillmentOrders"]["nodes"]
    assert fo["status"] == "IN_PROGRESS"
    assert [n["remainingQuantity"] for n in fo["lineItems"]["nodes"]] == [1, 1]
    assert state["fulfillments"][0]["trackingInfo"] == [{"number": "JD0001"}]
    rest = {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}]}
    assert (await fulfil(shop, rest))["userErrors"] == []
    assert topics(shop) == ["orders/fulfilled", "orders/updated"]
    page = await data(shop, Q.ORDERS, {"first": 1, "lines": 5})
    [closed] = page["orders"]["nodes"]
    assert (closed["displayFulfillmentStatus"], closed["closed"]) == ("FULFILLED", True)
    assert [i["unfulfilledQuantity"] for i in closed["lineItems"]["nodes"]] == [0, 0]
    history = await data(shop, Q.ORDER_FULFILMENTS, {"id": order["admin_graphql_api_id"]})
    shipped = [
        sum(fli["quantity"] for fli in f["fulfillmentLineItems"]["nodes"])
        for f in history["order"]["fulfillments"]
    ]
    assert shipped == [1, 2]
    number = fo["id"].rsplit("/", 1)[1]
    assert await fulfil(shop, rest) == {
        "fulfillment": None,
        "userErrors": [
            {
                "field": ["fulfillment"],
                "message": f"Fulfillment order {number} has an unfulfillable status= closed.",
            }
        ],
    }


async def test_fulfilling_more_than_remains_is_a_user_error(shop):
    shop.add_listing("MUG", 5)
    order = shop.buy({"MUG": 1})
    fo = await the_fulfillment_order(shop, order["admin_graphql_api_id"])
    line = fo["lineItems"]["nodes"][0]["id"]
    too_many = {
        "lineItemsByFulfillmentOrder": [
            {
                "fulfillmentOrderId": fo["id"],
                "fulfillmentOrderLineItems": [{"id": line, "quantity": 2}],
            }
        ]
    }
    [error] = (await fulfil(shop, too_many))["userErrors"]
    assert error["message"] == "Invalid fulfillment order line item quantity requested."
    unknown = "gid://shopify/FulfillmentOrder/1"
    result = await fulfil(shop, {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": unknown}]})
    assert result["fulfillment"] is None
    assert result["userErrors"][0]["field"][-1] == "fulfillmentOrderId"
    fo = await the_fulfillment_order(shop, order["admin_graphql_api_id"])
    assert fo["lineItems"]["nodes"][0]["remainingQuantity"] == 1, "nothing shipped"


async def test_a_cancelled_order_is_restocked_closed_and_cannot_be_fulfilled(shop):
    shop.add_listing("MUG", 5)
    order = shop.buy({"MUG": 2})
    shop.drain_webhooks()
    shop.cancel(order["id"])
    assert shop.shown("MUG") == 5
    assert topics(shop) == [
        "inventory_levels/update",
        "orders/cancelled",
        "refunds/create",
        "orders/updated",
    ]
    page = await data(shop, Q.ORDERS, {"first": 1, "lines": 5})
    [cancelled] = page["orders"]["nodes"]
    assert cancelled["cancelReason"] == "CUSTOMER" and cancelled["cancelledAt"]
    assert cancelled["closed"] is True
    assert cancelled["displayFinancialStatus"] == "REFUNDED"
    assert cancelled["lineItems"]["nodes"][0]["currentQuantity"] == 0
    fo = await the_fulfillment_order(shop, order["admin_graphql_api_id"])
    assert fo["status"] == "CLOSED"
    attempt = {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}]}
    [error] = (await fulfil(shop, attempt))["userErrors"]
    assert "unfulfillable status= closed" in error["message"]


async def test_a_return_refund_restocks_and_is_delivered_as_a_rest_refund(shop):
    shop.add_listing("MUG", 5)
    order = shop.buy({"MUG": 2})
    fo = await the_fulfillment_order(shop, order["admin_graphql_api_id"])
    rest = {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}]}
    await fulfil(shop, rest)
    shop.drain_webhooks()
    with pytest.raises(ValueError, match="restock_type cancel"):
        shop.refund(order["id"], order["line_items"][0]["id"], 1, restock_type="cancel")
    refund = shop.refund(order["id"], order["line_items"][0]["id"], 1)
    assert shop.shown("MUG") == 4
    [row] = refund["refund_line_items"]
    assert (row["quantity"], row["restock_type"], row["subtotal"]) == (1, "return", 10.0)
    assert row["subtotal_set"]["shop_money"] == {"amount": "10.00", "currency_code": "EUR"}
    assert refund["transactions"][0]["kind"] == "refund"
    deliveries = {h["X-Shopify-Topic"]: json.loads(b) for h, b in shop.drain_webhooks()}
    expected = json.loads((PAYLOADS / "rest_refund.json").read_text())
    assert set(expected) <= set(deliveries["refunds/create"])
    page = await data(shop, Q.ORDERS, {"first": 1, "lines": 5})
    [refunded] = page["orders"]["nodes"]
    assert refunded["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
    assert refunded["lineItems"]["nodes"][0]["currentQuantity"] == 1


# Bulk operations ---------------------------------------------------------------------------


async def test_a_bulk_export_runs_completes_and_is_downloaded_without_the_token(shop):
    shop.add_listing("MUG", 10)
    shop.add_listing("TEE", 10)
    orders = [shop.buy({"MUG": 1, "TEE": 2}), shop.buy({"TEE": 1})]
    run = await data(shop, Q.BULK_RUN, {"query": Q.bulk_orders()})
    operation = run["bulkOperationRunQuery"]["bulkOperation"]
    assert operation["status"] == "CREATED"
    # Five at a time (API 2026-01 on): four more start, the sixth is refused.
    for _ in range(4):
        more = await data(shop, Q.BULK_RUN, {"query": Q.bulk_orders()})
        assert more["bulkOperationRunQuery"]["userErrors"] == []
    sixth = await data(shop, Q.BULK_RUN, {"query": Q.bulk_orders()})
    [refused] = sixth["bulkOperationRunQuery"]["userErrors"]
    assert refused["code"] == "LIMIT_REACHED"
    assert sixth["bulkOperationRunQuery"]["bulkOperation"] is None
    polls = [(await data(shop, Q.BULK_POLL, {"id": operation["id"]}))["node"] for _ in range(2)]
    assert [poll["status"] for poll in polls] == ["RUNNING", "COMPLETED"]
    done = polls[-1]
    assert done["objectCount"] == "7"  # 2 orders, 3 line items, 2 shipping lines
    assert done["url"].startswith(f"https://{STORAGE_HOST}/bulk-operation-outputs/")
    async with httpx.AsyncClient(transport=shop.transport()) as storage:
        leaked = await storage.get(done["url"], headers={"X-Shopify-Access-Token": TOKEN})
        assert leaked.status_code == 400
        unsigned = await storage.get(done["url"].split("?")[0])
        assert unsigned.status_code == 403
        download = await storage.get(done["url"])
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/jsonl"
    rows = [json.loads(line) for line in download.text.splitlines()]
    assert len(rows) == 7
    first_order, first_lines = rows[0], rows[1:4]
    assert first_order["legacyResourceId"] == str(orders[0]["id"])
    assert "__parentId" not in first_order and "lineItems" not in first_order
    assert first_order["totalPriceSet"]["shopMoney"]["currencyCode"] == "EUR", "objects inline"
    assert {row["__parentId"] for row in first_lines} == {first_order["id"]}
    assert [row.get("sku") for row in first_lines] == ["MUG", "TEE", None]  # then its shipping
    assert first_lines[0]["discountAllocations"] == [] and first_lines[0]["taxLines"]
    assert rows[4]["legacyResourceId"] == str(orders[1]["id"])
    rerun = await data(shop, Q.BULK_RUN, {"query": Q.bulk_orders()})
    assert rerun["bulkOperationRunQuery"]["userErrors"] == []


async def test_a_cancelled_bulk_export_frees_its_place_and_an_ended_one_cannot_be(shop):
    started = []
    for _ in range(5):
        run = await data(shop, Q.BULK_RUN, {"query": Q.bulk_orders()})
        started.append(run["bulkOperationRunQuery"]["bulkOperation"]["id"])
    cancel = (await data(shop, Q.BULK_CANCEL, {"id": started[0]}))["bulkOperationCancel"]
    assert cancel["userErrors"] == []
    assert cancel["bulkOperation"]["status"] == "CANCELED"
    again = await data(shop, Q.BULK_RUN, {"query": Q.bulk_orders()})
    assert again["bulkOperationRunQuery"]["userErrors"] == []  # the place it held
    twice = (await data(shop, Q.BULK_CANCEL, {"id": started[0]}))["bulkOperationCancel"]
    assert "cannot be canceled when it is CANCELED" in twice["userErrors"][0]["message"]
    unknown = "gid://shopify/BulkOperation/1"
    missing = (await data(shop, Q.BULK_CANCEL, {"id": unknown}))["bulkOperationCancel"]
    assert missing["userErrors"][0]["field"] == ["id"]


async def test_a_bulk_export_of_a_span_of_creation_times_holds_only_its_orders(shop):
    shop.add_listing("MUG", 10)
    placed = [shop.buy({"MUG": 1}) for _ in range(3)]  # a second apart
    middle = placed[1]["created_at"]
    ids = []
    for search in (f"created_at:<'{middle}'", f"created_at:>='{middle}'"):
        run = await data(shop, Q.BULK_RUN, {"query": Q.bulk_orders(search)})
        operation = run["bulkOperationRunQuery"]["bulkOperation"]
        for _ in range(2):
            done = (await data(shop, Q.BULK_POLL, {"id": operation["id"]}))["node"]
        async with httpx.AsyncClient(transport=shop.transport()) as storage:
            text = (await storage.get(done["url"])).text
        rows = [json.loads(line) for line in text.splitlines()]
        ids.append([row["legacyResourceId"] for row in rows if "__parentId" not in row])
    assert ids == [[str(placed[0]["id"])], [str(placed[1]["id"]), str(placed[2]["id"])]]


def test_served_on_a_port_its_bulk_file_comes_from_another_name_of_the_host():
    shop = ShopifySimulator(access_token=TOKEN)
    shop.add_listing("MUG", 10)
    shop.buy({"MUG": 1})
    server = serve(shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    shop.storage_url = f"http://localhost:{port}"
    admin = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"X-Shopify-Access-Token": TOKEN}
    )
    try:
        path = "/admin/api/2026-10/graphql.json"
        body = {"query": Q.BULK_RUN, "variables": {"query": Q.bulk_orders()}}
        operation = admin.post(path, json=body).json()["data"]["bulkOperationRunQuery"]
        operation = operation["bulkOperation"]
        while operation["status"] != "COMPLETED":
            poll = {"query": Q.BULK_POLL, "variables": {"id": operation["id"]}}
            operation = admin.post(path, json=poll).json()["data"]["node"]
        assert operation["url"].startswith(f"http://localhost:{port}/bulk-operation-outputs/")
        download = httpx.get(operation["url"])
        assert download.status_code == 200
        assert json.loads(download.text.splitlines()[0])["name"].startswith("#")
        # The Admin API's own address does not serve the file.
        assert admin.get(operation["url"].replace("localhost", "127.0.0.1")).status_code == 404
    finally:
        admin.close()
        server.shutdown()
        server.server_close()


async def test_an_empty_export_has_no_url_and_a_bulk_query_needs_a_connection(shop):
    run = await data(shop, Q.BULK_RUN, {"query": Q.bulk_orders()})
    operation_id = run["bulkOperationRunQuery"]["bulkOperation"]["id"]
    for _ in range(2):
        done = (await data(shop, Q.BULK_POLL, {"id": operation_id}))["node"]
    assert (done["status"], done["objectCount"], done["url"]) == ("COMPLETED", "0", None)
    invalid = await data(shop, Q.BULK_RUN, {"query": "{ locations(first: 1) { nodes { id } } x }"})
    assert invalid["bulkOperationRunQuery"]["userErrors"][0]["code"] == "INVALID"
    flat = await data(shop, Q.BULK_RUN, {"query": '{ order(id: "gid://shopify/Order/1") { id } }'})
    [error] = flat["bulkOperationRunQuery"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["query"])


# Envelope, cost and throttling -------------------------------------------------------------


async def test_every_answer_carries_its_cost_and_the_bucket_it_left():
    sim = ShopifySimulator()
    body = await gql(sim, Q.LOCATIONS)
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 52  # 2 + 50 locations of 1
    assert cost["actualQueryCost"] == 3  # 2 + the one location there is
    status = cost["throttleStatus"]
    assert (status["maximumAvailable"], status["restoreRate"]) == (2000.0, 100.0)
    assert status["currentlyAvailable"] <= 1997.0


async def test_a_query_the_bucket_cannot_pay_for_is_throttled_until_it_refills(monkeypatch):
    # The bucket's clock is the test's: at 5,000 points a second, a pause of 10 ms of the
    # machine between emptying the bucket and asking would refill what the query costs.
    now = [1000.0]
    clock = SimpleNamespace(monotonic=lambda: now[0])
    for module in (_shop, _cost):  # the bucket starts (`_shop`) and refills (`_cost`) on it
        monkeypatch.setattr(module, "time", clock)
    sim = ShopifySimulator(restore_rate=5000.0)
    sim.drain_budget()
    body = await gql(sim, Q.LOCATIONS)
    assert "data" not in body
    assert body["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    assert body["extensions"]["cost"]["actualQueryCost"] is None
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 52
    now[0] += 0.05  # 5000 points a second refill 250
    assert "data" in await gql(sim, Q.LOCATIONS)


async def test_a_query_above_the_single_query_limit_is_refused():
    sim = ShopifySimulator()
    query = "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }"
    # 2 + 250 orders x (1 + 2 + 250 line items x 1)
    body = await gql(sim, query)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["message"].startswith("Query cost is 63252, which exceeds the single query")
    assert "data" not in body


async def test_validation_errors_are_answered_with_200_and_shopifys_codes(shop):
    body = await gql(shop, "{ orders(first: 1) { nodes { riskScore } } }")
    assert body["errors"][0]["extensions"]["code"] == "undefinedField"
    body = await gql(shop, Q.ORDERS, {"first": "ten", "lines": 1})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"
    body = await gql(shop, "{ orders(first: 1) { nodes { id }")
    assert "Syntax Error" in body["errors"][0]["message"]


# HTTP ----------------------------------------------------------------------------------------


async def test_a_wrong_token_is_a_401_with_shopifys_body(shop):
    response = await post(shop, Q.LOCATIONS, token="shpat_wrong")
    assert response.status_code == 401
    assert response.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }
    assert (await post(shop, Q.LOCATIONS, token=None)).status_code == 401


async def test_injected_faults_come_before_authentication(shop):
    shop.faults.inject(503)
    assert (await post(shop, Q.LOCATIONS, token="shpat_wrong")).status_code == 503


async def test_unknown_versions_and_missing_queries(shop):
    response = await post(shop, Q.LOCATIONS, version="2025-07")
    assert (response.status_code, response.json()) == (404, {"errors": "Not Found"})
    async with httpx.AsyncClient(transport=shop.transport(), base_url=BASE) as client:
        response = await client.post(
            "/admin/api/2026-07/graphql.json",
            json={"variables": {}},
            headers={"X-Shopify-Access-Token": TOKEN},
        )
    assert response.status_code == 400
    for version in ("2026-01", "2026-04", "2026-07", "2026-10"):
        assert "data" in await gql(shop, Q.LOCATIONS, version=version)


# Webhooks ------------------------------------------------------------------------------------


async def test_order_webhooks_are_signed_rest_orders(shop):
    headers, body = shop.order_webhook()
    verify_hmac_sha256_base64(SECRET, body, headers["X-Shopify-Hmac-Sha256"])
    with pytest.raises(SignatureError):
        verify_hmac_sha256_base64(SECRET, body + b" ", headers["X-Shopify-Hmac-Sha256"])
    assert headers["X-Shopify-Topic"] == "orders/create"
    assert headers["X-Shopify-Shop-Domain"] == "shopify.myshopify.com"
    assert headers["X-Shopify-API-Version"] == "2026-10"
    for name in ("X-Shopify-Webhook-Id", "X-Shopify-Event-Id", "X-Shopify-Triggered-At"):
        assert headers[name]
    order = json.loads(body)
    reference = json.loads((PAYLOADS / "rest_order_1001.json").read_text())
    core = {
        "id",
        "admin_graphql_api_id",
        "name",
        "email",
        "created_at",
        "updated_at",
        "currency",
        "financial_status",
        "fulfillment_status",
        "tags",
        "total_price",
        "total_price_set",
        "total_tax_set",
        "discount_applications",
        "line_items",
        "shipping_lines",
        "billing_address",
        "shipping_address",
        "customer",
        "fulfillments",
        "refunds",
        "tax_lines",
    }
    assert core <= set(reference) and core <= set(order)
    assert set(reference["line_items"][0]) <= set(order["line_items"][0])
    assert isinstance(order["id"], int) and isinstance(order["line_items"][0]["variant_id"], int)
    assert order["financial_status"] == "paid" and order["fulfillment_status"] is None
    assert order["tags"] == "" and order["total_price"].count(".") == 1
    assert order["created_at"].endswith("+01:00")
    assert set(order["shipping_address"]) >= {"country_code", "zip", "city", "address1"}
    assert "_risk_level" not in order and "_fulfillment_orders" not in order


async def test_duplicate_lost_and_unsubscribed_deliveries(shop):
    shop.add_listing("MUG", 5)
    shop.duplicate_webhooks = True
    shop.topics = {"orders/create"}
    shop.buy({"MUG": 1})
    (first, body1), (second, body2) = shop.drain_webhooks()
    assert first["X-Shopify-Event-Id"] == second["X-Shopify-Event-Id"] and body1 == body2
    assert first["X-Shopify-Webhook-Id"] != second["X-Shopify-Webhook-Id"]
    shop.webhook_loss = 1.0
    shop.buy({"MUG": 1})
    assert shop.drain_webhooks() == [] and shop.lost_webhooks == 2


# The contract kit and persistence -----------------------------------------------------------


async def test_the_contract_kit_methods(shop, tmp_path):
    assert isinstance(shop, ContractSimulator)
    shop.add_listing("KIT", 3)
    order_id = shop.place_order("KIT", 1)
    before = shop.orders[int(order_id)]["updated_at"]
    shop.drain_webhooks()
    shop.touch_order(order_id)
    assert topics(shop) == ["orders/updated"]
    page = await data(shop, Q.ORDERS, {"first": 5, "lines": 5})
    [order] = page["orders"]["nodes"]
    assert order["legacyResourceId"] == order_id
    assert order["updatedAt"] > before and order["note"].startswith("Edited by the merchant")
    shop.save(tmp_path / "shop.json")
    copy = ShopifySimulator(max_query_cost=None, maximum_available=1e9)
    copy.load(tmp_path / "shop.json")
    assert await data(copy, Q.ORDERS, {"first": 5, "lines": 5}) == page
    assert copy.shown("KIT") == 2
    assert copy.place_order("KIT", 1) != order_id


INVENTORY_SET_WITHOUT_KEY = """
mutation SetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""
