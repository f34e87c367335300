"""FaultProxy: a real server behind the simulators' faults."""

import threading

import httpx
import pytest

from omnisync.sim import SimMarket, serve
from omnisync.testing import FaultProxy

pytestmark = pytest.mark.anyio


@pytest.fixture
def proxied():
    market = SimMarket("shop")
    market.add_product("A", quantity=3)
    server = serve(market)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = FaultProxy(f"http://127.0.0.1:{server.server_address[1]}/")
    yield market, proxy
    server.shutdown()
    server.server_close()


async def test_requests_reach_the_real_server_through_the_faults(proxied):
    market, proxy = proxied
    auth = {"Authorization": f"Bearer {market.token}"}
    async with httpx.AsyncClient(transport=proxy.transport(), base_url="http://real") as client:
        ok = await client.get("/listings", headers=auth)
        assert ok.status_code == 200 and ok.json()["listings"][0]["sku"] == "A"
        proxy.faults.inject(503, "truncate", "reset", "drop")
        limited = await client.get("/listings", headers=auth)
        assert limited.status_code == 503 and limited.headers["Retry-After"]
        cut = await client.get("/listings", headers=auth)
        assert cut.status_code == 200
        assert len(cut.content) < len(ok.content)  # cut short: not JSON any more
        with pytest.raises(httpx.ReadError):
            await client.get("/listings", headers=auth)
        before = market.calls.total()
        with pytest.raises(httpx.ReadError):
            await client.get("/listings", headers=auth)
        assert market.calls.total() == before + 1  # the server did the work; the answer was lost
    assert proxy.calls["GET /listings"] == 5
