"""The simulators' faults in front of a real server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter

import httpx

from omnisync.sim import Faults

__all__ = ["FaultProxy"]


class FaultProxy:
    """Forwards an adapter's requests to a real server at ``base_url`` (a path in it is put
    before each request's path) (a Vendure or Tryton the tests run,
    say), failing them first as `Faults` says: an HTTP status, ``"reset"``, ``"drop"``
    (forwarded and done, the answer lost), ``"truncate"``, ``latency``. It counts ``calls``
    by method and path, so a real server can stand where the contract kit wants a
    simulator (the rest of `ContractSimulator` is the server's own set-up code)."""

    def __init__(self, base_url: str, faults: Faults | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.faults = faults or Faults()
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def transport(self) -> httpx.AsyncBaseTransport:
        """A transport for the adapter: its requests go to ``base_url``, through the faults."""
        return _ProxyTransport(self)


class _ProxyTransport(httpx.AsyncBaseTransport):
    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.forward = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self.proxy
        with proxy.lock:
            fault = proxy.faults.next_fault()
            proxy.calls[f"{request.method} {request.url.path}"] += 1
        if proxy.faults.latency:
            await asyncio.sleep(proxy.faults.latency)
        if fault == "reset":
            raise httpx.ReadError("connection reset by peer (injected)", request=request)
        if isinstance(fault, int):
            headers = {"Retry-After": str(proxy.faults.retry_after)} if fault in (429, 503) else {}
            body = {"error": "rate limited" if fault == 429 else "injected fault"}
            return httpx.Response(fault, content=json.dumps(body).encode(), headers=headers)
        # The request's path (and query) on the real server, after base_url's own path.
        target = httpx.URL(proxy.base_url + request.url.raw_path.decode())
        forwarded = httpx.Request(
            request.method,
            target,
            headers=[(k, v) for k, v in request.headers.raw if k.lower() != b"host"],
            content=await request.aread(),
        )
        response = await self.forward.handle_async_request(forwarded)
        content = await response.aread()
        if fault == "drop":
            raise httpx.ReadError("connection reset by peer (injected)", request=request)
        if fault == "truncate" and response.status_code == 200:
            content = content[: len(content) // 2]
        kept = [
            (name, value)
            for name, value in response.headers.raw
            if name.lower() not in (b"content-length", b"content-encoding", b"transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=kept, content=content)

    async def aclose(self) -> None:
        await self.forward.aclose()
