"""Scenario 2, stock push: ``skus`` changed quantities pushed to Shopify and WooCommerce.

Shopify takes 250 quantities a call (inventorySetQuantities) under the Standard plan's cost
budget; WooCommerce 100 a call (``POST /products/batch``) behind a host that lets ``rate``
requests a second through, ``burst`` at once (core WooCommerce has no limit; hosts do), with
omnisync's channel configured to that same allowance. Every request has ``latency`` added.

Limits: the minimum number of calls (the SKUs over the batch size), and the floor on wall
time: the longer of the rate limit's bound, (calls - burst) / rate, and what a bare client
takes to send the same batches one after another, parsing nothing, with the limit lifted.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench._harness import Figure, ScenarioResult, isolated, served, timed
from bench._omnisync import configured, started, stock_everything
from bench._shops import SHOPIFY_STANDARD, TOKEN, sku_names
from omnisync.adapters import Capability
from omnisync.sim import Faults
from omnisync_shopify._queries import INVENTORY_SET

__all__ = ["DEFAULTS", "SMALL", "run"]

DEFAULTS = {"skus": 10_000, "latency": 0.020, "rate": 25.0, "burst": 10.0}
SMALL = {"skus": 2_500, "latency": 0.020, "rate": 25.0, "burst": 10.0}
SHOPIFY_API = "/admin/api/2026-10/graphql.json"
SHOPIFY_LOCATION = "gid://shopify/Location/1"
BATCH = {"shopify": 250, "woo": 100}


def run(skus: int, latency: float, rate: float, burst: float) -> ScenarioResult:
    result = ScenarioResult(
        "push",
        "2. Stock push (Shopify 250 a call, WooCommerce 100 a call)",
        {"skus": skus, "latency_ms": latency * 1000, "woo_rate": rate, "woo_burst": burst},
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        served("bench._shops:shopify", latency, skus=skus) as shopify,
        served("bench._shops:woocommerce", latency, skus=skus, rate=rate, burst=burst) as woo,
    ):
        # Discovering 10,000 listings on the Standard budget takes minutes; it is set-up here,
        # so the store's budget is raised for it and put back before the push.
        shopify.set("restore_rate", 100_000.0)
        isolated(_omnisync, shopify.url, woo.url, skus, rate, burst, folder, "discover")
        shopify.set("restore_rate", SHOPIFY_STANDARD["restore_rate"])
        ours = isolated(_omnisync, shopify.url, woo.url, skus, rate, burst, folder, "push")
        shopify_floor = isolated(_bare_shopify, shopify.url, ours["shopify"]["ids"])
        woo.set("faults", Faults(latency=latency))  # the bare client: the host's limit lifted
        woo_floor = isolated(_bare_woo, woo.url, ours["woo"]["ids"])
    for channel, bare in (("shopify", shopify_floor), ("woo", woo_floor)):
        figures = ours[channel]
        minimum = math.ceil(skus / BATCH[channel])
        bound = max(minimum - burst, 0) / rate if channel == "woo" else 0.0
        floor = max(bare["wall"], bound)
        result.add(
            Figure(f"{channel}: calls", figures["calls"], "", minimum, "minimum", goal=1.0),
            Figure(f"{channel}: 429s / throttled", figures["limited"], "", goal=None),
            Figure(
                f"{channel}: wall time",
                figures["wall"],
                "s",
                floor,
                "rate-limit floor",
                goal=1.1,
                guard=True,
            ),
        )
        result.notes.append(
            f"{channel}: floor = max(bare client {bare['wall']:.2f} s, rate bound {bound:.2f} s);"
            f" {figures['pushed']} quantities pushed"
        )
    result.add(Figure("peak memory", ours["rss_mb"], "MiB"))
    return result


def _omnisync(
    shopify: str, woo: str, skus: int, rate: float, burst: float, folder: str, step: str
) -> dict[str, Any]:
    """``discover``: count stock in and discover the listings; ``push``: push, timed."""
    return asyncio.run(_push(shopify, woo, skus, rate, burst, Path(folder) / "omnisync", step))


async def _push(
    shopify: str, woo: str, skus: int, rate: float, burst: float, folder: Path, step: str
) -> dict[str, Any]:
    channels = {
        "shopify": (
            f'adapter = "shopify"\nsettings = {{ base_url = "{shopify}", '
            f'access_token = "{TOKEN}", location_id = "1" }}'
        ),
        "woo": (
            f'adapter = "woocommerce"\nsettings = {{ base_url = "{woo}", '
            f'consumer_key = "ck_simulated", consumer_secret = "{TOKEN}", '
            f"rate_limit = {{ rate = {rate}, burst = {burst} }} }}"
        ),
    }
    result: dict[str, Any] = {}
    async with started(configured(folder, channels)) as om:
        if step == "discover":
            stock_everything(om, sku_names(skus), 100)
            await om.engine.sync(only={Capability.PULL_LISTINGS})
            return result
        for channel in channels:
            with timed() as time:
                report = await om.engine.sync([channel], only={Capability.PUSH_STOCK})
            done = report.channels[channel]
            if done.errors:
                raise RuntimeError(f"the push to {channel} failed: {done.errors}")
            with om.store.reading() as tx:
                listings = tx.listings(channel)
            result[channel] = {
                "wall": time.wall,
                "calls": done.counts["http_requests"],
                "limited": done.counts["http_rate_limited"],
                "pushed": done.counts["pushed"],
                "ids": {
                    sku: listing.inventory_item_id or listing.product_id
                    for sku, listing in listings.items()
                },
            }
    return result


def _bare_shopify(url: str, ids: dict[str, str]) -> dict[str, Any]:
    """inventorySetQuantities, 250 quantities a call, one call after another."""
    items = list(ids.values())
    headers = {"X-Shopify-Access-Token": TOKEN}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client, timed() as time:
        for start in range(0, len(items), BATCH["shopify"]):
            quantities = [
                {
                    "inventoryItemId": item,
                    "locationId": SHOPIFY_LOCATION,
                    "quantity": 50,
                    "changeFromQuantity": None,
                }
                for item in items[start : start + BATCH["shopify"]]
            ]
            variables = {
                "input": {"name": "available", "reason": "correction", "quantities": quantities},
                "key": str(uuid.uuid4()),
            }
            answer = client.post(SHOPIFY_API, json={"query": INVENTORY_SET, "variables": variables})
            answer.raise_for_status()
    return {"wall": time.wall}


def _bare_woo(url: str, ids: dict[str, str]) -> dict[str, Any]:
    """``POST /products/batch``, 100 updates a call, one call after another."""
    products = list(ids.values())
    auth = ("ck_simulated", TOKEN)
    with httpx.Client(base_url=url, auth=auth, timeout=60) as client, timed() as time:
        for start in range(0, len(products), BATCH["woo"]):
            body = {
                "update": [
                    {"id": int(product), "stock_quantity": 50}
                    for product in products[start : start + BATCH["woo"]]
                ]
            }
            client.post("/wp-json/wc/v3/products/batch", json=body).raise_for_status()
    return {"wall": time.wall}
