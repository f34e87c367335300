"""The WooCommerce adapter driven through omnisync's engine against the simulator."""

import json
from pathlib import Path

import httpx
import pytest

from omnisync import AsyncOmnisync, Fulfilment, FulfilmentLine
from omnisync.config import parse_config
from omnisync.errors import AuthError, SignatureError
from omnisync_woocommerce import WooCommerceSimulator

pytestmark = pytest.mark.anyio
PAYLOADS = Path(__file__).parent / "payloads"
SETTINGS = {
    "base_url": "https://shop.example",
    "consumer_key": "ck_simulated",
    "consumer_secret": "cs_simulated",
    "webhook_secret": "woo-webhook-secret",
    "rate_limit": {"rate": 10_000, "burst": 10_000},
}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def client(tmp_path, store: WooCommerceSimulator, enable=(), **settings) -> AsyncOmnisync:
    channel = {
        "adapter": "woocommerce",
        "settings": {**SETTINGS, **settings},
        "retry": {"initial_wait": 0, "jitter": 0},
    }
    if enable is None:  # everything but listing discovery
        channel["enable"] = ["pull_orders", "push_stock", "push_fulfilments", "webhooks"]
    loaded = parse_config(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'o.db'}"},
            "locations": {"shelf": {}},
            "channels": {"woo": channel},
        },
        base_dir=tmp_path,
    )
    return AsyncOmnisync(loaded, transports={"woo": store.transport()})


async def test_simple_products_and_variations_are_pushed_through_their_batch_endpoints(
    tmp_path,
):
    store = WooCommerceSimulator()
    store.add_product("MUG", quantity=0)
    parent = store.add_variable_product("Tee", {"TEE-S": 0, "TEE-M": 0})
    async with client(tmp_path, store) as om:
        for sku, count in (("MUG", 4), ("TEE-S", 2), ("TEE-M", 7)):
            await om.set_stock(sku, count)
        report = await om.sync()
    assert report.ok, report.to_dict()
    assert [store.shown(s) for s in ("MUG", "TEE-S", "TEE-M")] == [4, 2, 7]
    assert store.calls["POST /wp-json/wc/v3/products/batch"] == 1
    assert store.calls["POST /wp-json/wc/v3/products/(?P<product_id>\\d+)/variations/batch"] == 1
    assert parent in store.products


async def test_a_sku_the_store_does_not_have_is_quarantined_and_the_rest_land(tmp_path):
    store = WooCommerceSimulator()
    store.add_product("MUG", quantity=0)
    store.add_variable_product("Tee", {"TEE-S": 0})
    async with client(tmp_path, store, enable=None) as om:  # no listing discovery: by SKU
        await om.set_stock("MUG", 3)
        await om.set_stock("TEE-S", 4)
        await om.set_stock("GHOST", 3)
        report = await om.sync()
        letters = await om.dead_letters()
    assert (store.shown("MUG"), store.shown("TEE-S")) == (3, 4)
    assert report.channels["woo"].counts["pushed"] == 2
    assert [(d.kind, d.key) for d in letters] == [("stock_push", "GHOST")]
    assert "no product or variation has this SKU" in letters[0].reason


async def test_keys_can_travel_as_query_parameters_and_never_show_in_errors(tmp_path):
    store = WooCommerceSimulator()
    store.add_product("MUG", quantity=1)
    async with client(tmp_path, store, query_auth=True) as om:
        assert (await om.sync()).ok
    store.consumer_secret = "cs_rotated"
    async with client(tmp_path, store, query_auth=True) as om:
        report = await om.sync()
    error = report.channels["woo"].errors[0]
    assert "401" in error and "cs_simulated" not in error and "ck_simulated" not in error


async def test_wrong_keys_are_an_auth_failure(tmp_path):
    store = WooCommerceSimulator(consumer_secret="cs_other")
    async with client(tmp_path, store) as om:
        adapter = om.engine.adapter("woo")
        with pytest.raises(AuthError):
            async for _ in adapter.pull_orders(None):
                pass


async def test_a_cancelled_order_releases_its_stock(tmp_path):
    store = WooCommerceSimulator()
    store.add_product("MUG", quantity=0)
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 5)
        await om.sync()
        placed = store.buy({"MUG": 2})
        await om.sync()
        assert (await om.stock_levels(["MUG"]))["MUG"]["shelf"].held == 2
        store.set_status(placed["id"], "cancelled")
        await om.sync()
        assert (await om.stock_levels(["MUG"]))["MUG"]["shelf"].held == 0
    assert store.shown("MUG") == 5


@pytest.mark.parametrize("tracking", [False, True])
async def test_a_fulfilment_is_recorded_once_even_when_its_answer_is_lost(tmp_path, tracking):
    from omnisync.errors import OmnisyncError

    store = WooCommerceSimulator()
    store.add_product("MUG", quantity=0)
    async with client(tmp_path, store, shipment_tracking=tracking) as om:
        await om.set_stock("MUG", 5)
        await om.sync()
        placed = store.buy({"MUG": 2})
        await om.sync()
        line = str(placed["line_items"][0]["id"])
        fulfilment = Fulfilment(
            channel="woo",
            order_id=str(placed["id"]),
            lines=(FulfilmentLine(line_id=line, quantity=2),),
            carrier="DHL",
            tracking_number="JD0123",
        )
        # GET the order, GET what it has, then the POST is written but its answer is lost.
        store.faults.inject("pass", "pass", "drop")
        with pytest.raises(OmnisyncError, match="recorded but could not be sent"):
            await om.fulfil(fulfilment)
        await om.sync()  # sends it again, finds it there, completes the order
        await om.sync()
        [stored] = await om.orders()
    written = store.trackings if tracking else store.notes
    assert len(written[placed["id"]]) == 1
    assert store.orders[placed["id"]]["status"] == "completed"
    assert stored.order.fulfilment_status.value == "fulfilled"


async def test_webhooks_ping_orders_products_and_deletions(tmp_path):
    store = WooCommerceSimulator()
    async with client(tmp_path, store) as om:
        ping = await om.handle_webhook("woo", *store.ping())
        assert ping.status == "accepted"
        headers, body = store.order_webhook()
        assert (await om.handle_webhook("woo", headers, body)).counts["orders_imported"] == 1
        with pytest.raises(SignatureError):
            await om.handle_webhook("woo", headers, body.replace(b"KIT", b"KAT"))
        adapter = om.engine.adapter("woo")
        live_headers = httpx.Headers(
            json.loads((PAYLOADS / "webhook_product_updated.headers.json").read_text())
        )
        live_body = (PAYLOADS / "webhook_product_updated.body").read_bytes()
        event = adapter.parse_webhook(live_headers, live_body)
        assert [(o.sku, o.quantity) for o in event.offered] == [("XXXBAZ", 20)]
        headers = {"X-WC-Webhook-Topic": "order.deleted", "X-WC-Webhook-Delivery-ID": "d1"}
        deleted = adapter.parse_webhook(httpx.Headers(headers), b'{"id":76}')
        assert deleted.deleted_orders == ("76",)


async def test_a_duplicated_delivery_imports_once_and_a_lost_one_is_caught_by_polling(tmp_path):
    store = WooCommerceSimulator()
    store.add_product("MUG", quantity=10)
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        store.duplicate_webhooks = True
        store.buy({"MUG": 1})
        twice = store.drain_webhooks()
        assert len(twice) == 2 and twice[0][1] == twice[1][1]
        assert (await om.handle_webhook("woo", *twice[0])).counts["orders_imported"] == 1
        # WooCommerce gives each attempt its own delivery id: the import itself is idempotent.
        again = await om.handle_webhook("woo", *twice[1])
        assert again.status == "accepted" and not again.counts.get("orders_imported")
        assert len(await om.orders(limit=10)) == 1
        store.duplicate_webhooks, store.webhook_loss = False, 1.0
        store.buy({"MUG": 2})
        assert not store.drain_webhooks() and store.lost_webhooks == 1
        report = await om.sync()
        stored = await om.orders(limit=10)
    assert report.channels["woo"].counts["orders_imported"] == 1
    assert sorted(line.quantity for s in stored for line in s.order.lines) == [1, 2]
    assert store.shown("MUG") == 7
