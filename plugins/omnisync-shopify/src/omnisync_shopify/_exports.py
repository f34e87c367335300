"""A first sync's bulk export, split into spans of the orders' creation times.

From API 2026-01 Shopify runs up to five bulk query operations of an app at once and
suggests splitting large exports into parallel jobs
(shopify.dev/docs/api/usage/bulk-operations/queries). Exported a span each, the oldest
orders can be imported while Shopify still exports the newer ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["PARALLEL_FROM", "Span", "creation_spans", "iso_seconds", "span_search"]

PARALLEL_FROM = "2026-01"
"""The first API version that runs several bulk query operations of an app at once."""

Span = tuple[datetime | None, datetime | None]
"""Orders created at or after the first time and before the second; ``None`` is unbounded."""


def iso_seconds(moment: datetime) -> str:
    """``moment`` as Shopify's search syntax takes a time: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def creation_spans(oldest: datetime, newest: datetime, parts: int) -> list[Span]:
    """Up to ``parts`` spans of creation time between the oldest and the newest order,
    oldest first, that hold every order exactly once.

    The first span is open below and the last open above, so an order placed while the
    export runs falls in it. Spans are cut on whole seconds, as Shopify keeps the times, and
    are of equal length: a store's orders are not spread evenly over time, so the parts are
    not of equal size.
    """
    oldest = oldest.replace(microsecond=0)
    seconds = int((newest - oldest).total_seconds())
    parts = max(1, min(parts, seconds + 1))  # so that no two cuts fall on the same second
    cuts = [oldest + timedelta(seconds=-(-seconds * k // parts)) for k in range(1, parts)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def span_search(span: Span) -> str | None:
    """The search query (shopify.dev/docs/api/usage/search-syntax) for ``span``'s orders;
    ``None`` for every order."""
    lower, upper = span
    terms = []
    if lower is not None:
        terms.append(f"created_at:>='{iso_seconds(lower)}'")
    if upper is not None:
        terms.append(f"created_at:<'{iso_seconds(upper)}'")
    return " ".join(terms) or None
