"""Malformed orders and webhook bodies, as hypothesis makes them: none crashes a sync or the
webhook handler, none corrupts what is stored, each is quarantined with a reason and its
untouched payload, and one corrected on the channel imports and resolves its dead letter."""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnisync.errors import InvalidPayloadError
from omnisync.webhooks import hmac_sha256_base64
from tests.helpers import World, world

DELETE = object()
PATHS: list[tuple[Any, ...]] = [
    ("currency",),
    ("total",),
    ("number",),
    ("status",),
    ("payment_status",),
    ("created_at",),
    ("customer",),
    ("customer", "email"),
    ("customer", "id"),
    ("lines",),
    ("lines", 0),
    ("lines", 0, "id"),
    ("lines", 0, "sku"),
    ("lines", 0, "quantity"),
    ("lines", 0, "price"),
    ("lines", 0, "discount"),
    ("lines", 0, "tax"),
    ("lines", 0, "fulfilled"),
    ("lines", 0, "cancelled"),
    ("shipping",),
    ("shipping", "price"),
    ("shipping_address",),
    ("shipping_address", "country"),
    ("cancelled_at",),
]
WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.integers(10**18, 10**40),  # huge
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),  # any unicode, NUL and surrogates' neighbours included
    st.text(min_size=3000, max_size=3000),
    st.sampled_from(["XXX", "eur", "", "€", "-1", "1e309", "NaN", "Infinity", "١٢", "\x00"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
MUTATION = st.tuples(st.sampled_from(PATHS), st.one_of(st.just(DELETE), WEIRD))
SLOW = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def mutate(payload: dict[str, Any], mutations: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    broken = copy.deepcopy(payload)
    for path, value in mutations:
        parent: Any = broken
        for step in path[:-1]:
            try:
                parent = parent[step]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        if not isinstance(parent, dict | list):
            continue
        last = path[-1]
        if isinstance(parent, list) and not (isinstance(last, int) and last < len(parent)):
            continue
        if value is DELETE:
            if isinstance(parent, list) or last in parent:
                del parent[last]
        else:
            parent[last] = value
    return broken


def as_stored(payload: Any) -> str:
    """A payload as it comes back from the store (JSON, decimals as text)."""
    text = json.dumps(payload, default=str)
    return json.dumps(json.loads(text, parse_float=Decimal), sort_keys=True, default=str)


def check_state(w: World) -> None:
    """Reservations and the ledger agree with the orders stored, whatever was refused."""

    async def read() -> tuple[Any, Any, Any]:
        cells = await w.client.stock_levels(["A"])
        ledger = await w.client.ledger("A", limit=None)
        stored = await w.client.orders(limit=1000)
        return cells, ledger, stored

    cells, ledger, stored = asyncio.run(read())
    cell = cells["A"]["main"]
    open_units = sum(
        line.open_quantity
        for s in stored
        if not s.order.is_cancelled
        for line in s.order.lines
        if line.sku == "A"
    )
    with w.client.store.reading() as tx:
        rows = [row for s in stored for row in tx.reservations_for_order(s.id) if row.sku == "A"]
    # Open units are reserved; shipped ones hold stock until the ERP's count shows them gone.
    assert sum(row.reserved for row in rows) == open_units
    assert cell.held == sum(row.reserved + row.shipped for row in rows)
    assert sum(entry.held_delta for entry in ledger) == cell.held
    assert sum(entry.on_hand_delta for entry in ledger) == cell.on_hand


def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, dict[str, Any]]:
    w = world(tmp_path_factory.mktemp("bad"), stock={"A": 50})
    market = w.market()
    market.products["A"].quantity = 50
    market.buy({"A": 1})
    template = market.buy({"A": 2})
    market.buy({"A": 3})
    return w, template


@SLOW
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_a_malformed_order_never_crashes_a_sync_and_is_kept_to_retry(
    backend, tmp_path_factory, mutations
):
    w, template = fresh(tmp_path_factory)
    market = w.market()
    broken = mutate(template, mutations)
    broken["id"] = "9001"
    broken["updated_at"] = market.stamp()
    market.orders["9001"] = broken

    async def first() -> Any:
        report = await w.client.sync()
        letters = await w.client.dead_letters()
        stored = {s.order.external_id for s in await w.client.orders(limit=100)}
        retried = await w.client.retry_dead_letters()
        return report, letters, stored, retried

    report, letters, stored, retried = asyncio.run(first())
    assert not report.channels["shop"].errors, report.to_dict()
    assert {"1001", "1002", "1003"} <= stored, "good orders beside a bad one were lost"
    mine = [letter for letter in letters if letter.key.startswith("9001")]
    if "9001" not in stored:
        # Refused whole: quarantined with a reason and the payload exactly as it came.
        [letter] = mine
        assert letter.kind in ("order", "order_import") and letter.reason
        if letter.kind == "order":
            assert as_stored(letter.payload) == as_stored(broken)
    assert len(retried) == len(letters)  # a retry answers for each, never crashes
    check_state(w)

    # The merchant corrects the order on the channel: its next import resolves the letter.
    fixed = copy.deepcopy(template) | {"id": "9001", "updated_at": market.stamp()}
    market.orders["9001"] = fixed

    async def second() -> Any:
        await w.client.sync()
        letters = await w.client.dead_letters()
        stored = await w.client.orders(limit=100)
        await w.client.aclose()
        return letters, stored

    letters, stored = asyncio.run(second())
    assert "9001" in {s.order.external_id for s in stored}
    assert not [letter for letter in letters if letter.key == "9001"]
    check_state(w)


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


TOPICS = st.sampled_from(
    ["orders/create", "orders/updated", "orders/delete", "returns/update", "inventory/update", "x"]
)


@SLOW
@given(
    topic=TOPICS,
    body=st.one_of(
        st.binary(max_size=200),
        json_values().map(lambda value: json.dumps(value).encode()),
        st.lists(MUTATION, min_size=1, max_size=3),
    ),
)
def test_a_signed_but_malformed_webhook_is_quarantined_not_a_crash(
    backend, tmp_path_factory, topic, body
):
    w, template = fresh(tmp_path_factory)
    market = w.market()
    if isinstance(body, list):
        body = json.dumps(mutate(template, body), default=str).encode()
    headers = {
        "X-Sim-Topic": topic,
        "X-Sim-Event-Id": "evt-fuzz",
        "X-Sim-Hmac-Sha256": hmac_sha256_base64(market.webhook_secret, body),
    }

    async def deliver() -> Any:
        await w.client.sync()
        try:
            result = await w.client.handle_webhook("shop", headers, body)
        except InvalidPayloadError:
            result = None
        letters = await w.client.dead_letters()
        return result, letters

    result, letters = asyncio.run(deliver())
    if result is None:
        webhook_letters = [letter for letter in letters if letter.kind == "webhook"]
        assert webhook_letters and webhook_letters[0].reason
        assert webhook_letters[0].payload["body"] == body.decode("utf-8", "replace")
    else:
        assert result.status == "accepted"
    check_state(w)
    asyncio.run(w.client.aclose())
