"""The ``vendure`` adapter: Vendure's Admin GraphQL API.

Facts it relies on (docs.vendure.io, the Admin API schema of @vendure/core 3.7.3, and what a
real 3.7.3 server does in this package's tests):

- One endpoint, ``POST {base_url}/admin-api``. ``login`` answers with the session token in
  the ``vendure-auth-token`` response header, sent back as ``Authorization: Bearer``; an API
  key goes in ``vendure-api-key`` (both need the server's ``authOptions.tokenMethod`` to
  allow them); ``vendure-token`` picks a channel (docs.vendure.io, "Authentication & Sessions",
  "Channels").
- Errors come with HTTP 200 as GraphQL ``errors`` with ``extensions.code`` (``FORBIDDEN``
  when the session is missing, expired or lacks a permission); invalid documents with HTTP
  400. Mutations report refusals as ``ErrorResult`` members of their result union.
- Money is an integer; the server's MoneyStrategy precision (``moneyStrategyPrecision`` in
  ``globalSettings.serverConfig``, 2 by default) says how many of its digits are decimals
  (docs.vendure.io, "Money & Currency", "MoneyStrategy").
- Saleable stock is ``stockOnHand - stockAllocated`` per stock location: placing an order
  allocates, creating a fulfillment turns the allocation into a sale (StockMovementService).
- There are no webhooks in Vendure's core (only plugins the merchant would have to write), so
  the adapter does not declare them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Generator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar, Self

import httpx
from pydantic import Field, JsonValue, SecretStr, model_validator

from omnisync.adapters import (
    Capability,
    HTTPAdapter,
    HTTPSettings,
    Limits,
    Page,
    RateLimit,
    map_records,
    secret,
)
from omnisync.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    InvalidPayloadError,
    PermanentError,
    RecordError,
    TransientError,
)
from omnisync.http import json_loads
from omnisync.models import Fulfilment, Listing, Order, StockPushResult, StockUpdate
from omnisync_vendure import _queries as q
from omnisync_vendure._mapping import map_listing, map_order, order_key

__all__ = ["VendureAdapter", "VendureSettings"]

log = logging.getLogger("omnisync.vendure")

OPEN_STATES = (
    "PaymentAuthorized",
    "PaymentSettled",
    "PartiallyShipped",
    "PartiallyDelivered",
    "Modifying",
    "ArrangingAdditionalPayment",
)
"""Placed orders that may still change in ways Vendure's ``updatedAt`` does not show."""

_AUTH_CODES = frozenset({"FORBIDDEN", "UNAUTHORIZED"})
_VARIANT_PAGE = 250
# Vendure's default adminListQueryLimit: no list query may take more.
_LIST_LIMIT = 1000


class VendureSettings(HTTPSettings):
    """Settings of the ``vendure`` adapter.

    ``base_url`` is the server (``https://shop.example``); ``admin_api_path`` is its
    ``apiOptions.adminApiPath``. Authenticate with ``api_key`` (an Admin API key, Vendure
    3.6+), or with ``username`` and ``password`` of an administrator, whose session is renewed
    when Vendure ends it. ``channel_token`` selects a Vendure channel (default: the default
    channel). ``stock_location_id`` is where stock is set; it may be left out when the
    channel has one stock location. Orders placed in the last ``recheck_days`` days, and
    orders in ``open_states``, are read again on every pull (see the README).
    ``fulfillment_handler`` creates fulfilments; its ``method`` and ``trackingCode``
    arguments get the carrier and tracking number. ``money_precision`` is the precision of
    the server's MoneyStrategy (the decimal places of its amounts); the adapter checks it
    against the server before it reads any money.
    """

    admin_api_path: str = "admin-api"
    username: str | None = Field(default=None, json_schema_extra={"env": "VENDURE_USERNAME"})
    password: SecretStr = secret(env="VENDURE_PASSWORD", default="")
    api_key: SecretStr = secret(env="VENDURE_API_KEY", default="")
    channel_token: str | None = None
    page_size: int = Field(default=50, ge=1, le=_LIST_LIMIT)
    stock_location_id: str | None = None
    open_states: tuple[str, ...] = OPEN_STATES
    recheck_days: float = Field(default=14, ge=0, le=3650)
    fulfillment_handler: str = Field(default="manual-fulfillment", min_length=1)
    money_precision: int = Field(default=2, ge=0, le=8)

    @model_validator(mode="after")
    def _has_credentials(self) -> Self:
        if not self.api_key.get_secret_value() and not (
            self.username and self.password.get_secret_value()
        ):
            raise ValueError("set api_key, or username and password of an administrator")
        return self


class _Session(httpx.Auth):
    """Adds the API key, or the current session token, to each request as it is sent: the
    token is never a default header of the client, and it can change after a new login."""

    def __init__(self, settings: VendureSettings) -> None:
        key = settings.api_key
        self.api_key = key if key.get_secret_value() else None
        self.channel_token = settings.channel_token
        self.token: SecretStr | None = None

    @property
    def logs_in(self) -> bool:
        """Whether the adapter logs in (rather than sending an API key)."""
        return self.api_key is None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.channel_token:
            request.headers["vendure-token"] = self.channel_token
        if self.api_key is not None:
            request.headers["vendure-api-key"] = self.api_key.get_secret_value()
        elif self.token is not None:
            request.headers["Authorization"] = "Bearer " + self.token.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "_Session('**********')"


def graphql_error(response: httpx.Response, channel: str) -> ChannelError | None:
    """The error a 200 answer's GraphQL ``errors`` stand for, if it has any.

    ``FORBIDDEN`` is an `AuthError` (no session, an expired one, or a missing permission);
    anything else is a `PermanentError` with Vendure's messages. A body that is not JSON is
    left to the caller, which retries it as a transient failure.
    """
    if b'"errors"' not in response.content:
        return None
    try:
        errors = json_loads(response.content).get("errors")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    if not isinstance(errors, list) or not errors:
        return None
    messages = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    codes = {str((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}
    final = AuthError if codes & _AUTH_CODES else PermanentError
    return final(f"Vendure refused the request: {messages}", channel=channel, method="POST")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class VendureAdapter(HTTPAdapter):
    """A Vendure shop: orders and listings in, stock and fulfilments out."""

    name = "vendure"
    description = "Vendure (Admin GraphQL API)"
    capabilities = frozenset(
        {
            Capability.PULL_ORDERS,
            Capability.PULL_LISTINGS,
            Capability.PUSH_STOCK,
            Capability.PUSH_FULFILMENTS,
        }
    )
    # Vendure sets no rate limit of its own, nor a size for list inputs. A self-hosted Node
    # server answers one request at a time: ten a second leaves room for shoppers, and 100
    # variants a stock call keeps each call's database transaction short.
    limits = Limits(stock_batch_size=100, rate_limit=RateLimit(rate=10, burst=20))
    Settings = VendureSettings
    settings: VendureSettings
    default_base_url: ClassVar[str | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._path = "/" + self.settings.admin_api_path.strip("/")
        self._login_lock = asyncio.Lock()
        self._location: str | None = None
        self._precision_checked = False

    @cached_property
    def _session(self) -> _Session:
        return _Session(self.settings)

    def auth(self) -> httpx.Auth:
        return self._session

    def classify_response(self, response: httpx.Response, channel: str) -> ChannelError | None:
        """HTTP errors as usual; then GraphQL errors, which Vendure sends with HTTP 200."""
        error = super().classify_response(response, channel)
        if error is None and response.status_code == 200:
            return graphql_error(response, channel)
        return error

    # GraphQL plumbing ----------------------------------------------------------------------

    async def _graphql(
        self, document: str, variables: dict[str, Any], *, idempotent: bool = True
    ) -> dict[str, Any]:
        """Run a document; returns ``data``. A session Vendure ended is renewed once."""
        session = self._session
        if session.logs_in and session.token is None:
            await self._login(None)
        used = session.token
        try:
            return await self._post(document, variables, idempotent)
        except AuthError:
            if not session.logs_in:
                raise
            # A FORBIDDEN refusal of a call made with a session means it expired or was
            # revoked (a refusal for a missing permission fails the same way again).
            await self._login(used)
            return await self._post(document, variables, idempotent)

    async def _post(
        self, document: str, variables: dict[str, Any], idempotent: bool
    ) -> dict[str, Any]:
        body = await self.http.request_json(
            "POST",
            self._path,
            json={"query": document, "variables": variables},
            idempotent=idempotent,
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise InvalidPayloadError("Vendure answered without data", channel=self.channel)
        return data

    async def _login(self, expired: SecretStr | None) -> None:
        """Log in, unless another call already replaced the ``expired`` token meanwhile."""
        session = self._session
        async with self._login_lock:
            if session.token is not None and session.token is not expired:
                return
            session.token = None
            variables = {
                "username": self.settings.username,
                "password": self.settings.password.get_secret_value(),
            }
            response = await self.http.request(
                "POST",
                self._path,
                json={"query": q.LOGIN, "variables": variables},
                idempotent=True,  # a second login only makes a second session
            )
            try:
                result = json_loads(response.content)["data"]["login"]
            except (ValueError, KeyError, TypeError):
                raise TransientError(
                    "Vendure answered the login with something other than GraphQL",
                    channel=self.channel,
                ) from None
            if result.get("errorCode"):
                raise AuthError(
                    f"Vendure refused the login: {result.get('message')}", channel=self.channel
                )
            token = response.headers.get("vendure-auth-token")
            if not token:
                raise AuthError(
                    "Vendure sent no session token",
                    hint="allow 'bearer' in the server's authOptions.tokenMethod, or use api_key",
                    channel=self.channel,
                )
            session.token = SecretStr(token)

    # Orders -----------------------------------------------------------------------------

    def map_order(self, payload: JsonValue) -> Order:
        return map_order(payload, self.channel, precision=self.settings.money_precision)

    async def _check_precision(self) -> None:
        """Refuse to read money whose scale the settings have wrong: every amount would be
        off by a power of ten."""
        if self._precision_checked:
            return
        found = (await self._graphql(q.MONEY_PRECISION, {}))["globalSettings"]["serverConfig"]
        server = int(found["moneyStrategyPrecision"])
        if server != self.settings.money_precision:
            raise ConfigError(
                f"the Vendure server's amounts have {server} decimal places, the settings say "
                f"{self.settings.money_precision}",
                key=f"channels.{self.channel}.settings.money_precision",
                hint=f"set money_precision = {server}",
            )
        self._precision_checked = True

    def _order_filter(self, since: datetime | None) -> dict[str, Any]:
        placed: dict[str, Any] = {"orderPlacedAt": {"isNull": False}}
        if since is None:
            return placed
        # `after` is strictly later, and Vendure on SQLite keeps updatedAt to whole seconds.
        after = since - timedelta(seconds=1)
        # Placing, settling, fulfilling and shipping leave updatedAt alone (see the README):
        # recent orders and open ones are read again on every pull, so those changes arrive.
        recent = datetime.now(UTC) - timedelta(days=self.settings.recheck_days)
        changed = [
            {"updatedAt": {"after": _iso(after)}},
            {"orderPlacedAt": {"after": _iso(min(after, recent))}},
            {"state": {"in": list(self.settings.open_states)}},
        ]
        return {**placed, "_or": changed}

    async def pull_orders(self, since: datetime | None) -> AsyncIterator[Page[Order]]:
        """Placed orders changed since ``since``, by id in pages of ``page_size``.

        Pages run by id, which an order keeps however it changes: an order updated while
        the pull runs cannot shift another out of a page. They are not in update order, so
        no page is a checkpoint; the engine's overlap re-reads what changed meanwhile.
        """
        await self._check_precision()
        options: dict[str, Any] = {
            "filter": self._order_filter(since),
            "sort": {"id": "ASC"},
            "skip": 0,
            "take": self.settings.page_size,
        }
        while True:
            found = (await self._graphql(q.ORDERS, {"options": options}))["orders"]
            items = found["items"]
            orders, rejects = map_records(items, self.map_order, kind="order", key=order_key)
            yield Page(orders, rejects)
            options["skip"] += len(items)
            if len(items) < options["take"] or options["skip"] >= found["totalItems"]:
                return

    # Listings and stock ------------------------------------------------------------------

    async def pull_listings(self) -> AsyncIterator[Page[Listing]]:
        """Every variant with a SKU. A SKU on several variants is listed once, for the first
        (lowest id), and logged: pushing its stock fails until one variant has it, since
        setting one of them would leave the other selling the same goods."""
        first: dict[str, str] = {}
        skip = 0
        while True:
            options = {"skip": skip, "take": _VARIANT_PAGE, "sort": {"id": "ASC"}}
            found = (await self._graphql(q.VARIANTS, {"options": options}))["productVariants"]
            listings = []
            for variant in found["items"]:
                sku = (variant.get("sku") or "").strip()
                if not sku:
                    continue
                if sku in first:
                    log.warning(
                        "SKU %s is on variants %s and %s: its stock cannot be set",
                        sku,
                        first[sku],
                        variant["id"],
                        extra={"channel": self.channel},
                    )
                    continue
                first[sku] = str(variant["id"])
                listings.append(map_listing(variant, self.channel))
            yield Page(listings)
            skip += len(found["items"])
            if len(found["items"]) < _VARIANT_PAGE or skip >= found["totalItems"]:
                return

    async def _stock_location(self) -> str:
        if self._location is None:
            if self.settings.stock_location_id:
                self._location = self.settings.stock_location_id
            else:
                found = (await self._graphql(q.STOCK_LOCATIONS, {}))["stockLocations"]
                if found["totalItems"] != 1:
                    raise ConfigError(
                        f"the Vendure channel has {found['totalItems']} stock locations",
                        key=f"channels.{self.channel}.settings.stock_location_id",
                        hint="set stock_location_id to the one omnisync sets stock at",
                    )
                self._location = str(found["items"][0]["id"])
        return self._location

    async def _variants(self, skus: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The variants carrying each SKU, with their stock levels."""
        options = {"filter": {"sku": {"in": list(skus)}}, "take": _LIST_LIMIT}
        found = (await self._graphql(q.VARIANT_STOCK, {"options": options}))["productVariants"]
        by_sku: dict[str, list[dict[str, Any]]] = {}
        for variant in found["items"]:
            # `in` compares with the database's collation, which may ignore case.
            if variant.get("sku") in skus:
                by_sku.setdefault(variant["sku"], []).append(variant)
        return by_sku

    async def push_stock(self, updates: Sequence[StockUpdate]) -> list[StockPushResult]:
        """Set each variant's stock at the stock location so that Vendure can sell exactly
        the quantity asked: ``stockOnHand`` = quantity + what Vendure's placed orders hold
        there (``stockAllocated``), since Vendure sells on hand less allocated.

        If Vendure sold units since omnisync last set a SKU (it shows less than ``previous``),
        it is never set to show more than it has left: omnisync may not have imported that
        sale yet, and the next sync sets the full quantity once it has. Setting absolute
        quantities, a retried call does no harm.
        """
        location = await self._stock_location()
        variants = await self._variants([update.sku for update in updates])
        results: dict[str, StockPushResult] = {}
        inputs = []
        for update in updates:
            found = variants.get(update.sku, [])
            if len(found) != 1:
                ids = ", ".join(str(v["id"]) for v in found)
                error = (
                    f"the SKU is on {len(found)} variants ({ids}); omnisync cannot tell which"
                    if found
                    else "no variant in Vendure has this SKU"
                )
                results[update.sku] = StockPushResult(sku=update.sku, ok=False, error=error)
                continue
            on_hand, allocated = _level(found[0], location)
            target = update.quantity
            if update.previous is not None and on_hand - allocated < update.previous:
                target = min(target, on_hand - allocated)
            stock = [{"stockLocationId": location, "stockOnHand": max(target, 0) + allocated}]
            inputs.append({"id": found[0]["id"], "stockLevels": stock})
        if inputs:
            answered = await self._graphql(q.UPDATE_STOCK, {"input": inputs}, idempotent=True)
            for variant in answered["updateProductVariants"]:
                on_hand, allocated = _level(variant, location)
                results[variant["sku"]] = StockPushResult(
                    sku=variant["sku"], ok=True, quantity=max(on_hand - allocated, 0)
                )
        unanswered = "Vendure did not report this variant back"
        return [
            results.get(update.sku) or StockPushResult(sku=update.sku, ok=False, error=unanswered)
            for update in updates
        ]

    # Fulfilments --------------------------------------------------------------------------

    async def push_fulfilment(self, fulfilment: Fulfilment) -> Fulfilment:
        """Create a fulfillment for the lines with ``fulfillment_handler``, then mark it
        Shipped (Vendure moves the order to Shipped once its payment is settled too).

        addFulfillmentToOrder takes no idempotency key, so it is never retried blindly: a
        later attempt finds an earlier fulfillment by its tracking code, ships only what is
        left on each line, and returns the earlier one when nothing is.
        """
        order = (await self._graphql(q.ORDER, {"id": fulfilment.order_id}))["order"]
        if order is None:
            raise RecordError(
                f"Vendure has no order {fulfilment.order_id}",
                channel=self.channel,
                order=fulfilment.order_id,
            )
        existing = [f for f in order.get("fulfillments") or [] if f.get("state") != "Cancelled"]
        if fulfilment.tracking_number:
            for known in existing:
                if known.get("trackingCode") == fulfilment.tracking_number:
                    return await self._shipped(fulfilment, known)
        plan = _plan(fulfilment, order, existing, self.channel)
        if not plan:
            if existing:  # shipped already: an earlier attempt whose answer was lost
                return await self._shipped(fulfilment, existing[-1])
            raise RecordError(
                "nothing of these lines is left to fulfil",
                channel=self.channel,
                order=fulfilment.order_id,
            )
        arguments = [
            {"name": "method", "value": fulfilment.carrier or ""},
            {"name": "trackingCode", "value": fulfilment.tracking_number or ""},
        ]
        variables = {
            "input": {
                "lines": plan,
                "handler": {"code": self.settings.fulfillment_handler, "arguments": arguments},
            }
        }
        created = (await self._graphql(q.ADD_FULFILLMENT, variables, idempotent=False))[
            "addFulfillmentToOrder"
        ]
        return await self._shipped(fulfilment, self._accepted(created, fulfilment))

    async def _shipped(self, fulfilment: Fulfilment, known: dict[str, Any]) -> Fulfilment:
        # Vendure creates fulfillments Pending; Shipped is what tells the buyer.
        if known.get("state") == "Pending":
            variables = {"id": known["id"], "state": "Shipped"}
            moved = (await self._graphql(q.FULFILMENT_STATE, variables, idempotent=False))[
                "transitionFulfillmentToState"
            ]
            self._accepted(moved, fulfilment)
        return fulfilment.model_copy(update={"fulfilment_id": str(known["id"])})

    def _accepted(self, result: Any, fulfilment: Fulfilment) -> dict[str, Any]:
        """A mutation's result, or the RecordError its ErrorResult stands for."""
        if not isinstance(result, dict) or result.get("errorCode") or "id" not in result:
            detail = result if not isinstance(result, dict) else result.get("message")
            code = result.get("errorCode") if isinstance(result, dict) else None
            raise RecordError(
                f"Vendure refused the fulfilment ({code}): {detail}",
                channel=self.channel,
                order=fulfilment.order_id,
            )
        return result


def _level(variant: dict[str, Any], location: str) -> tuple[int, int]:
    """(on hand, allocated) of a variant at a stock location; nothing there is (0, 0)."""
    for level in variant.get("stockLevels") or []:
        if str(level["stockLocationId"]) == location:
            return int(level["stockOnHand"]), int(level["stockAllocated"])
    return 0, 0


def _plan(
    fulfilment: Fulfilment, order: dict[str, Any], existing: list[dict[str, Any]], channel: str
) -> list[dict[str, Any]]:
    """The order lines and quantities still to ship, of those the fulfilment names."""
    live = {str(f["id"]) for f in existing}
    left: dict[str, int] = {}
    for line in order.get("lines") or []:
        shipped = sum(
            int(part["quantity"])
            for part in line.get("fulfillmentLines") or []
            if str(part["fulfillmentId"]) in live
        )
        left[str(line["id"])] = int(line["quantity"]) - shipped
    plan = []
    for wanted in fulfilment.lines:
        if wanted.line_id not in left:
            raise RecordError(
                f"Vendure's order has no line {wanted.line_id}",
                channel=channel,
                order=fulfilment.order_id,
            )
        take = min(wanted.quantity, left[wanted.line_id])
        if take > 0:
            plan.append({"orderLineId": wanted.line_id, "quantity": take})
    return plan
