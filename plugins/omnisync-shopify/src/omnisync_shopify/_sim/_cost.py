"""Query cost: Shopify's calculated cost of a query, what it actually cost, and the leaky
bucket that pays for it (shopify.dev/docs/api/usage/rate-limits)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import graphql
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
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

from omnisync_shopify._sim._base import ShopBase
from omnisync_shopify._sim._connections import Context
from omnisync_shopify._sim._values import Record

__all__ = [
    "MAX_QUERY_COST",
    "MUTATION_COST",
    "RATE_LIMITS_DOCS",
    "CostMeter",
    "CostMixin",
    "CostPlan",
]

MAX_QUERY_COST = 1000  # shopify.dev/docs/api/usage/rate-limits: single query limit
MUTATION_COST = 10
RATE_LIMITS_DOCS = "https://shopify.dev/api/usage/rate-limits"


def _literal(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, ListValueNode):
        return list(node.values)
    return None


@dataclass(frozen=True)
class CostPlan:
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


class CostMeter:
    """graphql-core middleware that adds up the cost of what a query returned, by the
    rules of `CostPlan`; Shopify charges this actual cost and refunds the rest."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.mutation = schema.mutation_type
        self.total = 0

    def resolve(
        self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Context], **args: Any
    ) -> Any:
        value = next_(root, info, **args)
        self.total += self._cost(info, value, args)
        return value

    def _cost(self, info: GraphQLResolveInfo[Context], value: Any, args: Mapping[str, Any]) -> int:
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


class CostMixin(ShopBase):
    """The cost bucket: ``maximum_available`` points, refilled at ``restore_rate`` a second."""

    def _plan(self, document: graphql.DocumentNode, variables: Mapping[str, Any]) -> CostPlan:
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        return CostPlan(self._schema, fragments, variables)

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
