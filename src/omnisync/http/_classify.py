"""One place that turns a channel's HTTP answer into success or the right error."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from omnisync._redact import redact_url
from omnisync.errors import (
    AuthError,
    ChannelError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

__all__ = ["classify_response", "parse_retry_after"]

_TRANSIENT = {408, 425, 500, 502, 503, 504}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number (maybe fractional) or a date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _snippet(response: httpx.Response) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    text = " ".join(text.split())
    return f": {text[:200]}" if text else ""


def classify_response(response: httpx.Response, channel: str) -> ChannelError | None:
    """``None`` for a success, else the error that says what to do about this response.

    401/403 mean the credentials are wrong; 429 means slow down (honouring ``Retry-After``);
    408, 425 and 5xx may pass; any other 4xx will not change on retry. Redirects are not
    followed: an API that redirects (to a login page, say) did not do what was asked.
    """
    status = response.status_code
    if status < 300:
        return None
    request = response.request
    url = redact_url(str(request.url))
    message = f"{request.method} {url} answered {status}{_snippet(response)}"
    if status < 400:
        target = redact_url(response.headers.get("Location", "elsewhere"))
        return PermanentError(
            f"{request.method} {url} was redirected ({status}) to {target}",
            hint="check base_url: it should be the API's address itself",
            channel=channel,
            method=request.method,
            url=url,
            status_code=status,
        )
    method = request.method
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429 or status in _TRANSIENT or status >= 500:
        retryable = RateLimitedError if status == 429 else TransientError
        return retryable(
            message,
            retry_after=retry_after,
            channel=channel,
            method=method,
            url=url,
            status_code=status,
        )
    final = AuthError if status in (401, 403) else PermanentError
    return final(message, channel=channel, method=method, url=url, status_code=status)
