from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from omnisync.errors import CurrencyMismatchError
from omnisync.models import Money


def test_amounts_are_exact_decimals():
    assert Money.of("0.10", "EUR") + Money.of("0.20", "EUR") == Money.of("0.30", "EUR")


def test_floats_are_refused_with_the_reason():
    with pytest.raises(ValidationError, match="cannot represent cents exactly"):
        Money(amount=0.1, currency="EUR")  # type: ignore[arg-type]


def test_arithmetic_across_currencies_is_refused():
    with pytest.raises(CurrencyMismatchError, match="cannot add EUR and USD"):
        Money.of(1, "EUR") + Money.of(1, "USD")
    with pytest.raises(CurrencyMismatchError):
        Money.of(1, "EUR") < Money.of(1, "USD")  # noqa: B015


def test_currency_must_be_iso_4217():
    assert Money.of(1, "eur").currency == "EUR"
    with pytest.raises(ValidationError, match="not an ISO 4217 currency"):
        Money.of(1, "EURO")


def test_non_finite_and_garbage_amounts_are_refused():
    for bad in ("NaN", "Infinity", "12,50", ""):
        with pytest.raises(ValidationError):
            Money.of(bad, "EUR")


def test_minor_units_follow_the_currency():
    assert Money.from_minor(1999, "EUR") == Money.of("19.99", "EUR")
    assert Money.from_minor(1999, "JPY") == Money.of("1999", "JPY")
    assert Money.from_minor(1999, "KWD") == Money.of("1.999", "KWD")
    assert Money.of("19.99", "EUR").to_minor() == 1999
    with pytest.raises(ValueError, match="more decimal places"):
        Money.of("0.001", "EUR").to_minor()


def test_sum_multiply_negate_and_round():
    prices = [Money.of("1.10", "EUR"), Money.of("2.20", "EUR")]
    assert sum(prices) == Money.of("3.30", "EUR")
    assert Money.of("2.50", "EUR") * 3 == Money.of("7.50", "EUR")
    assert -Money.of("1", "EUR") == Money.of("-1", "EUR")
    assert Money.of("0.125", "EUR").rounded() == Money.of("0.12", "EUR")
    with pytest.raises(TypeError):
        Money.of(1, "EUR") * 1.5  # type: ignore[operator]


def test_money_is_immutable_and_hashable():
    price = Money.of("1.00", "EUR")
    with pytest.raises(ValidationError):
        price.amount = Decimal(2)  # type: ignore[misc]
    assert {price, Money.of("1.0", "EUR")} == {price}


def test_equal_amounts_written_alike_share_one_instance_and_keep_their_form():
    assert Money.of("19.90", "EUR") is Money.of("19.90", "EUR")
    assert Money.of(Decimal("19.90"), "EUR") is Money.of("19.90", "EUR")
    assert Money.of("19.9", "EUR") == Money.of("19.90", "EUR")  # equal, each as written
    assert Money.of("19.9", "EUR").model_dump_json() == '{"amount":"19.9","currency":"EUR"}'
    assert Money.of("19.90", "EUR").model_dump_json() == '{"amount":"19.90","currency":"EUR"}'
    assert Money.of(5, "JPY").amount == Decimal(5)
    with pytest.raises(ValidationError, match="cannot represent cents exactly"):
        Money.of(0.1, "EUR")  # type: ignore[arg-type]


@given(st.integers(-(10**12), 10**12), st.sampled_from(["EUR", "JPY", "KWD", "CLF"]))
def test_minor_units_round_trip(minor, currency):
    assert Money.from_minor(minor, currency).to_minor() == minor
