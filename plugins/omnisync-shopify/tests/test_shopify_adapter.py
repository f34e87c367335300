"""The Shopify adapter driven through omnisync's engine against the simulator."""

import json
import re
from datetime import datetime

import httpx
import pytest

from omnisync import AsyncOmnisync, Capability, Fulfilment, FulfilmentLine
from omnisync.config import parse_config
from omnisync.errors import SignatureError
from omnisync.http import RateLimiter
from omnisync.models import OrderStatus, StockUpdate
from omnisync_shopify import _queries as Q
from omnisync_shopify._sim import ShopifySimulator

pytestmark = pytest.mark.anyio
SETTINGS = {
    "shop": "acme",
    "access_token": "shpat_simulated",
    "client_secret": "shopify-client-secret",
    "bulk_poll_seconds": 0,
}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def client(tmp_path, store: ShopifySimulator, channel=None, **settings) -> AsyncOmnisync:
    loaded = parse_config(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'o.db'}"},
            "locations": {"shelf": {}},
            "channels": {
                "shopify": {
                    "adapter": "shopify",
                    "settings": {**SETTINGS, **settings},
                    "retry": {"initial_wait": 0, "jitter": 0},
                    **(channel or {}),
                }
            },
        },
        base_dir=tmp_path,
    )
    return AsyncOmnisync(loaded, transports={"shopify": store.transport()})


def shop(**options) -> ShopifySimulator:
    # A budget that refills fast: the pacing itself is tested on its own.
    options.setdefault("restore_rate", 50_000.0)
    store = ShopifySimulator(**options)
    for sku in ("MUG", "TEE", "CAP"):
        store.add_product(sku, quantity=20)
    return store


async def test_a_first_sync_exports_every_order_in_bulk_then_pages_incrementally(tmp_path):
    store = shop()
    store.edit_quantity("MUG", 100)
    placed = [store.place_order("MUG", 1) for _ in range(30)]
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 100)
        await om.set_stock("TEE", 100)
        first = await om.sync()
        assert first.channels["shopify"].counts["orders_imported"] == 30, first.to_dict()
        assert store.calls["GET /bulk-operation-outputs/(?P<number>\\d+)\\.jsonl"] >= 1
        store.place_order("TEE", 2)
        second = await om.sync()
        stored = await om.orders(limit=100)
    assert second.channels["shopify"].counts["orders_imported"] == 1
    assert {s.order.external_id for s in stored} >= set(placed)
    assert len(stored) == 31


async def test_a_bulk_export_is_read_and_mapped_off_the_event_loop(tmp_path, monkeypatch):
    import threading

    from omnisync_shopify import _adapter
    from omnisync_shopify._bulkfile import BulkFile

    threads = []
    rows, map_order = BulkFile._rows, _adapter.ShopifyAdapter.map_order

    def noting_rows(self):
        threads.append(("read", threading.get_ident()))
        return rows(self)

    def noting_map(self, payload):
        threads.append(("map", threading.get_ident()))
        return map_order(self, payload)

    monkeypatch.setattr(BulkFile, "_rows", noting_rows)
    monkeypatch.setattr(_adapter.ShopifyAdapter, "map_order", noting_map)
    store = shop()
    for _ in range(3):
        store.place_order("MUG", 1)
    async with client(tmp_path, store) as om:
        report = await om.sync()
    assert report.channels["shopify"].counts["orders_imported"] == 3
    # Placed a second apart, the three orders are exported a span of time each; each file
    # is read twice (is every item after its order? then put together).
    assert [kind for kind, _ in threads] == ["read", "read", "map"] * 3
    assert threading.get_ident() not in {thread for _, thread in threads}


def searches(store):
    """The search query of each bulk export the store was asked for, in order."""
    found = [re.search(r'query: "([^"]*)"', op["query"]) for op in store.bulk_operations.values()]
    return [match[1] if match else None for match in found]


def exported(store):
    """The ids of the orders in each bulk export's file, in the order they were started."""
    return [
        [
            json.loads(line)["legacyResourceId"]
            for line in store.bulk_outputs.get(number, "").splitlines()
            if "__parentId" not in line
        ]
        for number in store.bulk_operations
    ]


def statuses(store):
    return [operation["status"] for operation in store.bulk_operations.values()]


def on_completion(store, before=None, after=None, hold=None):
    """Run ``before`` and ``after`` around each bulk operation the store would complete; one
    that ``hold`` picks is left as it is."""
    complete = store._complete

    def completing(operation):
        if before is not None:
            before(operation)
        if hold is None or not hold(operation):
            complete(operation)
        if after is not None:
            after(operation)

    store._complete = completing


def exports_at_each_completion(store):
    """How many bulk exports the store had each time it completed one, as it goes."""
    seen = []
    on_completion(store, before=lambda _: seen.append(len(store.bulk_operations)))
    return seen


async def first_sync(tmp_path, store, **settings):
    """A first sync of the store's orders: its report, and the ids of the orders stored."""
    async with client(tmp_path, store, **settings) as om:
        await om.set_stock("MUG", 100)
        report = await om.sync()
        stored = [s.order.external_id for s in await om.orders(limit=100)]
    return report, stored


async def earlier_exports(store, count):
    """Bulk exports of this app that hold ``count`` of its places in the store (a sync
    stopped half-way, another process with the same token): they never complete here."""
    headers = {"X-Shopify-Access-Token": SETTINGS["access_token"]}
    async with httpx.AsyncClient(transport=store.transport(), headers=headers) as app:
        for _ in range(count):
            body = {"query": Q.BULK_RUN, "variables": {"query": Q.bulk_orders()}}
            answer = await app.post(
                "https://acme.myshopify.com/admin/api/2026-07/graphql.json", json=body
            )
            assert answer.json()["data"]["bulkOperationRunQuery"]["userErrors"] == []


async def test_a_first_sync_exports_spans_of_creation_time_at_once_each_order_once(tmp_path):
    store = shop()
    store.edit_quantity("MUG", 100)
    placed = [store.place_order("MUG", 1) for _ in range(12)]  # a second apart
    started = exports_at_each_completion(store)
    report, stored = await first_sync(tmp_path, store)
    assert report.ok, report.to_dict()
    assert report.channels["shopify"].counts["orders_imported"] == 12
    assert sorted(stored) == sorted(placed)
    assert started[0] == 5  # all five started before the first was done
    spans = searches(store)
    assert len(spans) == 5
    assert spans[0].startswith("created_at:<'") and spans[-1].startswith("created_at:>='")
    assert all(" created_at:<'" in search for search in spans[1:-1])
    files = exported(store)
    assert all(files)  # placed a second apart, every span has orders
    assert sorted(number for numbers in files for number in numbers) == sorted(placed)


async def test_an_order_changed_while_shopify_exports_is_read_by_the_next_sync(tmp_path):
    store = shop()
    store.edit_quantity("MUG", 100)
    placed = [store.place_order("MUG", 1) for _ in range(6)]

    def meanwhile(operation):  # once the oldest span is exported, before the newest is
        if operation["id"] == min(store.bulk_operations):
            store.cancel(placed[0])
            store.touch_order(placed[-1])  # a later change, which the newest span has

    on_completion(store, after=meanwhile)
    # No overlap: the cursor alone must bring the cancellation back.
    async with client(tmp_path, store, channel={"overlap_seconds": 0}) as om:
        await om.set_stock("MUG", 100)
        first = await om.sync()
        with om.engine.ctx.store.reading() as tx:
            cursor = tx.cursor("shopify", "orders")
        second = await om.sync()
        stored = {s.order.external_id: s.order for s in await om.orders(limit=100)}
    assert first.ok and second.ok, (first.to_dict(), second.to_dict())
    began = min(operation["created_at"] for operation in store.bulk_operations.values())
    assert cursor == datetime.fromisoformat(began)  # when the first export began
    assert stored[placed[0]].status == OrderStatus.CANCELLED
    assert {stored[number].status for number in placed[1:]} == {OrderStatus.OPEN}


async def test_a_span_imports_while_shopify_still_exports_the_newer_ones(tmp_path, monkeypatch):
    import threading

    from omnisync_shopify import _adapter

    store = shop()
    store.edit_quantity("MUG", 100)
    for _ in range(6):
        store.place_order("MUG", 1)
    read = threading.Event()
    bulk_page = _adapter.ShopifyAdapter._bulk_page

    def reading(self, pages):
        page = bulk_page(self, pages)
        read.set()
        return page

    monkeypatch.setattr(_adapter.ShopifyAdapter, "_bulk_page", reading)
    waited = []

    def newest(operation):  # the newest span is exported once the oldest is being read
        if operation["id"] == max(store.bulk_operations):
            waited.append(read.wait(10))

    on_completion(store, before=newest)
    async with client(tmp_path, store, bulk_parts=3) as om:
        await om.set_stock("MUG", 100)
        report = await om.sync()
    assert report.channels["shopify"].counts["orders_imported"] == 6, report.to_dict()
    assert waited == [True]


@pytest.fixture
def spool(tmp_path, monkeypatch):
    """Where temporary files go: downloaded exports included."""
    import tempfile

    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


async def test_a_pull_stopped_early_leaves_no_export_behind(tmp_path, spool):
    import asyncio

    store = shop()
    for _ in range(6):
        store.place_order("MUG", 1)
    # The newest span is still exporting when the pull stops.
    on_completion(store, hold=lambda operation: operation["id"] == max(store.bulk_operations))
    async with client(tmp_path, store, bulk_parts=3) as om:
        running = asyncio.all_tasks()
        pages = om.engine.adapter("shopify").pull_orders(None)
        first = await anext(pages)
        for _ in range(1000):  # the second span downloads meanwhile
            if len(list(spool.iterdir())) == 2:
                break
            await asyncio.sleep(0.001)
        assert len(list(spool.iterdir())) == 2
        await pages.aclose()
        assert asyncio.all_tasks() == running  # nothing still awaiting an export
    assert len(first.items) == 2
    assert list(spool.iterdir()) == []
    # Cancelled, the newest export no longer holds one of the app's places.
    assert statuses(store) == ["COMPLETED", "COMPLETED", "CANCELED"]


async def test_a_failed_export_stops_the_pull_and_the_rest_are_cancelled(tmp_path, spool):
    store = shop()
    store.edit_quantity("MUG", 100)
    placed = [store.place_order("MUG", 1) for _ in range(6)]

    def failing(operation):
        if operation["id"] == sorted(store.bulk_operations)[1]:
            operation.update(status="FAILED", error_code="INTERNAL_SERVER_ERROR")

    on_completion(store, before=failing, hold=lambda operation: operation["status"] == "FAILED")
    report, stored = await first_sync(tmp_path, store, bulk_parts=3)
    [error] = report.channels["shopify"].errors
    assert "the bulk export ended FAILED (INTERNAL_SERVER_ERROR)" in error
    assert sorted(stored) == sorted(placed[:2])  # the first span
    assert statuses(store) == ["COMPLETED", "FAILED", "CANCELED"]
    assert list(spool.iterdir()) == []


async def test_spans_shopify_cannot_take_yet_follow_as_one_once_one_of_ours_is_done(tmp_path):
    store = shop()
    store.edit_quantity("MUG", 100)
    placed = [store.place_order("MUG", 1) for _ in range(10)]
    await earlier_exports(store, 3)
    started = exports_at_each_completion(store)
    report, stored = await first_sync(tmp_path, store)
    assert report.ok, report.to_dict()
    assert report.channels["shopify"].counts["orders_imported"] == 10
    assert sorted(stored) == sorted(placed)
    first, second, rest = searches(store)[3:]
    assert first.startswith("created_at:<'")
    lower = second.split(" ")[1].removeprefix("created_at:<")
    assert rest == f"created_at:>={lower}"  # from where the second ends, to the newest
    # The rest started once the first span was exported, before the second was.
    assert started == [5, 6, 6]


async def test_the_rest_of_an_export_that_cannot_start_fails_the_pull(tmp_path):
    store = shop()
    store.edit_quantity("MUG", 100)
    for _ in range(10):
        store.place_order("MUG", 1)
    await earlier_exports(store, 3)

    def more(_):  # meanwhile more exports of the app take every place left
        if len(store.bulk_operations) == 5:
            for _ in range(2):
                number = store.next_number()
                earlier = store.bulk_operations[min(store.bulk_operations)]
                store.bulk_operations[number] = {**earlier, "id": number}

    on_completion(store, after=more)
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 100)
        report = await om.sync()
        again = await om.sync()  # still a first sync: nothing marked the orders as read
        stored = await om.orders(limit=100)
    [error] = report.channels["shopify"].errors
    assert "Shopify started no bulk export for the newest orders" in error
    assert "The next sync starts over" in error
    assert report.channels["shopify"].counts["orders_imported"] > 0  # the spans it read
    assert len(searches(store)) == 7  # the app's other exports, and two of this sync
    # The places are still taken: the next sync pages through the orders.
    assert again.ok, again.to_dict()
    assert len(stored) == 10


async def test_an_export_refused_for_another_reason_fails_the_pull_and_cancels_the_rest(
    tmp_path,
):
    store = shop()
    for _ in range(6):
        store.place_order("MUG", 1)
    problem, asked = store._bulk_query_problem, []

    def second_invalid(query):
        asked.append(query)
        return "Invalid bulk query: refused on purpose" if len(asked) == 2 else problem(query)

    store._bulk_query_problem = second_invalid
    async with client(tmp_path, store) as om:
        report = await om.sync()
    [error] = report.channels["shopify"].errors
    assert "Shopify refused a bulk export: Invalid bulk query: refused on purpose" in error
    assert statuses(store) == ["CANCELED"]  # the first, started before the refusal


async def test_starting_an_export_is_not_sent_again_when_its_answer_is_lost(tmp_path):
    store = shop()
    for _ in range(6):
        store.place_order("MUG", 1)
    inner = store.transport()

    class LosingAnAnswer(httpx.AsyncBaseTransport):
        lost = False

        async def handle_async_request(self, request):
            response = await inner.handle_async_request(request)
            if not self.lost and b"bulkOperationRunQuery" in request.content:
                self.lost = True  # Shopify started it; the answer never arrives
                raise httpx.ReadError("the connection dropped", request=request)
            return response

    loaded = client(tmp_path, store).config
    async with AsyncOmnisync(loaded, transports={"shopify": LosingAnAnswer()}) as om:
        report = await om.sync()
    assert report.channels["shopify"].errors
    assert len(store.bulk_operations) == 1  # sent again, it would hold a second place


async def test_a_first_sync_pages_when_shopify_takes_no_export(tmp_path):
    store = shop()
    store.edit_quantity("MUG", 100)
    placed = [store.place_order("MUG", 1) for _ in range(4)]
    await earlier_exports(store, 5)
    report, stored = await first_sync(tmp_path, store)
    assert report.ok, report.to_dict()
    assert sorted(stored) == sorted(placed)
    assert len(store.bulk_operations) == 5  # the earlier ones alone


async def test_before_api_2026_01_a_first_sync_is_one_export(tmp_path):
    store = shop()
    store.edit_quantity("MUG", 100)
    placed = [store.place_order("MUG", 1) for _ in range(4)]
    inner = store.transport()

    class Older(httpx.AsyncBaseTransport):  # answered as 2026-01: the simulator's oldest
        async def handle_async_request(self, request):
            seen.append(request.url.path)
            path = request.url.path.replace("/2025-10/", "/2026-01/")
            request.url = request.url.copy_with(path=path)
            return await inner.handle_async_request(request)

    seen: list[str] = []
    loaded = client(tmp_path, store, api_version="2025-10").config
    async with AsyncOmnisync(loaded, transports={"shopify": Older()}) as om:
        await om.set_stock("MUG", 100)
        report = await om.sync()
        stored = [s.order.external_id for s in await om.orders(limit=100)]
    assert report.ok, report.to_dict()
    assert "/admin/api/2025-10/graphql.json" in seen
    assert sorted(stored) == sorted(placed)
    assert searches(store) == [None]


async def test_pages_are_sized_to_stay_under_the_query_cost_limit(tmp_path):
    store = shop()
    for _ in range(12):
        store.place_order("MUG", 1)
    async with client(tmp_path, store, bulk_first_sync=False) as om:
        await om.set_stock("MUG", 100)
        report = await om.sync()
    assert report.ok, report.to_dict()
    assert report.channels["shopify"].counts["orders_imported"] == 12


def drained_at_the_next_query(store):
    """Empty the store's budget as its next query arrives: that query is throttled however
    long the sync took to send it (the budget refills in milliseconds here)."""
    execute = store._execute

    def draining(*args, **kwargs):
        store._execute = execute
        store.drain_budget(0)
        return execute(*args, **kwargs)

    store._execute = draining


async def test_a_throttled_query_is_retried_once_the_budget_refills(tmp_path):
    store = shop(restore_rate=5000.0)
    store.place_order("MUG", 1)
    async with client(tmp_path, store, bulk_first_sync=False) as om:
        await om.set_stock("MUG", 100)
        drained_at_the_next_query(store)
        report = await om.sync()
    assert report.ok, report.to_dict()
    assert report.channels["shopify"].counts["http_rate_limited"] >= 1
    assert report.channels["shopify"].counts["orders_imported"] == 1


async def test_stock_is_set_with_compare_and_set_and_never_above_what_the_channel_has(tmp_path):
    store = shop()
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        assert store.shown("MUG") == 10
        store.buy({"MUG": 3})  # sold on Shopify; omnisync has not imported it yet
        await om.set_stock("MUG", 12)  # a delivery: omnisync now wants 12 shown
        await om.engine.run_step("shopify", Capability.PUSH_STOCK)
        # The compare was stale: Shopify shows 7 and keeps it, rather than 12.
        assert store.shown("MUG") == 7
        await om.sync()  # imports the sale: 12 - 3 reserved = 9
        await om.sync()
    assert store.shown("MUG") == 9


async def test_a_sale_between_read_and_write_is_never_overwritten(tmp_path):
    store = shop()
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        await om.set_stock("MUG", 15)
        store.faults.arm("stale")  # one unit sells while the write is on its way
        before = len(store.batch_sizes)
        report = await om.sync()
    assert report.ok, report.to_dict()
    # 20 - 1 sold under the compare: Shopify keeps 9, never the 15 asked for.
    assert store.shown("MUG") == 9
    # Refused as stale, and not sent again: 9 is already below 15.
    assert store.batch_sizes[before:] == [1]


async def test_a_stale_item_the_channel_shows_more_of_is_sent_again_against_it(tmp_path):
    store = shop()
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        store.edit_quantity("MUG", 30)  # a merchant's edit in Shopify's back office
        await om.set_stock("MUG", 8)
        before = len(store.batch_sizes)
        await om.engine.run_step("shopify", Capability.PUSH_STOCK)
    assert store.shown("MUG") == 8
    assert store.batch_sizes[before:] == [1, 1]  # refused as stale, then sent against 30


async def test_an_item_shopify_refuses_is_quarantined_and_the_rest_land(tmp_path):
    store = shop()
    store.add_product("GHOST", quantity=0, stocked=False)  # not stocked at the location
    async with client(tmp_path, store) as om:
        for sku in ("MUG", "TEE", "GHOST"):
            await om.set_stock(sku, 4)
        report = await om.sync()
        letters = await om.dead_letters()
    assert (store.shown("MUG"), store.shown("TEE")) == (4, 4)
    assert report.channels["shopify"].counts["pushed"] == 2
    assert [(d.kind, d.key) for d in letters] == [("stock_push", "GHOST")]


async def test_a_lost_answer_to_a_stock_update_is_retried_and_applied_once(tmp_path):
    store = shop()
    async with client(tmp_path, store, location_id="gid://shopify/Location/1") as om:
        await om.set_stock("MUG", 4)
        await om.set_stock("TEE", 4)
        await om.set_stock("CAP", 4)
        adapter = om.engine.adapter("shopify")
        listings = [item async for page in adapter.pull_listings() for item in page.items]
        updates = [StockUpdate(sku=li.sku, quantity=6, previous=20, listing=li) for li in listings]
        store.faults.inject("drop")  # the mutation runs, its answer never arrives
        results = await adapter.push_stock(updates)
    assert all(r.ok for r in results), results
    assert [store.shown(s) for s in ("MUG", "TEE", "CAP")] == [6, 6, 6]
    assert store.batch_sizes[-2:] == [3, 3]  # sent twice under one key, applied once


async def test_an_order_with_many_lines_is_read_whole(tmp_path):
    store = ShopifySimulator(restore_rate=50_000.0)
    skus = [f"SKU-{n:02}" for n in range(23)]
    for sku in skus:
        store.add_product(sku, quantity=5)
    placed = store.buy(dict.fromkeys(skus, 1))
    async with client(tmp_path, store, bulk_first_sync=False, line_items=10) as om:
        for sku in skus:
            await om.set_stock(sku, 5)
        await om.sync()
        [stored] = await om.orders()
    assert stored.order.external_id == str(placed["id"])
    assert sorted(line.sku for line in stored.order.lines) == skus


async def test_fulfilments_reach_shopify_once(tmp_path):
    store = shop()
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        placed = store.buy({"MUG": 2})
        await om.sync()
        line = str(placed["line_items"][0]["id"])
        fulfilment = Fulfilment(
            channel="shopify",
            order_id=str(placed["id"]),
            lines=(FulfilmentLine(line_id=line, quantity=2),),
            carrier="DHL",
            tracking_number="JD0001",
        )
        # Read the fulfilment orders, then the creation runs but its answer is lost.
        store.faults.inject("pass", "drop")
        with pytest.raises(Exception, match="could not be sent"):
            await om.fulfil(fulfilment)
        await om.sync()  # sent again: finds it done, by its tracking number
        await om.sync()
        [stored] = await om.orders()
    assert stored.order.fulfilment_status.value == "fulfilled"
    assert len(store.orders[placed["id"]]["fulfillments"]) == 1


async def test_webhooks_orders_refunds_and_quantity_edits(tmp_path):
    store = shop()
    store.duplicate_webhooks = True
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        store.drain_webhooks()
        placed = store.buy({"MUG": 1})
        deliveries = store.drain_webhooks()
        created = [d for d in deliveries if d[0]["X-Shopify-Topic"] == "orders/create"]
        assert len(created) == 2  # the same event, delivered twice
        assert (await om.handle_webhook("shopify", *created[0])).counts["orders_imported"] == 1
        assert (await om.handle_webhook("shopify", *created[1])).status == "duplicate"
        headers, body = created[0]
        with pytest.raises(SignatureError):
            await om.handle_webhook(
                "shopify", {**headers, "X-Shopify-Event-Id": "x"}, body.replace(b'"MUG"', b'"TEE"')
            )
        store.edit_quantity("MUG", 50)  # someone edits the quantity in Shopify's admin
        for delivery in store.drain_webhooks():
            await om.handle_webhook("shopify", *delivery)
        await om.sync()
        assert store.shown("MUG") == 9  # set back to what omnisync computes
    assert placed


async def test_a_high_risk_order_is_held(tmp_path):
    store = shop()
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 10)
        await om.sync()
        store.buy({"MUG": 1}, risk="HIGH")
        await om.sync()
        [held] = await om.orders(held=True)
    assert held.hold_reason.startswith("high risk (shopify)")


async def test_the_2026_01_api_version_works_too(tmp_path):
    store = shop()
    store.place_order("MUG", 1)
    async with client(tmp_path, store, api_version="2026-01") as om:
        await om.set_stock("MUG", 10)
        report = await om.sync()
    assert report.ok, report.to_dict()
    assert store.shown("MUG") == 9


async def test_the_access_token_never_reaches_the_bulk_file_host(tmp_path):
    store = shop()
    store.place_order("MUG", 1)
    seen: list[httpx.Request] = []
    inner = store.transport()

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            seen.append(request)
            return await inner.handle_async_request(request)

    loaded = client(tmp_path, store).config
    async with AsyncOmnisync(loaded, transports={"shopify": Spy()}) as om:
        await om.set_stock("MUG", 10)
        assert (await om.sync()).ok
    downloads = [r for r in seen if "bulk-operation-outputs" in r.url.path]
    assert downloads
    assert all("X-Shopify-Access-Token" not in r.headers for r in downloads)


def test_a_bulk_file_is_put_together_whatever_the_order_of_its_lines():
    from omnisync_shopify._bulkfile import BulkFile

    lines = [
        {"id": "gid://shopify/LineItem/21", "sku": "B", "__parentId": "gid://shopify/Order/2"},
        {"id": "gid://shopify/Order/1", "name": "#1"},
        {"id": "gid://shopify/Order/2", "name": "#2"},
        {"id": "gid://shopify/LineItem/11", "sku": "A", "__parentId": "gid://shopify/Order/1"},
        {"id": "gid://shopify/ShippingLine/12", "__parentId": "gid://shopify/Order/1"},
        {"id": "gid://shopify/LineItem/22", "sku": "C", "__parentId": "gid://shopify/Order/2"},
        {"id": "gid://shopify/Order/3", "name": "#3"},
    ]
    with BulkFile() as export:
        export.file.write(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
        pages = [orders for orders, rejects in export.orders(2) if not rejects]
    assert [[order["name"] for order in page] for page in pages] == [["#1", "#2"], ["#3"]]
    first, second = pages[0]
    assert [item["sku"] for item in first["lineItems"]] == ["A"]
    assert [item["id"] for item in first["shippingLines"]] == ["gid://shopify/ShippingLine/12"]
    assert [item["sku"] for item in second["lineItems"]] == ["B", "C"]  # one came before it
    assert "__parentId" not in second["lineItems"][0]
    assert pages[1][0]["lineItems"] == []


def bulk_pages(lines):
    """The pages (orders, rejected) a bulk export of ``lines`` reads as."""
    from omnisync_shopify._bulkfile import BulkFile

    with BulkFile() as export:
        export.file.write(b"\n".join(lines) + b"\n")
        return list(export.orders(10))


def test_a_bulk_line_is_given_to_its_parent_wherever_the_line_names_it():
    lines = [
        b'{"id":"gid://shopify/Order/1","note":"\\",\\"__parentId\\":\\"gid://shopify/Order/2\\"}"}',
        b'{"id":"gid://shopify/Order/2","x":{"__parentId":"gid://shopify/Order/1"}}',
        b'{"__parentId":"gid://shopify/Order/2","id":"gid://shopify/LineItem/21","sku":"B"}',
        b'{"id":"gid://shopify/LineItem/11","sku":"A","__parentId":"gid://shopify/Order/1"}',
    ]
    [(page, [])] = bulk_pages(lines)
    first, second = page
    assert first["note"] == '","__parentId":"gid://shopify/Order/2"}'
    assert [item["sku"] for item in first["lineItems"]] == ["A"]
    assert [item["sku"] for item in second["lineItems"]] == ["B"]


def test_a_bulk_line_not_json_rejects_only_its_own_order():
    lines = [
        b'{"id":"gid://shopify/Order/1","name":"#1"}',
        b'{"id":"gid://shopify/LineItem/11","sku":"A","__parentId":"gid://shopify/Order/1"}',
        b'{"id":"gid://shopify/Order/2","name":"#2"}',
        b'{"id":"gid://shopify/LineItem/21","sku":"B","__par',  # cut before it names #2
        b'{"id":"gid://shopify/LineItem/22","sku":"C","__parentId":"gid://shopify/Order/2"}',
        b'{"id":"gid://shopify/Order/3","na',  # the order's own line, cut short
        b'{"id":"gid://shopify/LineItem/31","sku":"E","__parentId":"gid://shopify/Order/3"}',
        b'{"id":"gid://shopify/Order/4","name":"#4"}',
        b'{"id":"gid://shopify/LineItem/41","sku":"D", "__parentId":"gid://shopify/Order/4", x}',
        b'{"id":"gid://shopify/Order/5","name":"#5"}',
        b'{"id":"gid://shopify/LineItem/61","sku":"F","__parentId":"gid://shopify/Order/6"}',
        b'{"name":"no id"}',
    ]
    pages = bulk_pages(lines)
    orders = [order for page, _ in pages for order in page]
    rejects = {r.key: r for _, page in pages for r in page}
    assert [order["name"] for order in orders] == ["#1", "#5"]
    assert set(rejects) == {"2", "3", "4", "6", "line-12"}
    assert all(r.kind == "order" for r in rejects.values())
    assert "line 4 of the bulk export is not a JSON object" in rejects["2"].reason
    assert rejects["2"].payload["order"]["name"] == "#2"
    assert rejects["4"].payload["text"].endswith(", x}")
    assert "own line of the bulk export could not be read" in rejects["6"].reason


def test_a_bulk_export_cut_inside_an_order_line_rejects_that_order_alone():
    lines = [
        b'{"id":"gid://shopify/Order/1","name":"#1"}',
        b'{"id":"gid://shopify/LineItem/11","sku":"A","__parentId":"gid://shopify/Order/1"}',
        b'{"id":"gid://shopify/Order/2","name":"#2","upd',  # the download ends here
    ]
    pages = bulk_pages(lines)
    assert [order["name"] for page, _ in pages for order in page] == ["#1"]
    assert [r.key for _, page in pages for r in page] == ["2"]


def test_a_bulk_item_that_no_longer_names_its_order_rejects_the_order_before_it():
    lines = [
        b'{"id":"gid://shopify/Order/1","name":"#1"}',
        b'{"id":"gid://shopify/LineItem/11","sku":"A","__pa{"id":"gid://shopify/Order/2"}',
        b'{"id":"gid://shopify/LineItem/21","sku":"B","__parentId":"gid://shopify/Order/2"}',
        b'{"id":"gid://shopify/Order/3","name":"#3"}',
    ]
    pages = bulk_pages(lines)
    assert [order["name"] for page, _ in pages for order in page] == ["#3"]
    # Order 1 lost an item; order 2's own line was run into it, so only its item is left.
    assert sorted(r.key for _, page in pages for r in page) == ["1", "2"]


async def test_a_first_sync_quarantines_an_order_whose_bulk_lines_are_broken(tmp_path):
    store = shop()
    store.edit_quantity("MUG", 100)
    placed = [store.place_order("MUG", 1) for _ in range(3)]

    def damaging(operation):  # the second order's line item arrives cut short
        text = store.bulk_outputs.get(operation["id"], "")
        lines = text.splitlines(keepends=True)
        for n, line in enumerate(lines):
            if f'"__parentId":"gid://shopify/Order/{placed[1]}"' in line:
                lines[n] = line[:30] + "\n"
        store.bulk_outputs[operation["id"]] = "".join(lines)

    on_completion(store, after=damaging)
    async with client(tmp_path, store) as om:
        await om.set_stock("MUG", 100)
        report = await om.sync()
        letters = await om.dead_letters()
        stored = await om.orders(limit=10)
    counts = report.channels["shopify"].counts
    assert not report.failed, report.channels["shopify"].errors  # the pull went on
    assert (counts["orders_imported"], counts["quarantined"]) == (2, 1)
    assert {s.order.external_id for s in stored} == {placed[0], placed[2]}
    assert [(letter.kind, letter.key) for letter in letters] == [("order", placed[1])]
    assert "is not a JSON object" in letters[0].reason


async def test_a_push_is_planned_once_the_budget_holds_what_it_costs(tmp_path):
    store = shop()
    async with client(tmp_path, store) as om:
        adapter = om.engine.adapter("shopify")
        now = {"t": 0.0}

        async def sleep(seconds: float) -> None:
            now["t"] += seconds

        adapter.http.limiter = RateLimiter(100, 2000, clock=lambda: now["t"], sleep=sleep)
        adapter.http.limiter.observe(5.0)  # 5 points left; an unknown mutation may cost 50
        await adapter.ready()
    assert now["t"] == pytest.approx(0.45)
