"""The base for adapters that talk HTTP: one configured `ChannelHTTP` per channel."""

from __future__ import annotations

import base64
from collections.abc import Generator, Iterator
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from omnisync._redact import redact_url
from omnisync.adapters._base import Adapter, AdapterSettings, ChannelContext
from omnisync.adapters._capabilities import RateLimit
from omnisync.errors import ChannelError, ConfigError
from omnisync.http import ChannelHTTP, RateLimiter, classify_response

__all__ = ["BasicAuth", "HTTPAdapter", "HTTPSettings", "HeaderAuth", "QueryAuth"]


class HTTPSettings(AdapterSettings):
    """Settings every HTTP adapter has.

    ``base_url`` overrides the adapter's default address (sandboxes, simulators, tests);
    ``rate_limit`` overrides its declared limit (a plan with a higher allowance, say).
    """

    base_url: str | None = None
    timeout: float = Field(default=30.0, gt=0)
    verify_tls: bool = True
    rate_limit: RateLimit | None = None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A base_url may carry credentials (user-info, an api_key parameter).
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "base_url" and value else value


class HeaderAuth(httpx.Auth):
    """Sends a secret in a header, added per request so it never sits in the client's headers."""

    def __init__(self, header: str, value: SecretStr, *, prefix: str = "") -> None:
        self._header = header
        self._value = value
        self._prefix = prefix

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._prefix + self._value.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return f"HeaderAuth({self._header!r}, '**********')"


class BasicAuth(httpx.Auth):
    """HTTP Basic authentication from secrets, encoded per request (never kept in clear)."""

    def __init__(self, username: SecretStr | str, password: SecretStr) -> None:
        self._username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        user = self._username
        name = user.get_secret_value() if isinstance(user, SecretStr) else user
        pair = f"{name}:{self._password.get_secret_value()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        yield request

    def __repr__(self) -> str:
        return "BasicAuth('**********')"


class QueryAuth(httpx.Auth):
    """Credentials sent as query parameters, for servers that drop the Authorization header.

    omnisync redacts such parameters from every URL it logs or reports.
    """

    def __init__(self, **params: SecretStr) -> None:
        self._params = params

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        values = {name: value.get_secret_value() for name, value in self._params.items()}
        request.url = request.url.copy_merge_params(values)
        yield request

    def __repr__(self) -> str:
        return f"QueryAuth({', '.join(self._params)})"


class HTTPAdapter(Adapter):
    """An adapter that talks to its system over HTTP through ``self.http``.

    Subclasses set ``default_base_url`` (or require ``base_url`` in settings), return their
    credentials from `auth`, and may refine `classify_response` for a channel's own error shapes.
    """

    Settings: ClassVar[type[AdapterSettings]] = HTTPSettings
    settings: HTTPSettings
    default_base_url: ClassVar[str | None] = None

    def __init__(self, settings: AdapterSettings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        limit = self.settings.rate_limit or self.limits.rate_limit
        self.http = ChannelHTTP(
            context.name,
            base_url=self.base_url(),
            auth=self.auth(),
            timeout=self.settings.timeout,
            verify=self.settings.verify_tls,
            transport=self.transport(),
            limiter=RateLimiter(limit.rate, limit.burst, spare=1.0) if limit else None,
            retry=context.retry,
            classify=self.classify_response,
        )

    def base_url(self) -> str:
        """The address calls go to: ``settings.base_url``, else the adapter's default."""
        url = self.settings.base_url or self.default_base_url
        if not url:
            raise ConfigError(
                f"adapter {self.name!r} has no default address",
                key=f"channels.{self.channel}.settings.base_url",
                hint="set base_url to the system's API address",
            )
        return url

    def transport(self) -> httpx.AsyncBaseTransport | None:
        """What carries requests: the context's transport if it has one, else the network."""
        return self.context.transport

    def auth(self) -> httpx.Auth | None:
        """How requests prove who we are; ``None`` for no authentication."""
        return None

    def classify_response(self, response: httpx.Response, channel: str) -> ChannelError | None:
        """Map a response to ``None`` (success) or an error; see `classify_response`."""
        return classify_response(response, channel)

    async def ready(self) -> None:
        """Return once the client's rate limiter would let a request through."""
        if self.http.limiter is not None:
            await self.http.limiter.ready()

    async def aclose(self) -> None:
        """Close the channel's connection pool."""
        await self.http.aclose()
