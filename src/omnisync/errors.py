"""Every error omnisync raises, grouped by what the caller should do about it.

```
OmnisyncError                  root: catch this to catch everything omnisync raises
├── ConfigError                fix the configuration, then run again
│   ├── CapabilityError        an adapter was asked for something it cannot do
│   └── PluginError            a plugin failed to load or registered something invalid
├── ChannelError               a call to a channel failed (carries channel, method, url)
│   ├── AuthError              credentials were refused: renew or fix them
│   ├── RetryableError         try again later (carries retry_after)
│   │   ├── RateLimitedError   the channel said "too many requests"
│   │   └── TransientError     5xx, timeout, connection reset
│   └── PermanentError         the channel refused this request; retrying will not help
├── RecordError                one record cannot be processed: it is quarantined, the rest go on
│   ├── InvalidPayloadError    a payload does not have the shape the adapter expects
│   └── UnknownSKUError        an order line names a SKU omnisync does not know
├── WebhookError               a webhook delivery was rejected
│   └── SignatureError         its signature does not match: not from the channel
├── StoreError                 the store cannot be used as asked
│   ├── StoreConflictError     writers collided (a deadlock); the work can simply run again
│   └── SchemaVersionError     the store was written by a newer omnisync
└── CurrencyMismatchError      Money arithmetic across two currencies (also a ValueError)
```

Each error says what went wrong and, in ``hint``, what to do. Errors carry their context
(``channel``, ``sku``, ``order``) as attributes, so logs and reports can group them. No error
ever holds a secret: URLs are redacted before they are stored.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthError",
    "CapabilityError",
    "ChannelError",
    "ConfigError",
    "CurrencyMismatchError",
    "InvalidPayloadError",
    "OmnisyncError",
    "PermanentError",
    "PluginError",
    "RateLimitedError",
    "RecordError",
    "RetryableError",
    "SchemaVersionError",
    "SignatureError",
    "StoreConflictError",
    "StoreError",
    "TransientError",
    "UnknownSKUError",
    "WebhookError",
]


class OmnisyncError(Exception):
    """Root of every error omnisync raises."""

    default_hint: ClassVar[str] = ""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        channel: str | None = None,
        sku: str | None = None,
        order: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.channel = channel
        self.sku = sku
        self.order = order

    def __str__(self) -> str:
        where = f"channel {self.channel!r}: " if self.channel else ""
        text = f"{where}{self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(OmnisyncError):
    """The configuration is wrong. ``key`` names the setting, e.g. ``channels.shop.buffer``."""

    default_hint = "fix the configuration and run again"

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message, hint=hint)
        self.key = key


class CapabilityError(ConfigError):
    """An adapter was asked to do something it does not declare it can do."""

    default_hint = "remove it from the channel's `enable` list or use an adapter that supports it"


class PluginError(ConfigError):
    """A plugin failed to load or registered something invalid (e.g. a duplicate adapter name)."""

    default_hint = "fix or uninstall the plugin; `omnisync plugins` lists what is installed"


class ChannelError(OmnisyncError):
    """A call to a channel failed. ``method`` and ``url`` (secrets redacted) say which call."""

    default_hint = "check the channel's status and run the sync again"

    def __init__(
        self,
        message: str,
        *,
        channel: str | None = None,
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, channel=channel)
        self.method = method
        self.url = url
        self.status_code = status_code


class AuthError(ChannelError):
    """The channel refused our credentials (HTTP 401/403 or equivalent)."""

    default_hint = "check the channel's credentials and permissions in the configuration"


class RetryableError(ChannelError):
    """A failure that may go away: try the same call again after ``retry_after`` seconds.

    ``request_sent`` is False when the request never reached the channel (connection refused,
    say): then even a call that is not idempotent can safely be sent again.
    """

    default_hint = "omnisync retries this by itself; if it persists, the channel is unwell"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        request_sent: bool = True,
        channel: str | None = None,
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message, channel=channel, method=method, url=url, status_code=status_code, hint=hint
        )
        self.retry_after = retry_after
        self.request_sent = request_sent


class RateLimitedError(RetryableError):
    """The channel asked us to slow down (HTTP 429 or a throttled response)."""

    default_hint = "omnisync waits as the channel asks; lower the channel's rate if this repeats"


class TransientError(RetryableError):
    """A server error, timeout or dropped connection that a later attempt may not meet."""


class PermanentError(ChannelError):
    """The channel refused the request for a reason that retrying will not change."""

    default_hint = "the request or the data is wrong for this channel; see the message"


class RecordError(OmnisyncError):
    """One record cannot be processed. It is quarantined as a dead letter; the rest go on."""

    default_hint = "fix the cause, then `omnisync deadletters --retry`"


class InvalidPayloadError(RecordError):
    """A channel payload does not have the shape its adapter expects."""


class UnknownSKUError(RecordError):
    """An order line names a SKU that has no stock level, listing or bundle in omnisync."""

    default_hint = (
        "set its stock (`omnisync set-stock`) or define the bundle, "
        "then `omnisync deadletters --retry`"
    )


class WebhookError(OmnisyncError):
    """A webhook delivery was rejected."""

    default_hint = "check the channel's webhook configuration"


class SignatureError(WebhookError):
    """A webhook's signature does not match its body: it did not come from the channel."""

    default_hint = "check the webhook secret in the configuration; reject the delivery"


class StoreError(OmnisyncError):
    """The store cannot be used as asked."""


class StoreConflictError(StoreError):
    """Two writers needed the same rows in opposite order and the database stopped one of
    them (PostgreSQL's deadlock or serialisation failure). Nothing of its transaction was
    kept; running the same work again succeeds. omnisync retries pages itself."""

    default_hint = (
        "nothing was half-written: run the sync again (for a webhook, answer 503 so the "
        "channel delivers it again)"
    )


class SchemaVersionError(StoreError):
    """The store's schema is newer than this version of omnisync understands."""

    default_hint = "upgrade omnisync to the version that wrote this store"


class CurrencyMismatchError(OmnisyncError, ValueError):
    """Money in two different currencies was added, subtracted or compared."""

    default_hint = "convert one amount first; omnisync never converts currencies implicitly"
