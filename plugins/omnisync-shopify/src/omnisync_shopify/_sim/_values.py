"""What every part of the simulated shop shares: the shop's constants, global ids, money,
times, and stored records as REST shows them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from graphql import GraphQLError

__all__ = [
    "API_VERSIONS",
    "LOCATION_GID",
    "LOCATION_ID",
    "SHOP_ZONE",
    "STORAGE_HOST",
    "Record",
    "as_rest",
    "by_id",
    "by_number",
    "cents",
    "gid",
    "gid_number",
    "legacy_id",
    "parse_gid",
    "user_error",
    "utc",
]

Record = dict[str, Any]

API_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10")
"""The Admin API versions the simulator answers."""
LOCATION_ID = 1
LOCATION_GID = f"gid://shopify/Location/{LOCATION_ID}"
"""The shop's one location."""
STORAGE_HOST = "storage.shopify-sim.invalid"
"""Where bulk operation results are downloaded from (Google Cloud Storage on Shopify)."""

# The shop's time zone, for REST times and date-only search values. A fixed offset: a real
# shop in Europe/Berlin would follow daylight saving time.
SHOP_ZONE = timezone(timedelta(hours=1))
_GID = re.compile(r"gid://shopify/(?P<kind>[A-Za-z]+)/(?P<number>\d+)(?:\?(?P<params>\S*))?")


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def parse_gid(value: str) -> tuple[str, int, str]:
    """(type, number, query string) of a global id; Shopify's error for anything else."""
    match = _GID.fullmatch(value)
    if match is None:
        # [unconfirmed] extensions; the message is Shopify's.
        extensions = {"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"}
        raise GraphQLError(f"Invalid global id '{value}'", extensions=extensions)
    return match["kind"], int(match["number"]), match["params"] or ""


def gid_number(value: str, kind: str) -> int | None:
    """The number of a global id of type ``kind``; None for another type."""
    found, number, _ = parse_gid(value)
    return number if found == kind else None


def legacy_id(value: str | int) -> int:
    """A REST id from an int, its digits or its global id."""
    if isinstance(value, int):
        return value
    return parse_gid(value)[1] if value.startswith("gid://") else int(value)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def utc(moment: datetime) -> str:
    """DateTime as Shopify's GraphQL writes it: UTC, to the second, with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shop_time(stamp: str) -> str:
    """A stored UTC time as REST and webhooks write it: in the shop's zone, with its offset."""
    return datetime.fromisoformat(stamp).astimezone(SHOP_ZONE).isoformat()


def as_rest(record: Any) -> Any:
    """A stored record as REST and webhooks show it: without internal keys, in shop time."""
    if isinstance(record, dict):
        return {
            key: _shop_time(value)
            if key.endswith("_at") and isinstance(value, str)
            else as_rest(value)
            for key, value in record.items()
            if not key.startswith("_")
        }
    if isinstance(record, list):
        return [as_rest(value) for value in record]
    return record


def by_number(number: int) -> tuple[Any, int]:
    """The sort key of things in id order."""
    return number, number


def by_id(record: Record) -> tuple[Any, int]:
    return by_number(record["id"])


def user_error(code: str | None, field: list[str] | None, message: str) -> Record:
    return {"code": code, "field": field, "message": message}
