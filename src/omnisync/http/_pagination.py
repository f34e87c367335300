"""Walking paginated list endpoints to the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from omnisync.errors import InvalidPayloadError
from omnisync.http._client import ChannelHTTP

__all__ = ["cursor_pages"]


async def cursor_pages(
    http: ChannelHTTP,
    path: str,
    *,
    items: str,
    params: dict[str, Any] | None = None,
    cursor_param: str = "cursor",
    next_cursor: Callable[[Any], str | None] = lambda body: body.get("next_cursor"),
) -> AsyncIterator[list[Any]]:
    """Yield the ``items`` list of each page of ``GET path``, following opaque cursors.

    ``next_cursor`` reads the next page's token from a response body (``None`` at the end);
    the token is sent back as ``cursor_param``. A body without an ``items`` list is an
    `InvalidPayloadError`: the channel answered something that is not this endpoint's page.
    """
    query = dict(params or {})
    while True:
        body = await http.request_json("GET", path, params=query)
        page = body.get(items) if isinstance(body, dict) else None
        if not isinstance(page, list):
            raise InvalidPayloadError(
                f"GET {path} answered without a list of {items!r}",
                hint="check base_url points at the right API and version",
                channel=http.channel,
            )
        yield page
        token = next_cursor(body)
        if not token:
            return
        if token == query.get(cursor_param):
            raise InvalidPayloadError(
                f"GET {path} answered with the cursor it was sent: it would page for ever",
                channel=http.channel,
            )
        query[cursor_param] = token
