"""The catalogue and its stock: products, variants, inventory items and their level at the
one location, the merchant's stock edits, and their GraphQL views."""

from __future__ import annotations

import re
from decimal import Decimal

from graphql import GraphQLError

from omnisync_shopify._sim._connections import connection
from omnisync_shopify._sim._values import (
    LOCATION_GID,
    LOCATION_ID,
    Record,
    by_id,
    by_number,
    cents,
    gid,
    gid_number,
)
from omnisync_shopify._sim._webhooks import WebhooksMixin

__all__ = ["QUANTITY_NAMES", "CatalogueMixin", "level_quantity"]

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


def level_quantity(level: Record, name: str) -> int:
    """A named inventory quantity; on hand is what is available plus what orders hold."""
    if name == "on_hand":
        return int(level["available"] + level["committed"])
    return int(level.get(name, 0))


class CatalogueMixin(WebhooksMixin):
    """Products with one variant and its inventory item, stocked at the location."""

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
                "price": str(cents(Decimal(price))),
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
                "product_id": gid("Product", product_id),
                "variant_id": gid("ProductVariant", variant_id),
                "inventory_item_id": gid("InventoryItem", item_id),
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
            return level_quantity(stock[1], "available") if stock else 0

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
        return f"{gid('InventoryLevel', LOCATION_ID)}?inventory_item_id={item_id}"

    # Views ---------------------------------------------------------------------------------

    def _product_view(self, product: Record) -> Record:
        variants = [self.variants[v] for v in product["variant_ids"] if v in self.variants]
        return {
            "__typename": "Product",
            "id": gid("Product", product["id"]),
            "legacyResourceId": str(product["id"]),
            "title": product["title"],
            "handle": product["handle"],
            "createdAt": product["created_at"],
            "updatedAt": product["updated_at"],
            "variants": lambda info, **args: connection(
                info, args, variants, by_id, self._variant_view
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
            "id": gid("ProductVariant", variant["id"]),
            "legacyResourceId": str(variant["id"]),
            "sku": variant["sku"],
            "title": variant["title"],
            "displayName": f"{product['title']} - {variant['title']}",
            "price": variant["price"],
            "inventoryQuantity": level_quantity(stock[1], "available") if stock else 0,
            "createdAt": variant["created_at"],
            "updatedAt": variant["updated_at"],
            "product": lambda info: self._product_view(product),
            "inventoryItem": lambda info: self._item_view(item),
        }

    def _item_view(self, item: Record) -> Record:
        return {
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", item["id"]),
            "legacyResourceId": str(item["id"]),
            "sku": item["sku"],
            "tracked": item["tracked"],
            "requiresShipping": item["requires_shipping"],
            "createdAt": item["created_at"],
            "updatedAt": item["updated_at"],
            "variant": lambda info: self._variant_view_by_id(item["variant_id"]),
            "inventoryLevel": lambda info, locationId: self._level_view(
                item, gid_number(locationId, "Location")
            ),
            "inventoryLevels": lambda info, **args: connection(
                info,
                args,
                [int(location) for location in item["levels"]],
                by_number,
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
                "quantity": level_quantity(level, name),
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
        number = gid_number(item_gid, "InventoryItem")
        item = self.items.get(number) if number is not None else None
        return self._level_view(item, LOCATION_ID) if item else None
