"""The Admin GraphQL endpoint: authentication, the HTTP envelope, execution with its cost,
and the resolvers of the query root."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import graphql
import httpx
from graphql import GraphQLError, GraphQLResolveInfo

from omnisync.sim._app import SimError
from omnisync_shopify._sim._bulk import BulkMixin
from omnisync_shopify._sim._connections import Context, check_input_size, connection
from omnisync_shopify._sim._cost import CostMeter
from omnisync_shopify._sim._order_views import OrderViewsMixin
from omnisync_shopify._sim._search import ORDER_SORTS, order_filters, search_terms
from omnisync_shopify._sim._values import (
    API_VERSIONS,
    LOCATION_ID,
    Record,
    by_id,
    by_number,
    gid_number,
    parse_gid,
)

__all__ = ["INVALID_TOKEN", "GraphQLMixin"]

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
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


class GraphQLMixin(BulkMixin, OrderViewsMixin):
    """``POST /admin/api/{version}/graphql.json``, and the queries it answers."""

    # HTTP ----------------------------------------------------------------------------------

    def authorized(self, request: httpx.Request) -> bool:
        """The Admin API takes ``X-Shopify-Access-Token``; the storage host takes none (its
        URLs are signed)."""
        if request.url.host == self.storage_host:
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
        return 200, self._execute(query, variables or {}, operation, Context(version))

    def _execute(
        self, query: str, variables: Record, operation_name: str | None, context: Context
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
        meter = CostMeter(self._schema)
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

    # Query resolvers -----------------------------------------------------------------------

    def _orders(self, info: GraphQLResolveInfo[Context], **args: Any) -> Record:
        sort = args.get("sortKey", "ID")
        if sort not in ORDER_SORTS:
            raise GraphQLError(f"simulator: orders cannot be sorted by {sort}")
        filters = order_filters(args.get("query"))
        found = [o for o in self.orders.values() if all(keep(o) for keep in filters)]
        return connection(info, args, found, ORDER_SORTS[sort], self._order_view)

    def _order(self, info: GraphQLResolveInfo[Context], id: str) -> Record | None:
        number = gid_number(id, "Order")
        order = self.orders.get(number) if number is not None else None
        return self._order_view(order) if order else None

    def _node(self, info: GraphQLResolveInfo[Context], id: str) -> Record | None:
        kind, number, params = parse_gid(id)
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

    def _nodes(self, info: GraphQLResolveInfo[Context], ids: list[str]) -> list[Record | None]:
        check_input_size(ids)
        return [self._node(info, node_id) for node_id in ids]

    def _product_variants(self, info: GraphQLResolveInfo[Context], **args: Any) -> Record:
        found = list(self.variants.values())
        for term in search_terms(args.get("query")):
            if term.field != "sku" or term.op:
                raise GraphQLError(f"simulator: cannot filter product variants by {term.field!r}")
            found = [v for v in found if v["sku"] == term.value]
        return connection(info, args, found, by_id, self._variant_view)

    def _locations(self, info: GraphQLResolveInfo[Context], **args: Any) -> Record:
        return connection(info, args, [LOCATION_ID], by_number, lambda _: self._location_view())
