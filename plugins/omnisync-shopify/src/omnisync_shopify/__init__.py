"""omnisync's Shopify adapter (Admin GraphQL API) and a simulator of that API."""

from omnisync_shopify._adapter import ShopifyAdapter, ShopifySettings
from omnisync_shopify._mapping import map_graphql_order, map_rest_order

__all__ = ["ShopifyAdapter", "ShopifySettings", "map_graphql_order", "map_rest_order"]
