"""The ``shopify`` adapter: the Shopify Admin GraphQL API.

Facts it relies on (shopify.dev/docs/api/admin-graphql, versions 2026-01 to 2026-07, and
shopify.dev/docs/api/usage/rate-limits): one endpoint, ``POST /admin/api/{version}/
graphql.json`` with ``X-Shopify-Access-Token``; a calculated-cost budget reported in
``extensions.cost.throttleStatus``, and a ``THROTTLED`` error, with HTTP 200 or 429, when a
query costs more than is left; ``inventorySetQuantities`` takes at most 250 quantities, each
with a ``changeFromQuantity`` compare-and-set (mandatory from 2026-04, as is ``@idempotent``
on the mutation), and reports per-item ``userErrors``; fulfilments are created on fulfilment
orders; webhooks are signed base64(HMAC-SHA256(body, client secret)) in
``X-Shopify-Hmac-Sha256`` and carry ``X-Shopify-Event-Id``, the same on every redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from contextlib import aclosing, closing
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

import httpx
from pydantic import Field, JsonValue, SecretStr

from omnisync.adapters import (
    Capability,
    HeaderAuth,
    HTTPAdapter,
    HTTPSettings,
    Limits,
    Offer,
    Page,
    RateLimit,
    RejectedRecord,
    WebhookEvent,
    cancel_and_wait,
    in_thread,
    map_records,
    resend_after_stale,
    secret,
)
from omnisync.errors import (
    ChannelError,
    ConfigError,
    InvalidPayloadError,
    PermanentError,
    RateLimitedError,
    RecordError,
    TransientError,
)
from omnisync.http import json_loads
from omnisync.models import Fulfilment, Listing, Order, StockPushResult, StockUpdate
from omnisync.webhooks import verify_hmac_sha256_base64
from omnisync_shopify import _queries as q
from omnisync_shopify._bulkfile import BulkFile
from omnisync_shopify._exports import (
    PARALLEL_FROM,
    Span,
    creation_spans,
    iso_seconds,
    span_search,
)
from omnisync_shopify._mapping import (
    map_graphql_order,
    map_refund,
    map_rest_order,
    numeric_id,
)

__all__ = ["ShopifyAdapter", "ShopifySettings"]

log = logging.getLogger("omnisync.shopify")

STALE = "CHANGE_FROM_QUANTITY_STALE"
_SHIPPABLE = ("OPEN", "IN_PROGRESS")
# Shopify refuses a query costing more than 1000 points (shopify.dev/docs/api/usage/limits);
# pages are sized to stay under it with room to spare.
_QUERY_BUDGET = 900.0


class ShopifySettings(HTTPSettings):
    """Settings of the ``shopify`` adapter.

    ``shop`` is the store's handle (``acme`` for acme.myshopify.com); ``base_url`` overrides
    the address altogether. ``location_id`` is where stock is set (default: the first active
    location that fulfils online orders). A page holds at most ``page_size`` orders, fewer
    when their cost would pass Shopify's limit of 1000 points a query, with ``line_items``
    line items each (more are fetched separately).

    The first sync of a shop exports its orders by bulk operation unless ``bulk_first_sync``
    is off: from API 2026-01, ``bulk_parts`` operations at once, each over a span of the
    orders' creation times (one operation before 2026-01, which runs one at a time), so that
    the oldest orders import while Shopify still exports the newer ones. The next export to
    download is polled every ``bulk_poll_seconds``.
    """

    shop: str | None = None
    access_token: SecretStr = secret(env="SHOPIFY_ACCESS_TOKEN", description="shpat_...")
    client_secret: SecretStr = secret(env="SHOPIFY_CLIENT_SECRET", default="")
    api_version: str = Field(default="2026-07", pattern=r"^\d{4}-\d{2}$")
    location_id: str | None = None
    page_size: int = Field(default=50, ge=1, le=250)
    line_items: int = Field(default=10, ge=1, le=250)
    bulk_first_sync: bool = True
    bulk_parts: int = Field(default=5, ge=1, le=5)
    bulk_poll_seconds: float = Field(default=2.0, ge=0)


def _gid(kind: str, value: str) -> str:
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value}"


def _order_key(payload: JsonValue) -> str:
    if isinstance(payload, dict):
        return numeric_id(payload.get("legacyResourceId") or payload.get("id") or "unknown")
    return "unknown"


# Shopify's codes for a bulk query refused because the app's places in the shop are taken
# (BulkOperationUserErrorCode): five from API 2026-01, one before.
_PLACES_TAKEN = ("LIMIT_REACHED", "OPERATION_IN_PROGRESS")
# How long a stopped pull spends cancelling the exports it will not read.
_CANCEL_SECONDS = 10.0
# Orders of a bulk export put together, mapped and imported at a time: a page's worth.
BULK_PAGE = 250


class _Refused(Exception):
    """Shopify did not start a bulk export; ``code`` says why."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Exports:
    """A first sync's bulk exports: those Shopify started, oldest span first; the span the
    others cover together when it took fewer than asked; and the operations not downloaded
    yet, cancelled if the pull stops before it reads them."""

    started: list[dict[str, Any]] = field(default_factory=list)
    rest: Span | None = None
    unfinished: set[str] = field(default_factory=set)

    def began(self) -> datetime:
        """When the first export began, by Shopify's clock."""
        return min(datetime.fromisoformat(op["createdAt"]) for op in self.started)


class ShopifyAdapter(HTTPAdapter):
    """A Shopify store: orders in, stock out, fulfilments out, webhooks."""

    name = "shopify"
    description = "Shopify (Admin GraphQL API)"
    capabilities = frozenset(
        {
            Capability.PULL_ORDERS,
            Capability.PULL_LISTINGS,
            Capability.PUSH_STOCK,
            Capability.PUSH_FULFILMENTS,
            Capability.WEBHOOKS,
        }
    )
    # Cost points, not requests: a 2000-point bucket refilling 100 a second is what stores
    # report today; the live values in every response's throttleStatus take over from these.
    # The budget is of cost over time, not of requests at once
    # (shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits), so two pushes of
    # different items may be out together.
    limits = Limits(
        stock_batch_size=250,
        push_concurrency=2,
        rate_limit=RateLimit(rate=100, burst=2000),
    )
    Settings = ShopifySettings
    settings: ShopifySettings
    default_base_url: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._costs: dict[str, float] = {}
        self._order_cost: float | None = None
        self._location_id: str | None = None
        self._skus_by_item: dict[str, str] = {}

    def base_url(self) -> str:
        if self.settings.base_url:
            return self.settings.base_url
        if not self.settings.shop:
            raise ConfigError(
                "set shop (the store's handle) or base_url",
                key=f"channels.{self.channel}.settings.shop",
            )
        shop = self.settings.shop.removesuffix(".myshopify.com")
        return f"https://{shop}.myshopify.com"

    def auth(self) -> httpx.Auth:
        return HeaderAuth("X-Shopify-Access-Token", self.settings.access_token)

    # GraphQL plumbing --------------------------------------------------------------------

    def classify_response(self, response: httpx.Response, channel: str) -> ChannelError | None:
        """A throttled query is a rate limit whether it comes as 429 or as 200."""
        if response.status_code in (200, 429) and b'"THROTTLED"' in response.content:
            return RateLimitedError(
                "Shopify throttled the query: its cost budget is spent",
                retry_after=_throttle_wait(response.content),
                channel=channel,
                method="POST",
                status_code=response.status_code,
            )
        return super().classify_response(response, channel)

    def _cost(self, document: str) -> float:
        """What ``document`` costs, as its last answer said; a guess until one has."""
        return self._costs.get(document, 50.0)

    async def ready(self) -> None:
        """Return once the budget holds what a stock push costs."""
        if self.http.limiter is not None:
            await self.http.limiter.ready(self._cost(q.INVENTORY_SET))

    async def _graphql(
        self, document: str, variables: dict[str, Any], *, idempotent: bool = True
    ) -> dict[str, Any]:
        """Run a document; returns ``data``. Queries (and keyed mutations) may be retried."""
        path = f"/admin/api/{self.settings.api_version}/graphql.json"
        body = await self.http.request_json(
            "POST",
            path,
            json={"query": document, "variables": variables},
            idempotent=idempotent,
            cost=self._cost(document),
        )
        if not isinstance(body, dict):
            raise InvalidPayloadError("the GraphQL answer is not an object", channel=self.channel)
        self._observe(document, body.get("extensions"))
        if body.get("errors"):
            messages = "; ".join(str(e.get("message")) for e in body["errors"])
            raise PermanentError(f"Shopify refused the query: {messages}", channel=self.channel)
        data = body.get("data")
        if not isinstance(data, dict):
            raise InvalidPayloadError("the GraphQL answer has no data", channel=self.channel)
        return data

    def _observe(self, document: str, extensions: Any) -> None:
        """Pace to the store's own budget, as each answer reports it."""
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        if not isinstance(cost, dict):
            return
        if cost.get("requestedQueryCost") is not None:
            self._costs[document] = float(cost["requestedQueryCost"])
        status = cost.get("throttleStatus") or {}
        limiter = self.http.limiter
        if limiter is not None and status:
            limiter.rate = float(status.get("restoreRate") or limiter.rate)
            limiter.burst = float(status.get("maximumAvailable") or limiter.burst)
            limiter.observe(float(status.get("currentlyAvailable", limiter.burst)))

    # Orders -----------------------------------------------------------------------------

    def map_order(self, payload: JsonValue) -> Order:
        if isinstance(payload, dict) and "currencyCode" in payload:
            return map_graphql_order(payload, self.channel)
        return map_rest_order(payload, self.channel)

    async def pull_orders(self, since: datetime | None) -> AsyncIterator[Page[Order]]:
        if since is None and self.settings.bulk_first_sync:
            exports = await self._start_exports()
            if exports is not None:
                # Closed with this generator, not whenever it is collected: its exports go then.
                async with aclosing(self._exported_pages(exports)) as pages:
                    async for page in pages:
                        yield page
                return
        async for page in self._paged_orders(since):
            yield page

    async def _start_exports(self) -> _Exports | None:
        """Start a first sync's bulk exports, one per span of creation time, as many as
        Shopify takes at once; ``None`` (page instead) when it takes none. The places are the
        app's in the shop: its own earlier exports (a sync stopped half-way, another process
        with the same token) may hold some."""
        spans = await self._export_spans()
        exports = _Exports()
        try:
            for span in spans:
                try:
                    operation = await self._run_export(span)
                except _Refused as refused:
                    if not exports.started:
                        log.warning("bulk export not started (%s); paging instead", refused)
                        return None
                    self._check_places_taken(refused)
                    log.info(
                        "%d of %d parts of the bulk export started (%s); the rest follows as one",
                        len(exports.started),
                        len(spans),
                        refused,
                    )
                    exports.rest = (span[0], None)
                    break
                exports.started.append(operation)
                exports.unfinished.add(operation["id"])
        except (Exception, asyncio.CancelledError):
            await self._cancel_exports(exports.unfinished)
            raise
        return exports

    async def _export_spans(self) -> list[Span]:
        """The spans of creation time to export apart: between the oldest and the newest
        order, and one for every order before API 2026-01."""
        if self.settings.bulk_parts == 1 or self.settings.api_version < PARALLEL_FROM:
            return [(None, None)]
        ends = await self._graphql(q.ORDER_SPAN, {})
        oldest, newest = ends["oldest"]["nodes"], ends["newest"]["nodes"]
        if not oldest or not newest:  # no order yet: one export of any placed meanwhile
            return [(None, None)]
        return creation_spans(
            datetime.fromisoformat(oldest[0]["createdAt"]),
            datetime.fromisoformat(newest[0]["createdAt"]),
            self.settings.bulk_parts,
        )

    async def _run_export(self, span: Span) -> dict[str, Any]:
        """Start the bulk export of ``span``'s orders. Sent once, not retried after a lost
        answer: a second operation would take another of the app's places."""
        query = q.bulk_orders(span_search(span))
        answer = await self._graphql(q.BULK_RUN, {"query": query}, idempotent=False)
        run = answer["bulkOperationRunQuery"]
        if run["userErrors"]:
            error = run["userErrors"][0]
            raise _Refused(error.get("code"), str(error.get("message")))
        operation: dict[str, Any] = run["bulkOperation"]
        return operation

    def _check_places_taken(self, refused: _Refused) -> None:
        """Go on only if Shopify refused an export because the app's places are taken."""
        if refused.code not in _PLACES_TAKEN:
            raise PermanentError(
                f"Shopify refused a bulk export: {refused} ({refused.code})", channel=self.channel
            )

    async def _exported_pages(self, exports: _Exports) -> AsyncGenerator[Page[Order], None]:
        """The exports' orders a page at a time, oldest span first, while a task of its own
        awaits and downloads the next exports: a span's orders import while Shopify still
        exports the later spans.

        The last page is a checkpoint at the moment the first export began, by Shopify's
        clock: an export reads the orders over minutes, so an order changed meanwhile may be
        in it as it was; the next pull reads again from there (less the overlap). Exports
        not yet complete when the pull stops are cancelled.
        """
        files: asyncio.Queue[BulkFile | Exception | None] = asyncio.Queue()
        fetching = asyncio.create_task(self._fetch_exports(exports, files))
        try:
            while (export := await files.get()) is not None:
                if isinstance(export, Exception):
                    raise export
                with export, closing(export.orders(BULK_PAGE)) as pages:
                    # In a thread: indexing an export of years of orders takes seconds, and
                    # the app's event loop (its webhooks, its other channels) goes on meanwhile.
                    while (page := await in_thread(partial(self._bulk_page, pages))) is not None:
                        yield page
            yield Page([], checkpoint=exports.began())
        finally:
            try:
                await cancel_and_wait(fetching)
            finally:
                while not files.empty():  # downloaded, never read: the pull stopped first
                    if isinstance(left := files.get_nowait(), BulkFile):
                        left.__exit__(None, None, None)
                await self._cancel_exports(exports.unfinished)

    async def _fetch_exports(
        self, exports: _Exports, files: asyncio.Queue[BulkFile | Exception | None]
    ) -> None:
        """Hand over each export's file in turn, oldest span first, then ``None``; or the
        error that stopped them, for the reader to raise. The rest, when Shopify took fewer
        than asked, is tried each time one of these exports has completed, and read last."""
        try:
            rest: dict[str, Any] | None = None
            for operation in exports.started:
                await files.put(await self._download_export(operation))
                exports.unfinished.discard(operation["id"])
                if exports.rest is not None and rest is None:
                    rest = await self._start_rest(exports.rest, exports)
            if exports.rest is not None:
                if rest is None:
                    raise TransientError(
                        "Shopify started no bulk export for the newest orders: the app's other "
                        "exports hold every place. The next sync starts over",
                        channel=self.channel,
                    )
                await files.put(await self._download_export(rest))
                exports.unfinished.discard(rest["id"])
            await files.put(None)
        except Exception as exc:
            await files.put(exc)

    async def _start_rest(self, span: Span, exports: _Exports) -> dict[str, Any] | None:
        """Start the export of the spans Shopify did not take at first: ``None`` while the
        app's places are still taken."""
        try:
            operation = await self._run_export(span)
        except _Refused as refused:
            self._check_places_taken(refused)
            return None
        exports.unfinished.add(operation["id"])
        return operation

    async def _cancel_exports(self, unfinished: set[str]) -> None:
        """Cancel exports no pull will read, so they stop holding the app's places (an export
        may run for up to ten days, shopify.dev/docs/api/usage/bulk-operations/queries). At
        best, together, and for `_CANCEL_SECONDS` at most: the pull stopped, often because
        Shopify is unwell, and one left running only holds its place until it ends."""
        if not unfinished:
            return
        ids, answers = sorted(unfinished), []
        unfinished.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CANCEL_SECONDS):
                answers = await asyncio.gather(
                    *(self._graphql(q.BULK_CANCEL, {"id": operation}) for operation in ids),
                    return_exceptions=True,
                )
        for operation, answer in itertools.zip_longest(ids, answers):
            if answer is None:
                problem: object = "no answer in time"
            elif isinstance(answer, BaseException):
                problem = answer
            else:
                problem = answer["bulkOperationCancel"]["userErrors"]
            if problem:
                log.info("bulk export %s not cancelled: %s", operation, problem)

    def _bulk_page(
        self, pages: Iterator[tuple[list[dict[str, Any]], list[RejectedRecord]]]
    ) -> Page[Order] | None:
        """The next page of orders of a bulk export, mapped; ``None`` after the last."""
        page = next(pages, None)
        if page is None:
            return None
        nodes, broken = page
        orders, rejects = map_records(nodes, self.map_order, kind="order", key=_order_key)
        return Page(orders, broken + rejects)

    def _page_size(self) -> int:
        """As many orders as fit the query budget, as the last page's cost tells."""
        if self._order_cost is None:
            return min(self.settings.page_size, 2)
        fits = int(_QUERY_BUDGET // max(self._order_cost, 1.0))
        return max(1, min(self.settings.page_size, fits))

    async def _paged_orders(self, since: datetime | None) -> AsyncIterator[Page[Order]]:
        query = f"updated_at:>='{iso_seconds(since)}'" if since is not None else None
        after: str | None = None
        while True:
            first = self._page_size()
            variables = {
                "first": first,
                "after": after,
                "query": query,
                "lines": self.settings.line_items,
            }
            connection = (await self._graphql(q.ORDERS, variables))["orders"]
            self._order_cost = (self._costs.get(q.ORDERS, 0.0) - 2) / first
            nodes = connection["nodes"]
            for node in nodes:
                await self._complete_line_items(node)
                await self._add_fulfilments(node)
            orders, rejects = map_records(nodes, self.map_order, kind="order", key=_order_key)
            # Sorted by update time: everything before this page's last order is delivered.
            yield Page(orders, rejects, max((o.updated_at for o in orders), default=None))
            info = connection["pageInfo"]
            if not info["hasNextPage"]:
                return
            after = info["endCursor"]

    async def _complete_line_items(self, node: dict[str, Any]) -> None:
        """Fetch the rest of an order's line items when they do not fit its first page."""
        items = node.get("lineItems") or {}
        info = items.get("pageInfo") or {}
        while info.get("hasNextPage"):
            variables = {
                "id": node["id"],
                "after": info["endCursor"],
                "lines": self.settings.line_items,
            }
            more = (await self._graphql(q.LINE_ITEMS, variables))["order"]["lineItems"]
            items["nodes"] = [*items["nodes"], *more["nodes"]]
            info = more["pageInfo"]
        items["pageInfo"] = info

    async def _add_fulfilments(self, node: dict[str, Any]) -> None:
        """Read what shipped, for an order with units taken off it (see ORDER_FULFILMENTS)."""
        lines = (node.get("lineItems") or {}).get("nodes") or []
        removed = any(line.get("currentQuantity") != line.get("quantity") for line in lines)
        if removed and node.get("displayFulfillmentStatus") != "UNFULFILLED":
            order = (await self._graphql(q.ORDER_FULFILMENTS, {"id": node["id"]}))["order"]
            node["fulfillments"] = order["fulfillments"]

    async def _download_export(self, operation: dict[str, Any]) -> BulkFile:
        """Poll a bulk export until it completes, and download its file."""
        while operation["status"] in ("CREATED", "RUNNING"):
            await asyncio.sleep(self.settings.bulk_poll_seconds)
            operation = (await self._graphql(q.BULK_POLL, {"id": operation["id"]}))["node"]
        if operation["status"] != "COMPLETED":
            raise TransientError(
                f"the bulk export ended {operation['status']} ({operation.get('errorCode')})",
                channel=self.channel,
            )
        export = BulkFile()
        if not operation.get("url"):
            return export  # no order to export: Shopify gives no file
        try:
            # The file sits on a storage host: it must not receive the store's access token.
            await self.http.download(operation["url"], export.file, auth=None, cost=0)
        except BaseException:
            export.__exit__(None, None, None)
            raise
        return export

    # Listings and stock ------------------------------------------------------------------

    async def pull_listings(self) -> AsyncIterator[Page[Listing]]:
        after: str | None = None
        while True:
            variables = {"first": 250, "after": after, "query": None}
            connection = (await self._graphql(q.VARIANTS, variables))["productVariants"]
            yield Page([self._listing(node) for node in connection["nodes"] if node.get("sku")])
            if not connection["pageInfo"]["hasNextPage"]:
                return
            after = connection["pageInfo"]["endCursor"]

    def _listing(self, node: dict[str, Any]) -> Listing:
        item = node["inventoryItem"]["id"]
        self._skus_by_item[numeric_id(item)] = node["sku"]
        return Listing(
            channel=self.channel,
            sku=node["sku"],
            product_id=numeric_id(node["product"]["id"]),
            variant_id=numeric_id(node["id"]),
            inventory_item_id=item,
        )

    async def _find(self, sku: str) -> Listing | None:
        # The SKU search is a search index, not an exact match: check what comes back.
        variables = {"first": 10, "after": None, "query": f"sku:'{sku}'"}
        nodes = (await self._graphql(q.VARIANTS, variables))["productVariants"]["nodes"]
        return next((self._listing(n) for n in nodes if n.get("sku") == sku), None)

    async def _location(self) -> str:
        if self._location_id is None:
            if self.settings.location_id:
                self._location_id = _gid("Location", self.settings.location_id)
            else:
                nodes = (await self._graphql(q.LOCATIONS, {}))["locations"]["nodes"]
                active = [n for n in nodes if n.get("isActive") and n.get("fulfillsOnlineOrders")]
                if not active:
                    raise ConfigError(
                        "the store has no active location that fulfils online orders",
                        key=f"channels.{self.channel}.settings.location_id",
                    )
                self._location_id = active[0]["id"]
        return self._location_id

    async def push_stock(self, updates: Sequence[StockUpdate]) -> list[StockPushResult]:
        """Set ``available`` with compare-and-set, so a sale omnisync has not seen is never
        overwritten: on a stale compare the current quantity is read, and the channel is
        never told to show more than it has left."""
        location = await self._location()
        items: dict[str, str] = {}
        results: dict[str, StockPushResult] = {}
        pending: list[tuple[StockUpdate, int | None]] = []
        for update in updates:
            listing = update.listing or await self._find(update.sku)
            if listing is None or not listing.inventory_item_id:
                results[update.sku] = StockPushResult(
                    sku=update.sku, ok=False, error="no variant in the store has this SKU"
                )
                continue
            items[update.sku] = listing.inventory_item_id
            pending.append((update, update.previous))
        for _ in range(3):
            if not pending:
                break
            pending = await self._set_round(pending, items, location, results)
        for update, _ in pending:
            results[update.sku] = StockPushResult(
                sku=update.sku,
                ok=False,
                retryable=True,
                error="the quantity kept changing in Shopify; the next sync tries again",
            )
        return [results[update.sku] for update in updates]

    async def _set_round(
        self,
        pending: list[tuple[StockUpdate, int | None]],
        items: Mapping[str, str],
        location: str,
        results: dict[str, StockPushResult],
    ) -> list[tuple[StockUpdate, int | None]]:
        """One inventorySetQuantities call; returns what must be sent again."""
        errors = await self._set(pending, items, location)
        if not errors:
            for update, _ in pending:
                results[update.sku] = StockPushResult(
                    sku=update.sku, ok=True, quantity=update.quantity
                )
            return []
        again = []
        for index, (update, compare) in enumerate(pending):
            code, message = errors.get(index, ("", ""))
            if code and code != STALE:
                results[update.sku] = StockPushResult(sku=update.sku, ok=False, error=message)
            else:
                again.append((update, compare, code == STALE))
        current = await self._available([items[u.sku] for u, _, _ in again], location)
        retry: list[tuple[StockUpdate, int | None]] = []
        for update, _, stale in again:
            now = current.get(items[update.sku])
            if now is None:
                results[update.sku] = StockPushResult(
                    sku=update.sku, ok=False, error="the item is not stocked at the location"
                )
            elif now == update.quantity:
                results[update.sku] = StockPushResult(sku=update.sku, ok=True, quantity=now)
            elif stale:  # sold meanwhile: never show more than the channel has left
                resend = resend_after_stale(update, now)
                if resend is None:
                    results[update.sku] = StockPushResult(sku=update.sku, ok=True, quantity=now)
                else:
                    retry.append((resend, resend.previous))
            else:  # held back by another item's error: send again against the fresh value
                retry.append((update, now))
        return retry

    async def _set(
        self,
        pending: Sequence[tuple[StockUpdate, int | None]],
        items: Mapping[str, str],
        location: str,
    ) -> dict[int, tuple[str, str]]:
        """Send one batch; the userErrors by the index of the quantity they name."""
        quantities = [
            {
                "inventoryItemId": items[update.sku],
                "locationId": location,
                "quantity": update.quantity,
                "changeFromQuantity": compare,
            }
            for update, compare in pending
        ]
        variables = {
            "input": {
                "name": "available",
                "reason": "correction",
                "referenceDocumentUri": f"gid://omnisync/StockPush/{uuid.uuid4()}",
                "quantities": quantities,
            },
            # The same key on every retry of this call: Shopify applies it once.
            "key": str(uuid.uuid4()),
        }
        payload = (await self._graphql(q.INVENTORY_SET, variables))["inventorySetQuantities"]
        errors: dict[int, tuple[str, str]] = {}
        for error in payload.get("userErrors") or []:
            field = error.get("field") or []
            if len(field) >= 3 and field[:2] == ["input", "quantities"] and field[2].isdigit():
                errors[int(field[2])] = (str(error.get("code") or ""), str(error["message"]))
            else:  # about the whole call: the same for every item, and for every retry
                raise PermanentError(
                    f"Shopify refused the stock update: {error['message']}", channel=self.channel
                )
        return errors

    async def _available(self, item_ids: list[str], location: str) -> dict[str, int]:
        if not item_ids:
            return {}
        variables = {"ids": item_ids, "location": location}
        nodes = (await self._graphql(q.INVENTORY_LEVELS, variables))["nodes"]
        current: dict[str, int] = {}
        for node in nodes:
            level = (node or {}).get("inventoryLevel")
            for quantity in (level or {}).get("quantities") or []:
                if quantity["name"] == "available":
                    current[node["id"]] = int(quantity["quantity"])
        return current

    # Fulfilments --------------------------------------------------------------------------

    async def push_fulfilment(self, fulfilment: Fulfilment) -> Fulfilment:
        """Create the fulfilment on the order's fulfilment orders.

        fulfillmentCreate takes no idempotency key, so it is not retried blindly; a later
        attempt finds the earlier one (by tracking number, or because nothing remains to
        ship) and returns it instead of shipping twice.
        """
        order_gid = _gid("Order", fulfilment.order_id)
        order = (await self._graphql(q.FULFILLMENT_ORDERS, {"id": order_gid}))["order"]
        if order is None:
            raise RecordError(
                f"Shopify has no order {fulfilment.order_id}",
                channel=self.channel,
                order=fulfilment.order_id,
            )
        existing = order.get("fulfillments") or []
        for known in existing:
            numbers = {info.get("number") for info in known.get("trackingInfo") or []}
            if fulfilment.tracking_number and fulfilment.tracking_number in numbers:
                return fulfilment.model_copy(update={"fulfilment_id": numeric_id(known["id"])})
        plan = _allocate(fulfilment, _nodes_of(order["fulfillmentOrders"]))
        if plan is None:
            if existing:  # shipped already: an earlier attempt whose answer was lost
                return fulfilment.model_copy(
                    update={"fulfilment_id": numeric_id(existing[-1]["id"])}
                )
            raise RecordError(
                "nothing of these lines is left to fulfil",
                channel=self.channel,
                order=fulfilment.order_id,
            )
        tracking = {
            key: value
            for key, value in (
                ("company", fulfilment.carrier),
                ("number", fulfilment.tracking_number),
                ("url", fulfilment.tracking_url),
            )
            if value
        }
        variables = {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": plan,
                "notifyCustomer": fulfilment.notify_customer,
                **({"trackingInfo": tracking} if tracking else {}),
            }
        }
        created = (await self._graphql(q.FULFILLMENT_CREATE, variables, idempotent=False))[
            "fulfillmentCreate"
        ]
        if created["userErrors"]:
            raise PermanentError(
                "Shopify refused the fulfilment: "
                + "; ".join(e["message"] for e in created["userErrors"]),
                channel=self.channel,
            )
        return fulfilment.model_copy(
            update={"fulfilment_id": numeric_id(created["fulfillment"]["id"])}
        )

    # Webhooks -----------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        secret_value = self.settings.client_secret
        if not secret_value.get_secret_value():
            raise InvalidPayloadError(
                "no client_secret is configured to verify webhooks",
                hint=f"set channels.{self.channel}.settings.client_secret",
                channel=self.channel,
            )
        verify_hmac_sha256_base64(
            secret_value, body, headers.get("X-Shopify-Hmac-Sha256"), channel=self.channel
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        topic = headers.get("X-Shopify-Topic", "")
        event_id = headers.get("X-Shopify-Event-Id") or headers.get("X-Shopify-Webhook-Id")
        if not event_id:
            raise InvalidPayloadError("webhook has no X-Shopify-Event-Id", channel=self.channel)
        try:
            payload = json_loads(body)
        except ValueError:
            raise InvalidPayloadError("webhook body is not JSON", channel=self.channel) from None
        if topic == "orders/delete":
            return WebhookEvent(event_id, topic, deleted_orders=(_order_key(payload),))
        if topic.startswith("orders/"):
            orders, rejects = map_records([payload], self.map_order, kind="order", key=_order_key)
            return WebhookEvent(event_id, topic, orders=tuple(orders), rejects=tuple(rejects))
        if topic == "refunds/create":
            found = map_refund(payload, self.channel)
            return WebhookEvent(event_id, topic, returns=(found,) if found else ())
        if topic == "inventory_levels/update" and isinstance(payload, dict):
            sku = self._skus_by_item.get(numeric_id(payload.get("inventory_item_id")))
            if sku is not None and payload.get("available") is not None:
                return WebhookEvent(
                    event_id, topic, offered=(Offer(sku, int(payload["available"])),)
                )
        return WebhookEvent(event_id, topic)


def _throttle_wait(content: bytes) -> float | None:
    """Seconds until the budget covers the query: (cost − available) / restore rate."""
    try:
        cost = json.loads(content)["extensions"]["cost"]
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(missing / float(status["restoreRate"]), 0.1)
    except (ValueError, KeyError, TypeError, ZeroDivisionError):
        return None


def _nodes_of(connection: Any) -> list[dict[str, Any]]:
    return list((connection or {}).get("nodes") or [])


def _allocate(
    fulfilment: Fulfilment, fulfilment_orders: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """Fulfilment-order line items covering the fulfilment; ``None`` if nothing remains.

    Raises `RecordError` when more is asked of a line than remains to ship.
    """
    wanted = {line.line_id: line.quantity for line in fulfilment.lines}
    plan: dict[str, list[dict[str, Any]]] = {}
    for fo in fulfilment_orders:
        if fo.get("status") not in _SHIPPABLE:
            continue
        for item in _nodes_of(fo.get("lineItems")):
            line_id = numeric_id(item["lineItem"]["id"])
            take = min(wanted.get(line_id, 0), int(item["remainingQuantity"]))
            if take > 0:
                plan.setdefault(fo["id"], []).append({"id": item["id"], "quantity": take})
                wanted[line_id] -= take
    if not plan:
        return None
    short = {line: left for line, left in wanted.items() if left > 0}
    if short:
        raise RecordError(
            f"more than remains to ship on line(s) {sorted(short)}", order=fulfilment.order_id
        )
    return [
        {"fulfillmentOrderId": fo, "fulfillmentOrderLineItems": lines} for fo, lines in plan.items()
    ]
