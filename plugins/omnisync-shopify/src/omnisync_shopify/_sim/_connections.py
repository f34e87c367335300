"""GraphQL connections and list arguments: what resolvers know of the request, Shopify's
cursors, and the limits on page and input sizes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from graphql import GraphQLError, GraphQLResolveInfo

from omnisync_shopify._sim._values import Record

__all__ = ["MAX_INPUT", "MAX_PAGE", "Context", "check_input_size", "connection", "limited"]

T = TypeVar("T")

MAX_PAGE = 250  # shopify.dev/docs/api/usage/pagination-graphql
MAX_INPUT = 250  # shopify.dev/docs/api/usage/limits#input-limits


@dataclass(frozen=True)
class Context:
    """What resolvers know of the request: its API version, and whether a bulk operation
    runs it (bulk queries ignore ``first`` and read whole connections)."""

    version: str
    bulk: bool = False


def _cursor(key: tuple[Any, int]) -> str:
    # The shape of Shopify's own cursors, base64 of {"last_id", "last_value"}.
    text = json.dumps({"last_id": key[1], "last_value": key[0]}, separators=(",", ":"))
    return base64.b64encode(text.encode()).decode()


def _after(cursor: str) -> tuple[Any, int]:
    try:
        parts = json.loads(base64.b64decode(cursor.encode(), validate=True))
        return parts["last_value"], int(parts["last_id"])
    except (ValueError, TypeError, KeyError):
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from None


def _page_size(info: GraphQLResolveInfo[Context], first: int | None) -> int | None:
    """How many items a page holds (None: all, in a bulk query)."""
    if info.context.bulk:
        return None
    if first is None:
        raise GraphQLError("you must provide one of first or last")
    if not 0 <= first <= MAX_PAGE:
        # [unconfirmed] wording; the limit is shopify.dev/docs/api/usage/pagination-graphql.
        raise GraphQLError(f"The maximum number of items per page is {MAX_PAGE}, got {first}.")
    return first


def limited(info: GraphQLResolveInfo[Context], items: Sequence[T], first: int | None) -> list[T]:
    """A list field truncated to ``first`` (Order.fulfillments(first:) and the like)."""
    size = _page_size(info, first) if first is not None else None
    return list(items if size is None else items[:size])


def connection(
    info: GraphQLResolveInfo[Context],
    args: Mapping[str, Any],
    items: Sequence[T],
    key: Callable[[T], tuple[Any, int]],
    view: Callable[[T], Record],
) -> Record:
    """One page of a connection: ``items`` in ``key`` order, ``first`` after ``after``."""
    reverse = bool(args.get("reverse"))
    ordered = sorted(items, key=key, reverse=reverse)
    after = args.get("after")
    if after is not None:
        mark = _after(after)
        try:
            ordered = [
                item for item in ordered if (key(item) < mark if reverse else key(item) > mark)
            ]
        except TypeError:  # a cursor made for another sort key
            raise GraphQLError(f"Invalid cursor for current pagination sort: {after}") from None
    size = _page_size(info, args.get("first"))
    page = ordered if size is None else ordered[:size]
    edges = [{"cursor": _cursor(key(item)), "node": view(item)} for item in page]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "pageInfo": {
            "hasNextPage": len(ordered) > len(page),
            "hasPreviousPage": after is not None,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def check_input_size(values: Sequence[Any]) -> None:
    """Array inputs hold at most 250 items (shopify.dev/docs/api/usage/limits#input-limits)."""
    if len(values) > MAX_INPUT:
        raise GraphQLError(
            f"The input array size of {len(values)} is greater than the maximum allowed of "
            f"{MAX_INPUT}.",  # [unconfirmed] wording
            extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
        )
