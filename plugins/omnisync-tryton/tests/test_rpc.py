"""Tryton's JSON-RPC: the encoding of decimals, dates and datetimes, and its session."""

import asyncio
import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from omnisync.adapters import ChannelContext
from omnisync_tryton import TrytonAdapter
from omnisync_tryton._rpc import decode, encode


def test_values_round_trip_through_trytons_json_forms():
    values = {
        "price": Decimal("19.90"),
        "day": date(2026, 1, 2),
        "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "nested": [Decimal("0.1"), {"n": 1}],
    }
    encoded = encode(values)
    assert encoded["price"] == {"__class__": "Decimal", "decimal": "19.90"}
    assert encoded["day"] == {"__class__": "date", "year": 2026, "month": 1, "day": 2}
    assert decode(encoded) == values


def test_a_datetime_from_tryton_is_utc():
    raw = {"__class__": "datetime", "year": 2026, "month": 1, "day": 2, "hour": 3}
    assert decode(raw) == datetime(2026, 1, 2, 3, tzinfo=UTC)


@pytest.mark.anyio
async def test_calls_that_meet_an_expired_session_together_log_in_once():
    """Tryton answers 401 to a session it no longer knows; the calls sent with it log in
    once between them, and each is sent again with the new session, never with none."""
    logins: list[str] = []
    valid = ["s1"]
    sent_with: list[str | None] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # a round trip: the calls interleave, as over a network
        body = json.loads(request.content)
        if body["method"] == "common.db.login":
            logins.append(f"s{len(logins) + 1}")
            return httpx.Response(200, json={"id": 1, "result": [1, logins[-1]]})
        header = request.headers.get("Authorization")
        sent_with.append(header)
        known = {"Session " + base64.b64encode(f"admin:1:{s}".encode()).decode() for s in valid}
        if header not in known:
            return httpx.Response(401)
        if body["method"] == "model.res.user.get_preferences":
            return httpx.Response(200, json={"id": 1, "result": {"company": 1}})
        return httpx.Response(200, json={"id": 1, "result": body["params"][0]})

    settings = {"base_url": "http://tryton.test", "database": "db", "password": "admin"}
    adapter = TrytonAdapter(
        TrytonAdapter.Settings.model_validate(settings),
        ChannelContext(name="erp", transport=httpx.MockTransport(answer)),
    )
    assert await adapter.rpc.call("model.res.user.read", "first") == "first"
    valid[:] = ["s2"]  # the server restarted: s1 is unknown, the next login's is good
    answers = await asyncio.gather(
        *(adapter.rpc.call("model.sale.line.on_change_product", n) for n in range(5))
    )
    await adapter.aclose()
    assert answers == list(range(5))
    assert logins == ["s1", "s2"]
    assert None not in sent_with
