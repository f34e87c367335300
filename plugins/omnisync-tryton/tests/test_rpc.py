"""Tryton's JSON encoding of decimals, dates and datetimes."""

from datetime import UTC, date, datetime
from decimal import Decimal

from omnisync_tryton._rpc import decode, encode


def test_values_round_trip_through_trytons_json_forms():
    values = {
        "price": Decimal("19.90"),
        "day": date(2026, 1, 2),
        "at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "nested": [Decimal("0.1"), {"n": 1}],
    }
    encoded = encode(values)
    assert encoded["price"] == {"__class__": "Decimal", "decimal": "19.90"}
    assert encoded["day"] == {"__class__": "date", "year": 2026, "month": 1, "day": 2}
    assert decode(encoded) == values


def test_a_datetime_from_tryton_is_utc():
    raw = {"__class__": "datetime", "year": 2026, "month": 1, "day": 2, "hour": 3}
    assert decode(raw) == datetime(2026, 1, 2, 3, tzinfo=UTC)
