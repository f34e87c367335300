"""People and places: addresses and customers."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from omnisync.models._base import Frozen

__all__ = ["Address", "CountryCode", "Customer"]


def _country(code: str) -> str:
    code = code.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (e.g. 'DE', 'US')")
    return code


CountryCode = Annotated[str, AfterValidator(_country)]
"""An ISO 3166-1 alpha-2 country code, upper-cased on the way in."""


class Address(Frozen):
    """A postal address. Every part is optional: channels leave out what they do not have."""

    name: str | None = None
    company: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    region_code: str | None = None
    postal_code: str | None = None
    country_code: CountryCode | None = None
    phone: str | None = None


class Customer(Frozen):
    """A buyer as a channel knows them. ``external_id`` is the channel's id, if it has one."""

    external_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    address: Address | None = None

    @property
    def name(self) -> str:
        """First and last name joined, or the e-mail address when there is no name."""
        full = " ".join(part for part in (self.first_name, self.last_name) if part)
        return full or self.email or ""
