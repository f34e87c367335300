"""Helpers for verifying webhook signatures, shared by every adapter that takes webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydantic import SecretStr

from omnisync.errors import SignatureError

__all__ = ["hmac_sha256_base64", "verify_hmac_sha256_base64"]


def hmac_sha256_base64(secret: SecretStr | str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): the signature Shopify, WooCommerce and others send."""
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_hmac_sha256_base64(
    secret: SecretStr | str, body: bytes, signature: str | None, *, channel: str | None = None
) -> None:
    """Raise `SignatureError` unless ``signature`` signs ``body``; compared in constant time."""
    if not signature:
        raise SignatureError("the delivery carries no signature", channel=channel)
    expected = hmac_sha256_base64(secret, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("the signature does not match the body", channel=channel)
