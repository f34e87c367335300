"""The inventorySetQuantities mutation: version rules, idempotent replays, user errors
that stop the whole change, and the adjustment groups it records."""

from __future__ import annotations

import json
import re

import graphql
from graphql import GraphQLError, GraphQLResolveInfo

from omnisync_shopify._sim._catalogue import CatalogueMixin, level_quantity
from omnisync_shopify._sim._connections import Context, check_input_size
from omnisync_shopify._sim._values import (
    LOCATION_GID,
    LOCATION_ID,
    Record,
    gid,
    gid_number,
    legacy_id,
    user_error,
)

__all__ = ["REASONS", "STRICT_INVENTORY_FROM", "InventoryMixin"]

STRICT_INVENTORY_FROM = "2026-04"
"""From this version inventorySetQuantities needs @idempotent and changeFromQuantity
(shopify.dev/changelog/making-idempotency-mandatory-for-inventory-adjustments-and-refund-mutations)."""
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
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


class InventoryMixin(CatalogueMixin):
    """Stock writes: quantities set at the location, all or nothing, once per key."""

    def _inventory_set_quantities(self, info: GraphQLResolveInfo[Context], input: Record) -> Record:
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
        item_id = gid_number(quantity["inventoryItemId"], "InventoryItem")
        item = self.items.get(item_id) if item_id is not None else None
        level = item["levels"].get(str(LOCATION_ID)) if item else None
        if item is not None and level is not None and level["available"] > 0:
            level["available"] -= 1
            self._level_changed(item, level, self.stamp())

    def _idempotency_key(self, info: GraphQLResolveInfo[Context]) -> str | None:
        directive = self._schema.get_directive("idempotent")
        assert directive is not None
        values = graphql.get_directive_values(directive, info.field_nodes[0], info.variable_values)
        return str(values["key"]) if values else None

    def _replay(self, earlier: Record, fingerprint: str) -> Record:
        """The first answer again for the same key and input; an error for other input
        (shopify.dev/docs/api/usage/implementing-idempotency)."""
        if earlier["fingerprint"] == fingerprint:
            return self._set_payload(earlier)
        mismatch = user_error(
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
            errors.append(user_error("INVALID_NAME", ["input", "name"], message))
        if input["reason"] not in REASONS:
            message = "The specified reason is invalid."
            errors.append(user_error("INVALID_REASON", ["input", "reason"], message))
        uri = input.get("referenceDocumentUri")
        if uri is not None and not _URI.fullmatch(uri):
            message = "The specified reference document is invalid."
            field = ["input", "referenceDocumentUri"]
            errors.append(user_error("INVALID_REFERENCE_DOCUMENT", field, message))
        seen: set[int] = set()
        for index, quantity in enumerate(input["quantities"]):
            errors += self._one_quantity_errors(index, quantity, name, seen)
        return errors

    def _one_quantity_errors(
        self, index: int, quantity: Record, name: str, seen: set[int]
    ) -> list[Record]:
        path = ["input", "quantities", str(index)]
        item_id = gid_number(quantity["inventoryItemId"], "InventoryItem")
        item = self.items.get(item_id) if item_id is not None else None
        if item is None:
            message = "The specified inventory item could not be found."
            return [user_error("INVALID_INVENTORY_ITEM", [*path, "inventoryItemId"], message)]
        if gid_number(quantity["locationId"], "Location") != LOCATION_ID:
            message = "The specified location could not be found."
            return [user_error("INVALID_LOCATION", [*path, "locationId"], message)]
        if item["id"] in seen:
            message = "The combination of inventoryItemId and locationId must be unique."
            return [user_error("NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR", path, message)]
        seen.add(item["id"])
        level = item["levels"].get(str(LOCATION_ID))
        if level is None:
            message = "The specified inventory item is not stocked at the location."
            return [user_error("ITEM_NOT_STOCKED_AT_LOCATION", [*path, "locationId"], message)]
        return _amount_errors(path, quantity, level, name)

    def _apply_quantities(self, input: Record) -> int:
        """Set every quantity; available and on hand move together (committed stays)."""
        now = self.stamp()
        name = input["name"]
        other = "on_hand" if name == "available" else "available"
        changes = []
        for quantity in input["quantities"]:
            item = self.items[legacy_id(quantity["inventoryItemId"])]
            level = item["levels"][str(LOCATION_ID)]
            delta = quantity["quantity"] - level_quantity(level, name)
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
            info: GraphQLResolveInfo[Context],
            inventoryItemIds: list[str] | None = None,
            locationIds: list[str] | None = None,
            quantityNames: list[str] | None = None,
        ) -> list[Record]:
            items = (
                {legacy_id(i) for i in inventoryItemIds} if inventoryItemIds is not None else None
            )
            if locationIds is not None and LOCATION_GID not in locationIds:
                return []
            return [
                self._change_view(change)
                for change in group["changes"]
                if (items is None or change["item_id"] in items)
                and (quantityNames is None or change["name"] in quantityNames)
            ]

        return {
            "id": gid("InventoryAdjustmentGroup", group["id"]),
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


def _check_set_input(context: Context, key: str | None, quantities: list[Record]) -> None:
    """The top-level errors of inventorySetQuantities, as captured live on 2026-04."""
    check_input_size(quantities)
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
        errors.append(user_error("INVALID_QUANTITY_NEGATIVE", [*path, "quantity"], message))
    elif amount > 1_000_000_000:
        message = "The total quantity can't be higher than 1,000,000,000."
        errors.append(user_error("INVALID_QUANTITY_TOO_HIGH", [*path, "quantity"], message))
    expected = quantity.get("changeFromQuantity")
    known = name in ("available", "on_hand")
    if expected is not None and known and expected != level_quantity(level, name):
        # [unconfirmed] wording: the sibling inventorySetOnHandQuantities error's text.
        message = "The changeFromQuantity argument no longer matches the persisted quantity."
        field = [*path, "changeFromQuantity"]
        errors.append(user_error("CHANGE_FROM_QUANTITY_STALE", field, message))
    return errors
