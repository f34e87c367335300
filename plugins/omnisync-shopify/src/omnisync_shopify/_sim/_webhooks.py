"""Webhooks: events delivered as signed REST JSON to the topics the app subscribes to."""

from __future__ import annotations

import json
import uuid

from omnisync.webhooks import hmac_sha256_base64
from omnisync_shopify._sim._base import ShopBase
from omnisync_shopify._sim._values import Record, as_rest

__all__ = ["TOPICS", "WebhooksMixin"]

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


class WebhooksMixin(ShopBase):
    """Delivers the shop's events as Shopify's HTTPS webhooks."""

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _webhook(self, topic: str, record: Record, now: str) -> None:
        """Deliver ``record`` as REST JSON to a subscribed topic, signed with the app's
        client secret (shopify.dev/docs/apps/build/webhooks/subscribe/https)."""
        if topic not in self.topics:
            return
        body = json.dumps(as_rest(record), ensure_ascii=False, separators=(",", ":")).encode()
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
