"""Shopify's search syntax, as far as the simulator evaluates it, and the sort keys of the
``orders`` query."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLError

from omnisync_shopify._sim._values import SHOP_ZONE, Record, by_id, utc

__all__ = ["ORDER_SORTS", "order_filters", "search_terms"]

_TOKEN = re.compile(
    r"""(?P<field>[a-z_]+):(?P<op><=|>=|<|>)?"""
    r"""(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<bare>\S*))|(?P<word>\S+)"""
)
_COMPARE: dict[str, Callable[[str, str], bool]] = {
    ">": lambda value, bound: value > bound,
    ">=": lambda value, bound: value >= bound,
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
}


@dataclass(frozen=True)
class _Term:
    """One ``field:value`` term of a search query."""

    field: str
    op: str
    value: str
    quoted: bool


def search_terms(text: str | None) -> list[_Term]:
    """The terms of a search query (shopify.dev/docs/api/usage/search-syntax). AND, written
    or implied, is the only connective the simulator evaluates."""
    terms = []
    for match in _TOKEN.finditer(text or ""):
        word = match["word"]
        if word == "AND":
            continue
        if word is not None:
            raise GraphQLError(
                f"simulator: cannot evaluate {word!r} in a search query "
                "(only field:value terms joined by AND)"
            )
        value = next(v for v in (match["single"], match["double"], match["bare"]) if v is not None)
        terms.append(_Term(match["field"], match["op"] or "", value, match["bare"] is None))
    return terms


def _search_time(term: _Term) -> str:
    """A date bound as stored times compare. Shopify ignores the time of an unquoted value
    ("Date values must be a string surrounded by quotes", shopify.dev/docs/api/usage/
    search-syntax; Shopify support: the time part is dropped) and reads dates without an
    offset in the shop's time zone."""
    text = term.value if term.quoted else term.value.split("T")[0]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise GraphQLError(f"Invalid date in search query: {term.value!r}") from None
    return utc(moment if moment.tzinfo else moment.replace(tzinfo=SHOP_ZONE))


def _time_filter(term: _Term) -> Callable[[Record], bool]:
    if term.op not in _COMPARE:
        raise GraphQLError(f"simulator: {term.field} needs a comparison (:>, :>=, :<, :<=)")
    bound, compare = _search_time(term), _COMPARE[term.op]
    return lambda record: compare(record[term.field], bound)


def order_filters(text: str | None) -> list[Callable[[Record], bool]]:
    """Predicates for the terms of an ``orders`` query the simulator understands."""
    filters = []
    for term in search_terms(text):
        if term.field not in ("updated_at", "created_at", "processed_at"):
            raise GraphQLError(f"simulator: cannot filter orders by {term.field!r}")
        filters.append(_time_filter(term))
    return filters


ORDER_SORTS: dict[str, Callable[[Record], tuple[Any, int]]] = {
    "ID": by_id,
    "CREATED_AT": lambda order: (order["created_at"], order["id"]),
    "UPDATED_AT": lambda order: (order["updated_at"], order["id"]),
    "PROCESSED_AT": lambda order: (order["processed_at"], order["id"]),
    "ORDER_NUMBER": lambda order: (order["order_number"], order["id"]),
}
