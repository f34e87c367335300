"""HTTP plumbing shared by every adapter: client, retries, rate limiting, error mapping."""

from omnisync.http._classify import classify_response, parse_retry_after
from omnisync.http._client import ChannelHTTP, HTTPStats, json_loads
from omnisync.http._pagination import cursor_pages, numbered_pages
from omnisync.http._ratelimit import RateLimiter
from omnisync.http._retry import RetryPolicy, should_retry

__all__ = [
    "ChannelHTTP",
    "HTTPStats",
    "RateLimiter",
    "RetryPolicy",
    "classify_response",
    "cursor_pages",
    "json_loads",
    "numbered_pages",
    "parse_retry_after",
    "should_retry",
]
