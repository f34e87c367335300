"""A real Vendure server on a loopback port, started from a copy of the template database."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from omnisync_vendure.testing._client import GraphQLClient, check
from omnisync_vendure.testing._install import (
    NODE_ASSETS,
    VendureInstall,
    VendureUnavailable,
    node_environment,
)

__all__ = ["PlacedOrder", "StockReading", "Variant", "VendureServer"]

_READY = re.compile(rb"VENDURE READY (\d+)")
_STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Variant:
    """A product variant created for a test: Vendure's ids and the SKU."""

    product_id: str
    variant_id: str
    sku: str


@dataclass(frozen=True)
class PlacedOrder:
    """An order placed through the Shop API: its id, code and total in minor units."""

    id: str
    code: str
    total_with_tax: int


@dataclass(frozen=True)
class StockReading:
    """A variant's stock summed over its stock locations, as the Admin API reports it."""

    on_hand: int
    allocated: int

    @property
    def saleable(self) -> int:
        """What the shop can still sell: on hand less what placed orders hold."""
        return self.on_hand - self.allocated


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


class VendureServer:
    """A Vendure 3.7 server for tests and trials, on SQLite, listening on 127.0.0.1.

    `start` copies the populated template database of the ``install`` (see `VendureInstall`,
    which installs Vendure the first time) into a fresh folder and starts the server on a
    free port; `stop` ends it (SIGTERM, then SIGKILL) and removes the folder. `launch` and
    `wait_ready` split `start`, so a server can boot while something else runs.

    ``username`` and ``password`` are the superadmin the helpers log in as: the template
    database has ``superadmin``/``superadmin``, and Vendure creates the superadmin at boot
    when no user has the name given (it never changes an existing user's password).
    ``money_precision`` sets the decimal places of its money (its MoneyStrategy's
    ``precision``; Vendure's default is 2).

    The helpers set the shop up as a merchant and a buyer would: `create_variant`,
    `checkout` (a guest checkout through the Shop API to PaymentAuthorized), `stock`,
    `cancel_order`, `settle_payments`, `ship`, `add_note`.
    """

    def __init__(
        self,
        install: VendureInstall | None = None,
        *,
        username: str = "superadmin",
        password: str = "superadmin",
        money_precision: int | None = None,
    ) -> None:
        self.install = install
        self.money_precision = money_precision
        self.username = username
        self._password = password
        self.port: int | None = None
        self.folder: Path | None = None
        self.boot_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._launched = 0.0
        self._admin: GraphQLClient | None = None

    def __repr__(self) -> str:
        return f"<VendureServer {self.url if self.port else 'not started'}>"

    # Lifecycle ---------------------------------------------------------------------------

    def launch(self) -> Self:
        """Copy the template database and start the server process; do not wait for it."""
        install = (self.install or VendureInstall.default()).ensure()
        self.install = install
        self.folder = Path(tempfile.mkdtemp(prefix="omnisync-vendure-"))
        shutil.copyfile(install.template, self.folder / "vendure.db")
        return self._spawn(0)

    def halt(self) -> None:
        """Stop the server process as an outage would, keeping its database and port."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                _kill(self._process)
        self._process = None

    def resume(self) -> Self:
        """Start again after `halt`, on the same database and port."""
        if self.folder is None or self.port is None:
            raise RuntimeError("resume() follows halt() of a started server")
        port, self.port = self.port, None
        (self.folder / "server.log").unlink(missing_ok=True)
        return self._spawn(port).wait_ready()

    def _spawn(self, port: int) -> Self:
        assert self.install is not None
        assert self.folder is not None
        install = self.install
        env = node_environment(
            install,
            VENDURE_DB=str(self.folder / "vendure.db"),
            VENDURE_PORT=str(port),
            VENDURE_SUPERADMIN_USERNAME=self.username,
            VENDURE_SUPERADMIN_PASSWORD=self._password,
        )
        if self.money_precision is not None:
            env["VENDURE_MONEY_PRECISION"] = str(self.money_precision)
        with (self.folder / "server.log").open("wb") as output:
            self._process = subprocess.Popen(
                ["node", str(NODE_ASSETS / "server.js")],
                cwd=self.folder,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a test run must not kill it half-way
            )
        weakref.finalize(self, _kill, self._process)
        self._launched = time.monotonic()
        return self

    def wait_ready(self, timeout: float = 90.0) -> Self:
        """Wait until the server prints its port; raises `VendureUnavailable` if it dies."""
        if self._process is None or self.folder is None:
            raise RuntimeError("launch() the server first")
        log = self.folder / "server.log"
        deadline = time.monotonic() + timeout
        while self.port is None:
            found = _READY.search(log.read_bytes())
            if found:
                self.port = int(found.group(1))
            elif self._process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                self.stop()
                raise VendureUnavailable(f"Vendure did not start:\n{tail}")
            else:
                time.sleep(0.05)
        self.boot_seconds = time.monotonic() - self._launched
        return self

    def start(self) -> Self:
        """`launch`, then `wait_ready`."""
        return self.launch().wait_ready()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and delete its folder."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(_STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    _kill(self._process)
            self._process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        self.port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The server process's id, while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        """The server's root address, what the adapter's ``base_url`` is set to."""
        if self.port is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """The Admin API's address."""
        return f"{self.url}/admin-api"

    @property
    def shop_url(self) -> str:
        """The Shop API's address."""
        return f"{self.url}/shop-api"

    # Set-up helpers ------------------------------------------------------------------------

    @property
    def admin(self) -> GraphQLClient:
        """An Admin API client, logged in as the superadmin."""
        if self._admin is None:
            self._admin = GraphQLClient(self.admin_url)
            self._admin.login(self.username, self._password)
        return self._admin

    def create_variant(
        self, sku: str, *, stock: int = 0, price: int = 1990, name: str | None = None
    ) -> Variant:
        """A product with one variant: ``sku``, ``stock`` on hand, ``price`` in minor units
        (net of tax: the default channel's prices exclude tax)."""
        title = name or f"Product {sku}"
        slug = f"{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')}-{uuid.uuid4().hex[:8]}"
        product = self.admin(
            """mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }""",
            input={
                "translations": [
                    {"languageCode": "en", "name": title, "slug": slug, "description": ""}
                ]
            },
        )["createProduct"]
        [variant] = self.admin(
            """mutation($input: [CreateProductVariantInput!]!) {
                 createProductVariants(input: $input) { id sku }
               }""",
            input=[
                {
                    "productId": product["id"],
                    "sku": sku,
                    "price": price,
                    "stockOnHand": stock,
                    "translations": [{"languageCode": "en", "name": title}],
                }
            ],
        )["createProductVariants"]
        return Variant(product_id=product["id"], variant_id=variant["id"], sku=sku)

    def checkout(
        self,
        lines: Sequence[tuple[str, int]],
        *,
        email: str = "buyer@example.com",
        country_code: str = "DE",
        coupon: str | None = None,
    ) -> PlacedOrder:
        """A guest checkout through the Shop API: ``lines`` of (variant id, quantity), an
        address, the first eligible shipping method, and the dummy payment method, which
        authorises (does not settle) the payment. Returns the placed order."""
        shop = GraphQLClient(self.shop_url)
        try:
            for variant_id, quantity in lines:
                check(shop(_ADD_ITEM, variant=variant_id, quantity=quantity)["addItemToOrder"])
            if coupon:
                check(shop(_APPLY_COUPON, code=coupon)["applyCouponCode"])
            check(shop(_SET_CUSTOMER, email=email)["setCustomerForOrder"])
            check(shop(_SET_ADDRESS, country=country_code)["setOrderShippingAddress"])
            methods = shop("{ eligibleShippingMethods { id } }")["eligibleShippingMethods"]
            check(shop(_SET_SHIPPING, ids=[methods[0]["id"]])["setOrderShippingMethod"])
            check(shop(_TRANSITION, state="ArrangingPayment")["transitionOrderToState"])
            placed = check(shop(_ADD_PAYMENT)["addPaymentToOrder"], "Order")
        finally:
            shop.close()
        return PlacedOrder(placed["id"], placed["code"], int(placed["totalWithTax"]))

    def stock(self, variant_id: str) -> StockReading:
        """The variant's ``stockOnHand`` and ``stockAllocated``."""
        variant = self.admin(
            "query($id: ID!) { productVariant(id: $id) { stockOnHand stockAllocated } }",
            id=variant_id,
        )["productVariant"]
        return StockReading(int(variant["stockOnHand"]), int(variant["stockAllocated"]))

    def cancel_order(self, order_id: str, *, reason: str = "cancelled by the merchant") -> None:
        """Cancel the whole order, as a merchant does in Vendure's dashboard."""
        result = self.admin(
            """mutation($id: ID!, $reason: String) {
                 cancelOrder(input: { orderId: $id, reason: $reason }) {
                   __typename ... on ErrorResult { errorCode message }
                 }
               }""",
            id=order_id,
            reason=reason,
        )["cancelOrder"]
        check(result, "Order")

    def settle_payments(self, order_id: str) -> None:
        """Capture every authorised payment of the order."""
        for payment in self.order(order_id)["payments"]:
            if payment["state"] == "Authorized":
                result = self.admin(
                    """mutation($id: ID!) {
                         settlePayment(id: $id) {
                           __typename ... on ErrorResult { errorCode message }
                         }
                       }""",
                    id=payment["id"],
                )["settlePayment"]
                check(result, "Payment")

    def ship(self, order_id: str, *, carrier: str = "", tracking_number: str = "") -> str:
        """Fulfil every unfulfilled unit with the manual handler and mark it Shipped, as a
        merchant does in Vendure's dashboard; returns the fulfillment's id."""
        lines = self.admin(
            """query($id: ID!) {
                 order(id: $id) { lines { id quantity fulfillmentLines { quantity } } }
               }""",
            id=order_id,
        )["order"]["lines"]
        left = [
            {
                "orderLineId": line["id"],
                "quantity": line["quantity"]
                - sum(part["quantity"] for part in line["fulfillmentLines"] or []),
            }
            for line in lines
        ]
        arguments = [
            {"name": "method", "value": carrier},
            {"name": "trackingCode", "value": tracking_number},
        ]
        created = self.admin(
            _FULFIL,
            input={
                "lines": [line for line in left if line["quantity"] > 0],
                "handler": {"code": "manual-fulfillment", "arguments": arguments},
            },
        )["addFulfillmentToOrder"]
        fulfillment_id = str(check(created, "Fulfillment")["id"])
        moved = self.admin(_SHIP, id=fulfillment_id)["transitionFulfillmentToState"]
        check(moved, "Fulfillment")
        return fulfillment_id

    def add_note(self, order_id: str, note: str) -> None:
        """Add a private note to the order's history."""
        self.admin(
            """mutation($id: ID!, $note: String!) {
                 addNoteToOrder(input: { id: $id, note: $note, isPublic: false }) { id }
               }""",
            id=order_id,
            note=note,
        )

    def order(self, order_id: str) -> dict[str, Any]:
        """A few fields of an order: state, payments, fulfillments and lines."""
        order: dict[str, Any] = self.admin(
            """query($id: ID!) {
                 order(id: $id) {
                   id code state
                   payments { id state amount }
                   fulfillments { id state method trackingCode }
                   lines { id quantity productVariant { sku } }
                 }
               }""",
            id=order_id,
        )["order"]
        return order


_FULFIL = """
mutation($input: FulfillOrderInput!) {
  addFulfillmentToOrder(input: $input) {
    __typename ... on Fulfillment { id } ... on ErrorResult { errorCode message }
  }
}"""
_SHIP = """
mutation($id: ID!) {
  transitionFulfillmentToState(id: $id, state: "Shipped") {
    __typename ... on ErrorResult { errorCode message }
  }
}"""
_ADD_ITEM = """
mutation($variant: ID!, $quantity: Int!) {
  addItemToOrder(productVariantId: $variant, quantity: $quantity) {
    __typename ... on ErrorResult { errorCode message }
  }
}"""
_APPLY_COUPON = """
mutation($code: String!) {
  applyCouponCode(couponCode: $code) { __typename ... on ErrorResult { errorCode message } }
}"""
_SET_CUSTOMER = """
mutation($email: String!) {
  setCustomerForOrder(input: { emailAddress: $email, firstName: "Bea", lastName: "Buyer" }) {
    __typename ... on ErrorResult { errorCode message }
  }
}"""
_SET_ADDRESS = """
mutation($country: String!) {
  setOrderShippingAddress(input: {
    fullName: "Bea Buyer", streetLine1: "Hauptstraße 1", city: "Berlin",
    postalCode: "10115", countryCode: $country, phoneNumber: "+49 30 1234567"
  }) { __typename ... on ErrorResult { errorCode message } }
}"""
_SET_SHIPPING = """
mutation($ids: [ID!]!) {
  setOrderShippingMethod(shippingMethodId: $ids) {
    __typename ... on ErrorResult { errorCode message }
  }
}"""
_TRANSITION = """
mutation($state: String!) {
  transitionOrderToState(state: $state) { __typename ... on ErrorResult { errorCode message } }
}"""
_ADD_PAYMENT = """
mutation {
  addPaymentToOrder(input: { method: "standard-payment", metadata: {} }) {
    __typename ... on Order { id code totalWithTax } ... on ErrorResult { errorCode message }
  }
}"""
