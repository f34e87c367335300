"""The simulators served on a real port, as `omnisync simulate` does."""

import threading

import httpx
import pytest

from omnisync import AsyncOmnisync
from omnisync.sim import SimMarket, serve
from tests.helpers import config

pytestmark = pytest.mark.anyio


@pytest.fixture
def served():
    market = SimMarket("shop", token="tok-1")
    market.add_product("A", quantity=2)
    server = serve(market)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield market, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_any_http_client_can_talk_to_it(served):
    _, url = served
    assert httpx.get(f"{url}/inventory").status_code == 401
    answer = httpx.get(f"{url}/inventory", headers={"Authorization": "Bearer tok-1"})
    assert answer.json() == {"items": [{"sku": "A", "quantity": 2}]}


async def test_omnisync_syncs_with_it_over_the_network(served, tmp_path):
    market, url = served
    loaded = config(
        tmp_path, {"shop": {"adapter": "sim", "settings": {"base_url": url, "token": "tok-1"}}}
    )
    async with AsyncOmnisync(loaded) as om:
        await om.set_stock("A", 7)
        market.buy({"A": 1})
        report = await om.sync()
    assert report.ok, report.to_dict()
    assert market.shown("A") == 6


async def test_a_wrong_token_is_an_auth_failure(served, tmp_path):
    _, url = served
    loaded = config(
        tmp_path, {"shop": {"adapter": "sim", "settings": {"base_url": url, "token": "wrong"}}}
    )
    async with AsyncOmnisync(loaded) as om:
        report = await om.sync()
    assert "401" in report.channels["shop"].errors[0]
