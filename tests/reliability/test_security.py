"""Secrets through a whole working day: syncs, refused credentials, webhooks (replayed and
forged), quarantines. Afterwards no secret is anywhere: logs, errors, reports, reprs, or
any row of the store on either backend."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from sqlalchemy import MetaData, select

from omnisync import AsyncOmnisync
from omnisync.config import parse_config
from omnisync.errors import InvalidPayloadError, SignatureError
from omnisync.sim import SimMarket
from omnisync.webhooks import hmac_sha256_base64
from tests.helpers import FAST, FAST_RETRY, stores

TOKEN = "tok_live_5f0c1d9e8b7a6c5d"
WEBHOOK_SECRET = "whsec_a1b2c3d4e5f60718"
PASSWORD = "pg-pass-94b1c7"


def test_no_secret_survives_a_working_day(backend, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    monkeypatch.setenv("SHOP_WEBHOOK_SECRET", WEBHOOK_SECRET)
    market = SimMarket("shop", token=TOKEN)
    market.webhook_secret = WEBHOOK_SECRET
    market.add_product("A", quantity=5)
    settings = {**FAST, "token": "${SHOP_TOKEN}", "webhook_secret": "${SHOP_WEBHOOK_SECRET}"}
    loaded = parse_config(
        {
            "store": {"url": stores.url(tmp_path)},
            "locations": {"shelf": {}},
            "channels": {"shop": {"adapter": "sim", "settings": settings, "retry": FAST_RETRY}},
        },
        base_dir=tmp_path,
    )
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    async def day() -> None:
        async with AsyncOmnisync(loaded, transports={"shop": market.transport()}) as om:
            await om.set_stock("A", 5)
            market.buy({"A": 1})
            seen.append(json.dumps((await om.sync()).to_dict()))
            market.drain_webhooks()
            market.buy({"A": 1})
            delivery = market.drain_webhooks()[0]
            seen.append(repr(await om.handle_webhook("shop", *delivery)))
            replay = await om.handle_webhook("shop", *delivery)
            assert replay.status == "duplicate"  # the same event id again: ignored
            headers, body = delivery
            forged = body.replace(b'"A"', b'"B"')
            with pytest.raises(SignatureError) as refused:
                await om.handle_webhook("shop", headers, forged)
            seen.extend([str(refused.value), repr(refused.value)])
            garbage = b"{not json"
            signed = {**headers, "X-Sim-Hmac-Sha256": hmac_sha256_base64(WEBHOOK_SECRET, garbage)}
            with pytest.raises(InvalidPayloadError) as unreadable:
                await om.handle_webhook("shop", signed, garbage)
            seen.append(str(unreadable.value))
            market.token = "rotated"  # the stored token is now refused
            report = await om.sync()
            assert report.channels["shop"].errors
            seen.append(json.dumps(report.to_dict()))
            seen.extend([repr(om), repr(om.config), repr(om.engine.adapter("shop"))])
            seen.append(json.dumps([letter.payload for letter in await om.dead_letters()]))
            seen.append(dump(om))

    asyncio.run(day())
    seen.append(caplog.text)
    everything = "\n".join(seen)
    for secret in (TOKEN, WEBHOOK_SECRET):
        assert secret not in everything


def dump(om: AsyncOmnisync) -> str:
    """Every row of every table of the store, as text."""
    tables = MetaData()
    with om.store.reading() as tx:
        tables.reflect(tx.conn)
        rows = [
            f"{table.name}: {list(row)}"
            for table in tables.sorted_tables
            for row in tx.conn.execute(select(table))
        ]
    assert any(row.startswith("orders:") for row in rows)
    return "\n".join(rows)


def test_a_store_password_never_shows(pg_url, tmp_path, caplog):
    url = pg_url.replace("postgres@", f"postgres:{PASSWORD}@")
    loaded = parse_config(
        {"store": {"url": url}, "channels": {"shop": {"adapter": "sim"}}}, base_dir=tmp_path
    )
    caplog.set_level(logging.DEBUG)

    async def use() -> list[str]:
        async with AsyncOmnisync(loaded) as om:
            return [repr(om), repr(om.store), om.store.url, repr(loaded)]

    shown = asyncio.run(use())
    assert all(PASSWORD not in text for text in [*shown, caplog.text])
