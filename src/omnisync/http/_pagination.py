"""Walking paginated list endpoints to the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from omnisync.errors import InvalidPayloadError
from omnisync.http._client import ChannelHTTP, json_loads

__all__ = ["cursor_pages", "numbered_pages"]


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


async def numbered_pages(
    http: ChannelHTTP,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    page_param: str = "page",
    total_pages_header: str = "X-WP-TotalPages",
    items: str | None = None,
) -> AsyncIterator[list[Any]]:
    """Yield each page of ``GET path?page=1,2,...`` until the total the server announces.

    The total comes from ``total_pages_header`` (WordPress's ``X-WP-TotalPages``); without
    it, paging stops at the first empty page. A body that is not a list (or, with ``items``,
    has no such list) is an `InvalidPayloadError`.
    """
    page = 1
    while True:
        response = await http.request("GET", path, params={**(params or {}), page_param: page})
        body = json_loads(response.content) if response.content else []
        found = body.get(items) if items is not None and isinstance(body, dict) else body
        if not isinstance(found, list):
            raise InvalidPayloadError(
                f"GET {path} page {page} answered without a list",
                hint="check base_url points at the right API and version",
                channel=http.channel,
            )
        yield found
        total = response.headers.get(total_pages_header)
        if (total is not None and total.isdigit() and page >= int(total)) or not found:
            return
        page += 1
