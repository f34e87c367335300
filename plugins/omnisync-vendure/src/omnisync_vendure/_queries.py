"""The Admin API documents the adapter sends.

Field and argument names follow Vendure 3.7's Admin API schema (the ``.graphql`` files of
@vendure/core 3.7.3, ``api/schema/common/order.type.graphql`` and ``admin-api/*.graphql``,
checked against a running server by the tests): list queries take
``options: {skip, take, sort, filter}`` with ``_or`` and ``DateOperators``
(``after`` is strictly later); mutations answer with unions whose ``ErrorResult`` members
carry ``errorCode`` and ``message``.
"""

from __future__ import annotations

__all__ = [
    "ADD_FULFILLMENT",
    "FULFILMENT_STATE",
    "LOGIN",
    "MONEY_PRECISION",
    "ORDER",
    "ORDERS",
    "STOCK_LOCATIONS",
    "UPDATE_STOCK",
    "VARIANTS",
    "VARIANT_STOCK",
]

ERROR = "__typename ... on ErrorResult { errorCode message }"

LOGIN = f"""
mutation Login($username: String!, $password: String!) {{
  login(username: $username, password: $password) {{ {ERROR} }}
}}"""

MONEY_PRECISION = """
query MoneyPrecision { globalSettings { serverConfig { moneyStrategyPrecision } } }
"""

ADDRESS = (
    "fullName company streetLine1 streetLine2 city province postalCode countryCode phoneNumber"
)

# Vendure's Order.updatedAt misses most changes (see _mapping): the newest history entry
# dates the last change, and the history also holds notes and the cancellation's reason.
HISTORY = """
lastEvent: history(options: {take: 1, sort: {id: DESC}}) { items { createdAt } }
lastNote: history(options: {take: 1, sort: {id: DESC}, filter: {type: {eq: "ORDER_NOTE"}}}) {
  items { data }
}
cancellation: history(
  options: {take: 1, sort: {id: DESC}, filter: {type: {eq: "ORDER_CANCELLATION"}}}
) { items { createdAt data } }
"""

ORDER_FIELDS = f"""
id code state orderPlacedAt createdAt updatedAt currencyCode
channels {{ code pricesIncludeTax }}
customer {{ id firstName lastName emailAddress phoneNumber }}
shippingAddress {{ {ADDRESS} }}
billingAddress {{ {ADDRESS} }}
lines {{
  id quantity orderPlacedQuantity
  productVariant {{ id sku name }}
  unitPrice unitPriceWithTax linePrice linePriceWithTax
  proratedLinePrice proratedLinePriceWithTax
  taxRate taxLines {{ description taxRate }}
  discounts {{ adjustmentSource description amount amountWithTax }}
  fulfillmentLines {{ fulfillmentId quantity }}
}}
surcharges {{ id description price priceWithTax taxRate }}
shippingLines {{ shippingMethod {{ code name }} discountedPrice discountedPriceWithTax }}
shipping shippingWithTax total totalWithTax
payments {{ id state amount refunds {{ total state }} }}
fulfillments {{ id state method trackingCode }}
{HISTORY}
"""

ORDERS = f"""
query Orders($options: OrderListOptions) {{
  orders(options: $options) {{ totalItems items {{ {ORDER_FIELDS} }} }}
}}"""

ORDER = """
query Order($id: ID!) {
  order(id: $id) {
    id code state
    lines { id quantity fulfillmentLines { fulfillmentId quantity } }
    fulfillments { id state trackingCode }
  }
}"""

VARIANTS = """
query Variants($options: ProductVariantListOptions) {
  productVariants(options: $options) { totalItems items { id sku productId } }
}"""

VARIANT_STOCK = """
query VariantStock($options: ProductVariantListOptions) {
  productVariants(options: $options) {
    items { id sku stockLevels { stockLocationId stockOnHand stockAllocated } }
  }
}"""

STOCK_LOCATIONS = """
query StockLocations { stockLocations(options: {take: 2}) { totalItems items { id name } } }
"""

UPDATE_STOCK = """
mutation UpdateStock($input: [UpdateProductVariantInput!]!) {
  updateProductVariants(input: $input) {
    id sku stockLevels { stockLocationId stockOnHand stockAllocated }
  }
}"""

ADD_FULFILLMENT = f"""
mutation AddFulfillment($input: FulfillOrderInput!) {{
  addFulfillmentToOrder(input: $input) {{ {ERROR} ... on Fulfillment {{ id state }} }}
}}"""

FULFILMENT_STATE = f"""
mutation FulfilmentState($id: ID!, $state: String!) {{
  transitionFulfillmentToState(id: $id, state: $state) {{
    {ERROR} ... on Fulfillment {{ id state }}
  }}
}}"""
