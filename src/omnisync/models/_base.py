"""Shared pieces of the common model: the base class and validated scalar types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

__all__ = ["MAX_UNITS", "SKU", "Frozen", "Identifier", "Timestamp"]


class Frozen(BaseModel):
    """Base of the common model: immutable, and unknown fields are an error, not silently lost."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, normalised to UTC. Naive datetimes are refused."""

SKU = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
"""A stock-keeping unit: what ties a channel's product to a shelf. Outer spaces are dropped."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""A channel's id for something (an order, a line, a return): at most 255 characters, so
a malformed payload's runaway value is refused when it is mapped, not by the database."""

MAX_UNITS = 1_000_000_000
"""The most units any one quantity may count: far beyond any real order or shelf, and small
enough that sums over many of them stay exact in every store."""
