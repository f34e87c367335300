"""Shared pieces of the common model: the base class and validated scalar types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

__all__ = ["SKU", "Frozen", "Timestamp"]


class Frozen(BaseModel):
    """Base of the common model: immutable, and unknown fields are an error, not silently lost."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, normalised to UTC. Naive datetimes are refused."""

SKU = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
"""A stock-keeping unit: what ties a channel's product to a shelf. Outer spaces are dropped."""
