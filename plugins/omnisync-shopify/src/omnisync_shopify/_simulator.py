"""A stateful simulator of the Shopify Admin GraphQL API (the parts omnisync uses).

It answers the GraphQL documents of `omnisync_shopify._queries` the way Shopify does, over
the schema subset in `omnisync_shopify._sim_schema`, parsed, validated and executed by
graphql-core:

- ``POST /admin/api/{version}/graphql.json`` for versions 2026-01 to 2026-10 (others: 404
  ``{"errors": "Not Found"}``), authenticated by ``X-Shopify-Access-Token`` (else 401 with
  Shopify's ``[API] Invalid API key or access token`` body);
- the envelope ``{"data", "errors"?, "extensions": {"cost": ...}}``: a calculated query
  cost, a leaky bucket refilled at ``restore_rate`` points a second, ``THROTTLED`` (HTTP 200)
  when the bucket cannot pay the requested cost and ``MAX_COST_EXCEEDED`` above 1,000 points
  (shopify.dev/docs/api/usage/rate-limits);
- queries ``orders`` (``sortKey``, ``reverse``, ``query: "updated_at:>'...'"``), ``order``,
  ``node``/``nodes``, ``productVariants`` (``query: "sku:..."``), ``locations``,
  ``currentBulkOperation``; connections take ``first`` (at most 250) and opaque ``after``
  cursors;
- mutations ``inventorySetQuantities`` (version rules for ``@idempotent`` and
  ``changeFromQuantity``, idempotent replays, atomic user errors), ``fulfillmentCreate`` and
  ``bulkOperationRunQuery`` (CREATED, RUNNING, COMPLETED on successive polls; JSONL served
  from a storage host that must not be sent the access token);
- shoppers and the merchant (`ShopifySimulator.buy`, ``cancel``, ``refund``,
  ``edit_quantity``, ``touch_order``), whose changes are delivered as signed REST webhooks
  shaped like Shopify's REST resources (shopify.dev/docs/api/admin-rest, Order, Refund,
  InventoryLevel).

Orders are kept as REST records (integer ids, two-decimal money strings, ``*_set`` money
bags) with a few internal keys starting with ``_``; the GraphQL views are built from them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import graphql
import httpx
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)

from omnisync.sim import Faults, SimApp, SoldOut
from omnisync.sim._app import SimError
from omnisync.webhooks import hmac_sha256_base64
from omnisync_shopify._sim_schema import SCHEMA

__all__ = ["API_VERSIONS", "LOCATION_GID", "STORAGE_HOST", "ShopifySimulator"]

Record = dict[str, Any]
T = TypeVar("T")

API_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10")
"""The Admin API versions the simulator answers."""
STRICT_INVENTORY_FROM = "2026-04"
"""From this version inventorySetQuantities needs @idempotent and changeFromQuantity
(shopify.dev/changelog/making-idempotency-mandatory-for-inventory-adjustments-and-refund-mutations)."""
LOCATION_ID = 1
LOCATION_GID = f"gid://shopify/Location/{LOCATION_ID}"
"""The shop's one location."""
STORAGE_HOST = "storage.shopify-sim.invalid"
"""Where bulk operation results are downloaded from (Google Cloud Storage on Shopify)."""

MAX_PAGE = 250  # shopify.dev/docs/api/usage/pagination-graphql
MAX_INPUT = 250  # shopify.dev/docs/api/usage/limits#input-limits
MAX_QUERY_COST = 1000  # shopify.dev/docs/api/usage/rate-limits: single query limit
MUTATION_COST = 10
RATE_LIMITS_DOCS = "https://shopify.dev/api/usage/rate-limits"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"

# The shop's time zone, for REST times and date-only search values. A fixed offset: a real
# shop in Europe/Berlin would follow daylight saving time.
SHOP_ZONE = timezone(timedelta(hours=1))
TAX_RATE = Decimal("0.19")
TAX_TITLE = "DE MwSt."
DISCOUNT_PERCENT = Decimal(10)  # every discount code takes 10 % off every line
SHIPPING_PRICE = Decimal("4.90")
# Exchange rates against EUR, for orders a shopper pays in another currency.
RATES = {
    "EUR": Decimal(1),
    "USD": Decimal("1.08"),
    "GBP": Decimal("0.85"),
    "CHF": Decimal("0.95"),
    "CAD": Decimal("1.47"),
    "SEK": Decimal("11.4"),
    "NOK": Decimal("11.6"),
    "DKK": Decimal("7.46"),
    "PLN": Decimal("4.3"),
}
# shopify.dev/docs/apps/build/orders-fulfillment/inventory-management-apps/manage-quantities-states
REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_canceled",
        "movement_created",
        "movement_received",
        "movement_updated",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
QUANTITY_NAMES = frozenset(
    {
        "available",
        "committed",
        "damaged",
        "incoming",
        "on_hand",
        "quality_control",
        "reserved",
        "safety_stock",
    }
)
TOPICS = frozenset(
    {
        "inventory_levels/update",
        "orders/cancelled",
        "orders/create",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "orders/updated",
        "refunds/create",
    }
)
RESTOCK_TYPES = ("return", "cancel", "no_restock")
RISK_LEVELS = ("HIGH", "MEDIUM", "LOW", "NONE", "PENDING")
_SHOPPERS = [
    ("Zoë", "Ångström"),
    ("José", "Müller"),
    ("Aiko", "Tanaka"),
    ("Chidi", "Okafor"),
    ("Łukasz", "Wójcik"),
]
_PLACES = [
    ("Berlin", "10115", "DE", "Germany"),
    ("Lyon", "69001", "FR", "France"),
    ("Kraków", "30-001", "PL", "Poland"),
    ("Dublin", "D02 X285", "IE", "Ireland"),
    ("Malmö", "211 19", "SE", "Sweden"),
]
_DISPLAY_FULFILMENT = {
    None: "UNFULFILLED",
    "partial": "PARTIALLY_FULFILLED",
    "fulfilled": "FULFILLED",
    "restocked": "RESTOCKED",
}
_APPLICATION_TYPES = {
    "discount_code": "DiscountCodeApplication",
    "manual": "ManualDiscountApplication",
    "automatic": "AutomaticDiscountApplication",
}
_RECOMMENDATIONS = {"HIGH": "CANCEL", "MEDIUM": "INVESTIGATE", "LOW": "ACCEPT"}
# Shopify's static validation codes (graphql-ruby's) for graphql-core's messages.
_ERROR_CODES = [
    (re.compile(r"^Cannot query field"), "undefinedField"),
    (re.compile(r"^Unknown argument"), "argumentNotAccepted"),
    (re.compile(r"argument '\w+' of type '.+' is required"), "missingRequiredArguments"),
    (re.compile(r"^Unknown type"), "undefinedType"),
    (re.compile(r"^Variable '\$\w+' is never used"), "variableNotUsed"),
    (re.compile(r"^Variable '\$\w+' (got|has) invalid value"), "INVALID_VARIABLE"),
    (re.compile(r"^Variable '\$\w+' of required type"), "INVALID_VARIABLE"),
]
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_GID = re.compile(r"gid://shopify/(?P<kind>[A-Za-z]+)/(?P<number>\d+)(?:\?(?P<params>\S*))?")


# Values ----------------------------------------------------------------------------------


def _gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def _parse_gid(value: str) -> tuple[str, int, str]:
    """(type, number, query string) of a global id; Shopify's error for anything else."""
    match = _GID.fullmatch(value)
    if match is None:
        # [unconfirmed] extensions; the message is Shopify's.
        extensions = {"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"}
        raise GraphQLError(f"Invalid global id '{value}'", extensions=extensions)
    return match["kind"], int(match["number"]), match["params"] or ""


def _number(value: str, kind: str) -> int | None:
    """The number of a global id of type ``kind``; None for another type."""
    found, number, _ = _parse_gid(value)
    return number if found == kind else None


def _legacy(value: str | int) -> int:
    """A REST id from an int, its digits or its global id."""
    if isinstance(value, int):
        return value
    return _parse_gid(value)[1] if value.startswith("gid://") else int(value)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _decimal(amount: str) -> str:
    """Shopify's GraphQL Decimal: the fewest decimals, but at least one ("13.5", "0.0")."""
    text = format(Decimal(amount).normalize(), "f")
    return text if "." in text else f"{text}.0"


def _utc(moment: datetime) -> str:
    """DateTime as Shopify's GraphQL writes it: UTC, to the second, with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shop_time(stamp: str) -> str:
    """A stored UTC time as REST and webhooks write it: in the shop's zone, with its offset."""
    return datetime.fromisoformat(stamp).astimezone(SHOP_ZONE).isoformat()


def _rest(record: Any) -> Any:
    """A stored record as REST and webhooks show it: without internal keys, in shop time."""
    if isinstance(record, dict):
        return {
            key: _shop_time(value)
            if key.endswith("_at") and isinstance(value, str)
            else _rest(value)
            for key, value in record.items()
            if not key.startswith("_")
        }
    if isinstance(record, list):
        return [_rest(value) for value in record]
    return record


def _upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


def _by_number(number: int) -> tuple[Any, int]:
    """The sort key of things in id order."""
    return number, number


def _by_id(record: Record) -> tuple[Any, int]:
    return _by_number(record["id"])


def _bag_view(bag: Record) -> Record:
    """A REST money bag as GraphQL's MoneyBag."""

    def money(part: Record) -> Record:
        return {"amount": _decimal(part["amount"]), "currencyCode": part["currency_code"]}

    return {
        "shopMoney": money(bag["shop_money"]),
        "presentmentMoney": money(bag["presentment_money"]),
    }


def _tax_line_view(line: Record) -> Record:
    return {
        "title": line["title"],
        "rate": line["rate"],
        "ratePercentage": round(line["rate"] * 100, 4),
        "priceSet": _bag_view(line["price_set"]),
        "channelLiable": line["channel_liable"],
    }


def _address_view(address: Record | None) -> Record | None:
    if address is None:
        return None
    return {
        "__typename": "MailingAddress",
        "id": _gid("MailingAddress", address["_id"]) + "?model_name=Address",
        "name": address["name"],
        "firstName": address["first_name"],
        "lastName": address["last_name"],
        "company": address["company"],
        "address1": address["address1"],
        "address2": address["address2"],
        "city": address["city"],
        "province": address["province"],
        "provinceCode": address["province_code"],
        "zip": address["zip"],
        "country": address["country"],
        "countryCodeV2": address["country_code"],
        "phone": address["phone"],
    }


def _risk_view(level: str) -> Record:
    return {
        "assessments": [{"riskLevel": level}],
        "recommendation": _RECOMMENDATIONS.get(level, "NONE"),
    }


def _quantity(level: Record, name: str) -> int:
    """A named inventory quantity; on hand is what is available plus what orders hold."""
    if name == "on_hand":
        return int(level["available"] + level["committed"])
    return int(level.get(name, 0))


def _user_error(code: str | None, field: list[str] | None, message: str) -> Record:
    return {"code": code, "field": field, "message": message}


def _formatted(error: GraphQLError) -> Record:
    """graphql-core's error, with the ``extensions.code`` Shopify gives the same problem."""
    formatted: Record = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    if "code" not in extensions:
        codes = (code for pattern, code in _ERROR_CODES if pattern.search(error.message))
        code = next(codes, None)
        if code is not None:
            extensions["code"] = code
    if extensions:
        formatted["extensions"] = extensions
    return formatted


# Connections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
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


def _page_size(info: GraphQLResolveInfo[_Context], first: int | None) -> int | None:
    """How many items a page holds (None: all, in a bulk query)."""
    if info.context.bulk:
        return None
    if first is None:
        raise GraphQLError("you must provide one of first or last")
    if not 0 <= first <= MAX_PAGE:
        # [unconfirmed] wording; the limit is shopify.dev/docs/api/usage/pagination-graphql.
        raise GraphQLError(f"The maximum number of items per page is {MAX_PAGE}, got {first}.")
    return first


def _limit(info: GraphQLResolveInfo[_Context], items: Sequence[T], first: int | None) -> list[T]:
    """A list field truncated to ``first`` (Order.fulfillments(first:) and the like)."""
    size = _page_size(info, first) if first is not None else None
    return list(items if size is None else items[:size])


def _connection(
    info: GraphQLResolveInfo[_Context],
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


# Search syntax ---------------------------------------------------------------------------

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


def _terms(text: str | None) -> list[_Term]:
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
    return _utc(moment if moment.tzinfo else moment.replace(tzinfo=SHOP_ZONE))


def _time_filter(term: _Term) -> Callable[[Record], bool]:
    if term.op not in _COMPARE:
        raise GraphQLError(f"simulator: {term.field} needs a comparison (:>, :>=, :<, :<=)")
    bound, compare = _search_time(term), _COMPARE[term.op]
    return lambda record: compare(record[term.field], bound)


def _order_filters(text: str | None) -> list[Callable[[Record], bool]]:
    """Predicates for the terms of an ``orders`` query the simulator understands."""
    filters = []
    for term in _terms(text):
        if term.field not in ("updated_at", "created_at", "processed_at"):
            raise GraphQLError(f"simulator: cannot filter orders by {term.field!r}")
        filters.append(_time_filter(term))
    return filters


_ORDER_SORTS: dict[str, Callable[[Record], tuple[Any, int]]] = {
    "ID": _by_id,
    "CREATED_AT": lambda order: (order["created_at"], order["id"]),
    "UPDATED_AT": lambda order: (order["updated_at"], order["id"]),
    "PROCESSED_AT": lambda order: (order["processed_at"], order["id"]),
    "ORDER_NUMBER": lambda order: (order["order_number"], order["id"]),
}


# Query cost --------------------------------------------------------------------------------


def _literal(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, ListValueNode):
        return list(node.values)
    return None


def _is_plumbing(parent: GraphQLNamedType) -> bool:
    """Connection and edge types: their lists are pages, not list fields."""
    return parent.name.endswith(("Connection", "Edge"))


@dataclass(frozen=True)
class _CostPlan:
    """Shopify's calculated cost of a query, before it runs
    (shopify.dev/docs/api/usage/rate-limits#cost-calculation):

    - scalars and enums 0; an object 1 plus its selection;
    - a connection 2 plus ``first`` times the cost of one node (1 plus its selection);
    - a list field sized by ``first`` (or ``ids``) that many times (1 plus its selection);
      an unsized list its selection once: this matches the requestedQueryCost of 13 Shopify
      gave the inventorySetQuantities payload selection in a live 2026-04 capture;
    - a mutation 10 plus its payload's selection;
    - interfaces and unions: every fragment counts (Shopify takes the dearest type; the
      simulator's queries select one type per fragment spread, so the sum is the same).
    """

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]

    def operation(self, operation: OperationDefinitionNode) -> int:
        if operation.operation == OperationType.MUTATION:
            root = self.schema.mutation_type
            assert root is not None
            return sum(
                MUTATION_COST + self.selection(get_named_type(field.type), node.selection_set)
                for node, field in self.fields(root, operation.selection_set)
            )
        assert self.schema.query_type is not None
        return self.selection(self.schema.query_type, operation.selection_set)

    def fields(
        self, parent: GraphQLNamedType, selection_set: SelectionSetNode | None
    ) -> Iterator[tuple[FieldNode, GraphQLField]]:
        """The fields selected on ``parent``, fragments spread out."""
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if not name.startswith("__") and isinstance(
                    parent, GraphQLObjectType | GraphQLInterfaceType
                ):
                    yield selection, parent.fields[name]
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                assert inner is not None
                yield from self.fields(inner, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                inner = self.schema.get_type(fragment.type_condition.name.value)
                assert inner is not None
                yield from self.fields(inner, fragment.selection_set)

    def size(self, node: FieldNode) -> int | None:
        """How many objects a field asks for (``first``, or the number of ``ids``)."""
        for argument in node.arguments or ():
            if argument.name.value in ("first", "ids"):
                value = _literal(argument.value, self.variables)
                if isinstance(value, list):
                    return len(value)
                return value if isinstance(value, int) else 0
        return None

    def selection(self, parent: GraphQLNamedType, selection_set: SelectionSetNode | None) -> int:
        total = 0
        for node, field in self.fields(parent, selection_set):
            named = get_named_type(field.type)
            if not is_composite_type(named):
                continue
            size = self.size(node)
            if named.name.endswith("Connection"):
                total += 2 + (size or 0) * self.node_cost(named, node.selection_set)
            elif is_list_type(get_nullable_type(field.type)) and size is None:
                total += self.selection(named, node.selection_set)
            else:
                total += (1 if size is None else size) * (
                    1 + self.selection(named, node.selection_set)
                )
        return total

    def node_cost(
        self, connection: GraphQLNamedType, selection_set: SelectionSetNode | None
    ) -> int:
        """The cost of one node of a connection, read through ``nodes`` or ``edges.node``."""
        costs = [0]
        for node, field in self.fields(connection, selection_set):
            named = get_named_type(field.type)
            if node.name.value == "nodes":
                costs.append(1 + self.selection(named, node.selection_set))
            elif node.name.value == "edges":
                costs += [
                    1 + self.selection(get_named_type(inner.type), sub.selection_set)
                    for sub, inner in self.fields(named, node.selection_set)
                    if sub.name.value == "node"
                ]
        return max(costs)


class _CostMeter:
    """graphql-core middleware that adds up the cost of what a query returned, by the
    rules of `_CostPlan`; Shopify charges this actual cost and refunds the rest."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.mutation = schema.mutation_type
        self.total = 0

    def resolve(
        self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo[_Context], **args: Any
    ) -> Any:
        value = next_(root, info, **args)
        self.total += self._cost(info, value, args)
        return value

    def _cost(self, info: GraphQLResolveInfo[_Context], value: Any, args: Mapping[str, Any]) -> int:
        if info.parent_type is self.mutation:
            return MUTATION_COST
        named = get_named_type(info.return_type)
        if value is None or not is_composite_type(named):
            return 0
        if info.parent_type.name.endswith("Connection"):
            return len(value) if info.field_name == "nodes" else 0
        if info.parent_type.name.endswith("Edge"):
            return 1
        if named.name.endswith("Connection"):
            return 2
        if isinstance(value, list):
            return len(value) if "first" in args or "ids" in args else 0
        return 1


# Bulk operations ---------------------------------------------------------------------------


def _bulk_connections(
    plan: _CostPlan,
    parent: GraphQLNamedType,
    selection_set: SelectionSetNode | None,
    depth: int = 0,
    in_list: bool = False,
) -> Iterator[tuple[int, bool]]:
    """(nesting depth, inside a list field) of every connection a bulk query selects."""
    for node, field in plan.fields(parent, selection_set):
        named = get_named_type(field.type)
        if not is_composite_type(named):
            continue
        listed = in_list or (
            is_list_type(get_nullable_type(field.type)) and not _is_plumbing(parent)
        )
        if named.name.endswith("Connection"):
            depth_inside = depth + 1
            yield depth_inside, in_list
        else:
            depth_inside = depth
        yield from _bulk_connections(plan, named, node.selection_set, depth_inside, listed)


def _bulk_problem(plan: _CostPlan, operation: OperationDefinitionNode) -> str | None:
    """Why Shopify would refuse a bulk query: "The query must include at least one connection
    field and supports up to five connections with a maximum nesting depth of two levels"
    (shopify.dev/docs/api/admin-graphql/2026-01/mutations/bulkOperationRunQuery); and no
    connection inside a list field. [unconfirmed] wording of the messages."""
    if operation.operation != OperationType.QUERY:
        return "Bulk queries must be queries, not mutations."
    assert plan.schema.query_type is not None
    found = list(_bulk_connections(plan, plan.schema.query_type, operation.selection_set))
    if not found:
        return "Bulk queries must contain at least one connection."
    if len(found) > 5:
        return "Bulk queries cannot contain more than 5 connections."
    if max(depth for depth, _ in found) > 2:
        return "Bulk queries cannot contain connections with a nesting depth greater than 2."
    if any(in_list for _, in_list in found):
        return "Queries that contain a connection field within a list field are not supported."
    return None


def _connection_nodes(value: Any) -> list[Any] | None:
    """The nodes of a connection in a result (read through edges or nodes); None for any
    other value. No other type of the schema has only ``edges``/``nodes``/``pageInfo``."""
    if not isinstance(value, dict) or not ({"edges", "nodes"} & value.keys()):
        return None
    if value.keys() - {"edges", "nodes", "pageInfo", "__typename"}:
        return None
    if "nodes" in value:
        return list(value["nodes"])
    return [edge["node"] for edge in value["edges"]]


def _jsonl_rows(node: Record, parent_id: str | None) -> Iterator[Record]:
    """A node as bulk JSONL lines: its own line first (nested connections left out, with
    ``__parentId`` when it is a child), then each child node's, recursively
    (shopify.dev/docs/api/usage/bulk-operations/queries#the-jsonl-data-format)."""
    row = {key: value for key, value in node.items() if _connection_nodes(value) is None}
    if parent_id is not None:
        row["__parentId"] = parent_id
    yield row
    for value in node.values():
        for child in _connection_nodes(value) or ():
            yield from _jsonl_rows(child, node.get("id"))


# The simulator -----------------------------------------------------------------------------


class ShopifySimulator(SimApp):
    """A Shopify shop with products, one location, orders, fulfilments, refunds and bulk
    exports, behind the Admin GraphQL API (see the module docstring).

    Set-up and shoppers: `add_product`, `buy`; the merchant: `cancel`, `refund`,
    `edit_quantity`, `set_count`, `touch_order`; reading: `shown`. The contract kit's
    `add_listing`, `place_order`, `stock_batches` and `order_webhook`. Webhooks queue in
    ``webhooks`` (`drain_webhooks`); ``topics``, ``duplicate_webhooks`` and ``webhook_loss``
    shape their delivery. The cost bucket holds ``maximum_available`` points refilled at
    ``restore_rate`` a second (`drain_budget` empties it); ``max_query_cost`` is Shopify's
    single-query limit (None lifts it, to check a query's shape whatever its cost).

    Choices where Shopify's behaviour is not pinned down: every change takes its own second
    (see `stamp`); ``orders`` without ``status:`` lists every order, closed and cancelled
    ones too; search terms the simulator cannot evaluate are errors, not ignored.
    """

    def __init__(
        self,
        name: str = "shopify",
        *,
        access_token: str = "shpat_simulated",
        client_secret: str = "shopify-client-secret",
        currency: str = "EUR",
        maximum_available: float = 2000.0,
        restore_rate: float = 100.0,
        max_query_cost: int | None = MAX_QUERY_COST,
        faults: Faults | None = None,
        seed: int = 0,
    ) -> None:
        if currency not in RATES:
            raise ValueError(f"the simulator has no exchange rate for {currency}")
        super().__init__(name, token=access_token, faults=faults)
        self.access_token = access_token
        self.client_secret = client_secret
        self.currency = currency
        self.shop_domain = f"{name}.myshopify.com"
        self.webhook_version = API_VERSIONS[-1]
        """The API version of the webhook subscriptions (sent as X-Shopify-API-Version)."""
        self.taxes_included = True
        """Whether prices include tax (VAT), as in most European shops."""
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.max_query_cost = max_query_cost
        """Shopify's single-query limit; None lifts it."""
        self.rng = random.Random(seed)
        self.products: dict[int, Record] = {}
        self.variants: dict[int, Record] = {}
        self.items: dict[int, Record] = {}
        self.orders: dict[int, Record] = {}
        self.adjustment_groups: dict[int, Record] = {}
        self.bulk_operations: dict[int, Record] = {}
        self.bulk_outputs: dict[int, str] = {}
        self.idempotency: dict[str, Record] = {}
        """Results of inventorySetQuantities calls by idempotency key."""
        self.batch_sizes: list[int] = []
        """How many quantities each inventorySetQuantities call carried, in order (refused
        calls included)."""
        self.topics: set[str] = set(TOPICS)
        """The topics the app subscribes to; other events are not delivered."""
        self._available = maximum_available
        self._refilled = time.monotonic()
        self._order_number = 1000
        self._sequence = 1_000_000_000_000  # ids as large as Shopify's (13 digits)
        self._schema = graphql.build_schema(SCHEMA)
        self._root: Record = {
            "orders": self._orders,
            "order": self._order,
            "node": self._node,
            "nodes": self._nodes,
            "productVariants": self._product_variants,
            "locations": self._locations,
            "currentBulkOperation": self._current_bulk_operation,
            "inventorySetQuantities": self._inventory_set_quantities,
            "fulfillmentCreate": self._fulfillment_create,
            "bulkOperationRunQuery": self._bulk_operation_run_query,
        }
        self.route("POST", r"/admin/api/(?P<version>[^/]+)/graphql\.json", self._graphql)
        self.route("GET", r"/bulk-operation-outputs/(?P<number>\d+)\.jsonl", self._download)

    def stamp(self) -> str:
        """Now, to the second as Shopify's DateTime, and a second after any earlier stamp, so
        each change moves ``updatedAt`` (Shopify's own changes can share a second)."""
        moment = max(self.clock().replace(microsecond=0), self._last + timedelta(seconds=1))
        self._last = moment
        return _utc(moment)

    # Catalogue and stock ------------------------------------------------------------------

    def add_product(
        self,
        sku: str,
        *,
        quantity: int = 0,
        price: str = "10.00",
        title: str | None = None,
        stocked: bool = True,
    ) -> dict[str, str]:
        """A product with one variant and its inventory item, stocked at the location with
        ``quantity`` available (not stocked anywhere with ``stocked=False``). Returns the
        global ids of the product, variant and inventory item."""
        with self.lock:
            now = self.stamp()
            product_id, variant_id, item_id = (self.next_number() for _ in range(3))
            title = title or sku.replace("-", " ").title()
            self.products[product_id] = {
                "id": product_id,
                "title": title,
                "handle": re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
                "created_at": now,
                "updated_at": now,
                "variant_ids": [variant_id],
            }
            self.variants[variant_id] = {
                "id": variant_id,
                "product_id": product_id,
                "sku": sku,
                "title": "Default Title",
                "price": str(_cents(Decimal(price))),
                "inventory_item_id": item_id,
                "created_at": now,
                "updated_at": now,
            }
            level = {"available": quantity, "committed": 0, "created_at": now, "updated_at": now}
            self.items[item_id] = {
                "id": item_id,
                "variant_id": variant_id,
                "sku": sku,
                "tracked": True,
                "requires_shipping": True,
                "created_at": now,
                "updated_at": now,
                "levels": {str(LOCATION_ID): level} if stocked else {},
            }
            return {
                "sku": sku,
                "product_id": _gid("Product", product_id),
                "variant_id": _gid("ProductVariant", variant_id),
                "inventory_item_id": _gid("InventoryItem", item_id),
            }

    def _variant(self, sku: str) -> Record:
        for variant in self.variants.values():
            if variant["sku"] == sku:
                return variant
        raise KeyError(sku)

    def _stock(self, variant_id: int) -> tuple[Record, Record] | None:
        """The inventory item of a variant and its level at the location, if stocked there."""
        variant = self.variants.get(variant_id)
        if variant is None:
            return None
        item = self.items[variant["inventory_item_id"]]
        level = item["levels"].get(str(LOCATION_ID))
        return (item, level) if level is not None else None

    def shown(self, sku: str) -> int:
        """The quantity available at the location (what the storefront sells)."""
        with self.lock:
            stock = self._stock(self._variant(sku)["id"])
            return _quantity(stock[1], "available") if stock else 0

    def edit_quantity(self, sku: str, quantity: int) -> None:
        """The merchant sets the available quantity in the Shopify admin."""
        with self.lock:
            item, level = self._stocked(sku)
            level["available"] = quantity
            self._level_changed(item, level, self.stamp())

    def set_count(self, sku: str, quantity: int) -> None:
        """The merchant counts the shelf: on hand becomes ``quantity`` (what orders hold
        stays committed; available moves by the difference)."""
        with self.lock:
            item, level = self._stocked(sku)
            level["available"] = quantity - level["committed"]
            self._level_changed(item, level, self.stamp())

    def _stocked(self, sku: str) -> tuple[Record, Record]:
        stock = self._stock(self._variant(sku)["id"])
        if stock is None:
            raise ValueError(f"{sku} is not stocked at the location")
        return stock

    def _level_changed(self, item: Record, level: Record, now: str) -> None:
        """Record a change of what is available and deliver inventory_levels/update."""
        level["updated_at"] = item["updated_at"] = now
        payload = {
            "inventory_item_id": item["id"],
            "location_id": LOCATION_ID,
            "available": level["available"],
            "updated_at": now,
            "admin_graphql_api_id": self._level_gid(item["id"]),
        }
        self._webhook("inventory_levels/update", payload, now)

    @staticmethod
    def _level_gid(item_id: int) -> str:
        return f"{_gid('InventoryLevel', LOCATION_ID)}?inventory_item_id={item_id}"

    # Money ---------------------------------------------------------------------------------

    def _bag(self, amount: Decimal, presentment: str) -> Record:
        """A REST money bag: shop money and the shopper's currency at the simulator's rate."""
        rate = RATES[presentment] / RATES[self.currency]
        return {
            "shop_money": {"amount": str(_cents(amount)), "currency_code": self.currency},
            "presentment_money": {
                "amount": str(_cents(amount * rate)),
                "currency_code": presentment,
            },
        }

    def _tax(self, amount: Decimal) -> Decimal:
        """The VAT in (taxes included) or on (excluded) an amount."""
        if self.taxes_included:
            return _cents(amount * TAX_RATE / (1 + TAX_RATE))
        return _cents(amount * TAX_RATE)

    def _tax_line(self, tax: Decimal, presentment: str) -> Record:
        return {
            "channel_liable": False,
            "price": str(tax),
            "price_set": self._bag(tax, presentment),
            "rate": float(TAX_RATE),
            "title": TAX_TITLE,
        }

    def _set(self, order: Record, name: str, amount: Decimal, *, scalar: bool = True) -> None:
        """Write a REST money field and its ``_set`` bag."""
        if scalar:
            order[name] = str(_cents(amount))
        order[f"{name}_set"] = self._bag(amount, order["presentment_currency"])

    # Shoppers ------------------------------------------------------------------------------

    def buy(
        self,
        items: Mapping[str, int],
        *,
        currency: str | None = None,
        discount_code: str | None = None,
        risk: str = "LOW",
    ) -> dict[str, Any]:
        """A shopper checks out ``items`` (SKU → quantity) and pays; `SoldOut` if the
        location has less available. Stock is committed as Shopify does at checkout, an
        orders/create webhook is delivered, and the REST order is returned. ``currency`` is
        what the shopper pays in (presentment currency); a ``discount_code`` takes 10 % off
        every line; ``risk`` is Shopify's risk assessment of the order (`RISK_LEVELS`)."""
        with self.lock:
            presentment = currency or self.currency
            if presentment not in RATES:
                raise ValueError(f"the simulator has no exchange rate for {presentment}")
            if risk not in RISK_LEVELS:
                raise ValueError(f"risk must be one of {', '.join(RISK_LEVELS)}")
            chosen = self._check_stock(items)
            now = self.stamp()
            order = self._new_order(presentment, now, risk)
            order["line_items"] = [
                self._new_line(order, variant, quantity, discount_code is not None)
                for variant, quantity in chosen
            ]
            self._add_discount(order, discount_code)
            order["_fulfillment_orders"] = [self._new_fulfillment_order(order, now)]
            self._totals(order)
            self.orders[order["id"]] = order
            self._webhook("orders/create", order, now)
            for variant, quantity in chosen:
                self._commit(variant["id"], quantity, now)
            return dict(_rest(order))

    def _check_stock(self, items: Mapping[str, int]) -> list[tuple[Record, int]]:
        chosen = []
        for sku, quantity in items.items():
            try:
                variant = self._variant(sku)
            except KeyError:
                raise SoldOut(f"{self.name}: no product has SKU {sku}") from None
            stock = self._stock(variant["id"])
            available = _quantity(stock[1], "available") if stock else 0
            if available < quantity:
                raise SoldOut(f"{self.name}: {sku} has {available} available")
            chosen.append((variant, quantity))
        return chosen

    def _commit(self, variant_id: int, quantity: int, now: str) -> None:
        """Checkout moves units from available to committed (on hand is unchanged)."""
        stock = self._stock(variant_id)
        assert stock is not None
        item, level = stock
        level["available"] -= quantity
        level["committed"] += quantity
        self._level_changed(item, level, now)

    def _new_order(self, presentment: str, now: str, risk: str) -> Record:
        order_id = self.next_number()
        self._order_number += 1
        first, last = self.rng.choice(_SHOPPERS)
        email = f"{first.lower()}.{self._order_number}@example.com"
        customer = self._customer(first, last, email, now)
        address = self._address(first, last)
        return {
            "id": order_id,
            "admin_graphql_api_id": _gid("Order", order_id),
            "name": f"#{self._order_number}",
            "number": self._order_number - 1000,
            "order_number": self._order_number,
            "email": email,
            "contact_email": email,
            "phone": None,
            "created_at": now,
            "updated_at": now,
            "processed_at": now,
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "confirmed": True,
            "currency": self.currency,
            "presentment_currency": presentment,
            "financial_status": "paid",
            "fulfillment_status": None,
            "taxes_included": self.taxes_included,
            "tax_exempt": False,
            "test": False,
            "tags": "",
            "note": None,
            "note_attributes": [],
            "source_name": "web",
            "source_identifier": None,
            "payment_gateway_names": ["bogus"],
            "payment_terms": None,
            "buyer_accepts_marketing": False,
            "confirmation_number": f"SIM{order_id % 10**9:09d}",
            "customer_locale": "de",
            "duties_included": False,
            "estimated_taxes": False,
            "location_id": None,
            "po_number": None,
            "total_tip_received": "0.00",
            "total_weight": 0,
            "user_id": None,
            "app_id": None,
            "discount_codes": [],
            "discount_applications": [],
            "customer": customer,
            "billing_address": address,
            "shipping_address": {**address, "_id": self.next_number()},
            "line_items": [],
            "shipping_lines": [self._shipping_line(presentment)],
            "fulfillments": [],
            "refunds": [],
            "_risk_level": risk,
            "_sale_transaction_id": self.next_number(),
            "_shipping_refunded": False,
        }

    def _customer(self, first: str, last: str, email: str, now: str) -> Record:
        customer_id = self.next_number()
        return {
            "id": customer_id,
            "admin_graphql_api_id": _gid("Customer", customer_id),
            "email": email,
            "first_name": first,
            "last_name": last,
            "phone": None,
            "state": "disabled",
            "note": None,
            "verified_email": True,
            "tax_exempt": False,
            "tax_exemptions": [],
            "tags": "",
            "currency": self.currency,
            "email_marketing_consent": {
                "state": "not_subscribed",
                "opt_in_level": "single_opt_in",
                "consent_updated_at": None,
            },
            "created_at": now,
            "updated_at": now,
        }

    def _address(self, first: str, last: str) -> Record:
        city, postal, country_code, country = self.rng.choice(_PLACES)
        return {
            "_id": self.next_number(),
            "first_name": first,
            "last_name": last,
            "name": f"{first} {last}",
            "company": None,
            "address1": f"{self.rng.randrange(1, 200)} Hauptstraße",
            "address2": "",
            "city": city,
            "province": None,
            "province_code": None,
            "zip": postal,
            "country": country,
            "country_code": country_code,
            "phone": None,
            "latitude": None,
            "longitude": None,
        }

    def _new_line(self, order: Record, variant: Record, quantity: int, discounted: bool) -> Record:
        presentment = order["presentment_currency"]
        product = self.products[variant["product_id"]]
        price = Decimal(variant["price"])
        gross = price * quantity
        discount = _cents(gross * DISCOUNT_PERCENT / 100) if discounted else Decimal(0)
        allocations = (
            [
                {
                    "amount": str(discount),
                    "amount_set": self._bag(discount, presentment),
                    "discount_application_index": 0,
                }
            ]
            if discounted
            else []
        )
        line_id = self.next_number()
        return {
            "id": line_id,
            "admin_graphql_api_id": _gid("LineItem", line_id),
            "variant_id": variant["id"],
            "product_id": product["id"],
            "sku": variant["sku"],
            "title": product["title"],
            "variant_title": None,
            "name": product["title"],
            "vendor": None,
            "quantity": quantity,
            "current_quantity": quantity,
            "fulfillable_quantity": quantity,
            "fulfillment_status": None,
            "fulfillment_service": "manual",
            "price": str(_cents(price)),
            "price_set": self._bag(price, presentment),
            "total_discount": "0.00",
            "total_discount_set": self._bag(Decimal(0), presentment),
            "discount_allocations": allocations,
            "tax_lines": [self._tax_line(self._tax(gross - discount), presentment)],
            "duties": [],
            "properties": [],
            "requires_shipping": True,
            "taxable": True,
            "gift_card": False,
            "grams": 0,
            "product_exists": True,
            "variant_inventory_management": "shopify",
            "attributed_staffs": [],
        }

    def _shipping_line(self, presentment: str) -> Record:
        line_id = self.next_number()
        price_set = self._bag(SHIPPING_PRICE, presentment)
        return {
            "id": line_id,
            "title": "Standard",
            "code": "Standard",
            "source": "shopify",
            "carrier_identifier": None,
            "phone": None,
            "requested_fulfillment_service_id": None,
            "is_removed": False,
            "price": str(SHIPPING_PRICE),
            "price_set": price_set,
            "discounted_price": str(SHIPPING_PRICE),
            "discounted_price_set": price_set,
            "current_discounted_price_set": price_set,
            "tax_lines": [self._tax_line(self._tax(SHIPPING_PRICE), presentment)],
            "discount_allocations": [],
        }

    def _add_discount(self, order: Record, code: str | None) -> None:
        if code is None:
            return
        total = sum(
            (
                Decimal(a["amount"])
                for line in order["line_items"]
                for a in line["discount_allocations"]
            ),
            Decimal(0),
        )
        order["discount_codes"] = [{"code": code, "amount": str(total), "type": "percentage"}]
        order["discount_applications"] = [
            {
                "target_type": "line_item",
                "type": "discount_code",
                "value": str(DISCOUNT_PERCENT.quantize(Decimal("0.1"))),
                "value_type": "percentage",
                "allocation_method": "across",
                "target_selection": "all",
                "code": code,
            }
        ]

    def _new_fulfillment_order(self, order: Record, now: str) -> Record:
        """One fulfillment order per order, at the one location (REST FulfillmentOrder)."""
        fo_id = self.next_number()
        return {
            "id": fo_id,
            "order_id": order["id"],
            "assigned_location_id": LOCATION_ID,
            "status": "open",
            "request_status": "unsubmitted",
            "created_at": now,
            "updated_at": now,
            "line_items": [
                {
                    "id": self.next_number(),
                    "fulfillment_order_id": fo_id,
                    "line_item_id": line["id"],
                    "variant_id": line["variant_id"],
                    "inventory_item_id": self.variants[line["variant_id"]]["inventory_item_id"],
                    "quantity": line["quantity"],
                    "fulfillable_quantity": line["quantity"],
                }
                for line in order["line_items"]
            ],
        }

    def _totals(self, order: Record) -> None:
        """Recompute an order's totals from its lines (REST Order field definitions):
        subtotal after discounts; total adds shipping, and tax unless prices include it;
        ``current_*`` leave out refunded and removed units."""
        included = order["taxes_included"]
        lines = order["line_items"]
        shipping = sum((Decimal(s["price"]) for s in order["shipping_lines"]), Decimal(0))
        shipping_tax = sum(
            (Decimal(t["price"]) for s in order["shipping_lines"] for t in s["tax_lines"]),
            Decimal(0),
        )
        gross = sum((Decimal(line["price"]) * line["quantity"] for line in lines), Decimal(0))
        discounts = sum((self._line_discount(line) for line in lines), Decimal(0))
        tax = sum((self._line_tax(line) for line in lines), Decimal(0)) + shipping_tax
        self._set(order, "total_line_items_price", gross)
        self._set(order, "total_discounts", discounts)
        self._set(order, "subtotal_price", gross - discounts)
        self._set(order, "total_tax", tax)
        self._set(order, "total_shipping_price", shipping, scalar=False)
        self._set(order, "total_price", gross - discounts + shipping + (0 if included else tax))
        self._current_totals(order, shipping, shipping_tax)
        order["tax_lines"] = [self._tax_line(tax, order["presentment_currency"])]

    def _current_totals(self, order: Record, shipping: Decimal, shipping_tax: Decimal) -> None:
        lines = order["line_items"]
        if order["_shipping_refunded"]:
            shipping = shipping_tax = Decimal(0)

        def share(amount: Decimal, line: Record) -> Decimal:
            return _cents(amount * line["current_quantity"] / line["quantity"])

        gross = sum((Decimal(ln["price"]) * ln["current_quantity"] for ln in lines), Decimal(0))
        discounts = sum((share(self._line_discount(ln), ln) for ln in lines), Decimal(0))
        tax = sum((share(self._line_tax(ln), ln) for ln in lines), Decimal(0)) + shipping_tax
        total = gross - discounts + shipping + (0 if order["taxes_included"] else tax)
        self._set(order, "current_subtotal_price", gross - discounts)
        self._set(order, "current_total_discounts", discounts)
        self._set(order, "current_total_tax", tax)
        self._set(order, "current_total_price", total)
        order["total_outstanding"] = "0.00"

    @staticmethod
    def _line_discount(line: Record) -> Decimal:
        return sum((Decimal(a["amount"]) for a in line["discount_allocations"]), Decimal(0))

    @staticmethod
    def _line_tax(line: Record) -> Decimal:
        return sum((Decimal(t["price"]) for t in line["tax_lines"]), Decimal(0))

    # Merchant actions ----------------------------------------------------------------------

    def _order_record(self, order_id: str | int) -> Record:
        try:
            order: Record = self.orders[_legacy(order_id)]
        except (KeyError, ValueError):
            raise KeyError(f"no order {order_id}") from None
        return order

    @staticmethod
    def _order_line(order: Record, line_id: int) -> Record:
        lines: list[Record] = order["line_items"]
        for line in lines:
            if line["id"] == line_id:
                return line
        raise KeyError(f"order {order['id']} has no line {line_id}")

    def cancel(self, order_id: str | int) -> dict[str, Any]:
        """The customer cancels: unfulfilled units are refunded (with shipping, when nothing
        was shipped) and restocked, the fulfillment order closes, the order is closed.
        Delivers orders/cancelled, refunds/create and orders/updated."""
        with self.lock:
            order = self._order_record(order_id)
            if order["cancelled_at"] is not None:
                raise ValueError(f"order {order['id']} is already cancelled")
            if order["fulfillment_status"] == "fulfilled":
                raise ValueError(f"order {order['id']} is fulfilled and cannot be cancelled")
            now = self.stamp()
            order["cancelled_at"], order["cancel_reason"] = now, "customer"
            parts = [(ln, ln["fulfillable_quantity"]) for ln in order["line_items"]]
            shipped = any(self._fulfilled(order, line["id"]) for line in order["line_items"])
            parts = [(line, units) for line, units in parts if units]
            refund = self._record_refund(
                order, parts, "cancel", now, shipping=not shipped, note="Order canceled"
            )
            for fulfillment_order in order["_fulfillment_orders"]:
                fulfillment_order.update(status="closed", updated_at=now)
            self._refresh(order, now)
            self._webhook("orders/cancelled", order, now)
            self._webhook("refunds/create", refund, now)
            self._webhook("orders/updated", order, now)
            return dict(_rest(order))

    def refund(
        self,
        order_id: str | int,
        line_id: str | int,
        quantity: int,
        *,
        restock_type: str = "return",
    ) -> dict[str, Any]:
        """The merchant refunds ``quantity`` units of a line: ``return`` (shipped units come
        back to stock), ``cancel`` (unshipped units are removed and restocked) or
        ``no_restock``. Delivers refunds/create and orders/updated; returns the REST Refund."""
        with self.lock:
            order = self._order_record(order_id)
            line = self._order_line(order, _legacy(line_id))
            self._check_refund(order, line, quantity, restock_type)
            now = self.stamp()
            refund = self._record_refund(order, [(line, quantity)], restock_type, now)
            self._refresh(order, now)
            self._webhook("refunds/create", refund, now)
            self._webhook("orders/updated", order, now)
            return dict(_rest(refund))

    def _check_refund(self, order: Record, line: Record, quantity: int, restock: str) -> None:
        shipped = line["current_quantity"] - line["fulfillable_quantity"]
        limits = {
            "return": shipped,
            "cancel": line["fulfillable_quantity"],
            "no_restock": line["current_quantity"],
        }
        if restock not in limits:
            raise ValueError(f"restock_type must be one of {', '.join(RESTOCK_TYPES)}")
        if not 0 < quantity <= limits[restock]:
            raise ValueError(
                f"line {line['id']} of order {order['id']} has {limits[restock]} units "
                f"that can be refunded with restock_type {restock}"
            )

    def touch_order(self, order_id: str | int) -> None:
        """The merchant edits the order's note, so its ``updatedAt`` moves; delivers
        orders/updated."""
        with self.lock:
            order = self._order_record(order_id)
            now = self.stamp()
            order["note"] = f"Edited by the merchant at {now}"
            order["updated_at"] = now
            self._webhook("orders/updated", order, now)

    def _fulfilled(self, order: Record, line_id: int) -> int:
        return sum(
            item["quantity"]
            for fulfillment in order["fulfillments"]
            for item in fulfillment["line_items"]
            if item["id"] == line_id
        )

    def _refresh(self, order: Record, now: str) -> None:
        """Bring statuses and totals up to date after a change, and move ``updated_at``.
        Orders close once fulfilled or all refunded (the admin's default auto-archive
        setting), and when cancelled."""
        shipped = False
        for line in order["line_items"]:
            fulfilled = self._fulfilled(order, line["id"])
            shipped = shipped or fulfilled > 0
            status = "fulfilled" if not line["fulfillable_quantity"] else "partial"
            line["fulfillment_status"] = status if fulfilled else None
        open_units = any(line["fulfillable_quantity"] for line in order["line_items"])
        if order["cancelled_at"] is not None and not shipped:
            order["fulfillment_status"] = "restocked"
        elif shipped:
            order["fulfillment_status"] = "partial" if open_units else "fulfilled"
        self._totals(order)
        order["financial_status"] = self._financial_status(order)
        done = (
            order["cancelled_at"] is not None
            or order["fulfillment_status"] == "fulfilled"
            or not any(line["current_quantity"] for line in order["line_items"])
        )
        if done and order["closed_at"] is None:
            order["closed_at"] = now
        order["updated_at"] = now

    def _financial_status(self, order: Record) -> str:
        refunded = self._refunded(order)
        if not refunded:
            return "paid"
        return "refunded" if refunded >= Decimal(order["total_price"]) else "partially_refunded"

    @staticmethod
    def _refunded(order: Record) -> Decimal:
        return sum(
            (Decimal(t["amount"]) for refund in order["refunds"] for t in refund["transactions"]),
            Decimal(0),
        )

    # Refunds -------------------------------------------------------------------------------

    def _record_refund(
        self,
        order: Record,
        parts: list[tuple[Record, int]],
        restock_type: str,
        now: str,
        *,
        shipping: bool = False,
        note: str | None = None,
    ) -> Record:
        """Add a REST Refund of ``parts`` (line, units) to the order, taking the units
        back; with ``shipping``, the shipping is refunded too."""
        refund_id = self.next_number()
        rows = [self._refund_row(order, line, units, restock_type) for line, units in parts]
        for line, units in parts:
            self._take_back(order, line, units, restock_type, now)
        shipping_rows = self._refund_shipping(order) if shipping else []
        amount = sum(
            (Decimal(row["subtotal_set"]["shop_money"]["amount"]) for row in rows), Decimal(0)
        )
        if not order["taxes_included"]:
            amount += sum((Decimal(str(row["total_tax"])) for row in rows), Decimal(0))
        amount += sum((Decimal(row["_amount"]) for row in shipping_rows), Decimal(0))
        refund = {
            "id": refund_id,
            "admin_graphql_api_id": _gid("Refund", refund_id),
            "order_id": order["id"],
            "created_at": now,
            "processed_at": now,
            "note": note,
            "user_id": None,
            "restock": restock_type in ("return", "cancel"),
            "duties": [],
            "additional_fees": [],
            "total_duties_set": self._bag(Decimal(0), order["presentment_currency"]),
            "total_additional_fees_set": self._bag(Decimal(0), order["presentment_currency"]),
            "return": None,
            "refund_line_items": rows,
            "refund_shipping_lines": shipping_rows,
            "order_adjustments": [],
            "transactions": [self._refund_transaction(order, amount, now)],
        }
        order["refunds"].append(refund)
        return refund

    def _refund_row(self, order: Record, line: Record, units: int, restock_type: str) -> Record:
        presentment = order["presentment_currency"]
        quantity = line["quantity"]
        unit = (Decimal(line["price"]) * quantity - self._line_discount(line)) / quantity
        subtotal = _cents(unit * units)
        tax = _cents(self._line_tax(line) * units / line["quantity"])
        return {
            "id": self.next_number(),
            "line_item_id": line["id"],
            "location_id": LOCATION_ID if restock_type in ("return", "cancel") else None,
            "quantity": units,
            "restock_type": restock_type,
            "subtotal": float(subtotal),
            "subtotal_set": self._bag(subtotal, presentment),
            "total_tax": float(tax),
            "total_tax_set": self._bag(tax, presentment),
            "line_item": copy.deepcopy(line),
        }

    def _refund_shipping(self, order: Record) -> list[Record]:
        order["_shipping_refunded"] = True
        rows = []
        for shipping_line in order["shipping_lines"]:
            price = Decimal(shipping_line["price"])
            tax = sum((Decimal(t["price"]) for t in shipping_line["tax_lines"]), Decimal(0))
            amount = price + (0 if order["taxes_included"] else tax)
            rows.append(
                {
                    "id": self.next_number(),
                    "shipping_line_id": shipping_line["id"],
                    "subtotal_amount_set": self._bag(price, order["presentment_currency"]),
                    "shipping_line": copy.deepcopy(shipping_line),
                    "_amount": str(amount),
                }
            )
        return rows

    def _refund_transaction(self, order: Record, amount: Decimal, now: str) -> Record:
        transaction_id = self.next_number()
        return {
            "id": transaction_id,
            "admin_graphql_api_id": _gid("OrderTransaction", transaction_id),
            "order_id": order["id"],
            "kind": "refund",
            "gateway": "bogus",
            "status": "success",
            "message": None,
            "created_at": now,
            "processed_at": now,
            "test": False,
            "authorization": None,
            "location_id": None,
            "user_id": None,
            "parent_id": order["_sale_transaction_id"],
            "device_id": None,
            "error_code": None,
            "source_name": "web",
            "receipt": {},
            "amount": str(_cents(amount)),
            "currency": self.currency,
        }

    def _take_back(self, order: Record, line: Record, units: int, restock: str, now: str) -> None:
        """Remove refunded units from a line: unshipped ones first (unless they are a
        return), releasing what they committed; ``return`` and ``cancel`` restock."""
        unshipped = 0 if restock == "return" else min(units, line["fulfillable_quantity"])
        line["current_quantity"] -= units
        line["fulfillable_quantity"] -= unshipped
        for fulfillment_order in order["_fulfillment_orders"]:
            for fo_line in fulfillment_order["line_items"]:
                if fo_line["line_item_id"] == line["id"]:
                    fo_line["fulfillable_quantity"] -= unshipped
            self._settle(fulfillment_order, now)
        stock = self._stock(line["variant_id"])
        if stock is None:
            return
        item, level = stock
        level["committed"] -= unshipped
        if restock in ("return", "cancel"):
            level["available"] += units
            self._level_changed(item, level, now)

    @staticmethod
    def _settle(fulfillment_order: Record, now: str) -> None:
        """A fulfillment order with nothing left to ship closes; one started is in progress."""
        if fulfillment_order["status"] in ("closed", "cancelled"):
            return
        lines = fulfillment_order["line_items"]
        if not any(line["fulfillable_quantity"] for line in lines):
            fulfillment_order["status"] = "closed"
        elif any(line["fulfillable_quantity"] < line["quantity"] for line in lines):
            fulfillment_order["status"] = "in_progress"
        fulfillment_order["updated_at"] = now

    # What the adapter contract kit drives (omnisync.testing.ContractSimulator) -------------

    def add_listing(self, sku: str, quantity: int) -> None:
        """A product showing ``quantity`` available."""
        self.add_product(sku, quantity=quantity)

    def place_order(self, sku: str, quantity: int) -> str:
        """A shopper buys; returns the order's legacy id (GraphQL ``legacyResourceId``)."""
        return str(self.buy({sku: quantity})["id"])

    def break_order(self, order_id: str) -> None:
        """Damage a stored order (negative line quantities), for the contract kit."""
        with self.lock:
            line = self._order_record(order_id)["line_items"][0]
            for field in ("quantity", "current_quantity", "fulfillable_quantity"):
                line[field] = -1

    def stock_batches(self) -> list[int]:
        """How many quantities each inventorySetQuantities call carried."""
        return list(self.batch_sizes)

    def order_webhook(self) -> tuple[dict[str, str], bytes]:
        """A genuine signed orders/create delivery, for a new order."""
        with self.lock:
            if not any(v["sku"] == "KIT-WEBHOOK" for v in self.variants.values()):
                self.add_product("KIT-WEBHOOK", quantity=100)
            self.drain_webhooks()
            self.buy({"KIT-WEBHOOK": 1})
            deliveries = self.drain_webhooks()
            return next(d for d in deliveries if d[0]["X-Shopify-Topic"] == "orders/create")

    # Webhooks ------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _webhook(self, topic: str, record: Record, now: str) -> None:
        """Deliver ``record`` as REST JSON to a subscribed topic, signed with the app's
        client secret (shopify.dev/docs/apps/build/webhooks/subscribe/https)."""
        if topic not in self.topics:
            return
        body = json.dumps(_rest(record), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": hmac_sha256_base64(self.client_secret, body),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": self.webhook_version,
            "X-Shopify-Triggered-At": now,
            "X-Shopify-Event-Id": self._uuid(),
        }
        # A duplicate keeps X-Shopify-Event-Id and gets a fresh X-Shopify-Webhook-Id.
        self.deliver(headers, body, lambda: {"X-Shopify-Webhook-Id": self._uuid()})

    # HTTP ----------------------------------------------------------------------------------

    def authorized(self, request: httpx.Request) -> bool:
        """The Admin API takes ``X-Shopify-Access-Token``; the storage host takes none (its
        URLs are signed)."""
        if request.url.host == STORAGE_HOST:
            return True
        return bool(request.headers.get("X-Shopify-Access-Token") == self.access_token)

    def error_body(self, status: int, message: str, code: str | None) -> dict[str, Any]:
        """Shopify's ``{"errors": "..."}``."""
        if status == 401:
            return {"errors": INVALID_TOKEN}
        if status == 404:
            return {"errors": "Not Found"}
        return {"errors": message}

    def _graphql(self, request: httpx.Request, version: str) -> tuple[int, Any]:
        if version not in API_VERSIONS:
            raise SimError(404, "Not Found")
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        query = body.get("query") if isinstance(body, dict) else None
        variables = body.get("variables") if isinstance(body, dict) else None
        if not isinstance(query, str) or not isinstance(variables, dict | None):
            return 400, {"errors": {"query": "Required parameter missing or invalid"}}
        assert isinstance(body, dict)
        operation = body.get("operationName")
        return 200, self._execute(query, variables or {}, operation, _Context(version))

    def _execute(
        self, query: str, variables: Record, operation_name: str | None, context: _Context
    ) -> Record:
        try:
            document = graphql.parse(query)
        except GraphQLError as error:
            return {"errors": [_formatted(error)]}
        problems = graphql.validate(self._schema, document)
        if problems:
            return {"errors": [_formatted(problem) for problem in problems]}
        operation = graphql.get_operation_ast(document, operation_name)
        requested = self._plan(document, variables).operation(operation) if operation else 0
        refusal = self._refusal(requested)
        if refusal is not None:
            return refusal
        meter = _CostMeter(self._schema)
        result = graphql.execute_sync(
            self._schema,
            document,
            root_value=self._root,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            middleware=[meter],
        )
        actual = min(meter.total, requested) if result.data is not None else 0
        self._spend(actual)
        envelope: Record = {}
        if result.errors:
            envelope["errors"] = [_formatted(error) for error in result.errors]
        # Errors before execution (variables) leave "data" out; errors in it null it.
        if result.data is not None or any(error.path for error in result.errors or ()):
            envelope["data"] = result.data
        envelope["extensions"] = self._cost(requested, actual)
        return envelope

    def _plan(self, document: graphql.DocumentNode, variables: Mapping[str, Any]) -> _CostPlan:
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        return _CostPlan(self._schema, fragments, variables)

    # Rate limits ---------------------------------------------------------------------------

    def _budget(self) -> float:
        """The points in the bucket, after it refilled at ``restore_rate`` per second."""
        now = time.monotonic()
        refill = (now - self._refilled) * self.restore_rate
        self._available = min(self.maximum_available, self._available + refill)
        self._refilled = now
        return self._available

    def _spend(self, points: int) -> None:
        self._available = self._budget() - points

    def drain_budget(self, left: float = 0.0) -> None:
        """Leave only ``left`` points in the bucket (to provoke THROTTLED)."""
        with self.lock:
            self._budget()
            self._available = left

    def _cost(self, requested: int, actual: int | None) -> Record:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": self.maximum_available,
                    "currentlyAvailable": float(int(self._available)),
                    "restoreRate": self.restore_rate,
                },
            }
        }

    def _refusal(self, requested: int) -> Record | None:
        """MAX_COST_EXCEEDED or THROTTLED, when the query may not run (both HTTP 200)."""
        limit = self.max_query_cost
        if limit is not None and requested > limit:
            error = {
                "message": (
                    f"Query cost is {requested}, which exceeds the single query max cost "
                    f"limit ({limit})."
                ),
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": limit,
                    "documentation": RATE_LIMITS_DOCS,
                },
            }
        elif requested > self._budget():
            error = {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": RATE_LIMITS_DOCS},
            }
        else:
            return None
        return {"errors": [error], "extensions": self._cost(requested, None)}

    # Query resolvers -----------------------------------------------------------------------

    def _orders(self, info: GraphQLResolveInfo[_Context], **args: Any) -> Record:
        sort = args.get("sortKey", "ID")
        if sort not in _ORDER_SORTS:
            raise GraphQLError(f"simulator: orders cannot be sorted by {sort}")
        filters = _order_filters(args.get("query"))
        found = [o for o in self.orders.values() if all(keep(o) for keep in filters)]
        return _connection(info, args, found, _ORDER_SORTS[sort], self._order_view)

    def _order(self, info: GraphQLResolveInfo[_Context], id: str) -> Record | None:
        number = _number(id, "Order")
        order = self.orders.get(number) if number is not None else None
        return self._order_view(order) if order else None

    def _node(self, info: GraphQLResolveInfo[_Context], id: str) -> Record | None:
        kind, number, params = _parse_gid(id)
        finders: dict[str, Callable[[int, str], Record | None]] = {
            "Order": lambda n, _: self._order(info, id),
            "Product": lambda n, _: (
                self._product_view(self.products[n]) if n in self.products else None
            ),
            "ProductVariant": lambda n, _: self._variant_view_by_id(n),
            "InventoryItem": lambda n, _: (
                self._item_view(self.items[n]) if n in self.items else None
            ),
            "InventoryLevel": self._level_by_gid,
            "Location": lambda n, _: self._location_view() if n == LOCATION_ID else None,
            "FulfillmentOrder": lambda n, _: self._fulfillment_order_by_id(n),
            "BulkOperation": lambda n, _: self._bulk_by_id(n),
        }
        finder = finders.get(kind)
        return finder(number, params) if finder else None

    def _nodes(self, info: GraphQLResolveInfo[_Context], ids: list[str]) -> list[Record | None]:
        _check_input_size(ids)
        return [self._node(info, node_id) for node_id in ids]

    def _product_variants(self, info: GraphQLResolveInfo[_Context], **args: Any) -> Record:
        found = list(self.variants.values())
        for term in _terms(args.get("query")):
            if term.field != "sku" or term.op:
                raise GraphQLError(f"simulator: cannot filter product variants by {term.field!r}")
            found = [v for v in found if v["sku"] == term.value]
        return _connection(info, args, found, _by_id, self._variant_view)

    def _locations(self, info: GraphQLResolveInfo[_Context], **args: Any) -> Record:
        return _connection(info, args, [LOCATION_ID], _by_number, lambda _: self._location_view())

    def _current_bulk_operation(
        self, info: GraphQLResolveInfo[_Context], type: str = "QUERY"
    ) -> Record | None:
        operations = [op for op in self.bulk_operations.values() if op["type"] == type]
        return self._bulk_by_id(operations[-1]["id"]) if operations else None

    # Views: orders -------------------------------------------------------------------------

    def _order_view(self, order: Record) -> Record:
        presentment = order["presentment_currency"]
        return {
            "__typename": "Order",
            "id": order["admin_graphql_api_id"],
            "legacyResourceId": str(order["id"]),
            "name": order["name"],
            "number": order["order_number"],
            "createdAt": order["created_at"],
            "updatedAt": order["updated_at"],
            "processedAt": order["processed_at"],
            "cancelledAt": order["cancelled_at"],
            "cancelReason": _upper(order["cancel_reason"]),
            "closed": order["closed_at"] is not None,
            "closedAt": order["closed_at"],
            "displayFinancialStatus": _upper(order["financial_status"]),
            "displayFulfillmentStatus": _DISPLAY_FULFILMENT[order["fulfillment_status"]],
            "currencyCode": order["currency"],
            "presentmentCurrencyCode": presentment,
            "taxesIncluded": order["taxes_included"],
            "test": order["test"],
            "email": order["email"],
            "phone": order["phone"],
            "note": order["note"],
            "tags": [tag for tag in order["tags"].split(", ") if tag],
            "customer": self._customer_view(order["customer"]),
            "billingAddress": _address_view(order["billing_address"]),
            "shippingAddress": _address_view(order["shipping_address"]),
            "subtotalPriceSet": _bag_view(order["subtotal_price_set"]),
            "totalDiscountsSet": _bag_view(order["total_discounts_set"]),
            "totalShippingPriceSet": _bag_view(order["total_shipping_price_set"]),
            "totalTaxSet": _bag_view(order["total_tax_set"]),
            "totalPriceSet": _bag_view(order["total_price_set"]),
            "currentSubtotalPriceSet": _bag_view(order["current_subtotal_price_set"]),
            "currentTotalTaxSet": _bag_view(order["current_total_tax_set"]),
            "currentTotalPriceSet": _bag_view(order["current_total_price_set"]),
            "totalRefundedSet": _bag_view(self._bag(self._refunded(order), presentment)),
            "taxLines": [_tax_line_view(line) for line in order["tax_lines"]],
            "risk": _risk_view(order["_risk_level"]),
            **self._order_lists(order),
        }

    def _order_lists(self, order: Record) -> Record:
        """An order's connections and lists, built when a query selects them."""
        applications = list(range(len(order["discount_applications"])))
        return {
            "discountApplications": lambda info, **args: _connection(
                info,
                args,
                applications,
                _by_number,
                lambda i: self._application_view(order, i),
            ),
            "lineItems": lambda info, **args: _connection(
                info, args, order["line_items"], _by_id, lambda ln: self._line_view(order, ln)
            ),
            "shippingLines": lambda info, **args: _connection(
                info, args, order["shipping_lines"], _by_id, lambda s: self._shipping_view(order, s)
            ),
            "fulfillmentOrders": lambda info, **args: _connection(
                info,
                args,
                order["_fulfillment_orders"],
                _by_id,
                lambda fo: self._fulfillment_order_view(order, fo),
            ),
            "fulfillments": lambda info, first=None: [
                self._fulfillment_view(order, f) for f in _limit(info, order["fulfillments"], first)
            ],
            "refunds": lambda info, first=None: [
                self._refund_view(order, r) for r in _limit(info, order["refunds"], first)
            ],
        }

    @staticmethod
    def _customer_view(customer: Record | None) -> Record | None:
        if customer is None:
            return None
        email = customer["email"]
        return {
            "__typename": "Customer",
            "id": customer["admin_graphql_api_id"],
            "legacyResourceId": str(customer["id"]),
            "firstName": customer["first_name"],
            "lastName": customer["last_name"],
            "displayName": f"{customer['first_name']} {customer['last_name']}".strip(),
            "defaultEmailAddress": {"emailAddress": email} if email else None,
            "createdAt": customer["created_at"],
            "updatedAt": customer["updated_at"],
        }

    def _line_view(self, order: Record, line: Record) -> Record:
        presentment = order["presentment_currency"]
        gross = Decimal(line["price"]) * line["quantity"]
        discount = self._line_discount(line)
        return {
            "__typename": "LineItem",
            "id": line["admin_graphql_api_id"],
            "sku": line["sku"],
            "title": line["title"],
            "name": line["name"],
            "variantTitle": line["variant_title"],
            "vendor": line["vendor"],
            "quantity": line["quantity"],
            "currentQuantity": line["current_quantity"],
            "refundableQuantity": line["current_quantity"],
            "unfulfilledQuantity": line["fulfillable_quantity"],
            "requiresShipping": line["requires_shipping"],
            "taxable": line["taxable"],
            "originalUnitPriceSet": _bag_view(line["price_set"]),
            "originalTotalSet": _bag_view(self._bag(gross, presentment)),
            "totalDiscountSet": _bag_view(self._bag(discount, presentment)),
            "discountedTotalSet": _bag_view(self._bag(gross - discount, presentment)),
            "discountAllocations": [
                self._allocation_view(order, a) for a in line["discount_allocations"]
            ],
            "taxLines": lambda info, first=None: [
                _tax_line_view(t) for t in _limit(info, line["tax_lines"], first)
            ],
            "variant": lambda info: self._variant_view_by_id(line["variant_id"]),
            "product": lambda info: (
                self._product_view(self.products[line["product_id"]])
                if line["product_id"] in self.products
                else None
            ),
        }

    def _allocation_view(self, order: Record, allocation: Record) -> Record:
        return {
            "allocatedAmountSet": _bag_view(allocation["amount_set"]),
            "discountApplication": self._application_view(
                order, allocation["discount_application_index"]
            ),
        }

    @staticmethod
    def _application_view(order: Record, index: int) -> Record:
        application = order["discount_applications"][index]
        if application["value_type"] == "percentage":
            value = {
                "__typename": "PricingPercentageValue",
                "percentage": float(application["value"]),
            }
        else:
            value = {
                "__typename": "MoneyV2",
                "amount": _decimal(application["value"]),
                "currencyCode": order["presentment_currency"],
            }
        return {
            "__typename": _APPLICATION_TYPES[application["type"]],
            "allocationMethod": application["allocation_method"].upper(),
            "targetSelection": application["target_selection"].upper(),
            "targetType": application["target_type"].upper(),
            "index": index,
            "value": value,
            "code": application.get("code"),
            "title": application.get("title"),
            "description": application.get("description"),
        }

    def _shipping_view(self, order: Record, line: Record) -> Record:
        return {
            "id": _gid("ShippingLine", line["id"]),
            "title": line["title"],
            "code": line["code"],
            "source": line["source"],
            "carrierIdentifier": line["carrier_identifier"],
            "custom": False,
            "isRemoved": line["is_removed"],
            "originalPriceSet": _bag_view(line["price_set"]),
            "discountedPriceSet": _bag_view(line["discounted_price_set"]),
            "currentDiscountedPriceSet": _bag_view(
                self._bag(Decimal(0), order["presentment_currency"])
                if order["_shipping_refunded"]
                else line["current_discounted_price_set"]
            ),
            "taxLines": [_tax_line_view(t) for t in line["tax_lines"]],
            "discountAllocations": [
                self._allocation_view(order, a) for a in line["discount_allocations"]
            ],
        }

    def _fulfillment_view(self, order: Record, fulfillment: Record) -> Record:
        numbers, urls = fulfillment["tracking_numbers"], fulfillment["tracking_urls"]
        tracking = [
            {
                "company": fulfillment["tracking_company"],
                "number": number,
                "url": urls[index] if index < len(urls) else None,
            }
            for index, number in enumerate(numbers)
        ]
        return {
            "__typename": "Fulfillment",
            "id": fulfillment["admin_graphql_api_id"],
            "legacyResourceId": str(fulfillment["id"]),
            "name": fulfillment["name"],
            "status": fulfillment["status"].upper(),
            "displayStatus": "FULFILLED",
            "createdAt": fulfillment["created_at"],
            "updatedAt": fulfillment["updated_at"],
            "trackingInfo": lambda info, first=None: _limit(info, tracking, first),
            "fulfillmentLineItems": lambda info, **args: _connection(
                info,
                args,
                fulfillment["line_items"],
                lambda item: _by_number(item["_fulfillment_line_item_id"]),
                lambda item: self._fulfillment_line_view(order, item),
            ),
        }

    def _fulfillment_line_view(self, order: Record, item: Record) -> Record:
        total = Decimal(item["price"]) * item["quantity"]
        return {
            "__typename": "FulfillmentLineItem",
            "id": _gid("FulfillmentLineItem", item["_fulfillment_line_item_id"]),
            "quantity": item["quantity"],
            "lineItem": lambda info: self._line_view(order, self._order_line(order, item["id"])),
            "originalTotalSet": _bag_view(self._bag(total, order["presentment_currency"])),
        }

    def _fulfillment_order_view(self, order: Record, fulfillment_order: Record) -> Record:
        return {
            "__typename": "FulfillmentOrder",
            "id": _gid("FulfillmentOrder", fulfillment_order["id"]),
            "status": fulfillment_order["status"].upper(),
            "requestStatus": fulfillment_order["request_status"].upper(),
            "orderId": order["admin_graphql_api_id"],
            "orderName": order["name"],
            "createdAt": fulfillment_order["created_at"],
            "updatedAt": fulfillment_order["updated_at"],
            "assignedLocation": {"name": "Shop location", "location": self._location_view()},
            "lineItems": lambda info, **args: _connection(
                info,
                args,
                fulfillment_order["line_items"],
                _by_id,
                lambda line: self._fulfillment_order_line_view(order, line),
            ),
        }

    def _fulfillment_order_line_view(self, order: Record, fo_line: Record) -> Record:
        line = self._order_line(order, fo_line["line_item_id"])
        return {
            "__typename": "FulfillmentOrderLineItem",
            "id": _gid("FulfillmentOrderLineItem", fo_line["id"]),
            "totalQuantity": fo_line["quantity"],
            "remainingQuantity": fo_line["fulfillable_quantity"],
            "sku": line["sku"],
            "inventoryItemId": _gid("InventoryItem", fo_line["inventory_item_id"]),
            "productTitle": line["title"],
            "variantTitle": line["variant_title"],
            "lineItem": lambda info: self._line_view(order, line),
        }

    def _fulfillment_order_by_id(self, number: int) -> Record | None:
        found = self._find_fulfillment_order(number)
        return self._fulfillment_order_view(*found) if found else None

    def _find_fulfillment_order(self, number: int) -> tuple[Record, Record] | None:
        for order in self.orders.values():
            for fulfillment_order in order["_fulfillment_orders"]:
                if fulfillment_order["id"] == number:
                    return order, fulfillment_order
        return None

    def _refund_view(self, order: Record, refund: Record) -> Record:
        amount = sum((Decimal(t["amount"]) for t in refund["transactions"]), Decimal(0))
        return {
            "__typename": "Refund",
            "id": refund["admin_graphql_api_id"],
            "legacyResourceId": str(refund["id"]),
            "createdAt": refund["created_at"],
            "updatedAt": refund["created_at"],
            "note": refund["note"],
            "totalRefundedSet": _bag_view(self._bag(amount, order["presentment_currency"])),
            "refundLineItems": lambda info, **args: _connection(
                info,
                args,
                refund["refund_line_items"],
                _by_id,
                lambda row: self._refund_line_view(order, row),
            ),
        }

    def _refund_line_view(self, order: Record, row: Record) -> Record:
        restock = row["restock_type"]
        return {
            "id": _gid("RefundLineItem", row["id"]),
            "lineItem": lambda info: self._line_view(
                order, self._order_line(order, row["line_item_id"])
            ),
            "quantity": row["quantity"],
            "restockType": restock.upper(),
            "restocked": restock in ("return", "cancel", "legacy_restock"),
            "location": self._location_view() if row["location_id"] else None,
            "priceSet": _bag_view(row["line_item"]["price_set"]),
            "subtotalSet": _bag_view(row["subtotal_set"]),
            "totalTaxSet": _bag_view(row["total_tax_set"]),
        }

    # Views: catalogue and stock ------------------------------------------------------------

    def _product_view(self, product: Record) -> Record:
        variants = [self.variants[v] for v in product["variant_ids"] if v in self.variants]
        return {
            "__typename": "Product",
            "id": _gid("Product", product["id"]),
            "legacyResourceId": str(product["id"]),
            "title": product["title"],
            "handle": product["handle"],
            "createdAt": product["created_at"],
            "updatedAt": product["updated_at"],
            "variants": lambda info, **args: _connection(
                info, args, variants, _by_id, self._variant_view
            ),
        }

    def _variant_view_by_id(self, number: int) -> Record | None:
        variant = self.variants.get(number)
        return self._variant_view(variant) if variant else None

    def _variant_view(self, variant: Record) -> Record:
        product = self.products[variant["product_id"]]
        item = self.items[variant["inventory_item_id"]]
        stock = self._stock(variant["id"])
        return {
            "__typename": "ProductVariant",
            "id": _gid("ProductVariant", variant["id"]),
            "legacyResourceId": str(variant["id"]),
            "sku": variant["sku"],
            "title": variant["title"],
            "displayName": f"{product['title']} - {variant['title']}",
            "price": variant["price"],
            "inventoryQuantity": _quantity(stock[1], "available") if stock else 0,
            "createdAt": variant["created_at"],
            "updatedAt": variant["updated_at"],
            "product": lambda info: self._product_view(product),
            "inventoryItem": lambda info: self._item_view(item),
        }

    def _item_view(self, item: Record) -> Record:
        return {
            "__typename": "InventoryItem",
            "id": _gid("InventoryItem", item["id"]),
            "legacyResourceId": str(item["id"]),
            "sku": item["sku"],
            "tracked": item["tracked"],
            "requiresShipping": item["requires_shipping"],
            "createdAt": item["created_at"],
            "updatedAt": item["updated_at"],
            "variant": lambda info: self._variant_view_by_id(item["variant_id"]),
            "inventoryLevel": lambda info, locationId: self._level_view(
                item, _number(locationId, "Location")
            ),
            "inventoryLevels": lambda info, **args: _connection(
                info,
                args,
                [int(location) for location in item["levels"]],
                _by_number,
                lambda n: self._stocked_view(item, item["levels"][str(n)]),
            ),
        }

    def _level_by_gid(self, location_id: int, params: str) -> Record | None:
        match = re.fullmatch(r"inventory_item_id=(\d+)", params)
        item = self.items.get(int(match[1])) if match else None
        return self._level_view(item, location_id) if item else None

    def _level_view(self, item: Record, location_id: int | None) -> Record | None:
        level = item["levels"].get(str(location_id))
        return self._stocked_view(item, level) if level is not None else None

    def _stocked_view(self, item: Record, level: Record) -> Record:
        return {
            "__typename": "InventoryLevel",
            "id": self._level_gid(item["id"]),
            "createdAt": level["created_at"],
            "updatedAt": level["updated_at"],
            "item": lambda info: self._item_view(item),
            "location": lambda info: self._location_view(),
            "quantities": lambda info, names: self._quantities_view(item, level, names),
        }

    def _quantities_view(self, item: Record, level: Record, names: list[str]) -> list[Record]:
        unknown = sorted(set(names) - QUANTITY_NAMES)
        if unknown:
            # [unconfirmed] wording; the names are Shopify's inventory states.
            raise GraphQLError(f"Invalid quantity names: {', '.join(unknown)}.")
        return [
            {
                "id": f"gid://shopify/InventoryQuantity/{LOCATION_ID}"
                f"?inventory_item_id={item['id']}&name={name}",
                "name": name,
                "quantity": _quantity(level, name),
                "updatedAt": level["updated_at"],
            }
            for name in names
        ]

    def _location_view(self) -> Record:
        return {
            "__typename": "Location",
            "id": LOCATION_GID,
            "legacyResourceId": str(LOCATION_ID),
            "name": "Shop location",
            "isActive": True,
            "fulfillsOnlineOrders": True,
            "hasActiveInventory": True,
            "shipsInventory": True,
            "isFulfillmentService": False,
            "inventoryLevel": lambda info, inventoryItemId: self._item_level(inventoryItemId),
        }

    def _item_level(self, item_gid: str) -> Record | None:
        number = _number(item_gid, "InventoryItem")
        item = self.items.get(number) if number is not None else None
        return self._level_view(item, LOCATION_ID) if item else None

    # inventorySetQuantities ----------------------------------------------------------------

    def _inventory_set_quantities(
        self, info: GraphQLResolveInfo[_Context], input: Record
    ) -> Record:
        """shopify.dev/docs/api/admin-graphql/2026-04/mutations/inventorySetQuantities."""
        # Every call counts, refused ones too: a batch above the limit must show.
        self.batch_sizes.append(len(input["quantities"]))
        key = self._idempotency_key(info)
        _check_set_input(info.context, key, input["quantities"])
        fingerprint = json.dumps(input, sort_keys=True)
        earlier = self.idempotency.get(key) if key is not None else None
        if earlier is not None:
            return self._replay(earlier, fingerprint)
        if input["quantities"] and self.faults.take("stale"):
            self._sell_unseen(input["quantities"][0])
        errors = self._quantity_errors(input)
        outcome = {
            "fingerprint": fingerprint,
            "group_id": None if errors else self._apply_quantities(input),
            "user_errors": errors,
        }
        if key is not None:
            self.idempotency[key] = outcome
        return self._set_payload(outcome)

    def _sell_unseen(self, quantity: Record) -> None:
        """The armed "stale" fault: one unit of the first item goes between the writer's
        read and its write, so its changeFromQuantity no longer matches."""
        item_id = _number(quantity["inventoryItemId"], "InventoryItem")
        item = self.items.get(item_id) if item_id is not None else None
        level = item["levels"].get(str(LOCATION_ID)) if item else None
        if item is not None and level is not None and level["available"] > 0:
            level["available"] -= 1
            self._level_changed(item, level, self.stamp())

    def _idempotency_key(self, info: GraphQLResolveInfo[_Context]) -> str | None:
        directive = self._schema.get_directive("idempotent")
        assert directive is not None
        values = graphql.get_directive_values(directive, info.field_nodes[0], info.variable_values)
        return str(values["key"]) if values else None

    def _replay(self, earlier: Record, fingerprint: str) -> Record:
        """The first answer again for the same key and input; an error for other input
        (shopify.dev/docs/api/usage/implementing-idempotency)."""
        if earlier["fingerprint"] == fingerprint:
            return self._set_payload(earlier)
        mismatch = _user_error(
            "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
            None,
            "The same idempotency key cannot be used with different operation parameters.",
        )
        return {"inventoryAdjustmentGroup": None, "userErrors": [mismatch]}

    def _set_payload(self, outcome: Record) -> Record:
        group = self.adjustment_groups.get(outcome["group_id"] or 0)
        return {
            "inventoryAdjustmentGroup": self._group_view(group) if group else None,
            "userErrors": [dict(error) for error in outcome["user_errors"]],
        }

    def _quantity_errors(self, input: Record) -> list[Record]:
        """Everything wrong with the input; the change applies only when nothing is
        (messages from InventorySetQuantitiesUserErrorCode, shopify.dev 2026-01)."""
        name = input["name"]
        errors = []
        if name not in ("available", "on_hand"):
            message = "The quantity name must be either 'available' or 'on_hand'."
            errors.append(_user_error("INVALID_NAME", ["input", "name"], message))
        if input["reason"] not in REASONS:
            message = "The specified reason is invalid."
            errors.append(_user_error("INVALID_REASON", ["input", "reason"], message))
        uri = input.get("referenceDocumentUri")
        if uri is not None and not _URI.fullmatch(uri):
            message = "The specified reference document is invalid."
            field = ["input", "referenceDocumentUri"]
            errors.append(_user_error("INVALID_REFERENCE_DOCUMENT", field, message))
        seen: set[int] = set()
        for index, quantity in enumerate(input["quantities"]):
            errors += self._one_quantity_errors(index, quantity, name, seen)
        return errors

    def _one_quantity_errors(
        self, index: int, quantity: Record, name: str, seen: set[int]
    ) -> list[Record]:
        path = ["input", "quantities", str(index)]
        item_id = _number(quantity["inventoryItemId"], "InventoryItem")
        item = self.items.get(item_id) if item_id is not None else None
        if item is None:
            message = "The specified inventory item could not be found."
            return [_user_error("INVALID_INVENTORY_ITEM", [*path, "inventoryItemId"], message)]
        if _number(quantity["locationId"], "Location") != LOCATION_ID:
            message = "The specified location could not be found."
            return [_user_error("INVALID_LOCATION", [*path, "locationId"], message)]
        if item["id"] in seen:
            message = "The combination of inventoryItemId and locationId must be unique."
            return [_user_error("NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR", path, message)]
        seen.add(item["id"])
        level = item["levels"].get(str(LOCATION_ID))
        if level is None:
            message = "The specified inventory item is not stocked at the location."
            return [_user_error("ITEM_NOT_STOCKED_AT_LOCATION", [*path, "locationId"], message)]
        return _amount_errors(path, quantity, level, name)

    def _apply_quantities(self, input: Record) -> int:
        """Set every quantity; available and on hand move together (committed stays)."""
        now = self.stamp()
        name = input["name"]
        other = "on_hand" if name == "available" else "available"
        changes = []
        for quantity in input["quantities"]:
            item = self.items[_legacy(quantity["inventoryItemId"])]
            level = item["levels"][str(LOCATION_ID)]
            delta = quantity["quantity"] - _quantity(level, name)
            if not delta:
                continue
            level["available"] += delta
            changes += [
                {"name": name, "delta": delta, "item_id": item["id"]},
                {"name": other, "delta": delta, "item_id": item["id"]},
            ]
            self._level_changed(item, level, now)
        group_id = self.next_number()
        self.adjustment_groups[group_id] = {
            "id": group_id,
            "created_at": now,
            "reason": input["reason"],
            "reference_document_uri": input.get("referenceDocumentUri"),
            "changes": changes,
        }
        return group_id

    def _group_view(self, group: Record) -> Record:
        def changes(
            info: GraphQLResolveInfo[_Context],
            inventoryItemIds: list[str] | None = None,
            locationIds: list[str] | None = None,
            quantityNames: list[str] | None = None,
        ) -> list[Record]:
            items = {_legacy(i) for i in inventoryItemIds} if inventoryItemIds is not None else None
            if locationIds is not None and LOCATION_GID not in locationIds:
                return []
            return [
                self._change_view(change)
                for change in group["changes"]
                if (items is None or change["item_id"] in items)
                and (quantityNames is None or change["name"] in quantityNames)
            ]

        return {
            "id": _gid("InventoryAdjustmentGroup", group["id"]),
            "createdAt": group["created_at"],
            "reason": group["reason"],
            "referenceDocumentUri": group["reference_document_uri"],
            "changes": changes,
        }

    def _change_view(self, change: Record) -> Record:
        item = self.items.get(change["item_id"])
        return {
            "name": change["name"],
            "delta": change["delta"],
            "quantityAfterChange": None,  # Shopify returned null in live captures
            "item": self._item_view(item) if item else None,
            "location": self._location_view(),
        }

    # fulfillmentCreate ---------------------------------------------------------------------

    def _fulfillment_create(
        self, info: GraphQLResolveInfo[_Context], fulfillment: Record, message: str | None = None
    ) -> Record:
        """shopify.dev/docs/api/admin-graphql/2026-04/mutations/fulfillmentCreate; the
        message and notifyCustomer are accepted and have no effect here."""
        picks, errors = self._fulfilment_plan(fulfillment["lineItemsByFulfillmentOrder"])
        if errors:
            return {"fulfillment": None, "userErrors": errors}
        order = picks[0][0]
        record = self._fulfil(order, picks, fulfillment.get("trackingInfo") or {})
        return {"fulfillment": self._fulfillment_view(order, record), "userErrors": []}

    def _fulfilment_plan(
        self, groups: list[Record]
    ) -> tuple[list[tuple[Record, Record, Record, int]], list[Record]]:
        """What each fulfillment order line gives: (order, fulfillment order, its line,
        units), or the user errors that stop the fulfillment."""
        picks: list[tuple[Record, Record, Record, int]] = []
        errors: list[Record] = []
        for index, group in enumerate(groups):
            path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
            number = _number(group["fulfillmentOrderId"], "FulfillmentOrder")
            found = self._find_fulfillment_order(number) if number is not None else None
            if found is None:
                message = "Fulfillment order does not exist."  # [unconfirmed] wording
                errors.append({"field": [*path, "fulfillmentOrderId"], "message": message})
                continue
            order, fulfillment_order = found
            status = fulfillment_order["status"]
            if status not in ("open", "in_progress"):
                message = f"Fulfillment order {number} has an unfulfillable status= {status}."
                errors.append({"field": ["fulfillment"], "message": message})
                continue
            wanted = group.get("fulfillmentOrderLineItems")
            chosen, problems = _fulfilment_lines(fulfillment_order, wanted, path, picks)
            picks += [(order, fulfillment_order, line, units) for line, units in chosen]
            errors += problems
        if len({pick[0]["id"] for pick in picks}) > 1:
            message = "All fulfillment orders must belong to the same order."  # [unconfirmed]
            errors.append({"field": ["fulfillment"], "message": message})
        if not errors and not picks:
            errors.append({"field": ["fulfillment"], "message": "There is nothing to fulfill."})
        return picks, errors

    def _fulfil(
        self, order: Record, picks: list[tuple[Record, Record, Record, int]], tracking: Record
    ) -> Record:
        """Ship the picked units: remaining quantities fall, committed stock leaves the
        shelf, and a successful Fulfillment is recorded; delivers orders/fulfilled (or
        orders/partially_fulfilled) and orders/updated."""
        now = self.stamp()
        shipped = []
        for _, fulfillment_order, fo_line, units in picks:
            fo_line["fulfillable_quantity"] -= units
            line = self._order_line(order, fo_line["line_item_id"])
            line["fulfillable_quantity"] -= units
            stock = self._stock(line["variant_id"])
            if stock is not None:
                stock[1]["committed"] -= units
            item = {**copy.deepcopy(line), "quantity": units}
            shipped.append({**item, "_fulfillment_line_item_id": self.next_number()})
            self._settle(fulfillment_order, now)
        record = self._fulfillment_record(order, shipped, tracking, now)
        order["fulfillments"].append(record)
        self._refresh(order, now)
        complete = order["fulfillment_status"] == "fulfilled"
        self._webhook("orders/fulfilled" if complete else "orders/partially_fulfilled", order, now)
        self._webhook("orders/updated", order, now)
        return record

    def _fulfillment_record(
        self, order: Record, shipped: list[Record], tracking: Record, now: str
    ) -> Record:
        numbers = tracking.get("numbers") or [n for n in [tracking.get("number")] if n]
        urls = tracking.get("urls") or [u for u in [tracking.get("url")] if u]
        fulfillment_id = self.next_number()
        return {
            "id": fulfillment_id,
            "admin_graphql_api_id": _gid("Fulfillment", fulfillment_id),
            "order_id": order["id"],
            "name": f"{order['name']}.{len(order['fulfillments']) + 1}",
            "status": "success",
            "service": "manual",
            "location_id": LOCATION_ID,
            "created_at": now,
            "updated_at": now,
            "shipment_status": None,
            "tracking_company": tracking.get("company"),
            "tracking_number": numbers[0] if numbers else None,
            "tracking_numbers": numbers,
            "tracking_url": urls[0] if urls else None,
            "tracking_urls": urls,
            "origin_address": {},
            "receipt": {},
            "line_items": shipped,
        }

    # Bulk operations -----------------------------------------------------------------------

    def _bulk_operation_run_query(self, info: GraphQLResolveInfo[_Context], query: str) -> Record:
        """shopify.dev/docs/api/usage/bulk-operations/queries: one query at a time."""
        running = [
            op for op in self.bulk_operations.values() if op["status"] in ("CREATED", "RUNNING")
        ]
        if running:
            message = (
                "A bulk query operation for this app and shop is already in progress: "
                f"{_gid('BulkOperation', running[0]['id'])}."
            )
            return {
                "bulkOperation": None,
                "userErrors": [_user_error("OPERATION_IN_PROGRESS", None, message)],
            }
        problem = self._bulk_query_problem(query)
        if problem is not None:
            return {
                "bulkOperation": None,
                "userErrors": [_user_error("INVALID", ["query"], problem)],
            }
        number = self.next_number()
        self.bulk_operations[number] = {
            "id": number,
            "type": "QUERY",
            "status": "CREATED",
            "query": query,
            "api_version": info.context.version,
            "created_at": self.stamp(),
            "completed_at": None,
            "object_count": 0,
            "root_object_count": 0,
            "file_size": None,
            "url": None,
            "error_code": None,
        }
        return {"bulkOperation": self._bulk_view(self.bulk_operations[number]), "userErrors": []}

    def _bulk_query_problem(self, query: str) -> str | None:
        try:
            document = graphql.parse(query)
        except GraphQLError as error:
            return f"Invalid bulk query: {error.message}"
        problems = graphql.validate(self._schema, document)
        if problems:
            return "Invalid bulk query: " + " ".join(problem.message for problem in problems)
        operation = graphql.get_operation_ast(document)
        if operation is None:
            return "Invalid bulk query: it must hold exactly one operation."
        return _bulk_problem(self._plan(document, {}), operation)

    def _bulk_by_id(self, number: int) -> Record | None:
        """A bulk operation as a poll sees it; each poll moves it on a step
        (CREATED, RUNNING, COMPLETED)."""
        operation = self.bulk_operations.get(number)
        if operation is None:
            return None
        if operation["status"] == "CREATED":
            operation["status"] = "RUNNING"
        elif operation["status"] == "RUNNING":
            self._complete(operation)
        return self._bulk_view(operation)

    def _complete(self, operation: Record) -> None:
        """Run the bulk query over the whole shop and store its JSONL. An empty result has
        no ``url`` (Shopify returns null when there is no data)."""
        result = graphql.execute_sync(
            self._schema,
            graphql.parse(operation["query"]),
            root_value=self._root,
            context_value=_Context(operation["api_version"], bulk=True),
        )
        if result.errors or result.data is None:
            operation.update(status="FAILED", error_code="INTERNAL_SERVER_ERROR")
            return
        roots = [node for value in result.data.values() for node in _connection_nodes(value) or ()]
        rows = [row for root in roots for row in _jsonl_rows(root, None)]
        text = "".join(
            json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows
        )
        self.bulk_outputs[operation["id"]] = text
        operation.update(
            status="COMPLETED",
            completed_at=self.stamp(),
            object_count=len(rows),
            root_object_count=len(roots),
            file_size=len(text.encode()),
            url=self._output_url(operation["id"]) if rows else None,
        )

    def _signature(self, number: int | str) -> str:
        return hashlib.sha256(f"{self.client_secret}/{number}".encode()).hexdigest()[:32]

    def _output_url(self, number: int) -> str:
        # Signed like a Google Cloud Storage URL: it must be used as given.
        return (
            f"https://{STORAGE_HOST}/bulk-operation-outputs/{number}.jsonl"
            f"?X-Goog-Expires=604800&X-Goog-Signature={self._signature(number)}"
            "&response-content-type=application%2Fjsonl"
        )

    @staticmethod
    def _bulk_view(operation: Record) -> Record:
        file_size = operation["file_size"]
        return {
            "__typename": "BulkOperation",
            "id": _gid("BulkOperation", operation["id"]),
            "status": operation["status"],
            "type": operation["type"],
            "errorCode": operation["error_code"],
            "createdAt": operation["created_at"],
            "completedAt": operation["completed_at"],
            "objectCount": str(operation["object_count"]),
            "rootObjectCount": str(operation["root_object_count"]),
            "fileSize": str(file_size) if file_size is not None else None,
            "url": operation["url"],
            "partialDataUrl": None,
            "query": operation["query"],
        }

    def _download(self, request: httpx.Request, number: str) -> httpx.Response:
        """The storage host: no Shopify token wanted (a request carrying one is refused, so
        a test catches an adapter leaking it), and the URL's signature is checked."""
        if request.url.host != STORAGE_HOST:
            raise SimError(404, "Not Found")
        if "X-Shopify-Access-Token" in request.headers:
            return _storage_error(400, "InvalidArgument", "Unexpected X-Shopify-Access-Token.")
        if request.url.params.get("X-Goog-Signature") != self._signature(number):
            return _storage_error(403, "SignatureDoesNotMatch", "The signature is not valid.")
        output = self.bulk_outputs.get(int(number))
        if output is None:
            return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
        return httpx.Response(
            200, content=output.encode(), headers={"Content-Type": "application/jsonl"}
        )

    # Persistence ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the shop holds, as JSON-ready data."""
        return {
            "products": list(self.products.values()),
            "variants": list(self.variants.values()),
            "items": list(self.items.values()),
            "orders": list(self.orders.values()),
            "adjustment_groups": list(self.adjustment_groups.values()),
            "bulk_operations": list(self.bulk_operations.values()),
            "bulk_outputs": {str(number): text for number, text in self.bulk_outputs.items()},
            "idempotency": self.idempotency,
            "batch_sizes": self.batch_sizes,
            "order_number": self._order_number,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what `state` returned."""
        for name in (
            "products",
            "variants",
            "items",
            "orders",
            "adjustment_groups",
            "bulk_operations",
        ):
            setattr(self, name, {record["id"]: record for record in state[name]})
        self.bulk_outputs = {int(number): text for number, text in state["bulk_outputs"].items()}
        self.idempotency = state["idempotency"]
        self.batch_sizes = state["batch_sizes"]
        self._order_number = state["order_number"]


def _check_input_size(values: Sequence[Any]) -> None:
    """Array inputs hold at most 250 items (shopify.dev/docs/api/usage/limits#input-limits)."""
    if len(values) > MAX_INPUT:
        raise GraphQLError(
            f"The input array size of {len(values)} is greater than the maximum allowed of "
            f"{MAX_INPUT}.",  # [unconfirmed] wording
            extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
        )


def _check_set_input(context: _Context, key: str | None, quantities: list[Record]) -> None:
    """The top-level errors of inventorySetQuantities, as captured live on 2026-04."""
    _check_input_size(quantities)
    if context.version < STRICT_INVENTORY_FROM:
        return
    if key is None:
        raise GraphQLError(
            "The @idempotent directive is required for this mutation but was not provided.",
            extensions={"code": "BAD_REQUEST"},
        )
    if any("changeFromQuantity" not in quantity for quantity in quantities):
        raise GraphQLError(
            "InventoryQuantityInput must include the following argument: changeFromQuantity.",
            extensions={"code": "INVALID_FIELD_ARGUMENTS"},
        )


def _amount_errors(path: list[str], quantity: Record, level: Record, name: str) -> list[Record]:
    """The quantity's own errors: its range, and a stale changeFromQuantity (compared with
    the persisted quantity of ``name``; shopify.dev/changelog/compare-and-swap-for-inventory-
    mutations-with-change-from-quantity)."""
    errors = []
    amount = quantity["quantity"]
    if amount < 0:
        message = "The quantity can't be negative."
        errors.append(_user_error("INVALID_QUANTITY_NEGATIVE", [*path, "quantity"], message))
    elif amount > 1_000_000_000:
        message = "The total quantity can't be higher than 1,000,000,000."
        errors.append(_user_error("INVALID_QUANTITY_TOO_HIGH", [*path, "quantity"], message))
    expected = quantity.get("changeFromQuantity")
    known = name in ("available", "on_hand")
    if expected is not None and known and expected != _quantity(level, name):
        # [unconfirmed] wording: the sibling inventorySetOnHandQuantities error's text.
        message = "The changeFromQuantity argument no longer matches the persisted quantity."
        field = [*path, "changeFromQuantity"]
        errors.append(_user_error("CHANGE_FROM_QUANTITY_STALE", field, message))
    return errors


def _fulfilment_lines(
    fulfillment_order: Record,
    wanted: list[Record] | None,
    path: list[str],
    taken: list[tuple[Record, Record, Record, int]],
) -> tuple[list[tuple[Record, int]], list[Record]]:
    """The lines of one fulfillment order to ship: those ``wanted`` (id and quantity), or
    every remaining unit when none are listed ("If left blank, all line items of the
    fulfillment order will be fulfilled", FulfillmentOrderLineItemsInput)."""
    lines = fulfillment_order["line_items"]
    if wanted is None:
        return [
            (line, line["fulfillable_quantity"]) for line in lines if line["fulfillable_quantity"]
        ], []
    used: dict[int, int] = {}
    for _, _, picked, units in taken:
        used[picked["id"]] = used.get(picked["id"], 0) + units
    chosen: list[tuple[Record, int]] = []
    errors: list[Record] = []
    for index, item in enumerate(wanted):
        field = [*path, "fulfillmentOrderLineItems", str(index)]
        number = _number(item["id"], "FulfillmentOrderLineItem")
        line: Record | None = next((ln for ln in lines if ln["id"] == number), None)
        if line is None:
            errors.append(
                {"field": [*field, "id"], "message": "Fulfillment order line item does not exist."}
            )
            continue
        left = line["fulfillable_quantity"] - used.get(line["id"], 0)
        if not 0 < item["quantity"] <= left:
            message = "Invalid fulfillment order line item quantity requested."
            errors.append({"field": [*field, "quantity"], "message": message})
            continue
        used[line["id"]] = used.get(line["id"], 0) + item["quantity"]
        chosen.append((line, item["quantity"]))
    return chosen, errors


def _storage_error(status: int, code: str, message: str) -> httpx.Response:
    """An error as Google Cloud Storage writes it (XML)."""
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return httpx.Response(
        status, content=body.encode(), headers={"Content-Type": "application/xml"}
    )
