"""The machinery every simulator shares: routing, auth, faults, rate limits, and serving.

A simulator is a plain object holding state, with a `SimApp.handle` that answers an
`httpx.Request`. It is served to omnisync in-process through `SimTransport` (the real httpx
client, retry and rate-limit code runs; only the socket is skipped) or on a real port
through `serve`, so that any program can talk to it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import random
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from omnisync._time import utcnow
from omnisync.http import json_loads

__all__ = [
    "Faults",
    "SimApp",
    "SimError",
    "SimTransport",
    "SimulatorFactory",
    "SimulatorOptions",
    "iso",
    "json_response",
    "serve",
]

Route = Callable[..., "tuple[int, Any] | httpx.Response"]


@dataclass(frozen=True)
class SimulatorOptions:
    """How to start a simulator: its products (SKU → quantity shown or on hand), the token
    and webhook secret it accepts, its latency, its random seed, and ``rate``: how fast it
    lets calls through (requests, or cost points, a second; ``None``: its own default)."""

    products: dict[str, int] = field(default_factory=dict)
    token: str = "sim-token"
    webhook_secret: str = "sim-webhook-secret"
    latency: float = 0.0
    seed: int = 0
    rate: float | None = None


SimulatorFactory = Callable[[SimulatorOptions], "SimApp"]
"""What `register_simulators` registers: makes a started simulator from its options."""


class SimError(Exception):
    """Raised inside a route to answer ``status`` with an error body (see `SimApp.error_body`);
    ``code`` is the system's own error code, where it has them."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class Faults:
    """What can go wrong, on purpose.

    ``latency`` seconds are added to every request; ``rate``/``burst`` is the server's own
    rate limit (429 with Retry-After beyond it). `inject` queues failures for the next
    requests: an HTTP status (429, 500, 503, ...), ``"reset"`` (connection dropped before the
    request is processed), ``"drop"`` (processed, then the connection drops: the answer is
    lost) or ``"truncate"`` (a 200 whose JSON body is cut short); ``"pass"`` lets a request
    through, to aim a fault at a later one.
    """

    latency: float = 0.0
    rate: float | None = None
    burst: float = 10.0
    retry_after: float = 0.05
    queued: deque[int | str] = field(default_factory=deque)
    armed: Counter[str] = field(default_factory=Counter)
    _tokens: float = field(default=0.0, init=False)
    _updated: float = field(default_factory=time.monotonic, init=False)

    def __post_init__(self) -> None:
        self._tokens = self.burst

    def inject(self, *faults: int | str, times: int = 1) -> None:
        """Fail the next requests with ``faults``, in order, each repeated ``times``."""
        for fault in faults:
            self.queued.extend([fault] * times)

    def arm(self, name: str, times: int = 1) -> None:
        """Arm a fault a simulator springs at its own moment rather than on the next request:
        ``"stale"`` makes the next stock write find the quantity changed under it (a sale the
        writer has not seen), so its compare-and-set fails."""
        self.armed[name] += times

    def take(self, name: str) -> bool:
        """Spring an armed fault, if there is one left."""
        if self.armed[name] <= 0:
            return False
        self.armed[name] -= 1
        return True

    def next_fault(self) -> int | str | None:
        """The fault the next request meets, if any: injected first, then the rate limit."""
        if self.queued:
            fault = self.queued.popleft()
            return None if fault == "pass" else fault
        if self.rate is None:
            return None
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens < 1:
            return 429
        self._tokens -= 1
        return None


def dumps(value: Any) -> bytes:
    """JSON with Decimals written as numbers' exact text."""

    def default(item: Any) -> Any:
        if isinstance(item, Decimal):
            return str(item)
        raise TypeError(f"cannot encode {type(item).__name__}")

    return json.dumps(value, default=default).encode()


def encode_cursor(*parts: str) -> str:
    """An opaque pagination token."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def decode_cursor(token: str) -> list[str]:
    """The parts of a token made by `encode_cursor`; 400 for a token it did not make."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise SimError(400, "invalid cursor") from None
    if not isinstance(parts, list):
        raise SimError(400, "invalid cursor")
    return [str(part) for part in parts]


def iso(moment: datetime) -> str:
    """A timestamp as the simulators write it: fixed-width UTC, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SimApp:
    """Base of the simulators: bearer-token auth, injected faults, regex routes, call counts,
    strictly increasing timestamps, cursor pagination and saving state to a file."""

    def __init__(
        self,
        name: str,
        *,
        token: str = "sim-token",
        faults: Faults | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.name = name
        self.token = token
        self.faults = faults or Faults()
        self.clock = clock
        self.calls: Counter[str] = Counter()
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Route]] = []
        self._last = datetime.min.replace(tzinfo=UTC)
        self._sequence = 0
        self.webhooks: list[tuple[dict[str, str], bytes]] = []
        """Webhook deliveries waiting to be sent (see `deliver`, `drain_webhooks`)."""
        self.duplicate_webhooks = False
        self.webhook_loss = 0.0
        """Share of deliveries dropped on the way (0 to 1)."""
        self.lost_webhooks = 0
        self._loss = random.Random(0)

    def deliver(
        self,
        headers: dict[str, str],
        body: bytes,
        per_copy: Callable[[], dict[str, str]] = dict,
    ) -> None:
        """Queue a webhook delivery: twice with ``duplicate_webhooks``, maybe not at all with
        ``webhook_loss``. ``per_copy`` gives the headers that differ between two deliveries of
        one event (a delivery id, say)."""
        for _ in range(2 if self.duplicate_webhooks else 1):
            if self.webhook_loss and self._loss.random() < self.webhook_loss:
                self.lost_webhooks += 1
                continue
            self.webhooks.append(({**headers, **per_copy()}, body))

    def drain_webhooks(self) -> list[tuple[dict[str, str], bytes]]:
        """Deliveries waiting to be sent, oldest first; the queue is emptied."""
        with self.lock:
            deliveries, self.webhooks = self.webhooks, []
            return deliveries

    def stamp(self) -> str:
        """Now, as a timestamp later than any handed out before (changes never tie)."""
        moment = max(self.clock(), self._last + timedelta(microseconds=1))
        self._last = moment
        return iso(moment)

    def next_number(self) -> int:
        """The next number of the simulator's one sequence of ids."""
        self._sequence += 1
        return self._sequence

    def page(
        self,
        items: list[dict[str, Any]],
        request: httpx.Request,
        *,
        key: Callable[[dict[str, Any]], tuple[str, ...]],
        stamp: str = "updated_at",
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``items`` as a list endpoint serves it: those changed at or after
        ``updated_since``, in ``key`` order (which starts with the change time), ``limit`` at a
        time after ``cursor``. Returns the page and the next page's cursor."""
        params = request.url.params
        try:
            limit = int(params.get("limit", "50"))
        except ValueError:
            raise SimError(400, "limit must be a whole number") from None
        if not 1 <= limit <= 250:
            raise SimError(400, "limit must be between 1 and 250")
        since = params.get("updated_since")
        if since:
            try:
                bound = iso(datetime.fromisoformat(since.replace("Z", "+00:00")))
            except ValueError:
                raise SimError(400, f"updated_since {since!r} is not an ISO 8601 time") from None
            items = [item for item in items if item[stamp] >= bound]
        items = sorted(items, key=key)
        token = params.get("cursor")
        if token:
            after = tuple(decode_cursor(token))
            items = [item for item in items if key(item) > after]
        page = copy.deepcopy(items[:limit])
        return page, encode_cursor(*key(page[-1])) if len(items) > limit and page else None

    def state(self) -> dict[str, Any]:
        """Everything the simulator holds, as JSON-ready data (see `save`)."""
        raise NotImplementedError

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what `state` returned."""
        raise NotImplementedError

    def save(self, path: Path) -> None:
        """Write the simulator's whole state to ``path`` (JSON)."""
        with self.lock:
            state = {**self.state(), "sequence": self._sequence, "last": self._last.isoformat()}
            path.write_bytes(dumps(state))

    def load(self, path: Path) -> None:
        """Restore state written by `save`."""
        state = json.loads(path.read_text())
        with self.lock:
            self.restore(state)
            self._sequence = state["sequence"]
            self._last = datetime.fromisoformat(state["last"])

    def route(self, method: str, pattern: str, handler: Route) -> None:
        """Answer ``method`` requests whose path matches ``pattern`` with ``handler``."""
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def transport(self) -> SimTransport:
        """An httpx transport that delivers requests to this simulator in-process."""
        return SimTransport(self)

    def handle(self, request: httpx.Request) -> httpx.Response | str:
        """Answer one request. Returns ``"reset"`` when the connection should just drop."""
        with self.lock:
            fault = self.faults.next_fault()
            if fault == "reset":
                return "reset"
            if isinstance(fault, int):
                headers = (
                    {"Retry-After": str(self.faults.retry_after)} if fault in (429, 503) else {}
                )
                message = "rate limited" if fault == 429 else "injected fault"
                return self.error_response(fault, message, headers=headers)
            if not self.authorized(request):
                return self.error_response(401, "invalid or missing credentials")
            response = self._dispatch(request)
            if fault == "drop":
                return "reset"
            if fault == "truncate" and response.status_code == 200:
                return httpx.Response(
                    200,
                    content=response.content[: len(response.content) // 2],
                    headers={"Content-Type": "application/json"},
                )
            return response

    def _dispatch(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match and method == request.method:
                self.calls[f"{method} {pattern.pattern.strip('^$')}"] += 1
                try:
                    result = handler(request, **match.groupdict())
                except SimError as exc:
                    return self.error_response(exc.status, exc.message, code=exc.code)
                if isinstance(result, httpx.Response):
                    return result
                status, body = result
                return json_response(status, body)
        return self.error_response(404, f"no route for {request.method} {path}")

    def authorized(self, request: httpx.Request) -> bool:
        """Whether the request carries the simulator's credentials (a bearer token here)."""
        return bool(request.headers.get("Authorization") == f"Bearer {self.token}")

    def error_body(self, status: int, message: str, code: str | None) -> dict[str, Any]:
        """The JSON body of an error, in the simulated system's own shape."""
        return {"error": message, **({"code": code} if code else {})}

    def error_response(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """An error answer in the simulated system's shape."""
        return json_response(status, self.error_body(status, message, code), headers)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """A JSON answer."""
    return httpx.Response(
        status,
        content=dumps(body),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def read_json(request: httpx.Request) -> Any:
    """The request's JSON body; 400 when it is not JSON."""
    try:
        return json_loads(request.content)
    except ValueError:
        raise SimError(400, "body is not valid JSON") from None


class SimTransport(httpx.AsyncBaseTransport):
    """Delivers requests to a simulator in-process, with its latency, over no socket."""

    def __init__(self, app: SimApp) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        if self.app.faults.latency:
            await asyncio.sleep(self.app.faults.latency)
        response = self.app.handle(request)
        if isinstance(response, str):
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def serve(app: SimApp, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A real HTTP server for ``app`` on ``host:port`` (0: any free port); not yet started.

    Call ``serve_forever()`` on it (in a thread, for tests) and ``shutdown()`` to stop.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # The head and the body go out in two writes; with Nagle's algorithm on, the body
            # waits for the client's delayed ACK of the head (40 ms on Linux) on every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command,
                f"http://{self.headers.get('Host', 'localhost')}{self.path}",
                headers=dict(self.headers.items()),
                content=body,
            )
            if app.faults.latency:
                time.sleep(app.faults.latency)
            response = app.handle(request)
            if isinstance(response, str):
                self.close_connection = True
                return
            try:
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away; nothing to answer

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: the caller decides what to log."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
