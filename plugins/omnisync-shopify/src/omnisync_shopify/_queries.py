"""The Admin GraphQL documents the adapter sends.

Field names follow Shopify's Admin GraphQL reference (shopify.dev/docs/api/admin-graphql,
versions 2026-01 to 2026-07): Order, LineItem, MoneyBag, DiscountAllocation, TaxLine,
ShippingLine, Fulfillment, FulfillmentOrder, ProductVariant, Location, InventoryItem,
InventoryLevel, the inventorySetQuantities and fulfillmentCreate mutations, and bulk
operations. Deprecated fields (``riskLevel``, scalar money, ``Customer.email``) are avoided.
"""

from __future__ import annotations

import json

__all__ = [
    "BULK_CANCEL",
    "BULK_POLL",
    "BULK_RUN",
    "FULFILLMENT_CREATE",
    "FULFILLMENT_ORDERS",
    "INVENTORY_LEVELS",
    "INVENTORY_SET",
    "LINE_ITEMS",
    "LOCATIONS",
    "ORDERS",
    "ORDER_FULFILMENTS",
    "ORDER_SPAN",
    "VARIANTS",
    "bulk_orders",
]

# Lines and charges need the shop currency only; the order's total also the buyer's. Every
# object costs a point of the query budget (1000 at most a query), so nothing more is asked.
SHOP = "shopMoney { amount currencyCode }"
MONEY = f"{SHOP} presentmentMoney {{ amount currencyCode }}"

ADDRESS = (
    "name firstName lastName company address1 address2 city province provinceCode zip "
    "countryCodeV2 phone"
)

LINE_ITEM = f"""
id sku name quantity currentQuantity unfulfilledQuantity
originalUnitPriceSet {{ {SHOP} }}
discountAllocations {{
  allocatedAmountSet {{ {SHOP} }}
  discountApplication {{
    __typename
    ... on DiscountCodeApplication {{ code }}
    ... on ManualDiscountApplication {{ title }}
    ... on AutomaticDiscountApplication {{ title }}
  }}
}}
taxLines {{ title rate priceSet {{ {SHOP} }} }}
"""

SHIPPING_LINE = f"""
id title code originalPriceSet {{ {SHOP} }} taxLines {{ title rate priceSet {{ {SHOP} }} }}
"""

# Everything about an order but its connections, shared by the paged and the bulk query.
ORDER_FIELDS = f"""
id legacyResourceId name createdAt updatedAt cancelledAt cancelReason closed
displayFinancialStatus displayFulfillmentStatus currencyCode presentmentCurrencyCode
taxesIncluded email phone note tags
customer {{ id firstName lastName defaultEmailAddress {{ emailAddress }} }}
billingAddress {{ {ADDRESS} }}
shippingAddress {{ {ADDRESS} }}
totalDiscountsSet {{ {SHOP} }}
totalShippingPriceSet {{ {SHOP} }}
totalTaxSet {{ {SHOP} }}
totalPriceSet {{ {MONEY} }}
risk {{ assessments {{ riskLevel }} }}
"""

ORDERS = f"""
query Orders($first: Int!, $after: String, $query: String, $lines: Int!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      {ORDER_FIELDS}
      lineItems(first: $lines) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {LINE_ITEM} }}
      }}
      shippingLines(first: 5) {{ nodes {{ {SHIPPING_LINE} }} }}
    }}
  }}
}}
"""

# What shipped, for an order some of whose units were taken off it after it was placed: a
# unit shipped and then returned stays shipped, one removed before shipping is cancelled.
ORDER_FULFILMENTS = """
query OrderFulfilments($id: ID!) {
  order(id: $id) {
    fulfillments(first: 5) {
      status
      fulfillmentLineItems(first: 50) { nodes { quantity lineItem { id } } }
    }
  }
}
"""

# The rest of an order's line items, when it has more than one page of them.
LINE_ITEMS = f"""
query LineItems($id: ID!, $after: String, $lines: Int!) {{
  order(id: $id) {{
    lineItems(first: $lines, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {LINE_ITEM} }}
    }}
  }}
}}
"""


# A first sync of a shop with years of orders: exports instead of thousands of pages.
# Bulk queries allow two levels of connections and no connection inside a list, so
# fulfilments are left out: shipped units are derived from the unfulfilled quantity.
def bulk_orders(search: str | None = None) -> str:
    """The bulk query exporting the orders that ``search`` (Shopify's search syntax) finds;
    every order without it."""
    # A JSON string is a GraphQL string literal too (spec.graphql.org, StringValue).
    found = f", query: {json.dumps(search)}" if search is not None else ""
    return f"""
{{
  orders(sortKey: UPDATED_AT{found}) {{
    edges {{
      node {{
        {ORDER_FIELDS}
        lineItems {{ edges {{ node {{ {LINE_ITEM} }} }} }}
        shippingLines {{ edges {{ node {{ {SHIPPING_LINE} }} }} }}
      }}
    }}
  }}
}}
"""


# The oldest and the newest order's creation times, to split an export between them.
ORDER_SPAN = """
query OrderSpan {
  oldest: orders(first: 1, sortKey: CREATED_AT) { nodes { createdAt } }
  newest: orders(first: 1, sortKey: CREATED_AT, reverse: true) { nodes { createdAt } }
}
"""

BULK_RUN = """
mutation RunBulk($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status createdAt }
    userErrors { code field message }
  }
}
"""

BULK_CANCEL = """
mutation CancelBulk($id: ID!) {
  bulkOperationCancel(id: $id) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

BULK_POLL = """
query BulkPoll($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount url }
  }
}
"""

VARIANTS = """
query Variants($first: Int!, $after: String, $query: String) {
  productVariants(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id sku product { id } inventoryItem { id } }
  }
}
"""

LOCATIONS = """
query Locations {
  locations(first: 50) { nodes { id name isActive fulfillsOnlineOrders } }
}
"""

INVENTORY_LEVELS = """
query Levels($ids: [ID!]!, $location: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id
      inventoryLevel(locationId: $location) { quantities(names: ["available"]) { name quantity } }
    }
  }
}
"""

INVENTORY_SET = """
mutation SetQuantities($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""

FULFILLMENT_ORDERS = """
query FulfillmentOrders($id: ID!) {
  order(id: $id) {
    fulfillmentOrders(first: 5) {
      nodes {
        id status
        lineItems(first: 50) { nodes { id remainingQuantity lineItem { id } } }
      }
    }
    fulfillments(first: 5) { id trackingInfo { number } }
  }
}
"""

FULFILLMENT_CREATE = """
mutation Fulfil($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}
"""
