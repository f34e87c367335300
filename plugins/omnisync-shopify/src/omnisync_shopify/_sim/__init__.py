"""A stateful simulator of the Shopify Admin GraphQL API (the parts omnisync uses).

It answers the GraphQL documents of `omnisync_shopify._queries` the way Shopify does, over
the schema subset in `omnisync_shopify._sim._schema`, parsed, validated and executed by
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
  ``bulkOperationRunQuery`` (up to five at a time; CREATED, RUNNING, COMPLETED on
  successive polls; JSONL served from a storage host that must not be sent the access token)
  and ``bulkOperationCancel``;
- shoppers and the merchant (`ShopifySimulator.buy`, ``cancel``, ``refund``,
  ``edit_quantity``, ``touch_order``), whose changes are delivered as signed REST webhooks
  shaped like Shopify's REST resources (shopify.dev/docs/api/admin-rest, Order, Refund,
  InventoryLevel).

Orders are kept as REST records (integer ids, two-decimal money strings, ``*_set`` money
bags) with a few internal keys starting with ``_``; the GraphQL views are built from them.

The parts, one module each, combined as mixins in `ShopifySimulator` (``_shop``): the
catalogue and its stock (``_catalogue``), checkout and order records (``_orders``), the
merchant's cancellations and refunds (``_merchant``), GraphQL views of orders
(``_order_views``), the mutations (``_inventory``, ``_fulfilment``, ``_bulk``), the endpoint
and query resolvers (``_graphql``), query cost (``_cost``) and webhooks (``_webhooks``).
"""

from omnisync_shopify._sim._shop import ShopifySimulator
from omnisync_shopify._sim._values import API_VERSIONS, LOCATION_GID, STORAGE_HOST

__all__ = ["API_VERSIONS", "LOCATION_GID", "STORAGE_HOST", "ShopifySimulator"]
