"""The Vendure adapter driven through omnisync's engine against a real Vendure server."""

import time
from decimal import Decimal

import pytest

from omnisync import AsyncOmnisync, Capability, Fulfilment, FulfilmentLine
from omnisync.adapters import ChannelContext
from omnisync.config import parse_config
from omnisync.errors import AuthError, ConfigError, PermanentError, TransientError
from omnisync.http import RetryPolicy
from omnisync.models import FinancialStatus, Money, OrderStatus, StockUpdate
from omnisync_vendure import VendureAdapter, VendureSettings
from omnisync_vendure.testing import GraphQLClient, VendureServer, VendureSimulator

pytestmark = pytest.mark.anyio
LOGIN = {"username": "superadmin", "password": "superadmin"}
FAST = RetryPolicy(max_attempts=3, initial_wait=0, max_wait=0, jitter=0)


def client(
    tmp_path, server: VendureServer, transport=None, overlap=300, **settings
) -> AsyncOmnisync:
    loaded = parse_config(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'o.db'}"},
            "engine": {"overlap_seconds": overlap},
            "locations": {"shelf": {}},
            "channels": {
                "vendure": {
                    "adapter": "vendure",
                    "settings": {"base_url": server.url, **LOGIN, **settings},
                    "retry": {"initial_wait": 0, "jitter": 0},
                }
            },
        },
        base_dir=tmp_path,
    )
    return AsyncOmnisync(loaded, transports={"vendure": transport} if transport else None)


def adapter(server: VendureServer, **settings) -> VendureAdapter:
    values = {"base_url": server.url, **LOGIN, **settings}
    return VendureAdapter(VendureSettings(**values), ChannelContext(name="vendure", retry=FAST))


async def held(om: AsyncOmnisync, sku: str) -> int:
    return (await om.stock_levels([sku]))[sku]["shelf"].held


async def test_stock_set_in_omnisync_is_what_vendure_can_sell(tmp_path, vendure):
    mug = vendure.create_variant("MUG", stock=0)
    async with client(tmp_path, vendure) as om:
        await om.set_stock("MUG", 12)
        report = await om.sync()
    assert report.ok, report.to_dict()
    assert vendure.stock(mug.variant_id).saleable == 12


async def test_a_checkout_imports_with_exact_money_and_reserves_its_units(tmp_path, vendure):
    mug = vendure.create_variant("MUG", stock=0, price=1199)
    async with client(tmp_path, vendure) as om:
        await om.set_stock("MUG", 12)
        await om.sync()
        placed = vendure.checkout([(mug.variant_id, 3)])
        report = await om.sync()
        [stored] = await om.orders()
        assert await held(om, "MUG") == 3
    assert report.channels["vendure"].counts["orders_imported"] == 1, report.to_dict()
    order = stored.order
    assert (order.external_id, order.number) == (placed.id, placed.code)
    # 3 x 11.99 + 20 % tax to Germany + 5.00 shipping = 48.16 USD, to the cent.
    assert order.total == Money.from_minor(placed.total_with_tax, "USD") == Money.of("48.16", "USD")
    assert order.total.amount == Decimal("48.16")
    [line] = order.lines
    assert (line.sku, line.quantity, line.unit_price) == ("MUG", 3, Money.of("11.99", "USD"))
    assert order.financial_status is FinancialStatus.AUTHORIZED
    # Vendure holds the 3 units itself (allocated): it still sells 12 - 3, from 12 on hand.
    stock = vendure.stock(mug.variant_id)
    assert (stock.on_hand, stock.allocated, stock.saleable) == (12, 3, 9)


async def test_a_pushed_fulfilment_ships_the_order_in_vendure(tmp_path, vendure):
    mug = vendure.create_variant("MUG", stock=0)
    async with client(tmp_path, vendure) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        placed = vendure.checkout([(mug.variant_id, 2)])
        vendure.settle_payments(placed.id)  # Vendure ships only paid orders
        await om.sync()
        [stored] = await om.orders()
        lines = tuple(
            FulfilmentLine(line_id=line.line_id, quantity=2) for line in stored.order.lines
        )
        await om.fulfil(
            Fulfilment(
                channel="vendure",
                order_id=placed.id,
                lines=lines,
                carrier="DHL",
                tracking_number="00340434161094042557",
            )
        )
        await om.sync()
        [after] = await om.orders()
    shipped = vendure.order(placed.id)
    assert shipped["state"] == "Shipped"
    [fulfillment] = shipped["fulfillments"]
    assert (fulfillment["state"], fulfillment["method"], fulfillment["trackingCode"]) == (
        "Shipped",
        "DHL",
        "00340434161094042557",
    )
    assert after.order.fulfilment_status == "fulfilled"
    # The sale left Vendure's shelf and its allocation, and omnisync shows the same 8.
    stock = vendure.stock(mug.variant_id)
    assert (stock.on_hand, stock.allocated) == (8, 0)


async def test_a_fulfilment_whose_answer_was_lost_is_not_created_twice(tmp_path, vendure):
    mug = vendure.create_variant("MUG", stock=5)
    placed = vendure.checkout([(mug.variant_id, 2)])
    line = vendure.order(placed.id)["lines"][0]["id"]
    simulator = VendureSimulator(lambda: vendure)
    async with client(tmp_path, vendure, transport=simulator.transport()) as om:
        shop = om.engine.adapter("vendure")
        fulfilment = Fulfilment(
            channel="vendure",
            order_id=placed.id,
            lines=(FulfilmentLine(line_id=line, quantity=2),),
            tracking_number="T-1",
        )
        # Login, read the order, create the fulfillment: its answer never arrives.
        simulator.faults.inject("pass", "pass", "drop")
        with pytest.raises(TransientError):
            await shop.push_fulfilment(fulfilment)
        done = await shop.push_fulfilment(fulfilment)
    [only] = vendure.order(placed.id)["fulfillments"]
    assert done.fulfilment_id == only["id"]
    assert only["state"] == "Shipped"


async def test_cancelling_in_vendure_cancels_in_omnisync_and_frees_the_stock(tmp_path, vendure):
    mug = vendure.create_variant("MUG", stock=0)
    async with client(tmp_path, vendure) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        placed = vendure.checkout([(mug.variant_id, 4)])
        await om.sync()
        assert await held(om, "MUG") == 4
        vendure.cancel_order(placed.id, reason="out of stock at the supplier")
        report = await om.sync()
        [stored] = await om.orders()
        assert await held(om, "MUG") == 0
    assert report.channels["vendure"].counts["orders_changed"] == 1, report.to_dict()
    assert stored.order.status is OrderStatus.CANCELLED
    assert stored.order.cancel_reason == "out of stock at the supplier"
    assert vendure.stock(mug.variant_id).saleable == 10


def place_then_move_the_cursor_past_it(vendure, variant, quantity):
    """An order, then (two seconds later: Vendure dates in whole seconds) another one, so that
    the cursor of the next sync is past everything the first order's own dates show."""
    placed = vendure.checkout([(variant.variant_id, quantity)])
    time.sleep(2.1)
    vendure.checkout([(variant.variant_id, 1)])
    return placed


async def test_changes_vendure_does_not_date_still_arrive(tmp_path, vendure):
    """Settling a payment leaves Vendure's updatedAt where it was: open orders are re-read."""
    mug = vendure.create_variant("MUG", stock=10)
    # No overlap and no re-reading of recent orders: only the open state can find the change.
    async with client(tmp_path, vendure, overlap=0, recheck_days=0) as om:
        await om.set_stock("MUG", 10)
        placed = place_then_move_the_cursor_past_it(vendure, mug, 1)
        await om.sync()
        before = vendure.admin("query($id: ID!) { order(id: $id) { updatedAt } }", id=placed.id)
        vendure.settle_payments(placed.id)
        after = vendure.admin("query($id: ID!) { order(id: $id) { updatedAt } }", id=placed.id)
        report = await om.sync()
        stored = {s.order.external_id: s.order for s in await om.orders()}
    assert before == after  # what this test is about: Vendure did not date the change
    assert report.channels["vendure"].counts["orders_changed"] == 1, report.to_dict()
    assert stored[placed.id].financial_status is FinancialStatus.PAID


async def test_an_order_shipped_in_vendure_between_two_syncs_arrives_fulfilled(tmp_path, vendure):
    """Shipping moves the order to Shipped, a state that is not open, without dating it:
    recent orders are re-read."""
    mug = vendure.create_variant("MUG", stock=10)
    async with client(tmp_path, vendure, overlap=0) as om:
        await om.set_stock("MUG", 10)
        placed = place_then_move_the_cursor_past_it(vendure, mug, 2)
        vendure.settle_payments(placed.id)
        await om.sync()
        vendure.ship(placed.id, carrier="UPS", tracking_number="1Z999")
        assert vendure.order(placed.id)["state"] == "Shipped"
        await om.sync()
        stored = {s.order.external_id: s.order for s in await om.orders()}
        cell = (await om.stock_levels(["MUG"]))["MUG"]["shelf"]
    assert stored[placed.id].fulfilment_status == "fulfilled"
    assert (cell.on_hand, cell.held) == (8, 1)  # shipped from a shelf omnisync counts


async def test_carts_and_checkouts_in_progress_are_not_imported(tmp_path, vendure):
    mug = vendure.create_variant("MUG", stock=10)
    shop = GraphQLClient(vendure.shop_url)
    shop(
        "mutation($v: ID!) { addItemToOrder(productVariantId: $v, quantity: 1) { __typename } }",
        v=mug.variant_id,
    )
    shop.close()
    vendure.checkout([(mug.variant_id, 1)])
    async with client(tmp_path, vendure) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        orders = await om.orders()
    assert [stored.order.status for stored in orders] == [OrderStatus.OPEN]


async def test_vendure_never_shows_more_than_it_has_left_after_a_sale_not_yet_imported(
    tmp_path, vendure
):
    mug = vendure.create_variant("MUG", stock=0)
    async with client(tmp_path, vendure) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        vendure.checkout([(mug.variant_id, 3)])  # sold in Vendure; omnisync has not seen it
        await om.set_stock("MUG", 12)  # a delivery: omnisync now wants 12 shown
        await om.engine.run_step("vendure", Capability.PUSH_STOCK)
        assert vendure.stock(mug.variant_id).saleable == 7  # not 12: the sale is respected
        await om.sync()  # imports the sale: 12 on hand, 3 held
        await om.sync()
    stock = vendure.stock(mug.variant_id)
    assert (stock.on_hand, stock.allocated, stock.saleable) == (12, 3, 9)


async def test_an_unknown_or_ambiguous_sku_fails_alone_and_the_rest_land(vendure):
    mug = vendure.create_variant("MUG", stock=1)
    vendure.create_variant("TWIN", stock=1)
    vendure.create_variant("TWIN", stock=1)
    async with adapter(vendure) as shop:
        results = await shop.push_stock(
            [
                StockUpdate(sku="MUG", quantity=4),
                StockUpdate(sku="GHOST", quantity=4),
                StockUpdate(sku="TWIN", quantity=4),
            ]
        )
        listings = [item async for page in shop.pull_listings() for item in page.items]
    assert [(r.sku, r.ok) for r in results] == [("MUG", True), ("GHOST", False), ("TWIN", False)]
    assert "no variant" in results[1].error
    assert "2 variants" in results[2].error
    assert vendure.stock(mug.variant_id).saleable == 4
    assert sorted(listing.sku for listing in listings) == ["MUG", "TWIN"]


async def test_a_session_vendure_ended_is_renewed(vendure):
    vendure.create_variant("MUG", stock=1)
    async with adapter(vendure) as shop:
        [first] = [item async for page in shop.pull_listings() for item in page.items]
        token = shop._session.token.get_secret_value()
        ended = GraphQLClient(vendure.admin_url, token=token)
        ended("mutation { logout { success } }")
        ended.close()
        [again] = [item async for page in shop.pull_listings() for item in page.items]
        assert shop._session.token.get_secret_value() != token
    assert again == first


async def test_an_admin_api_key_authenticates(vendure):
    vendure.create_variant("MUG", stock=1)
    roles = vendure.admin("{ roles { items { id code } } }")["roles"]["items"]
    superadmin = next(role["id"] for role in roles if role["code"] == "__super_admin_role__")
    key = vendure.admin(
        """mutation($roles: [ID!]!) {
             createApiKey(input: {roleIds: $roles,
               translations: [{languageCode: en, name: "omnisync"}]}) { apiKey }
           }""",
        roles=[superadmin],
    )["createApiKey"]["apiKey"]
    settings = VendureSettings(base_url=vendure.url, api_key=key)
    async with VendureAdapter(settings, ChannelContext(name="vendure", retry=FAST)) as shop:
        listings = [item async for page in shop.pull_listings() for item in page.items]
    assert [listing.sku for listing in listings] == ["MUG"]
    assert key not in repr(settings)


async def test_a_wrong_password_is_an_auth_error_that_does_not_show_it(vendure):
    async with adapter(vendure, password="not-the-password") as shop:
        with pytest.raises(AuthError, match="refused the login") as info:
            [page async for page in shop.pull_listings()]
        assert "not-the-password" not in repr(shop.settings) + repr(shop.auth())
    assert "not-the-password" not in str(info.value)


async def test_the_channel_token_selects_a_vendure_channel(vendure):
    vendure.create_variant("MUG", stock=1)
    zone = vendure.admin("{ zones { items { id } } }")["zones"]["items"][0]["id"]
    vendure.admin(
        """mutation($zone: ID!) {
             createChannel(input: {code: "outlet", token: "outlet-token",
               defaultLanguageCode: en, pricesIncludeTax: true, defaultCurrencyCode: EUR,
               defaultShippingZoneId: $zone, defaultTaxZoneId: $zone}) { __typename }
           }""",
        zone=zone,
    )
    async with adapter(vendure, channel_token="outlet-token") as outlet:
        assert [page.items async for page in outlet.pull_listings()] == [[]]
    # With one channel Vendure ignores the token; with several, a wrong one is refused.
    async with adapter(vendure, channel_token="no-such-channel") as shop:
        with pytest.raises(PermanentError, match="no-such-channel"):
            [page async for page in shop.pull_listings()]


async def test_a_money_precision_other_than_the_servers_is_refused_before_any_order(vendure):
    mug = vendure.create_variant("MUG", stock=5)
    vendure.checkout([(mug.variant_id, 1)])
    async with adapter(vendure, money_precision=0) as shop:
        with pytest.raises(ConfigError, match="money_precision") as info:
            [page async for page in shop.pull_orders(None)]
    assert "2 decimal places" in str(info.value)
