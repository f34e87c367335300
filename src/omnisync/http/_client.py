"""The HTTP client every adapter talks to its channel through."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

import httpx
import jiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from omnisync._redact import redact_url
from omnisync.errors import ChannelError, RateLimitedError, RetryableError, TransientError
from omnisync.http._classify import classify_response
from omnisync.http._ratelimit import RateLimiter
from omnisync.http._retry import RetryPolicy, should_retry

__all__ = ["ChannelHTTP", "HTTPStats", "json_loads"]

log = logging.getLogger("omnisync.http")

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
Classifier = Callable[[httpx.Response, str], ChannelError | None]


# One decoder for every call, as `json.loads` keeps one for its defaults: given parse_float,
# it builds a new decoder each time, and channels' payloads are parsed by the thousand.
_DECODER = json.JSONDecoder(parse_float=Decimal)


def json_loads(content: bytes | str) -> Any:
    """Parse JSON with every non-integer number as ``Decimal``, so money stays exact."""
    try:
        # jiter parses UTF-8 JSON in about half the time of the standard library's decoder.
        # What it refuses goes to that decoder, so every text parses as `json.loads` parses
        # it and fails with its error: one in another encoding or with a byte-order mark,
        # a lone surrogate, NaN (a float there, where jiter's would be a Decimal).
        if isinstance(content, str):
            utf8 = content.encode()
        else:  # other than bytes or a bytearray, a TypeError, as from `json.loads`
            utf8 = bytes(content) if isinstance(content, bytearray) else content
        return jiter.from_json(utf8, float_mode="decimal", allow_inf_nan=False)
    except ValueError:
        pass
    if isinstance(content, bytes | bytearray):  # as `json.loads` decodes it
        content = content.decode(json.detect_encoding(content), "surrogatepass")
    return _DECODER.decode(content)


@dataclass
class HTTPStats:
    """What a channel's client did: calls sent, retries, and rate-limit refusals met."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0


class ChannelHTTP:
    """An httpx client for one channel: timeouts, retries, rate limiting and error mapping.

    Every call is paced by the channel's `RateLimiter`, classified by ``classify`` (by
    default `classify_response`), and retried under the `RetryPolicy` only when that is safe:
    see `should_retry`. ``transport`` replaces the network, for simulators and tests.
    """

    def __init__(
        self,
        channel: str,
        *,
        base_url: str,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        verify: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        classify: Classifier = classify_response,
    ) -> None:
        self.channel = channel
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.stats = HTTPStats()
        self._classify = classify
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=verify,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"<ChannelHTTP {self.channel!r} {redact_url(str(self._client.base_url))}>"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool | None = None,
        cost: float = 1.0,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request, retrying when safe; returns a successful response or raises.

        ``idempotent`` says whether sending the call twice does no harm; by default GET, HEAD,
        OPTIONS, PUT and DELETE are, POST and PATCH are not. ``cost`` is what the call takes
        from the rate limiter. Other arguments go to `httpx.AsyncClient.request`.
        """
        return await self._with_retries(method, url, idempotent, cost, kwargs, parse=False)  # type: ignore[no-any-return]

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool | None = None,
        cost: float = 1.0,
        **kwargs: Any,
    ) -> Any:
        """Like `request`, and parse the body with `json_loads`; malformed JSON is retried."""
        return await self._with_retries(method, url, idempotent, cost, kwargs, parse=True)

    async def download(
        self, url: str, destination: BinaryIO, *, cost: float = 1.0, **kwargs: Any
    ) -> int:
        """GET ``url`` and write its body to ``destination`` as it arrives, so a file larger
        than memory (a bulk export) never sits in it whole; a failed attempt is retried from
        the start. Returns the number of bytes written."""
        async for attempt in self._retrying(safe=True):
            with attempt:
                destination.seek(0)
                destination.truncate()
                return await self._stream_to(url, destination, cost, kwargs)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _stream_to(
        self, url: str, destination: BinaryIO, cost: float, kwargs: dict[str, Any]
    ) -> int:
        if self.limiter is not None:
            await self.limiter.acquire(cost)
        self.stats.requests += 1
        written = 0
        try:
            async with self._client.stream("GET", url, **kwargs) as response:
                if response.status_code >= 300:
                    await response.aread()
                    self._raise_for(response)
                async for chunk in response.aiter_bytes():
                    destination.write(chunk)
                    written += len(chunk)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise self._transport_error("GET", url, exc, sent=False) from exc
        except httpx.TransportError as exc:
            raise self._transport_error("GET", url, exc, sent=True) from exc
        return written

    async def _with_retries(
        self,
        method: str,
        url: str,
        idempotent: bool | None,
        cost: float,
        kwargs: dict[str, Any],
        *,
        parse: bool,
    ) -> Any:
        safe = method.upper() in _IDEMPOTENT_METHODS if idempotent is None else idempotent
        async for attempt in self._retrying(safe=safe):
            with attempt:
                response = await self._send(method, url, cost, kwargs)
                return self._parse(response) if parse else response
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _retrying(self, *, safe: bool) -> AsyncRetrying:
        """The retry policy's attempts for a call that is (or is not) safe to send twice."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=self.retry.wait,
            retry=retry_if_exception(lambda error: should_retry(error, idempotent=safe)),
            before_sleep=self._before_retry,
            reraise=True,
        )

    async def _send(
        self, method: str, url: str, cost: float, kwargs: dict[str, Any]
    ) -> httpx.Response:
        if self.limiter is not None:
            await self.limiter.acquire(cost)
        self.stats.requests += 1
        started = time.perf_counter()
        try:
            response = await self._client.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise self._transport_error(method, url, exc, sent=False) from exc
        except httpx.TransportError as exc:
            raise self._transport_error(method, url, exc, sent=True) from exc
        log.debug(
            "%s %s -> %s in %.0f ms",
            method,
            redact_url(str(response.request.url)),
            response.status_code,
            (time.perf_counter() - started) * 1000,
            extra={"channel": self.channel},
        )
        self._raise_for(response)
        return response

    def _raise_for(self, response: httpx.Response) -> None:
        """Raise the error a response means, if any; a rate limit pauses the limiter."""
        error = self._classify(response, self.channel)
        if error is None:
            return
        if isinstance(error, RateLimitedError):
            self.stats.rate_limited += 1
            if self.limiter is not None:
                wait = error.retry_after if error.retry_after is not None else 1.0
                self.limiter.pause(min(wait, self.retry.max_retry_after))
        raise error

    def _transport_error(
        self, method: str, url: str, exc: httpx.TransportError, *, sent: bool
    ) -> TransientError:
        full = redact_url(str(self._client.base_url.join(url)))
        what = type(exc).__name__
        return TransientError(
            f"{method} {full} failed: {what}",
            channel=self.channel,
            method=method,
            url=full,
            request_sent=sent,
        )

    def _parse(self, response: httpx.Response) -> Any:
        try:
            return json_loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            url = redact_url(str(response.request.url))
            raise TransientError(
                f"{response.request.method} {url} returned malformed JSON ({exc})",
                channel=self.channel,
                method=response.request.method,
                url=url,
                status_code=response.status_code,
            ) from None

    def _before_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.info(
            "retrying after %s (attempt %d, waiting %.2fs)",
            error if isinstance(error, RetryableError) else repr(error),
            state.attempt_number,
            wait,
            extra={"channel": self.channel},
        )
