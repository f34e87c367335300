"""Bulk operations: ``bulkOperationRunQuery``, polling (CREATED, RUNNING, COMPLETED), the
JSONL result, and the storage host that serves it
(shopify.dev/docs/api/usage/bulk-operations/queries)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import graphql
import httpx
from graphql import (
    GraphQLError,
    GraphQLNamedType,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)

from omnisync.sim._app import SimError
from omnisync_shopify._sim._connections import Context
from omnisync_shopify._sim._cost import CostMixin, CostPlan
from omnisync_shopify._sim._values import Record, gid, gid_number, user_error

__all__ = ["BulkMixin"]


def _is_plumbing(parent: GraphQLNamedType) -> bool:
    """Connection and edge types: their lists are pages, not list fields."""
    return parent.name.endswith(("Connection", "Edge"))


def _bulk_connections(
    plan: CostPlan,
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


def _bulk_problem(plan: CostPlan, operation: OperationDefinitionNode) -> str | None:
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


BULK_QUERIES_AT_ONCE = 5
"""Bulk query operations an app may have running in a shop at once, from API 2026-01
(shopify.dev/docs/api/usage/bulk-operations/queries; before it, one): every version the
simulator answers."""


class BulkMixin(CostMixin):
    """Bulk query operations over the shop, up to `BULK_QUERIES_AT_ONCE` at a time. Each runs
    when a poll finds it running, so operations complete in the order they are polled."""

    def _current_bulk_operation(
        self, info: GraphQLResolveInfo[Context], type: str = "QUERY"
    ) -> Record | None:
        operations = [op for op in self.bulk_operations.values() if op["type"] == type]
        return self._bulk_by_id(operations[-1]["id"]) if operations else None

    def _bulk_operation_run_query(self, info: GraphQLResolveInfo[Context], query: str) -> Record:
        """shopify.dev/docs/api/usage/bulk-operations/queries: at most five at a time; the
        sixth is refused with the code Shopify documents for it (BulkOperationUserErrorCode
        LIMIT_REACHED, "Bulk operations limit reached. Please try again later.")."""
        running = [
            op for op in self.bulk_operations.values() if op["status"] in ("CREATED", "RUNNING")
        ]
        if len(running) >= BULK_QUERIES_AT_ONCE:
            message = "Bulk operations limit reached. Please try again later."
            return {
                "bulkOperation": None,
                "userErrors": [user_error("LIMIT_REACHED", None, message)],
            }
        problem = self._bulk_query_problem(query)
        if problem is not None:
            return {
                "bulkOperation": None,
                "userErrors": [user_error("INVALID", ["query"], problem)],
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

    def _bulk_operation_cancel(self, info: GraphQLResolveInfo[Context], id: str) -> Record:
        """shopify.dev/docs/api/admin-graphql/latest/mutations/bulkOperationCancel: an
        operation still created or running is cancelled (Shopify passes through CANCELING
        first; the simulator cancels at once) and no longer holds a place. The messages are
        the simulator's own."""
        number = gid_number(id, "BulkOperation")
        operation = self.bulk_operations.get(number) if number is not None else None
        if operation is None:
            return {
                "bulkOperation": None,
                "userErrors": [user_error(None, ["id"], "Bulk operation does not exist")],
            }
        if operation["status"] not in ("CREATED", "RUNNING"):
            message = f"A bulk operation cannot be canceled when it is {operation['status']}"
            view = self._bulk_view(operation)
            return {"bulkOperation": view, "userErrors": [user_error(None, None, message)]}
        operation.update(status="CANCELED", completed_at=self.stamp())
        return {"bulkOperation": self._bulk_view(operation), "userErrors": []}

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
            context_value=Context(operation["api_version"], bulk=True),
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
            f"{self.storage_url}/bulk-operation-outputs/{number}.jsonl"
            f"?X-Goog-Expires=604800&X-Goog-Signature={self._signature(number)}"
            "&response-content-type=application%2Fjsonl"
        )

    @staticmethod
    def _bulk_view(operation: Record) -> Record:
        file_size = operation["file_size"]
        return {
            "__typename": "BulkOperation",
            "id": gid("BulkOperation", operation["id"]),
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
        if request.url.host != self.storage_host:
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


def _storage_error(status: int, code: str, message: str) -> httpx.Response:
    """An error as Google Cloud Storage writes it (XML)."""
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return httpx.Response(
        status, content=body.encode(), headers={"Content-Type": "application/xml"}
    )
