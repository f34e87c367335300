"""Money: an exact Decimal amount in one ISO 4217 currency."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from omnisync.errors import CurrencyMismatchError
from omnisync.models._currencies import MINOR_UNITS

__all__ = ["Currency", "Money"]


def _check_currency(code: str) -> str:
    code = code.strip().upper()
    if code not in MINOR_UNITS:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (e.g. 'EUR', 'USD', 'JPY')")
    return code


Currency = Annotated[str, AfterValidator(_check_currency)]
"""An ISO 4217 alphabetic code, upper-cased on the way in."""


class Money(BaseModel):
    """An exact amount of money in one currency.

    Amounts are ``Decimal`` and never floats: a float cannot hold 0.10 exactly, so floats are
    refused on the way in (parse JSON with ``parse_float=Decimal``, or pass strings). Arithmetic
    between two currencies raises `CurrencyMismatchError`; nothing is ever converted implicitly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Decimal
    currency: Currency

    @field_validator("amount", mode="before")
    @classmethod
    def _no_floats(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError(
                "money amounts must be str, int or Decimal, not float "
                "(a float cannot represent cents exactly)"
            )
        if isinstance(value, str):
            try:
                return Decimal(value.strip())
            except InvalidOperation:
                raise ValueError(f"{value!r} is not a decimal number") from None
        return value

    @field_validator("amount")
    @classmethod
    def _finite(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("money amounts must be finite numbers")
        return value

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Shorthand for ``Money(amount=amount, currency=currency)``.

        Money is immutable, so the same amount written the same way in the same currency
        comes back as one shared instance: an order history repeats the same prices, taxes
        and totals thousands of times, and each one built anew costs a validation and
        objects for the garbage collector to trace.
        """
        if cls is not Money or type(amount) not in (str, int, Decimal):
            return cls(amount=amount, currency=currency)  # floats refused there, as always
        return _shared(str(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """No money, in ``currency``."""
        return cls.of(0, currency)

    @classmethod
    def total(cls, amounts: Iterable[Money], currency: str) -> Money:
        """The sum of ``amounts``, every one in ``currency``; zero if there are none.

        Like ``sum(amounts, Money.zero(currency))``, in one step rather than one `Money` per
        addition (an order's totals add up every line's prices, taxes and discounts).
        """
        total = Decimal(0)
        for money in amounts:
            if money.currency != currency:
                raise CurrencyMismatchError(f"cannot add {currency} and {money.currency}")
            total += money.amount
        return cls.of(total, currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Build from an integer count of minor units (cents), as Stripe or Vendure store money."""
        exponent = MINOR_UNITS[_check_currency(currency)]
        return cls.of(Decimal(minor).scaleb(-exponent), currency)

    @property
    def exponent(self) -> int:
        """How many decimal places the currency's minor unit has (2 for EUR, 0 for JPY)."""
        return MINOR_UNITS[self.currency]

    def to_minor(self) -> int:
        """The amount as a whole number of minor units; refuses amounts finer than that."""
        scaled = self.amount.scaleb(self.exponent)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{self} has more decimal places than {self.currency} allows")
        return int(scaled)

    def rounded(self, rounding: str = ROUND_HALF_EVEN) -> Money:
        """The amount rounded to the currency's minor unit (banker's rounding by default)."""
        quantum = Decimal(1).scaleb(-self.exponent)
        return Money.of(self.amount.quantize(quantum, rounding=rounding), self.currency)

    def _same(self, other: object, op: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {op} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(
                f"cannot {op} {self.currency} and {other.currency}",
            )
        return other

    def __add__(self, other: object) -> Money:
        return Money.of(self.amount + self._same(other, "add").amount, self.currency)

    def __radd__(self, other: object) -> Money:
        # sum() starts from 0: let it through so sum(prices) works.
        if other == 0:
            return self
        return self.__add__(other)

    def __sub__(self, other: object) -> Money:
        return Money.of(self.amount - self._same(other, "subtract").amount, self.currency)

    def __mul__(self, factor: int | Decimal) -> Money:
        if isinstance(factor, float | Money) or not isinstance(factor, int | Decimal):
            raise TypeError("Money can only be multiplied by an int or a Decimal")
        return Money.of(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money.of(-self.amount, self.currency)

    def __lt__(self, other: object) -> bool:
        return self.amount < self._same(other, "compare").amount

    def __le__(self, other: object) -> bool:
        return self.amount <= self._same(other, "compare").amount

    def __gt__(self, other: object) -> bool:
        return self.amount > self._same(other, "compare").amount

    def __ge__(self, other: object) -> bool:
        return self.amount >= self._same(other, "compare").amount

    def __bool__(self) -> bool:
        return bool(self.amount)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"


@lru_cache(maxsize=4096)
def _shared(amount: str, currency: str) -> Money:
    """One `Money` per amount as written and currency, for `Money.of`."""
    return Money(amount=amount, currency=currency)
